"""Everything about one customer in one call: ``uow.customers.overview(id)``.

The customer, its contacts, open deals, recent orders, the money its payment plans still
have to collect, open tickets, recent activities and one timeline merging them (what was
done, deals moving, orders, tickets), read in a fixed number of queries whatever the
number of children: each list is one query with a limit, the deals' moves one more.
Only what the acting user may see is in it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from pycrm.core.activities import Activity
from pycrm.core.customers import Contact, Customer
from pycrm.core.money import Money
from pycrm.core.opportunities import Opportunity, OpportunityStatus
from pycrm.core.orders import Order
from pycrm.core.pipeline import StageTransition
from pycrm.core.tickets import DONE_STATUSES, Ticket, TicketStatus
from pycrm.storage.base import Filter, Op, Query
from pycrm.storage.capabilities.receivables import receivables_queries

if TYPE_CHECKING:
    from pycrm.services.unit_of_work import UnitOfWork

__all__ = ["CustomerOverview", "TimelineEntry", "overview"]

#: How many of each list the overview holds.
LIMIT = 100


class TimelineEntry(BaseModel):
    """One thing that happened around a customer: when, what kind of record, which, what."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    at: dt.datetime
    kind: str
    record_id: uuid.UUID
    summary: str


class CustomerOverview(BaseModel):
    """One customer with what hangs off it (each list at most :data:`LIMIT` long, newest
    first where it has a time) and a merged timeline, newest first."""

    model_config = ConfigDict(frozen=True, defer_build=True, arbitrary_types_allowed=True)

    customer: Customer
    contacts: list[Contact]
    open_deals: list[Opportunity]
    orders: list[Order]
    outstanding: list[Money]
    open_tickets: list[Ticket]
    activities: list[Activity]
    timeline: list[TimelineEntry]


def overview(uow: UnitOfWork, customer: Customer, recent: int) -> CustomerOverview:
    """The overview of a customer the caller has loaded (and may see)."""
    mine = Filter("customer_id", Op.EQ, customer.id)
    newest = (("created_at", True),)

    def find(kind: type[Any], *filters: Any, order: Any = newest, limit: int = LIMIT) -> Any:
        query = Query(filters=(mine, *filters), order=order, limit=limit)
        return uow.tx.find(kind, uow.scope, query)

    contacts = find(Contact, order=(("name", False),))
    open_deals = find(Opportunity, Filter("status", Op.EQ, OpportunityStatus.OPEN.value))
    deals = find(Opportunity, limit=recent)  # the latest, open or closed, for the timeline
    orders = find(Order, limit=recent)
    open_statuses = tuple(s.value for s in TicketStatus if s not in DONE_STATUSES)
    open_tickets = find(Ticket, Filter("status", Op.IN, open_statuses))
    tickets = find(Ticket, limit=recent)
    activities = find(Activity, limit=recent)
    moves = _moves(uow, [d.id for d in deals], recent)
    timeline = _timeline(activities, deals, moves, orders, tickets)[:recent]
    return CustomerOverview(
        customer=customer,
        contacts=contacts,
        open_deals=open_deals,
        orders=orders,
        outstanding=_outstanding(uow, customer.id),
        open_tickets=open_tickets,
        activities=activities,
        timeline=timeline,
    )


def _moves(uow: UnitOfWork, deals: list[uuid.UUID], recent: int) -> list[StageTransition]:
    if not deals:
        return []
    query = Query(
        filters=(Filter("opportunity_id", Op.IN, frozenset(deals)),),
        order=(("at", True),),
        limit=recent,
    )
    found: list[StageTransition] = uow.tx.find(StageTransition, uow.everything, query)
    return found


def _outstanding(uow: UnitOfWork, customer: uuid.UUID) -> list[Money]:
    """What the customer's plans still have to collect, per currency."""
    scope = uow.scope.narrowed("payment_plan", Filter("customer_id", Op.EQ, customer))
    left: dict[str, int] = {}
    for row in receivables_queries(uow.tx).open_installments(scope, due_from=None, due_to=None):
        left[row.currency] = left.get(row.currency, 0) + row.amount_minor - row.paid_minor
    return [Money.from_minor(minor, currency) for currency, minor in sorted(left.items())]


def _timeline(
    activities: list[Activity],
    deals: list[Opportunity],
    moves: list[StageTransition],
    orders: list[Order],
    tickets: list[Ticket],
) -> list[TimelineEntry]:
    names = {d.id: d.name for d in deals}
    entries = [
        TimelineEntry(
            at=a.done_at or a.created_at,
            kind="activity",
            record_id=a.id,
            summary=f"{a.type}: {a.subject}",
        )
        for a in activities
    ]
    entries += [
        TimelineEntry(
            at=m.at,
            kind="opportunity",
            record_id=m.opportunity_id,
            summary=f"{names.get(m.opportunity_id, '')}: {m.from_stage or 'new'} → {m.to_stage}",
        )
        for m in moves
    ]
    entries += [
        TimelineEntry(
            at=o.created_at,
            kind="order",
            record_id=o.id,
            summary=f"{o.number or ''} {o.status} {o.total or ''}".strip(),
        )
        for o in orders
    ]
    entries += [
        TimelineEntry(
            at=t.created_at, kind="ticket", record_id=t.id, summary=f"{t.status}: {t.subject}"
        )
        for t in tickets
    ]
    return sorted(entries, key=lambda e: (e.at, str(e.record_id)), reverse=True)
