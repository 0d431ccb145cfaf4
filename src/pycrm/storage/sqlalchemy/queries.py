"""Translating :class:`pycrm.storage.base.Query` into SQL expressions.

Custom fields (``custom.<key>``) become JSON extraction expressions with casts: on SQLite
``CAST(json_extract(custom, '$.key') AS INTEGER)``, on PostgreSQL
``CAST((custom ->> 'key') AS INTEGER)``. The key is written into the SQL text (keys are
checked to be plain identifiers) rather than bound as a parameter, so an expression index
built with :func:`custom_index` matches the very expression the queries use.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.visitors import InternalTraversal

from pycrm.core.fields import StorageType
from pycrm.core.money import Money
from pycrm.core.text import fold
from pycrm.errors import ValidationError
from pycrm.storage.base import AllOf, AnyOf, Condition, Filter, Op, Query, Related, Scope
from pycrm.storage.sqlalchemy.tables import tables_of

__all__ = [
    "after_clause",
    "custom_expression",
    "custom_index",
    "order_clause",
    "scope_clause",
    "where_clause",
]

_KEY = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class json_text(FunctionElement[str]):
    """The text at a path of a JSON column: ``json_text(col, "key", "amount")``."""

    type = sa.String()
    name = "json_text"
    inherit_cache = True


def _json_parts(element: json_text, compiler: Any, **kw: Any) -> tuple[str, list[str]]:
    column, *path = element.clauses.clauses
    return compiler.process(column, **kw), [str(getattr(p, "text", p)) for p in path]


@compiles(json_text, "postgresql")
def _json_text_postgresql(element: json_text, compiler: Any, **kw: Any) -> str:
    column, path = _json_parts(element, compiler, **kw)
    *heads, last = path
    steps = "".join(f" -> '{p}'" for p in heads)
    return f"({column}{steps} ->> '{last}')"


@compiles(json_text)
def _json_text_default(element: json_text, compiler: Any, **kw: Any) -> str:
    column, path = _json_parts(element, compiler, **kw)
    return f"json_extract({column}, '$.{'.'.join(path)}')"


_CASTS: dict[StorageType, sa.types.TypeEngine[Any]] = {
    StorageType.INTEGER: sa.BigInteger(),
    StorageType.DECIMAL: sa.Numeric(),
    StorageType.BOOLEAN: sa.Boolean(),
}


def custom_expression(
    table: sa.Table, name: str, storage: StorageType | str, part: str | None = None
) -> sa.ColumnElement[Any]:
    """The SQL value of custom field ``name`` (``"custom.<key>"``) as it compares.

    Money gives its amount (``part=None``) or its ``part="currency"``; lists give their
    JSON text (only emptiness is tested).
    """
    key = name.removeprefix("custom.")
    if not _KEY.match(key):
        raise ValidationError.single(name, "a custom field key is a plain lower-case name")
    storage = StorageType(storage)
    path: list[sa.ColumnElement[Any]] = [sa.literal_column(key)]
    if storage is StorageType.MONEY:
        path.append(sa.literal_column(part or "amount"))
        if part == "currency":
            return json_text(table.c.custom, *path)
        return sa.cast(json_text(table.c.custom, *path), sa.Numeric())
    if storage in _CASTS:
        return sa.cast(json_text(table.c.custom, *path), _CASTS[storage])
    return json_text(table.c.custom, *path)


def custom_index(table: sa.Table, name: str, storage: StorageType | str) -> sa.Index:
    """An expression index on ``(tenant, custom value)`` that list filters and orders use.

    ``custom_index(crm.storage.tables.table("customer"), "custom.tier", "integer")``
    ``.create(crm.storage.engine)``
    """
    key = name.removeprefix("custom.")
    index = sa.Index(
        f"ix_{table.name}_custom_{key}",
        table.c.tenant,
        custom_expression(table, name, storage),
    )
    # The caller creates it; the shared schema metadata (and the migrations checked
    # against it) must not grow an index per call.
    table.indexes.discard(index)
    return index


def column(table: sa.Table, name: str, query: Query | None = None) -> sa.ColumnElement[Any]:
    if name.startswith("custom."):
        types = query.custom_types if query is not None else {}
        return custom_expression(table, name, types.get(name, StorageType.TEXT))
    if f"{name}_minor" in table.c:
        return table.c[f"{name}_minor"]
    if name in table.c:
        return table.c[name]
    raise ValidationError.single(name, f"{table.name} cannot be filtered or ordered by {name!r}")


def _condition(table: sa.Table, flt: Filter, query: Query) -> sa.ColumnElement[bool]:
    col = column(table, flt.field, query)
    value = flt.value
    if flt.op is Op.IS_NULL:
        return col.is_(None) if value else col.is_not(None)
    if isinstance(value, Money):
        if flt.field.startswith("custom."):
            currency = custom_expression(table, flt.field, StorageType.MONEY, "currency")
            return _money_condition(col, currency, flt.op, value.amount, value.currency)
        currency = table.c[f"{flt.field}_currency"]
        if flt.op is Op.NE:
            return sa.or_(col.is_(None), currency != value.currency, col != value.minor_units)
        return sa.and_(currency == value.currency, _compare(col, flt.op, value.minor_units))
    if flt.op is Op.IN:
        return col.in_(list(value))
    if flt.op is Op.CONTAINS:
        return _searchable(table, flt.field, col).contains(fold(str(value)), autoescape=True)
    if flt.op is Op.STARTSWITH:
        return _starts_with(col, str(value))
    if flt.op is Op.NE:
        return sa.or_(col != value, col.is_(None))
    return _compare(col, flt.op, value)


class _Folded(sa.sql.expression.ColumnElement[str]):
    """A text column as searches compare it (:func:`pycrm.core.text.fold`)."""

    type = sa.String()
    inherit_cache = True
    _traverse_internals = [("col", InternalTraversal.dp_clauseelement)]  # noqa: RUF012

    def __init__(self, col: sa.ColumnElement[Any]) -> None:
        self.col = col


@compiles(_Folded, "sqlite")
def _folded_sqlite(element: _Folded, compiler: Any, **kw: Any) -> str:
    # pycrm's own function (registered on every connection): Python's folding, row by row.
    return f"pycrm_fold({compiler.process(element.col, **kw)})"


@compiles(_Folded)
def _folded_default(element: _Folded, compiler: Any, **kw: Any) -> str:
    return f"lower(normalize({compiler.process(element.col, **kw)}, NFKC))"


def _searchable(table: sa.Table, field: str, col: sa.ColumnElement[Any]) -> sa.ColumnElement[str]:
    """What a contains-filter on ``field`` reads: its folded copy, kept on write, when the
    table has one (``name_folded``), else the column folded as the query runs."""
    shadow = f"{field}_folded"
    return table.c[shadow] if shadow in table.c else _Folded(col)


class _Prefix(sa.sql.expression.ColumnElement[bool]):
    """``col`` begins with ``prefix``, in a form each database answers from an index."""

    type = sa.Boolean()
    inherit_cache = True
    # A condition in its own right: SQLAlchemy must not compare it with true ("= 1").
    _is_implicitly_boolean = True
    # The prefix is part of the statement's cache key (it is compiled into two bounds).
    _traverse_internals = [  # noqa: RUF012 (SQLAlchemy's own attribute)
        ("col", InternalTraversal.dp_clauseelement),
        ("prefix", InternalTraversal.dp_string),
    ]

    def __init__(self, col: sa.ColumnElement[Any], prefix: str) -> None:
        self.col, self.prefix = col, prefix


@compiles(_Prefix, "sqlite")
def _prefix_sqlite(element: _Prefix, compiler: Any, **kw: Any) -> str:
    # SQLite's LIKE folds case and skips indexes; a range on binary order does neither.
    upper = element.prefix + "\U0010ffff"
    condition = sa.and_(element.col >= element.prefix, element.col < upper)
    return f"({compiler.process(condition, **kw)})"


@compiles(_Prefix)
def _prefix_default(element: _Prefix, compiler: Any, **kw: Any) -> str:
    # LIKE 'p%' is case-sensitive on PostgreSQL and uses a text_pattern_ops index.
    like = element.col.startswith(element.prefix, autoescape=True)
    return f"({compiler.process(like, **kw)})"


def _starts_with(col: sa.ColumnElement[Any], prefix: str) -> sa.ColumnElement[bool]:
    return _Prefix(col, prefix)


def _money_condition(
    amount: sa.ColumnElement[Any], currency: sa.ColumnElement[Any], op: Op, value: Any, code: str
) -> sa.ColumnElement[bool]:
    if op is Op.NE:
        return sa.or_(amount.is_(None), currency != code, amount != value)
    return sa.and_(currency == code, _compare(amount, op, value))


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


def _compile(
    table: sa.Table, condition: Condition, query: Query, tenant: str
) -> sa.ColumnElement[bool]:
    if isinstance(condition, Filter):
        return _condition(table, condition, query)
    if isinstance(condition, AllOf):
        return sa.and_(
            sa.true(), *(_compile(table, c, query, tenant) for c in condition.conditions)
        )
    if isinstance(condition, AnyOf):
        return sa.or_(
            sa.false(), *(_compile(table, c, query, tenant) for c in condition.conditions)
        )
    return _related(table, condition, tenant)


def _related(table: sa.Table, condition: Related, tenant: str) -> sa.ColumnElement[bool]:
    # An alias, so a condition on the same kind (a parent customer) is its own subquery.
    other = cast(sa.Table, tables_of(table).table(condition.kind).alias())
    inner = sa.select(column(other, condition.target)).where(
        other.c.tenant == tenant, _compile(other, condition.condition, Query(), tenant)
    )
    return column(table, condition.field).in_(inner)


def scope_clause(table: sa.Table, scope: Scope, kind: str) -> sa.ColumnElement[bool]:
    """The tenant and the scope's condition for records of ``kind`` in ``table``."""
    visible = scope.condition(kind)
    if visible is None:
        return table.c.tenant == scope.tenant
    try:
        return _scope_clause(table, visible, scope.tenant)
    except TypeError:  # a condition holding an unhashable value (a plugin's list)
        return _scope_clause.__wrapped__(table, visible, scope.tenant)


