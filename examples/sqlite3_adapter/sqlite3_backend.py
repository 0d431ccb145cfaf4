"""A complete pycrm storage adapter on the standard library's ``sqlite3`` module.

The worked example of docs/writing-a-storage-adapter.md. It implements only the record
store (``pycrm.storage.base.Transaction``) and passes the whole ``StorageContract``; the
reports use pycrm's fallbacks. Every record is a JSON document (``pycrm.storage.documents``)
in one table, found by its indexed columns (kind, tenant, id, deletion); the query's
conditions, order and page are applied by ``pycrm.storage.matching``, pycrm's reference
semantics. That keeps it short and correct; the guide shows how to move conditions into
SQL (``json_extract``) once a tenant's data grows. Use it with
``pycrm.CRM(Sqlite3Backend("crm.db"))``.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pycrm import Change, ConflictError, StorageError
from pycrm.core.kinds import kind_of
from pycrm.storage.base import UNIQUE_KEYS, Group, Query, Related, Scope
from pycrm.storage.documents import document_value, from_document, to_document
from pycrm.storage.matching import select, tally

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (kind TEXT NOT NULL, tenant TEXT NOT NULL, id TEXT NOT NULL,
    version INTEGER, deleted_at TEXT, doc TEXT NOT NULL, PRIMARY KEY (kind, tenant, id));
CREATE TABLE IF NOT EXISTS changes (tenant TEXT, entity TEXT, record_id TEXT, doc TEXT);
CREATE INDEX IF NOT EXISTS changes_of ON changes (tenant, entity, record_id);
"""


def unique_indexes() -> list[str]:
    """pycrm's unique keys, held by the database: one partial expression index each."""
    statements = []
    for kind, keys in UNIQUE_KEYS.items():
        for key in keys:
            values = ", ".join(f"json_extract(doc, '$.{name}')" for name in key.fields)
            live = " AND deleted_at IS NULL" if key.live_only else ""
            name = f"uq_{kind}_{'_'.join(key.fields)}"
            statements.append(
                f"CREATE UNIQUE INDEX IF NOT EXISTS {name} ON records (tenant, {values}) "
                f"WHERE kind = '{kind}'{live}"
            )
    return statements


class Sqlite3Backend:
    """Keeps pycrm's records in one SQLite file, through the ``sqlite3`` module."""

    name = "sqlite3"

    def __init__(self, path: str) -> None:
        self.path, self._closed = path, False
        self.migrate()

    def begin(self) -> Sqlite3Transaction:
        if self._closed:
            raise StorageError("the sqlite3 backend is closed")
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=5)
        conn.execute("BEGIN IMMEDIATE")  # writers queue up front instead of failing later
        return Sqlite3Transaction(conn)

    def migrate(self) -> None:
        with sqlite3.connect(self.path) as conn:
            conn.executescript(SCHEMA + ";\n".join(unique_indexes()))

    def close(self) -> None:
        self._closed = True


