"""The sweep over a large tenant: ``crm.sweep(now)`` against hand-written SQL that finds
the same due rows and writes the same alerts.

    python benchmarks/bench_sweep.py --activities 1000000 --tickets 200000 \
        [--agents 400] [--repeat 3] [--explain] [--postgres postgresql+psycopg://user@host/db]

One tenant: a director, ``--agents / 20`` team leads reporting to the director and
``--agents`` agents reporting to the leads (created through the services, which keep the
reporting lines), one SLA policy (``standard``: first response 4h, resolution 3d, warning
2h before), a customer per ten tickets, and, written with SQLAlchemy Core executemany in
batches, all times in whole seconds:

- ``--activities`` activities of the agents: 60 % done (half of those with a reminder in
  the past, alerted), 27 % open without a reminder, 6 % reminding in the next 30 days,
  4.2 % whose reminder is over a week late (mostly alerted, too late either way), 2 %
  reminding in the last week and already alerted, and 0.8 % reminding in the last day
  and never alerted (a tenth of these with an alert of an earlier reminder time), the due
  ones; 1 % of all soft-deleted;
- ``--tickets`` tickets: 97 % resolved or closed (answered in 1.2 hours and resolved in
  1.2 days on average, 4 % and 8 % of them late; their past warnings and breaches
  alerted), 3 % open (new, assigned, in progress or waiting on the customer; the clock of
  a waiting ticket stands still) with deadlines from their creation in the last six
  days. A warning or deadline that came before the last hour was alerted with a
  probability of 3/4 (with an escalation for a breach); the rest, and everything of the
  last hour, is due now. A few open tickets have no assignee (their owner, a lead, is
  escalated to the director) and some are the director's own (a breach with nobody to
  escalate to). 0.5 % of all soft-deleted;
- the alerts of what was raised before (reminders, warnings, breaches and escalations);
- a few reminders, deadlines and warning times exactly at the ends of the rules' windows
  (and a second off), so that the check below sees where each window ends.

Measured, medians of ``--repeat`` interleaved runs, each busy run on the data as loaded
(the alerts, escalation to-dos and audit rows of the run deleted and the tickets put back
from a snapshot between runs, not timed):

1. **busy sweep**: ``crm.sweep(NOW)`` (every built-in rule, in one unit of work with a
   savepoint per rule: it raises the due reminders, the SLA warnings and breaches, and
   escalates each breach with a to-do for the assignee's superior), against
   **hand alerts**: in one transaction, ``INSERT … SELECT`` of every alert the sweep
   raises (reminders, warnings, breaches, escalations), each SELECT finding the due rows
   with ``NOT EXISTS`` the alert: open activities reminding from a week ago to now,
   running tickets (new, assigned, in progress) past a deadline (breaches: the first
   response while there is none, the resolution), or at or past its warning time and
   not past the deadline (warnings). For reference, not in the ratio: **hand alerts +
   to-dos + flags**, the same with the escalation to-dos and the tickets' breach flags
   written too (no audit trail).
2. **idle sweep**: ``crm.sweep(NOW)`` again right after a busy one (nothing new is due),
   against **hand SELECTs**: the five SELECTs of the due rows alone (they find nothing),
   in one transaction, on the same state.

Both sides must raise the same alerts (rule, record, occasion, recipient and details,
checked on the first run) and the idle sweep none. ``ratio = pycrm / hand SQL`` (target: at
most 1.5); pycrm's time is split by rule and by statement (a cursor-execute listener: the
time in the DBAPI's ``execute``, which on SQLite leaves out reading a SELECT's rows, and
which does not see the ``COPY`` pycrm's bulk inserts use on PostgreSQL).
``--explain`` prints the plans of the idle sweep's statements and of the hand SELECTs.
SQLite runs on a temporary file; PostgreSQL (skipped without ``--postgres``) in a database
of its own created on that server and dropped at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import os
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from databases import Statements, fresh_databases

import pycrm
from pycrm.core.ids import new_ids
from pycrm.core.text import fold
from pycrm.storage.sqlalchemy.tables import table_for
from pycrm.storage.sqlalchemy.types import UTCDateTime

TENANT = "bench"
#: Monday 2 March 2026, 10:00 in Shanghai (the tenant's working hours).
NOW = dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)
#: The sweep before this one: what came due before it was alerted then (mostly).
PREVIOUS = NOW - dt.timedelta(hours=1)
#: Reminders more than this late are not raised (``sweep_rules.LATE_REMINDERS``).
LATE = dt.timedelta(days=7)
BATCH = 20_000
TARGET = 1.5
SETTINGS = pycrm.Settings(reporting_currency="CNY", auto_migrate=True)
POLICY = pycrm.SlaPolicy(key="standard", first_response="4h", resolution="3d", warn_before="2h")
RESPONSE, RESOLUTION, WARN = dt.timedelta(hours=4), dt.timedelta(days=3), dt.timedelta(hours=2)
RUNNING = ("new", "assigned", "in_progress")
SNAPSHOT = "bench_sweep_snapshot"
#: (target, deadline column, warning column, flag column) of the SLA clock.
TARGETS = (
    ("response", "respond_by", "response_warn_at", "response_breached"),
    ("resolution", "due_at", "resolution_warn_at", "resolution_breached"),
)
REMINDER, WARNING, BREACHED, ESCALATED = (
    "activity.reminder",
    "ticket.sla_warning",
    "ticket.sla_breached",
    "ticket.escalated",
)

#: Reminders at the ends of the sweep's window, never alerted (from NOW).
_REMIND_EDGES = tuple(
    dt.timedelta(seconds=s) for s in (-LATE.total_seconds(), -LATE.total_seconds() - 1, 0, 1)
)
#: Open tickets whose deadline or warning time is NOW or a second off: (status, created).
_TICKET_EDGES = tuple(
    (status, NOW - back + dt.timedelta(seconds=off))
    for status, back in (
        ("assigned", RESPONSE),  # the response deadline
        ("assigned", RESPONSE - WARN),  # its warning
        ("in_progress", RESOLUTION),  # the resolution deadline
        ("in_progress", RESOLUTION - WARN),  # its warning
    )
    for off in (-1, 0, 1)
)

_SUBJECTS = ("回访客户", "电话跟进", "上门拜访", "发送报价", "确认合同", "安排演示", "催收回款")
_TICKETS = ("无法登录", "发票开错", "设备故障", "咨询价格", "物流延迟", "账号变更", "安装预约")


# -- the organisation ----------------------------------------------------------------------
class Org:
    """The users: the director, the leads and the agents."""

    def __init__(
        self, director: uuid.UUID, leads: list[uuid.UUID], agents: list[uuid.UUID]
    ) -> None:
        self.director, self.leads, self.agents = director, leads, agents


def build_org(crm: pycrm.CRM, agents: int) -> Org:
    """The director, the leads and the agents (each agent under a lead), and the SLA
    policy."""
    admin = crm.as_user(pycrm.SYSTEM_USER, tenant=TENANT)
    director = admin.users.create(name="客服总监", roles=["executive"]).id
    leads = [
        admin.users.create(name=f"组长{i + 1:02d}", roles=["service_agent"], manager_id=director).id
        for i in range(max(1, agents // 20))
    ]
    made = [
        admin.users.create(
            name=f"客服{i + 1:04d}", roles=["service_agent"], manager_id=leads[i % len(leads)]
        ).id
        for i in range(agents)
    ]
    admin.configuration.set_sla_policy(POLICY)
    return Org(director, leads, made)


# -- data ---------------------------------------------------------------------------------
def _ago(seconds: float) -> dt.datetime:
    """``seconds`` before NOW, in whole seconds."""
    return NOW - dt.timedelta(seconds=int(seconds))


_DAY, _HOUR = 86_400, 3_600


class Loader:
    """Rows of one table for Core executemany, a batch at a time: every nullable column
    None unless given."""

    def __init__(self, kind: str) -> None:
        self.table = table_for(kind)
        self.blank = dict.fromkeys((c.name for c in self.table.c if c.nullable), None)
        self.rows: list[dict[str, Any]] = []
        self.count = 0

    def add(self, **values: Any) -> None:
        row = dict(self.blank)
        row.update(values)
        self.rows.append(row)

    def flush(self, conn: sa.Connection, force: bool = False) -> None:
        if self.rows and (force or len(self.rows) >= BATCH):
            conn.execute(self.table.insert(), self.rows)
            self.count += len(self.rows)
            self.rows = []


class Alerts(Loader):
    """The alerts of past sweeps."""

    def __init__(self) -> None:
        super().__init__("alert")
        self.ids = _fresh_ids()

    def raised(
        self,
        rule: str,
        kind: str,
        subject: uuid.UUID,
        occasion: str,
        recipient: uuid.UUID | None,
        at: dt.datetime,
        details: dict[str, Any],
        task: uuid.UUID | None = None,
        *,
        moment: dt.datetime,
    ) -> None:
        self.add(
            id=next(self.ids),
            tenant=TENANT,
            rule=rule,
            subject_kind=kind,
            subject=subject,
            occasion=occasion,
            recipient=recipient,
            at=at,
            task=task,
            details=details,
            moment=moment,
        )


def _fresh_ids() -> Iterator[uuid.UUID]:
    while True:
        yield from new_ids(BATCH)


def _stamp(owner: uuid.UUID, created: dt.datetime, updated: dt.datetime) -> dict[str, Any]:
    return {
        "tenant": TENANT,
        "owner_id": owner,
        "created_at": created,
        "updated_at": updated,
        "created_by": owner,
        "updated_by": owner,
        "version": 1,
        "custom": {},
    }


def load_customers(conn: sa.Connection, org: Org, count: int) -> list[uuid.UUID]:
    rows = Loader("customer")
    rnd = random.Random(3)
    ids = list(new_ids(count))
    for i, cid in enumerate(ids):
        owner = rnd.choice(org.agents)
        name = f"客户{i:06d}有限公司"
        created = _ago(rnd.uniform(30, 720) * _DAY)
        rows.add(
            **_stamp(owner, created, created),
            id=cid,
            name=name,
            name_folded=fold(name),
            level=rnd.choice(("A", "B", "C")),
            type="customer",
            status="active",
            tags=[],
        )
        rows.flush(conn)
    rows.flush(conn, force=True)
    return ids


def load_activities(
    conn: sa.Connection, org: Org, customers: Sequence[uuid.UUID], count: int, alerts: Alerts
) -> int:
    rows = Loader("activity")
    rnd = random.Random(5)
    fresh = _fresh_ids()
    for i in range(count):
        aid, owner = next(fresh), rnd.choice(org.agents)
        roll = rnd.random()
        created = _ago(rnd.uniform(3, 400) * _DAY)
        remind: dt.datetime | None = None
        alerted: dt.datetime | None = None  # the reminder time an alert was raised for
        done = roll < 0.60
        if i < len(_REMIND_EDGES):  # open, never alerted, at the window's ends
            done, remind = False, NOW + _REMIND_EDGES[i]
        elif done:
            if rnd.random() < 0.5:
                remind = alerted = created + dt.timedelta(hours=rnd.randint(1, 48))
        elif roll < 0.87:
            pass  # open, no reminder
        elif roll < 0.93:
            remind = NOW + dt.timedelta(seconds=rnd.randint(60, 30 * _DAY))
        elif roll < 0.972:  # over a week late: out of the sweep's window
            remind = _ago(LATE.total_seconds() + rnd.randint(1, 80 * _DAY))
            alerted = remind if rnd.random() < 0.9 else None
        elif roll < 0.992:  # in the window, alerted by an earlier sweep
            remind = alerted = _ago(rnd.randint(_HOUR, int(LATE.total_seconds()) - 1))
        else:  # due now
            remind = _ago(rnd.randint(1, _DAY))
            if rnd.random() < 0.1:  # an alert of the time before it was moved
                alerted = remind - dt.timedelta(days=2)
        due = remind + dt.timedelta(hours=1) if remind and rnd.random() < 0.7 else None
        subject = f"{rnd.choice(_SUBJECTS)}（{rows.count + len(rows.rows)}）"
        created = min(created, remind or created, alerted or created)
        rows.add(
            **_stamp(owner, created, created),
            id=aid,
            deleted_at=_ago(rnd.uniform(0, 30) * _DAY)
            if rnd.random() < 0.01 and i >= len(_REMIND_EDGES)
            else None,
            type=rnd.choice(("call", "visit", "email", "task")),
            subject=subject,
            due_at=due,
            remind_at=remind,
            done=done,
            done_at=(remind or created) + dt.timedelta(hours=2) if done else None,
            customer_id=rnd.choice(customers),
        )
        if alerted is not None:
            details = {"subject": subject, "due_at": due.isoformat() if due else None}
            occasion = alerted.isoformat()
            alerts.raised(
                REMINDER, "activity", aid, occasion, owner, alerted, details, moment=alerted
            )
            alerts.flush(conn)
        rows.flush(conn)
    rows.flush(conn, force=True)
    alerts.flush(conn, force=True)
    return rows.count


def load_tickets(
    conn: sa.Connection, org: Org, customers: Sequence[uuid.UUID], count: int, alerts: Alerts
) -> dict[str, int]:
    rows = Loader("ticket")
    rnd = random.Random(11)
    fresh = _fresh_ids()
    managers = {a: org.leads[i % len(org.leads)] for i, a in enumerate(org.agents)}
    managers |= dict.fromkeys(org.leads, org.director)
    counts = {"open": 0, "running": 0}
    for i in range(count):
        tid = next(fresh)
        agent = rnd.choice(org.agents)
        owner: uuid.UUID = agent
        assignee: uuid.UUID | None = agent
        responded: dt.datetime | None
        resolved: dt.datetime | None
        roll = rnd.random()
        if i < len(_TICKET_EDGES):  # a deadline or warning time at NOW, or a second off
            status, created = _TICKET_EDGES[i]
            responded = resolved = None
            if status == "in_progress":
                responded = created + dt.timedelta(minutes=10)
            ended = NOW
            counts["open"] += 1
            counts["running"] += 1
        elif roll < 0.97:
            status = "closed" if roll < 0.77 else "resolved"
            created = _ago(rnd.uniform(3, 720) * _DAY)
            # Answered in 1.2 hours and resolved in 1.2 days on average: 4 % and 8 % late.
            responded = created + dt.timedelta(seconds=int(rnd.expovariate(1 / (1.2 * _HOUR))))
            resolved = responded + dt.timedelta(seconds=int(rnd.expovariate(1 / (1.2 * _DAY))))
            ended = resolved
        else:
            status = rnd.choices((*RUNNING, "waiting"), (15, 20, 50, 15))[0]
            early = status in ("new", "assigned") and rnd.random() < 0.6
            created = _ago(rnd.uniform(0, 6 * _HOUR if early else 6 * _DAY))
            answered = status not in ("new", "assigned")
            responded = (
                min(created + dt.timedelta(seconds=rnd.randint(300, 6 * _HOUR)), NOW)
                if answered
                else None
            )
            resolved, ended = None, NOW
            if status == "new" and rnd.random() < 0.1:  # not assigned yet: a lead owns it
                owner, assignee = rnd.choice(org.leads), None
            elif rnd.random() < 0.02:  # the director's own: nobody to escalate to
                owner = assignee = org.director
            counts["open"] += 1
            counts["running"] += status in RUNNING
        respond_by, due_at = created + RESPONSE, created + RESOLUTION
        ticket: dict[str, Any] = {
            **_stamp(owner, created, resolved or created),
            "id": tid,
            "deleted_at": _ago(rnd.uniform(0, 30) * _DAY)
            if rnd.random() < 0.005 and i >= len(_TICKET_EDGES)
            else None,
            "customer_id": rnd.choice(customers),
            "subject": f"{rnd.choice(_TICKETS)}（{rows.count + len(rows.rows)}）",
            "type": rnd.choice(("consultation", "complaint", "support")),
            "channel": rnd.choice(("phone", "email", "chat", "web")),
            "priority": rnd.choice(("low", "normal", "normal", "high", "urgent")),
            "status": status,
            "assignee_id": assignee,
            "sla_policy": POLICY.key,
            "respond_by": respond_by,
            "response_warn_at": respond_by - WARN,
            "due_at": due_at,
            "resolution_warn_at": due_at - WARN,
            "responded_at": responded,
            "resolved_at": resolved,
            "closed_at": resolved + dt.timedelta(days=1)
            if resolved and status == "closed"
            else None,
            "waiting_since": _ago(rnd.uniform(0, _DAY)) if status == "waiting" else None,
            "paused_minutes": 0,
        }
        recipient, boss = assignee or owner, managers.get(assignee or owner)
        for target, deadline_col, warn_col, flag in TARGETS:
            deadline: dt.datetime = ticket[deadline_col]
            met = responded if target == "response" else resolved
            stop = met or ended  # the clock ran until then
            details = {
                "target": target,
                "deadline": deadline.isoformat(),
                "subject": ticket["subject"],
            }
            occasion = f"{target}:{deadline.isoformat()}"
            # How likely a past sweep raised it (the edges: never).
            old = 0.0 if i < len(_TICKET_EDGES) else 0.95 if resolved else 0.75
            warned = ticket[warn_col]
            if warned <= min(stop, PREVIOUS) and rnd.random() < old:
                alerts.raised(
                    WARNING, "ticket", tid, occasion, recipient, warned, details, moment=deadline
                )
            if deadline <= min(stop, PREVIOUS) and rnd.random() < old:
                ticket[flag] = True
                alerts.raised(
                    BREACHED, "ticket", tid, occasion, recipient, deadline, details, moment=deadline
                )
                if boss is not None:
                    alerts.raised(
                        ESCALATED,
                        "ticket",
                        tid,
                        occasion,
                        boss,
                        deadline,
                        details,
                        uuid.uuid4(),
                        moment=deadline,
                    )
        rows.add(**ticket)
        rows.flush(conn)
        alerts.flush(conn)
    rows.flush(conn, force=True)
    alerts.flush(conn, force=True)
    counts["tickets"] = rows.count
    return counts


def load(engine: sa.Engine, org: Org, activities: int, tickets: int) -> dict[str, int]:
    """Write the customers, activities, tickets and past alerts with Core executemany;
    ANALYZE; take the snapshot of the open tickets the runs are restored from."""
    alerts = Alerts()
    with engine.begin() as conn:
        customers = load_customers(conn, org, max(50, tickets // 10))
        counts = {"customers": len(customers)}
        counts["activities"] = load_activities(conn, org, customers, activities, alerts)
        counts |= load_tickets(conn, org, customers, tickets, alerts)
        counts["alerts"] = alerts.count
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {SNAPSHOT}")
        conn.exec_driver_sql(
            f"CREATE TABLE {SNAPSHOT} AS SELECT id, version, updated_at, updated_by, "
            f"response_breached, resolution_breached FROM pycrm_tickets "
            f"WHERE tenant = '{TENANT}' AND status IN {RUNNING!r}"
        )
        conn.exec_driver_sql(f"CREATE UNIQUE INDEX ix_{SNAPSHOT} ON {SNAPSHOT} (id)")
    _maintain(engine, "")
    return counts


def _maintain(engine: sa.Engine, tables: str) -> None:
    """VACUUM ANALYZE (PostgreSQL: dead rows away) or ANALYZE and a checkpoint of the
    write-ahead log (SQLite); ``tables`` only, when named."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f"VACUUM ANALYZE {tables}")
        return
    raw = engine.raw_connection()  # outside a transaction (pycrm's engine issues BEGIN)
    try:
        cursor = raw.cursor()
        if not tables:
            cursor.execute("ANALYZE")
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        cursor.close()
    finally:
        raw.close()


