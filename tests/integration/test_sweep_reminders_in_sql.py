"""Reminders raised in the database (one ``INSERT … SELECT``, when no plugin handles
events) are the alerts the rule writes when it reads them (when one does): same rule,
subject, occasion, recipient, time, details and moment, on SQLite and PostgreSQL, for
reminder times with and without microseconds, due times or none, and any text."""

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
        "subject": "回访「北京联成」 \"quoted\" \\ back",
        "remind_at": NOW - dt.timedelta(minutes=5, microseconds=123),
        "due_at": NOW + dt.timedelta(days=1, microseconds=450_000),
    },
    {"subject": "At the minute", "remind_at": NOW, "due_at": NOW},
    {"subject": "A week late", "remind_at": NOW - dt.timedelta(days=7)},
    {"subject": "Too late", "remind_at": NOW - dt.timedelta(days=7, seconds=1)},
    {"subject": "Not yet", "remind_at": NOW + dt.timedelta(seconds=1)},
    {"subject": "Done", "remind_at": NOW - dt.timedelta(hours=2), "done": True},
]


def _fill(crm: pycrm.CRM, tenant: str) -> None:
    with crm.unit_of_work(tenant=tenant, user=SYSTEM_USER) as uow:
        rep = uow.users.create(name="Ann")
        for fields in REMINDERS:
            uow.activities.create(type="call", owner_id=rep.id, **fields)


def _alerts(crm: pycrm.CRM, tenant: str) -> list[tuple[Any, ...]]:
    with crm.unit_of_work(tenant=tenant, user=SYSTEM_USER) as uow:
        subjects = {a.id: a.subject for a in uow.tx.find(pycrm.Activity, uow.everything, Query())}
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


def test_reminders_raised_in_sql_are_the_ones_the_rule_writes(url: str) -> None:
    clock = pycrm.FixedClock(NOW - dt.timedelta(days=10))
    listener = Listener()
    plain = pycrm.CRM.connect(url, clock=clock, load_entry_points=False, migrate=True)
    heard = pycrm.CRM.connect(url, clock=clock, plugins=[listener], load_entry_points=False)
    in_sql, read = f"sql-{uuid.uuid4().hex[:8]}", f"read-{uuid.uuid4().hex[:8]}"
    try:
        _fill(plain, in_sql)
        _fill(heard, read)
        assert plain.sweep(NOW, tenant=in_sql).raised["activity.reminder"] == 4
        assert heard.sweep(NOW, tenant=read).raised["activity.reminder"] == 4
        written = _alerts(plain, in_sql)
        assert written == _alerts(heard, read)
        assert [row[2] for row in written] == sorted(
            ["Call back", REMINDERS[1]["subject"], "At the minute", "A week late"]
        )
        assert len(listener.seen) == 4
        # Nothing twice, on either path.
        assert plain.sweep(NOW, tenant=in_sql).raised["activity.reminder"] == 0
        assert heard.sweep(NOW, tenant=read).raised["activity.reminder"] == 0
    finally:
        plain.close()
        heard.close()
