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
from pycrm.storage.sqlalchemy.tables import child_table, table_for

__all__ = [
    "aging_sums",
    "collected_by_day",
    "open_installments",
    "outstanding_by_day",
    "sales_by_day",
]

_parts = child_table("payment_plan", "installments")
_plans = table_for("payment_plan")
_users = table_for("user")
_orders = table_for("order")
_payments = table_for("payment")


def _left() -> sa.ColumnElement[int]:
    return _parts.c.amount_minor - sa.func.coalesce(_parts.c.paid_minor, 0)


def _live_parts(scope: Scope) -> tuple[sa.FromClause, list[sa.ColumnElement[bool]]]:
    """Installments joined to their undeleted plan in the scope, with what every question
    asks."""
    joined = _parts.join(
        _plans, sa.and_(_plans.c.tenant == _parts.c.tenant, _plans.c.id == _parts.c.plan_id)
    )
    return joined, [
        _parts.c.tenant == scope.tenant,
        scope_clause(_plans, scope, "payment_plan"),
        _plans.c.deleted_at.is_(None),
        _left() > 0,
    ]


def _with_department(
    source: sa.FromClause, tenant: str, owner: sa.ColumnElement[Any]
) -> sa.FromClause:
    """``source`` LEFT JOIN the owner's user row (for ``users.department_id``)."""
    return source.outerjoin(_users, sa.and_(_users.c.tenant == tenant, _users.c.id == owner))


def open_installments(
    conn: sa.Connection, scope: Scope, *, due_from: dt.date | None, due_to: dt.date | None
) -> list[OpenInstallment]:
    source, where = _live_parts(scope)
    source = _with_department(source, scope.tenant, _parts.c.owner_id)
    if due_from is not None:
        where.append(_parts.c.due_on >= due_from)
    if due_to is not None:
        where.append(_parts.c.due_on <= due_to)
    stmt = (
        sa.select(
            _parts.c.id,
            _parts.c.plan_id,
            _parts.c.order_id,
            _parts.c.customer_id,
            _parts.c.owner_id,
            _users.c.department_id,
            _parts.c.due_on,
            _parts.c.amount_minor,
            sa.func.coalesce(_parts.c.paid_minor, 0),
            _parts.c.amount_currency,
        )
        .select_from(source)
        .where(*where)
        .order_by(_parts.c.due_on, _parts.c.id)
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
    tenant: str,
    source: sa.FromClause,
    where: list[sa.ColumnElement[bool]],
    day: sa.ColumnElement[Any],
    owner: sa.ColumnElement[Any],
    currency: sa.ColumnElement[Any],
    minor: sa.ColumnElement[Any],
) -> list[DatedSum]:
    keys = (day, owner, _users.c.department_id, currency)
    stmt = (
        sa.select(*keys, sa.func.sum(minor))
        .select_from(_with_department(source, tenant, owner))
        .where(*where)
        .group_by(*keys)
    )
    return [
        DatedSum(day=r[0], owner_id=r[1], department_id=r[2], currency=r[3], minor=int(r[4]))
        for r in conn.execute(stmt)
    ]


def sales_by_day(conn: sa.Connection, scope: Scope, start: dt.date, end: dt.date) -> list[DatedSum]:
    o = _orders.c
    where = [
        scope_clause(_orders, scope, "order"),
        o.deleted_at.is_(None),
        o.status.in_([OrderStatus.CONFIRMED.value, OrderStatus.COMPLETED.value]),
        o.confirmed_on.between(start, end),
        o.total_minor.is_not(None),
    ]
    return _dated(
        conn,
        scope.tenant,
        _orders,
        where,
        o.confirmed_on,
        o.owner_id,
        o.total_currency,
        o.total_minor,
    )


def collected_by_day(
    conn: sa.Connection, scope: Scope, start: dt.date, end: dt.date
) -> list[DatedSum]:
    p = _payments.c
    source = _payments.join(_plans, sa.and_(_plans.c.tenant == p.tenant, _plans.c.id == p.plan_id))
    where = [
        scope_clause(_payments, scope, "payment"),
        scope_clause(_plans, scope, "payment_plan"),
        p.deleted_at.is_(None),
        _plans.c.deleted_at.is_(None),
        p.received_on.between(start, end),
    ]
    return _dated(
        conn,
        scope.tenant,
        source,
        where,
        p.received_on,
        _plans.c.owner_id,
        p.amount_currency,
        p.amount_minor,
    )


def outstanding_by_day(
    conn: sa.Connection, scope: Scope, start: dt.date, end: dt.date
) -> list[DatedSum]:
    source, where = _live_parts(scope)
    where.append(_parts.c.due_on.between(start, end))
    c = _parts.c
    return _dated(
        conn, scope.tenant, source, where, c.due_on, c.owner_id, c.amount_currency, _left()
    )


def aging_bucket_sql(on: dt.date) -> sa.ColumnElement[int]:
    """The aging bucket of ``installments.due_on`` as a CASE on dates (portable SQL)."""
    whens = [
        (_parts.c.due_on >= on - dt.timedelta(days=most), index)
        for index, most in enumerate(AGING_BUCKETS)
    ]
    return sa.case(*whens, else_=len(AGING_BUCKETS))


def aging_sums(
    conn: sa.Connection, scope: Scope, on: dt.date, by: Literal["customer", "owner"]
) -> list[AgingSum]:
    source, where = _live_parts(scope)
    key = _parts.c.customer_id if by == "customer" else _parts.c.owner_id
    bucket = aging_bucket_sql(on).label("bucket")
    stmt = (
        sa.select(key, bucket, _parts.c.amount_currency, sa.func.sum(_left()))
        .select_from(source)
        .where(*where)
        .group_by(key, bucket, _parts.c.amount_currency)
    )
    return [
        AgingSum(key=r[0], bucket=int(r[1]), currency=r[2], minor=int(r[3]))
        for r in conn.execute(stmt)
    ]
