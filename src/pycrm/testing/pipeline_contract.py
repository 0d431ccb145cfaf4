"""The pipeline part of the storage contract: stage transitions, totals, stale deals.

Mixed into :class:`pycrm.testing.StorageContract`; it uses that class's ``crm``,
``tenant``, ``world`` and ``clock`` fixtures.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import attrs
import pytest

from pycrm.core.clock import FixedClock
from pycrm.core.ids import new_id
from pycrm.core.money import Money
from pycrm.core.pipeline import StageTransition
from pycrm.core.records import SYSTEM_USER
from pycrm.crm import CRM
from pycrm.storage.base import Filter, Op, Query, Scope
from pycrm.storage.capabilities.pipeline import pipeline_queries

__all__ = ["PipelineContract"]

ACTOR = SYSTEM_USER  # the contract is about storage, not about rights
DAY = dt.timedelta(days=1)


def _deal(crm: CRM, tenant: str, world: dict[str, Any], **fields: Any) -> uuid.UUID:
    with crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
        deal = uow.opportunities.create(customer_id=world["customer"].id, name="deal", **fields)
    return deal.id


class PipelineContract:
    """What every backend does for pipelines."""

    def test_transitions_are_kept_in_order_and_roll_back(
        self, crm: CRM, tenant: str, world: dict[str, Any], clock: FixedClock
    ) -> None:
        deal = _deal(crm, tenant, world)
        at = clock.now() + DAY
        later = [
            StageTransition(
                id=new_id(),
                tenant=tenant,
                opportunity_id=deal,
                pipeline="b2b",
                from_stage=source,
                to_stage=target,
                user_id=ACTOR,
                owner_id=None,
                at=at,
                dwell_ms=86_400_000 if source == "qualification" else 0,
            )
            for source, target in (("qualification", "proposal"), ("proposal", "won"))
        ]
        with crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
            uow.tx.insert(later)
        with pytest.raises(RuntimeError), crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
            uow.tx.insert([attrs.evolve(later[0], id=new_id())])
            raise RuntimeError("roll back")
        of_deal = Query(filters=(Filter("opportunity_id", Op.EQ, deal),), order=(("at", False),))
        with crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
            stored = uow.tx.find(StageTransition, Scope(tenant), of_deal)
            assert uow.tx.find(StageTransition, Scope(f"{tenant}-other"), of_deal) == []
        assert [(t.from_stage, t.to_stage) for t in stored] == [
            (None, "qualification"),
            ("qualification", "proposal"),
            ("proposal", "won"),
        ]
        assert stored[1:] == later and stored[1].at.tzinfo is not None

    def test_opportunity_totals_group_by_fields_and_currency(
        self, crm: CRM, tenant: str, world: dict[str, Any], clock: FixedClock
    ) -> None:
        rep = world["user"]
        _deal(crm, tenant, world, owner_id=rep.id, amount=Money("100.00", "CNY"))  # 10 %
        _deal(crm, tenant, world, owner_id=rep.id, amount=Money("0.05", "CNY"), probability=33)
        _deal(crm, tenant, world, owner_id=rep.id, amount=Money("7.00", "USD"), probability=50)
        _deal(crm, tenant, world, owner_id=rep.id)
        won = _deal(crm, tenant, world, amount=Money("1.00", "CNY"))
        clock.advance(days=2, seconds=30)
        crm.as_user(ACTOR, tenant=tenant).opportunities.win(won)
        with crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
            queries = pipeline_queries(uow.tx)
            scope = Scope(tenant)
            mine = Query(filters=(Filter("owner_id", Op.EQ, rep.id),))
            by_department = queries.opportunity_totals(scope, mine, ["department_id"])
            closed = Query(filters=(Filter("status", Op.EQ, "won"),))
            by_status = queries.opportunity_totals(
                scope, closed, ["status", "owner_id"], cycle=True
            )
            without = queries.opportunity_totals(scope, closed, ["status"])
            others = queries.opportunity_totals(Scope(f"{tenant}-other"), closed, ["status"])
        got = {
            (t.keys, t.currency): (t.count, t.amount_units, t.weighted_units) for t in by_department
        }
        # The world's deal also belongs to ACTOR, not to the rep: only the four above count.
        assert got == {
            ((world["department"].id,), "CNY"): (2, 10_005, 10_000 * 10 + 5 * 33),
            ((world["department"].id,), "USD"): (1, 700, 700 * 50),
            ((world["department"].id,), None): (1, 0, 0),
        }
        [row] = by_status
        assert (row.keys, row.count, row.closed, row.cycle_seconds) == (
            ("won", ACTOR),
            1,
            1,
            2 * 86_400 + 30,
        )
        assert [(t.count, t.closed, t.cycle_seconds) for t in without] == [(1, 0, 0)]
        assert others == []

    def test_stale_deals_are_found_at_the_boundary(
        self, crm: CRM, tenant: str, world: dict[str, Any], clock: FixedClock
    ) -> None:
        quiet = _deal(crm, tenant, world)
        clock.advance(seconds=1)
        _deal(crm, tenant, world)  # one second younger
        closed = _deal(crm, tenant, world)
        crm.as_user(ACTOR, tenant=tenant).opportunities.lose(closed, reason="price")
        # b2b's qualification stage takes 14 days: deals in it for longer are stale (the
        # younger one entered exactly 14 days ago, which is not longer).
        clock.advance(days=14)
        found = [o.id for o in crm.as_user(ACTOR, tenant=tenant).opportunities.stale()]
        assert found == sorted([world["opportunity"].id, quiet])

    def test_dwell_totals_and_furthest_stages(
        self, crm: CRM, tenant: str, world: dict[str, Any], clock: FixedClock
    ) -> None:
        flow = crm.as_user(ACTOR, tenant=tenant).opportunities
        first = _deal(crm, tenant, world, amount=Money("1.00", "CNY"))
        second = _deal(crm, tenant, world)
        clock.advance(days=1)
        flow.move(first, to="proposal")
        clock.advance(days=2)
        flow.move(first, to="qualification")
        flow.lose(second, reason="price")
        stays = [Filter("pipeline", Op.EQ, "b2b"), Filter("from_stage", Op.IS_NULL, False)]
        recent = Query(filters=(*stays, Filter("at", Op.GTE, clock.now())))
        with crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
            scope = Scope(tenant)
            totals = uow.tx.group(
                StageTransition, scope, Query(filters=tuple(stays)), ("from_stage",), "dwell_ms"
            )
            latest = uow.tx.group(StageTransition, scope, recent, ("from_stage",))
            mine = Query(filters=(Filter("id", Op.IN, [first, second]),))
            ranks = {"qualification": 0, "proposal": 1, "won": 2}
            furthest = pipeline_queries(uow.tx).furthest_stages(scope, mine, ranks)
        assert {t.key: (t.count, t.total) for t in totals} == {
            ("qualification",): (2, 4 * 86_400_000),
            ("proposal",): (1, 2 * 86_400_000),
        }
        assert {t.key: t.count for t in latest} == {("qualification",): 1, ("proposal",): 1}
        assert furthest == {1: 1, 0: 1}
