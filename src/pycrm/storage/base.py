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

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from enum import StrEnum
from typing import Any, Literal, Protocol, TypeVar

from attrs import field, frozen

from pycrm.core.audit import Change
from pycrm.core.fields import StorageType, comparable
from pycrm.core.opportunities import Opportunity
from pycrm.core.pipeline import StageTransition
from pycrm.core.records import Record

__all__ = [
    "AGING_BUCKETS",
    "UNIQUE_KEYS",
    "AgingSum",
    "DatedSum",
    "DwellTotals",
    "Filter",
    "Group",
    "Op",
    "OpenInstallment",
    "OpportunityTotals",
    "Query",
    "StaleRule",
    "StorageBackend",
    "StorageType",
    "Transaction",
    "aging_bucket",
    "custom_sort_value",
    "sort_value",
]

#: Unique keys besides the id, per kind: no two records of a tenant share all these
#: values (records where one of them is empty are exempt, as with SQL NULLs). Inserting a
#: duplicate raises :class:`pycrm.ConflictError`.
UNIQUE_KEYS: dict[str, tuple[tuple[str, ...], ...]] = {
    "activity": (("dunning_installment_id", "dunning_due_on"),),
}

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


@frozen(kw_only=True)
class OpenInstallment:
    """An installment with money still to collect, with what a list of due payments shows.

    ``department_id`` is the department of the installment's owner (None without one).
    """

    installment_id: uuid.UUID
    plan_id: uuid.UUID
    order_id: uuid.UUID | None
    customer_id: uuid.UUID | None
    customer_name: str | None
    owner_id: uuid.UUID | None
    department_id: uuid.UUID | None
    due_on: dt.date
    amount_minor: int
    paid_minor: int
    currency: str


@frozen(kw_only=True)
class DatedSum:
    """Minor units of one currency summed per day, owner and the owner's department."""

    day: dt.date
    owner_id: uuid.UUID | None
    department_id: uuid.UUID | None
    currency: str
    minor: int


@frozen(kw_only=True)
class AgingSum:
    """Outstanding minor units of one currency per key (customer or owner) and bucket."""

    key: uuid.UUID | None
    bucket: int
    currency: str
    minor: int


#: The most days overdue of aging buckets 0 to 3: current (not yet overdue), 1–30, 31–60,
#: 61–90; bucket 4 holds everything more than 90 days overdue.
AGING_BUCKETS: tuple[int, ...] = (0, 30, 60, 90)


def aging_bucket(due_on: dt.date, on: dt.date) -> int:
    """The bucket of an installment due ``due_on`` seen on ``on`` (0 = not yet overdue)."""
    late = (on - due_on).days
    return next((i for i, most in enumerate(AGING_BUCKETS) if late <= most), 4)


@frozen(kw_only=True)
class OpportunityTotals:
    """Sums over one group of opportunities, in one currency (``None``: no amount).

    ``keys`` holds the values of the grouping fields, in the order asked for.
    ``weighted_units`` is the sum of ``amount minor units x probability`` (an empty
    probability counts as 0): divide by 100 for the weighted amount in minor units.
    Only when asked for (``cycle=True``): ``closed`` counts the opportunities of the group
    that have a ``closed_at`` and ``cycle_seconds`` sums their ``closed_at - created_at``
    (each to the nearest second); both are 0 otherwise.
    """

    keys: tuple[Any, ...]
    currency: str | None
    count: int
    amount_units: int
    weighted_units: int
    closed: int
    cycle_seconds: int


@frozen(kw_only=True)
class DwellTotals:
    """Completed stays in stages: how many, and their total length in milliseconds."""

    keys: tuple[Any, ...]
    stays: int
    dwell_ms: int


@frozen(kw_only=True)
class StaleRule:
    """Which open opportunities of one stage are stale.

    An open, undeleted opportunity of ``pipeline`` in ``stage`` is stale when its last
    contact (its creation time if never contacted) is at or before ``contact_before``, or
    when it entered the stage strictly before ``entered_before``; a ``None`` bound is no
    condition.
    """

    pipeline: str
    stage: str
    contact_before: dt.datetime | None = None
    entered_before: dt.datetime | None = None


