"""Records as JSON documents, for adapters that keep them in a document store (a JSON
column, MongoDB, a key-value store).

:func:`to_document` turns a record into JSON-ready data and :func:`from_document` turns it
back; :func:`document_value` encodes one value the same way (for query parameters). The
encoding is chosen so that comparing the stored values compares what they mean:

- money is ``{"minor": 123450, "currency": "CNY"}`` (integer minor units: exact, and
  ordered within one currency), decimals are numeric text (compare them as numbers);
- datetimes are UTC ISO text with microseconds, so text order is time order; dates are ISO;
- ids are text, enums their value, child objects (order lines, installments) nested
  documents; ``custom`` is kept as pycrm hands it over (already JSON-ready).
"""

from __future__ import annotations

import datetime as dt
import functools
import types
import typing
import uuid
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar

import attrs

from pycrm.core.money import Money

__all__ = ["document_value", "from_document", "to_document"]

T = TypeVar("T")


def document_value(value: Any) -> Any:
    """One value as it is stored in a document (see the module docstring)."""
    if isinstance(value, Money):
        return {"minor": value.minor_units, "currency": value.currency}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat(timespec="microseconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [document_value(v) for v in value]
    if attrs.has(type(value)):
        return to_document(value)
    return value  # str, int, bool, None, and ``custom`` (already JSON-ready)


def to_document(record: Any) -> dict[str, Any]:
    """Every field of a record (or a child object) as JSON-ready data."""
    return {f.name: document_value(getattr(record, f.name)) for f in attrs.fields(type(record))}


def from_document(kind: type[T], document: dict[str, Any]) -> T:
    """A record of class ``kind`` back from :func:`to_document`'s data."""
    cls: Any = kind
    hints = _hints(cls)
    fields = [f for f in attrs.fields(cls) if f.init]  # fixed values are the class's own
    return kind(**{f.name: _value(hints[f.name], document.get(f.name)) for f in fields})


@functools.cache
def _hints(kind: Any) -> dict[str, Any]:
    return typing.get_type_hints(kind)  # resolves postponed (string) annotations


def _value(tp: Any, value: Any) -> Any:
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        tp = next(a for a in typing.get_args(tp) if a is not type(None))
    if value is None:
        return None
    if tp is Money:
        return Money.from_minor(value["minor"], value["currency"])
    if tp in (uuid.UUID, Decimal):
        return tp(value)
    if tp is dt.datetime:
        return dt.datetime.fromisoformat(value)
    if tp is dt.date:
        return dt.date.fromisoformat(value)
    if isinstance(tp, type) and issubclass(tp, Enum):
        return tp(value)
    if typing.get_origin(tp) in (list, tuple):
        item = typing.get_args(tp)[0]  # list[X] or tuple[X, ...]
        items = [_value(item, v) for v in value]
        return items if typing.get_origin(tp) is list else tuple(items)
    if attrs.has(tp):
        return from_document(tp, value)
    return value