def restore(engine: sa.Engine) -> None:
    """Delete what a run wrote (alerts, escalation to-dos, audit rows) and put the tickets
    back as loaded (not timed)."""
    params = {"tenant": TENANT, "now": NOW}
    typed = [sa.bindparam("now", type_=UTCDateTime())]
    statements = [
        "DELETE FROM pycrm_alerts WHERE tenant = :tenant AND at = :now",
        "DELETE FROM pycrm_activities WHERE tenant = :tenant AND ticket_id IS NOT NULL "
        "AND created_at = :now",
        "DELETE FROM pycrm_changes WHERE tenant = :tenant AND at = :now",
        f"""
        UPDATE pycrm_tickets SET version = s.version, updated_at = s.updated_at,
            updated_by = s.updated_by, response_breached = s.response_breached,
            resolution_breached = s.resolution_breached
        FROM {SNAPSHOT} AS s
        WHERE pycrm_tickets.tenant = :tenant AND pycrm_tickets.id = s.id
          AND pycrm_tickets.version <> s.version
        """,
    ]
    with engine.begin() as conn:
        for sql in statements:
            text = sa.text(sql)
            if ":now" in sql:
                text = text.bindparams(*typed)
            conn.execute(text, {k: v for k, v in params.items() if f":{k}" in sql})
    _maintain(engine, "pycrm_alerts, pycrm_activities, pycrm_changes, pycrm_tickets")


