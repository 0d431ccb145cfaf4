"""The storage protocol: what an adapter implements so pycrm can keep its records there.

An adapter is a :class:`StorageBackend` that opens :class:`Transaction` objects: a small
record store. Services never talk SQL: they ask a transaction for records by kind,
:class:`Scope` and :class:`Query`, and hand it records to insert or update. Everything one
unit of work does runs in one transaction, which the unit of work commits or rolls back.

Reports need aggregates beyond :meth:`Transaction.group`; those are optional
*capabilities* (:mod:`pycrm.storage.capabilities`): an adapter that implements one gets
its speed, one that does not gets a public fallback written on this record store.

Rules every adapter keeps (the ``pycrm.testing.StorageContract`` suite checks them):

- Every read takes a :class:`Scope`: only records of its tenant that meet its condition
  for their kind are read, counted or summed; nothing crosses tenants.
- ``get`` and ``find`` return fresh objects: changing them changes nothing stored.
- ``update`` succeeds only when the stored version equals ``expected_version``, else raises
  :class:`pycrm.ConflictError`; ``insert`` of an id that exists, or of a record that would
  break a :data:`UNIQUE_KEYS` key, raises ConflictError. The database (or the adapter's
  lock) holds the keys, so concurrent writers cannot both pass.
- A rolled-back transaction leaves no trace; driver errors become :class:`pycrm.StorageError`.
- Soft-deleted records (``deleted_at`` set) are skipped by ``find``, ``count`` and
  ``group`` unless the query says ``deleted=None`` (all) or ``deleted=True`` (only deleted).
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
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar

from attrs import frozen

from pycrm.core.audit import Change
from pycrm.core.fields import StorageType
from pycrm.storage.query import (
    EVERYTHING,
    NOTHING,
    AllOf,
    AnyOf,
    Condition,
    Filter,
    Op,
    Query,
    Related,
    Scope,
    Stored,
    custom_sort_value,
    sort_value,
)

__all__ = [
    "EVERYTHING",
    "NOTHING",
    "UNIQUE_KEYS",
    "AllOf",
    "AnyOf",
    "Condition",
    "Filter",
    "Group",
    "Op",
    "Query",
    "Related",
    "Scope",
    "StorageBackend",
    "StorageType",
    "Stored",
    "Transaction",
    "UniqueKey",
    "custom_sort_value",
    "sort_value",
]

S = TypeVar("S", bound=Stored)


@frozen
class UniqueKey:
    """No two records of a kind in one tenant share all of ``fields`` (records where one
    of them is empty are exempt, as with SQL NULLs; with ``live_only``, soft-deleted
    records are exempt too)."""

    fields: tuple[str, ...]
    live_only: bool = False


#: Unique keys besides the id, per kind. Inserting or updating a record into a duplicate
#: raises :class:`pycrm.ConflictError`.
UNIQUE_KEYS: dict[str, tuple[UniqueKey, ...]] = {
    # One dunning to-do per installment and due date, ever (deleted ones count).
    "activity": (UniqueKey(("dunning_installment_id", "dunning_due_on")),),
    # One payment plan per order; a deleted plan makes room for a new one.
    "payment_plan": (UniqueKey(("order_id",), live_only=True),),
    # One entry per configured item, and one rate per currency pair and start date.
    "config_entry": (UniqueKey(("section", "key")),),
    "exchange_rate": (UniqueKey(("base", "quote", "valid_from")),),
    # An external id (an ERP's key) names one live record of its kind: imports upsert by it.
    **{
        kind: (UniqueKey(("external_id",), live_only=True),)
        for kind in ("customer", "contact", "lead", "product", "opportunity")
    },
    # One alert per sweep rule, record and occasion: the sweep raises nothing twice.
    "alert": (UniqueKey(("rule", "subject", "occasion")),),
}


@frozen
class Group:
    """One group of :meth:`Transaction.group`: its key values, how many records, a total.

    When a money field is totalled, groups are split by its currency (sums are never added
    across currencies in storage), ``total`` is in minor units, and records without an
    amount form the group whose ``currency`` and ``total`` are ``None``. An integer field
    is summed as it is (``currency`` None).
    """

    key: tuple[Any, ...]
    count: int
    currency: str | None = None
    total: int | None = None


class Transaction(Protocol):
    """One open transaction of a backend: the record store every adapter implements."""

    def get(self, kind: type[S], scope: Scope, record_id: uuid.UUID) -> S | None:
        """The record with this id in the scope (deleted or not), or None."""
        ...

    def insert(self, records: Sequence[Stored]) -> None:
        """Store new records, all of one kind; may be called with thousands at once."""
        ...

    def update(self, record: Stored, expected_version: int) -> None:
        """Replace a stored record whose version is ``expected_version``."""
        ...

    def find(self, kind: type[S], scope: Scope, query: Query) -> list[S]:
        """Records in the scope matching the query, in its order, at most ``limit``."""
        ...

    def count(self, kind: type[Stored], scope: Scope, query: Query) -> int:
        """How many records match (order, limit and ``after`` are ignored)."""
        ...

    def group(
        self,
        kind: type[Stored],
        scope: Scope,
        query: Query,
        by: tuple[str, ...],
        total: str | None = None,
    ) -> list[Group]:
        """Count the matching records per value of the ``by`` fields and sum ``total`` (a
        money field, per currency, or an integer field) per group; sorted by key then
        currency, empty values first. Runs where the data is (GROUP BY on SQL)."""
        ...

    def record_changes(self, changes: Sequence[Change]) -> None:
        """Append audit records."""
        ...

    def changes(self, scope: Scope, entity: str, record_id: uuid.UUID) -> list[Change]:
        """The audit records of one record of the scope's tenant, oldest first."""
        ...

    def savepoint(self) -> AbstractContextManager[None]:
        """A block whose writes are undone if it raises (the transaction stays open).

        The unit of work runs each service call in one, so a call that fails inside a
        larger unit of work leaves nothing behind even when the caller catches the error.
        """
        ...

    def commit(self) -> None:
        """Make every write of the transaction permanent and end it."""
        ...

    def rollback(self) -> None:
        """Undo every write of the transaction and end it."""
        ...


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
