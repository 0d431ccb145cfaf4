"""Service tickets (工单): a customer's request for service, its type, channel and priority,
and the workflow it follows.

A ticket moves new → assigned → in progress → (waiting on customer ⇄ in progress) →
resolved → closed, and a resolved or closed ticket may be reopened within the tenant's
reopen window. :data:`NEXT_STATUSES` is the whole workflow; :meth:`Ticket.move_to` refuses
anything else with a :class:`pycrm.RuleViolation` that lists the allowed moves. Every move
is kept as a :class:`TicketMove`, like a deal's stage transitions.

Deadlines come from the SLA policy chosen when the ticket is opened (:mod:`pycrm.core.sla`):
``respond_by`` for the first response and ``due_at`` for the resolution, both in business
time. While the ticket waits on the customer the clock stops: when it resumes, the
deadlines still running move on by the business time spent waiting.
"""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import ClassVar

from attrs import define

from pycrm.core.ids import new_id
from pycrm.core.money import Money
from pycrm.core.records import Record
from pycrm.errors import RuleViolation

__all__ = [
    "NEXT_STATUSES",
    "Ticket",
    "TicketChannel",
    "TicketMove",
    "TicketPriority",
    "TicketStatus",
    "TicketType",
]


class TicketType(StrEnum):
    """What a ticket asks for: a consultation, a suggestion, a complaint or support (repair)."""

    CONSULTATION = "consultation"
    SUGGESTION = "suggestion"
    COMPLAINT = "complaint"
    SUPPORT = "support"


class TicketChannel(StrEnum):
    """How a ticket reached the company."""

    PHONE = "phone"
    EMAIL = "email"
    CHAT = "chat"
    SOCIAL = "social"
    VISIT = "visit"
    WEB = "web"


