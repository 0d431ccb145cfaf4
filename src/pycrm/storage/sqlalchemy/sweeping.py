"""What the sweep has still to raise, in SQL (:mod:`pycrm.storage.capabilities.sweeping`):
one query per kind of thing due, with ``NOT EXISTS`` against the alerts' unique key
``(tenant, rule, subject, …)`` and the alert's ``moment``, so nothing already raised is
read."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
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

__all__ = ["due_deadlines", "due_reminders", "raise_deadlines", "raise_reminders"]


def _unraised(
    tables: Tables, rule: str, subject: Any, moment: Any, *within: sa.ColumnElement[bool]
) -> sa.ColumnElement[bool]:
    """No alert of ``rule`` about ``subject`` for ``moment``; ``within``: conditions on the
    alerts' moment that ``moment`` meets anyway (a window), so that the database reads only
    the alerts of that window."""
    alerts = tables.table("alert")
    return ~sa.exists().where(
        alerts.c.tenant == subject.table.c.tenant,
        alerts.c.rule == rule,
        alerts.c.subject == subject,
        alerts.c.moment == moment,
        *within,
    )


def _reminders_due(
    tables: Tables, tenant: str, rule: str, since: dt.datetime, now: dt.datetime
) -> list[sa.ColumnElement[bool]]:
    a = tables.table("activity")
    return [
        a.c.tenant == tenant,
        a.c.remind_at >= sa.literal(since, UTCDateTime()),
        a.c.remind_at <= sa.literal(now, UTCDateTime()),
        a.c.done.is_(False),
        a.c.deleted_at.is_(None),
        _unraised(tables, rule, a.c.id, a.c.remind_at, *_window(tables, since, now)),
    ]


def _window(tables: Tables, since: dt.datetime, now: dt.datetime) -> list[sa.ColumnElement[bool]]:
    moment = tables.table("alert").c.moment
    return [moment >= sa.literal(since, UTCDateTime()), moment <= sa.literal(now, UTCDateTime())]


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
        .where(*_reminders_due(tables, tenant, rule, since, now))
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


def raise_reminders(
    conn: sa.Connection,
    tables: Tables,
    tenant: str,
    rule: str,
    since: dt.datetime,
    now: dt.datetime,
) -> int:
    """The reminders :func:`due_reminders` finds, written as their alerts by one
    ``INSERT … SELECT`` (what :class:`pycrm.services.sweep_rules.Reminders` writes, row for
    row: occasion the reminder time as ``isoformat()`` gives it, details the subject and
    due time); how many."""
    a, alerts = tables.table("activity"), tables.table("alert")
    pg = conn.dialect.name == "postgresql"
    details = (sa.func.jsonb_build_object if pg else sa.func.json_object)(
        "subject", a.c.subject, "due_at", _iso(a.c.due_at, pg)
    )
    picked = sa.select(
        _new_id(pg),
        a.c.tenant,
        sa.literal(rule),
        sa.literal("activity"),
        a.c.id,
        _iso(a.c.remind_at, pg),
        a.c.owner_id,
        sa.literal(now, UTCDateTime()),
        details,
        a.c.remind_at,
    ).where(*_reminders_due(tables, tenant, rule, since, now))
    columns = ["id", "tenant", "rule", "subject_kind", "subject", "occasion", "recipient"]
    insert = alerts.insert().from_select([*columns, "at", "details", "moment"], picked)
    return int(conn.execute(insert.execution_options(preserve_rowcount=True)).rowcount)


def _new_id(pg: bool) -> sa.ColumnElement[Any]:
    """A new random id per row, as the alerts' id column keeps it."""
    return sa.func.gen_random_uuid() if pg else sa.func.lower(sa.func.hex(sa.func.randomblob(16)))


