"""Custom fields: company-specific fields declared per entity, kept in ``record.custom``.

A :class:`FieldDefinition` says what one custom field accepts; a :class:`FieldRegistry`
holds the definitions of one CRM. Values are checked as strictly as built-in fields,
stored JSON-ready (decimals as strings, money as ``{"amount", "currency"}``, dates and
datetimes as ISO text) and handed back typed (``Decimal``, :class:`pycrm.Money`,
``date``...). Removing or changing a definition never touches stored values.

Each field type has a *storage type* that tells a storage adapter how to compare and order
the stored value: ``text`` (also dates and datetimes: their ISO text sorts in time order),
``integer``, ``decimal`` (a numeric string), ``money`` (an object; compared by amount
within one currency), ``boolean`` and ``list`` (only ``is_null`` filters).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import uuid
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from attrs import field, frozen

from pycrm.core.kinds import ENTITY_TYPES
from pycrm.core.limits import check_decimal, check_int64, check_text
from pycrm.core.money import Money
from pycrm.errors import ConfigurationError, NotFound, ValidationError, shown

__all__ = [
    "FieldDefinition",
    "FieldProblem",
    "FieldRegistry",
    "FieldType",
    "StorageType",
    "comparable",
]

_KEY = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_KINDS = frozenset(cls.kind for cls in ENTITY_TYPES)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ()\-]{2,30}$")
_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)
_TEXT_MAX = 500


class FieldType(StrEnum):
    """The kinds of value a custom field holds."""

    TEXT = "text"
    INTEGER = "integer"
    DECIMAL = "decimal"
    MONEY = "money"
    DATE = "date"
    DATETIME = "datetime"
    BOOLEAN = "boolean"
    CHOICE = "choice"
    MULTI_CHOICE = "multi_choice"
    EMAIL = "email"
    PHONE = "phone"
    URL = "url"
    REFERENCE = "reference"


class StorageType(StrEnum):
    """How an adapter compares and orders a stored custom value (see the module doc)."""

    TEXT = "text"
    INTEGER = "integer"
    DECIMAL = "decimal"
    MONEY = "money"
    BOOLEAN = "boolean"
    LIST = "list"


_STORAGE = {
    FieldType.INTEGER: StorageType.INTEGER,
    FieldType.DECIMAL: StorageType.DECIMAL,
    FieldType.MONEY: StorageType.MONEY,
    FieldType.BOOLEAN: StorageType.BOOLEAN,
    FieldType.MULTI_CHOICE: StorageType.LIST,
}


def _label(value: str | Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    items = {"": value} if isinstance(value, str) else dict(value)
    if not items or not all(isinstance(v, str) and v.strip() for v in items.values()):
        raise ConfigurationError("a custom field label must be non-empty text")
    return tuple(sorted(items.items()))


def _choices(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


@frozen(kw_only=True)
class FieldDefinition:
    """One custom field of one entity kind.

    ``label`` is text or ``{locale: text}`` (``{"en": "Tier", "zh_CN": "等级"}``).
    ``minimum``/``maximum`` bound numbers, money amounts and dates, or the length of text;
    ``pattern`` is a regular expression text must match in full; ``choices`` lists the
    allowed values of (multiple) choice fields; ``target`` names the entity kind a
    reference points at. ``default`` is used when a new record does not give a value.
    """

    entity: str
    key: str
    type: FieldType = field(converter=FieldType)
    label: tuple[tuple[str, str], ...] = field(converter=_label)
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] = field(default=(), converter=_choices)
    minimum: Any = None
    maximum: Any = None
    pattern: str | None = None
    target: str | None = None

    def __attrs_post_init__(self) -> None:
        where = f"custom field {self.entity}.{self.key}"
        if self.entity not in _KINDS:
            raise ConfigurationError(f"{where}: unknown entity kind {self.entity!r}")
        if not _KEY.match(self.key):
            raise ConfigurationError(
                f"{where}: a key is lower-case letters, digits and underscores, "
                "starting with a letter"
            )
        choice = self.type in (FieldType.CHOICE, FieldType.MULTI_CHOICE)
        if choice and not self.choices:
            raise ConfigurationError(f"{where}: a (multi) choice field needs its choices")
        if self.choices and not choice:
            raise ConfigurationError(f"{where}: only (multi) choice fields take choices")
        if self.type is FieldType.REFERENCE and self.target is None:
            raise ConfigurationError(f"{where}: a reference field needs a target kind")
        if self.target is not None and self.type is not FieldType.REFERENCE:
            raise ConfigurationError(f"{where}: only reference fields take a target kind")
        if self.target is not None and self.target not in _KINDS:
            raise ConfigurationError(f"{where}: unknown target kind {self.target!r}")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as error:
                raise ConfigurationError(f"{where}: bad pattern: {error}") from None
        try:
            self.limit(self.minimum), self.limit(self.maximum)
        except ValueError as error:
            raise ConfigurationError(f"{where}: bad bound: {error}") from None
        if self.default is not None:
            try:
                self.check(self.default)
            except ValueError as error:
                raise ConfigurationError(f"{where}: bad default: {error}") from None

    @property
    def path(self) -> str:
        """The name used in errors, filters and the audit trail: ``custom.<key>``."""
        return f"custom.{self.key}"

    @property
    def storage(self) -> StorageType:
        """How adapters store and compare the values (dates, choices, emails… as text)."""
        return _STORAGE.get(self.type, StorageType.TEXT)

    @property
    def orderable(self) -> bool:
        """Whether lists can be ordered by this field."""
        return self.type is not FieldType.MULTI_CHOICE

    def label_for(self, locale: str = "") -> str:
        """The label in ``locale`` (``zh_CN`` falls back to ``zh``, then the first label)."""
        labels = dict(self.label)
        for name in (locale, locale.split("_")[0], "", "en"):
            if name in labels:
                return labels[name]
        return self.label[0][1]

    # -- values ---------------------------------------------------------------------------
    def parse(self, value: Any) -> Any:
        """The typed value of ``value``, without the field's bounds; ValueError if unfit."""
        parser = _PARSERS[self.type]
        return parser(self, value)

    def check(self, value: Any) -> Any:
        """The typed value of ``value`` within the field's rules; ValueError says why not."""
        typed = self.parse(value)
        self._bounds(typed)
        if self.pattern is not None and not re.fullmatch(self.pattern, str(typed)):
            raise ValueError(f"does not match the pattern {self.pattern}")
        return typed

    def _bounds(self, typed: Any) -> None:
        if isinstance(typed, tuple | bool | uuid.UUID):
            return
        measure = typed.amount if isinstance(typed, Money) else typed
        unit = ""
        if isinstance(typed, str):
            measure, unit = len(typed), " characters"
        low, high = self.limit(self.minimum), self.limit(self.maximum)
        if low is not None and measure < low:
            raise ValueError(f"must be at least {low}{unit}")
        if high is not None and measure > high:
            raise ValueError(f"must be at most {high}{unit}")

    def limit(self, bound: Any) -> Any:
        """A bound as compared: a date or time for date fields, else a Decimal."""
        if bound is None:
            return None
        if self.type in (FieldType.DATE, FieldType.DATETIME):
            return self.parse(bound)
        return _number(bound)

    def dump(self, typed: Any) -> Any:
        """The JSON-ready form stored in ``record.custom``."""
        if isinstance(typed, Money):
            return {"amount": str(typed.amount), "currency": typed.currency}
        if isinstance(typed, Decimal | uuid.UUID):
            return str(typed)
        if isinstance(typed, dt.datetime):
            return typed.astimezone(dt.UTC).isoformat(timespec="microseconds")
        if isinstance(typed, dt.date):
            return typed.isoformat()
        if isinstance(typed, tuple):
            return list(typed)
        return typed

    def comparable(self, typed: Any) -> Any:
        """The value a storage query compares with (see :func:`comparable`)."""
        if isinstance(typed, Money):
            return typed
        return comparable(self.storage, self.dump(typed))