#: Fields of an opportunity reports may group by, besides its own scalar fields: the
#: owner's department (``users.department_id``).
OWNER_DEPARTMENT = "department_id"


class Transaction(Protocol):
    """One open transaction of a backend.

    Besides reading and writing records, a transaction answers the few aggregate
    questions reports ask (``open_installments`` to ``aging_sums``); SQL adapters run them
    as GROUP BY queries in the database, never by loading every record.
    """

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

    # -- receivables -------------------------------------------------------------------
    def open_installments(
        self,
        tenant: str,
        *,
        due_from: dt.date | None,
        due_to: dt.date | None,
        owner_id: uuid.UUID | None = None,
        department_ids: frozenset[uuid.UUID] | None = None,
    ) -> list[OpenInstallment]:
        """Installments of undeleted plans with ``paid < amount`` due between ``due_from`` and
        ``due_to`` (inclusive, None = open-ended), optionally of one owner or of owners in
        the given departments, ordered by due date, then installment id."""
        ...

    def sales_by_day(self, tenant: str, start: dt.date, end: dt.date) -> list[DatedSum]:
        """Totals of undeleted confirmed or completed orders by ``confirmed_on`` day
        (``start`` to ``end`` inclusive), currency, owner and owner's department."""
        ...

    def collected_by_day(self, tenant: str, start: dt.date, end: dt.date) -> list[DatedSum]:
        """Undeleted payments of undeleted plans by ``received_on`` day, currency, the plan's
        owner and that owner's department."""
        ...

    def outstanding_by_day(self, tenant: str, start: dt.date, end: dt.date) -> list[DatedSum]:
        """``amount - paid`` of installments of undeleted plans by due day, currency, owner
        and owner's department (fully paid installments add nothing)."""
        ...

    def aging_sums(
        self, tenant: str, on: dt.date, by: Literal["customer", "owner"]
    ) -> list[AgingSum]:
        """``amount - paid`` of unpaid installments of undeleted plans summed per customer
        (or owner), :func:`aging_bucket` as seen ``on`` that day, and currency."""
        ...

    # -- pipelines ----------------------------------------------------------------------
    def add_transitions(self, transitions: Sequence[StageTransition]) -> None:
        """Append stage transitions (their opportunities exist in the same tenant)."""
        ...

    def transitions(self, tenant: str, opportunity_id: uuid.UUID) -> list[StageTransition]:
        """The stage transitions of one opportunity, oldest first (by time, then id)."""
        ...

    def opportunity_totals(
        self, tenant: str, query: Query, group_by: Sequence[str], *, cycle: bool = False
    ) -> list[OpportunityTotals]:
        """Count and sum the opportunities matching ``query`` (its filters and ``deleted``),
        grouped by the named fields (opportunity fields, or ``"department_id"``: the
        owner's department) and by currency; with ``cycle``, also the sales cycles of the
        closed ones. Row order is unspecified."""
        ...

    def furthest_stages(
        self, tenant: str, query: Query, ranks: Mapping[str, int]
    ) -> dict[int, int]:
        """For the opportunities matching ``query``, the highest rank (from ``ranks``, by
        stage key) of any stage each ever entered according to its transitions; returns how
        many opportunities reached each highest rank. Stages not in ``ranks`` are ignored;
        opportunities with no ranked transition are not counted."""
        ...

    def dwell_totals(
        self,
        tenant: str,
        pipeline: str,
        group_by: Sequence[str],
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
    ) -> list[DwellTotals]:
        """Stays that ended in ``[since, until)`` in ``pipeline``'s stages, grouped by
        transition fields (``"from_stage"``, ``"owner_id"``); creations (no
        ``from_stage``) are not stays."""
        ...

    def find_stale(self, tenant: str, rules: Sequence[StaleRule]) -> list[Opportunity]:
        """Open, undeleted opportunities that any rule finds stale, ordered by id."""
        ...

    def savepoint(self) -> AbstractContextManager[None]:
        """A block whose writes are undone if it raises (the transaction stays open).

        The unit of work runs each service call in one, so a call that fails inside a
        larger unit of work leaves nothing behind even when the caller catches the error.
        """
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
