"""Customer value: who brings the revenue (Pareto / ABC), who is rising or falling, and how
many new customers each rep brought in.

Revenue is the total of a customer's confirmed and completed orders signed in the period
(confirmed in it, for an order without a signing date),
summed in the database per customer and currency and converted to the reporting currency
at the rate of the period's last day. ABC: customers by revenue, largest first; class A
until their cumulative share reaches ``a`` (80% by default), B until ``b`` (95%), C the
rest, so "20% of the customers bring 80% of the revenue" reads off the A rows.
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from collections import defaultdict
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict

from pycrm.core.customers import Customer
from pycrm.core.money import Money
from pycrm.core.orders import Order, OrderStatus
from pycrm.errors import ValidationError
from pycrm.schemas import MoneyValue, checked_call
from pycrm.services.lookups import names
from pycrm.storage.base import AllOf, AnyOf, Filter, Op, Query

if TYPE_CHECKING:
    from pycrm.services.unit_of_work import Step, UnitOfWork

__all__ = [
    "CustomerReports",
    "CustomerTrend",
    "CustomerValue",
    "CustomerValueRow",
    "NewCustomers",
]

#: Orders that count as revenue.
BOOKED = (OrderStatus.CONFIRMED.value, OrderStatus.COMPLETED.value)


class CustomerValueRow(BaseModel):
    """One customer's revenue in the period, its share and class."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    customer_id: uuid.UUID
    name: str
    revenue: MoneyValue
    share: Decimal
    cumulative: Decimal
    abc: Literal["A", "B", "C"]


class CustomerValue(BaseModel):
    """Every customer with revenue in ``start``–``end`` (inclusive), largest first."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    start: dt.date
    end: dt.date
    currency: str
    total: MoneyValue
    rows: list[CustomerValueRow]

    def share_of_customers(self, abc: str = "A") -> Decimal:
        """The share of the customers in class ``abc`` (0 to 1)."""
        if not self.rows:
            return Decimal(0)
        return Decimal(sum(1 for r in self.rows if r.abc == abc)) / len(self.rows)


class CustomerTrend(BaseModel):
    """A customer's revenue in the period and in the period before it."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    customer_id: uuid.UUID
    name: str
    revenue: MoneyValue
    before: MoneyValue
    change: MoneyValue


