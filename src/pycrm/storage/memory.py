"""The in-memory backend: for unit tests, prototypes and as the reference behaviour.

Transactions are serialised by one re-entrant lock; writes go straight to the store and an
undo log puts them back on rollback. Every record handed out is a deep copy.
"""

from __future__ import annotations

import copy
import functools
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from pycrm.core.audit import Change
from pycrm.core.fields import StorageType
from pycrm.core.opportunities import Opportunity
from pycrm.core.pipeline import StageTransition
from pycrm.core.records import Record
from pycrm.errors import ConflictError, StorageError
from pycrm.storage.base import (
    UNIQUE_KEYS,
    Query,
    sort_value,
)
from pycrm.storage.computed import ComputedQueries
from pycrm.storage.matching import matches

__all__ = ["MemoryBackend", "matches", "order_key"]

R = TypeVar("R", bound=Record)

#: Seconds a transaction waits for another thread's to end (SQLite's busy timeout too).
LOCK_TIMEOUT = 5.0
Table = dict[uuid.UUID, Record]


def _cmp_values(a: Any, b: Any, descending: bool) -> int:
    if a == b:
        return 0
    # Empty sorts first ascending, last descending, as the SQL adapter orders it.
    if a is None:
        result = -1
    elif b is None:
        result = 1
    else:
        result = -1 if a < b else 1
    return -result if descending else result


def order_key(
    order: Sequence[tuple[str, bool]], types: Mapping[str, StorageType] | None = None
) -> Callable[[Record], Any]:
    """A sort key for records by ``order`` then id."""
    query = Query(custom_types=dict(types or {}))

    def values(record: Record) -> list[Any]:
        return [sort_value(record, name, query) for name, _ in order] + [record.id]

    directions = [desc for _, desc in order] + [False]

    def compare(a: list[Any], b: list[Any]) -> int:
        for x, y, desc in zip(a, b, directions, strict=True):
            if c := _cmp_values(x, y, desc):
                return c
        return 0

    key = functools.cmp_to_key(compare)
    return lambda record: key(values(record))


def _discard(table: Table, record_id: uuid.UUID) -> None:
    table.pop(record_id, None)


class MemoryBackend:
    """Keeps every tenant's records in dictionaries of this process."""

    name = "memory"

    def __init__(self) -> None:
        self._tables: dict[tuple[str, str], Table] = {}
        self._changes: list[Change] = []
        self._transitions: dict[str, list[StageTransition]] = {}
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
        """Take the store for one transaction; transactions run one at a time."""
        if self._holder == threading.get_ident():
            # The same thread would wait for itself: SQLite would report "database is
            # locked" after its timeout; say at once what is wrong.
            raise StorageError(
                "a unit of work is already open in this thread: finish it before starting "
                "another (or do the work inside it)"
            )
        if not self._lock.acquire(timeout=LOCK_TIMEOUT):
            raise StorageError(f"the memory backend stayed busy for {LOCK_TIMEOUT} s")
        self._holder = threading.get_ident()

    def release(self) -> None:
        self._holder = None
        self._lock.release()

    def table(self, kind: str, tenant: str) -> Table:
        return self._tables.setdefault((kind, tenant), {})


