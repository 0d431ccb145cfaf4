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
    ``changes`` maps each changed field to ``(old, new)`` as plain JSON-ready values;
    ``data`` holds the details of a domain event (``"payment.received"``) as JSON-ready
    values. The events pycrm emits are listed in ``docs/reacting-to-events.md``.
    """

    name: str
    entity: str
    record_id: uuid.UUID
    tenant: str
    user_id: uuid.UUID
    at: dt.datetime
    changes: dict[str, tuple[Any, Any]] = field(factory=dict)
    data: dict[str, Any] = field(factory=dict)
