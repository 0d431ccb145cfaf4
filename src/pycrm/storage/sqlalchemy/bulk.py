"""Bulk inserts: the driver's ``executemany`` fed with SQLAlchemy's own bind processing.

``conn.execute(table.insert(), list_of_dicts)`` builds and processes a parameter dict per
row in Python. A :class:`BulkInsert` compiles the INSERT once per table, column list and
dialect, then runs each column's bind processor (the very ones SQLAlchemy would apply:
UUIDs, UTC datetimes, JSON) over a whole column at a time and hands the rows to the
driver. Values stored are the same as through ``conn.execute``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import sqlalchemy as sa

from pycrm.core.snapshot import map_distinct

__all__ = ["BulkInsert", "bulk_insert"]


class BulkInsert:
    """An INSERT of some columns of one table, compiled for one dialect."""

    def __init__(self, table: sa.Table, columns: Sequence[str], dialect: sa.Dialect) -> None:
        compiled = table.insert().compile(dialect=dialect, column_keys=list(columns))
        self.sql = compiled.string
        self.columns = tuple(columns)
        self._processors: list[Callable[[Any], Any] | None] = [
            table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns
        ]
        # Positional drivers (sqlite3: "?") take tuples in the statement's order; named
        # ones (psycopg: "%(name)s") take dicts.
        self._order: list[int] | None = None
        if dialect.positional:
            self._order = [self.columns.index(name) for name in compiled.positiontup or ()]

    def parameters(self, values: Sequence[Sequence[Any]]) -> list[Any]:
        """Driver parameters from column values (one sequence per column, in order)."""
        processed = [
            column if process is None else map_distinct(process, column)
            for column, process in zip(values, self._processors, strict=True)
        ]
        if self._order is not None:
            return list(zip(*[processed[i] for i in self._order], strict=True))
        return [dict(zip(self.columns, row, strict=True)) for row in zip(*processed, strict=True)]

    def execute(self, conn: sa.Connection, values: Sequence[Sequence[Any]]) -> None:
        """Insert the rows whose column values are given (nothing when there are none)."""
        params = self.parameters(values)
        if params:
            conn.exec_driver_sql(self.sql, params)


@lru_cache(maxsize=256)
def _compiled(table: sa.Table, columns: tuple[str, ...], dialect: sa.Dialect) -> BulkInsert:
    return BulkInsert(table, columns, dialect)


def bulk_insert(
    conn: sa.Connection, table: sa.Table, columns: Sequence[str], values: Sequence[Sequence[Any]]
) -> None:
    """Insert rows given column-wise into ``table`` on ``conn`` (compiled once, cached)."""
    _compiled(table, tuple(columns), conn.dialect).execute(conn, values)