class Sqlite3Transaction:
    """One connection with an open transaction; driver errors become pycrm errors."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def _run(self, sql: str, params: Sequence[Any] = (), many: bool = False) -> sqlite3.Cursor:
        try:
            return self.conn.executemany(sql, params) if many else self.conn.execute(sql, params)
        except sqlite3.IntegrityError as error:
            raise ConflictError(f"an id or unique key is taken: {error}") from error
        except sqlite3.Error as error:
            raise StorageError(f"sqlite3: {error}") from error

    # -- reads: the indexed part in SQL, the rest by pycrm's reference semantics ----------
    def _records(self, kind: Any, scope: Scope, query: Query) -> list[Any]:
        """Records of the scope, with the query's ids and deletion state applied in SQL."""
        sql = "SELECT doc FROM records WHERE kind = ? AND tenant = ?"
        params: list[Any] = [kind.kind, scope.tenant]
        if query.deleted is not None:
            sql += f" AND deleted_at IS {'NOT ' if query.deleted else ''}NULL"
        if query.ids is not None:
            sql += f" AND id IN ({', '.join('?' * len(query.ids)) or 'NULL'})"
            params += [str(i) for i in query.ids]
        found = [from_document(kind, json.loads(doc)) for (doc,) in self._run(sql, params)]
        visible = scope.condition(kind.kind)
        if visible is None:
            return found
        return select(found, Query(filters=(visible,), deleted=None), self._lookup(scope))

    def _lookup(self, scope: Scope) -> Any:
        def related(condition: Related) -> frozenset[Any]:
            rows = self._records(kind_of(condition.kind), Scope(scope.tenant), Query(deleted=None))
            matching = select(rows, Query(filters=(condition.condition,), deleted=None), related)
            return frozenset(getattr(r, condition.target) for r in matching)

        return related

    def get(self, kind: Any, scope: Scope, record_id: uuid.UUID) -> Any:
        found = self.find(kind, scope, Query(ids=frozenset([record_id]), deleted=None))
        return found[0] if found else None

    def find(self, kind: Any, scope: Scope, query: Query) -> list[Any]:
        return select(self._records(kind, scope, query), query, self._lookup(scope))

    def count(self, kind: Any, scope: Scope, query: Query) -> int:
        return len(self.find(kind, scope, _unpaged(query)))

    def group(
        self, kind: Any, scope: Scope, query: Query, by: tuple[str, ...], total: str | None = None
    ) -> list[Group]:
        return tally(self.find(kind, scope, _unpaged(query)), by, total)

    # -- writes ---------------------------------------------------------------------------
    def insert(self, records: Sequence[Any]) -> None:
        rows = [(*_key(r), _deleted(r), json.dumps(to_document(r))) for r in records]
        self._run("INSERT INTO records VALUES (?, ?, ?, ?, ?, ?)", rows, many=True)

    def update(self, record: Any, expected_version: int) -> None:
        sql = "UPDATE records SET version = ?4, deleted_at = ?5, doc = ?6 "
        sql += "WHERE kind = ?1 AND tenant = ?2 AND id = ?3 AND version = ?7"
        doc = json.dumps(to_document(record))
        if self._run(sql, (*_key(record), _deleted(record), doc, expected_version)).rowcount != 1:
            raise ConflictError(f"{record.kind} {record.id} was changed by someone else")

    def record_changes(self, changes: Sequence[Change]) -> None:
        rows = [(c.tenant, c.entity, str(c.record_id), json.dumps(to_document(c))) for c in changes]
        self._run("INSERT INTO changes VALUES (?, ?, ?, ?)", rows, many=True)

    def changes(self, scope: Scope, entity: str, record_id: uuid.UUID) -> list[Change]:
        sql = "SELECT doc FROM changes WHERE tenant = ? AND entity = ? AND record_id = ?"
        rows = self._run(sql, (scope.tenant, entity, str(record_id)))
        found = [from_document(Change, json.loads(doc)) for (doc,) in rows]
        return sorted(found, key=lambda c: (c.version, c.at, c.id))

    # -- ending ---------------------------------------------------------------------------
    @contextmanager
    def savepoint(self) -> Iterator[None]:
        name = f"sp_{uuid.uuid4().hex}"
        self._run(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            self._run(f"ROLLBACK TO {name}")
            raise
        finally:
            self._run(f"RELEASE {name}")

    def commit(self) -> None:
        try:
            self._run("COMMIT")
        finally:
            self.conn.close()

    def rollback(self) -> None:
        try:
            if self.conn.in_transaction:
                self._run("ROLLBACK")
        finally:
            self.conn.close()


def _unpaged(query: Query) -> Query:
    return Query(filters=query.filters, deleted=query.deleted, ids=query.ids,
                 custom_types=query.custom_types)  # fmt: skip


def _key(record: Any) -> tuple[str, str, str, int]:
    return record.kind, record.tenant, str(record.id), getattr(record, "version", 0)


def _deleted(record: Any) -> Any:
    return document_value(getattr(record, "deleted_at", None))
