"""Plain, JSON-ready snapshots of entities: for the audit trail and for comparing versions."""

import datetime as dt
import uuid
from collections.abc import Sequence
from decimal import Decimal
from enum import Enum
from operator import attrgetter
from typing import Any

import attrs

from pycrm.core.money import Money

__all__ = ["diff", "plain", "snapshot", "snapshots"]


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
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if attrs.has(type(value)):
        return {f.name: plain(getattr(value, f.name)) for f in attrs.fields(type(value))}
    raise TypeError(f"cannot snapshot a {type(value).__name__}")


def snapshot(entity: Any, *, skip: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Every attrs field of ``entity`` as plain data, except the names in ``skip``."""
    return snapshots([entity], skip=skip)[0]


#: Types whose values are JSON-ready as they are (exactly these: an enum member is not).
_AS_IS = frozenset({type(None), bool, int, str})


def snapshots(
    entities: Sequence[Any], *, skip: frozenset[str] = frozenset()
) -> list[dict[str, Any]]:
    """:func:`snapshot` of many entities of one class, worked out a field at a time.

    A field whose values are all plain already (text, numbers, None) is taken as it is;
    only the others go through :func:`plain`, value by value.
    """
    if not entities:
        return []
    names = [f.name for f in attrs.fields(type(entities[0])) if f.name not in skip]
    if not names:
        return [{} for _ in entities]
    columns = []
    for name in names:
        column = list(map(attrgetter(name), entities))
        if not _AS_IS.issuperset(map(type, column)):
            column = list(map(plain, column))
        columns.append(column)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Fields whose plain value differs, as ``{field: (old, new)}``."""
    keys = before.keys() | after.keys()
    return {k: (before.get(k), after.get(k)) for k in sorted(keys) if before.get(k) != after.get(k)}
