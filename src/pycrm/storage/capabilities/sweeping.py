"""The sweep's capability: what is due and not raised yet, found in one query per kind.

:meth:`SweepQueries.due_reminders` answers the open activities whose reminder time has
come and that have no ``activity.reminder`` alert for that time; :meth:`due_deadlines`
the running tickets past a warning time or a deadline with no alert of that stage for
that deadline. The SQL backend asks with ``NOT EXISTS`` against the alerts' unique key,
so a sweep with nothing new to raise reads nothing but the index; :class:`RecordStoreSweep`
reads the candidates through the record store and leaves out those with an alert.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Literal, Protocol

from attrs import frozen

from pycrm.core.activities import Activity
from pycrm.core.alerts import Alert
from pycrm.core.tickets import DONE_STATUSES, Ticket, TicketStatus
from pycrm.storage.base import Filter, Op, Query, Scope, Transaction
from pycrm.storage.capabilities import capability, each

__all__ = [
    "RUNNING",
    "TARGETS",
    "AlertWrites",
    "DueDeadline",
    "DueReminder",
    "RecordStoreSweep",
    "SweepQueries",
    "alert_writes",
    "sweep_queries",
]

#: Ticket statuses whose SLA clock runs (a waiting ticket's is stopped).
RUNNING = tuple(
    s.value for s in TicketStatus if s not in DONE_STATUSES and s is not TicketStatus.WAITING
)
#: Each SLA target: (name, deadline field, warning field, only while not responded).
TARGETS = (
    ("response", "respond_by", "response_warn_at", True),
    ("resolution", "due_at", "resolution_warn_at", False),
)
Stage = Literal["warning", "breach"]


@frozen(kw_only=True)
class DueReminder:
    """An activity whose reminder is due."""

    activity_id: uuid.UUID
    owner_id: uuid.UUID | None
    remind_at: dt.datetime
    subject: str
    due_at: dt.datetime | None


@frozen(kw_only=True)
class DueDeadline:
    """A running ticket whose warning time (``stage="warning"``) or deadline (``"breach"``)
    of one target has come."""

    ticket_id: uuid.UUID
    target: str
    stage: Stage
    deadline: dt.datetime
    assignee_id: uuid.UUID | None
    owner_id: uuid.UUID | None
    customer_id: uuid.UUID
    subject: str
    sla_policy: str | None


class SweepQueries(Protocol):
    """A transaction that finds what the sweep has still to raise."""

    def due_reminders(
        self, tenant: str, rule: str, since: dt.datetime, now: dt.datetime
    ) -> list[DueReminder]:
        """Open activities reminded at ``since`` ≤ time ≤ ``now`` with no alert of
        ``rule`` for that time, by reminder time."""
        ...

    def due_deadlines(
        self, tenant: str, rules: dict[Stage, str], now: dt.datetime
    ) -> list[DueDeadline]:
        """Running tickets whose warning time has come (deadline not passed) or whose
        deadline has passed, with no alert of that stage's rule for that deadline."""
        ...


class AlertWrites(Protocol):
    """A transaction that raises due alerts in the database itself: the alerts the
    built-in rules would write for what :class:`SweepQueries` answers, without reading
    them (used when no plugin handles events, which need the alerts read)."""

    def raise_reminders(self, tenant: str, rule: str, since: dt.datetime, now: dt.datetime) -> int:
        """Write the reminder alerts due at ``now``; how many."""
        ...

    def raise_deadlines(
        self, tenant: str, rules: dict[Stage, str], now: dt.datetime, nobody: uuid.UUID
    ) -> int:
        """Write the SLA warnings and breaches due at ``now`` (the stages in ``rules``),
        to the assignee or else the owner unless that is ``nobody``; how many."""
        ...


