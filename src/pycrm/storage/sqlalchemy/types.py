"""Column types that keep data exact on every dialect."""

import datetime as dt
import json
import uuid
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

__all__ = ["ExactDecimal", "JSONData", "UTCDateTime", "Uuid", "json_from_text"]

#: JSON on SQLite, JSONB on PostgreSQL (indexable, and expression indexes work on it).
JSONData = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


_EMPTY_JSON: dict[str | bytes, type[dict[str, Any]] | type[list[Any]]] = {"{}": dict, "[]": list}


def json_from_text(text: str | bytes) -> Any:
    """``json.loads``, with an empty object or list (most records' custom fields and tags)
    made without parsing: the JSON reader of pycrm's SQLite engines."""
    empty = _EMPTY_JSON.get(text)
    return empty() if empty is not None else json.loads(text)


class UTCDateTime(sa.TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every dialect (SQLite keeps no offset)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pycrm stores timezone-aware UTC times only")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        zone = value.tzinfo
        if zone is None or getattr(zone, "key", None) in _UTC_NAMES:
            # PostgreSQL's time zone is most often Etc/UTC, which psycopg gives as a
            # ZoneInfo: converting through it costs microseconds a value, renaming none.
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)

    def result_processor(self, dialect: sa.Dialect, coltype: object) -> Any:
        if dialect.name == "sqlite":
            return _utc_from_text
        return super().result_processor(dialect, coltype)


_from_text, _UTC = dt.datetime.fromisoformat, dt.UTC
#: Names of time zones that are UTC all year round (a ZoneInfo's ``key``).
_UTC_NAMES = frozenset(
    {"UTC", "Etc/UTC", "UCT", "Etc/UCT", "Universal", "Etc/Universal", "Zulu", "Etc/Zulu"}
)


def _utc_from_text(value: Any) -> dt.datetime | None:
    """A UTC time from SQLite's text in one step (SQLAlchemy's own parses with a regular
    expression, then the time is made aware): every time of every row read comes here."""
    if value is None:
        return None
    made = value if isinstance(value, dt.datetime) else _from_text(value)
    return made.replace(tzinfo=_UTC) if made.tzinfo is None else made.astimezone(_UTC)


class ExactDecimal(sa.TypeDecorator[Decimal]):
    """A Decimal kept as text, so no dialect turns it into a float (quantities, rates)."""

    impl = sa.String(64)
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: sa.Dialect) -> Any:
        return None if value is None else str(value)

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


_new, _set, _UNKNOWN = object.__new__, object.__setattr__, uuid.SafeUUID.unknown


def _uuid_from_text(value: Any) -> uuid.UUID | None:
    """A UUID from SQLite's 32 hex digits, built the way ``uuid.UUID`` builds itself but
    without re-parsing the text: every id of every row read goes through here."""
    if value is None:
        return None
    digits = value.replace("-", "") if len(value) != 32 else value
    if len(digits) != 32:
        return uuid.UUID(value)  # not pycrm's form: uuid.UUID says what is wrong
    made = _new(uuid.UUID)
    _set(made, "int", int(digits, 16))
    _set(made, "is_safe", _UNKNOWN)
    return made


class Uuid(sa.Uuid[uuid.UUID]):
    """``sa.Uuid`` (native on PostgreSQL, 32 hex digits on SQLite), read faster on SQLite."""

    cache_ok = True

    def result_processor(self, dialect: sa.Dialect, coltype: object) -> Any:
        if dialect.name == "sqlite" and self.as_uuid:
            return _uuid_from_text
        return super().result_processor(dialect, coltype)  # type: ignore[no-untyped-call]
