"""What a read asks for, as data: a :class:`Scope` (which records may be seen at all) and
a :class:`Query` (conditions, order, page) — both plain values every adapter can evaluate.

Conditions form a small tree: a :class:`Filter` compares one field with a value;
:class:`AllOf` and :class:`AnyOf` combine conditions; :class:`Related` holds when a field
names a record of another kind that meets a condition (``owner_id IN (SELECT id FROM
users WHERE department_id IN (...))`` in SQL). The SQL backend compiles the tree into its
WHERE clause; :func:`pycrm.storage.matching.matches` evaluates it in Python with the same
answers.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from enum import Enum, StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeAlias

from attrs import field, frozen

from pycrm.core.fields import StorageType, comparable

if TYPE_CHECKING:
    from pycrm.core.records import Record

__all__ = [
    "EVERYTHING",
    "NOTHING",
    "AllOf",
    "AnyOf",
    "Condition",
    "Filter",
    "Op",
    "Query",
    "Related",
    "Scope",
    "Stored",
    "custom_sort_value",
    "sort_value",
]


class Stored(Protocol):
    """What a storage adapter keeps: an attrs object with a kind, an id and a tenant.

    Records (:class:`pycrm.core.records.Record`) are the main kind; append-only entries
    such as :class:`pycrm.StageTransition` are stored the same way but have no version
    and are never updated or deleted.
    """

    kind: ClassVar[str]

    @property
    def id(self) -> uuid.UUID:
        """The id of the stored record or entry."""

    @property
    def tenant(self) -> str:
        """The tenant (the company) the record or entry belongs to."""


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
    STARTSWITH = "startswith"  # text that begins with the value, case-sensitive
    IS_NULL = "is_null"  # value True: field is empty; False: field is set


@frozen
class Filter:
    """One condition on a field; values are already of the field's type."""

    field: str
    op: Op
    value: Any


@frozen
class AllOf:
    """Every condition holds (no condition: always true)."""

    conditions: tuple[Condition, ...]


@frozen
class AnyOf:
    """At least one condition holds (no condition: never true)."""

    conditions: tuple[Condition, ...]


@frozen
class Related:
    """``field`` holds the ``target`` value of a record of ``kind`` in the same tenant that
    meets ``condition`` (deleted records included: this is about who relates to whom).

    ``Related("owner_id", "user", Filter("department_id", Op.IN, ids))`` is "owned by a
    user of one of these departments". The condition names built-in fields of ``kind``.
    """

    field: str
    kind: str
    condition: Condition
    target: str = "id"


#: A node of the condition tree: a filter, a combination, or a related-record condition.
Condition: TypeAlias = Filter | AllOf | AnyOf | Related

#: A condition that always holds.
EVERYTHING: AllOf = AllOf(())
#: A condition that never holds.
NOTHING: AnyOf = AnyOf(())


@frozen(kw_only=True)
class Query:
    """What to find: conditions (all must hold), order, page size and keyset position.

    ``order`` is a sequence of ``(field, descending)``; the record id is always the final
    tie-breaker, ascending. Empty values sort first in ascending order and last in
    descending order. ``after`` holds the order values and id of the last record of the
    previous page (keyset pagination). ``custom_types`` maps every ``custom.<key>`` the
    filters and order name to its :class:`StorageType`. ``deleted``: ``False`` (the
    default) skips soft-deleted records, ``True`` finds only them, ``None`` both.
    ``lock``: the records are read to be written; an adapter with row locks locks them
    until the transaction ends (``SELECT … FOR UPDATE``), one whose writers take turns
    anyway (SQLite, memory) may ignore it.
    """

    filters: tuple[Condition, ...] = ()
    order: tuple[tuple[str, bool], ...] = ()
    limit: int | None = None
    after: tuple[Any, ...] | None = None
    deleted: bool | None = False
    ids: frozenset[uuid.UUID] | None = field(default=None)
    lock: bool = False
    custom_types: dict[str, StorageType] = field(factory=dict, eq=False)


@frozen
class Scope:
    """Which records a read may see: those of one tenant that meet the condition given
    for their kind in ``visible`` (a kind not named there is not restricted).

    Every read of the storage protocol takes a scope. Services build it: today from the
    tenant and a report's own restrictions (one rep, one department), and from the acting
    user's rights once access rules apply. Storage never decides who may see what; it
    only evaluates the scope it is given, inside the query.
    """

    tenant: str
    visible: Mapping[str, Condition] = field(factory=dict)

    def condition(self, kind: str) -> Condition | None:
        """The condition records of ``kind`` must meet, or None when all are visible."""
        return self.visible.get(kind)

    def narrowed(self, kind: str, *conditions: Condition) -> Scope:
        """This scope with records of ``kind`` also meeting every one of ``conditions``."""
        if not conditions:
            return self
        have = self.visible.get(kind)
        joined = (*(() if have is None else (have,)), *conditions)
        combined = joined[0] if len(joined) == 1 else AllOf(joined)
        return Scope(self.tenant, {**self.visible, kind: combined})


def custom_sort_value(record: Any, name: str, storage: StorageType | str) -> Any:
    """The value of custom field ``name`` (``"custom.<key>"``) to order and page by."""
    return comparable(storage, record.custom.get(name.removeprefix("custom.")))


def sort_value(record: Record | Any, name: str, query: Query | None = None) -> Any:
    """The value a backend orders and pages by: money by minor units, enums by value;
    custom fields (of a record as stored) by :func:`custom_sort_value`."""
    from pycrm.core.money import Money

    if name.startswith("custom."):
        types: Mapping[str, StorageType] = query.custom_types if query is not None else {}
        return custom_sort_value(record, name, types.get(name, StorageType.TEXT))
    value = getattr(record, name)
    if isinstance(value, Money):
        return value.minor_units
    if isinstance(value, Enum):
        return value.value
    return value