class NewCustomers(BaseModel):
    """How many customers each rep brought in, per month of the period."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    start: dt.date
    end: dt.date
    #: ``{owner id or None: {"2026-03": count}}``.
    counts: dict[uuid.UUID | None, dict[str, int]]


class CustomerReports:
    """``uow.reports.customer_value``, ``customer_trends`` and ``new_customers``."""

    _step: Step

    @checked_call
    def customer_value(
        self,
        *,
        start: dt.date,
        end: dt.date,
        a: Decimal = Decimal("0.8"),
        b: Decimal = Decimal("0.95"),
    ) -> CustomerValue:
        """Pareto / ABC: each customer's revenue from ``start`` to ``end`` (orders signed
        then), its share and cumulative share, and its class (A up to ``a``, B up to
        ``b``, C after)."""
        _check_period(start, end)
        if not Decimal(0) < a <= b <= Decimal(1):
            raise ValidationError.single("a", "give 0 < a <= b <= 1")
        with self._step(read_only=True) as uow:
            revenue = _revenue(uow, start, end)
            currency = uow.config.reporting_currency
            named = names(uow, Customer, revenue)
        total = sum(revenue.values(), Money.zero(currency))
        rows, running = [], Money.zero(currency)
        for customer, money in sorted(revenue.items(), key=lambda kv: (-kv[1].amount, str(kv[0]))):
            share = money.amount / total.amount if total.amount else Decimal(0)
            previous = running.amount / total.amount if total.amount else Decimal(0)
            running = running + money
            cumulative = running.amount / total.amount if total.amount else Decimal(0)
            abc: Literal["A", "B", "C"] = "A" if previous < a else "B" if previous < b else "C"
            rows.append(
                CustomerValueRow(
                    customer_id=customer,
                    name=named.get(customer, ""),
                    revenue=money,
                    share=round(share, 4),
                    cumulative=round(cumulative, 4),
                    abc=abc,
                )
            )
        return CustomerValue(start=start, end=end, currency=currency, total=total, rows=rows)

    @checked_call
    def customer_trends(
        self, *, start: dt.date, end: dt.date, limit: int = 20
    ) -> dict[str, list[CustomerTrend]]:
        """Rising and falling customers: revenue from ``start`` to ``end`` against the
        period of the same length just before; the ``limit`` largest rises and falls
        (``{"rising": [...], "falling": [...]}``)."""
        _check_period(start, end)
        if isinstance(limit, bool) or not 1 <= limit <= 1000:
            raise ValidationError.single("limit", "must be between 1 and 1,000")
        days = (end - start).days + 1
        try:
            earlier = (start - dt.timedelta(days=days), start - dt.timedelta(days=1))
        except OverflowError:
            raise ValidationError.single("start", "no period before it to compare with") from None
        with self._step(read_only=True) as uow:
            now = _revenue(uow, start, end)
            before = _revenue(uow, *earlier)
            currency = uow.config.reporting_currency
            named = names(uow, Customer, {*now, *before})
        zero = Money.zero(currency)
        trends = [
            CustomerTrend(
                customer_id=c,
                name=named.get(c, ""),
                revenue=now.get(c, zero),
                before=before.get(c, zero),
                change=now.get(c, zero) - before.get(c, zero),
            )
            for c in {*now, *before}
        ]
        trends.sort(key=lambda t: (t.change.amount, str(t.customer_id)))
        rising = [t for t in reversed(trends) if t.change.amount > 0][:limit]
        falling = [t for t in trends if t.change.amount < 0][:limit]
        return {"rising": rising, "falling": falling}

    @checked_call
    def new_customers(self, *, start: dt.date, end: dt.date) -> NewCustomers:
        """How many customers created per month from ``start`` to ``end`` (months in the
        tenant's time zone) each rep owns now, counted in the database (one grouped count
        per month); customers back in a public pool count under None."""
        _check_period(start, end)
        counts: dict[uuid.UUID | None, dict[str, int]] = defaultdict(dict)
        with self._step(read_only=True) as uow:
            zone = zoneinfo.ZoneInfo(uow.config.time_zone)
            for month, first, last in _months(start, end):
                filters: tuple[Filter, ...] = (
                    Filter("created_at", Op.GTE, _midnight(first, zone)),
                )
                if last < dt.date.max:
                    after = _midnight(last + dt.timedelta(days=1), zone)
                    filters += (Filter("created_at", Op.LT, after),)
                for g in uow.tx.group(Customer, uow.scope, Query(filters=filters), ("owner_id",)):
                    counts[g.key[0]][month] = g.count
        return NewCustomers(start=start, end=end, counts=dict(counts))


#: The longest period a report compares or splits by month: a hundred years.
MAX_DAYS = 36_525


def _check_period(start: dt.date, end: dt.date) -> None:
    if end < start:
        raise ValidationError.single("end", "must be on or after start")
    if (end - start).days > MAX_DAYS:
        raise ValidationError.single("end", "give a period of at most a hundred years")


def _midnight(day: dt.date, zone: dt.tzinfo) -> dt.datetime:
    """The start of ``day`` in the tenant's time zone."""
    return dt.datetime.combine(day, dt.time(), tzinfo=zone).astimezone(dt.UTC)


def _months(start: dt.date, end: dt.date) -> list[tuple[str, dt.date, dt.date]]:
    found, first = [], start
    while first <= end:
        if first.year == 9999 and first.month == 12:
            found.append((first.strftime("%Y-%m"), first, end))
            break
        following = (first.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
        last = min(end, following - dt.timedelta(days=1))
        found.append((first.strftime("%Y-%m"), first, last))
        first = following
    return found


def _revenue(uow: UnitOfWork, start: dt.date, end: dt.date) -> dict[uuid.UUID, Money]:
    """Booked order totals per customer signed from ``start`` to ``end``, in the
    reporting currency: summed per customer and currency in the database."""
    # Signed in the period; an order confirmed without a signing date counts by that.
    signed = AllOf((Filter("signed_on", Op.GTE, start), Filter("signed_on", Op.LTE, end)))
    confirmed = AllOf(
        (
            Filter("signed_on", Op.IS_NULL, True),
            Filter("confirmed_on", Op.GTE, start),
            Filter("confirmed_on", Op.LTE, end),
        )
    )
    filters = (Filter("status", Op.IN, BOOKED), AnyOf((signed, confirmed)))
    groups = uow.tx.group(Order, uow.scope, Query(filters=filters), ("customer_id",), "total")
    currency, rates = uow.config.reporting_currency, uow.config.exchange_rates
    found: dict[uuid.UUID, Money] = {}
    for g in groups:
        if g.currency is None or g.total is None or g.key[0] is None:
            continue
        money = Money.from_minor(g.total, g.currency).convert(currency, rates, end)
        found[g.key[0]] = found.get(g.key[0], Money.zero(currency)) + money
    return found
