"""Activities (行动/待办): calls, visits, emails, meetings and to-dos about any record."""

import datetime as dt
import uuid
from enum import StrEnum
from typing import ClassVar

from attrs import define

from pycrm.core.records import Record

__all__ = ["Activity", "ActivityKind"]


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

    ``remind_at`` is when the sweep reminds the owner of it (once, unless it is moved). A
    task created for someone else names who assigned it in ``assigned_by`` (a manager, or
    :data:`pycrm.SYSTEM_USER` for the sweep's to-dos): its ``result`` is the report back
    when it is done.

    A dunning to-do (催款) names the installment it chases and that installment's due
    date; there is never a second one for the same pair (a unique key in storage).
    """

    kind: ClassVar[str] = "activity"
    system_fields: ClassVar[frozenset[str]] = Record.system_fields | {"assigned_by"}

    type: ActivityKind
    subject: str
    notes: str | None = None
    due_at: dt.datetime | None = None
    remind_at: dt.datetime | None = None
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
    assigned_by: uuid.UUID | None = None

    def derive(self) -> None:
        """An activity marked not done again has no done time."""
        if not self.done:
            self.done_at = None

    def problems(self) -> list[tuple[str, str]]:
        """Broken invariants: only a done activity has a done time."""
        if self.done_at is not None and not self.done:
            return [("done_at", "only a done activity has a done time")]
        return []
