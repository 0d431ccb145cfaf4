"""The storage protocol: what an adapter implements so pycrm can keep its records there.

An adapter is a :class:`StorageBackend` that opens :class:`Transaction` objects. Services
never talk SQL: they ask a transaction for records by kind, tenant and :class:`Query`, and
hand it records to insert or update. Everything one unit of work does runs in one
transaction, which the unit of work commits or rolls back.

Rules every adapter keeps (the ``pycrm.testing.StorageContract`` suite checks them):

- Every read and write is scoped to one tenant; nothing crosses tenants.
- ``get`` and ``find`` return fresh objects: changing them changes nothing stored.
- ``update`` succeeds only when the stored version equals ``expected_version``, else raises
  :class:`pycrm.ConflictError`; ``insert`` of an id that exists raises ConflictError.
- A rolled-back transaction leaves no trace; driver errors become :class:`pycrm.StorageError`.
- Soft-deleted records (``deleted_at`` set) are skipped by ``find`` and ``count`` unless the
  query says ``deleted=None`` (all) or ``deleted=True`` (only deleted).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from attrs import field, frozen

from pycrm.core.audit import Change
from pycrm.core.records import Record

__all__ = ["Filter", "Group", "Op", "Query", "StorageBackend", "Transaction"]

R = TypeVar("R", bound=Record)


class Op(StrEnum):
    """Filter operators; list keyword suffixes use the same names (``amount__gte``)."""

    EQ = "eq"
    NE = "ne"
    LT = "lt"
    LTE = "lte"
    GT = "gt"
    GTE = "gte"
    IN = "in"
    CONTAINS = "contains"  # case-insensitive substring of a text field
    IS_NULL = "is_null"  # value True: field is empty; False: field is set


@frozen
class Filter:
    """One condition on a field; values are already of the field's type."""

    field: str
    op: Op
    value: Any


@frozen(kw_only=True)
class Query:
    """What to find: conditions (all must hold), order, page size and keyset position.

    ``order`` is a sequence of ``(field, descending)``; the record id is always the final
    tie-breaker, ascending. Empty values sort first in ascending order and last in
    descending order. ``after`` holds the order values and id of the last record of the
    previous page (keyset pagination).
    """

    filters: tuple[Filter, ...] = ()
    order: tuple[tuple[str, bool], ...] = ()
    limit: int | None = None
    after: tuple[Any, ...] | None = None
    deleted: bool | None = False
    ids: frozenset[uuid.UUID] | None = field(default=None)


@frozen
class Group:
    """One group of an aggregate: its key values, how many records, and a money sum.

    When a money field is summed, groups are split by its currency (sums are never added
    across currencies in storage); records without an amount form the group whose
    ``currency`` and ``minor`` are ``None``.
    """

    key: tuple[Any, ...]
    count: int
    currency: str | None = None
    minor: int | None = None


class Transaction(Protocol):
    """One open transaction of a backend."""

    def get(self, kind: type[R], tenant: str, record_id: uuid.UUID) -> R | None:
        """The record with this id in the tenant (deleted or not), or None."""
        ...

    def insert(self, records: Sequence[Record]) -> None:
        """Store new records, all of one kind; may be called with thousands at once."""
        ...

    def update(self, record: Record, expected_version: int) -> None:
        """Replace a stored record whose version is ``expected_version``."""
        ...

    def find(self, kind: type[R], tenant: str, query: Query) -> list[R]:
        """Records of the tenant matching the query, in its order, at most ``limit``."""
        ...

    def count(self, kind: type[Record], tenant: str, query: Query) -> int:
        """How many records match the query's filters (order, limit, after ignored)."""
        ...

    def group(
        self, kind: type[Record], tenant: str, query: Query, by: tuple[str, ...], money: str | None
    ) -> list[Group]:
        """Count the records matching the query's filters per value of the ``by`` fields (and
        per currency of the ``money`` field, whose minor units are summed); sorted by key then
        currency, empty values first. Runs where the data is (GROUP BY on SQL)."""
        ...

    def record_changes(self, changes: Sequence[Change]) -> None:
        """Append audit records."""
        ...

    def changes(self, tenant: str, entity: str, record_id: uuid.UUID) -> list[Change]:
        """The audit records of one record, oldest first."""
        ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...


class StorageBackend(Protocol):
    """A place where pycrm keeps its records."""

    #: Short name shown by ``crm.storage`` and in errors (``"memory"``, ``"sqlite"``).
    name: str

    def begin(self) -> Transaction:
        """Open a transaction; the caller commits or rolls it back."""
        ...

    def migrate(self) -> None:
        """Bring the schema up to date (a no-op where there is no schema)."""
        ...

    def close(self) -> None:
        """Release connections; the backend is unusable afterwards."""
        ...


def sort_value(record: Record, name: str) -> Any:
    """The value a backend orders and pages by: money by minor units, enums by value."""
    from enum import Enum

    from pycrm.core.money import Money

    value = getattr(record, name)
    if isinstance(value, Money):
        return value.minor_units
    if isinstance(value, Enum):
        return value.value
    return value
