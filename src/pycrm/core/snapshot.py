"""Plain, JSON-ready snapshots of entities: for the audit trail and for comparing versions."""

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from decimal import Decimal
from enum import Enum
from operator import attrgetter
from typing import Any, TypeVar

import attrs

from pycrm.core.money import Money

T = TypeVar("T")

__all__ = ["diff", "map_distinct", "plain", "snapshot", "snapshot_columns", "snapshots"]


def plain(value: Any) -> Any:
    """Turn a field value into JSON-ready data (str for ids, dates and decimals)."""
    if value is None or isinstance(value, bool | int | str):
        return value if not isinstance(value, Enum) else value.value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Money):
        return {"amount": str(value.amount), "currency": value.currency}
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        if _AS_IS.issuperset(map(type, value)):  # tags and the like: plain already
            return list(value)
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if attrs.has(type(value)):
        return {f.name: plain(getattr(value, f.name)) for f in attrs.fields(type(value))}
    raise TypeError(f"cannot snapshot a {type(value).__name__}")


def snapshot(entity: Any, *, skip: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Every attrs field of ``entity`` as plain data, except the names in ``skip``."""
    return snapshots([entity], skip=skip)[0]


def snapshots(
    entities: Sequence[Any], *, skip: frozenset[str] = frozenset()
) -> list[dict[str, Any]]:
    """:func:`snapshot` of many entities of one class."""
    names, columns = snapshot_columns(entities, skip=skip)
    if not names:
        return [{} for _ in entities]
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


#: Types whose values are JSON-ready as they are (exactly these: an enum member is not).
_AS_IS = frozenset({type(None), bool, int, str})


def snapshot_columns(
    entities: Sequence[Any], *, skip: frozenset[str] = frozenset()
) -> tuple[list[str], list[Sequence[Any]]]:
    """Snapshots of many entities of one class, a field at a time: names and value columns.

    A field whose values are all plain already (text, numbers, None) is taken as it is;
    the others go through :func:`plain`, once per distinct value object.
    """
    if not entities:
        return [], []
    names = [f.name for f in attrs.fields(type(entities[0])) if f.name not in skip]
    columns: list[Sequence[Any]] = []
    for name in names:
        column = list(map(attrgetter(name), entities))
        columns.append(
            column if _AS_IS.issuperset(map(type, column)) else map_distinct(plain, column)
        )
    return names, columns


def map_distinct(function: Callable[[Any], T], values: Sequence[Any]) -> list[T]:
    """``list(map(function, values))``, calling ``function`` once per distinct object.

    Batches share many value objects (a batch's timestamp, the acting user's id, enum
    members), so a column often holds few distinct objects. Objects are told apart by
    identity, which is exact: all of them are alive while ``values`` is. Only for
    functions whose result depends on the value alone.
    """
    ids = list(map(id, values))
    distinct = len(set(ids))
    if distinct > len(ids) // 2:
        return list(map(function, values))
    if distinct == 1:  # one object all along (a batch's user, its timestamp, None)
        return [function(values[0])] * len(ids)
    done = {key: function(value) for key, value in dict(zip(ids, values, strict=True)).items()}
    return list(map(done.__getitem__, ids))


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Fields whose plain value differs, as ``{field: (old, new)}``."""
    keys = before.keys() | after.keys()
    return {k: (before.get(k), after.get(k)) for k in sorted(keys) if before.get(k) != after.get(k)}
