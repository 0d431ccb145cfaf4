"""Receivables for the order assistant and managers: due lists, dunning, reports.

Lists and reports ask the storage for a few aggregates (:class:`pycrm.storage.base.
Transaction` ``open_installments`` … ``aging_sums``: GROUP BY queries on SQL, Python on the
memory backend) and convert the per-currency sums into the reporting currency here, with
the rate of each transaction's date (``crm.exchange_rates.rate(base, quote, on)``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict

from pycrm.core import messages as msg
from pycrm.core.customers import Customer
from pycrm.core.events import Event
from pycrm.core.money import ExchangeRates, Money
from pycrm.core.org import Department, User
from pycrm.core.payments import Installment, InstallmentState
from pycrm.core.records import Record
from pycrm.core.service import Activity, ActivityKind
from pycrm.core.snapshot import plain
from pycrm.errors import ValidationError
from pycrm.schemas import MoneyValue, checked_call
from pycrm.services.auditing import creations
from pycrm.storage.base import DatedSum, Filter, Op, OpenInstallment, Query

if TYPE_CHECKING:
    from pycrm.services.unit_of_work import UnitOfWork

__all__ = [
    "AgingReport",
    "AgingRow",
    "AmountReport",
    "AmountRow",
    "DueInstallment",
    "ReceivablesService",
]

Window = Literal["today", "week", "month", "overdue"]
Period = Literal["month", "quarter", "year"]
_VIEW = ConfigDict(frozen=True)


class DueInstallment(BaseModel):
    """One installment with money left, as the order assistant's lists show it."""

    model_config = _VIEW

    installment_id: uuid.UUID
    plan_id: uuid.UUID
    order_id: uuid.UUID | None
    customer_id: uuid.UUID | None
    customer_name: str | None
    owner_id: uuid.UUID | None
    department_id: uuid.UUID | None
    due_on: dt.date
    amount: MoneyValue
    paid: MoneyValue
    left: MoneyValue
    state: InstallmentState
    days_overdue: int


class AmountRow(BaseModel):
    """One period, department and rep of a sales, collected or outstanding report."""

    model_config = _VIEW

    period: str
    department_id: uuid.UUID | None
    owner_id: uuid.UUID | None
    amount: MoneyValue


class AmountReport(BaseModel):
    """Sales, collected or outstanding amounts in the reporting currency."""

    model_config = _VIEW

    kind: Literal["sales", "collected", "outstanding"]
    start: dt.date
    end: dt.date
    period: Period
    currency: str
    rows: list[AmountRow]
    total: MoneyValue


class AgingRow(BaseModel):
    """Outstanding money of one customer (or rep) by how long it is overdue."""

    model_config = _VIEW

    key: uuid.UUID | None
    name: str | None
    current: MoneyValue
    days_1_30: MoneyValue
    days_31_60: MoneyValue
    days_61_90: MoneyValue
    over_90: MoneyValue
    total: MoneyValue

    @property
    def buckets(self) -> list[Money]:
        """The five buckets in order: current, 1–30, 31–60, 61–90, over 90 days."""
        return [self.current, self.days_1_30, self.days_31_60, self.days_61_90, self.over_90]


class AgingReport(BaseModel):
    """Receivables aging on a date, per customer or per rep, in the reporting currency.

    Amounts are converted with the rate of the report date (an aging is a position on that
    day). Each row's ``total`` is the sum of its buckets and ``totals`` sums the rows, so
    the buckets partition the outstanding amount exactly.
    """

    model_config = _VIEW

    on: dt.date
    by: Literal["customer", "owner"]
    currency: str
    rows: list[AgingRow]
    totals: AgingRow


#: Bucket headings, in bucket order (message ids of the translation catalogues).
AGING_HEADINGS = (
    msg.BUCKET_CURRENT,
    msg.BUCKET_1_30,
    msg.BUCKET_31_60,
    msg.BUCKET_61_90,
    msg.BUCKET_OVER_90,
)


