"""Turning ``list(where=..., order_by=..., after=...)`` arguments into a storage Query."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import uuid
from collections.abc import Generator, Mapping, Sequence
from decimal import Decimal
from enum import Enum
from functools import cache
from itertools import chain
from types import TracebackType
from typing import Annotated, Any, Generic, TypeVar

import attrs
import pydantic
from attrs import frozen

from pycrm.core.fields import FieldDefinition, FieldRegistry, StorageType
from pycrm.core.introspect import unwrap
from pycrm.core.limits import MAX_IN_VALUES, check_decimal
from pycrm.core.money import Money
from pycrm.core.records import Record
from pycrm.errors import ValidationError
from pycrm.schemas import MoneyInput, PlainText, Timestamp, WholeNumber, errors_of
from pycrm.storage.base import Filter, Op, Query, sort_value

__all__ = ["Page", "Stream", "Subtotal", "build_query", "next_cursor"]

E = TypeVar("E", bound=Record)

#: Largest page a list call returns; bulk reading goes through the export paths.
MAX_PAGE = 1000
#: Most fields a list may be ordered (or subtotals grouped) by; SQLite takes at most 2000
#: terms, and a handful is all a reader can follow.
MAX_ORDER_FIELDS = 20
#: Records a stream reads and decodes at a time unless told otherwise.
STREAM_BATCH = 1000
#: Largest batch a stream reads at once (memory holds about one batch).
MAX_STREAM_BATCH = 10_000


@frozen
class Subtotal:
    """One group of :meth:`RecordService.subtotals`: its key, how many, and a money total.

    ``key`` maps each grouping field to its value (enums as their string values); ``total``
    is ``None`` for records without an amount. A group appears once per currency.
    ``labels`` maps each grouping field bound to a picklist (``industry``, ``level``,
    ``source``…) to its key's label in the reader's locale.
    """

    key: dict[str, Any]
    count: int
    total: Money | None = None
    labels: dict[str, Any] = attrs.field(factory=dict)


@frozen
class Page(Generic[E]):
    """One page of a list; pass ``next_cursor`` as ``after=`` to get the next page."""

    items: list[E]
    next_cursor: str | None

    def __iter__(self) -> Any:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


class Stream(Generic[E]):
    """Every record of a :meth:`~pycrm.services.base.RecordService.stream`, one by one, in
    the list's order; iterate it once.

    It reads in the unit of work it was started in, or, started from
    :meth:`pycrm.CRM.as_user`, in a read-only unit of work of its own that stays open
    until the stream is exhausted or closed. Exhaust it, or close it early: ``close()``,
    ``with uow.customers.stream() as rows:`` or :func:`contextlib.closing`. A stream
    dropped unfinished is closed when Python frees it, but until then its unit of work
    (and its database connection) stays open.
    """

    def __init__(self, batches: Generator[list[E], None, None]) -> None:
        self._batches = batches
        self._records = chain.from_iterable(batches)

    def __iter__(self) -> Stream[E]:
        return self

    def __next__(self) -> E:
        return next(self._records)

    def close(self) -> None:
        """End the stream now: its cursor closes and a unit of work of its own ends; the
        records not read yet are not read. Closing twice does nothing."""
        self._batches.close()
        self._records = chain()

    def __enter__(self) -> Stream[E]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


_FIELD_TYPES: dict[type[Record], dict[str, Any]] = {}


def _field_types(cls: type[Record]) -> dict[str, Any]:
    """Filterable fields and the type their filter values are validated as."""
    if cls in _FIELD_TYPES:
        return _FIELD_TYPES[cls]
    types: dict[str, Any] = {}
    for field in attrs.fields(cls):
        tp, _ = unwrap(field.type)
        if tp is Money:
            types[field.name] = MoneyInput
        elif typing_origin(tp) not in (list, dict):
            types[field.name] = tp
    _FIELD_TYPES[cls] = types
    return types


def typing_origin(tp: Any) -> Any:
    return getattr(tp, "__origin__", None)


#: What filter and cursor values of a field type are validated as: what every backend
#: stores and compares (64-bit integers, text without NUL, times with a UTC offset).
_BOUNDED: dict[Any, Any] = {int: WholeNumber, str: PlainText, dt.datetime: Timestamp}


def _bounded(tp: Any) -> Any:
    return _BOUNDED.get(tp, tp)


@cache
def _adapter(tp: Any) -> pydantic.TypeAdapter[Any]:
    return pydantic.TypeAdapter(tp)


def _coerce(tp: Any, value: Any, path: str) -> Any:
    try:
        return _adapter(tp).validate_python(value)
    except pydantic.ValidationError as exc:
        raise ValidationError(
            [(path, why) for _, why in errors_of(exc)] or [(path, "invalid value")]
        ) from None


def _definition(
    cls: type[Record], name: str, fields: FieldRegistry | None, path: str
) -> FieldDefinition:
    key = name.removeprefix("custom.")
    definition = fields.get(cls.kind, key) if fields is not None else None
    if definition is None:
        raise ValidationError.single(path, f"{cls.kind} has no custom field {key!r}")
    return definition


def _parse(definition: FieldDefinition, value: Any, path: str) -> Any:
    try:
        return definition.comparable(definition.parse(value))
    except ValueError as error:
        raise ValidationError.single(path, str(error)) from None


def _custom_filter(cls: type[Record], key: str, value: Any, fields: FieldRegistry | None) -> Filter:
    """A filter on ``custom.<key>``: values become what the stored value compares with."""
    name, _, op_name = key.partition("__")
    path = f"where.{key}"
    definition = _definition(cls, name, fields, path)
    op = _op(key, op_name)
    storage = definition.storage
    if op is Op.IS_NULL:
        return Filter(name, op, _coerce(bool, value, path))
    if storage is StorageType.LIST:
        raise ValidationError.single(path, "a multiple-choice field supports only __is_null")
    if storage is StorageType.BOOLEAN:
        _unordered(op, path)
    if op is Op.CONTAINS:
        if storage is not StorageType.TEXT:
            raise ValidationError.single(path, "__contains applies to text fields only")
        return Filter(name, op, _coerce(PlainText, value, path))
    if op is Op.IN:
        if storage is StorageType.MONEY or not isinstance(value, list | tuple | set | frozenset):
            raise ValidationError.single(path, "__in takes a list (and no money amounts)")
        return Filter(name, op, _few(tuple(_parse(definition, v, path) for v in value), path))
    if value is None:
        raise ValidationError.single(path, "use __is_null=True to find empty fields")
    return Filter(name, op, _parse(definition, value, path))


def _op(key: str, op_name: str) -> Op:
    try:
        return Op(op_name or "eq")
    except ValueError:
        ops = ", ".join(o.value for o in Op)
        raise ValidationError.single(
            f"where.{key}", f"unknown operator; use one of: {ops}"
        ) from None


def _filter(cls: type[Record], key: str, value: Any) -> Filter:
    name, _, op_name = key.partition("__")
    types = _field_types(cls)
    if name not in types:
        raise ValidationError.single(f"where.{key}", f"{cls.kind} has no filterable field {name!r}")
    try:
        op = Op(op_name or "eq")
    except ValueError:
        ops = ", ".join(o.value for o in Op)
        raise ValidationError.single(
            f"where.{key}", f"unknown operator; use one of: {ops}"
        ) from None
    tp = types[name]
    if op is Op.IS_NULL:
        return Filter(name, op, _coerce(bool, value, f"where.{key}"))
    if tp is bool:
        _unordered(op, f"where.{key}")
    if op is Op.CONTAINS:
        if tp is not str:
            raise ValidationError.single(f"where.{key}", "contains applies to text fields only")
        return Filter(name, op, _coerce(PlainText, value, f"where.{key}"))
    if op is Op.IN:
        if tp is MoneyInput:
            raise ValidationError.single(
                f"where.{key}", "in does not apply to money; compare with gte and lte"
            )
        values = _coerce(list[_bounded(tp)], value, f"where.{key}")  # type: ignore[misc]
        return Filter(name, op, _few(tuple(values), f"where.{key}"))
    if value is None:
        raise ValidationError.single(f"where.{key}", "use __is_null=True to find empty fields")
    return Filter(name, op, _coerce(_bounded(tp), value, f"where.{key}"))


#: Operators that order values: true and false have no order SQL agrees on.
_ORDERING = frozenset({Op.LT, Op.LTE, Op.GT, Op.GTE})


def _unordered(op: Op, path: str) -> None:
    if op in _ORDERING:
        raise ValidationError.single(path, "true and false compare only with eq, ne and in")


def _few(values: tuple[Any, ...], path: str) -> tuple[Any, ...]:
    """``__in`` values, each a query parameter: a bounded number of them."""
    if len(values) > MAX_IN_VALUES:
        raise ValidationError.single(
            path, f"takes at most {MAX_IN_VALUES} values, not {len(values)}; split the list"
        )
    return values


def check_fields(cls: type[Record], names: Sequence[str], what: str) -> None:
    """Refuse names that are not filterable fields of ``cls``, and too many of them."""
    types = _field_types(cls)
    errors = [(what, f"{cls.kind} has no field {n!r}") for n in names if n not in types]
    errors += _too_many(names, what)
    if errors:
        raise ValidationError(errors, entity=cls.kind)


def check_money_field(cls: type[Record], name: str) -> None:
    if _field_types(cls).get(name) is not MoneyInput:
        raise ValidationError.single("total", f"{cls.kind}.{name} is not a money field")


def _order(
    cls: type[Record], order_by: str | Sequence[str], fields: FieldRegistry | None = None
) -> tuple[tuple[str, bool], ...]:
    names = [order_by] if isinstance(order_by, str) else list(order_by)
    if too_many := _too_many(names, "order_by"):
        raise ValidationError(too_many)
    order = []
    types = _field_types(cls)
    for item in names:
        name = item.removeprefix("-")
        if name.startswith("custom."):
            definition = _definition(cls, name, fields, "order_by")
            if not definition.orderable:
                raise ValidationError.single("order_by", f"cannot order by {name!r}")
        elif name not in types:
            raise ValidationError.single("order_by", f"{cls.kind} cannot be ordered by {name!r}")
        order.append((name, item.startswith("-")))
    return tuple(order)


def _too_many(names: Sequence[str], what: str) -> list[tuple[str, str]]:
    if len(names) <= MAX_ORDER_FIELDS:
        return []
    return [(what, f"names at most {MAX_ORDER_FIELDS} fields, not {len(names)}")]


def _signature(order: tuple[tuple[str, bool], ...]) -> str:
    return ",".join(("-" if desc else "") + name for name, desc in order)


def _cursor_decimal(value: Any) -> Decimal:
    # A stored decimal or money amount has at most 22 digits (19 of 64-bit minor units and
    # 3 decimals); a cursor made of anything larger was not made by a list.
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError("not a number")
    try:
        return check_decimal(Decimal(value), most=40)
    except ArithmeticError:
        raise ValueError("not a number") from None


_CursorDecimal = Annotated[Decimal, pydantic.PlainValidator(_cursor_decimal)]
_CURSOR_TYPES = {
    StorageType.INTEGER: WholeNumber,
    StorageType.DECIMAL: _CursorDecimal,
    StorageType.MONEY: _CursorDecimal,
    StorageType.BOOLEAN: bool,
    StorageType.TEXT: PlainText,
}


def _sort_type(cls: type[Record], name: str, query_types: Mapping[str, StorageType]) -> Any:
    if name.startswith("custom."):
        return _CURSOR_TYPES[query_types[name]]
    tp = _field_types(cls)[name]
    if tp is MoneyInput:
        return WholeNumber
    if isinstance(tp, type) and issubclass(tp, Enum):
        return PlainText
    return _bounded(tp)


def _decode_cursor(
    cls: type[Record],
    order: tuple[tuple[str, bool], ...],
    cursor: str,
    custom_types: Mapping[str, StorageType],
) -> tuple[Any, ...]:
    signature, values = _cursor_parts(cursor)
    if signature != _signature(order) or len(values) != len(order) + 1:
        raise ValidationError.single("after", "the cursor belongs to a list with another order")
    decoded = [
        None if v is None else _coerce(_sort_type(cls, name, custom_types), v, "after")
        for (name, _), v in zip(order, values, strict=False)
    ]
    return (*decoded, _coerce(uuid.UUID, values[-1], "after"))


def _cursor_parts(cursor: str) -> tuple[str, list[Any]]:
    """The order signature and values of a cursor; anything a list did not make (any
    other JSON, any other base64) is the caller's mistake, never a crash."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
    except (ValueError, binascii.Error, RecursionError):  # deep nesting: RecursionError
        data = None
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("o"), str)
        or not isinstance(data.get("v"), list)
    ):
        raise ValidationError.single("after", "not a cursor returned by this list")
    return data["o"], data["v"]


