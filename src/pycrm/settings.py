"""Settings of one CRM instance, built explicitly (nothing is read from the environment)."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator

from pycrm.core.money import FixedRates, validate_currency
from pycrm.errors import ValidationError
from pycrm.schemas import errors_of

__all__ = ["Settings"]

# Names pycrm puts into SQL unquoted-safe: no quoting surprises on any database.
_PREFIX = re.compile(r"(?:[a-z][a-z0-9_]{0,19})?")
_SCHEMA = re.compile(r"[a-z][a-z0-9_]{0,62}")
_REPLICA = re.compile(r"(?i)postgres(?:ql)?(?:\+\w+)?://\S+")
_SCHEME = re.compile(r"([A-Za-z][\w+.-]*)://")


class Settings(BaseModel):
    """How a company runs its CRM. All fields have sensible defaults.

    ``exchange_rates`` maps ``"BASE/QUOTE"`` to the company's fixed rate, e.g.
    ``{"USD/CNY": Decimal("7.10")}``; the inverse direction is derived.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except pydantic.ValidationError as exc:
            raise ValidationError(errors_of(exc), entity="settings") from None

    reporting_currency: str = "CNY"
    locale: str = "zh_CN"
    default_tenant: str = "default"
    exchange_rates: dict[str, Decimal] = Field(default_factory=dict)
    #: Migrate the schema when the CRM opens the database; ``None`` means "only SQLite".
    auto_migrate: bool | None = None
    #: What every pycrm table name starts with, so pycrm's tables never meet the host
    #: application's own in one database (``""``: none, as databases of pycrm 0.1 have).
    table_prefix: str = "pycrm_"
    #: A PostgreSQL schema of pycrm's own, created on first migration (``None``: the
    #: connection's default schema). Not available on SQLite.
    postgresql_schema: str | None = None
    #: Records written per batch on bulk paths.
    batch_size: Annotated[int, Field(gt=0, le=100_000)] = 2000
    #: Dunning to-dos are created for overdue installments and for those due within this
    #: many days, today counting as the first (0: only overdue ones; 1: also due today).
    dunning_days_ahead: Annotated[int, Field(ge=0, le=366)] = 0
    #: Key of the pipeline new opportunities go into; ``None``: ``"b2b"`` when registered.
    default_pipeline: str | None = None
    #: Plugin names (or entry-point names) not to load.
    disabled_plugins: frozenset[str] = frozenset()
    #: A company's own numbers for registered pipelines' stages, by pipeline and stage key:
    #: ``{"eight_step": {"proposal": {"probability": 60, "stale_days": 10}}}``; only
    #: ``probability``, ``dwell_days`` and ``stale_days`` (see ``Pipeline.tuned``).
    stages: dict[str, dict[str, dict[str, int | None]]] = Field(default_factory=dict)
    #: PostgreSQL hot standbys of the primary (``["postgresql://user@standby1/crm", ...]``)
    #: where reads pycrm runs on its own may go: the calls of ``crm.as_user(...)`` that only
    #: read (lists, gets, counts, reports), unless ``fresh=True``. Writes, units of work
    #: opened with ``crm.unit_of_work(...)`` and a host's transactions use the primary.
    #: Needs a PostgreSQL primary; left out of ``repr`` (URLs may hold passwords). See
    #: docs/scaling.md.
    read_replicas: tuple[str, ...] = Field(default=(), repr=False)
    #: Reads skip a standby further behind the primary than this many seconds (measured
    #: with one small query every few seconds); ``None``: any lag is accepted.
    replica_max_lag_seconds: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None

    @field_validator("table_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not _PREFIX.fullmatch(value):
            raise ValueError(
                "must be empty or lower-case letters, digits and underscores, starting with a "
                "letter, at most 20 characters (e.g. 'crm_')"
            )
        return value

    @field_validator("postgresql_schema")
    @classmethod
    def _schema(cls, value: str | None) -> str | None:
        if value is not None and not _SCHEMA.fullmatch(value):
            raise ValueError(
                "must be lower-case letters, digits and underscores, starting with a letter, "
                "at most 63 characters (e.g. 'crm')"
            )
        return value

    @field_validator("read_replicas")
    @classmethod
    def _replicas(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for position, url in enumerate(value):
            if not _REPLICA.fullmatch(url):
                scheme = _SCHEME.match(url)
                shown = scheme.group(1) if scheme else "not a URL"
                raise ValueError(
                    f"item {position} ({shown}) is not a PostgreSQL URL: read replicas are "
                    "PostgreSQL hot standbys (postgresql://user@host/database)"
                )
        return value

    @field_validator("reporting_currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        return validate_currency(value)

    @field_validator("locale")
    @classmethod
    def _locale(cls, value: str) -> str:
        from babel import Locale, UnknownLocaleError

        try:
            Locale.parse(value)
        except (ValueError, UnknownLocaleError):
            raise ValueError(f"unknown locale {value!r}") from None
        return value

    @field_validator("exchange_rates")
    @classmethod
    def _rates(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        for pair in value:
            _, slash, _ = pair.partition("/")
            if not slash:
                raise ValueError(f"{pair!r} is not a currency pair such as 'USD/CNY'")
        FixedRates(value)  # validates codes and positivity
        return value
