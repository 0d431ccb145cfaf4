"""Recycling customers into a public pool in SQL (:mod:`pycrm.storage.capabilities.pools`).

Which customers are due is one ``WHERE`` clause: owned, not in a pool, their owner in the
plan's departments, no open order, and for one rule no activity (deal, won deal) since its
cutoff — ``NOT EXISTS`` over the indexed ``customer_id`` columns, the cutoff chosen by the
customer's level with ``CASE``. A run inserts the moves with ``INSERT … SELECT`` and then
updates the customers those moves name; on PostgreSQL a transaction-scoped advisory lock
per tenant and pool lets two runs at once take turns (SQLite's writers do anyway).
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from pycrm.core.opportunities import OpportunityStatus
from pycrm.core.pools import PoolMoveAction, RecycleReason
from pycrm.storage.capabilities.pools import OPEN_ORDERS, DueRule, RecyclePlan
from pycrm.storage.sqlalchemy.tables import Tables
from pycrm.storage.sqlalchemy.types import UTCDateTime

__all__ = ["due_customers", "recycle_customers"]


def recycle_customers(conn: sa.Connection, tables: Tables, tenant: str, plan: RecyclePlan) -> int:
    customers, moves = tables.table("customer"), tables.table("pool_move")
    if conn.dialect.name == "postgresql":
        key = f"pycrm-recycle:{tables.prefix}:{tenant}:{plan.pool}"
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(key, 0))))
    at = sa.literal(plan.now, UTCDateTime())
    new_ids = (
        sa.func.gen_random_uuid()
        if conn.dialect.name == "postgresql"
        else sa.func.lower(sa.func.hex(sa.func.randomblob(16)))
    )
    picked = sa.select(
        new_ids,
        customers.c.tenant,
        customers.c.id,
        sa.literal(plan.pool),
        sa.literal(PoolMoveAction.RECYCLE.value),
        customers.c.owner_id,
        sa.literal(plan.actor, moves.c.acted_by.type),
        at,
    ).where(_due(tables, tenant, plan))
    columns = ["id", "tenant", "customer_id", "pool", "action", "owner_id", "acted_by", "at"]
    conn.execute(moves.insert().from_select(columns, picked))
    # The count comes from the UPDATE: drivers answer -1 for an INSERT … SELECT.
    this_run = sa.select(moves.c.customer_id).where(
        moves.c.tenant == tenant,
        moves.c.action == PoolMoveAction.RECYCLE.value,
        moves.c.pool == plan.pool,
        moves.c.at == at,
    )
    moved = conn.execute(
        customers.update()
        .where(
            customers.c.tenant == tenant,
            customers.c.owner_id.is_not(None),
            customers.c.pool.is_(None),
            # A customer claimed since an earlier run with this same ``at`` is not this run's.
            sa.func.coalesce(customers.c.owned_since, customers.c.created_at) < at,
            customers.c.id.in_(this_run),
        )
        .values(
            owner_id=None,
            pool=plan.pool,
            owned_since=at,
            version=customers.c.version + 1,
            updated_at=at,
            updated_by=sa.literal(plan.actor, customers.c.updated_by.type),
        )
    ).rowcount
    return int(moved)


def due_customers(
    conn: sa.Connection, tables: Tables, tenant: str, plan: RecyclePlan, limit: int
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    customers = tables.table("customer")
    query = (
        sa.select(customers.c.id, customers.c.owner_id)
        .where(_due(tables, tenant, plan))
        .order_by(customers.c.id)
        .limit(limit)
    )
    return [(row[0], row[1]) for row in conn.execute(query)]


def _due(tables: Tables, tenant: str, plan: RecyclePlan) -> sa.ColumnElement[bool]:
    c = tables.table("customer")
    clauses: list[sa.ColumnElement[bool]] = [
        c.c.tenant == tenant,
        c.c.deleted_at.is_(None),
        c.c.owner_id.is_not(None),
        c.c.pool.is_(None),
    ]
    if plan.include:
        clauses.append(c.c.owner_id.in_(_owners(tables, tenant, plan.include)))
    if plan.exclude:
        clauses.append(c.c.owner_id.not_in(_owners(tables, tenant, plan.exclude)))
    if plan.exempt_open_orders:
        orders = tables.table("order")
        clauses.append(
            ~sa.exists().where(
                orders.c.tenant == c.c.tenant,
                orders.c.customer_id == c.c.id,
                orders.c.status.in_(OPEN_ORDERS),
                orders.c.deleted_at.is_(None),
            )
        )
    if plan.exempt_hot:
        hot = c.c.hot_until > sa.literal(plan.now, UTCDateTime())
        clauses.append(sa.or_(c.c.hot_until.is_(None), ~hot))
    rules = [_rule_due(tables, rule) for rule in plan.rules]
    clauses.append(sa.or_(*rules) if rules else sa.false())
    return sa.and_(*clauses)


def _owners(tables: Tables, tenant: str, paths: tuple[str, ...]) -> sa.Select[Any]:
    users, departments = tables.table("user"), tables.table("department")
    inside = sa.select(departments.c.id).where(
        departments.c.tenant == tenant,
        sa.or_(*(departments.c.path.startswith(p, autoescape=True) for p in paths)),
    )
    return sa.select(users.c.id).where(users.c.tenant == tenant, users.c.department_id.in_(inside))


def _cutoff(customers: sa.Table, rule: DueRule) -> sa.ColumnElement[Any]:
    def value(at: Any) -> sa.ColumnElement[Any]:
        return sa.null() if at is None else sa.literal(at, UTCDateTime())

    if not rule.levels:
        return value(rule.cutoff)
    whens = [(customers.c.level == level, value(at)) for level, at in rule.levels]
    return sa.case(*whens, else_=value(rule.cutoff))


def _rule_due(tables: Tables, rule: DueRule) -> sa.ColumnElement[bool]:
    c = tables.table("customer")
    cutoff = _cutoff(c, rule)
    start = sa.func.coalesce(c.c.owned_since, c.c.created_at)
    if rule.reason is RecycleReason.NO_FOLLOW_UP:
        other = tables.table("activity")
        since = other.c.created_at > cutoff
    else:
        other = tables.table("opportunity")
        since = other.c.created_at > cutoff
        if rule.reason is RecycleReason.NO_WON_DEAL:
            since = sa.and_(
                other.c.status == OpportunityStatus.WON.value, other.c.closed_at > cutoff
            )
    happened = sa.exists().where(
        other.c.tenant == c.c.tenant,
        other.c.customer_id == c.c.id,
        other.c.deleted_at.is_(None),
        since,
    )
    return sa.and_(start <= cutoff, ~happened)
