"""What the sweep has still to raise, in SQL (:mod:`pycrm.storage.capabilities.sweeping`):
one query per kind of thing due, with ``NOT EXISTS`` against the alerts' unique key
``(tenant, rule, subject, …)`` and the alert's ``moment``, so nothing already raised is
read."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from pycrm.storage.capabilities.sweeping import (
    RUNNING,
    TARGETS,
    DueDeadline,
    DueReminder,
    Stage,
)
from pycrm.storage.sqlalchemy.tables import Tables
from pycrm.storage.sqlalchemy.types import UTCDateTime

__all__ = ["due_deadlines", "due_reminders"]


def _unraised(tables: Tables, rule: str, subject: Any, moment: Any) -> sa.ColumnElement[bool]:
    alerts = tables.table("alert")
    return ~sa.exists().where(
        alerts.c.tenant == subject.table.c.tenant,
        alerts.c.rule == rule,
        alerts.c.subject == subject,
        alerts.c.moment == moment,
    )


def due_reminders(
    conn: sa.Connection,
    tables: Tables,
    tenant: str,
    rule: str,
    since: dt.datetime,
    now: dt.datetime,
) -> list[DueReminder]:
    a = tables.table("activity")
    query = (
        sa.select(a.c.id, a.c.owner_id, a.c.remind_at, a.c.subject, a.c.due_at)
        .where(
            a.c.tenant == tenant,
            a.c.remind_at >= sa.literal(since, UTCDateTime()),
            a.c.remind_at <= sa.literal(now, UTCDateTime()),
            a.c.done.is_(False),
            a.c.deleted_at.is_(None),
            _unraised(tables, rule, a.c.id, a.c.remind_at),
        )
        .order_by(a.c.remind_at, a.c.id)
    )
    return [
        DueReminder(
            activity_id=row.id,
            owner_id=row.owner_id,
            remind_at=row.remind_at,
            subject=row.subject,
            due_at=row.due_at,
        )
        for row in conn.execute(query)
    ]


def due_deadlines(
    conn: sa.Connection, tables: Tables, tenant: str, rules: dict[Stage, str], now: dt.datetime
) -> list[DueDeadline]:
    t = tables.table("ticket")
    at = sa.literal(now, UTCDateTime())
    found: list[DueDeadline] = []
    sqlite = conn.dialect.name == "sqlite"
    for target, deadline_name, warning_name, unanswered in TARGETS:
        deadline, warning = t.c[deadline_name], t.c[warning_name]
        # Running tickets are few, past deadlines many: SQLite must read the few through
        # the status index, not every ticket of the past through the deadline's index
        # (the same value wrapped in coalesce() keeps it from choosing that index).
        compared = sa.func.coalesce(deadline, deadline) if sqlite else deadline
        warned = sa.func.coalesce(warning, warning) if sqlite else warning
        base = [t.c.tenant == tenant, t.c.status.in_(RUNNING), t.c.deleted_at.is_(None)]
        if unanswered:
            base.append(t.c.responded_at.is_(None))
        stages: list[tuple[Stage, list[Any]]] = [
            ("breach", [compared < at]),
            ("warning", [warned <= at, compared >= at]),
        ]
        for stage, tests in stages:
            query = sa.select(
                t.c.id,
                t.c.assignee_id,
                t.c.owner_id,
                t.c.customer_id,
                t.c.subject,
                t.c.sla_policy,
                deadline.label("deadline"),
            ).where(*base, *tests, _unraised(tables, rules[stage], t.c.id, deadline))
            found += [
                DueDeadline(
                    ticket_id=row.id,
                    target=target,
                    stage=stage,
                    deadline=row.deadline,
                    assignee_id=row.assignee_id,
                    owner_id=row.owner_id,
                    customer_id=row.customer_id,
                    subject=row.subject,
                    sla_policy=row.sla_policy,
                )
                for row in conn.execute(query)
            ]
    return found