@functools.lru_cache(maxsize=1024)
def _scope_clause(table: sa.Table, visible: Condition, tenant: str) -> sa.ColumnElement[bool]:
    # A user's scope is the same condition call after call (their rights are kept between
    # units of work): its SQL expression is built once and shared by every statement.
    return sa.and_(table.c.tenant == tenant, _compile(table, visible, Query(), tenant))


def where_clause(table: sa.Table, scope: Scope, query: Query, kind: str) -> sa.ColumnElement[bool]:
    """The WHERE of a read of ``kind``: the scope, soft deletion, ids and the filters."""
    conditions = [scope_clause(table, scope, kind)]
    if query.deleted is not None and "deleted_at" in table.c:
        deleted = table.c.deleted_at
        conditions.append(deleted.is_not(None) if query.deleted else deleted.is_(None))
    if query.ids is not None:
        conditions.append(table.c.id.in_(list(query.ids)))
    conditions += [_compile(table, f, query, scope.tenant) for f in query.filters]
    return sa.and_(*conditions)


def _sort_columns(table: sa.Table, query: Query) -> list[tuple[sa.ColumnElement[Any], bool]]:
    columns = [(column(table, name, query), desc) for name, desc in query.order]
    return [*columns, (table.c.id, False)]


def order_clause(table: sa.Table, query: Query) -> list[sa.UnaryExpression[Any]]:
    """ORDER BY with empty values first ascending and last descending, then id."""
    clauses = []
    for col, desc in _sort_columns(table, query):
        if not _nullable(col):  # plain order: an index gives it without a sort
            clauses.append(col.desc() if desc else col.asc())
        else:
            clauses.append(col.desc().nulls_last() if desc else col.asc().nulls_first())
    return clauses


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
    if not branches:
        return sa.false()
    # The OR of branches is exact but no index can seek it; a range on the first order
    # column that every branch implies lets the database jump to the page.
    return sa.and_(*_leading(columns[0], values[0]), sa.or_(*branches))


def _leading(column: tuple[sa.ColumnElement[Any], bool], value: Any) -> list[Any]:
    col, desc = column
    if value is None:
        return [col.is_(None)] if desc else []
    if not desc:
        return [col >= value]
    return [col <= value] if not _nullable(col) else [sa.or_(col <= value, col.is_(None))]


def _nullable(col: sa.ColumnElement[Any]) -> bool:
    """Whether a sort value can be empty (a JSON value of a custom field always can)."""
    return not isinstance(col, sa.Column) or bool(col.nullable)


def _equal(col: sa.ColumnElement[Any], value: Any) -> sa.ColumnElement[bool]:
    return col.is_(None) if value is None else col == value


def _beyond(col: sa.ColumnElement[Any], value: Any, desc: bool) -> sa.ColumnElement[bool] | None:
    if not desc:
        return col.is_not(None) if value is None else col > value
    if value is None:
        return None
    return col < value if not _nullable(col) else sa.or_(col < value, col.is_(None))
