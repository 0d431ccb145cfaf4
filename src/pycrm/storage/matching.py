"""Queries evaluated in Python: which records meet the conditions (:func:`matches`), in
which order and page (:func:`select`), and how they add up per group (:func:`tally`).

The reference semantics of :mod:`pycrm.storage.query`: the memory backend is written with
these functions, an adapter may use them for what it does not (yet) do in its database,
and SQL backends must give the same answers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from pycrm.core.fields import StorageType, comparable
from pycrm.core.money import Money
from pycrm.core.text import fold
from pycrm.storage.base import Group
from pycrm.storage.query import AllOf, AnyOf, Condition, Filter, Op, Query, Related, sort_value

T = TypeVar("T")

__all__ = ["Lookup", "matches", "order_key", "select", "tally"]

#: Answers a :class:`Related` condition: the ``target`` values of the records of its kind
#: (in the tenant being read) that meet its condition.
Lookup = Callable[[Related], frozenset[Any]]


def _compare(op: Op, have: Any, want: Any) -> bool:
    if op is Op.IS_NULL:
        return (have is None) == bool(want)
    if op is Op.IN:
        return have in want
    if have is None:
        return op is Op.NE and want is not None
    if isinstance(want, Money):
        if not isinstance(have, Money) or have.currency != want.currency:
            return op is Op.NE
        have, want = have.amount, want.amount
    if op is Op.CONTAINS:
        return fold(str(want)) in fold(str(have))
    if op is Op.STARTSWITH:
        return str(have).startswith(str(want))
    checks: dict[Op, Callable[[Any, Any], bool]] = {
        Op.EQ: lambda a, b: a == b,
        Op.NE: lambda a, b: a != b,
        Op.LT: lambda a, b: a < b,
        Op.LTE: lambda a, b: a <= b,
        Op.GT: lambda a, b: a > b,
        Op.GTE: lambda a, b: a >= b,
    }
    return bool(checks[op](have, want))


def _field_value(record: Any, name: str, types: Mapping[str, StorageType]) -> Any:
    if not name.startswith("custom."):
        return getattr(record, name)
    stored = record.custom.get(name.removeprefix("custom."))
    storage = StorageType(types.get(name, StorageType.TEXT))
    if storage is StorageType.MONEY and isinstance(stored, dict):
        return Money(stored["amount"], stored["currency"])
    return comparable(storage, stored)


def _holds(
    record: Any, condition: Condition, types: Mapping[str, StorageType], lookup: Lookup | None
) -> bool:
    if isinstance(condition, Filter):
        return _compare(condition.op, _field_value(record, condition.field, types), condition.value)
    if isinstance(condition, AllOf):
        return all(_holds(record, c, types, lookup) for c in condition.conditions)
    if isinstance(condition, AnyOf):
        return any(_holds(record, c, types, lookup) for c in condition.conditions)
    if lookup is None:
        raise TypeError("a Related condition needs a lookup of the related records")
    return getattr(record, condition.field) in lookup(condition)


def matches(
    record: Any,
    conditions: Sequence[Condition],
    types: Mapping[str, StorageType] | None = None,
    lookup: Lookup | None = None,
) -> bool:
    """Whether a record meets every condition (the memory backend's WHERE); ``types`` gives
    the storage type of each custom field named (``Query.custom_types``) and ``lookup``
    answers :class:`Related` conditions."""
    return all(_holds(record, c, types or {}, lookup) for c in conditions)


def select(records: Iterable[T], query: Query, lookup: Lookup | None = None) -> list[T]:
    """The records meeting the query (its conditions, ``deleted`` and ``ids``), in its
    order, after its keyset position, at most ``limit`` of them."""
    rows = [
        r
        for r in records
        if (query.deleted is None or (getattr(r, "deleted_at", None) is not None) == query.deleted)
        and (query.ids is None or getattr(r, "id", None) in query.ids)
        and matches(r, query.filters, query.custom_types, lookup)
    ]
    key = order_key(query.order, query.custom_types)
    rows.sort(key=key)
    if query.after is not None:
        marker = key(_Marker(query.order, query.after))
        rows = [r for r in rows if key(r) > marker]
    return rows if query.limit is None else rows[: query.limit]


def tally(records: Iterable[Any], by: Sequence[str], total: str | None = None) -> list[Group]:
    """Records counted per value of the ``by`` fields, ``total`` summed per group (per
    currency for money), sorted by key then currency with empty values first."""
    found: dict[tuple[tuple[Any, ...], str | None], list[int]] = {}
    for record in records:
        key = tuple(sort_value(record, name) for name in by)
        value = getattr(record, total) if total else None
        currency = value.currency if isinstance(value, Money) else None
        units = value.minor_units if isinstance(value, Money) else value
        tally = found.setdefault((key, currency), [0, 0, 0])
        tally[0] += 1
        if units is not None:
            tally[1] += units
            tally[2] += 1
    groups = [
        Group(key, count, currency, summed if total and counted else None)
        for (key, currency), (count, summed, counted) in found.items()
    ]
    return sorted(groups, key=lambda g: (_none_first(g.key), _none_first((g.currency,))))


def _none_first(key: tuple[Any, ...]) -> tuple[tuple[bool, Any], ...]:
    return tuple((value is not None, value) for value in key)


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
) -> Callable[[Any], Any]:
    """A sort key for records by ``order`` then id."""
    query = Query(custom_types=dict(types or {}))

    def values(record: Any) -> list[Any]:
        return [sort_value(record, name, query) for name, _ in order] + [record.id]

    directions = [desc for _, desc in order] + [False]

    def compare(a: list[Any], b: list[Any]) -> int:
        for x, y, desc in zip(a, b, directions, strict=True):
            if c := _cmp_values(x, y, desc):
                return c
        return 0

    key = functools.cmp_to_key(compare)
    return lambda record: key(values(record))


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
