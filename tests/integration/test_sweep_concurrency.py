"""Sweeps at once raise everything once: 8 ``crm.sweep(now)`` of one tenant at the same
time, each in its own CRM connection, in threads and in processes, on SQLite and
PostgreSQL (and in threads sharing a memory CRM), create each reminder, SLA warning,
breach, escalation task, dunning task, birthday and care-day task exactly once; no sweep
fails, and together they report as raised exactly what is stored.

The tenant at ``NOW`` (Thursday 15 January 2026, 13:30 UTC; the default calendar is
Monday to Friday 09:00-18:00 UTC): 20 activities whose reminder time has come; 4 tickets
opened at 09:00 under policy ``p`` (response due 13:00: breached, escalated to the
agent's superior) and 3 opened at 10:00 (response due 14:00, warned at 13:00); an order
with 2 overdue installments; one contact born on 15 January; a care day on 15 January
for the 2 reps who own customers.
"""

from __future__ import annotations

import collections
import datetime as dt
import multiprocessing
import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest

import pycrm
from pycrm import SYSTEM_USER, Money
from pycrm.storage.base import Query

WRITERS = 8
START = dt.datetime(2026, 1, 15, 9, 0, tzinfo=dt.UTC)
NOW = START.replace(hour=13, minute=30)
SETTINGS = pycrm.Settings(auto_migrate=True)
REMINDERS, BREACHED, WARNED, INSTALLMENTS, REPS = 20, 4, 3, 2, 2
#: The alerts the tenant's sweep raises at NOW, by rule.
EXPECTED = {
    "activity.reminder": REMINDERS,
    "ticket.sla_warning": WARNED,
    "ticket.sla_breached": BREACHED,
    "ticket.escalated": BREACHED,
    "contact.birthday": 1,
    "care_day": REPS,
}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest) -> str:
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(name))


def _connect(url: str) -> pycrm.CRM:
    return pycrm.CRM.connect(
        url, settings=SETTINGS, clock=pycrm.FixedClock(NOW), load_entry_points=False
    )


class Tenant:
    """What the tenant holds that the sweep acts on."""

    def __init__(self) -> None:
        self.boss = uuid.UUID(int=0)  # the agents' superior
        self.late: list[uuid.UUID] = []  # tickets past their response deadline at NOW
        self.warned: list[uuid.UUID] = []  # tickets past their warning time at NOW


def _fill(crm: pycrm.CRM, clock: pycrm.FixedClock, tenant: str) -> Tenant:
    made = Tenant()
    with crm.unit_of_work(tenant=tenant, user=SYSTEM_USER) as uow:
        boss = uow.users.create(name="Boss")
        agents = [uow.users.create(name=f"Agent {i}", manager_id=boss.id) for i in range(REPS)]
        acme = uow.customers.create(name="ACME", owner_id=agents[0].id)
        uow.customers.create(name="Beta", owner_id=agents[1].id)
        made.boss = boss.id
        for i in range(REMINDERS):
            uow.activities.create(
                type="call",
                subject=f"Call {i}",
                remind_at=START + dt.timedelta(minutes=i),
                owner_id=agents[i % REPS].id,
            )
        uow.contacts.create(customer_id=acme.id, name="Li", birthday=dt.date(1990, 1, 15))
        uow.configuration.set_care_days([pycrm.CareDay(on="01-15", name="A day")])
        uow.configuration.set_sla_policy(
            pycrm.SlaPolicy(key="p", first_response="4h", resolution="2d")
        )
        order = uow.orders.create(
            customer_id=acme.id,
            owner_id=agents[0].id,
            currency="CNY",
            lines=[{"description": "slot", "quantity": 2, "unit_price": Money("100.00", "CNY")}],
        )
        uow.orders.confirm(order.id)
        uow.payment_plans.plan_for_order(
            order.id, due_dates=[dt.date(2026, 1, 5), dt.date(2026, 1, 10)]
        )
    for hour, count, into in ((9, BREACHED, made.late), (10, WARNED, made.warned)):
        clock.set(START.replace(hour=hour))
        with crm.unit_of_work(tenant=tenant, user=SYSTEM_USER) as uow:
            for i in range(count):
                ticket = uow.tickets.create(
                    customer_id=acme.id,
                    subject=f"Ticket {hour}/{i}",
                    assignee_id=agents[i % REPS].id,
                )
                into.append(ticket.id)
    return made