def next_cursor(record: Record, query: Query) -> str:
    """The cursor that continues a list after ``record`` (as stored, before typing)."""
    order = query.order
    values = [sort_value(record, name, query) for name, _ in order] + [record.id]
    plain = _adapter(list[Any]).dump_python(values, mode="json")
    payload = json.dumps({"o": _signature(order), "v": plain}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode()


def build_query(
    cls: type[Record],
    where: Mapping[str, Any] | None,
    order_by: str | Sequence[str],
    limit: int | None,
    after: str | None,
    deleted: bool | None,
    *,
    fields: FieldRegistry | None = None,
) -> Query:
    """Validate list arguments and build the storage query; every mistake is reported.

    ``fields`` holds the custom field definitions ``custom.<key>`` names are checked with.
    """
    errors: list[tuple[str, str]] = []
    filters: list[Filter] = []
    for key, value in (where or {}).items():
        try:
            if key.startswith("custom."):
                filters.append(_custom_filter(cls, key, value, fields))
            else:
                filters.append(_filter(cls, key, value))
        except ValidationError as error:
            errors += error.errors
    custom_types: dict[str, StorageType] = {}
    try:
        order = _order(cls, order_by, fields)
        custom_types = _custom_types(
            cls, [f.field for f in filters] + [n for n, _ in order], fields
        )
        position = _decode_cursor(cls, order, after, custom_types) if after else None
    except ValidationError as error:
        errors += error.errors
        order, position = (), None
    if limit is not None and not 1 <= limit <= MAX_PAGE:
        errors.append(("limit", f"must be between 1 and {MAX_PAGE}"))
    if errors:
        raise ValidationError(errors, entity=cls.kind)
    return Query(
        filters=tuple(filters),
        order=order,
        limit=limit,
        after=position,
        deleted=deleted,
        custom_types=custom_types,
    )


def _custom_types(
    cls: type[Record], names: Sequence[str], fields: FieldRegistry | None
) -> dict[str, StorageType]:
    return {
        name: _definition(cls, name, fields, name).storage
        for name in names
        if name.startswith("custom.")
    }
