"""The in-memory backend: for unit tests, prototypes and as the reference behaviour.

Transactions are serialised by one re-entrant lock; writes go straight to the store and an
undo log puts them back on rollback. Every record handed out is a deep copy.
"""

from __future__ import annotations

import copy
import functools
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import attrs

from pycrm.core.audit import Change
from pycrm.errors import ConflictError, StorageError
from pycrm.storage.base import UNIQUE_KEYS, Group, Query, Related, Scope, Stored
from pycrm.storage.matching import Lookup, matches, select, tally

__all__ = ["MemoryBackend"]

S = TypeVar("S", bound=Stored)

#: Seconds a transaction waits for another thread's to end (SQLite's busy timeout too).
LOCK_TIMEOUT = 5.0
Table = dict[uuid.UUID, Any]


def _discard(table: Table, record_id: uuid.UUID) -> None:
    table.pop(record_id, None)


class MemoryBackend:
    """Keeps every tenant's records in dictionaries of this process."""

    name = "memory"

    def __init__(self) -> None:
        self._tables: dict[tuple[str, str], Table] = {}
        self._changes: list[Change] = []
        self.org_versions: dict[str, int] = {}
        self.config_versions: dict[str, int] = {}
        self.sequences: dict[tuple[str, str, str], int] = {}
        self._lock = threading.Lock()
        self._holder: int | None = None  # the thread whose transaction is open
        self._closed = False

    def begin(self) -> MemoryTransaction:
        if self._closed:
            raise StorageError("the memory backend is closed")
        return MemoryTransaction(self)

    def migrate(self) -> None:
        """Nothing to migrate: the memory backend has no schema."""

    def close(self) -> None:
        self._closed = True

    def acquire(self) -> None:
        """Take the store for one transaction; transactions run one at a time, and one of
        another thread waits for the open one to end (up to :data:`LOCK_TIMEOUT`)."""
        if self._holder == threading.get_ident():
            # The open transaction belongs to this thread: to a unit of work of this context
            # (the CRM refuses that one first), or of another asyncio task on the same event
            # loop. Waiting would block the very thread that has to end it (SQLite would
            # report "database is locked" after its timeout): say at once what is wrong.
            raise StorageError(
                "the memory backend's transaction is held by another unit of work in this "
                "thread (this task's, or another task's on the same event loop): finish it "
                "first, or run the tasks' units of work through pycrm.AsyncCRM, which gives "
                "each one a thread of its own"
            )
        if not self._lock.acquire(timeout=LOCK_TIMEOUT):
            raise StorageError(f"the memory backend stayed busy for {LOCK_TIMEOUT} s")
        self._holder = threading.get_ident()

    def release(self) -> None:
        self._holder = None
        self._lock.release()

    def table(self, kind: str, tenant: str) -> Table:
        return self._tables.setdefault((kind, tenant), {})


