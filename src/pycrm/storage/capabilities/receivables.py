"""The receivables capability: open installments and money summed per day or per aging
bucket, for due lists, dunning and the receivables reports.
:class:`ComputedReceivablesQueries` is its fallback on the record store.

Which records count follows the scope: installments and collected payments belong to
their payment plan (the scope's ``"payment_plan"`` condition), sales to their order
(``"order"``), payments also to ``"payment"``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Literal, Protocol

from attrs import frozen

from pycrm.core.orders import Order, OrderStatus
from pycrm.core.org import User
from pycrm.core.payments import Installment, Payment, PaymentPlan
from pycrm.storage.base import Filter, Op, Query, Scope, Transaction
from pycrm.storage.capabilities import capability, each

__all__ = [
    "AGING_BUCKETS",
    "AgingSum",
    "ComputedReceivablesQueries",
    "DatedSum",
    "OpenInstallment",
    "ReceivablesQueries",
    "aging_bucket",
    "receivables_queries",
]

#: The most days overdue of aging buckets 0 to 3: current (not yet overdue), 1–30, 31–60,
#: 61–90; bucket 4 holds everything more than 90 days overdue.
AGING_BUCKETS: tuple[int, ...] = (0, 30, 60, 90)


def aging_bucket(due_on: dt.date, on: dt.date) -> int:
    """The bucket of an installment due ``due_on`` seen on ``on`` (0 = not yet overdue)."""
    late = (on - due_on).days
    return next((i for i, most in enumerate(AGING_BUCKETS) if late <= most), 4)


@frozen(kw_only=True)
class OpenInstallment:
    """An installment with money still to collect (``paid_minor < amount_minor``).

    ``department_id`` is the department of the installment's owner (None without one).
    """

    installment_id: uuid.UUID
    plan_id: uuid.UUID
    order_id: uuid.UUID | None
    customer_id: uuid.UUID | None
    owner_id: uuid.UUID | None
    department_id: uuid.UUID | None
    due_on: dt.date
    amount_minor: int
    paid_minor: int
    currency: str


@frozen(kw_only=True)
class DatedSum:
    """Minor units of one currency summed per day, owner and the owner's department."""

    day: dt.date
    owner_id: uuid.UUID | None
    department_id: uuid.UUID | None
    currency: str
    minor: int


@frozen(kw_only=True)
class AgingSum:
    """Outstanding minor units of one currency per key (customer or owner) and bucket."""

    key: uuid.UUID | None
    bucket: int
    currency: str
    minor: int


class ReceivablesQueries(Protocol):
    """Aggregates of due lists and receivables reports (an optional capability)."""

    def open_installments(
        self, scope: Scope, *, due_from: dt.date | None, due_to: dt.date | None
    ) -> list[OpenInstallment]:
        """Installments of undeleted plans in the scope with ``paid < amount``, due between
        ``due_from`` and ``due_to`` (inclusive, None = open-ended), by due date, then
        installment id."""
        ...

    def sales_by_day(self, scope: Scope, start: dt.date, end: dt.date) -> list[DatedSum]:
        """Totals of undeleted confirmed or completed orders by ``confirmed_on`` day
        (``start`` to ``end`` inclusive), currency, owner and owner's department."""
        ...

    def collected_by_day(self, scope: Scope, start: dt.date, end: dt.date) -> list[DatedSum]:
        """Undeleted payments of undeleted plans by ``received_on`` day, currency, the plan's
        owner and that owner's department."""
        ...

    def outstanding_by_day(self, scope: Scope, start: dt.date, end: dt.date) -> list[DatedSum]:
        """``amount - paid`` of installments of undeleted plans by due day, currency, owner
        and owner's department (fully paid installments add nothing)."""
        ...

    def aging_sums(
        self, scope: Scope, on: dt.date, by: Literal["customer", "owner"]
    ) -> list[AgingSum]:
        """``amount - paid`` of unpaid installments of undeleted plans summed per customer
        (or owner), :func:`aging_bucket` as seen ``on`` that day, and currency."""
        ...


def receivables_queries(tx: Transaction) -> ReceivablesQueries:
    """The transaction's own receivables queries, or :class:`ComputedReceivablesQueries`."""
    return capability(tx, ReceivablesQueries, ComputedReceivablesQueries)


def _left(part: Installment) -> int:
    assert part.paid is not None
    return part.amount.minor_units - part.paid.minor_units