class ReceivablesService:
    """``uow.receivables``: due lists, dunning and receivables reports."""

    def __init__(self, step: Callable[[], AbstractContextManager[UnitOfWork]]) -> None:
        self._step = step

    # -- lists ----------------------------------------------------------------------------
    @checked_call
    def due(
        self,
        window: Window,
        *,
        on: dt.date | None = None,
        owner_id: uuid.UUID | None = None,
        department_id: uuid.UUID | None = None,
    ) -> list[DueInstallment]:
        """Installments with money left due ``"today"``, this ``"week"`` (Monday to
        Sunday), this ``"month"``, or ``"overdue"`` (due before today), seen on ``on``
        (default today), optionally of one rep or of the reps of one department and the
        departments under it (a branch and its teams); by due date, then customer name."""
        with self._step() as uow:
            day = on or uow.now().date()
            start, end = _window(window, day)
            found = uow.tx.open_installments(
                uow.tenant,
                due_from=start,
                due_to=end,
                owner_id=owner_id,
                department_ids=None if department_id is None else _subtree(uow, department_id),
            )
        rows = [_due(row, day) for row in found]
        return sorted(rows, key=lambda r: (r.due_on, r.customer_name or "", r.installment_id))

    # -- dunning --------------------------------------------------------------------------
    @checked_call
    def run_dunning(self, *, on: dt.date | None = None) -> list[Activity]:
        """Create one dunning to-do (催款) per installment overdue on ``on`` (default today)
        or due within ``Settings.dunning_days_ahead`` days (today counting as the first;
        0 means overdue ones only), for the order's owner, linked
        to the order and customer. An installment gets one to-do per due date, never two
        (a unique key in storage), so running this daily is safe. Emits
        ``installment.overdue`` for each overdue installment a to-do was created for.
        Returns the to-dos created by this run."""
        with self._step() as uow:
            day = on or uow.now().date()
            # N days ahead counts today as the first: 0 = overdue only, 1 = also due today.
            ahead = dt.timedelta(days=uow.crm.settings.dunning_days_ahead - 1)
            rows = uow.tx.open_installments(uow.tenant, due_from=None, due_to=day + ahead)
            done = _dunned(uow, [r.installment_id for r in rows])
            fresh = [r for r in rows if (r.installment_id, r.due_on) not in done]
            tasks = [_dunning_task(uow, row, day) for row in fresh]
            if tasks:
                uow.tx.insert(tasks)
                uow.activities._audit(uow, creations(tasks))
            if uow.wants_events:
                for row in fresh:
                    if row.due_on < day:
                        uow.emit(_overdue_event(uow, row, day))
            return tasks

    # -- reports --------------------------------------------------------------------------
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
        with self._step() as uow:
            day = on or uow.now().date()
            sums = uow.tx.aging_sums(uow.tenant, day, by)
            currency = uow.crm.settings.reporting_currency
            rates = uow.crm.exchange_rates
            cells: dict[uuid.UUID | None, list[Money]] = defaultdict(
                lambda: [Money.zero(currency)] * 5
            )
            for s in sums:
                money = Money.from_minor(s.minor, s.currency).convert(currency, rates, day)
                cells[s.key][s.bucket] = cells[s.key][s.bucket] + money
            names = _names(uow, Customer if by == "customer" else User, cells)
        rows = [_aging_row(key, names.get(key), buckets) for key, buckets in cells.items()]
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
        with self._step() as uow:
            ask = {
                "sales": uow.tx.sales_by_day,
                "collected": uow.tx.collected_by_day,
                "outstanding": uow.tx.outstanding_by_day,
            }[kind]
            sums = ask(uow.tenant, start, end)
            currency = uow.crm.settings.reporting_currency
            rows = _amount_rows(sums, currency, uow.crm.exchange_rates, period)
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


def _window(window: Window, day: dt.date) -> tuple[dt.date | None, dt.date | None]:
    if window == "today":
        return day, day
    if window == "week":
        monday = day - dt.timedelta(days=day.weekday())
        return monday, monday + dt.timedelta(days=6)
    if window == "month":
        first = day.replace(day=1)
        following = (first + dt.timedelta(days=32)).replace(day=1)
        return first, following - dt.timedelta(days=1)
    if window == "overdue":
        return None, day - dt.timedelta(days=1)
    raise ValidationError.single("window", f"{window!r} is not one of: today, week, month, overdue")


