"""The audit trail: who changed which field of which record from what to what, when."""

import datetime as dt
import uuid
from enum import StrEnum
from typing import Any

from attrs import frozen

__all__ = ["Change", "ChangeAction", "FieldChange"]


class ChangeAction(StrEnum):
    """What a write did to a record."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    RESTORE = "restore"


@frozen
class FieldChange:
    """One field's old and new value, as JSON-ready data."""

    field: str
    old: Any
    new: Any


@frozen(kw_only=True)
class Change:
    """One write to one record; ``fields`` lists each field it changed."""

    id: uuid.UUID
    tenant: str
    entity: str
    record_id: uuid.UUID
    action: ChangeAction
    user_id: uuid.UUID
    at: dt.datetime
    version: int
    fields: tuple[FieldChange, ...] = ()