class ComputedReceivablesQueries:
    """:class:`ReceivablesQueries` computed in Python from the record store (the fallback):
    correct on any adapter; it reads every plan (or order, or payment) of the scope."""

    def __init__(self, tx: Transaction) -> None:
        self._tx = tx
        self._departments: dict[uuid.UUID | None, uuid.UUID | None] = {None: None}

    def _department(self, scope: Scope, owner: uuid.UUID | None) -> uuid.UUID | None:
        if owner not in self._departments:
            user = self._tx.get(User, Scope(scope.tenant), owner)  # type: ignore[arg-type]
            self._departments[owner] = user.department_id if user is not None else None
        return self._departments[owner]

    def _parts(self, scope: Scope) -> Iterator[tuple[PaymentPlan, Installment]]:
        for plan in each(self._tx, PaymentPlan, scope):
            for part in plan.installments:
                yield plan, part

    def open_installments(
        self, scope: Scope, *, due_from: dt.date | None, due_to: dt.date | None
    ) -> list[OpenInstallment]:
        """Computed from the payment plans: :meth:`ReceivablesQueries.open_installments`."""
        found = []
        for plan, part in self._parts(scope):
            if _left(part) <= 0:
                continue
            if (due_from and part.due_on < due_from) or (due_to and part.due_on > due_to):
                continue
            assert part.paid is not None
            found.append(
                OpenInstallment(
                    installment_id=part.id,
                    plan_id=plan.id,
                    order_id=part.order_id,
                    customer_id=part.customer_id,
                    owner_id=part.owner_id,
                    department_id=self._department(scope, part.owner_id),
                    due_on=part.due_on,
                    amount_minor=part.amount.minor_units,
                    paid_minor=part.paid.minor_units,
                    currency=part.amount.currency,
                )
            )
        found.sort(key=lambda r: (r.due_on, r.installment_id))
        return found

    def _summed(
        self, scope: Scope, items: Iterable[tuple[dt.date, uuid.UUID | None, str, int]]
    ) -> list[DatedSum]:
        sums: dict[tuple[dt.date, uuid.UUID | None, str], int] = defaultdict(int)
        for day, owner, currency, minor in items:
            sums[(day, owner, currency)] += minor
        return [
            DatedSum(
                day=day,
                owner_id=owner,
                department_id=self._department(scope, owner),
                currency=currency,
                minor=minor,
            )
            for (day, owner, currency), minor in sums.items()
        ]

    def sales_by_day(self, scope: Scope, start: dt.date, end: dt.date) -> list[DatedSum]:
        """Computed from the orders: :meth:`ReceivablesQueries.sales_by_day`."""
        sold = Query(
            filters=(
                Filter("status", Op.IN, (OrderStatus.CONFIRMED, OrderStatus.COMPLETED)),
                Filter("confirmed_on", Op.GTE, start),
                Filter("confirmed_on", Op.LTE, end),
            )
        )
        items = (
            (order.confirmed_on, order.owner_id, order.total.currency, order.total.minor_units)
            for order in each(self._tx, Order, scope, sold)
            if order.total is not None and order.confirmed_on is not None
        )
        return self._summed(scope, items)

    def collected_by_day(self, scope: Scope, start: dt.date, end: dt.date) -> list[DatedSum]:
        """Computed from the payments: :meth:`ReceivablesQueries.collected_by_day`."""
        owners = {plan.id: plan.owner_id for plan in each(self._tx, PaymentPlan, scope)}
        received = Query(
            filters=(Filter("received_on", Op.GTE, start), Filter("received_on", Op.LTE, end))
        )
        items = (
            (p.received_on, owners[p.plan_id], p.amount.currency, p.amount.minor_units)
            for p in each(self._tx, Payment, scope, received)
            if p.plan_id in owners
        )
        return self._summed(scope, items)

    def outstanding_by_day(self, scope: Scope, start: dt.date, end: dt.date) -> list[DatedSum]:
        """Computed from the payment plans: :meth:`ReceivablesQueries.outstanding_by_day`."""
        items = (
            (part.due_on, part.owner_id, part.amount.currency, _left(part))
            for _, part in self._parts(scope)
            if start <= part.due_on <= end and _left(part) > 0
        )
        return self._summed(scope, items)

    def aging_sums(
        self, scope: Scope, on: dt.date, by: Literal["customer", "owner"]
    ) -> list[AgingSum]:
        """Computed from the payment plans: :meth:`ReceivablesQueries.aging_sums`."""
        sums: dict[tuple[uuid.UUID | None, int, str], int] = defaultdict(int)
        for _, part in self._parts(scope):
            if (left := _left(part)) > 0:
                key = part.customer_id if by == "customer" else part.owner_id
                sums[(key, aging_bucket(part.due_on, on), part.amount.currency)] += left
        return [
            AgingSum(key=key, bucket=bucket, currency=currency, minor=minor)
            for (key, bucket, currency), minor in sums.items()
        ]
