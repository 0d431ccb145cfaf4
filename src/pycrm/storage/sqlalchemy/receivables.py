"""The receivables questions of the storage protocol as SQL (GROUP BY in the database).

Money is summed as integer minor units per currency, so sums are exact on every dialect;
the few per-currency sums are converted in Python by the reports service. The owner's
department comes from a LEFT JOIN on ``users``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import sqlalchemy as sa

from pycrm.core.orders import OrderStatus
from pycrm.storage.base import Scope
from pycrm.storage.capabilities.receivables import (
    AGING_BUCKETS,
    AgingSum,
    DatedSum,
    OpenInstallment,
)
from pycrm.storage.sqlalchemy.queries import scope_clause
from pycrm.storage.sqlalchemy.tables import Tables

__all__ = [
    "aging_sums",
    "collected_by_day",
    "open_installments",
    "outstanding_by_day",
    "sales_by_day",
]


class _Tables:
    """The tables the receivables questions read, under one naming."""

    def __init__(self, tables: Tables) -> None:
        self.parts = tables.child("payment_plan", "installments")
        self.plans = tables.table("payment_plan")
        self.users = tables.table("user")
        self.orders = tables.table("order")
        self.payments = tables.table("payment")


def _left(t: _Tables) -> sa.ColumnElement[int]:
    return t.parts.c.amount_minor - sa.func.coalesce(t.parts.c.paid_minor, 0)


def _live_parts(t: _Tables, scope: Scope) -> tuple[sa.FromClause, list[sa.ColumnElement[bool]]]:
    """Installments joined to their undeleted plan in the scope, with what every question
    asks."""
    joined = t.parts.join(
        t.plans, sa.and_(t.plans.c.tenant == t.parts.c.tenant, t.plans.c.id == t.parts.c.plan_id)
    )
    return joined, [
        t.parts.c.tenant == scope.tenant,
        scope_clause(t.plans, scope, "payment_plan"),
        t.plans.c.deleted_at.is_(None),
        _left(t) > 0,
    ]


def _with_department(
    t: _Tables, source: sa.FromClause, tenant: str, owner: sa.ColumnElement[Any]
) -> sa.FromClause:
    """``source`` LEFT JOIN the owner's user row (for ``users.department_id``)."""
    return source.outerjoin(t.users, sa.and_(t.users.c.tenant == tenant, t.users.c.id == owner))


def open_installments(
    conn: sa.Connection,
    tables: Tables,
    scope: Scope,
    *,
    due_from: dt.date | None,
    due_to: dt.date | None,
) -> list[OpenInstallment]:
    t = _Tables(tables)
    source, where = _live_parts(t, scope)
    source = _with_department(t, source, scope.tenant, t.parts.c.owner_id)
    if due_from is not None:
        where.append(t.parts.c.due_on >= due_from)
    if due_to is not None:
        where.append(t.parts.c.due_on <= due_to)
    stmt = (
        sa.select(
            t.parts.c.id,
            t.parts.c.plan_id,
            t.parts.c.order_id,
            t.parts.c.customer_id,
            t.parts.c.owner_id,
            t.users.c.department_id,
            t.parts.c.due_on,
            t.parts.c.amount_minor,
            sa.func.coalesce(t.parts.c.paid_minor, 0),
            t.parts.c.amount_currency,
        )
        .select_from(source)
        .where(*where)
        .order_by(t.parts.c.due_on, t.parts.c.id)
    )
    return [
        OpenInstallment(
            installment_id=row[0],
            plan_id=row[1],
            order_id=row[2],
            customer_id=row[3],
            owner_id=row[4],
            department_id=row[5],
            due_on=row[6],
            amount_minor=int(row[7]),
            paid_minor=int(row[8]),
            currency=row[9],
        )
        for row in conn.execute(stmt)
    ]


