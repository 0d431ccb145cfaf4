"""Explicit mapping between entities and rows: no ORM instrumentation, no global state.

A :class:`Mapper` knows, for one attrs class, which column each value goes to and how it
is turned into a column value (an enum into its value, money into minor units and a
currency). Bulk writes use :meth:`Mapper.columns_of`, which works a column at a time over a
whole batch, so the cost per row stays small whatever the number of fields; streams read
back the same way with :meth:`Mapper.from_rows`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import Enum
from operator import attrgetter, itemgetter
from typing import Any

import attrs

from pycrm.core.introspect import unwrap
from pycrm.core.money import Money
from pycrm.core.snapshot import map_distinct
from pycrm.core.text import fold
from pycrm.storage.sqlalchemy.tables import CHILDREN, FOLDED

__all__ = ["Mapper", "entity_mapper", "mapper_for"]

#: Turns a field value into one column's value (``None`` when the value is stored as is).
Convert = Callable[[Any], Any] | None
FromRow = Callable[[Mapping[str, Any]], Any]


def _enum_value(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def _minor_units(value: Money | None) -> int | None:
    return None if value is None else value.minor_units


def _currency(value: Money | None) -> str | None:
    return None if value is None else value.currency


def _folded(value: str | None) -> str | None:
    return None if value is None else fold(value)


def _money_reader(name: str) -> FromRow:
    minor, currency = f"{name}_minor", f"{name}_currency"

    def from_row(row: Mapping[str, Any]) -> Money | None:
        units = row[minor]
        return None if units is None else Money.from_minor(units, row[currency])

    return from_row


def _plain_reader(name: str, tp: Any) -> FromRow:
    if isinstance(tp, type) and issubclass(tp, Enum):
        enum = tp

        def from_enum(row: Mapping[str, Any]) -> Any:
            value = row[name]
            return None if value is None else enum(value)

        return from_enum
    return lambda row: row[name]


class Mapper:
    """Turns one attrs class into row values and back.

    ``columns`` lists the column names in the order :meth:`columns_of` returns them; each
    column comes from one field (``field_index`` into the stored fields) through an
    optional conversion.
    """

    def __init__(self, cls: type[Any], kind: str | None) -> None:
        self.cls = cls
        self.children: list[str] = []
        self.columns: list[str] = []
        self._sources: list[tuple[int, Convert]] = []  # per column: (field index, conversion)
        self._readers: list[tuple[str, FromRow]] = []
        names: list[str] = []
        attrs.resolve_types(cls)  # classes written with postponed annotations
        for field in attrs.fields(cls):
            if kind is not None and (kind, field.name) in CHILDREN:
                self.children.append(field.name)
                continue
            index = len(names)
            names.append(field.name)
            tp, _ = unwrap(field.type)
            if tp is Money:
                self._add_column(f"{field.name}_minor", index, _minor_units)
                self._add_column(f"{field.name}_currency", index, _currency)
                self._readers.append((field.name, _money_reader(field.name)))
                continue
            is_enum = isinstance(tp, type) and issubclass(tp, Enum)
            self._add_column(field.name, index, _enum_value if is_enum else None)
            self._readers.append((field.name, _plain_reader(field.name, tp)))
        for name in FOLDED.get(kind or "", ()):
            self._add_column(f"{name}_folded", names.index(name), _folded)
        # One C-level call fetches every stored field of an object as a tuple.
        self._values: Callable[[Any], tuple[Any, ...]] = (
            attrgetter(*names) if len(names) > 1 else lambda obj: (getattr(obj, names[0]),)
        )

    def _add_column(self, name: str, index: int, convert: Convert) -> None:
        self.columns.append(name)
        self._sources.append((index, convert))

    def columns_of(self, objs: Sequence[Any]) -> list[Sequence[Any]]:
        """The column values of many objects: one sequence per column, in ``columns`` order."""
        if not objs:
            return [() for _ in self.columns]
        fields = list(zip(*map(self._values, objs), strict=True))
        # A conversion runs once per distinct object (a batch shares its enum members).
        return [
            fields[index] if convert is None else map_distinct(convert, fields[index])
            for index, convert in self._sources
        ]

    def to_row(self, obj: Any, **extra: Any) -> dict[str, Any]:
        """One object as a row dict (``extra`` adds columns such as the tenant)."""
        values = self._values(obj)
        row: dict[str, Any] = dict(extra)
        for name, (index, convert) in zip(self.columns, self._sources, strict=True):
            row[name] = values[index] if convert is None else convert(values[index])
        return row

    def from_row(self, row: Any, **extra: Any) -> Any:
        values = {name: from_row(row) for name, from_row in self._readers}
        values.update(extra)
        return self.cls(**values)

    def from_rows(
        self, keys: Sequence[str], rows: Sequence[Sequence[Any]], **extra: Sequence[Any]
    ) -> list[Any]:
        """The objects of many rows (values in the order of the column names ``keys``), as
        :meth:`from_row` gives them, decoded a column at a time over the whole batch.
        ``extra`` gives further field values: per name, one value for each row."""
        if not rows:
            return []
        names, readers = _batch_plan(self, tuple(keys))
        columns = list(zip(*rows, strict=True))
        values = [read(columns) for read in readers]
        names = (*names, *extra)
        values += extra.values()
        cls = self.cls
        return [cls(**dict(zip(names, row, strict=True))) for row in zip(*values, strict=True)]

    def rows(self, objs: Iterable[Any]) -> list[dict[str, Any]]:
        return [self.to_row(o) for o in objs]


#: Decodes one field for a whole batch, from the batch's columns.
ColumnsReader = Callable[[Sequence[Sequence[Any]]], Sequence[Any]]
_PLANS: dict[tuple[Mapper, tuple[str, ...]], tuple[tuple[str, ...], list[ColumnsReader]]] = {}


def _batch_plan(
    mapper: Mapper, keys: tuple[str, ...]
) -> tuple[tuple[str, ...], list[ColumnsReader]]:
    """The stored fields of ``mapper`` and how each is read from columns named ``keys``."""
    plan = _PLANS.get((mapper, keys))
    if plan is not None:
        return plan
    at = {key: i for i, key in enumerate(keys)}
    names: list[str] = []
    readers: list[ColumnsReader] = []
    for field in attrs.fields(mapper.cls):
        if field.name in mapper.children:
            continue
        names.append(field.name)
        tp, _ = unwrap(field.type)
        if tp is Money:
            readers.append(_money_column(at[f"{field.name}_minor"], at[f"{field.name}_currency"]))
        elif isinstance(tp, type) and issubclass(tp, Enum):
            readers.append(_enum_column(at[field.name], _Members(tp)))
        else:
            readers.append(itemgetter(at[field.name]))
    plan = _PLANS[(mapper, keys)] = (tuple(names), readers)
    return plan


class _Members(dict[Any, Any]):
    """An enum's members by stored value (and None for None); a value that is no member
    raises what the enum itself raises."""

    def __init__(self, enum: type[Enum]) -> None:
        super().__init__({member.value: member for member in enum})
        self[None] = None
        self.enum = enum

    def __missing__(self, value: Any) -> Any:
        return self.enum(value)


def _enum_column(index: int, members: _Members) -> ColumnsReader:
    def read(columns: Sequence[Sequence[Any]]) -> list[Any]:
        return list(map(members.__getitem__, columns[index]))

    return read


def _money_column(minor: int, currency: int) -> ColumnsReader:
    from_minor = Money.from_minor

    def read(columns: Sequence[Sequence[Any]]) -> list[Money | None]:
        return [
            None if units is None else from_minor(units, code)
            for units, code in zip(columns[minor], columns[currency], strict=True)
        ]

    return read


_MAPPERS: dict[tuple[type[Any], str | None], Mapper] = {}


def mapper_for(cls: type[Any], kind: str | None = None) -> Mapper:
    """The (cached) mapper of an entity class (``kind`` given) or a child class."""
    key = (cls, kind)
    if key not in _MAPPERS:
        _MAPPERS[key] = Mapper(cls, kind)
    return _MAPPERS[key]


def entity_mapper(cls: type[Any]) -> Mapper:
    """The mapper of an entity class (its child collections are stored apart)."""
    return mapper_for(cls, cls.kind)