def raised_alerts(engine: sa.Engine) -> list[tuple[Any, ...]]:
    """The alerts a run raised: rule, record, occasion, recipient, details, to-do."""
    alerts = table_for("alert")
    query = (
        sa.select(
            alerts.c.rule,
            alerts.c.subject_kind,
            alerts.c.subject,
            alerts.c.occasion,
            alerts.c.recipient,
            alerts.c.details,
            alerts.c.task,
        )
        .where(alerts.c.tenant == TENANT, alerts.c.at == NOW)
        .order_by(alerts.c.rule, alerts.c.subject, alerts.c.occasion)
    )
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(query)]


def escalation_tasks(engine: sa.Engine) -> int:
    """The escalation to-dos a run wrote that its escalation alerts name."""
    sql = (
        "SELECT count(*) FROM pycrm_alerts e JOIN pycrm_activities k "
        "ON k.tenant = e.tenant AND k.id = e.task AND k.ticket_id = e.subject "
        "AND k.owner_id = e.recipient "
        "WHERE e.tenant = :tenant AND e.rule = :rule AND e.at = :now"
    )
    text = sa.text(sql).bindparams(sa.bindparam("now", type_=UTCDateTime()))
    with engine.connect() as conn:
        return int(
            conn.execute(text, {"tenant": TENANT, "rule": ESCALATED, "now": NOW}).scalar_one()
        )


