"""Explicit mapping between entities and rows: no ORM instrumentation, no global state."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from enum import Enum
from typing import Any

import attrs

from pycrm.core.introspect import unwrap
from pycrm.core.money import Money
from pycrm.core.records import Record
from pycrm.storage.sqlalchemy.tables import CHILDREN

__all__ = ["Mapper", "mapper_for"]

ToRow = Callable[[Any, dict[str, Any]], None]
FromRow = Callable[[Mapping[str, Any]], Any]


def _money_codec(name: str) -> tuple[ToRow, FromRow]:
    minor, currency = f"{name}_minor", f"{name}_currency"

    def to_row(value: Money | None, row: dict[str, Any]) -> None:
        row[minor] = None if value is None else value.minor_units
        row[currency] = None if value is None else value.currency

    def from_row(row: Mapping[str, Any]) -> Money | None:
        units = row[minor]
        return None if units is None else Money.from_minor(units, row[currency])

    return to_row, from_row


def _plain_codec(name: str, tp: Any) -> tuple[ToRow, FromRow]:
    def to_row(value: Any, row: dict[str, Any]) -> None:
        row[name] = value.value if isinstance(value, Enum) else value

    if isinstance(tp, type) and issubclass(tp, Enum):
        enum = tp

        def from_enum(row: Mapping[str, Any]) -> Any:
            value = row[name]
            return None if value is None else enum(value)

        return to_row, from_enum
    return to_row, lambda row: row[name]


class Mapper:
    """Turns one attrs class into row dicts and back."""

    def __init__(self, cls: type[Any], kind: str | None) -> None:
        self.cls = cls
        self.fields: list[tuple[str, ToRow, FromRow]] = []
        self.children: list[str] = []
        for field in attrs.fields(cls):
            if kind is not None and (kind, field.name) in CHILDREN:
                self.children.append(field.name)
                continue
            tp, _ = unwrap(field.type)
            codec = _money_codec(field.name) if tp is Money else _plain_codec(field.name, tp)
            self.fields.append((field.name, *codec))

    def to_row(self, obj: Any, **extra: Any) -> dict[str, Any]:
        row: dict[str, Any] = dict(extra)
        for name, to_row, _ in self.fields:
            to_row(getattr(obj, name), row)
        return row

    def from_row(self, row: Any, **extra: Any) -> Any:
        values = {name: from_row(row) for name, _, from_row in self.fields}
        values.update(extra)
        return self.cls(**values)

    def rows(self, objs: Iterable[Any]) -> list[dict[str, Any]]:
        return [self.to_row(o) for o in objs]


_MAPPERS: dict[tuple[type[Any], str | None], Mapper] = {}


def mapper_for(cls: type[Any], kind: str | None = None) -> Mapper:
    """The (cached) mapper of an entity class (``kind`` given) or a child class."""
    key = (cls, kind)
    if key not in _MAPPERS:
        _MAPPERS[key] = Mapper(cls, kind)
    return _MAPPERS[key]


def entity_mapper(cls: type[Record]) -> Mapper:
    return mapper_for(cls, cls.kind)