def comparable(storage: StorageType | str, stored: Any) -> Any:
    """A stored custom value as adapters compare and order it.

    Decimal text becomes ``Decimal``, money becomes its amount (``Decimal``); everything
    else is the stored value itself (ISO dates compare as text).
    """
    if stored is None:
        return None
    if storage == StorageType.DECIMAL:
        return Decimal(str(stored))
    if storage == StorageType.MONEY and isinstance(stored, dict):
        return Decimal(str(stored["amount"]))
    return stored


# -- parsers: value -> typed, ValueError with a reason --------------------------------------


def _text(d: FieldDefinition, value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected text")
    text = check_text(value).strip()
    if not text:
        raise ValueError("must not be empty")
    if len(text) > _TEXT_MAX and d.maximum is None:
        raise ValueError(f"must be at most {_TEXT_MAX} characters")
    return text


#: More digits than any signed 64-bit integer has: out of range before ``int()`` is tried
#: (converting thousands of digits is slow, and refused past 4300).
_INT_DIGITS = 19


def _integer(d: FieldDefinition, value: Any) -> int:
    if isinstance(value, bool | float):
        raise ValueError("expected a whole number")
    return check_int64(_whole(value))


def _whole(value: Any) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+\s*", value):
        if len(value.strip().lstrip("+-").lstrip("0")) > _INT_DIGITS:
            return check_int64(10**_INT_DIGITS)  # raises with the range
        return int(value)
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        if value.adjusted() >= _INT_DIGITS:
            return check_int64(10**_INT_DIGITS)
        return int(value)
    raise ValueError("expected a whole number")


def _decimal(d: FieldDefinition, value: Any) -> Decimal:
    return check_decimal(_number(value))


def _number(value: Any) -> Decimal:
    """Any finite Decimal (bounds of a definition are not stored, so not limited)."""
    if isinstance(value, float):
        raise ValueError("use a Decimal, int or string, never a float")
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
        raise ValueError("expected a decimal number")
    try:
        number = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a decimal number") from None
    if not number.is_finite():
        raise ValueError("must be a finite number")
    return number


def _money(d: FieldDefinition, value: Any) -> Money:
    try:
        return Money.parse(value)
    except ValidationError as error:
        raise ValueError("; ".join(reason for _, reason in error.errors)) from None


def _date(d: FieldDefinition, value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        raise ValueError("expected a date, not a date and time")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError("expected a date (YYYY-MM-DD)")


def _datetime(d: FieldDefinition, value: Any) -> dt.datetime:
    moment: dt.datetime | None = None
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, str):
        with contextlib.suppress(ValueError):
            moment = dt.datetime.fromisoformat(value.strip())
    if moment is None:
        raise ValueError("expected a date and time (ISO 8601 with a UTC offset)")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("needs a UTC offset: pycrm keeps timezone-aware times only")
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError:  # 9999-12-31 23:00-05:00 is in the year 10000 in UTC
        raise ValueError("is out of range in UTC") from None


def _boolean(d: FieldDefinition, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError("expected true or false")


def _choice(d: FieldDefinition, value: Any) -> str:
    if value not in d.choices:
        raise ValueError(f"{shown(value)} is not one of: {', '.join(d.choices)}")
    return str(value)


def _multi_choice(d: FieldDefinition, value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ValueError("expected a list of choices")
    items = list(value)
    for item in items:
        _choice(d, item)
    return tuple(dict.fromkeys(items))


def _matching(regex: re.Pattern[str], what: str) -> Any:
    def parse(d: FieldDefinition, value: Any) -> str:
        text = _text(d, value)
        if not regex.match(text):
            raise ValueError(f"{text!r} is not {what}")
        return text

    return parse


def _reference(d: FieldDefinition, value: Any) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a {d.target} id")
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a {d.target} id") from None


_PARSERS: dict[FieldType, Any] = {
    FieldType.TEXT: _text,
    FieldType.INTEGER: _integer,
    FieldType.DECIMAL: _decimal,
    FieldType.MONEY: _money,
    FieldType.DATE: _date,
    FieldType.DATETIME: _datetime,
    FieldType.BOOLEAN: _boolean,
    FieldType.CHOICE: _choice,
    FieldType.MULTI_CHOICE: _multi_choice,
    FieldType.EMAIL: _matching(_EMAIL, "an email address"),
    FieldType.PHONE: _matching(_PHONE, "a phone number"),
    FieldType.URL: _matching(_URL, "an http(s) URL"),
    FieldType.REFERENCE: _reference,
}


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, list | tuple) and not value)


def _name(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise ValidationError.single(field, f"{value!r} is not a name")
    return value


class FieldRegistry:
    """The custom field definitions of one CRM, by entity kind and key."""

    def __init__(self, definitions: Iterable[FieldDefinition] = ()) -> None:
        self._defs: dict[str, dict[str, FieldDefinition]] = {}
        for definition in definitions:
            self.add(definition)

    def add(self, definition: FieldDefinition) -> FieldDefinition:
        """Add or replace a definition (stored values are never changed)."""
        if not isinstance(definition, FieldDefinition):
            raise ValidationError.single("definition", "expected a pycrm.FieldDefinition")
        self._defs.setdefault(definition.entity, {})[definition.key] = definition
        return definition

    def remove(self, entity: str, key: str) -> FieldDefinition:
        """Forget a definition; stored values stay and are returned as stored."""
        try:
            return self._defs.get(_name(entity, "entity"), {}).pop(_name(key, "key"))
        except KeyError:
            raise NotFound("custom field", f"{entity}.{key}") from None

    def get(self, entity: str, key: str) -> FieldDefinition | None:
        """The definition of ``entity``'s custom field ``key``, or None."""
        return self._defs.get(_name(entity, "entity"), {}).get(_name(key, "key"))

    def of(self, entity: str) -> list[FieldDefinition]:
        """The definitions of one entity kind, in the order they were added."""
        return list(self._defs.get(_name(entity, "entity"), {}).values())

    def __iter__(self) -> Any:
        return (d for defs in self._defs.values() for d in defs.values())

    # -- values ---------------------------------------------------------------------------
    def validate(
        self, entity: str, values: Mapping[str, Any], *, new: bool
    ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """Typed values and problems (``("custom.<key>", reason)``) of custom input.

        ``new`` records get defaults and must have every required field; on an update,
        ``values`` holds only the keys to change and ``None`` clears a value.
        """
        defs = self._defs.get(entity, {})
        typed: dict[str, Any] = {}
        errors: list[tuple[str, str]] = []
        for key, value in values.items():
            definition = defs.get(key)
            if definition is None:
                errors.append((f"custom.{key}", f"{entity} has no custom field {key!r}"))
            elif _empty(value):
                if definition.required:
                    errors.append((definition.path, "is required"))
                typed[key] = None
            else:
                try:
                    typed[key] = definition.check(value)
                except ValueError as error:
                    errors.append((definition.path, str(error)))
        if new:
            for key, definition in defs.items():
                if _empty(values.get(key)) and definition.default is not None:
                    typed[key] = definition.check(definition.default)
                    errors = [e for e in errors if e[0] != definition.path]
                elif (
                    _empty(values.get(key))
                    and definition.required
                    and (definition.path, "is required") not in errors
                ):
                    errors.append((definition.path, "is required"))
        return typed, errors

    def load(self, entity: str, stored: Mapping[str, Any]) -> dict[str, Any]:
        """Stored values, typed where a definition still accepts them, else as stored."""
        result: dict[str, Any] = {}
        for key, value in stored.items():
            definition = self.get(entity, key)
            try:
                result[key] = value if definition is None else definition.parse(value)
            except ValueError:
                result[key] = value
        return result

    def dump(self, entity: str, values: Mapping[str, Any]) -> dict[str, Any]:
        """Values as stored: JSON-ready, empty values left out."""
        result: dict[str, Any] = {}
        for key, value in values.items():
            if _empty(value):
                continue
            definition = self.get(entity, key)
            result[key] = _plain(value) if definition is None else definition.dump(value)
        return result


def _plain(value: Any) -> Any:
    """JSON-ready form of a value no definition describes (kept as it came)."""
    if isinstance(value, Money):
        return {"amount": str(value.amount), "currency": value.currency}
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    return value


@frozen(kw_only=True)
class FieldProblem:
    """A stored custom value that its current definition no longer accepts."""

    entity: str
    record_id: uuid.UUID
    path: str
    value: Any
    reason: str
