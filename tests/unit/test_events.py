"""Events: emitted after commit only, in order; handler failures never undo committed data."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import pycrm
from pycrm.testing import make_world


class Recorder:
    """A plugin that keeps every event it is handed."""

    name = "recorder"

    def __init__(self) -> None:
        self.events: list[pycrm.Event] = []

    @pycrm.hookimpl
    def pycrm_on_event(self, event: pycrm.Event) -> None:
        self.events.append(event)

    @property
    def names(self) -> list[str]:
        return [e.name for e in self.events]


class Failing:
    name = "failing"

    @pycrm.hookimpl
    def pycrm_on_event(self, event: pycrm.Event, crm: pycrm.CRM) -> None:
        raise RuntimeError(f"webhook down for {event.name}")


@pytest.fixture(params=["memory", "sqlite"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'crm.db'}"


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def crm(url: str, clock: pycrm.FixedClock, recorder: Recorder) -> Iterator[pycrm.CRM]:
    crm = pycrm.CRM(url, clock=clock, plugins=[recorder], load_entry_points=False)
    yield crm
    crm.close()


def test_record_events_come_in_order_after_commit(crm, recorder, admin):
    with crm.unit_of_work(user=admin) as uow:
        acme = uow.customers.create(name="ACME")
        uow.customers.update(acme.id, level="A")
        uow.customers.delete(acme.id)
        uow.customers.restore(acme.id)
        assert recorder.events == []  # nothing before the commit
    assert recorder.names == [
        "customer.created",
        "customer.updated",
        "customer.deleted",
        "customer.restored",
    ]
    created, updated = recorder.events[:2]
    assert created.changes["name"] == (None, "ACME")
    assert updated.changes == {"level": (None, "A")}
    assert {(e.record_id, e.tenant, e.user_id) for e in recorder.events} == {
        (acme.id, "default", admin)
    }


def test_status_changes_are_events_of_their_own(crm, recorder, admin):
    with crm.unit_of_work(user=admin) as uow:
        acme = uow.customers.create(name="ACME")
        uow.customers.update(acme.id, status="archived")
    assert recorder.names[-2:] == ["customer.updated", "customer.status_changed"]
    assert recorder.events[-1].data == {"from": "active", "to": "archived"}


def test_payments_are_received_and_settle_installments(crm, recorder, admin):
    with crm.unit_of_work(user=admin) as uow:
        plan = make_world(uow)["plan"]
    first = plan.installments[0]
    recorder.events.clear()
    with crm.unit_of_work(user=admin) as uow:
        for amount in ("500.00 CNY", "1000.00 CNY"):
            uow.payments.create(
                plan_id=plan.id,
                installment_id=first.id,
                amount=amount,
                received_on=dt.date(2026, 1, 20),
            )
    assert recorder.names == [
        "payment_plan.updated",
        "payment.created",
        "payment.received",
        "payment_plan.updated",
        "installment.settled",
        "payment.created",
        "payment.received",
    ]
    assert recorder.events[2].data == {
        "plan_id": str(plan.id),
        "installment_id": str(first.id),
        "amount": {"amount": "500.00", "currency": "CNY"},
        "received_on": "2026-01-20",
    }
    settled = recorder.events[4]
    assert settled.record_id == plan.id
    assert settled.data == {
        "installment_id": str(first.id),
        "amount": {"amount": "1500.00", "currency": "CNY"},
    }


class Boom(Exception):
    pass


def test_events_of_a_rolled_back_unit_of_work_are_never_emitted(crm, recorder, admin):
    with pytest.raises(Boom), crm.unit_of_work(user=admin) as uow:
        uow.customers.create(name="ACME")
        raise Boom
    with pytest.raises(pycrm.ValidationError), crm.unit_of_work(user=admin) as uow:
        uow.customers.create(name="Beta")
        uow.customers.create(name="")
    with crm.unit_of_work(user=admin) as uow:
        uow.customers.create(name="Gamma")
        uow.rollback()
    assert recorder.events == []
    with crm.unit_of_work(user=admin) as uow:
        assert uow.customers.count(deleted=None) == 0


def test_one_call_outside_a_unit_of_work_emits_after_its_own_commit(crm, recorder, admin):
    crm.as_user(admin).customers.create(name="ACME")
    assert recorder.names == ["customer.created"]


def test_a_failing_handler_keeps_the_data_and_the_other_handlers(
    url, clock, recorder, admin, caplog
):
    crm = pycrm.CRM(url, clock=clock, plugins=[recorder, Failing()], load_entry_points=False)
    with caplog.at_level(logging.ERROR, logger="pycrm"), crm.unit_of_work(user=admin) as uow:
        acme = uow.customers.create(name="ACME")
        uow.customers.update(acme.id, level="B")
    assert recorder.names == ["customer.created", "customer.updated"]
    assert [(e.name, str(err)) for e, err in crm.event_errors] == [
        ("customer.created", "webhook down for customer.created"),
        ("customer.updated", "webhook down for customer.updated"),
    ]
    assert "event handler of plugin 'failing' failed for customer.created" in caplog.text
    with crm.unit_of_work(user=admin) as uow:
        stored = uow.customers.get(acme.id)
    assert (stored.level, stored.version) == ("B", 2)
    crm.close()


def test_a_handler_may_write_in_its_own_unit_of_work(url, clock, admin):
    class FollowUp:
        name = "follow-up"

        @pycrm.hookimpl
        def pycrm_on_event(self, event: pycrm.Event, crm: pycrm.CRM) -> None:
            if event.name == "customer.created":
                with crm.unit_of_work(tenant=event.tenant, user=event.user_id) as uow:
                    uow.activities.create(
                        customer_id=event.record_id, type="call", subject="Welcome call"
                    )
                    if event.changes["name"][1] == "Broken":
                        raise Boom("the follow-up failed half-way")

    crm = pycrm.CRM(url, clock=clock, plugins=[FollowUp()], load_entry_points=False)
    with crm.unit_of_work(user=admin) as uow:
        uow.customers.create(name="ACME")
        broken = uow.customers.create(name="Broken")
    with crm.unit_of_work(user=admin) as uow:
        assert uow.customers.count() == 2
        calls: Any = uow.activities.list()
        assert [a.subject for a in calls] == ["Welcome call"]
        assert uow.activities.count({"customer_id": broken.id}) == 0
    assert [type(err) for _, err in crm.event_errors] == [Boom]
    crm.close()
