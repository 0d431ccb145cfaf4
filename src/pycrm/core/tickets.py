"""Service tickets (工单): a customer's request for service, its type, channel and priority."""

import datetime as dt
import uuid
from enum import StrEnum
from typing import ClassVar

from attrs import define

from pycrm.core.money import Money
from pycrm.core.records import Record

__all__ = ["Ticket", "TicketChannel", "TicketPriority", "TicketStatus", "TicketType"]


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
        """Broken invariants: satisfaction from 1 to 5, a fee that is not negative."""
        found: list[tuple[str, str]] = []
        if self.satisfaction is not None and not 1 <= self.satisfaction <= 5:
            found.append(("satisfaction", "must be between 1 and 5"))
        if self.fee is not None and self.fee.is_negative():
            found.append(("fee", "must not be negative"))
        return found
