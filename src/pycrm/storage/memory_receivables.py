"""The memory backend's answers to the receivables questions of the storage protocol.

Plain Python over the stored records; the SQL adapter answers the same questions with
GROUP BY queries (``storage/sqlalchemy/receivables.py``) and must give identical results.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal

from pycrm.core.payments import Installment, PaymentPlan
from pycrm.core.records import Record
from pycrm.storage.base import AgingSum, DatedSum, OpenInstallment, aging_bucket

__all__ = [
    "aging_sums",
    "collected_by_day",
    "open_installments",
    "outstanding_by_day",
    "sales_by_day",
]

#: ``table(kind)``: the tenant's stored records of one kind, by id.
Tables = Callable[[str], Mapping[uuid.UUID, Record]]


def _live(table: Tables, kind: str) -> Iterator[Any]:
    return (r for r in table(kind).values() if not r.deleted)


def _department(table: Tables, owner_id: uuid.UUID | None) -> uuid.UUID | None:
    user = table("user").get(owner_id) if owner_id is not None else None
    return getattr(user, "department_id", None)


def _parts(table: Tables) -> Iterator[tuple[PaymentPlan, Installment]]:
    plan: PaymentPlan
    for plan in _live(table, "payment_plan"):
        for part in plan.installments:
            yield plan, part


def _left(part: Installment) -> int:
    assert part.paid is not None
    return part.amount.minor_units - part.paid.minor_units


def open_installments(
    table: Tables,
    *,
    due_from: dt.date | None,
    due_to: dt.date | None,
    owner_id: uuid.UUID | None,
    department_ids: frozenset[uuid.UUID] | None,
) -> list[OpenInstallment]:
    customers = table("customer")
    found = []
    for plan, part in _parts(table):
        if _left(part) <= 0:
            continue
        if (due_from and part.due_on < due_from) or (due_to and part.due_on > due_to):
            continue
        department = _department(table, part.owner_id)
        if owner_id is not None and part.owner_id != owner_id:
            continue
        if department_ids is not None and department not in department_ids:
            continue
        customer = customers.get(part.customer_id) if part.customer_id else None
        assert part.paid is not None
        found.append(
            OpenInstallment(
                installment_id=part.id,
                plan_id=plan.id,
                order_id=part.order_id,
                customer_id=part.customer_id,
                customer_name=getattr(customer, "name", None),
                owner_id=part.owner_id,
                department_id=department,
                due_on=part.due_on,
                amount_minor=part.amount.minor_units,
                paid_minor=part.paid.minor_units,
                currency=part.amount.currency,
            )
        )
    found.sort(key=lambda r: (r.due_on, r.installment_id))
    return found


def _summed(
    table: Tables, items: Iterator[tuple[dt.date, uuid.UUID | None, str, int]]
) -> list[DatedSum]:
    sums: dict[tuple[dt.date, uuid.UUID | None, str], int] = defaultdict(int)
    for day, owner, currency, minor in items:
        sums[(day, owner, currency)] += minor
    return [
        DatedSum(
            day=day,
            owner_id=owner,
            department_id=_department(table, owner),
            currency=currency,
            minor=minor,
        )
        for (day, owner, currency), minor in sums.items()
    ]


def sales_by_day(table: Tables, start: dt.date, end: dt.date) -> list[DatedSum]:
    items = (
        (order.confirmed_on, order.owner_id, order.total.currency, order.total.minor_units)
        for order in _live(table, "order")
        if order.is_sale
        and order.total is not None
        and order.confirmed_on is not None
        and start <= order.confirmed_on <= end
    )
    return _summed(table, items)


def collected_by_day(table: Tables, start: dt.date, end: dt.date) -> list[DatedSum]:
    plans = {p.id: p for p in _live(table, "payment_plan")}
    items = (
        (
            payment.received_on,
            plans[payment.plan_id].owner_id,
            payment.amount.currency,
            payment.amount.minor_units,
        )
        for payment in _live(table, "payment")
        if payment.plan_id in plans and start <= payment.received_on <= end
    )
    return _summed(table, items)


def outstanding_by_day(table: Tables, start: dt.date, end: dt.date) -> list[DatedSum]:
    items = (
        (part.due_on, part.owner_id, part.amount.currency, _left(part))
        for _, part in _parts(table)
        if start <= part.due_on <= end and _left(part) > 0
    )
    return _summed(table, items)


def aging_sums(table: Tables, on: dt.date, by: Literal["customer", "owner"]) -> list[AgingSum]:
    sums: dict[tuple[uuid.UUID | None, int, str], int] = defaultdict(int)
    for _, part in _parts(table):
        if (left := _left(part)) > 0:
            key = part.customer_id if by == "customer" else part.owner_id
            sums[(key, aging_bucket(part.due_on, on), part.amount.currency)] += left
    return [
        AgingSum(key=key, bucket=bucket, currency=currency, minor=minor)
        for (key, bucket, currency), minor in sums.items()
    ]