class TicketPriority(StrEnum):
    """How urgent a ticket is, from low to urgent; SLA rules build on it."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class TicketStatus(StrEnum):
    """A ticket's workflow: new → assigned → in progress → waiting on the customer →
    resolved → closed (see :data:`NEXT_STATUSES`)."""

    NEW = "new"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    WAITING = "waiting"
    RESOLVED = "resolved"
    CLOSED = "closed"


#: Where a ticket may go from each status. Reopening (resolved or closed → in progress)
#: is allowed only within the tenant's reopen window; :meth:`Ticket.move_to` checks it.
NEXT_STATUSES: dict[TicketStatus, tuple[TicketStatus, ...]] = {
    TicketStatus.NEW: (TicketStatus.ASSIGNED,),
    TicketStatus.ASSIGNED: (TicketStatus.IN_PROGRESS,),
    TicketStatus.IN_PROGRESS: (TicketStatus.WAITING, TicketStatus.RESOLVED),
    TicketStatus.WAITING: (TicketStatus.IN_PROGRESS, TicketStatus.RESOLVED),
    TicketStatus.RESOLVED: (TicketStatus.CLOSED, TicketStatus.IN_PROGRESS),
    TicketStatus.CLOSED: (TicketStatus.IN_PROGRESS,),
}

#: Statuses in which the ticket is done with (no SLA clock runs).
DONE_STATUSES = frozenset({TicketStatus.RESOLVED, TicketStatus.CLOSED})


@define(eq=False, kw_only=True)
class Ticket(Record):
    """A customer's request for service.

    ``respond_by`` and ``due_at`` are the first-response and resolution deadlines of the
    ``sla_policy`` chosen when it was opened (None without a policy), and
    ``response_warn_at``/``resolution_warn_at`` when their warnings are due; ``responded_at`` is
    the first response, ``response_minutes`` and ``resolution_minutes`` the business
    minutes it took (waiting excluded), ``response_breached`` and ``resolution_breached``
    whether a deadline was missed; ``paused_minutes`` the business minutes its clock stood
    still (waiting on the customer, resolved before a reopen). ``satisfaction`` is the
    follow-up survey's score, 1 to 5, with ``satisfaction_comment``; ``fee`` a service fee,
    optionally charged on line ``fee_line`` (1 = first) of order ``order_id``.
    """

    kind: ClassVar[str] = "ticket"
    system_fields: ClassVar[frozenset[str]] = Record.system_fields | frozenset(
        {
            "sla_policy",
            "respond_by",
            "response_warn_at",
            "resolution_warn_at",
            "responded_at",
            "waiting_since",
            "resolved_at",
            "closed_at",
            "response_minutes",
            "resolution_minutes",
            "response_breached",
            "resolution_breached",
            "paused_minutes",
            "surveyed_at",
        }
    )

    customer_id: uuid.UUID
    subject: str
    contact_id: uuid.UUID | None = None
    description: str | None = None
    type: TicketType = TicketType.CONSULTATION
    channel: TicketChannel = TicketChannel.PHONE
    priority: TicketPriority = TicketPriority.NORMAL
    status: TicketStatus = TicketStatus.NEW
    assignee_id: uuid.UUID | None = None
    due_at: dt.datetime | None = None
    resolved_at: dt.datetime | None = None
    resolution: str | None = None
    satisfaction: int | None = None
    satisfaction_comment: str | None = None
    surveyed_at: dt.datetime | None = None
    fee: Money | None = None
    order_id: uuid.UUID | None = None
    fee_line: int | None = None
    sla_policy: str | None = None
    respond_by: dt.datetime | None = None
    response_warn_at: dt.datetime | None = None
    resolution_warn_at: dt.datetime | None = None
    responded_at: dt.datetime | None = None
    waiting_since: dt.datetime | None = None
    closed_at: dt.datetime | None = None
    response_minutes: int | None = None
    resolution_minutes: int | None = None
    response_breached: bool | None = None
    resolution_breached: bool | None = None
    paused_minutes: int = 0

    def problems(self) -> list[tuple[str, str]]:
        """Broken invariants: satisfaction from 1 to 5, a fee that is not negative, a fee
        line only with an order."""
        found: list[tuple[str, str]] = []
        if self.satisfaction is not None and not 1 <= self.satisfaction <= 5:
            found.append(("satisfaction", "must be between 1 and 5"))
        if self.fee is not None and self.fee.is_negative():
            found.append(("fee", "must not be negative"))
        if self.fee_line is not None and (self.order_id is None or self.fee_line < 1):
            found.append(("fee_line", "names a line (1 = first) of the ticket's order_id"))
        return found

    @property
    def open(self) -> bool:
        """Whether the ticket still needs work (not resolved or closed)."""
        return self.status not in DONE_STATUSES

    def allowed_moves(self) -> tuple[TicketStatus, ...]:
        """The statuses this ticket may move to now (reopening subject to the window)."""
        return NEXT_STATUSES[TicketStatus(self.status)]

    def move_to(self, target: TicketStatus, *, at: dt.datetime, by: uuid.UUID) -> TicketMove:
        """Change the status to ``target`` if the workflow allows it; the move to keep.

        Raises :class:`pycrm.RuleViolation` (rule ``ticket.workflow``) naming the allowed
        moves otherwise. Reopen windows and deadlines are the service's to check.
        """
        source = TicketStatus(self.status)
        allowed = self.allowed_moves()
        if target not in allowed:
            names = ", ".join(s.value for s in allowed)
            raise RuleViolation(
                f"a {source.value} ticket cannot move to {target.value}; it may move to: {names}",
                rule="ticket.workflow",
                params={"from": source.value, "to": target.value, "allowed": names},
            )
        self.status = target
        return TicketMove(
            id=new_id(),
            tenant=self.tenant,
            ticket_id=self.id,
            from_status=source.value,
            to_status=target.value,
            moved_by=by,
            assignee_id=self.assignee_id,
            at=at,
        )


@define(kw_only=True)
class TicketMove:
    """One move of a ticket from a status to another (``from_status`` None: opened), who
    made it (``moved_by``) and who had the ticket then (``assignee_id``). Stored like
    records (kind ``"ticket_move"``), only ever added; ``note`` is what the agent wrote
    with the move (a resolution, a reason)."""

    kind: ClassVar[str] = "ticket_move"

    id: uuid.UUID
    tenant: str
    ticket_id: uuid.UUID
    from_status: str | None
    to_status: str
    moved_by: uuid.UUID
    assignee_id: uuid.UUID | None
    at: dt.datetime
    note: str | None = None
