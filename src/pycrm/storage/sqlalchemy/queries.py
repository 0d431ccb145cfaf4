"""Translating :class:`pycrm.storage.base.Query` into SQL expressions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from pycrm.core.money import Money
from pycrm.errors import ValidationError
from pycrm.storage.base import Filter, Op, Query

__all__ = ["after_clause", "order_clause", "where_clause"]


def column(table: sa.Table, name: str) -> sa.ColumnElement[Any]:
    if f"{name}_minor" in table.c:
        return table.c[f"{name}_minor"]
    if name in table.c:
        return table.c[name]
    raise ValidationError.single(name, f"{table.name} cannot be filtered or ordered by {name!r}")


def _condition(table: sa.Table, flt: Filter) -> sa.ColumnElement[bool]:
    col = column(table, flt.field)
    value = flt.value
    if flt.op is Op.IS_NULL:
        return col.is_(None) if value else col.is_not(None)
    if isinstance(value, Money):
        currency = table.c[f"{flt.field}_currency"]
        if flt.op is Op.NE:
            return sa.or_(col.is_(None), currency != value.currency, col != value.minor_units)
        return sa.and_(currency == value.currency, _compare(col, flt.op, value.minor_units))
    if flt.op is Op.IN:
        return col.in_(list(value))
    if flt.op is Op.CONTAINS:
        return sa.func.lower(col).contains(str(value).lower(), autoescape=True)
    if flt.op is Op.NE:
        return sa.or_(col != value, col.is_(None))
    return _compare(col, flt.op, value)


def _compare(col: sa.ColumnElement[Any], op: Op, value: Any) -> sa.ColumnElement[bool]:
    result: sa.ColumnElement[bool]
    match op:
        case Op.EQ:
            result = col == value
            return result
        case Op.LT:
            result = col < value
            return result
        case Op.LTE:
            result = col <= value
            return result
        case Op.GT:
            result = col > value
            return result
        case Op.GTE:
            result = col >= value
            return result
    raise ValidationError.single("op", f"operator {op} does not apply to money")


def where_clause(table: sa.Table, tenant: str, query: Query) -> sa.ColumnElement[bool]:
    conditions = [table.c.tenant == tenant]
    if query.deleted is not None:
        deleted = table.c.deleted_at
        conditions.append(deleted.is_not(None) if query.deleted else deleted.is_(None))
    if query.ids is not None:
        conditions.append(table.c.id.in_(list(query.ids)))
    conditions += [_condition(table, f) for f in query.filters]
    return sa.and_(*conditions)


def _sort_columns(table: sa.Table, query: Query) -> list[tuple[sa.ColumnElement[Any], bool]]:
    return [(column(table, name), desc) for name, desc in query.order] + [(table.c.id, False)]


def order_clause(table: sa.Table, query: Query) -> list[sa.UnaryExpression[Any]]:
    """ORDER BY with empty values first ascending and last descending, then id."""
    return [
        col.desc().nulls_last() if desc else col.asc().nulls_first()
        for col, desc in _sort_columns(table, query)
    ]


def after_clause(table: sa.Table, query: Query) -> sa.ColumnElement[bool] | None:
    """Rows strictly after the keyset position ``query.after`` in the query's order."""
    if query.after is None:
        return None
    columns = _sort_columns(table, query)
    values: Sequence[Any] = query.after
    branches = []
    for i, (col, desc) in enumerate(columns):
        equal = [_equal(c, v) for (c, _), v in zip(columns[:i], values[:i], strict=True)]
        beyond = _beyond(col, values[i], desc)
        if beyond is not None:
            branches.append(sa.and_(*equal, beyond))
    return sa.or_(*branches) if branches else sa.false()


def _equal(col: sa.ColumnElement[Any], value: Any) -> sa.ColumnElement[bool]:
    return col.is_(None) if value is None else col == value


def _beyond(col: sa.ColumnElement[Any], value: Any, desc: bool) -> sa.ColumnElement[bool] | None:
    if not desc:
        return col.is_not(None) if value is None else col > value
    return None if value is None else sa.or_(col < value, col.is_(None))