def breach_flags(engine: sa.Engine) -> int:
    """The breach flags of the open tickets a run set."""
    sql = (
        f"SELECT count(*) FROM pycrm_tickets t JOIN {SNAPSHOT} s ON s.id = t.id "
        "WHERE t.tenant = :tenant AND ("
        "(t.response_breached AND s.response_breached IS NULL) OR "
        "(t.resolution_breached AND s.resolution_breached IS NULL))"
    )
    with engine.connect() as conn:
        return int(conn.execute(sa.text(sql), {"tenant": TENANT}).scalar_one())


# -- the hand-written SQL -----------------------------------------------------------------
class Hand:
    """The hand-written statements on one dialect."""

    def __init__(self, dialect: str) -> None:
        self.pg = dialect == "postgresql"
        self.new_id = "gen_random_uuid()" if self.pg else "lower(hex(randomblob(16)))"
        self.json = "jsonb_build_object" if self.pg else "json_object"
        self.no, self.yes = ("false", "true") if self.pg else ("0", "1")
        running = ", ".join(f"'{s}'" for s in RUNNING)
        self.reminders_where = f"""
            a.tenant = :tenant AND a.deleted_at IS NULL AND a.done = {self.no}
            AND a.remind_at >= :since AND a.remind_at <= :now
            AND NOT EXISTS (
                SELECT 1 FROM pycrm_alerts x
                WHERE x.tenant = a.tenant AND x.rule = '{REMINDER}' AND x.subject = a.id
                  AND x.moment = a.remind_at)"""
        self.breach_where: dict[str, str] = {}
        self.warning_where: dict[str, str] = {}
        for target, deadline, warn, _ in TARGETS:
            base = f"t.tenant = :tenant AND t.deleted_at IS NULL AND t.status IN ({running})"
            if target == "response":
                base += " AND t.responded_at IS NULL"
            self.breach_where[target] = f"""
                {base} AND {self.unindexed("t." + deadline)} < :now AND NOT EXISTS (
                    SELECT 1 FROM pycrm_alerts x
                    WHERE x.tenant = t.tenant AND x.rule = '{BREACHED}' AND x.subject = t.id
                      AND x.moment = t.{deadline})"""
            self.warning_where[target] = f"""
                {base} AND t.{warn} <= :now AND t.{deadline} >= :now AND NOT EXISTS (
                    SELECT 1 FROM pycrm_alerts x
                    WHERE x.tenant = t.tenant AND x.rule = '{WARNING}' AND x.subject = t.id
                      AND x.moment = t.{deadline})"""

    def unindexed(self, column: str) -> str:
        """``column``, written so that SQLite does not use its index: for the breaches,
        SQLite would otherwise take the ``due_at`` index over the status one and read
        every ticket past its deadline, closed ones included (a hand writer would see it
        in the plan)."""
        return column if self.pg else f"+{column}"

    def iso(self, column: str) -> str:
        """``column``'s time as Python's ``isoformat()`` writes it (what pycrm's
        occasions and details hold)."""
        if self.pg:
            utc = f"({column} AT TIME ZONE 'UTC')"
            return (
                f"(to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN "
                f"date_trunc('second', {column}) = {column} THEN '' "
                f"ELSE to_char({utc}, '.US') END || '+00:00')"
            )
        # SQLAlchemy keeps 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC) on SQLite.
        return (
            f"(replace(substr({column}, 1, 19), ' ', 'T') || CASE WHEN substr({column}, 21) "
            f"IN ('', '000000') THEN '' ELSE '.' || substr({column}, 21) END || '+00:00')"
        )

    def occasion(self, target: str, deadline: str) -> str:
        return f"('{target}:' || {self.iso('t.' + deadline)})"

    def sla_details(self, target: str, deadline: str) -> str:
        iso = self.iso("t." + deadline)
        return f"{self.json}('target', '{target}', 'deadline', {iso}, 'subject', t.subject)"

    # The busy side: the alerts (and, for reference, the to-dos and the flags).
    def busy(self, full: bool) -> list[str]:
        columns = (
            "id, tenant, rule, subject_kind, subject, occasion, recipient, at, task, "
            "details, moment"
        )
        insert = f"INSERT INTO pycrm_alerts ({columns})"
        details = f"{self.json}('subject', a.subject, 'due_at', {self.iso('a.due_at')})"
        statements = [
            f"""{insert}
            SELECT {self.new_id}, a.tenant, '{REMINDER}', 'activity', a.id,
                   {self.iso("a.remind_at")}, a.owner_id, :now, NULL, {details}, a.remind_at
            FROM pycrm_activities a WHERE {self.reminders_where}"""
        ]
        boss = (
            "JOIN pycrm_users u ON u.tenant = t.tenant "
            "AND u.id = coalesce(t.assignee_id, t.owner_id)"
        )
        for target, deadline, _, _ in TARGETS:
            occasion, info = self.occasion(target, deadline), self.sla_details(target, deadline)
            due = self.breach_where[target]
            # The escalations first (each names its to-do), while the breach is still due.
            statements.append(f"""{insert}
                SELECT {self.new_id}, t.tenant, '{ESCALATED}', 'ticket', t.id, {occasion},
                       u.manager_id, :now, {self.new_id}, {info}, t.{deadline}
                FROM pycrm_tickets t {boss} WHERE {due} AND u.manager_id IS NOT NULL""")
            if full:  # the to-dos the escalations name, and the tickets' breach flags
                statements.append(f"""
                INSERT INTO pycrm_activities (id, tenant, owner_id, created_at, updated_at,
                    created_by, updated_by, version, custom, type, subject, due_at, done,
                    customer_id, ticket_id, assigned_by)
                SELECT e.task, t.tenant, e.recipient, :now, :now, :system, :system,
                       1, '{{}}', 'task', '{target}: ' || t.subject, :now, {self.no},
                       t.customer_id, t.id, :system
                FROM pycrm_tickets t JOIN pycrm_alerts e ON e.tenant = t.tenant
                    AND e.rule = '{ESCALATED}' AND e.subject = t.id AND e.occasion = {occasion}
                WHERE {due}""")
            statements.append(f"""{insert}
                SELECT {self.new_id}, t.tenant, '{BREACHED}', 'ticket', t.id, {occasion},
                       coalesce(t.assignee_id, t.owner_id), :now, NULL, {info}, t.{deadline}
                FROM pycrm_tickets t WHERE {due}""")
            statements.append(f"""{insert}
                SELECT {self.new_id}, t.tenant, '{WARNING}', 'ticket', t.id, {occasion},
                       coalesce(t.assignee_id, t.owner_id), :now, NULL, {info}, t.{deadline}
                FROM pycrm_tickets t WHERE {self.warning_where[target]}""")
        return statements

    # The idle side: the due rows, found (none are).
    def selects(self) -> list[str]:
        found = [
            "SELECT a.id, a.owner_id, a.remind_at, a.subject, a.due_at "
            f"FROM pycrm_activities a WHERE {self.reminders_where}"
        ]
        for target, deadline, _, _ in TARGETS:
            what = (
                f"SELECT t.id, t.assignee_id, t.owner_id, t.{deadline}, t.subject "
                "FROM pycrm_tickets t WHERE "
            )
            found += [what + self.breach_where[target], what + self.warning_where[target]]
        return found


