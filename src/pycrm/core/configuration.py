"""A tenant's own configuration: what each company changes about its CRM at run time.

Plugins and settings give every tenant its starting point (custom fields, pipelines,
currencies, rates, locale); a tenant's changes are stored as :class:`ConfigEntry` records
(one per field, pipeline, picklist, sequence or setting) and :class:`ExchangeRateEntry`
records (one per currency pair and start date). :class:`TenantConfiguration` is the two
merged: the immutable view every unit of work of that tenant reads.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, ClassVar

from attrs import define, field, frozen

from pycrm.core.fields import FieldRegistry
from pycrm.core.ids import new_id
from pycrm.core.lifecycle import ChurnRules
from pycrm.core.money import DatedRates, ExchangeRates
from pycrm.core.pipeline import Pipelines
from pycrm.core.pools import AssignmentRule, Pool
from pycrm.core.sla import ServiceDesk
from pycrm.errors import ConfigurationError, ExchangeRateMissing

__all__ = [
    "LOCALES",
    "PICKLIST_FIELDS",
    "Choice",
    "ConfigEntry",
    "ExchangeRateEntry",
    "NumberSequence",
    "Picklist",
    "Section",
    "TenantConfiguration",
    "TenantRates",
]

#: The locales pycrm ships labels and messages for.
LOCALES = ("zh_CN", "en_US", "ja_JP")

_KEY = re.compile(r"[a-z][a-z0-9_]{0,62}")
_CHOICE_KEY = re.compile(r"\S(?:.{0,78}\S)?")


class Section:
    """What a :class:`ConfigEntry` configures (its ``section``)."""

    FIELD = "field"  # key "<entity>.<key>": a custom field definition
    PIPELINE = "pipeline"  # key: the pipeline's key
    PICKLIST = "picklist"  # key: the picklist's name
    SEQUENCE = "sequence"  # key: the sequence's name
    SETTING = "setting"  # key: reporting_currency, currencies, locale, time_zone...
    POOL = "pool"  # key: the public pool's key
    ASSIGNMENT = "assignment"  # key: "customer" or "lead": who new records go to
    CALENDAR = "calendar"  # key: the business calendar's key
    SLA = "sla"  # key: the SLA policy's key

    ALL = (FIELD, PIPELINE, PICKLIST, SEQUENCE, SETTING, POOL, ASSIGNMENT, CALENDAR, SLA)


#: Record fields that take their values from a picklist: (entity, field) -> picklist name.
PICKLIST_FIELDS: dict[tuple[str, str], str] = {
    ("customer", "industry"): "industry",
    ("customer", "level"): "customer_level",
    ("customer", "region"): "region",
    ("customer", "source"): "source",
    ("lead", "source"): "source",
    ("customer", "type"): "customer_type",
    ("customer", "status"): "customer_status",
    ("contact", "role"): "contact_role",
    ("ticket", "type"): "ticket_type",
    ("ticket", "channel"): "ticket_channel",
    ("activity", "type"): "activity_type",
    ("opportunity", "lost_reason"): "lost_reason",
}


_BOUND: dict[str, tuple[str, ...]] = {}
for _entity, _field in PICKLIST_FIELDS:
    _BOUND[_entity] = (*_BOUND.get(_entity, ()), _field)


@define(eq=False, kw_only=True)
class ConfigEntry:
    """One stored piece of a tenant's configuration: ``value`` is JSON-ready data whose
    shape the ``section`` decides. Audited under the kind ``"config_entry"``."""

    kind: ClassVar[str] = "config_entry"

    id: uuid.UUID = field(factory=new_id)
    tenant: str
    section: str
    key: str
    value: dict[str, Any] = field(factory=dict)
    created_at: dt.datetime
    updated_at: dt.datetime
    updated_by: uuid.UUID | None = None
    version: int = 1


@define(eq=False, kw_only=True)
class ExchangeRateEntry:
    """A tenant's rate of ``base`` in ``quote``, valid from ``valid_from`` until the next
    entry of the pair starts. Correcting it updates the entry (audited)."""

    kind: ClassVar[str] = "exchange_rate"

    id: uuid.UUID = field(factory=new_id)
    tenant: str
    base: str
    quote: str
    valid_from: dt.date
    rate: Decimal
    note: str | None = None
    created_at: dt.datetime
    updated_at: dt.datetime
    updated_by: uuid.UUID | None = None
    version: int = 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, as configuration exports hold it (the rate as exact text)."""
        return {
            "base": self.base,
            "quote": self.quote,
            "valid_from": self.valid_from.isoformat(),
            "rate": str(self.rate),
            "note": self.note,
        }


