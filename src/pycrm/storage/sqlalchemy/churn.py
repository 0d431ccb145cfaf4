"""The churn rules in SQL (:mod:`pycrm.storage.capabilities.churn`): one query, each rule a
``NOT EXISTS`` or a pair of counted subqueries on the indexed ``customer_id`` columns."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from pycrm.core.lifecycle import ChurnReason
from pycrm.storage.capabilities.churn import COUNTED, WATCHED, ChurnCheck
from pycrm.storage.sqlalchemy.tables import Tables
from pycrm.storage.sqlalchemy.types import UTCDateTime

__all__ = ["churn_candidates"]


def churn_candidates(
    conn: sa.Connection, tables: Tables, tenant: str, check: ChurnCheck
) -> list[tuple[uuid.UUID, uuid.UUID | None, list[str]]]:
    c = tables.table("customer")
    tests = _tests(tables, c, check)
    if not tests:
        return []
    query = (
        sa.select(c.c.id, c.c.owner_id, *(test.label(name) for name, test in tests))
        .where(
            c.c.tenant == tenant,
            c.c.deleted_at.is_(None),
            c.c.owner_id.is_not(None),
            c.c.status.in_(WATCHED),
            sa.or_(c.c.churn_state.is_(None), c.c.churn_until < check.today),
            sa.or_(*(test for _, test in tests)),
        )
        .order_by(c.c.id)
    )
    found = []
    for row in conn.execute(query):
        reasons = [name for name, _ in tests if row._mapping[name]]
        found.append((row.id, row.owner_id, reasons))
    return found


def _tests(tables: Tables, c: sa.Table, check: ChurnCheck) -> list[tuple[str, Any]]:
    orders, activities = tables.table("order"), tables.table("activity")
    rules, tests = check.rules, []

    def at(days: int) -> Any:
        return sa.literal(check.cutoff(days), UTCDateTime())

    if days := rules.no_order_days:
        recent = sa.exists().where(
            orders.c.tenant == c.c.tenant,
            orders.c.customer_id == c.c.id,
            orders.c.deleted_at.is_(None),
            orders.c.status.in_(COUNTED),
            orders.c.created_at >= at(days),
        )
        tests.append((ChurnReason.NO_ORDER, sa.and_(c.c.created_at <= at(days), ~recent)))
    if days := rules.no_contact_days:
        recent = sa.exists().where(
            activities.c.tenant == c.c.tenant,
            activities.c.customer_id == c.c.id,
            activities.c.deleted_at.is_(None),
            activities.c.created_at >= at(days),
        )
        tests.append((ChurnReason.NO_CONTACT, sa.and_(c.c.created_at <= at(days), ~recent)))
    if (percent := rules.falling_percent) is not None:
        days = rules.period_days

        def counted(start: Any, end: Any) -> Any:
            return (
                sa.select(sa.func.count())
                .where(
                    orders.c.tenant == c.c.tenant,
                    orders.c.customer_id == c.c.id,
                    orders.c.deleted_at.is_(None),
                    orders.c.status.in_(COUNTED),
                    orders.c.created_at >= start,
                    orders.c.created_at < end,
                )
                .scalar_subquery()
            )

        now = sa.literal(check.now, UTCDateTime())
        last, before = counted(at(days), now), counted(at(2 * days), at(days))
        falling = last * 100 <= before * (100 - percent)
        # Only a customer with two whole periods behind it can fall from one to the next.
        old_enough = c.c.created_at <= at(2 * days)
        tests.append((ChurnReason.FALLING_ORDERS, sa.and_(old_enough, before > 0, falling)))
    return tests