_TYPES = {"now": UTCDateTime(), "since": UTCDateTime()}


def _bind(sql: str) -> tuple[sa.TextClause, dict[str, Any]]:
    """The statement with its parameters typed, and their values."""
    text = sa.text(sql)
    types: list[sa.BindParameter[Any]] = [
        sa.bindparam(n, type_=t) for n, t in _TYPES.items() if f":{n}" in sql
    ]
    if ":system" in sql:
        types.append(sa.bindparam("system", type_=table_for("activity").c.assigned_by.type))
    params = {"tenant": TENANT, "now": NOW, "since": NOW - LATE, "system": pycrm.SYSTEM_USER}
    return text.bindparams(*types), {k: v for k, v in params.items() if f":{k}" in sql}


def hand_busy(engine: sa.Engine, hand: Hand, full: bool) -> int:
    """The alerts (``full``: and the to-dos and the flags), in one transaction; how many
    alerts it wrote."""
    written = 0
    with engine.begin() as conn:
        for sql in hand.busy(full):
            text, params = _bind(sql)
            result = conn.execute(text.execution_options(preserve_rowcount=True), params)
            if sql.lstrip().startswith("INSERT INTO pycrm_alerts"):
                written += result.rowcount
    return written


def hand_idle(engine: sa.Engine, hand: Hand) -> int:
    """The due rows, in one transaction; how many (none, after a busy sweep)."""
    found = 0
    with engine.begin() as conn:
        for sql in hand.selects():
            text, params = _bind(sql)
            found += len(conn.execute(text, params).all())
    return found


