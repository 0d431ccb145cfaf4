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
from pycrm.crm import CRM
from pycrm.errors import CRMError
from pycrm.storage.base import Filter, Op, Query, StaleRule

__all__ = ["PipelineContract"]

ACTOR = uuid.UUID("01900000-0000-7000-8000-000000000001")
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
            uow.tx.add_transitions(later)
        with pytest.raises(RuntimeError), crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
            uow.tx.add_transitions([attrs.evolve(later[0], id=new_id())])
            raise RuntimeError("roll back")
        with crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
            stored = uow.tx.transitions(tenant, deal)
            assert uow.tx.transitions(f"{tenant}-other", deal) == []
        assert [(t.from_stage, t.to_stage) for t in stored] == [
            (None, "qualification"),
            ("qualification", "proposal"),
            ("proposal", "won"),
        ]
        assert stored[1:] == later and stored[1].at.tzinfo is not None

    def test_a_transition_of_an_unknown_opportunity_is_refused(
        self, crm: CRM, tenant: str, clock: FixedClock
    ) -> None:
        orphan = StageTransition(
            id=new_id(),
            tenant=tenant,
            opportunity_id=new_id(),
            pipeline="b2b",
            from_stage=None,
            to_stage="qualification",
            user_id=ACTOR,
            owner_id=None,
            at=clock.now(),
        )
        with pytest.raises(CRMError), crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
            uow.tx.add_transitions([orphan])

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
            mine = Query(filters=(Filter("owner_id", Op.EQ, rep.id),))
            by_department = uow.tx.opportunity_totals(tenant, mine, ["department_id"])
            closed = Query(filters=(Filter("status", Op.EQ, "won"),))
            by_status = uow.tx.opportunity_totals(
                tenant, closed, ["status", "owner_id"], cycle=True
            )
            without = uow.tx.opportunity_totals(tenant, closed, ["status"])
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

    def test_stale_rules_find_open_deals_at_the_boundary(
        self, crm: CRM, tenant: str, world: dict[str, Any], clock: FixedClock
    ) -> None:
        quiet = _deal(crm, tenant, world)
        clock.advance(seconds=1)
        _deal(crm, tenant, world)  # one second younger
        closed = _deal(crm, tenant, world)
        crm.as_user(ACTOR, tenant=tenant).opportunities.lose(closed, reason="price")
        start = clock.now() - dt.timedelta(seconds=1)
        rule = StaleRule(pipeline="b2b", stage="qualification", contact_before=start)
        entered = StaleRule(pipeline="b2b", stage="qualification", entered_before=start)
        other = StaleRule(pipeline="eight_step", stage="visit", contact_before=clock.now())
        with crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
            found = [o.id for o in uow.tx.find_stale(tenant, [rule, other])]
            assert world["opportunity"].id in found and quiet in found and closed not in found
            assert len(found) == 2
            assert [o.id for o in uow.tx.find_stale(tenant, [entered])] == []
            assert uow.tx.find_stale(tenant, []) == []

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
        with crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
            totals = uow.tx.dwell_totals(tenant, "b2b", ["from_stage"])
            recent = uow.tx.dwell_totals(tenant, "b2b", ["from_stage"], since=clock.now())
            mine = Query(filters=(Filter("id", Op.IN, [first, second]),))
            ranks = {"qualification": 0, "proposal": 1, "won": 2}
            furthest = uow.tx.furthest_stages(tenant, mine, ranks)
        assert {t.keys: (t.stays, t.dwell_ms) for t in totals} == {
            ("qualification",): (2, 4 * 86_400_000),
            ("proposal",): (1, 2 * 86_400_000),
        }
        assert {t.keys: t.stays for t in recent} == {("qualification",): 1, ("proposal",): 1}
        assert furthest == {1: 1, 0: 1}
