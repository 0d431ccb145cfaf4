"""The transactional outbox: events are stored in the transaction of the change they report
and handed to the handlers after it commits, at least once.

A unit of work that commits with events writes them as :class:`OutboxEntry` records in its
own transaction, so a commit never loses them; right after the commit it hands them to the
``pycrm_on_event`` handlers and marks them delivered. If the process dies in between, the
entries stay pending and :func:`deliver_pending` (``crm.deliver_pending_events``, or
``pycrm events deliver`` from cron) hands them over later. Every event carries the id of
its entry (``event.id``): a handler that may see an event twice ignores the repeat by it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs

from pycrm.core.events import EVENT_TYPES, Event, OutboxEntry
from pycrm.core.ids import new_ids
from pycrm.errors import ConflictError
from pycrm.storage.base import Filter, Op, Query, Scope, Transaction
from pycrm.storage.documents import from_document, to_document

if TYPE_CHECKING:
    from pycrm.crm import CRM

__all__ = ["deliver", "deliver_pending", "record"]

#: Entries younger than this are left to the process that wrote them.
GRACE = dt.timedelta(seconds=60)
#: A claim older than this is taken to be a delivery run that died.
LEASE = dt.timedelta(minutes=5)
#: Entries delivered per transaction by a pending-delivery run.
BATCH = 200


def record(tx: Transaction, events: Sequence[Event], now: dt.datetime) -> list[Event]:
    """Write ``events`` into ``tx`` (before it commits); returns them with their ids."""
    stamped = [attrs.evolve(e, id=i) for e, i in zip(events, new_ids(len(events)), strict=True)]
    tx.insert([_entry(event, now) for event in stamped])
    return stamped


def deliver(crm: CRM, events: Sequence[Event]) -> None:
    """Hand committed events to the handlers, then mark their entries delivered."""
    crm.dispatch(events)
    by_tenant: dict[str, list[Any]] = {}
    for event in events:
        by_tenant.setdefault(event.tenant, []).append(event.id)
    for tenant, ids in by_tenant.items():
        _mark(crm, tenant, ids)


def deliver_pending(crm: CRM, tenant: str) -> int:
    """Deliver the events of ``tenant`` that a process wrote but did not hand over (it died
    after its commit); returns how many were delivered. Safe to run from several
    processes at once: each entry is claimed by one run (a version-checked write)."""
    delivered = 0
    while entries := _claim(crm, tenant):
        events = [_event(entry) for entry in entries]
        crm.dispatch(events)
        _mark(crm, tenant, [e.id for e in entries])
        delivered += len(events)
    return delivered


# -- entries ---------------------------------------------------------------------------------
def _entry(event: Event, now: dt.datetime) -> OutboxEntry:
    assert event.id is not None
    document = {**to_document(event), "type": type(event).__name__}
    return OutboxEntry(id=event.id, tenant=event.tenant, event=document, created_at=now)


def _event(entry: OutboxEntry) -> Event:
    document = dict(entry.event)
    cls = EVENT_TYPES.get(document.pop("type", "Event"), Event)
    event = from_document(cls, document)
    # JSON has no tuples: changes come back as [old, new] lists.
    changes = {name: tuple(pair) for name, pair in event.changes.items()}
    return attrs.evolve(event, changes=changes)


def _claim(crm: CRM, tenant: str) -> list[OutboxEntry]:
    """Take up to :data:`BATCH` pending entries older than :data:`GRACE` whose claim (if
    any) is older than :data:`LEASE`; an entry another run took meanwhile is skipped."""
    now = crm.clock.now()
    pending = Query(
        filters=(
            Filter("delivered_at", Op.IS_NULL, True),
            Filter("created_at", Op.LTE, now - GRACE),
        ),
        order=(("created_at", False),),
        limit=BATCH,
    )
    claimed = []
    tx = crm.storage.begin()
    try:
        for entry in tx.find(OutboxEntry, Scope(tenant), pending):
            if entry.claimed_at is not None and entry.claimed_at > now - LEASE:
                continue
            taken = attrs.evolve(entry, claimed_at=now, version=entry.version + 1)
            try:
                with tx.savepoint():
                    tx.update(taken, entry.version)
            except ConflictError:
                continue  # another run took it
            claimed.append(taken)
        tx.commit()
    except BaseException:
        tx.rollback()
        raise
    return claimed


def _mark(crm: CRM, tenant: str, ids: Sequence[Any]) -> None:
    """Mark entries delivered, in a transaction of their own."""
    now = crm.clock.now()
    tx = crm.storage.begin()
    try:
        query = Query(ids=frozenset(ids), deleted=None, lock=True)
        for entry in tx.find(OutboxEntry, Scope(tenant), query):
            done = attrs.evolve(entry, delivered_at=now, version=entry.version + 1)
            tx.update(done, entry.version)
        tx.commit()
    except BaseException:
        tx.rollback()
        raise
