"""Building a tenant's configuration (defaults merged with its stored changes), keeping it
per process, and the JSON forms stored changes take.

A process keeps one :class:`~pycrm.core.configuration.TenantConfiguration` per tenant with
the configuration version it was read at. A unit of work reads the tenant's versions once
(the same read its rights cache needs) and builds the configuration again only when the
version moved: another process's change is seen by the next unit of work that starts after
it committed, and an unchanged configuration costs no query.
"""

from __future__ import annotations

import datetime as dt
import threading
import zoneinfo
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from attrs import evolve
from babel import Locale, UnknownLocaleError

from pycrm.core.calendars import BusinessCalendar
from pycrm.core.configuration import (
    ConfigEntry,
    ExchangeRateEntry,
    NumberSequence,
    Picklist,
    Section,
    TenantConfiguration,
    TenantRates,
)
from pycrm.core.fields import FieldDefinition, FieldRegistry
from pycrm.core.ids import new_id
from pycrm.core.lifecycle import ChurnRules
from pycrm.core.money import Money, validate_currency
from pycrm.core.pipeline import Pipeline, Pipelines, Stage
from pycrm.core.pools import AssignmentRule, Pool
from pycrm.core.sla import CareDay, ServiceDesk, SlaPolicy
from pycrm.errors import ConfigurationError
from pycrm.storage.base import Query

if TYPE_CHECKING:
    from pycrm.crm import CRM
    from pycrm.services.unit_of_work import UnitOfWork

__all__ = [
    "DEFAULT_SEQUENCES",
    "STAGE_FIELDS",
    "Configurations",
    "build",
    "choice_value",
    "field_value",
    "pipeline_value",
]

#: Numbers every tenant starts with; a tenant changes a pattern or turns one off.
DEFAULT_SEQUENCES: dict[str, str] = {"order": "SO-{year}-{number:06d}"}

#: What a tenant may change of a registered pipeline's stage.
STAGE_FIELDS = (
    "name",
    "probability",
    "forecast",
    "dwell_days",
    "stale_days",
    "requires",
    "next",
    "backward",
)


class Configurations:
    """The tenants' configurations one CRM keeps in this process (see the module doc)."""

    def __init__(self, crm: CRM) -> None:
        self._crm = crm
        self._kept: dict[str, TenantConfiguration] = {}
        self._lock = threading.Lock()

    def of(self, uow: UnitOfWork) -> TenantConfiguration:
        """The configuration ``uow`` works with: the kept one while the tenant's version
        stands still, else read afresh in ``uow``'s transaction."""
        generation = self._crm.fields.generation
        if uow.changed_configuration:
            return build(uow, -1)  # its own uncommitted changes: never kept
        version = uow.versions()[1]
        kept = self._kept.get(uow.tenant)
        if (
            kept is not None
            and version is not None
            and kept.version == version
            and kept.defaults_generation == generation
        ):
            return kept
        config = build(uow, version if version is not None else -1)
        if version is not None:
            with self._lock:
                self._kept[uow.tenant] = config
        return config

    def forget(self) -> None:
        """Drop every kept configuration (the next unit of work of each tenant reads it)."""
        with self._lock:
            self._kept.clear()