def _labels(value: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    items = dict(value)
    if not items or not all(
        isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in items.items()
    ):
        raise ConfigurationError("labels must map locales to non-empty text")
    return tuple(sorted(items.items()))


@frozen
class Choice:
    """One key of a picklist, its labels by locale (``{"zh_CN": "制造业", "en_US":
    "Manufacturing"}``) and whether new records may still take it."""

    key: str
    labels: tuple[tuple[str, str], ...] = field(converter=_labels)
    active: bool = True

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.key, str) or not _CHOICE_KEY.fullmatch(self.key):
            raise ConfigurationError(
                f"picklist key {self.key!r}: give 1 to 80 characters without surrounding spaces"
            )

    def label(self, locale: str) -> str:
        """The label in ``locale``: the exact locale, its language, English, else the key."""
        labels = dict(self.labels)
        language = locale.split("_")[0]
        for name in (locale, language, "en_US", "en"):
            if name in labels:
                return labels[name]
        same = [text for code, text in self.labels if code.split("_")[0] == language]
        return same[0] if same else self.key

    def to_dict(self) -> dict[str, Any]:
        """This choice as JSON-ready data: ``{"key": ..., "labels": {...}, "active": ...}``."""
        return {"key": self.key, "labels": dict(self.labels), "active": self.active}


def _choices(value: Iterable[Choice]) -> tuple[Choice, ...]:
    return tuple(value)


@frozen
class Picklist:
    """A tenant's list of keys for a field (a dictionary, 数据字典), in display order.

    ``fixed``: the field holds one of pycrm's own values (an enum), so a tenant may relabel,
    reorder and retire keys but not add new ones. A picklist without keys leaves its field
    free text; one with keys accepts only its active keys, or, when not ``strict``, any
    value but a retired key (lost reasons: each pipeline lists the reasons it offers, the
    list gives them labels).
    """

    name: str
    choices: tuple[Choice, ...] = field(default=(), converter=_choices)
    fixed: bool = False
    strict: bool = True

    def __attrs_post_init__(self) -> None:
        if not _KEY.fullmatch(self.name):
            raise ConfigurationError(
                f"picklist {self.name!r}: a name is lower-case letters, digits and "
                "underscores, starting with a letter"
            )
        keys = [c.key for c in self.choices]
        if repeated := sorted({k for k in keys if keys.count(k) > 1}):
            raise ConfigurationError(f"picklist {self.name!r}: keys repeat: {repeated}")

    def keys(self, *, active: bool = True) -> list[str]:
        """The keys in order (only the active ones unless ``active=False``)."""
        return [c.key for c in self.choices if c.active or not active]

    def choice(self, key: str) -> Choice | None:
        """The choice with ``key``, or ``None`` when the list does not have it."""
        return next((c for c in self.choices if c.key == key), None)

    def label(self, key: str | None, locale: str) -> str | None:
        """``key``'s label in ``locale`` (the key itself when the list does not have it)."""
        if key is None:
            return None
        found = self.choice(key)
        return found.label(locale) if found is not None else key

    def accepts(self, value: str) -> bool:
        """Whether a record may take ``value``: any text while the list is empty."""
        if not self.choices:
            return True
        found = self.choice(value)
        return found.active if found is not None else not self.strict

    def fields(self) -> list[str]:
        """The record fields bound to this list, as ``entity.field``."""
        return [f"{e}.{f}" for (e, f), name in PICKLIST_FIELDS.items() if name == self.name]


@frozen
class NumberSequence:
    """Human-readable numbers such as ``SO-2026-000123``: ``pattern`` is a format with
    ``{number}`` and optionally ``{year}`` and ``{month}``; numbering starts again at 1 in
    each period the pattern names (each year with ``{year}``)."""

    name: str
    pattern: str

    def __attrs_post_init__(self) -> None:
        if not _KEY.fullmatch(self.name):
            raise ConfigurationError(f"sequence {self.name!r}: give a lower-case name")
        try:
            sample = self.pattern.format(number=1, year=2026, month=1)
        except (KeyError, IndexError, ValueError) as error:
            raise ConfigurationError(
                f"sequence {self.name!r}: pattern {self.pattern!r} is not a format with "
                f"{{number}} and optionally {{year}} and {{month}} ({error})"
            ) from None
        if "{number" not in self.pattern or not 0 < len(sample) <= 60:
            raise ConfigurationError(
                f"sequence {self.name!r}: the pattern must contain {{number}} and give at "
                "most 60 characters"
            )

    def period(self, day: dt.date) -> str:
        """The period ``day`` counts in: ``"2026"``, ``"2026-11"`` or ``""`` (never resets)."""
        if "{month" in self.pattern:
            return f"{day.year:04d}-{day.month:02d}"
        return f"{day.year:04d}" if "{year" in self.pattern else ""

    def format(self, number: int, day: dt.date) -> str:
        """Number ``number`` of a record made on ``day`` (``"SO-2026-000123"``)."""
        return self.pattern.format(number=number, year=day.year, month=day.month)


