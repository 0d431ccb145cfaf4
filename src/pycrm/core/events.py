"""Domain events: frozen, past-tense facts emitted after a unit of work commits.

Each kind of fact is a class of its own (``isinstance(event, OpportunityWon)``), and every
event keeps a ``name`` (``"opportunity.won"``) for handlers that match on strings. Entity
methods that change state return the event that says so; services emit it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, ClassVar

from attrs import define, field, frozen

__all__ = [
    "EVENT_TYPES",
    "AlertRaised",
    "ConfigurationChanged",
    "Event",
    "InstallmentOverdue",
    "InstallmentSettled",
    "OpportunityLost",
    "OpportunityMoved",
    "OpportunityReopened",
    "OpportunityTransition",
    "OpportunityWon",
    "OrderCancelled",
    "OrderCompleted",
    "OrderConfirmed",
    "OutboxEntry",
    "PaymentReceived",
    "PoolMoved",
    "RecordCreated",
    "RecordDeleted",
    "RecordRestored",
    "RecordUpdated",
    "RecordsMerged",
    "StatusChanged",
]


@frozen(kw_only=True)
class Event:
    """Something that happened to one record.

    ``name`` is ``"<kind>.<what>"``, e.g. ``"customer.created"``, ``"order.updated"``;
    ``changes`` maps each changed field to ``(old, new)`` as plain JSON-ready values;
    ``data`` holds the details of a domain event (``"payment.received"``) as JSON-ready
    values. ``id`` is set when the event is stored for delivery (handlers that may see an
    event twice use it to ignore the repeat). The events pycrm emits are listed in
    ``docs/reacting-to-events.md``.
    """

    name: str
    entity: str
    record_id: uuid.UUID
    tenant: str
    user_id: uuid.UUID
    at: dt.datetime
    changes: dict[str, tuple[Any, Any]] = field(factory=dict)
    data: dict[str, Any] = field(factory=dict)
    id: uuid.UUID | None = None


@frozen(kw_only=True)
class RecordCreated(Event):
    """``<kind>.created``: a record was created; ``changes`` has each field with a value."""


@frozen(kw_only=True)
class RecordUpdated(Event):
    """``<kind>.updated``: fields of a record changed."""


@frozen(kw_only=True)
class RecordDeleted(Event):
    """``<kind>.deleted``: a record was soft-deleted."""


@frozen(kw_only=True)
class RecordRestored(Event):
    """``<kind>.restored``: a soft-deleted record was brought back."""


@frozen(kw_only=True)
class StatusChanged(Event):
    """``<kind>.status_changed``: the ``status`` field changed (``data``: from, to)."""


@frozen(kw_only=True)
class OpportunityTransition(Event):
    """What every move of a deal carries: its pipeline, the stages (or ``"won"`` and
    ``"lost"``) it left and entered, and how long it stayed in the one it left."""

    entity: str = field(default="opportunity", init=False)
    pipeline: str
    from_stage: str
    to_stage: str
    dwell_ms: int


@frozen(kw_only=True)
class OpportunityMoved(OpportunityTransition):
    """``opportunity.stage_changed``: an open deal moved from one stage to another."""

    name: str = field(default="opportunity.stage_changed", init=False)


@frozen(kw_only=True)
class OpportunityWon(OpportunityTransition):
    """``opportunity.won``: a deal was closed as won (``to_stage`` is ``"won"``)."""

    name: str = field(default="opportunity.won", init=False)


@frozen(kw_only=True)
class OpportunityLost(OpportunityTransition):
    """``opportunity.lost``: a deal was closed as lost, for ``reason``."""

    name: str = field(default="opportunity.lost", init=False)
    reason: str


@frozen(kw_only=True)
class OpportunityReopened(OpportunityTransition):
    """``opportunity.reopened``: a won or lost deal was opened again (``from_stage`` is
    ``"won"`` or ``"lost"``)."""

    name: str = field(default="opportunity.reopened", init=False)


@frozen(kw_only=True)
class OrderConfirmed(Event):
    """``order.confirmed``: draft → confirmed, on ``on``."""

    name: str = field(default="order.confirmed", init=False)
    entity: str = field(default="order", init=False)
    on: dt.date


@frozen(kw_only=True)
class OrderCompleted(Event):
    """``order.completed``: confirmed → completed, on ``on``."""

    name: str = field(default="order.completed", init=False)
    entity: str = field(default="order", init=False)
    on: dt.date


@frozen(kw_only=True)
class OrderCancelled(Event):
    """``order.cancelled``: draft or confirmed → cancelled, on ``on``."""

    name: str = field(default="order.cancelled", init=False)
    entity: str = field(default="order", init=False)
    on: dt.date
    reason: str | None = None


@frozen(kw_only=True)
class PaymentReceived(Event):
    """``payment.received``: money came in against an installment (``data``: plan_id,
    installment_id, amount, received_on)."""

    name: str = field(default="payment.received", init=False)
    entity: str = field(default="payment", init=False)


@frozen(kw_only=True)
class InstallmentSettled(Event):
    """``installment.settled``: a payment completed an installment (``entity`` is
    ``payment_plan``; ``data``: installment_id, amount)."""

    name: str = field(default="installment.settled", init=False)
    entity: str = field(default="payment_plan", init=False)


@frozen(kw_only=True)
class InstallmentOverdue(Event):
    """``installment.overdue``: dunning found an installment past its due date."""

    name: str = field(default="installment.overdue", init=False)
    entity: str = field(default="installment", init=False)


@frozen(kw_only=True)
class ConfigurationChanged(Event):
    """``configuration.changed``: a tenant changed its configuration (``data``: section,
    key, and the value before and after; ``entity`` is ``config_entry`` or
    ``exchange_rate``). Units of work that start after the commit use the new one."""

    name: str = field(default="configuration.changed", init=False)


@frozen(kw_only=True)
class PoolMoved(Event):
    """A customer moved in or out of a public pool: ``pool.claimed``, ``pool.released``,
    ``pool.assigned``, ``pool.recycled``, or ``pool.reminder`` (it will be recycled on
    ``data["due_on"]``, ISO text, unless followed up). ``data``: pool, owner_id (the
    rep who got, lost or is reminded of it, as text), reason."""

    entity: str = field(default="customer", init=False)


@frozen(kw_only=True)
class AlertRaised(Event):
    """The sweep raised an alert (:class:`pycrm.Alert`); ``name`` is its rule:
    ``activity.reminder``, ``ticket.sla_warning``, ``ticket.sla_breached``,
    ``ticket.escalated``, ``contact.birthday``, ``care_day``, ``opportunity.stale``,
    ``customer.churn``, or a plugin's. ``entity``/``record_id`` are the record it is
    about; ``data``: occasion, recipient (the user it is for, as text), task (the to-do it
    created, as text, or None) and the rule's details."""


