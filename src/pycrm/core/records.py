"""What every stored record has: identity, tenant, owner, timestamps, version, soft delete.

Entities are attrs classes compared by identity (type and id), never by value. Each keeps
its own invariants in :meth:`Record.problems`; services call it before anything is written.
"""

import datetime as dt
import uuid
from typing import Any, ClassVar

from attrs import define, field

from pycrm.core.ids import new_id

__all__ = ["SYSTEM_USER", "Record"]

#: The acting user for set-up scripts and migrations that run on nobody's behalf.
SYSTEM_USER = uuid.UUID("00000000-0000-7000-8000-000000000000")

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@define(eq=False, kw_only=True)
class Record:
    """Base of every entity. ``custom`` holds company-specific custom field values."""

    #: Name used in errors, the audit trail and storage (``"customer"``).
    kind: ClassVar[str] = "record"
    #: Fields set by the system, never by input.
    system_fields: ClassVar[frozenset[str]] = frozenset(
        {
            "id",
            "tenant",
            "created_at",
            "updated_at",
            "created_by",
            "updated_by",
            "version",
            "deleted_at",
        }
    )

    id: uuid.UUID = field(factory=new_id)
    tenant: str
    owner_id: uuid.UUID | None = None
    created_at: dt.datetime = _EPOCH
    updated_at: dt.datetime = _EPOCH
    created_by: uuid.UUID | None = None
    updated_by: uuid.UUID | None = None
    version: int = 1
    deleted_at: dt.datetime | None = None
    custom: dict[str, Any] = field(factory=dict)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.id == self.id

    def __hash__(self) -> int:
        return hash((type(self), self.id))

    @property
    def deleted(self) -> bool:
        """Whether the record is soft-deleted (``deleted_at`` is set)."""
        return self.deleted_at is not None

    def problems(self) -> list[tuple[str, str]]:
        """Invariants this entity breaks, as ``(field, reason)``; empty when consistent."""
        return []

    def derive(self) -> None:
        """Recompute derived fields (an order's total) after fields were set."""

    def stamp(self, user: uuid.UUID, now: dt.datetime, *, created: bool = False) -> None:
        """Record who changed this record and when; a new record starts at version 1."""
        if created:
            self.created_at, self.created_by, self.version = now, user, 1
        else:
            self.version += 1
        self.updated_at, self.updated_by = now, user
