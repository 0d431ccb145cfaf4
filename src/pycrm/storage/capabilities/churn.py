"""The churn capability: which customers the churn rules flag, found in the database.

:meth:`ChurnQueries.churn_candidates` answers with the customers (live, owned, active or
normal, not churned, not under a warning — a postponed one only once its date has passed)
for which a rule of :class:`pycrm.core.lifecycle.ChurnRules` holds at ``now``, with the
rules that hold. The SQL backend asks with ``NOT EXISTS`` and counted subqueries on the
indexed ``customer_id`` columns; :class:`RecordStoreChurn` asks the record store, a
customer at a time.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Protocol

from attrs import frozen

from pycrm.core.activities import Activity
from pycrm.core.customers import Customer, CustomerStatus
from pycrm.core.lifecycle import ChurnReason, ChurnRules
from pycrm.core.orders import Order, OrderStatus
from pycrm.storage.base import AnyOf, Filter, Op, Query, Scope, Transaction
from pycrm.storage.capabilities import capability, each

__all__ = ["ChurnCheck", "ChurnQueries", "RecordStoreChurn", "churn_queries"]

#: Order states that count as orders (a cancelled one does not).
COUNTED = (OrderStatus.DRAFT.value, OrderStatus.CONFIRMED.value, OrderStatus.COMPLETED.value)
#: Customer states the rules look at.
WATCHED = (CustomerStatus.ACTIVE.value, CustomerStatus.NORMAL.value)


@frozen(kw_only=True)
class ChurnCheck:
    """One run of the rules: at ``now``, on ``today`` (the tenant's date)."""

    rules: ChurnRules
    now: dt.datetime
    today: dt.date

    def cutoff(self, days: int) -> dt.datetime:
        """The moment ``days`` days before ``now``."""
        return self.now - dt.timedelta(days=days)


class ChurnQueries(Protocol):
    """A transaction that finds the customers the churn rules flag."""

    def churn_candidates(
        self, tenant: str, check: ChurnCheck
    ) -> list[tuple[uuid.UUID, uuid.UUID | None, list[str]]]:
        """``(customer id, owner id, reasons)`` of each flagged customer of the tenant,
        by id."""
        ...


def watched(check: ChurnCheck) -> tuple[Filter | AnyOf, ...]:
    """The customers the rules look at: live, owned, worked on, not already warned."""
    fresh = AnyOf(
        (
            Filter("churn_state", Op.IS_NULL, True),
            Filter("churn_until", Op.LT, check.today),
        )
    )
    # A warned or confirmed customer has no date; a postponed one is due again after it.
    return (Filter("owner_id", Op.IS_NULL, False), Filter("status", Op.IN, WATCHED), fresh)


class RecordStoreChurn:
    """:class:`ChurnQueries` through the record store: each watched customer's orders
    and activities are counted with the store's own queries."""

    def __init__(self, tx: Transaction) -> None:
        self.tx = tx

    def churn_candidates(
        self, tenant: str, check: ChurnCheck
    ) -> list[tuple[uuid.UUID, uuid.UUID | None, list[str]]]:
        """Computed a customer at a time: :meth:`ChurnQueries.churn_candidates`."""
        found = []
        query = Query(filters=watched(check))
        every = Scope(tenant, {})
        for customer in each(self.tx, Customer, every, query):
            reasons = self._reasons(every, customer, check)
            if reasons:
                found.append((customer.id, customer.owner_id, reasons))
        return found

    def _reasons(self, scope: Scope, customer: Customer, check: ChurnCheck) -> list[str]:
        """The rules that hold for one customer (counted over ``scope``: all records)."""
        rules, reasons = check.rules, []
        mine = Filter("customer_id", Op.EQ, customer.id)
        if (days := rules.no_order_days) and customer.created_at <= check.cutoff(days):
            since = Filter("created_at", Op.GTE, check.cutoff(days))
            orders = Query(filters=(mine, since, Filter("status", Op.IN, COUNTED)))
            if not self.tx.count(Order, scope, orders):
                reasons.append(ChurnReason.NO_ORDER)
        if (days := rules.no_contact_days) and customer.created_at <= check.cutoff(days):
            since = Filter("created_at", Op.GTE, check.cutoff(days))
            if not self.tx.count(Activity, scope, Query(filters=(mine, since))):
                reasons.append(ChurnReason.NO_CONTACT)
        old_enough = customer.created_at <= check.cutoff(2 * rules.period_days)
        if (percent := rules.falling_percent) is not None and old_enough:
            last, before = _periods(check)
            counted = Filter("status", Op.IN, COUNTED)
            now_count = self.tx.count(Order, scope, Query(filters=(mine, counted, *last)))
            then_count = self.tx.count(Order, scope, Query(filters=(mine, counted, *before)))
            if then_count and now_count * 100 <= then_count * (100 - percent):
                reasons.append(ChurnReason.FALLING_ORDERS)
        return reasons


def _periods(check: ChurnCheck) -> tuple[tuple[Filter, Filter], tuple[Filter, Filter]]:
    """The last period and the one before, as filters on ``created_at``."""
    days = check.rules.period_days
    start = check.cutoff(days)
    earlier = check.cutoff(2 * days)
    return (
        (Filter("created_at", Op.GTE, start), Filter("created_at", Op.LT, check.now)),
        (Filter("created_at", Op.GTE, earlier), Filter("created_at", Op.LT, start)),
    )


def churn_queries(tx: Transaction) -> ChurnQueries:
    """``tx`` itself when it finds churn candidates in the database, else the fallback."""
    return capability(tx, ChurnQueries, RecordStoreChurn)
