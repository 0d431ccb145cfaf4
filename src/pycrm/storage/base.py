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
- Filters and orders may name custom fields as ``custom.<key>``: the value sits in the
  record's ``custom`` dict, stored JSON-ready, and ``query.custom_types`` gives its
  :class:`pycrm.core.fields.StorageType`, which says how to compare it: ``integer``
  numbers; ``decimal`` numeric strings compared as numbers (filter values are ``Decimal``);
  ``money`` objects ``{"amount", "currency"}`` (filter values are :class:`pycrm.Money`,
  matching only the same currency; ordering is by amount); ``boolean``; ``text`` (dates and
  datetimes are ISO text, compared as text); ``list`` (only ``is_null``). A missing key is
  an empty value. :func:`custom_sort_value` gives the value to order and page by.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from attrs import field, frozen

from pycrm.core.audit import Change
from pycrm.core.fields import StorageType, comparable
from pycrm.core.records import Record

__all__ = [
    "Filter",
    "Op",
    "Query",
    "StorageBackend",
    "StorageType",
    "Transaction",
    "custom_sort_value",
    "sort_value",
]

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
    previous page (keyset pagination). ``custom_types`` maps every ``custom.<key>`` the
    filters and order name to its :class:`StorageType`.
    """

    filters: tuple[Filter, ...] = ()
    order: tuple[tuple[str, bool], ...] = ()
    limit: int | None = None
    after: tuple[Any, ...] | None = None
    deleted: bool | None = False
    ids: frozenset[uuid.UUID] | None = field(default=None)
    custom_types: dict[str, StorageType] = field(factory=dict, eq=False)


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


def custom_sort_value(record: Record, name: str, storage: StorageType | str) -> Any:
    """The value of custom field ``name`` (``"custom.<key>"``) to order and page by."""
    return comparable(storage, record.custom.get(name.removeprefix("custom.")))


def sort_value(record: Record, name: str, query: Query | None = None) -> Any:
    """The value a backend orders and pages by: money by minor units, enums by value;
    custom fields (of a record as stored) by :func:`custom_sort_value`."""
    from enum import Enum

    from pycrm.core.money import Money

    if name.startswith("custom."):
        types = query.custom_types if query is not None else {}
        return custom_sort_value(record, name, types.get(name, StorageType.TEXT))
    value = getattr(record, name)
    if isinstance(value, Money):
        return value.minor_units
    if isinstance(value, Enum):
        return value.value
    return value
