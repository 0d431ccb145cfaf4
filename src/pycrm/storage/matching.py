"""Whether a record meets a query's filters, evaluated in Python.

The reference semantics of :class:`pycrm.storage.base.Filter`: the memory backend and
computed queries use it, and SQL backends must give the same answers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pycrm.core.fields import StorageType, comparable
from pycrm.core.money import Money
from pycrm.core.records import Record
from pycrm.storage.base import Filter, Op

__all__ = ["matches"]


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
        return str(want).lower() in str(have).lower()
    checks: dict[Op, Callable[[Any, Any], bool]] = {
        Op.EQ: lambda a, b: a == b,
        Op.NE: lambda a, b: a != b,
        Op.LT: lambda a, b: a < b,
        Op.LTE: lambda a, b: a <= b,
        Op.GT: lambda a, b: a > b,
        Op.GTE: lambda a, b: a >= b,
    }
    return bool(checks[op](have, want))


def _field_value(record: Record, name: str, types: Mapping[str, StorageType]) -> Any:
    if not name.startswith("custom."):
        return getattr(record, name)
    stored = record.custom.get(name.removeprefix("custom."))
    storage = StorageType(types.get(name, StorageType.TEXT))
    if storage is StorageType.MONEY and isinstance(stored, dict):
        return Money(stored["amount"], stored["currency"])
    return comparable(storage, stored)


def matches(
    record: Record, filters: Sequence[Filter], types: Mapping[str, StorageType] | None = None
) -> bool:
    """Whether a record meets every filter (the memory backend's WHERE); ``types`` gives
    the storage type of each custom field named (``Query.custom_types``)."""
    return all(_compare(f.op, _field_value(record, f.field, types or {}), f.value) for f in filters)