# -- pycrm's side -------------------------------------------------------------------------
class TimedRule:
    """A sweep rule that adds up the time its runs take."""

    def __init__(self, rule: Any) -> None:
        self.rule, self.key, self.seconds = rule, rule.key, 0.0

    def run(self, uow: Any, now: dt.datetime) -> int:
        started = time.perf_counter()
        try:
            return int(self.rule.run(uow, now))
        finally:
            self.seconds += time.perf_counter() - started


_TABLES = {"activities", "tickets", "alerts", "users", "changes"}


def _label(statement: str) -> str:
    """``"SELECT tickets"``: what a statement does, to which of the sweep's tables."""
    words = statement.split()
    verb = words[0].upper() if words else ""
    table = ""
    if verb == "UPDATE" and len(words) > 1:
        table = words[1]
    elif verb in ("INSERT", "DELETE") and len(words) > 2:
        table = words[2]
    elif verb == "SELECT" and (found := re.search(r"\bFROM\s+(\w+)", statement, re.I)):
        table = found.group(1)
    table = table.strip('"').lower().removeprefix("pycrm_")
    return f"{verb} {table}" if table in _TABLES else "other statements"


def pycrm_sweep(crm: pycrm.CRM) -> dict[str, int]:
    run = crm.sweep(NOW, tenant=TENANT)
    assert run.ok, run.failed
    return dict(run.raised)


