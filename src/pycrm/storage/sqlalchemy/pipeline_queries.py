"""The pipeline capability of the SQL adapter: grouped opportunity totals, furthest stages.

Everything aggregates in the database; Python only maps the few result rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from pycrm.errors import ValidationError
from pycrm.storage.base import Query, Scope
from pycrm.storage.capabilities.pipeline import OWNER_DEPARTMENT, OpenStays, OpportunityTotals
from pycrm.storage.sqlalchemy.queries import where_clause
from pycrm.storage.sqlalchemy.tables import Tables
from pycrm.storage.sqlalchemy.types import UTCDateTime

__all__ = ["furthest_stages", "open_stays", "opportunity_totals"]


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


def _group_column(opps: sa.Table, users: sa.Table, name: str) -> sa.ColumnElement[Any]:
    if name == OWNER_DEPARTMENT:
        return users.c.department_id
    if name in opps.c and not name.endswith(("_minor", "_currency")):
        return opps.c[name]
    raise ValidationError.single("by", f"opportunities cannot be grouped by {name!r}")


def opportunity_totals(
    conn: sa.Connection,
    tables: Tables,
    scope: Scope,
    query: Query,
    group_by: Sequence[str],
    *,
    cycle: bool = False,
) -> list[OpportunityTotals]:
    opps, users = tables.table("opportunity"), tables.table("user")
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
        .where(where_clause(opps, scope, query, "opportunity"))
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
    conn: sa.Connection, tables: Tables, scope: Scope, query: Query, ranks: Mapping[str, int]
) -> dict[int, int]:
    if not ranks:
        return {}
    opps, t = tables.table("opportunity"), tables.stage_transitions
    rank = sa.case(*((t.c.to_stage == key, value) for key, value in ranks.items()), else_=sa.null())
    per_opportunity = (
        sa.select(sa.func.max(rank).label("furthest"))
        .select_from(
            t.join(opps, sa.and_(opps.c.tenant == t.c.tenant, opps.c.id == t.c.opportunity_id))
        )
        .where(
            t.c.tenant == scope.tenant,
            t.c.to_stage.in_(list(ranks)),
            where_clause(opps, scope, query, "opportunity"),
        )
        .group_by(t.c.opportunity_id)
        .subquery()
    )
    stmt = sa.select(per_opportunity.c.furthest, sa.func.count()).group_by(
        per_opportunity.c.furthest
    )
    return {int(r): int(n) for r, n in conn.execute(stmt)}


def open_stays(
    conn: sa.Connection,
    tables: Tables,
    scope: Scope,
    query: Query,
    group_by: Sequence[str],
    now: dt.datetime,
) -> list[OpenStays]:
    opps = tables.table("opportunity")
    keys = [_group_column(opps, opps, name) for name in group_by]
    so_far = seconds_between(sa.literal(now, UTCDateTime()), opps.c.stage_entered_at)
    stmt = (
        sa.select(*keys, sa.func.count(), sa.func.sum(so_far))
        .where(where_clause(opps, scope, query, "opportunity"))
        .where(opps.c.stage_entered_at.is_not(None))
        .group_by(*keys)
    )
    n = len(keys)
    return [
        OpenStays(keys=tuple(row[:n]), count=int(row[n]), seconds=int(row[n + 1] or 0))
        for row in conn.execute(stmt)
    ]
