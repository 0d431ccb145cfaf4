"""Sets of texts in temporary tables (:mod:`pycrm.storage.capabilities.seen`).

Each set is a temporary table of the connection with the texts as its primary key: it
lives in the database's temporary space (its own small cache, spilled to disk), not in
the process. PostgreSQL drops it at commit too (``ON COMMIT DROP``); on either database
creating it is part of the transaction, so a rollback takes it away.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection
from contextlib import AbstractContextManager

import sqlalchemy as sa

__all__ = ["TemporarySet"]

#: Texts per statement on SQLite (a bound parameter each).
_CHUNK = 500


class TemporarySet:
    """A :class:`~pycrm.storage.capabilities.seen.ValueSet` in a temporary table."""

    def __init__(
        self, conn: sa.Connection, translate: Callable[[str], AbstractContextManager[None]]
    ) -> None:
        self._conn, self._translate = conn, translate
        self._postgresql = conn.dialect.name == "postgresql"
        name = f"pycrm_set_{uuid.uuid4().hex[:16]}"
        self._name = f"pg_temp.{name}" if self._postgresql else f"temp.{name}"
        ddl = (
            f"CREATE TEMPORARY TABLE {name} (value text PRIMARY KEY) ON COMMIT DROP"
            if self._postgresql
            else f"CREATE TEMPORARY TABLE {name} (value TEXT PRIMARY KEY) WITHOUT ROWID"
        )
        with self._translate("cannot keep a set of values"):
            conn.exec_driver_sql(ddl)
        self._open = True

    def add(self, values: Collection[str]) -> set[str]:
        """Add values; those that were in already (one statement on PostgreSQL)."""
        wanted = sorted(set(values))
        if not wanted:
            return set()
        with self._translate("cannot keep a set of values"):
            if self._postgresql:
                # The INSERT's own rows are not seen by the statement's SELECT: what it
                # did not insert was there before.
                rows = self._conn.exec_driver_sql(
                    f"WITH given AS (SELECT unnest(%(values)s::text[]) AS value), "
                    f"added AS (INSERT INTO {self._name} SELECT value FROM given "
                    f"ON CONFLICT DO NOTHING RETURNING value) "
                    f"SELECT value FROM given EXCEPT SELECT value FROM added",
                    {"values": wanted},
                )
                return {row[0] for row in rows}
            known: set[str] = set()
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                marks = ", ".join("?" * len(chunk))
                found = self._conn.exec_driver_sql(
                    f"SELECT value FROM {self._name} WHERE value IN ({marks})", tuple(chunk)
                )
                known.update(row[0] for row in found)
                new = [(value,) for value in chunk if value not in known]
                if new:
                    self._conn.exec_driver_sql(f"INSERT INTO {self._name} VALUES (?)", new)
            return known

    def close(self) -> None:
        """Drop the table (once)."""
        if self._open:
            self._open = False
            with self._translate("cannot drop a set of values"):
                self._conn.exec_driver_sql(f"DROP TABLE IF EXISTS {self._name}")