def _timed(call: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    answer = call()
    return time.perf_counter() - started, answer


# -- measuring ----------------------------------------------------------------------------
def plans(
    engine: sa.Engine, ours: Sequence[tuple[str, str, Any]], hand: Sequence[tuple[str, str]]
) -> dict[str, list[str]]:
    """The database's plan of each of pycrm's ``(label, statement, DBAPI parameters)`` and
    of each hand-written ``(label, statement)``: EXPLAIN QUERY PLAN on SQLite, EXPLAIN
    (ANALYZE, BUFFERS) on PostgreSQL (in a transaction rolled back)."""
    sqlite = engine.dialect.name == "sqlite"
    prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN (ANALYZE, BUFFERS) "
    found: dict[str, list[str]] = {}
    with engine.connect() as conn:
        answers: list[tuple[str, Sequence[Any]]] = []
        for label, statement, parameters in ours:
            answers.append((label, conn.exec_driver_sql(prefix + statement, parameters).all()))
        for label, sql in hand:
            text, params = _bind(prefix + sql)
            answers.append((label, conn.execute(text, params).all()))
        conn.rollback()
    for label, rows in answers:
        if not sqlite:
            found[label] = [row[0] for row in rows]
            continue
        depth: dict[int, int] = {0: -1}
        lines = []
        for node, parent, _, detail in rows:
            depth[node] = depth.get(parent, -1) + 1
            lines.append("  " * depth[node] + detail)
        found[label] = lines
    return found


def check(crm: pycrm.CRM, hand: Hand) -> dict[str, Any]:
    """The first runs: both sides raise the same alerts; the idle sweep raises nothing."""
    engine: sa.Engine = crm.storage.engine  # type: ignore[attr-defined]
    raised = pycrm_sweep(crm)
    ours = raised_alerts(engine)
    tasks, flags = escalation_tasks(engine), breach_flags(engine)
    again = pycrm_sweep(crm)
    assert not any(again.values()), f"the idle sweep raised {again}"
    assert hand_idle(engine, hand) == 0
    restore(engine)
    written = hand_busy(engine, hand, full=False)
    theirs = raised_alerts(engine)
    restore(engine)
    full = hand_busy(engine, hand, full=True)
    assert full == written, (full, written)
    assert escalation_tasks(engine) == tasks, (escalation_tasks(engine), tasks)
    assert breach_flags(engine) == flags, (breach_flags(engine), flags)
    restore(engine)

    def key(row: tuple[Any, ...]) -> tuple[Any, ...]:
        return row[:6]  # the to-do ids differ

    assert len(ours) == written, (len(ours), written)
    assert sorted(map(key, ours), key=repr) == sorted(map(key, theirs), key=repr), (
        "pycrm and the hand-written SQL raised different alerts"
    )
    by_rule: dict[str, int] = {}
    for row in ours:
        by_rule[row[0]] = by_rule.get(row[0], 0) + 1
    assert raised.get(REMINDER, 0) == by_rule.get(REMINDER, 0), (raised, by_rule)
    sla = sum(by_rule.get(rule, 0) for rule in (WARNING, BREACHED, ESCALATED))
    assert raised.get("ticket.sla", 0) == sla, (raised, by_rule)
    assert tasks == by_rule.get(ESCALATED, 0), (tasks, by_rule)
    return {"alerts": by_rule, "tasks": tasks, "flags": flags, "raised": raised}


SIDES = ("pycrm busy", "hand alerts", "hand alerts + to-dos + flags", "pycrm idle", "hand SELECTs")


def measure(crm: pycrm.CRM, repeat: int, explain: bool) -> dict[str, Any]:
    engine: sa.Engine = crm.storage.engine  # type: ignore[attr-defined]
    hand = Hand(engine.dialect.name)
    results: dict[str, Any] = check(crm, hand)
    written = sum(results["alerts"].values())
    rules = [TimedRule(rule) for rule in crm.sweep_rules]
    crm.sweep_rules = rules  # type: ignore[assignment]
    listener = Statements(engine)

    times: dict[str, list[float]] = {name: [] for name in SIDES}
    by_rule: list[dict[str, float]] = []
    by_statement: list[dict[str, float]] = []
    idle_sql: list[tuple[str, Any]] = []
    load_before = os.getloadavg()[0]
    for run in range(repeat):  # interleaved, restored after every busy run
        for rule in rules:
            rule.seconds = 0.0
        listener.on = True
        seconds, raised = _timed(lambda: pycrm_sweep(crm))
        listener.on = False
        assert raised == results["raised"], raised
        times["pycrm busy"].append(seconds)
        split = {f"rule {rule.key}": rule.seconds for rule in rules}
        split["outside the rules (units of work)"] = seconds - sum(split.values())
        by_rule.append(split)
        parts: dict[str, float] = {}
        for statement, _, took in listener.seen:
            parts[_label(statement)] = parts.get(_label(statement), 0.0) + took
        parts = dict(sorted(parts.items(), key=lambda kv: -kv[1]))
        parts["outside statements (Python)"] = seconds - sum(parts.values())
        by_statement.append(parts)
        listener.seen.clear()
        # The idle sweep, and the hand SELECTs on the same state.
        listener.on = run == 0 and explain
        seconds, raised = _timed(lambda: pycrm_sweep(crm))
        listener.on = False
        assert not any(raised.values()), raised
        times["pycrm idle"].append(seconds)
        if run == 0 and explain:
            idle_sql = [(s, p) for s, p, _ in listener.seen]
        listener.seen.clear()
        seconds, found = _timed(lambda: hand_idle(engine, hand))
        assert found == 0, found
        times["hand SELECTs"].append(seconds)
        restore(engine)
        for name, full in (("hand alerts", False), ("hand alerts + to-dos + flags", True)):
            seconds, count = _timed(functools.partial(hand_busy, engine, hand, full))
            assert count == written, (count, written)
            times[name].append(seconds)
            restore(engine)
    load_after = os.getloadavg()[0]
    medians = {name: statistics.median(t) for name, t in times.items()}
    results |= {"times": medians, "runs": times, "load": (load_before, load_after)}
    results["ratio_busy"] = medians["pycrm busy"] / medians["hand alerts"]
    results["ratio_busy_full"] = medians["pycrm busy"] / medians["hand alerts + to-dos + flags"]
    results["ratio_idle"] = medians["pycrm idle"] / medians["hand SELECTs"]
    middle = sorted(range(repeat), key=lambda i: times["pycrm busy"][i])[repeat // 2]
    results["by_rule"], results["by_statement"] = by_rule[middle], by_statement[middle]
    if explain:
        seen: dict[str, tuple[str, Any]] = {}
        for statement, parameters in idle_sql:
            label = _label(statement)
            if label != "other statements" and statement not in seen:
                seen[statement] = (f"pycrm {label} #{len(seen) + 1}", parameters)
        ours = [(label, s, p) for s, (label, p) in seen.items()]
        theirs = [(f"hand SELECT #{i + 1}", sql) for i, sql in enumerate(hand.selects())]
        results["plans"] = plans(engine, ours, theirs)
    return results


def run_one(
    label: str, url: str, activities: int, tickets: int, agents: int, repeat: int, explain: bool
) -> dict[str, Any]:
    clock = pycrm.FixedClock(NOW)
    crm = pycrm.CRM.connect(url, settings=SETTINGS, clock=clock, load_entry_points=False)
    try:
        engine: sa.Engine = crm.storage.engine  # type: ignore[attr-defined]
        org = build_org(crm, agents)
        started = time.perf_counter()
        counts = load(engine, org, activities, tickets)
        took = time.perf_counter() - started
        names = ("customers", "activities", "tickets", "alerts")
        written = ", ".join(f"{counts[name]:,} {name}" for name in names)
        print(f"{label}: {written} written in {took:.1f} s", flush=True)
        results = measure(crm, repeat, explain)
        results["counts"] = counts
    finally:
        crm.close()
    _print(label, results)
    return results


def _print(label: str, results: dict[str, Any]) -> None:
    counts, alerts = results["counts"], results["alerts"]
    print(
        f"\n{label}: {counts['activities']:,} activities, {counts['tickets']:,} tickets "
        f"({counts['open']:,} open, {counts['running']:,} running), {counts['alerts']:,} "
        f"alerts before; the busy sweep raises {alerts.get(REMINDER, 0):,} reminders, "
        f"{alerts.get(WARNING, 0):,} SLA warnings, {alerts.get(BREACHED, 0):,} breaches and "
        f"{alerts.get(ESCALATED, 0):,} escalations ({results['tasks']:,} to-dos, "
        f"{results['flags']:,} breach flags)"
    )
    print(f"  target: ratio pycrm / hand SQL at most {TARGET}")
    times, runs = results["times"], results["runs"]
    print(f"  {'':<40} {'ms':>10} {'ratio':>7}   runs (ms)")
    rows = (
        ("busy sweep: pycrm crm.sweep(now)", "pycrm busy", "pycrm busy"),
        ("  hand alerts (INSERT … SELECT)", "hand alerts", "pycrm busy"),
        ("  hand alerts + to-dos + flags (ref.)", "hand alerts + to-dos + flags", "pycrm busy"),
        ("idle sweep: pycrm crm.sweep(now)", "pycrm idle", "pycrm idle"),
        ("  hand SELECTs of the due rows", "hand SELECTs", "pycrm idle"),
    )
    for title, name, ours in rows:
        shown = ", ".join(f"{t * 1000:,.0f}" for t in runs[name])
        ratio = times[ours] / times[name]
        print(f"  {title:<40} {times[name] * 1000:>10,.1f} {ratio:>7.2f}   {shown}")
    print(
        f"  ratio busy {results['ratio_busy']:.2f} (with to-dos and flags "
        f"{results['ratio_busy_full']:.2f}), idle {results['ratio_idle']:.2f}"
    )
    print("  pycrm's median busy run, by rule:")
    for name, seconds in results["by_rule"].items():
        print(f"    {name:<44} {seconds * 1000:>10,.1f}")
    print("  by statement (DBAPI execute: SQLite reads a SELECT's rows after it, COPY unseen):")
    for name, seconds in results["by_statement"].items():
        print(f"    {name:<44} {seconds * 1000:>10,.1f}")
    before, after = results["load"]
    print(f"  load average (1 min): {before:.2f} before, {after:.2f} after\n")
    for name, lines in results.get("plans", {}).items():
        print(f"  plan of {name}:")
        for line in lines:  # long lists of ids cut short
            print(f"    {line if len(line) <= 300 else line[:300] + ' …'}")
        print()


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--activities", type=int, default=1_000_000, help="activities")
    parser.add_argument("--tickets", type=int, default=200_000, help="tickets")
    parser.add_argument("--agents", type=int, default=400, help="service agents")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each side")
    parser.add_argument("--explain", action="store_true", help="print the query plans")
    parser.add_argument("--postgres", help="PostgreSQL server URL (skipped when not given)")
    args = parser.parse_args(argv)
    print(
        f"{dt.datetime.now():%Y-%m-%d %H:%M}, {args.activities:,} activities, "
        f"{args.tickets:,} tickets, {args.agents} agents",
        flush=True,
    )
    sizes = (args.activities, args.tickets, args.agents, args.repeat, args.explain)
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench_sweep.db'}"
        report["sqlite"] = run_one("SQLite", url, *sizes)
    if args.postgres:
        with fresh_databases(args.postgres, "bench_sweep") as (url,):
            report["postgresql"] = run_one("PostgreSQL", url, *sizes)
    return report


if __name__ == "__main__":
    main()
