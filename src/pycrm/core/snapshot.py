"""Plain, JSON-ready snapshots of entities: for the audit trail and for comparing versions."""

import datetime as dt
import uuid
from decimal import Decimal
from enum import Enum
from typing import Any

import attrs

from pycrm.core.money import Money

__all__ = ["diff", "plain", "snapshot"]


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
    return {
        f.name: plain(getattr(entity, f.name))
        for f in attrs.fields(type(entity))
        if f.name not in skip
    }


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Fields whose plain value differs, as ``{field: (old, new)}``."""
    keys = before.keys() | after.keys()
    return {k: (before.get(k), after.get(k)) for k in sorted(keys) if before.get(k) != after.get(k)}
