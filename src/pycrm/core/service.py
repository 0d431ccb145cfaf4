"""Service tickets (工单) and activities: calls, visits, emails and to-dos."""

import datetime as dt
import uuid
from enum import StrEnum
from typing import ClassVar

from attrs import define

from pycrm.core.money import Money
from pycrm.core.records import Record

__all__ = [
    "Activity",
    "ActivityKind",
    "Ticket",
    "TicketChannel",
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
    """A ticket's workflow: new → assigned → in progress → resolved → closed."""

    NEW = "new"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"


@define(eq=False, kw_only=True)
class Ticket(Record):
    """A customer's request for service. ``satisfaction`` is the follow-up score, 1 to 5."""

    kind: ClassVar[str] = "ticket"

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
    fee: Money | None = None

    def problems(self) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        if self.satisfaction is not None and not 1 <= self.satisfaction <= 5:
            found.append(("satisfaction", "must be between 1 and 5"))
        if self.fee is not None and self.fee.is_negative():
            found.append(("fee", "must not be negative"))
        return found


class ActivityKind(StrEnum):
    """What kind of activity: a to-do, call, visit, email or meeting."""

    TASK = "task"
    CALL = "call"
    VISIT = "visit"
    EMAIL = "email"
    MEETING = "meeting"


@define(eq=False, kw_only=True)
class Activity(Record):
    """Something done or to do, linked to the records it concerns; ``owner_id`` does it.

    A dunning to-do (催款) names the installment it chases and that installment's due
    date; there is never a second one for the same pair (a unique key in storage).
    """

    kind: ClassVar[str] = "activity"

    type: ActivityKind
    subject: str
    notes: str | None = None
    due_at: dt.datetime | None = None
    done: bool = False
    done_at: dt.datetime | None = None
    result: str | None = None
    customer_id: uuid.UUID | None = None
    contact_id: uuid.UUID | None = None
    opportunity_id: uuid.UUID | None = None
    order_id: uuid.UUID | None = None
    ticket_id: uuid.UUID | None = None
    dunning_installment_id: uuid.UUID | None = None
    dunning_due_on: dt.date | None = None

    def problems(self) -> list[tuple[str, str]]:
        if self.done_at is not None and not self.done:
            return [("done_at", "only a done activity has a done time")]
        return []
