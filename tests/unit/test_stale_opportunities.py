"""Stale opportunities at the boundary days, with a fixed clock, on memory and SQLite."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import pycrm
from pycrm import Pipeline, Stage

FOLLOW_UP = Pipeline(
    key="follow_up",
    name="Follow-up",
    stages=[
        Stage("call", stale_days=5),  # no contact for 5 days: stale here
        Stage("meet"),  # the pipeline's 20 days apply
        Stage("close", dwell_days=3, stale_days=100),  # stale after more than 3 days here
    ],
    stale_days=20,
)


class FollowUp:
    @pycrm.hookimpl
    def pycrm_register_pipelines(self) -> list[Pipeline]:
        return [FOLLOW_UP]


@pytest.fixture(params=["memory", "sqlite"])
def crm(
    request: pytest.FixtureRequest, clock: pycrm.FixedClock, tmp_path: Path
) -> Iterator[pycrm.CRM]:
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'stale.db'}"
    settings = pycrm.Settings(default_pipeline="follow_up")
    crm = pycrm.CRM.connect(
        url, clock=clock, settings=settings, plugins=[FollowUp()], load_entry_points=False
    )
    yield crm
    crm.close()


def _deal(crm: pycrm.CRM, admin: uuid.UUID, stage: str = "call", **fields: object) -> uuid.UUID:
    with crm.unit_of_work(user=admin) as uow:
        customer = uow.customers.create(name="联成")
        deal = uow.opportunities.create(
            customer_id=customer.id,
            name="deal",
            stage=stage,
            **fields,  # type: ignore[arg-type]
        )
    return deal.id


def _stale(crm: pycrm.CRM, admin: uuid.UUID) -> list[uuid.UUID]:
    return [o.id for o in crm.as_user(admin).opportunities.stale()]


def test_no_contact_for_the_stage_days_is_stale_from_that_day_on(
    crm: pycrm.CRM, admin: uuid.UUID, clock: pycrm.FixedClock
) -> None:
    deal = _deal(crm, admin, "call")
    clock.advance(days=5, seconds=-1)
    assert _stale(crm, admin) == []
    clock.advance(seconds=1)
    assert _stale(crm, admin) == [deal]


def test_the_pipeline_days_apply_when_the_stage_names_none(
    crm: pycrm.CRM, admin: uuid.UUID, clock: pycrm.FixedClock
) -> None:
    deal = _deal(crm, admin, "meet")
    clock.advance(days=19, hours=23, minutes=59, seconds=59)
    assert _stale(crm, admin) == []
    clock.advance(seconds=1)
    assert _stale(crm, admin) == [deal]


def test_contact_resets_the_count(
    crm: pycrm.CRM, admin: uuid.UUID, clock: pycrm.FixedClock
) -> None:
    deal = _deal(crm, admin, "call")
    clock.advance(days=4)
    crm.as_user(admin).activities.create(type="call", subject="hello", opportunity_id=deal)
    clock.advance(days=4)
    assert _stale(crm, admin) == []
    clock.advance(days=1)
    assert _stale(crm, admin) == [deal]


def test_longer_in_a_stage_than_its_dwell_time_is_stale(
    crm: pycrm.CRM, admin: uuid.UUID, clock: pycrm.FixedClock
) -> None:
    deal = _deal(crm, admin, "close")
    clock.advance(days=3)
    assert _stale(crm, admin) == []  # exactly the standard dwell time: not longer
    clock.advance(seconds=1)
    assert _stale(crm, admin) == [deal]
    crm.as_user(admin).opportunities.move(deal, to="meet")
    assert _stale(crm, admin) == []


def test_closed_and_deleted_deals_are_never_stale(
    crm: pycrm.CRM, admin: uuid.UUID, clock: pycrm.FixedClock
) -> None:
    won, lost, gone = (_deal(crm, admin) for _ in range(3))
    service = crm.as_user(admin).opportunities
    service.win(won)
    service.lose(lost, reason="price")
    service.delete(gone)
    clock.advance(days=400)
    assert _stale(crm, admin) == []


def test_reassign_stale_to_the_owners_manager(
    crm: pycrm.CRM, admin: uuid.UUID, clock: pycrm.FixedClock
) -> None:
    with crm.unit_of_work(user=admin) as uow:
        boss = uow.users.create(name="李经理", roles=["sales_director"])
        rep = uow.users.create(name="王芳", manager_id=boss.id)
        loner = uow.users.create(name="张伟")
    stale = _deal(crm, admin, owner_id=rep.id)
    orphan = _deal(crm, admin, owner_id=loner.id)
    clock.advance(days=2)
    fresh = _deal(crm, admin, owner_id=rep.id)
    clock.advance(days=3)
    moved = crm.as_user(admin).opportunities.reassign_stale()
    assert [(o.id, o.owner_id) for o in moved] == [(stale, boss.id)]
    service = crm.as_user(admin).opportunities
    assert service.get(orphan).owner_id == loner.id
    assert service.get(fresh).owner_id == rep.id
    change = service.history(stale)[-1]
    assert [(f.field, f.old, f.new) for f in change.fields] == [
        ("owner_id", str(rep.id), str(boss.id))
    ]


def test_reassign_stale_to_a_named_user(
    crm: pycrm.CRM, admin: uuid.UUID, clock: pycrm.FixedClock
) -> None:
    with crm.unit_of_work(user=admin) as uow:
        rep = uow.users.create(name="王芳")
        backup = uow.users.create(name="赵磊")
        gone = uow.users.create(name="钱七", active=False)
    deals = sorted([_deal(crm, admin, owner_id=rep.id) for _ in range(2)])
    clock.advance(days=5)
    service = crm.as_user(admin).opportunities
    with pytest.raises(pycrm.RuleViolation, match="deactivated"):
        service.reassign_stale(to_user=gone.id)
    with pytest.raises(pycrm.NotFound):
        service.reassign_stale(to_user=uuid.uuid4())
    moved = service.reassign_stale(to_user=backup.id, pipeline="follow_up")
    assert [(o.id, o.owner_id) for o in moved] == [(d, backup.id) for d in deals]
    assert service.reassign_stale(to_user=backup.id) == []


def test_stale_in_one_pipeline(crm: pycrm.CRM, admin: uuid.UUID, clock: pycrm.FixedClock) -> None:
    deal = _deal(crm, admin, "call")
    _deal(crm, admin, "qualification", pipeline="b2b")
    clock.advance(days=40)
    service = crm.as_user(admin).opportunities
    assert [o.id for o in service.stale(pipeline="follow_up")] == [deal]
    assert len(service.stale()) == 2
    assert dt.timedelta(days=40) == clock.now() - service.get(deal).created_at


def test_a_bulk_import_of_activities_touches_each_deal_once(crm, clock, admin) -> None:
    acme = crm.as_user(admin)
    customer = acme.customers.create(name="甲")
    deal = acme.opportunities.create(customer_id=customer.id, name="d")
    clock.advance(days=2)
    acme.activities.create_many(
        {"type": "call", "subject": f"call {i}", "opportunity_id": deal.id} for i in range(50)
    )
    stored = acme.opportunities.get(deal.id)
    assert stored.last_contact_at == clock.now() and stored.version == deal.version + 1