class MemoryTransaction(ComputedQueries):
    """A transaction of :class:`MemoryBackend`; holds the backend's lock until it ends."""

    def __init__(self, backend: MemoryBackend) -> None:
        self._backend = backend
        backend.acquire()
        self._undo: list[Callable[[], None]] = []
        self._open = True

    def _check_open(self) -> None:
        if not self._open:
            raise StorageError("this transaction has already ended")

    def _table(self, kind: str, tenant: str) -> Table:
        return self._backend.table(kind, tenant)

    def _stored_transitions(self, tenant: str) -> list[StageTransition]:
        return self._backend._transitions.get(tenant, [])

    def get(self, kind: type[R], tenant: str, record_id: uuid.UUID) -> R | None:
        self._check_open()
        found = self._backend.table(kind.kind, tenant).get(record_id)
        return copy.deepcopy(found) if found is not None else None  # type: ignore[return-value]

    def insert(self, records: Sequence[Record]) -> None:
        self._check_open()
        for record in records:
            table = self._backend.table(record.kind, record.tenant)
            if record.id in table:
                raise ConflictError(f"{record.kind} {record.id} already exists")
            _check_unique(table, record)
            table[record.id] = copy.deepcopy(record)
            self._undo.append(functools.partial(_discard, table, record.id))

    def update(self, record: Record, expected_version: int) -> None:
        self._check_open()
        table = self._backend.table(record.kind, record.tenant)
        stored = table.get(record.id)
        if stored is None or stored.version != expected_version:
            raise ConflictError(
                f"{record.kind} {record.id} was changed by someone else (expected version "
                f"{expected_version}); read it again and retry"
            )
        _check_unique(table, record)
        table[record.id] = copy.deepcopy(record)
        self._undo.append(functools.partial(table.__setitem__, record.id, stored))

    def find(self, kind: type[R], tenant: str, query: Query) -> list[R]:
        self._check_open()
        key = order_key(query.order, query.custom_types)
        rows = sorted(self._select(kind, tenant, query), key=key)
        if query.after is not None:
            marker = _Marker(query.order, query.after)
            rows = [r for r in rows if key(r) > key(marker)]  # type: ignore[arg-type]
        if query.limit is not None:
            rows = rows[: query.limit]
        return [copy.deepcopy(r) for r in rows]  # type: ignore[misc]

    def count(self, kind: type[Record], tenant: str, query: Query) -> int:
        self._check_open()
        return len(self._select(kind, tenant, query))

    def record_changes(self, changes: Sequence[Change]) -> None:
        self._check_open()
        start = len(self._backend._changes)
        self._backend._changes.extend(changes)
        self._undo.append(lambda: self._backend._changes.__delitem__(slice(start, None)))

    def changes(self, tenant: str, entity: str, record_id: uuid.UUID) -> list[Change]:
        self._check_open()
        found = [
            c
            for c in self._backend._changes
            if c.tenant == tenant and c.entity == entity and c.record_id == record_id
        ]
        return sorted(found, key=lambda c: (c.version, c.at, c.id))

    # -- pipelines ----------------------------------------------------------------------
    def add_transitions(self, transitions: Sequence[StageTransition]) -> None:
        self._check_open()
        for item in transitions:
            if self._backend.table(Opportunity.kind, item.tenant).get(item.opportunity_id) is None:
                raise ConflictError(f"no opportunity {item.opportunity_id} in {item.tenant!r}")
            rows = self._backend._transitions.setdefault(item.tenant, [])
            rows.append(item)
            self._undo.append(functools.partial(rows.remove, item))

    def transitions(self, tenant: str, opportunity_id: uuid.UUID) -> list[StageTransition]:
        self._check_open()
        rows = self._backend._transitions.get(tenant, [])
        return sorted(
            (t for t in rows if t.opportunity_id == opportunity_id), key=lambda t: (t.at, t.id)
        )

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


def _check_unique(table: Table, record: Record) -> None:
    """The memory backend's unique keys (:data:`pycrm.storage.base.UNIQUE_KEYS`)."""
    for key in UNIQUE_KEYS.get(record.kind, ()):
        values = [getattr(record, name) for name in key]
        if any(v is None for v in values):
            continue
        for other in table.values():
            if other.id != record.id and [getattr(other, n) for n in key] == values:
                raise ConflictError(
                    f"{record.kind} {other.id} already has {', '.join(key)} = "
                    f"{', '.join(map(str, values))}"
                )


class _Marker:
    """Stands in for the last record of the previous page when comparing positions."""

    def __init__(self, order: Sequence[tuple[str, bool]], after: tuple[Any, ...]) -> None:
        self._values = dict(zip([name for name, _ in order], after, strict=False))
        self.id = after[-1]
        self.custom = {k.removeprefix("custom."): v for k, v in self._values.items()}

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None