def build(uow: UnitOfWork, version: int) -> TenantConfiguration:
    """The tenant's configuration: the CRM's defaults with the tenant's stored changes."""
    crm, scope = uow.crm, uow.everything
    entries = uow.tx.find(ConfigEntry, scope, Query(deleted=None))
    rates = uow.tx.find(ExchangeRateEntry, scope, Query(deleted=None))
    by_section: dict[str, dict[str, dict[str, Any]]] = {s: {} for s in Section.ALL}
    for entry in entries:
        if entry.value:  # an empty value puts the item back to its default
            by_section.setdefault(entry.section, {})[entry.key] = entry.value
    settings = _settings(crm, by_section[Section.SETTING])
    pipelines = _pipelines(crm, by_section[Section.PIPELINE], settings.get("default_pipeline"))
    sequences = {
        name: NumberSequence(name, pattern)
        for name, pattern in {
            **DEFAULT_SEQUENCES,
            **{k: v.get("pattern") for k, v in by_section[Section.SEQUENCE].items()},
        }.items()
        if pattern
    }
    return TenantConfiguration(
        tenant=uow.tenant,
        version=version,
        fields=_fields(crm, by_section[Section.FIELD]),
        pipelines=pipelines,
        picklists=_picklists(crm, by_section[Section.PICKLIST]),
        reporting_currency=settings["reporting_currency"],
        currencies=settings["currencies"],
        exchange_rates=TenantRates(rates, crm.exchange_rates),
        locale=settings["locale"],
        time_zone=settings["time_zone"],
        sequences=sequences,
        pools=(pools := _pools(by_section[Section.POOL])),
        assignment=_assignment(by_section[Section.ASSIGNMENT], pools),
        service=_service_desk(by_section, settings),
        churn=settings["churn_rules"],
        entries=tuple(sorted(entries, key=lambda e: (e.section, e.key))),
        rates=tuple(sorted(rates, key=lambda r: (r.base, r.quote, r.valid_from))),
        defaults_generation=crm.fields.generation,
    )


# -- settings ---------------------------------------------------------------------------
#: The settings a tenant may store, each checked when the configuration is built.
SETTINGS = (
    "reporting_currency",
    "currencies",
    "locale",
    "time_zone",
    "default_pipeline",
    "reopen_days",
    "care_days",
    "churn_rules",
)


