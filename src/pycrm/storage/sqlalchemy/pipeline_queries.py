"""The pipeline queries of the SQL adapter: transitions, grouped totals, stale deals.

Everything aggregates in the database; Python only maps the few result rows.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from pycrm.core.opportunities import OpportunityStatus
from pycrm.core.pipeline import StageTransition
from pycrm.errors import ValidationError
from pycrm.storage.base import OWNER_DEPARTMENT, DwellTotals, OpportunityTotals, Query, StaleRule
from pycrm.storage.sqlalchemy.queries import where_clause
from pycrm.storage.sqlalchemy.tables import stage_transitions, table_for

__all__ = [
    "dwell_totals",
    "find_stale",
    "furthest_stages",
    "opportunity_totals",
    "transition_rows",
    "transitions",
]

_TRANSITION_COLUMNS = [c.name for c in stage_transitions.columns]


class seconds_between(FunctionElement[int]):
    """``end - start`` in whole seconds (nearest), as an integer, on each dialect."""

    type = sa.BigInteger()
    inherit_cache = True


@compiles(seconds_between, "sqlite")
def _seconds_sqlite(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    end, start = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"CAST(ROUND((julianday({end}) - julianday({start})) * 86400.0) AS INTEGER)"


@compiles(seconds_between)
def _seconds_default(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    end, start = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"CAST(ROUND(EXTRACT(EPOCH FROM ({end} - {start}))) AS BIGINT)"


def transition_rows(items: Sequence[StageTransition]) -> list[dict[str, Any]]:
    return [{name: getattr(t, name) for name in _TRANSITION_COLUMNS} for t in items]


def transitions(tenant: str, opportunity_id: uuid.UUID) -> sa.Select[Any]:
    t = stage_transitions
    return (
        sa.select(t)
        .where(t.c.tenant == tenant, t.c.opportunity_id == opportunity_id)
        .order_by(t.c.at, t.c.id)
    )


def _group_column(opps: sa.Table, users: sa.Table, name: str) -> sa.ColumnElement[Any]:
    if name == OWNER_DEPARTMENT:
        return users.c.department_id
    if name in opps.c and not name.endswith(("_minor", "_currency")):
        return opps.c[name]
    raise ValidationError.single("by", f"opportunities cannot be grouped by {name!r}")


def opportunity_totals(
    conn: sa.Connection,
    tenant: str,
    query: Query,
    group_by: Sequence[str],
    *,
    cycle: bool = False,
) -> list[OpportunityTotals]:
    opps, users = table_for("opportunity"), table_for("user")
    keys = [_group_column(opps, users, name) for name in group_by]
    units = sa.func.coalesce(opps.c.amount_minor, 0)
    sums: list[sa.ColumnElement[Any]] = [
        sa.func.count(),
        sa.func.sum(units),
        sa.func.sum(units * sa.func.coalesce(opps.c.probability, 0)),
    ]
    if cycle:  # only asked for by the win rate: it costs a CASE per row
        closed = opps.c.closed_at.is_not(None)
        seconds = seconds_between(opps.c.closed_at, opps.c.created_at)
        sums.append(sa.func.sum(sa.case((closed, 1), else_=0)))
        sums.append(sa.func.sum(sa.case((closed, seconds), else_=0)))
    source: sa.FromClause = opps
    if OWNER_DEPARTMENT in group_by:
        on = sa.and_(users.c.tenant == opps.c.tenant, users.c.id == opps.c.owner_id)
        source = opps.outerjoin(users, on)
    stmt = (
        sa.select(*keys, opps.c.amount_currency, *sums)
        .select_from(source)
        .where(where_clause(opps, tenant, query))
        .group_by(*keys, opps.c.amount_currency)
    )
    n = len(keys)
    return [_totals(row, n) for row in conn.execute(stmt)]


def _totals(row: Any, n: int) -> OpportunityTotals:
    values = [int(v or 0) for v in row[n + 1 :]] + [0, 0]
    return OpportunityTotals(
        keys=tuple(row[:n]),
        currency=row[n],
        count=values[0],
        amount_units=values[1],
        weighted_units=values[2],
        closed=values[3],
        cycle_seconds=values[4],
    )


def furthest_stages(
    conn: sa.Connection, tenant: str, query: Query, ranks: Mapping[str, int]
) -> dict[int, int]:
    if not ranks:
        return {}
    opps, t = table_for("opportunity"), stage_transitions
    rank = sa.case(*((t.c.to_stage == key, value) for key, value in ranks.items()), else_=sa.null())
    per_opportunity = (
        sa.select(sa.func.max(rank).label("furthest"))
        .select_from(
            t.join(opps, sa.and_(opps.c.tenant == t.c.tenant, opps.c.id == t.c.opportunity_id))
        )
        .where(
            t.c.tenant == tenant, t.c.to_stage.in_(list(ranks)), where_clause(opps, tenant, query)
        )
        .group_by(t.c.opportunity_id)
        .subquery()
    )
    stmt = sa.select(per_opportunity.c.furthest, sa.func.count()).group_by(
        per_opportunity.c.furthest
    )
    return {int(r): int(n) for r, n in conn.execute(stmt)}


def dwell_totals(
    conn: sa.Connection,
    tenant: str,
    pipeline: str,
    group_by: Sequence[str],
    since: dt.datetime | None,
    until: dt.datetime | None,
) -> list[DwellTotals]:
    t = stage_transitions
    if unknown := [name for name in group_by if name not in ("from_stage", "owner_id")]:
        raise ValidationError.single("by", f"stays cannot be grouped by {unknown}")
    keys = [t.c[name] for name in group_by]
    conditions = [t.c.tenant == tenant, t.c.pipeline == pipeline, t.c.from_stage.is_not(None)]
    if since is not None:
        conditions.append(t.c.at >= since)
    if until is not None:
        conditions.append(t.c.at < until)
    stmt = (
        sa.select(*keys, sa.func.count(), sa.func.sum(t.c.dwell_ms))
        .where(*conditions)
        .group_by(*keys)
    )
    n = len(keys)
    return [
        DwellTotals(keys=tuple(row[:n]), stays=int(row[n]), dwell_ms=int(row[n + 1] or 0))
        for row in conn.execute(stmt)
    ]


def find_stale(tenant: str, rules: Sequence[StaleRule]) -> sa.Select[Any] | None:
    """The SELECT of stale opportunities' rows, or None when no rule can match."""
    opps = table_for("opportunity")
    contact = sa.func.coalesce(opps.c.last_contact_at, opps.c.created_at)
    branches = []
    for rule in rules:
        tests = []
        if rule.contact_before is not None:
            tests.append(contact <= rule.contact_before)
        if rule.entered_before is not None:
            tests.append(opps.c.stage_entered_at < rule.entered_before)
        if tests:
            branches.append(
                sa.and_(
                    opps.c.pipeline == rule.pipeline, opps.c.stage == rule.stage, sa.or_(*tests)
                )
            )
    if not branches:
        return None
    return (
        sa.select(opps)
        .where(
            opps.c.tenant == tenant,
            opps.c.deleted_at.is_(None),
            opps.c.status == OpportunityStatus.OPEN.value,
            sa.or_(*branches),
        )
        .order_by(opps.c.id)
    )