class TenantRates:
    """A tenant's stored rates, falling back on the plugins' rates for pairs and dates it
    has none for. Each stored rate holds from its date until the pair's next one; the
    inverse pair is derived when only one direction is stored."""

    def __init__(self, entries: Iterable[ExchangeRateEntry], fallback: ExchangeRates) -> None:
        pairs: dict[str, list[tuple[dt.date, Decimal]]] = {}
        for entry in entries:
            pairs.setdefault(f"{entry.base}/{entry.quote}", []).append(
                (entry.valid_from, entry.rate)
            )
        self._stored = DatedRates(pairs)
        self.fallback = fallback

    def rate(self, base: str, quote: str, on: dt.date) -> Decimal:
        """Units of ``quote`` per unit of ``base`` valid on ``on``."""
        try:
            return self._stored.rate(base, quote, on)
        except ExchangeRateMissing:
            return self.fallback.rate(base, quote, on)


@frozen(kw_only=True)
class TenantConfiguration:
    """One tenant's configuration as of one version: defaults merged with its changes.

    ``version`` is the tenant's configuration version it was read at (``-1``: read inside
    a unit of work that changed it, or from a backend that keeps no version).
    """

    tenant: str
    version: int
    fields: FieldRegistry
    pipelines: Pipelines
    picklists: Mapping[str, Picklist]
    reporting_currency: str
    currencies: tuple[str, ...]
    exchange_rates: ExchangeRates
    locale: str
    time_zone: str
    sequences: Mapping[str, NumberSequence]
    pools: Mapping[str, Pool] = field(factory=dict)
    assignment: Mapping[str, tuple[AssignmentRule, ...]] = field(factory=dict)
    service: ServiceDesk = field(factory=lambda: ServiceDesk(calendars={}))
    churn: ChurnRules = field(factory=ChurnRules)
    entries: tuple[ConfigEntry, ...] = ()
    rates: tuple[ExchangeRateEntry, ...] = ()
    #: What the process-wide defaults were when this was built (``crm.fields`` can change).
    defaults_generation: int = 0

    def picklist_of(self, entity: str, name: str) -> Picklist | None:
        """The picklist bound to ``entity``'s built-in field ``name``, if any."""
        bound = PICKLIST_FIELDS.get((entity, name))
        return self.picklists.get(bound) if bound is not None else None

    def label(self, entity: str, name: str, key: str | None, locale: str | None = None) -> Any:
        """The label of a picklist-bound field's value in ``locale`` (the tenant's locale
        by default); the value itself when the field has no picklist."""
        picklist = self.picklist_of(entity, name)
        if picklist is None:
            return key
        return picklist.label(key, locale or self.locale)

    def picklist_problems(self, entity: str, values: Mapping[str, Any]) -> list[tuple[str, str]]:
        """``(field, reason)`` for each picklist-bound value the tenant does not accept."""
        return [(name, why) for _, name, why in self.picklist_problems_of(entity, [values])]

    def picklist_problems_of(
        self, entity: str, rows: Sequence[Mapping[str, Any]]
    ) -> list[tuple[int, str, str]]:
        """``(row, field, reason)`` for each picklist-bound value of ``rows`` the tenant
        does not accept, by row then field: each distinct value of a field asked once (a
        batch holds few levels, sources and regions)."""
        problems = []
        for name in _BOUND.get(entity, ()):
            picklist = self.picklists.get(PICKLIST_FIELDS[(entity, name)])
            if picklist is None or not picklist.choices:
                continue  # no list, or an empty one: any text
            refused: dict[str, str] = {}
            for value in {str(v) for row in rows if (v := row.get(name)) is not None}:
                if not picklist.accepts(value):
                    refused[value] = (
                        f"{value!r} is not an active key of picklist {picklist.name!r}; "
                        f"choose one of {picklist.keys()}"
                        if picklist.strict
                        else f"{value!r} is a retired key of picklist {picklist.name!r}"
                    )
            if refused:
                problems += [
                    (i, name, refused[text])
                    for i, row in enumerate(rows)
                    if (v := row.get(name)) is not None and (text := str(v)) in refused
                ]
        return sorted(problems, key=lambda problem: problem[0])
