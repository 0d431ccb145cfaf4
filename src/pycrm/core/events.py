"""Domain events: frozen, past-tense facts emitted after a unit of work commits."""

import datetime as dt
import uuid
from typing import Any

from attrs import field, frozen

__all__ = ["Event"]


@frozen(kw_only=True)
class Event:
    """Something that happened to one record.

    ``name`` is ``"<kind>.<what>"``, e.g. ``"customer.created"``, ``"order.updated"``;
    ``changes`` maps each changed field to ``(old, new)`` as plain JSON-ready values.
    """

    name: str
    entity: str
    record_id: uuid.UUID
    tenant: str
    user_id: uuid.UUID
    at: dt.datetime
    changes: dict[str, tuple[Any, Any]] = field(factory=dict)
