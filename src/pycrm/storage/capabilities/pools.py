"""The pool-recycling capability: send every customer a pool's rules find due back to the
pool, in the database.

A :class:`RecyclePlan` says which customers one run looks at (owners in some departments,
not in others), what makes one due (:class:`DueRule`: no follow-up, deal or won deal since
a cutoff, by customer level) and what exempts it (open orders). A transaction with
:class:`PoolRecycling` moves the due customers in a few statements whatever their number
(the SQL backend: one ``INSERT … SELECT`` of the moves, one ``UPDATE`` of the customers);
any other gets :class:`RecordStoreRecycling`, which does the same through the record store,
a customer at a time. Both answer :meth:`PoolRecycling.due_customers` the same way, which
reminders use.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Sequence
from typing import Protocol

from attrs import evolve, frozen

from pycrm.core.activities import Activity
from pycrm.core.customers import Customer
from pycrm.core.ids import new_id
from pycrm.core.opportunities import Opportunity, OpportunityStatus
from pycrm.core.orders import Order, OrderStatus
from pycrm.core.org import Department, User
from pycrm.core.pools import PoolMove, PoolMoveAction, RecycleReason
from pycrm.storage.base import Filter, Op, Query, Scope, Transaction
from pycrm.storage.capabilities import capability, each

__all__ = [
    "DueRule",
    "PoolRecycling",
    "RecordStoreRecycling",
    "RecyclePlan",
    "pool_recycling",
]

#: Order states that keep a customer out of the pool.
OPEN_ORDERS = (OrderStatus.DRAFT.value, OrderStatus.CONFIRMED.value)


@frozen
class DueRule:
    """A customer is due when neither its owner got it nor ``reason`` happened after the
    cutoff of its level (``levels``; ``cutoff`` for the others; ``None``: never): a rule
    of 30 days is due 30 days to the minute after the last follow-up."""

    reason: RecycleReason
    cutoff: dt.datetime | None
    levels: tuple[tuple[str, dt.datetime | None], ...] = ()

    def cutoff_for(self, level: str | None) -> dt.datetime | None:
        """The cutoff for a customer of ``level`` (``None``: this rule never recycles it)."""
        return dict(self.levels).get(level or "", self.cutoff) if level else self.cutoff


@frozen(kw_only=True)
class RecyclePlan:
    """One pool's run: owned customers whose owner's department path starts with one of
    ``include`` (empty: any owner) and with none of ``exclude``, due by one of ``rules``,
    none exempt by an open order when ``exempt_open_orders`` nor hot at ``now`` when
    ``exempt_hot``; moved at ``now`` by ``actor``."""

    pool: str
    include: tuple[str, ...]
    exclude: tuple[str, ...]
    rules: tuple[DueRule, ...]
    exempt_open_orders: bool
    now: dt.datetime
    exempt_hot: bool = True
    actor: uuid.UUID

    def shifted(self, days: int) -> RecyclePlan:
        """The plan as it would run ``days`` days later (every cutoff moved on)."""
        step = dt.timedelta(days=days)

        def moved(at: dt.datetime | None) -> dt.datetime | None:
            return None if at is None else at + step

        rules = tuple(
            DueRule(r.reason, moved(r.cutoff), tuple((lv, moved(c)) for lv, c in r.levels))
            for r in self.rules
        )
        return evolve(self, rules=rules, now=self.now + step)


class PoolRecycling(Protocol):
    """A transaction that runs a recycle plan in the database."""

    def recycle_customers(self, tenant: str, plan: RecyclePlan) -> int:
        """Move every due customer into ``plan.pool`` (no owner, ``pool`` set, version
        raised, updated at ``plan.now`` by ``plan.actor``) and add one recycle
        :class:`PoolMove` per customer naming its former owner; how many moved."""
        ...

    def due_customers(
        self, tenant: str, plan: RecyclePlan, limit: int
    ) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """Up to ``limit`` due customers as ``(customer id, owner id)``, by id."""
        ...


class RecordStoreRecycling:
    """:class:`PoolRecycling` through the record store: the owned customers are read a
    page at a time and each is checked with counts of its activities, deals and orders."""

    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    def recycle_customers(self, tenant: str, plan: RecyclePlan) -> int:
        """Move the due customers one by one: each update checks its version."""
        moved = 0
        for customer in list(self._due(tenant, plan)):
            owner, expected = customer.owner_id, customer.version
            assert owner is not None
            customer.owner_id, customer.pool, customer.owned_since = None, plan.pool, plan.now
            customer.version += 1
            customer.updated_at, customer.updated_by = plan.now, plan.actor
            self._tx.update(customer, expected)
            self._tx.insert([_move(tenant, customer.id, owner, plan)])
            moved += 1
        return moved

    def due_customers(
        self, tenant: str, plan: RecyclePlan, limit: int
    ) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """The first ``limit`` due customers with their owners, by id."""
        found: list[tuple[uuid.UUID, uuid.UUID]] = []
        for customer in self._due(tenant, plan):
            assert customer.owner_id is not None
            found.append((customer.id, customer.owner_id))
            if len(found) >= limit:
                break
        return found

    def _due(self, tenant: str, plan: RecyclePlan) -> Iterator[Customer]:
        scope = Scope(tenant)
        owners = self._owners(scope, plan)
        query = Query(
            filters=(Filter("owner_id", Op.IS_NULL, False), Filter("pool", Op.IS_NULL, True)),
            order=(("id", False),),
        )
        for customer in each(self._tx, Customer, scope, query):
            if owners is not None and customer.owner_id not in owners:
                continue
            if plan.exempt_open_orders and self._count(scope, Order, customer.id, _open()):
                continue
            if plan.exempt_hot and customer.hot_until is not None and customer.hot_until > plan.now:
                continue
            start = customer.owned_since or customer.created_at
            if any(self._rule_due(scope, customer, start, rule) for rule in plan.rules):
                yield customer

    def _rule_due(
        self, scope: Scope, customer: Customer, start: dt.datetime, rule: DueRule
    ) -> bool:
        cutoff = rule.cutoff_for(customer.level)
        if cutoff is None or start > cutoff:
            return False
        since = Filter("created_at", Op.GT, cutoff)
        if rule.reason is RecycleReason.NO_FOLLOW_UP:
            return not self._count(scope, Activity, customer.id, (since,))
        if rule.reason is RecycleReason.NO_DEAL:
            return not self._count(scope, Opportunity, customer.id, (since,))
        won = (
            Filter("status", Op.EQ, OpportunityStatus.WON.value),
            Filter("closed_at", Op.GT, cutoff),
        )
        return not self._count(scope, Opportunity, customer.id, won)

    def _count(
        self, scope: Scope, kind: type[Activity | Opportunity | Order], customer: uuid.UUID,
        filters: Sequence[Filter],
    ) -> int:  # fmt: skip
        query = Query(filters=(Filter("customer_id", Op.EQ, customer), *filters))
        return self._tx.count(kind, scope, query)

    def _owners(self, scope: Scope, plan: RecyclePlan) -> frozenset[uuid.UUID] | None:
        if not plan.include and not plan.exclude:
            return None
        paths = {d.id: d.path or "" for d in each(self._tx, Department, scope)}
        found = set()
        for user in each(self._tx, User, scope, Query(deleted=None)):
            path = paths.get(user.department_id, "") if user.department_id else ""
            inside = not plan.include or any(path.startswith(p) for p in plan.include)
            if inside and not any(path.startswith(p) for p in plan.exclude):
                found.add(user.id)
        return frozenset(found)


def _open() -> tuple[Filter, ...]:
    return (Filter("status", Op.IN, OPEN_ORDERS),)


def _move(tenant: str, customer: uuid.UUID, owner: uuid.UUID, plan: RecyclePlan) -> PoolMove:
    return PoolMove(
        id=new_id(),
        tenant=tenant,
        customer_id=customer,
        pool=plan.pool,
        action=PoolMoveAction.RECYCLE,
        owner_id=owner,
        acted_by=plan.actor,
        at=plan.now,
    )


def pool_recycling(tx: Transaction) -> PoolRecycling:
    """``tx`` when it recycles in the database, else :class:`RecordStoreRecycling`."""
    found: PoolRecycling = capability(tx, PoolRecycling, RecordStoreRecycling)
    return found