def _iso(column: Any, pg: bool) -> sa.ColumnElement[str]:
    """A stored UTC time as Python's ``isoformat()`` writes it (NULL stays NULL)."""
    if pg:
        utc = sa.func.timezone("UTC", column)
        whole = sa.func.date_trunc("second", column) == column
        parts = [
            sa.func.to_char(utc, 'YYYY-MM-DD"T"HH24:MI:SS'),
            sa.case((whole, ""), else_=sa.func.to_char(utc, ".US")),
        ]
    else:  # SQLAlchemy keeps 'YYYY-MM-DD HH:MM:SS.ffffff' on SQLite
        fraction = sa.func.substr(column, 21)
        parts = [
            sa.func.replace(sa.func.substr(column, 1, 19), " ", "T"),
            sa.case((fraction.in_(["", "000000"]), ""), else_=sa.literal(".").op("||")(fraction)),
        ]
    text = parts[0].op("||")(parts[1]).op("||")(sa.literal("+00:00"))
    return sa.type_coerce(text, sa.String())


def _deadlines_due(
    conn: sa.Connection, tables: Tables, tenant: str, rules: dict[Stage, str], now: dt.datetime
) -> Iterator[tuple[str, Stage, Any, list[sa.ColumnElement[bool]]]]:
    """For each target and stage asked for: its name, the stage, the deadline column and
    the conditions of the running tickets due at that stage and not yet alerted."""
    t = tables.table("ticket")
    at = sa.literal(now, UTCDateTime())
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
        stages: list[tuple[Stage, list[sa.ColumnElement[bool]]]] = [
            ("breach", [compared < at]),
            ("warning", [warned <= at, compared >= at]),
        ]
        for stage, tests in stages:
            if stage in rules:
                unraised = _unraised(tables, rules[stage], t.c.id, deadline)
                yield target, stage, deadline, [*base, *tests, unraised]


def due_deadlines(
    conn: sa.Connection, tables: Tables, tenant: str, rules: dict[Stage, str], now: dt.datetime
) -> list[DueDeadline]:
    t = tables.table("ticket")
    found: list[DueDeadline] = []
    for target, stage, deadline, where in _deadlines_due(conn, tables, tenant, rules, now):
        query = sa.select(
            t.c.id,
            t.c.assignee_id,
            t.c.owner_id,
            t.c.customer_id,
            t.c.subject,
            t.c.sla_policy,
            deadline.label("deadline"),
        ).where(*where)
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


def raise_deadlines(
    conn: sa.Connection,
    tables: Tables,
    tenant: str,
    rules: dict[Stage, str],
    now: dt.datetime,
    nobody: uuid.UUID,
) -> int:
    """The warnings and breaches :func:`due_deadlines` finds, written as their alerts by
    an ``INSERT … SELECT`` per target and stage (what
    :class:`pycrm.services.sweep_rules.SlaAlerts` writes: occasion ``target:deadline``,
    details the target, deadline and subject, to the assignee or else the owner, unless
    that is ``nobody``); how many."""
    t, alerts = tables.table("ticket"), tables.table("alert")
    pg = conn.dialect.name == "postgresql"
    build = sa.func.jsonb_build_object if pg else sa.func.json_object
    agent = sa.func.coalesce(t.c.assignee_id, t.c.owner_id)
    nobody_id = sa.literal(nobody, t.c.owner_id.type)
    recipient = sa.case((agent == nobody_id, sa.null()), else_=agent)
    columns = ["id", "tenant", "rule", "subject_kind", "subject", "occasion", "recipient"]
    count = 0
    for target, stage, deadline, where in _deadlines_due(conn, tables, tenant, rules, now):
        iso = _iso(deadline, pg)
        picked = sa.select(
            _new_id(pg),
            t.c.tenant,
            sa.literal(rules[stage]),
            sa.literal("ticket"),
            t.c.id,
            sa.literal(f"{target}:").op("||")(iso),
            recipient,
            sa.literal(now, UTCDateTime()),
            build("target", target, "deadline", iso, "subject", t.c.subject),
            deadline,
        ).where(*where)
        insert = alerts.insert().from_select([*columns, "at", "details", "moment"], picked)
        count += conn.execute(insert.execution_options(preserve_rowcount=True)).rowcount
    return count
