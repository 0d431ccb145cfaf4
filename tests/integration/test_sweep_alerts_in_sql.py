"""Alerts raised in the database (an ``INSERT … SELECT``, when no plugin handles events)
are the alerts the rules write when they read them (when one does): same rule, subject,
occasion, recipient, time, details and moment, on SQLite and PostgreSQL. Reminders: times
with and without microseconds, due times or none, any text. SLA warnings, breaches and
escalations: assigned tickets, a job's unassigned one (no recipient), answered ones."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

import pycrm
from pycrm import SYSTEM_USER
from pycrm.storage.base import Query

NOW = dt.datetime(2026, 3, 13, 9, 0, tzinfo=dt.UTC)


class Listener:
    name = "reminder-listener"

    def __init__(self) -> None:
        self.seen: list[pycrm.AlertRaised] = []

    @pycrm.hookimpl
    def pycrm_on_event(self, event: pycrm.Event, crm: pycrm.CRM) -> None:
        if isinstance(event, pycrm.AlertRaised):
            self.seen.append(event)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest) -> str:
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(name))


REMINDERS: list[dict[str, Any]] = [
    {"subject": "Call back", "remind_at": NOW - dt.timedelta(hours=1)},
    {
        "subject": '回访「北京联成」 "quoted" \\ back',
        "remind_at": NOW - dt.timedelta(minutes=5, microseconds=123),
        "due_at": NOW + dt.timedelta(days=1, microseconds=450_000),
    },
    {"subject": "At the minute", "remind_at": NOW, "due_at": NOW},
    {"subject": "A week late", "remind_at": NOW - dt.timedelta(days=7)},
    {"subject": "Too late", "remind_at": NOW - dt.timedelta(days=7, seconds=1)},
    {"subject": "Not yet", "remind_at": NOW + dt.timedelta(seconds=1)},
    {"subject": "Done", "remind_at": NOW - dt.timedelta(hours=2), "done": True},
]


#: Opened on Monday 2026-03-09 (business hours 09:00-18:00 UTC, Monday to Friday).
OPENED = dt.datetime(2026, 3, 9, 9, 0, tzinfo=dt.UTC)
POLICY = pycrm.SlaPolicy(key="p", first_response="4h", resolution="2d", warn_before="2h")


def _fill(crm: pycrm.CRM, clock: pycrm.FixedClock, tenant: str) -> None:
    clock.set(OPENED - dt.timedelta(days=1))
    with crm.unit_of_work(tenant=tenant, user=SYSTEM_USER) as uow:
        boss = uow.users.create(name="Boss")
        rep = uow.users.create(name="Ann", manager_id=boss.id)
        for fields in REMINDERS:
            uow.activities.create(type="call", owner_id=rep.id, **fields)
        uow.configuration.set_sla_policy(POLICY)
        customer = uow.customers.create(name="ACME", owner_id=rep.id)
    for hour, subject in ((0, "breached"), (4, "warned"), (7, "answered"), (1, "nobody's")):
        clock.set(OPENED + dt.timedelta(hours=hour, microseconds=hour * 7))
        with crm.unit_of_work(tenant=tenant, user=SYSTEM_USER) as uow:
            assignee = None if subject == "nobody's" else rep.id
            ticket = uow.tickets.create(customer_id=customer.id, subject=subject)
            if assignee is not None:
                uow.tickets.assign(ticket.id, to=assignee)
            if subject == "answered":
                uow.tickets.respond(ticket.id, note="on it")


def _alerts(crm: pycrm.CRM, tenant: str) -> list[tuple[Any, ...]]:
    with crm.unit_of_work(tenant=tenant, user=SYSTEM_USER) as uow:
        subjects = {a.id: a.subject for a in uow.tx.find(pycrm.Activity, uow.everything, Query())}
        subjects |= {t.id: t.subject for t in uow.tx.find(pycrm.Ticket, uow.everything, Query())}
        names = {u.id: u.name for u in uow.tx.find(pycrm.User, uow.everything, Query())}
        found = uow.tx.find(pycrm.Alert, uow.everything, Query())
        return sorted(
            (
                a.rule,
                a.subject_kind,
                subjects[a.subject],
                a.occasion,
                names[a.recipient] if a.recipient else None,
                a.at,
                a.details,
                a.moment,
            )
            for a in found
        )


def test_alerts_raised_in_sql_are_the_ones_the_rules_write(url: str) -> None:
    clock = pycrm.FixedClock(NOW)
    listener = Listener()
    plain = pycrm.CRM.connect(url, clock=clock, load_entry_points=False, migrate=True)
    heard = pycrm.CRM.connect(url, clock=clock, plugins=[listener], load_entry_points=False)
    in_sql, read = f"sql-{uuid.uuid4().hex[:8]}", f"read-{uuid.uuid4().hex[:8]}"
    try:
        _fill(plain, clock, in_sql)
        _fill(heard, clock, read)
        # Tuesday 11:30: "breached" is past its response deadline (Monday 13:00), "warned"
        # (opened 13:00, due 17:00) and "nobody's" (due 14:00) too; "answered" is not.
        # 16:30: the resolution deadlines (Tuesday 18:00 and later) warn. Friday (NOW):
        # they have passed, and the reminders are due.
        reminded = {}
        for at in (
            dt.datetime(2026, 3, 10, 11, 30, tzinfo=dt.UTC),
            NOW.replace(day=10, hour=16, minute=30),
            NOW,
        ):
            sides = ((plain, in_sql), (heard, read))
            runs = [crm.sweep(at, tenant=tenant) for crm, tenant in sides]
            assert runs[0].raised == runs[1].raised and runs[0].ok
            reminded[at.day, at.hour] = runs[0].raised["activity.reminder"]
        assert reminded == {(10, 11): 2, (10, 16): 0, (13, 9): 3}
        written = _alerts(plain, in_sql)
        assert written == _alerts(heard, read)
        reminded = sorted(row[2] for row in written if row[0] == "activity.reminder")
        assert reminded == sorted(
            ["Call back", REMINDERS[1]["subject"], "At the minute", "A week late", "Too late"]
        )
        rules = {row[0] for row in written}
        assert {"ticket.sla_warning", "ticket.sla_breached", "ticket.escalated"} <= rules
        assert ("ticket.sla_breached", "nobody's", None) in {
            (row[0], row[2], row[4]) for row in written
        }
        assert len(listener.seen) == len(written)
        # Nothing twice, on either path.
        for crm, tenant in ((plain, in_sql), (heard, read)):
            assert not any(crm.sweep(at, tenant=tenant).raised.values())
    finally:
        plain.close()
        heard.close()