def _settings(crm: CRM, stored: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The tenant's settings over the CRM's, each checked (ConfigurationError if not)."""
    if unknown := sorted(set(stored) - set(SETTINGS)):
        raise ConfigurationError(f"unknown settings {unknown}; settings are {list(SETTINGS)}")
    given = {k: v.get("value") for k, v in stored.items()}
    currencies = given.get("currencies") or crm.currencies
    if isinstance(currencies, str) or not isinstance(currencies, list | tuple):
        raise ConfigurationError("currencies must be a list of currency codes")
    codes = tuple(validate_currency(c) for c in currencies)
    reporting = validate_currency(
        given.get("reporting_currency") or crm.settings.reporting_currency
    )
    if reporting not in codes:
        raise ConfigurationError(f"the reporting currency {reporting} is not offered: {codes}")
    locale = given.get("locale") or crm.settings.locale
    zone = given.get("time_zone") or "UTC"
    try:
        Locale.parse(locale)
        if len(zone) > 60:
            raise ValueError(zone)
        zoneinfo.ZoneInfo(zone)
    except (ValueError, TypeError, OSError, UnknownLocaleError, zoneinfo.ZoneInfoNotFoundError):
        raise ConfigurationError(f"unknown locale {locale!r} or time zone {zone!r}") from None
    return {
        "reporting_currency": reporting,
        "currencies": codes,
        "locale": locale,
        "time_zone": zone,
        "default_pipeline": given.get("default_pipeline"),
        "reopen_days": given.get("reopen_days"),
        "care_days": given.get("care_days"),
        "churn_rules": ChurnRules.from_dict(given.get("churn_rules") or {}),
    }


# -- fields -----------------------------------------------------------------------------
def field_value(definition: FieldDefinition) -> dict[str, Any]:
    """A field definition as JSON-ready data (what a ``field`` entry stores)."""
    value: dict[str, Any] = {
        "type": definition.type.value,
        "label": dict(definition.label),
        "required": definition.required,
    }
    if definition.default is not None:
        value["default"] = definition.dump(definition.check(definition.default))
    for name in ("minimum", "maximum"):
        bound = getattr(definition, name)
        if bound is not None:
            value[name] = _plain(bound)
    if definition.choices:
        value["choices"] = list(definition.choices)
    if definition.pattern is not None:
        value["pattern"] = definition.pattern
    if definition.target is not None:
        value["target"] = definition.target
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Money):
        return str(value.amount)
    return value


def field_definition(entity: str, key: str, value: Mapping[str, Any]) -> FieldDefinition:
    """The field definition a ``field`` entry's value describes."""
    values = {k: v for k, v in value.items() if k != "retired"}
    label = values.pop("label")
    return FieldDefinition(entity=entity, key=key, label=label, **values)


def _fields(crm: CRM, stored: Mapping[str, Mapping[str, Any]]) -> FieldRegistry:
    registry = FieldRegistry(crm.fields)
    for name, value in stored.items():
        entity, _, key = name.partition(".")
        if value.get("retired"):
            if registry.get(entity, key) is not None:
                registry.remove(entity, key)
            continue
        registry.add(field_definition(entity, key, value))
    return registry


# -- pipelines --------------------------------------------------------------------------
def stage_value(stage: Stage) -> dict[str, Any]:
    return {
        "key": stage.key,
        "name": stage.name,
        "probability": stage.probability,
        "forecast": stage.forecast.value,
        "dwell_days": stage.dwell_days,
        "stale_days": stage.stale_days,
        "requires": list(stage.requires),
        "next": None if stage.next is None else list(stage.next),
        "backward": stage.backward,
    }


def pipeline_value(pipeline: Pipeline) -> dict[str, Any]:
    """A whole pipeline as JSON-ready data (a tenant's own pipeline)."""
    return {
        "key": pipeline.key,
        "name": pipeline.name,
        "stages": [stage_value(s) for s in pipeline.stages],
        "lost_reasons": list(pipeline.lost_reasons),
        "stale_days": pipeline.stale_days,
    }


def pipeline_from(value: Mapping[str, Any]) -> Pipeline:
    stages = [Stage(**{k: v for k, v in s.items()}) for s in value["stages"]]
    return Pipeline(
        key=value["key"],
        name=value["name"],
        stages=stages,
        lost_reasons=tuple(value["lost_reasons"]),
        stale_days=value.get("stale_days"),
    )


def changed_pipeline(base: Pipeline, value: Mapping[str, Any]) -> Pipeline:
    """``base`` with a tenant's changes: ``stages`` (numbers and rules by stage key),
    ``retired_stages``, ``lost_reasons``, ``stale_days`` and ``name``."""
    retired = set(value.get("retired_stages", ()))
    changes: Mapping[str, Mapping[str, Any]] = value.get("stages", {})
    if unknown := sorted((set(changes) | retired) - set(base.keys())):
        raise ConfigurationError(
            f"pipeline {base.key!r} has no stage {', '.join(map(repr, unknown))}; "
            f"its stages are {base.keys()}"
        )
    stages = []
    for stage in base.stages:
        if stage.key in retired:
            continue
        tuned = evolve(stage, **dict(changes.get(stage.key, {})))
        if tuned.next is not None:
            tuned = evolve(tuned, next=[k for k in tuned.next if k not in retired])
        stages.append(tuned)
    extra = {k: value[k] for k in ("name", "lost_reasons", "stale_days") if k in value}
    if "lost_reasons" in extra:
        extra["lost_reasons"] = tuple(extra["lost_reasons"])
    return evolve(base, stages=stages, **extra)


def _pipelines(crm: CRM, stored: Mapping[str, Mapping[str, Any]], default: str | None) -> Pipelines:
    found = dict(crm.pipelines)
    for key, value in stored.items():
        if value.get("retired"):
            found.pop(key, None)
        elif "definition" in value:
            found[key] = pipeline_from(value["definition"])
        elif key in found:
            found[key] = changed_pipeline(found[key], value)
    if default is not None and default not in found:
        raise ConfigurationError(f"the default pipeline {default!r} is not one of {sorted(found)}")
    fallback = crm.pipelines.default.key if crm.pipelines else None
    chosen = default if default is not None else (fallback if fallback in found else None)
    return Pipelines(found.values(), chosen)


# -- picklists --------------------------------------------------------------------------
def choice_value(picklist: Picklist) -> dict[str, Any]:
    """A picklist as JSON-ready data (what a ``picklist`` entry stores)."""
    return {"choices": [c.to_dict() for c in picklist.choices]}


def _picklists(crm: CRM, stored: Mapping[str, Mapping[str, Any]]) -> dict[str, Picklist]:
    from pycrm.core.configuration import Choice

    found = dict(crm.picklists)
    for name, value in stored.items():
        default = found.get(name)
        if default is None:
            raise ConfigurationError(f"no picklist {name!r}; picklists: {sorted(found)}")
        choices = [Choice(c["key"], c["labels"], c.get("active", True)) for c in value["choices"]]
        picklist = Picklist(name, choices, fixed=default.fixed, strict=default.strict)
        if default.fixed and (
            extra := sorted(set(picklist.keys(active=False)) - set(default.keys(active=False)))
        ):
            raise ConfigurationError(
                f"picklist {name!r} holds fixed values: keys {extra} cannot be added "
                "(relabel, reorder or retire its keys)"
            )
        found[name] = picklist
    return found


# -- pools and assignment ---------------------------------------------------------------
def _pools(stored: Mapping[str, Mapping[str, Any]]) -> dict[str, Pool]:
    found = {}
    for key, value in stored.items():
        pool = Pool.from_dict({**value, "key": key})
        found[key] = pool
    return found


def _assignment(
    stored: Mapping[str, Mapping[str, Any]], pools: Mapping[str, Pool]
) -> dict[str, tuple[AssignmentRule, ...]]:
    found = {}
    for entity, value in stored.items():
        rules = tuple(AssignmentRule(**{**rule, "entity": entity}) for rule in value["rules"])
        for rule in rules:
            if rule.pool is not None and rule.pool not in pools:
                raise ConfigurationError(f"an assignment rule names no pool {rule.pool!r}")
        found[entity] = rules
    return found


# -- the service desk -------------------------------------------------------------------
def _service_desk(
    by_section: Mapping[str, Mapping[str, Mapping[str, Any]]], settings: Mapping[str, Any]
) -> ServiceDesk:
    """Calendars (a default one in the tenant's time zone unless it sets its own), SLA
    policies by rank then key, the reopen window and the care days."""
    calendars = {"default": BusinessCalendar(time_zone=settings["time_zone"])}
    for key, value in by_section[Section.CALENDAR].items():
        calendars[key] = BusinessCalendar.from_json({**value, "key": key})
    stored = by_section[Section.SLA].items()
    policies = sorted(
        (SlaPolicy.from_dict({**value, "key": key}) for key, value in stored),
        key=lambda p: (p.rank, p.key),
    )
    for policy in policies:
        if policy.calendar not in calendars:
            raise ConfigurationError(
                f"SLA policy {policy.key!r} names no calendar {policy.calendar!r}"
            )
        policy.targets(calendars[policy.calendar])  # its durations on that calendar
    reopen = settings["reopen_days"]
    if reopen is None:
        reopen = 7
    if isinstance(reopen, bool) or not isinstance(reopen, int) or not 0 <= reopen <= 3650:
        raise ConfigurationError("reopen_days must be a whole number from 0 to 3650")
    days = settings["care_days"] or []
    if not isinstance(days, list) or not all(isinstance(d, Mapping) for d in days):
        raise ConfigurationError("care_days is a list of {on, name}")
    try:
        care = tuple(CareDay(**dict(d)) for d in days)
    except TypeError as error:
        raise ConfigurationError(f"care day: {error}") from None
    return ServiceDesk(
        calendars=calendars, policies=tuple(policies), reopen_days=reopen, care_days=care
    )


def new_entry(uow: UnitOfWork, section: str, key: str, value: dict[str, Any]) -> ConfigEntry:
    now = uow.now()
    return ConfigEntry(
        id=new_id(),
        tenant=uow.tenant,
        section=section,
        key=key,
        value=value,
        created_at=now,
        updated_at=now,
        updated_by=uow.user,
    )