def _setup(url: str, tenant: str) -> Tenant:
    clock = pycrm.FixedClock(START)
    with pycrm.CRM.connect(url, settings=SETTINGS, clock=clock, load_entry_points=False) as crm:
        return _fill(crm, clock, tenant)


# -- what each sweeper does (module level, so processes can run it) -----------------------
def sweep_once(url: str, tenant: str) -> tuple[dict[str, int], dict[str, str]]:
    with _connect(url) as crm:
        run = crm.sweep(NOW, tenant=tenant)
    return dict(run.raised), dict(run.failed)


def _run(
    how: str, work: Callable[[str, str], Any], url: str, tenant: str
) -> list[tuple[dict[str, int], dict[str, str]]]:
    """``WRITERS`` calls of ``work`` at once, in threads or in processes."""
    if how == "processes":
        with multiprocessing.get_context("spawn").Pool(WRITERS) as pool:
            return pool.starmap(work, [(url, tenant)] * WRITERS)
    results: list[Any] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(WRITERS)

    def one() -> None:
        barrier.wait()
        try:
            results.append(work(url, tenant))
        except BaseException as error:  # reported below, not lost in the thread
            errors.append(error)

    threads = [threading.Thread(target=one) for _ in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    return results


def _check(crm: pycrm.CRM, tenant: str, made: Tenant, runs: list[Any]) -> None:
    """Everything due was raised once, and the sweeps report exactly that."""
    assert len(runs) == WRITERS
    assert [failed for _, failed in runs] == [{}] * WRITERS
    with crm.unit_of_work(tenant=tenant, user=SYSTEM_USER) as uow:
        stored = uow.tx.find(pycrm.Alert, uow.everything, Query())
        tasks = list(uow.activities.list({"type": "task"}, limit=1000).items)
        tickets = {t.id: t for t in uow.tickets.list(limit=100).items}
    keys = [(a.rule, a.subject, a.occasion) for a in stored]
    assert len(set(keys)) == len(keys)
    assert collections.Counter(a.rule for a in stored) == EXPECTED
    raised: collections.Counter[str] = collections.Counter()
    for counts, _ in runs:
        raised.update(counts)
    assert raised["activity.reminder"] == EXPECTED["activity.reminder"]
    assert raised["ticket.sla"] == WARNED + 2 * BREACHED
    assert raised["contact.birthday"] == 1 and raised["care_day"] == REPS
    assert raised["dunning"] == INSTALLMENTS
    alerting = sum(n for rule, n in raised.items() if rule not in ("dunning", "pool.recycle"))
    assert alerting == len(stored)

    escalations = [t for t in tasks if t.ticket_id is not None]
    assert sorted(str(t.ticket_id) for t in escalations) == sorted(map(str, made.late))  # once
    assert {t.owner_id for t in escalations} == {made.boss}
    escalated = {a.subject: a.task for a in stored if a.rule == "ticket.escalated"}
    assert escalated == {t.ticket_id: t.id for t in escalations}
    dunning = [t for t in tasks if t.dunning_installment_id is not None]
    assert len({(t.dunning_installment_id, t.dunning_due_on) for t in dunning}) == INSTALLMENTS
    assert len(dunning) == INSTALLMENTS
    greetings = [t for t in tasks if t.ticket_id is None and t.dunning_installment_id is None]
    assert len(greetings) == 1 + REPS  # the birthday and the care day
    # Breaches are alerts; a ticket records whether it was late when it is answered.
    assert all(tickets[t].response_breached is None for t in [*made.late, *made.warned])


@pytest.mark.parametrize("how", ["threads", "processes"])
def test_sweeps_at_once_raise_everything_once(url: str, tenant: str, how: str) -> None:
    made = _setup(url, tenant)
    runs = _run(how, sweep_once, url, tenant)
    with _connect(url) as crm:
        _check(crm, tenant, made, runs)
        assert set(crm.sweep(NOW, tenant=tenant).raised.values()) == {0}  # and once more


def test_sweeps_at_once_in_threads_of_one_memory_crm_raise_everything_once(tenant: str) -> None:
    clock = pycrm.FixedClock(START)
    with pycrm.CRM.connect("memory://", clock=clock, load_entry_points=False) as crm:
        made = _fill(crm, clock, tenant)
        clock.set(NOW)

        def sweep_shared(_: str, tenant: str) -> tuple[dict[str, int], dict[str, str]]:
            run = crm.sweep(NOW, tenant=tenant)
            return dict(run.raised), dict(run.failed)

        runs = _run("threads", sweep_shared, "memory://", tenant)
        _check(crm, tenant, made, runs)