class RecordStoreSweep:
    """:class:`SweepQueries` through the record store: the candidates a page at a time,
    those with an alert left out."""

    def __init__(self, tx: Transaction) -> None:
        self.tx = tx

    def due_reminders(
        self, tenant: str, rule: str, since: dt.datetime, now: dt.datetime
    ) -> list[DueReminder]:
        """Computed from the activities and alerts: :meth:`SweepQueries.due_reminders`."""
        scope = Scope(tenant)
        query = Query(
            filters=(
                Filter("remind_at", Op.GTE, since),
                Filter("remind_at", Op.LTE, now),
                Filter("done", Op.EQ, False),
            ),
            order=(("remind_at", False),),
        )
        found = [
            DueReminder(
                activity_id=a.id,
                owner_id=a.owner_id,
                remind_at=a.remind_at,
                subject=a.subject,
                due_at=a.due_at,
            )
            for a in each(self.tx, Activity, scope, query)
            if a.remind_at is not None
        ]
        raised = self._raised(scope, rule, [(r.activity_id, r.remind_at) for r in found])
        return [r for r in found if (rule, r.activity_id, r.remind_at) not in raised]

    def due_deadlines(
        self, tenant: str, rules: dict[Stage, str], now: dt.datetime
    ) -> list[DueDeadline]:
        """Computed from the tickets and alerts: :meth:`SweepQueries.due_deadlines`."""
        scope, found = Scope(tenant), []
        for target, deadline, warning, unanswered in TARGETS:
            base: tuple[Filter, ...] = (Filter("status", Op.IN, RUNNING),)
            if unanswered:
                base += (Filter("responded_at", Op.IS_NULL, True),)
            stages: list[tuple[Stage, tuple[Filter, ...]]] = [
                ("breach", (Filter(deadline, Op.LT, now),)),
                ("warning", (Filter(warning, Op.LTE, now), Filter(deadline, Op.GTE, now))),
            ]
            for stage, tests in stages:
                if stage not in rules:
                    continue
                query = Query(filters=(*base, *tests))
                found += [
                    _due(t, target, stage, getattr(t, deadline))
                    for t in each(self.tx, Ticket, scope, query)
                ]
        pairs = [(rules[d.stage], d.ticket_id, d.deadline) for d in found]
        raised = self._raised_any(scope, pairs)
        return [d for d in found if (rules[d.stage], d.ticket_id, d.deadline) not in raised]

    def _raised(
        self, scope: Scope, rule: str, pairs: Sequence[tuple[uuid.UUID, dt.datetime]]
    ) -> set[tuple[str, uuid.UUID, dt.datetime | None]]:
        return self._raised_any(scope, [(rule, s, m) for s, m in pairs])

    def _raised_any(
        self, scope: Scope, wanted: Iterable[tuple[str, uuid.UUID, dt.datetime]]
    ) -> set[tuple[str, uuid.UUID, dt.datetime | None]]:
        by_rule: dict[str, set[uuid.UUID]] = {}
        for rule, subject, _ in wanted:
            by_rule.setdefault(rule, set()).add(subject)
        seen: set[tuple[str, uuid.UUID, dt.datetime | None]] = set()
        for rule, subjects in by_rule.items():
            ordered = sorted(subjects, key=str)
            for start in range(0, len(ordered), 500):
                chunk = frozenset(ordered[start : start + 500])
                query = Query(
                    filters=(Filter("rule", Op.EQ, rule), Filter("subject", Op.IN, chunk))
                )
                seen |= {(a.rule, a.subject, a.moment) for a in self.tx.find(Alert, scope, query)}
        return seen


def _due(ticket: Ticket, target: str, stage: Stage, deadline: dt.datetime) -> DueDeadline:
    return DueDeadline(
        ticket_id=ticket.id,
        target=target,
        stage=stage,
        deadline=deadline,
        assignee_id=ticket.assignee_id,
        owner_id=ticket.owner_id,
        customer_id=ticket.customer_id,
        subject=ticket.subject,
        sla_policy=ticket.sla_policy,
    )


def alert_writes(tx: Transaction) -> AlertWrites | None:
    """``tx`` itself when it raises alerts in the database, else None."""
    return capability(tx, AlertWrites, _none)


def _none(_: Transaction) -> None:
    return None


def sweep_queries(tx: Transaction) -> SweepQueries:
    """``tx`` itself when it finds what is due in the database, else the fallback."""
    return capability(tx, SweepQueries, RecordStoreSweep)