@frozen(kw_only=True)
class RecordsMerged(Event):
    """``<kind>.merged``: likely duplicates were merged into ``record_id`` (``data``:
    merged, the ids of the records merged into it, as text; moved, how many records of
    each kind now point at it)."""


#: Every event class by its class name (how stored events are read back).
EVENT_TYPES: dict[str, type[Event]] = {
    cls.__name__: cls
    for cls in (
        Event,
        RecordCreated,
        RecordUpdated,
        RecordDeleted,
        RecordRestored,
        StatusChanged,
        OpportunityTransition,
        OpportunityMoved,
        OpportunityWon,
        OpportunityLost,
        OpportunityReopened,
        OrderConfirmed,
        OrderCompleted,
        OrderCancelled,
        PaymentReceived,
        InstallmentSettled,
        InstallmentOverdue,
        ConfigurationChanged,
        PoolMoved,
        AlertRaised,
        RecordsMerged,
    )
}


@define(kw_only=True)
class OutboxEntry:
    """An event written in the same transaction as the change it reports, until every
    handler has had it (the transactional outbox).

    ``event`` is the event as a JSON document (its class under ``"type"``). ``claimed_at``
    marks an entry a delivery run has taken (another run takes it again once the claim is
    old); ``delivered_at`` is set once every handler was called.
    """

    kind: ClassVar[str] = "outbox_entry"

    id: uuid.UUID
    tenant: str
    event: dict[str, Any]
    created_at: dt.datetime
    claimed_at: dt.datetime | None = None
    delivered_at: dt.datetime | None = None
    version: int = 1