def _due(row: OpenInstallment, day: dt.date) -> DueInstallment:
    amount = Money.from_minor(row.amount_minor, row.currency)
    paid = Money.from_minor(row.paid_minor, row.currency)
    # The domain's rule, so the list and Installment.state can never disagree.
    state = Installment(id=row.installment_id, due_on=row.due_on, amount=amount, paid=paid).state(
        day
    )
    return DueInstallment(
        installment_id=row.installment_id,
        plan_id=row.plan_id,
        order_id=row.order_id,
        customer_id=row.customer_id,
        customer_name=row.customer_name,
        owner_id=row.owner_id,
        department_id=row.department_id,
        due_on=row.due_on,
        amount=amount,
        paid=paid,
        left=amount - paid,
        state=state,
        days_overdue=max(0, (day - row.due_on).days),
    )


def _dunned(uow: UnitOfWork, ids: Sequence[uuid.UUID]) -> set[tuple[uuid.UUID, dt.date]]:
    """(installment, due date) pairs that already have a dunning to-do (even deleted)."""
    found: set[tuple[uuid.UUID, dt.date]] = set()
    unique = sorted(set(ids))
    for start in range(0, len(unique), 500):
        chunk = frozenset(unique[start : start + 500])
        query = Query(filters=(Filter("dunning_installment_id", Op.IN, chunk),), deleted=None)
        for task in uow.tx.find(Activity, uow.tenant, query):
            if task.dunning_installment_id and task.dunning_due_on:
                found.add((task.dunning_installment_id, task.dunning_due_on))
    return found


def _dunning_task(uow: UnitOfWork, row: OpenInstallment, day: dt.date) -> Activity:
    from pycrm.i18n import translate

    locale = uow.crm.settings.locale
    left = Money.from_minor(row.amount_minor - row.paid_minor, row.currency)
    subject = translate(
        msg.DUNNING_SUBJECT,
        locale,
        amount=left.format(locale),
        customer=row.customer_name or "?",
        due_on=row.due_on.isoformat(),
    )
    task = Activity(
        tenant=uow.tenant,
        owner_id=row.owner_id,
        type=ActivityKind.TASK,
        subject=subject,
        due_at=dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC),
        customer_id=row.customer_id,
        order_id=row.order_id,
        dunning_installment_id=row.installment_id,
        dunning_due_on=row.due_on,
    )
    task.stamp(uow.user, uow.now(), created=True)
    return task


def _overdue_event(uow: UnitOfWork, row: OpenInstallment, day: dt.date) -> Event:
    left = Money.from_minor(row.amount_minor - row.paid_minor, row.currency)
    return Event(
        name="installment.overdue",
        entity="installment",
        record_id=row.installment_id,
        tenant=uow.tenant,
        user_id=uow.user,
        at=uow.now(),
        changes={
            "due_on": (None, row.due_on.isoformat()),
            "outstanding": (None, plain(left)),
            "days_overdue": (None, (day - row.due_on).days),
            "order_id": (None, plain(row.order_id)),
            "customer_id": (None, plain(row.customer_id)),
        },
    )


def _names(
    uow: UnitOfWork, kind: type[Record], keys: Iterable[uuid.UUID | None]
) -> dict[uuid.UUID | None, str]:
    ids = sorted(k for k in keys if k is not None)
    names: dict[uuid.UUID | None, str] = {}
    for start in range(0, len(ids), 500):
        query = Query(ids=frozenset(ids[start : start + 500]), deleted=None)
        for record in uow.tx.find(kind, uow.tenant, query):
            names[record.id] = str(getattr(record, "name", ""))
    return names


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


def _subtree(uow: UnitOfWork, root: uuid.UUID) -> frozenset[uuid.UUID]:
    """A department and every department under it (the tree is small: one query)."""
    children: dict[uuid.UUID | None, list[uuid.UUID]] = defaultdict(list)
    for department in uow.tx.find(Department, uow.tenant, Query()):
        children[department.parent_id].append(department.id)
    found, pending = {root}, [root]
    while pending:
        for child in children[pending.pop()]:
            if child not in found:
                found.add(child)
                pending.append(child)
    return frozenset(found)
