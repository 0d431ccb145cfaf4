"""Sets of texts in temporary tables (:mod:`pycrm.storage.capabilities.seen`).

Each set is a temporary table of the connection with the texts as its primary key: it
lives in the database's temporary space (its own small cache, spilled to disk), not in
the process. The table is made when the first texts come (a set that stays empty costs
nothing); PostgreSQL drops it at commit too (``ON COMMIT DROP``), and on either database
making it is part of the transaction, so a rollback takes it away. Where the database
refuses it (a PostgreSQL role without the ``TEMPORARY`` privilege) the set is kept in
memory instead, with a warning. (A PostgreSQL transaction that made a temporary table
cannot be prepared for a two-phase commit: a host that prepares its transactions imports
files with external ids in a transaction of their own.)
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Collection
from contextlib import AbstractContextManager

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from pycrm.errors import StorageError
from pycrm.storage.capabilities.seen import InMemory

__all__ = ["TemporarySet"]

log = logging.getLogger(__name__)

#: Texts per statement on SQLite (a bound parameter each).
_CHUNK = 500


class TemporarySet:
    """A :class:`~pycrm.storage.capabilities.seen.ValueSet` in a temporary table."""

    def __init__(
        self, conn: sa.Connection, translate: Callable[[str], AbstractContextManager[None]]
    ) -> None:
        self._conn, self._translate = conn, translate
        self._postgresql = conn.dialect.name == "postgresql"
        self._name = f"pycrm_set_{uuid.uuid4().hex[:16]}"
        #: The table's name once made (qualified by the temporary schema).
        self._table: str | None = None
        #: Where the texts are kept when the database would not make the table.
        self._memory: InMemory | None = None

    def add(self, values: Collection[str]) -> set[str]:
        """Add values; those that were in already (one statement on PostgreSQL)."""
        wanted = sorted(set(values))
        if not wanted:
            return set()
        if self._memory is None and self._table is None:
            self._make()
        if self._memory is not None:
            return self._memory.add(wanted)
        with self._translate("cannot keep a set of values"):
            return self._add_postgresql(wanted) if self._postgresql else self._add_sqlite(wanted)

    def close(self) -> None:
        """Drop the table (once), or forget the texts kept in memory."""
        if self._memory is not None:
            self._memory.close()
        table, self._table = self._table, None
        if table is not None:
            with self._translate("cannot drop a set of values"):
                self._conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")

    def _make(self) -> None:
        ddl = (
            f"CREATE TEMPORARY TABLE {self._name} (value text PRIMARY KEY) ON COMMIT DROP"
            if self._postgresql
            else f"CREATE TEMPORARY TABLE {self._name} (value TEXT PRIMARY KEY) WITHOUT ROWID"
        )
        try:
            # In a savepoint: a refusal leaves the transaction usable.
            with self._translate("cannot keep a set of values"), self._conn.begin_nested():
                self._conn.exec_driver_sql(ddl)
        except StorageError as error:
            log.warning("%s; the set is kept in memory", error)
            self._memory = InMemory()
            return
        self._table = f"pg_temp.{self._name}" if self._postgresql else f"temp.{self._name}"

    def _add_postgresql(self, wanted: list[str]) -> set[str]:
        # The INSERT's own rows are not seen by the statement's SELECT: what it did not
        # insert was there before.
        statement = sa.text(
            f"WITH given AS (SELECT unnest(:values) AS value), "
            f"added AS (INSERT INTO {self._table} SELECT value FROM given "
            f"ON CONFLICT DO NOTHING RETURNING value) "
            f"SELECT value FROM given EXCEPT SELECT value FROM added"
        ).bindparams(sa.bindparam("values", type_=postgresql.ARRAY(sa.Text())))
        return {row[0] for row in self._conn.execute(statement, {"values": wanted})}

    def _add_sqlite(self, wanted: list[str]) -> set[str]:
        known: set[str] = set()
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            found = self._conn.exec_driver_sql(
                f"SELECT value FROM {self._table} WHERE value IN ({marks})", tuple(chunk)
            )
            known.update(row[0] for row in found)
            new = [(value,) for value in chunk if value not in known]
            if new:
                self._conn.exec_driver_sql(f"INSERT INTO {self._table} VALUES (?)", new)
        return known