class MemoryTransaction:
    """A transaction of :class:`MemoryBackend`; holds the backend's lock until it ends."""

    #: One transaction at a time: nothing it reads changes under it.
    writers_take_turns = True

    def __init__(self, backend: MemoryBackend) -> None:
        self._backend = backend
        backend.acquire()
        self._undo: list[Callable[[], None]] = []
        self._open = True

    def _check_open(self) -> None:
        if not self._open:
            raise StorageError("this transaction has already ended")

    def _visible(self, kind: str, scope: Scope) -> list[Any]:
        """The records of ``kind`` in the scope (deleted ones too)."""
        rows = self._backend.table(kind, scope.tenant).values()
        condition = scope.condition(kind)
        if condition is None:
            return list(rows)
        lookup = self._lookup(scope.tenant)
        return [r for r in rows if matches(r, (condition,), None, lookup)]

    def _lookup(self, tenant: str) -> Lookup:
        def related(condition: Related) -> frozenset[Any]:
            rows = self._backend.table(condition.kind, tenant).values()
            return frozenset(
                getattr(r, condition.target)
                for r in rows
                if matches(r, (condition.condition,), None, related)
            )

        return related

    def get(self, kind: type[S], scope: Scope, record_id: uuid.UUID) -> S | None:
        self._check_open()
        query = Query(ids=frozenset([record_id]), deleted=None)
        found = select(self._visible(kind.kind, scope), query, self._lookup(scope.tenant))
        return copy.deepcopy(found[0]) if found else None

    def insert(self, records: Sequence[Stored]) -> None:
        self._check_open()
        for record in records:
            table = self._backend.table(record.kind, record.tenant)
            if record.id in table:
                raise ConflictError(f"{record.kind} {record.id} already exists")
            _check_unique(table, record)
            table[record.id] = copy.deepcopy(record)
            self._undo.append(functools.partial(_discard, table, record.id))

    def update(self, record: Stored, expected_version: int) -> None:
        self._check_open()
        table = self._backend.table(record.kind, record.tenant)
        stored = table.get(record.id)
        if stored is None or getattr(stored, "version", None) != expected_version:
            raise ConflictError(
                f"{record.kind} {record.id} was changed by someone else (expected version "
                f"{expected_version}); read it again and retry"
            )
        _check_unique(table, record)
        table[record.id] = copy.deepcopy(record)
        self._undo.append(functools.partial(table.__setitem__, record.id, stored))

    def find(self, kind: type[S], scope: Scope, query: Query) -> list[S]:
        self._check_open()
        rows = select(self._visible(kind.kind, scope), query, self._lookup(scope.tenant))
        return [copy.deepcopy(r) for r in rows]

    def stream(
        self, kind: type[S], scope: Scope, query: Query, batch_size: int
    ) -> Iterator[list[S]]:
        """The streaming capability (:mod:`pycrm.storage.capabilities.streaming`): the
        matching records as they are when the stream starts (a snapshot, as a database
        cursor gives), copied a batch at a time."""
        self._check_open()
        lookup = self._lookup(scope.tenant)
        rows = select(self._visible(kind.kind, scope), _unlimited(query), lookup)
        for start in range(0, len(rows), batch_size):
            self._check_open()
            yield [copy.deepcopy(r) for r in rows[start : start + batch_size]]

    def count(self, kind: type[Stored], scope: Scope, query: Query) -> int:
        self._check_open()
        return len(
            select(self._visible(kind.kind, scope), _unpaged(query), self._lookup(scope.tenant))
        )

    def group(
        self,
        kind: type[Stored],
        scope: Scope,
        query: Query,
        by: tuple[str, ...],
        total: str | None = None,
    ) -> list[Group]:
        self._check_open()
        rows = select(self._visible(kind.kind, scope), _unpaged(query), self._lookup(scope.tenant))
        return tally(rows, by, total)

    def record_changes(self, changes: Sequence[Change]) -> None:
        self._check_open()
        start = len(self._backend._changes)
        self._backend._changes.extend(changes)
        self._undo.append(lambda: self._backend._changes.__delitem__(slice(start, None)))

    def changes(self, scope: Scope, entity: str, record_id: uuid.UUID) -> list[Change]:
        self._check_open()
        found = [
            c
            for c in self._backend._changes
            if c.tenant == scope.tenant and c.entity == entity and c.record_id == record_id
        ]
        return sorted(found, key=lambda c: (c.version, c.at, c.id))

    def organisation_version(self, tenant: str) -> int:
        self._check_open()
        return self._backend.org_versions.get(tenant, 0)

    def raise_organisation_version(self, tenant: str) -> None:
        self._check_open()
        versions = self._backend.org_versions
        before = versions.get(tenant, 0)
        versions[tenant] = before + 1
        self._undo.append(lambda: versions.__setitem__(tenant, before))

    def tenant_versions(self, tenant: str) -> tuple[int, int]:
        self._check_open()
        backend = self._backend
        return backend.org_versions.get(tenant, 0), backend.config_versions.get(tenant, 0)

    def raise_configuration_version(self, tenant: str) -> None:
        self._check_open()
        versions = self._backend.config_versions
        before = versions.get(tenant, 0)
        versions[tenant] = before + 1
        self._undo.append(lambda: versions.__setitem__(tenant, before))

    def next_numbers(self, tenant: str, sequence: str, period: str, count: int) -> int:
        self._check_open()
        counters, key = self._backend.sequences, (tenant, sequence, period)
        before = counters.get(key)
        counters[key] = (before or 0) + count
        if before is None:
            self._undo.append(lambda: _discard_key(counters, key))
        else:
            self._undo.append(lambda: counters.__setitem__(key, before))
        return counters[key]

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        self._check_open()
        mark = len(self._undo)
        try:
            yield
        except BaseException:
            while len(self._undo) > mark:
                self._undo.pop()()
            raise

    def commit(self) -> None:
        self._end()

    def rollback(self) -> None:
        if self._open:
            for undo in reversed(self._undo):
                undo()
        self._end()

    def _end(self) -> None:
        if self._open:
            self._open = False
            self._undo.clear()
            self._backend.release()


def _discard_key(counters: dict[Any, Any], key: Any) -> None:
    counters.pop(key, None)


def _deleted(record: Any) -> bool:
    return getattr(record, "deleted_at", None) is not None


def _unpaged(query: Query) -> Query:
    return attrs.evolve(query, order=(), after=None, limit=None)


def _unlimited(query: Query) -> Query:
    return attrs.evolve(query, limit=None)


def _check_unique(table: Table, record: Any) -> None:
    """The memory backend's unique keys (:data:`pycrm.storage.base.UNIQUE_KEYS`)."""
    for key in UNIQUE_KEYS.get(record.kind, ()):
        values = [getattr(record, name) for name in key.fields]
        if any(v is None for v in values) or (key.live_only and _deleted(record)):
            continue
        for other in table.values():
            if other.id == record.id or (key.live_only and _deleted(other)):
                continue
            if [getattr(other, n) for n in key.fields] == values:
                raise ConflictError(
                    f"{record.kind} {other.id} already has {', '.join(key.fields)} = "
                    f"{', '.join(map(str, values))}",
                    fields=key.fields,
                )
