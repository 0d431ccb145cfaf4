"""Receivables reports: sales, collected and outstanding amounts by period, department
and rep, and the receivables aging.

The storage's receivables capability sums money per day and currency (GROUP BY on SQL);
the few per-currency sums are converted here into the reporting currency, with the rate
of each transaction's date (``crm.exchange_rates.rate(base, quote, on)``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

from pycrm.core.customers import Customer
from pycrm.core.money import ExchangeRates, Money
from pycrm.core.org import User
from pycrm.errors import ValidationError
from pycrm.schemas import checked_call
from pycrm.services.lookups import names
from pycrm.services.reports.models import (
    AgingReport,
    AgingRow,
    AmountPeriod,
    AmountReport,
    AmountRow,
)
from pycrm.storage.capabilities.receivables import AGING_BUCKETS, DatedSum, receivables_queries

if TYPE_CHECKING:
    from pycrm.services.unit_of_work import Step

__all__ = ["ReceivablesReports"]

Period = AmountPeriod


class ReceivablesReports:
    """The receivables part of ``uow.reports``."""

    _step: Step

    @checked_call
    def sales(self, start: dt.date, end: dt.date, *, period: Period = "month") -> AmountReport:
        """Totals of confirmed (and completed) orders by the day they were confirmed."""
        return self._amounts("sales", start, end, period)

    @checked_call
    def collected(self, start: dt.date, end: dt.date, *, period: Period = "month") -> AmountReport:
        """Payments received, by the day they were received."""
        return self._amounts("collected", start, end, period)

    @checked_call
    def outstanding(
        self, start: dt.date, end: dt.date, *, period: Period = "month"
    ) -> AmountReport:
        """What is still to collect on installments due in the period, by due day."""
        return self._amounts("outstanding", start, end, period)

    @checked_call
    def aging(
        self, *, on: dt.date | None = None, by: Literal["customer", "owner"] = "customer"
    ) -> AgingReport:
        """Receivables aging on ``on`` (default today): current, 1–30, 31–60, 61–90 and
        more than 90 days overdue, per customer or per rep (``by="owner"``)."""
        if by not in ("customer", "owner"):
            raise ValidationError.single("by", f"{by!r} is not one of: customer, owner")
        with self._step(read_only=True) as uow:
            day = _aging_day(on or uow.today())
            sums = receivables_queries(uow.tx).aging_sums(uow.scope, day, by)
            currency = uow.config.reporting_currency
            rates = uow.config.exchange_rates
            cells: dict[uuid.UUID | None, list[Money]] = defaultdict(
                lambda: [Money.zero(currency)] * 5
            )
            for s in sums:
                money = Money.from_minor(s.minor, s.currency).convert(currency, rates, day)
                cells[s.key][s.bucket] = cells[s.key][s.bucket] + money
            found = names(uow, Customer if by == "customer" else User, cells)
        rows = [_aging_row(key, found.get(key), buckets) for key, buckets in cells.items()]
        rows.sort(key=lambda r: (r.name is None, r.name or "", str(r.key or "")))
        totals = [Money.total((r.buckets[i] for r in rows), currency) for i in range(5)]
        return AgingReport(
            on=day, by=by, currency=currency, rows=rows, totals=_aging_row(None, None, totals)
        )

    def _amounts(
        self,
        kind: Literal["sales", "collected", "outstanding"],
        start: dt.date,
        end: dt.date,
        period: Period,
    ) -> AmountReport:
        if end < start:
            raise ValidationError.single("end", "must not be before start")
        if period not in ("month", "quarter", "year"):
            raise ValidationError.single(
                "period", f"{period!r} is not one of: month, quarter, year"
            )
        with self._step(read_only=True) as uow:
            queries = receivables_queries(uow.tx)
            ask = {
                "sales": queries.sales_by_day,
                "collected": queries.collected_by_day,
                "outstanding": queries.outstanding_by_day,
            }[kind]
            sums = ask(uow.scope, start, end)
            currency = uow.config.reporting_currency
            rows = _amount_rows(sums, currency, uow.config.exchange_rates, period)
        total = Money.total((r.amount for r in rows), currency)
        return AmountReport(
            kind=kind,
            start=start,
            end=end,
            period=period,
            currency=currency,
            rows=rows,
            total=total,
        )


# -- helpers -----------------------------------------------------------------------------

#: The first day an aging can be seen on: its buckets look back this far, and no date
#: comes before 0001-01-01.
FIRST_AGING_DAY = dt.date.min + dt.timedelta(days=AGING_BUCKETS[-1])


def _aging_day(day: dt.date) -> dt.date:
    if day < FIRST_AGING_DAY:
        raise ValidationError.single(
            "on", f"{day} is too early for an aging: give {FIRST_AGING_DAY} or later"
        )
    return day


def _aging_row(key: uuid.UUID | None, name: str | None, buckets: list[Money]) -> AgingRow:
    return AgingRow(
        key=key,
        name=name,
        current=buckets[0],
        days_1_30=buckets[1],
        days_31_60=buckets[2],
        days_61_90=buckets[3],
        over_90=buckets[4],
        total=Money.total(buckets, buckets[0].currency),
    )


def _period(day: dt.date, period: Period) -> str:
    if period == "month":
        return f"{day.year:04d}-{day.month:02d}"
    if period == "quarter":
        return f"{day.year:04d}-Q{(day.month - 1) // 3 + 1}"
    return f"{day.year:04d}"


def _amount_rows(
    sums: Iterable[DatedSum], currency: str, rates: ExchangeRates, period: Period
) -> list[AmountRow]:
    cells: dict[tuple[str, uuid.UUID | None, uuid.UUID | None], Money] = {}
    for s in sums:
        money = Money.from_minor(s.minor, s.currency).convert(currency, rates, s.day)
        key = (_period(s.day, period), s.department_id, s.owner_id)
        cells[key] = cells.get(key, Money.zero(currency)) + money
    ordered = sorted(
        cells.items(), key=lambda kv: (kv[0][0], str(kv[0][1] or ""), str(kv[0][2] or ""))
    )
    return [
        AmountRow(period=p, department_id=d, owner_id=o, amount=amount)
        for (p, d, o), amount in ordered
    ]