def _dated(
    conn: sa.Connection,
    t: _Tables,
    tenant: str,
    source: sa.FromClause,
    where: list[sa.ColumnElement[bool]],
    day: sa.ColumnElement[Any],
    owner: sa.ColumnElement[Any],
    currency: sa.ColumnElement[Any],
    minor: sa.ColumnElement[Any],
) -> list[DatedSum]:
    keys = (day, owner, t.users.c.department_id, currency)
    stmt = (
        sa.select(*keys, sa.func.sum(minor))
        .select_from(_with_department(t, source, tenant, owner))
        .where(*where)
        .group_by(*keys)
    )
    return [
        DatedSum(day=r[0], owner_id=r[1], department_id=r[2], currency=r[3], minor=int(r[4]))
        for r in conn.execute(stmt)
    ]


def sales_by_day(
    conn: sa.Connection, tables: Tables, scope: Scope, start: dt.date, end: dt.date
) -> list[DatedSum]:
    t = _Tables(tables)
    o = t.orders.c
    where = [
        scope_clause(t.orders, scope, "order"),
        o.deleted_at.is_(None),
        o.status.in_([OrderStatus.CONFIRMED.value, OrderStatus.COMPLETED.value]),
        o.confirmed_on.between(start, end),
        o.total_minor.is_not(None),
    ]
    return _dated(
        conn,
        t,
        scope.tenant,
        t.orders,
        where,
        o.confirmed_on,
        o.owner_id,
        o.total_currency,
        o.total_minor,
    )


def collected_by_day(
    conn: sa.Connection, tables: Tables, scope: Scope, start: dt.date, end: dt.date
) -> list[DatedSum]:
    t = _Tables(tables)
    p = t.payments.c
    source = t.payments.join(
        t.plans, sa.and_(t.plans.c.tenant == p.tenant, t.plans.c.id == p.plan_id)
    )
    where = [
        scope_clause(t.payments, scope, "payment"),
        scope_clause(t.plans, scope, "payment_plan"),
        p.deleted_at.is_(None),
        t.plans.c.deleted_at.is_(None),
        p.received_on.between(start, end),
    ]
    return _dated(
        conn,
        t,
        scope.tenant,
        source,
        where,
        p.received_on,
        t.plans.c.owner_id,
        p.amount_currency,
        p.amount_minor,
    )


def outstanding_by_day(
    conn: sa.Connection, tables: Tables, scope: Scope, start: dt.date, end: dt.date
) -> list[DatedSum]:
    t = _Tables(tables)
    source, where = _live_parts(t, scope)
    where.append(t.parts.c.due_on.between(start, end))
    c = t.parts.c
    return _dated(
        conn, t, scope.tenant, source, where, c.due_on, c.owner_id, c.amount_currency, _left(t)
    )


def aging_bucket_sql(t: _Tables, on: dt.date) -> sa.ColumnElement[int]:
    """The aging bucket of ``installments.due_on`` as a CASE on dates (portable SQL)."""
    whens = [
        (t.parts.c.due_on >= on - dt.timedelta(days=most), index)
        for index, most in enumerate(AGING_BUCKETS)
    ]
    return sa.case(*whens, else_=len(AGING_BUCKETS))


def aging_sums(
    conn: sa.Connection, tables: Tables, scope: Scope, on: dt.date, by: Literal["customer", "owner"]
) -> list[AgingSum]:
    t = _Tables(tables)
    source, where = _live_parts(t, scope)
    key = t.parts.c.customer_id if by == "customer" else t.parts.c.owner_id
    bucket = aging_bucket_sql(t, on).label("bucket")
    stmt = (
        sa.select(key, bucket, t.parts.c.amount_currency, sa.func.sum(_left(t)))
        .select_from(source)
        .where(*where)
        .group_by(key, bucket, t.parts.c.amount_currency)
    )
    return [
        AgingSum(key=r[0], bucket=int(r[1]), currency=r[2], minor=int(r[3]))
        for r in conn.execute(stmt)
    ]
