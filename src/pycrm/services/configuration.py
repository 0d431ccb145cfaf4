"""``uow.configuration``: a tenant's own configuration, read and changed at run time.

Every change is validated (the tenant's whole configuration must still build), audited
(kind ``config_entry`` or ``exchange_rate``), raises the tenant's configuration version
(so every process sees it from its next unit of work on) and emits
``configuration.changed``. Nothing a stored record uses is taken away: retiring a field, a
stage or a picklist key that records hold is refused with the number of those records.
Changing configuration takes the ``edit`` right on ``configuration`` for the whole tenant
(the system administrator's role, or :data:`pycrm.SYSTEM_USER`).
"""

from __future__ import annotations

import builtins
import datetime as dt
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, cast

from pydantic import Field

from pycrm.core.audit import Change, ChangeAction, FieldChange
from pycrm.core.calendars import BusinessCalendar
from pycrm.core.configuration import (
    LOCALES,
    Choice,
    ConfigEntry,
    ExchangeRateEntry,
    Picklist,
    Section,
    TenantConfiguration,
)
from pycrm.core.events import ConfigurationChanged
from pycrm.core.fields import FieldDefinition, FieldType
from pycrm.core.ids import new_id, new_ids
from pycrm.core.lifecycle import ChurnRules
from pycrm.core.limits import check_text
from pycrm.core.money import validate_currency
from pycrm.core.opportunities import Opportunity, OpportunityStatus
from pycrm.core.org import Department, User
from pycrm.core.pipeline import ForecastCategory, Pipeline
from pycrm.core.pools import ASSIGNABLE, AssignmentRule, Pool
from pycrm.core.sla import CareDay, SlaPolicy
from pycrm.errors import ConfigurationError, ValidationError
from pycrm.schemas import checked_call, exact_number
from pycrm.services.auditing import audited
from pycrm.services.config_checks import check_nothing_in_use
from pycrm.services.fields import checked_definition
from pycrm.services.lookups import require_configure
from pycrm.services.tenant_config import (
    choice_value,
    field_value,
    new_entry,
    pipeline_value,
)
from pycrm.storage.base import Filter, Op, Query
from pycrm.storage.capabilities.configuration import numbering

if TYPE_CHECKING:
    from pycrm.services.unit_of_work import Step, UnitOfWork

__all__ = ["EXPORT_FORMAT", "ConfigurationService"]

#: What :meth:`ConfigurationService.export` documents are marked with.
EXPORT_FORMAT = "pycrm-configuration/1"


class ConfigurationService:
    """``uow.configuration`` (and ``crm.as_user(...).configuration``): see the module doc.

    >>> import pycrm
    >>> crm = pycrm.CRM.connect("memory://", load_entry_points=False)
    >>> with crm.unit_of_work(tenant="acme", user=pycrm.SYSTEM_USER) as uow:
    ...     uow.configuration.set_reporting_currency("USD")
    ...     uow.config.reporting_currency
    'USD'
    """

    def __init__(self, step: Step) -> None:
        self._step = step

    # -- reading ----------------------------------------------------------------------
    @checked_call
    def current(self) -> TenantConfiguration:
        """The tenant's configuration as the next call would use it."""
        with self._step(read_only=True) as uow:
            return uow.config

    @checked_call
    def rates(
        self, base: str | None = None, quote: str | None = None
    ) -> builtins.list[ExchangeRateEntry]:
        """The tenant's stored rates (of one pair when ``base`` and ``quote`` are given),
        by pair and start date."""
        filters = []
        if base is not None:
            filters.append(Filter("base", Op.EQ, validate_currency(base)))
        if quote is not None:
            filters.append(Filter("quote", Op.EQ, validate_currency(quote)))
        with self._step(read_only=True) as uow:
            query = Query(filters=tuple(filters), deleted=None)
            found = uow.tx.find(ExchangeRateEntry, uow.everything, query)
        return sorted(found, key=lambda r: (r.base, r.quote, r.valid_from))

    @checked_call
    def history(self, section: str, key: str) -> builtins.list[Change]:
        """Every change of one item, oldest first: ``history("pipeline", "b2b")``; a rate
        is ``history("exchange_rate", "USD/CNY/2026-01-01")``."""
        with self._step(read_only=True) as uow:
            if section == "exchange_rate":
                found: Any = self._rate(uow, *_rate_key(key), lock=False)
            else:
                found = self._entry(uow, _section(section), key, lock=False)
            if found is None:
                return []
            return uow.tx.changes(uow.everything, found.kind, found.id)

    # -- custom fields ----------------------------------------------------------------
    @checked_call
    def define_field(
        self,
        entity: str,
        key: str,
        type: FieldType | str,
        *,
        label: str | Mapping[str, str],
        required: bool = False,
        default: Any = None,
        choices: Sequence[str] = (),
        minimum: Any = None,
        maximum: Any = None,
        pattern: str | None = None,
        target: str | None = None,
    ) -> FieldDefinition:
        """Add a custom field to ``entity`` for this tenant, or change its definition.
        Stored values are never changed (``crm.fields.check`` lists those a new
        definition rejects)."""
        definition = checked_definition(
            entity, key, type, label=label, required=required, default=default,
            choices=choices, minimum=minimum, maximum=maximum, pattern=pattern, target=target,
        )  # fmt: skip
        with self._step() as uow:
            self._put(uow, Section.FIELD, f"{entity}.{key}", field_value(definition))
            found = uow.config.fields.get(entity, key)
            assert found is not None
            return found

    @checked_call
    def retire_field(self, entity: str, key: str) -> None:
        """Take a custom field away from this tenant. Refused (RuleViolation with the
        count) while live records hold a value for it: clear those values first."""
        with self._step() as uow:
            if uow.config.fields.get(entity, key) is None:
                raise ValidationError.single("key", f"{entity} has no custom field {key!r}")
            self._put(uow, Section.FIELD, f"{entity}.{key}", {"retired": True})

    # -- pipelines --------------------------------------------------------------------
    @checked_call
    def change_stage(
        self,
        pipeline: str,
        stage: str,
        *,
        probability: int | None = None,
        forecast: ForecastCategory | None = None,
        dwell_days: int | None = None,
        stale_days: int | None = None,
        requires: Sequence[str] | None = None,
        next: Sequence[str] | None = None,
        backward: bool | None = None,
        name: str | None = None,
    ) -> Pipeline:
        """Change a stage of one of this tenant's pipelines (built-in ones included, no
        copy needed); what is not given (``None``) stays. Weighted pipelines, forecasts
        and stale warnings use the new numbers from the next call on: open opportunities
        in the stage that still carry its old probability take the new one (each change
        audited); those whose probability was set by hand keep theirs."""
        given = {
            "probability": probability,
            "forecast": forecast,
            "dwell_days": dwell_days,
            "stale_days": stale_days,
            "requires": requires,
            "next": next,
            "backward": backward,
            "name": name,
        }
        changes = {k: v for k, v in given.items() if v is not None}
        if not changes:
            raise ValidationError.single("stage", "say what to change (probability=...)")
        values = {k: _plain_stage_value(k, v) for k, v in changes.items()}
        with self._step() as uow:
            current = uow.config.pipelines.get_or_error(pipeline)
            if not current.has_stage(stage):
                current.stage(stage)  # raises the ValidationError naming the stages
            old = current.stage(stage).probability
            changed = self._change_pipeline(uow, pipeline, lambda v: _merge_stage(v, stage, values))
            if probability is not None and probability != old:
                _follow_stage(uow, pipeline, stage, old, probability)
            return changed

    @checked_call
    def change_pipeline(
        self,
        pipeline: str,
        *,
        name: str | None = None,
        lost_reasons: Sequence[str] | None = None,
        stale_days: int | None = None,
    ) -> Pipeline:
        """Change a pipeline's name, lost reasons or stale days for this tenant."""
        given: dict[str, Any] = {}
        if name is not None:
            given["name"] = _text(name, "name")
        if lost_reasons is not None:
            if isinstance(lost_reasons, str) or not all(isinstance(r, str) for r in lost_reasons):
                raise ValidationError.single("lost_reasons", "give a list of reason keys")
            given["lost_reasons"] = list(lost_reasons)
        if stale_days is not None:
            given["stale_days"] = stale_days
        with self._step() as uow:
            uow.config.pipelines.get_or_error(pipeline)
            return self._change_pipeline(uow, pipeline, lambda v: {**v, **given})

    @checked_call
    def retire_stage(self, pipeline: str, stage: str) -> Pipeline:
        """Take a stage out of a pipeline for this tenant. Refused (RuleViolation with the
        count) while opportunities are in it, open or closed there: move them first."""
        with self._step() as uow:
            current = uow.config.pipelines.get_or_error(pipeline)
            if not current.has_stage(stage):
                current.stage(stage)
            if len(current.stages) == 1:
                raise ValidationError.single("stage", "a pipeline keeps at least one stage")

            def retire(value: dict[str, Any]) -> dict[str, Any]:
                return {**value, "retired_stages": [*value.get("retired_stages", []), stage]}

            return self._change_pipeline(uow, pipeline, retire)

    @checked_call
    def define_pipeline(self, pipeline: Pipeline) -> Pipeline:
        """Add a pipeline of this tenant's own, or replace one (a registered pipeline's
        key gives the tenant its own version of it). Stages that opportunities are in must
        stay."""
        if not isinstance(pipeline, Pipeline):
            raise ValidationError.single("pipeline", "give a pycrm.Pipeline")
        with self._step() as uow:
            self._put(uow, Section.PIPELINE, pipeline.key, {"definition": pipeline_value(pipeline)})
            return uow.config.pipelines[pipeline.key]

    @checked_call
    def reset_pipeline(self, pipeline: str) -> Pipeline | None:
        """Put a pipeline back as plugins register it (``None`` for a tenant's own, which
        is then gone: refused while opportunities use it)."""
        with self._step() as uow:
            uow.config.pipelines.get_or_error(pipeline)
            self._put(uow, Section.PIPELINE, pipeline, {})
            return uow.config.pipelines.get(pipeline)

    @checked_call
    def set_default_pipeline(self, pipeline: str) -> None:
        """The pipeline this tenant's new opportunities go into when none is named."""
        with self._step() as uow:
            key = uow.config.pipelines.get_or_error(pipeline).key
            self._put(uow, Section.SETTING, "default_pipeline", {"value": key})

    def _change_pipeline(self, uow: UnitOfWork, key: str, change: Any) -> Pipeline:
        entry = self._entry(uow, Section.PIPELINE, key)
        value = dict(entry.value) if entry is not None else {}
        if key not in uow.crm.pipelines and "definition" not in value:
            value = {"definition": pipeline_value(uow.config.pipelines[key])}
        if "definition" in value:  # a tenant's own pipeline: change its definition
            new = _apply_to_definition(value["definition"], change({}))
        else:
            new = change(value)
        self._put(uow, Section.PIPELINE, key, new)
        return uow.config.pipelines[key]

    # -- picklists --------------------------------------------------------------------
    @checked_call
    def set_picklist(self, name: str, choices: Sequence[Choice | Mapping[str, Any]]) -> Picklist:
        """Give a picklist its keys, labels, order and active flags (the whole list).
        A key records hold may be made inactive (new records can no longer take it) only
        through :meth:`retire_choice`, and never dropped from the list."""
        items = _choices(choices)
        with self._step() as uow:
            return self._set_picklist(uow, name, items)

    def _set_picklist(self, uow: UnitOfWork, name: str, choices: list[Choice]) -> Picklist:
        current = self._picklist_or_error(uow, name)
        try:
            picklist = Picklist(name, choices, fixed=current.fixed, strict=current.strict)
        except ConfigurationError as error:
            raise ValidationError.single("choices", str(error)) from None
        self._put(uow, Section.PICKLIST, name, choice_value(picklist))
        return uow.config.picklists[name]

    @checked_call
    def add_choice(self, name: str, key: str, labels: Mapping[str, str]) -> Picklist:
        """Add a key at the end of a picklist (or change the labels of one it has)."""
        with self._step() as uow:
            current = self._picklist_or_error(uow, name)
            choices = [c for c in current.choices if c.key != key]
            old = current.choice(key)
            try:
                added = Choice(key, labels, True if old is None else old.active)
            except (ConfigurationError, TypeError) as error:
                raise ValidationError.single("labels", str(error)) from None
            position = current.choices.index(old) if old is not None else len(choices)
            choices.insert(position, added)
            return self._set_picklist(uow, name, choices)

    @checked_call
    def retire_choice(self, name: str, key: str) -> Picklist:
        """Make a key inactive: new and changed records can no longer take it. Refused
        (RuleViolation with the count) while live records hold it."""
        with self._step() as uow:
            current = self._picklist_or_error(uow, name)
            if current.choice(key) is None:
                raise ValidationError.single(
                    "key", f"picklist {name!r} has no key {key!r}; its keys: {current.keys()}"
                )
            choices = [
                Choice(c.key, dict(c.labels), c.active and c.key != key) for c in current.choices
            ]
            return self._set_picklist(uow, name, choices)

    def _picklist_or_error(self, uow: UnitOfWork, name: str) -> Picklist:
        found = uow.config.picklists.get(name)
        if found is None:
            raise ValidationError.single(
                "name", f"no picklist {name!r}; picklists: {sorted(uow.config.picklists)}"
            )
        return found

    # -- public pools and assignment ---------------------------------------------------
    @checked_call
    def set_pool(self, pool: Pool) -> Pool:
        """Add a public pool to this tenant, or change one (:class:`pycrm.Pool`: members,
        caps, cooldown, recycle rules)."""
        if not isinstance(pool, Pool):
            raise ValidationError.single("pool", "give a pycrm.Pool")
        with self._step() as uow:
            self._put(uow, Section.POOL, pool.key, pool.to_dict())
            return uow.config.pools[pool.key]

    @checked_call
    def remove_pool(self, key: str) -> None:
        """Take a pool away. Refused (RuleViolation with the count) while customers are in
        it: assign them first."""
        with self._step() as uow:
            if key not in uow.config.pools:
                raise ValidationError.single(
                    "key", f"no pool {key!r}; pools: {sorted(uow.config.pools)}"
                )
            self._put(uow, Section.POOL, key, {})

    @checked_call
    def set_assignment(self, entity: str, rules: Sequence[AssignmentRule]) -> None:
        """Who this tenant's new customers or leads go to when a job creates them for
        nobody: the first :class:`pycrm.AssignmentRule` that matches (none: they stay
        the job's). An empty list removes the rules."""
        if entity not in ASSIGNABLE:
            raise ValidationError.single("entity", f"give one of {sorted(ASSIGNABLE)}")
        if not all(isinstance(r, AssignmentRule) and r.entity == entity for r in rules):
            raise ValidationError.single("rules", f"give pycrm.AssignmentRule objects for {entity}")
        value = {"rules": [r.to_dict() for r in rules]} if rules else {}
        with self._step() as uow:
            for position, rule in enumerate(rules):
                _check_assignment_target(uow, position, rule)
            self._put(uow, Section.ASSIGNMENT, entity, value)

    # -- the service desk ---------------------------------------------------------------
    @checked_call
    def set_calendar(self, calendar: BusinessCalendar) -> BusinessCalendar:
        """Add a business calendar (:class:`pycrm.BusinessCalendar`: working days and
        hours, time zone, holidays, make-up working days), or change one; the key
        ``"default"`` replaces the tenant's default calendar. Tickets opened from then on
        get deadlines on it."""
        if not isinstance(calendar, BusinessCalendar):
            raise ValidationError.single("calendar", "give a pycrm.BusinessCalendar")
        value = calendar.to_json()
        value.pop("key", None)
        with self._step() as uow:
            self._put(uow, Section.CALENDAR, calendar.key, value)
            return uow.config.service.calendars[calendar.key]

    @checked_call
    def remove_calendar(self, key: str) -> None:
        """Take a calendar away (``"default"`` goes back to Monday–Friday 09:00–18:00).
        Refused (ValidationError) while an SLA policy uses it."""
        with self._step() as uow:
            if self._entry(uow, Section.CALENDAR, key) is None:
                raise ValidationError.single("key", f"the tenant set no calendar {key!r}")
            self._put(uow, Section.CALENDAR, key, {})

    @checked_call
    def set_sla_policy(self, policy: SlaPolicy) -> SlaPolicy:
        """Add an SLA policy (:class:`pycrm.SlaPolicy`), or change one. Tickets opened or
        re-prioritised from then on get its deadlines; open tickets keep theirs."""
        if not isinstance(policy, SlaPolicy):
            raise ValidationError.single("policy", "give a pycrm.SlaPolicy")
        value = policy.to_dict()
        value.pop("key")
        with self._step() as uow:
            self._put(uow, Section.SLA, policy.key, value)
            return next(p for p in uow.config.service.policies if p.key == policy.key)

    @checked_call
    def remove_sla_policy(self, key: str) -> None:
        """Take an SLA policy away; tickets that have its deadlines keep them."""
        with self._step() as uow:
            if self._entry(uow, Section.SLA, key) is None:
                raise ValidationError.single("key", f"no SLA policy {key!r}")
            self._put(uow, Section.SLA, key, {})

    @checked_call
    def set_reopen_days(self, days: Annotated[int, Field(ge=0, le=3650)]) -> None:
        """How many days after it was resolved a ticket may be reopened (default 7; 0:
        never)."""
        with self._step() as uow:
            self._put(uow, Section.SETTING, "reopen_days", {"value": days})

    @checked_call
    def set_care_days(self, days: Sequence[CareDay]) -> None:
        """The days the sweep reminds reps to greet their customers (:class:`pycrm.CareDay`);
        an empty list removes them."""
        if not all(isinstance(day, CareDay) for day in days):
            raise ValidationError.single("days", "give pycrm.CareDay objects")
        value = {"value": [day.to_dict() for day in days]} if days else {}
        with self._step() as uow:
            self._put(uow, Section.SETTING, "care_days", value)

    # -- customers' lifecycle -------------------------------------------------------------
    @checked_call
    def set_churn_rules(self, rules: ChurnRules | None) -> None:
        """When the sweep flags a customer as likely to churn (:class:`pycrm.ChurnRules`);
        None turns every rule off."""
        if rules is not None and not isinstance(rules, ChurnRules):
            raise ValidationError.single("rules", "give a pycrm.ChurnRules or None")
        value = {"value": rules.to_dict()} if rules is not None and rules.any else {}
        with self._step() as uow:
            self._put(uow, Section.SETTING, "churn_rules", value)

    # -- money ------------------------------------------------------------------------
    @checked_call
    def set_reporting_currency(self, currency: str) -> None:
        """The currency this tenant's reports convert to."""
        code = validate_currency(currency)
        with self._step() as uow:
            if code not in uow.config.currencies:
                raise ValidationError.single(
                    "currency", f"{code} is not offered; offered: {list(uow.config.currencies)}"
                )
            self._put(uow, Section.SETTING, "reporting_currency", {"value": code})

    @checked_call
    def set_currencies(self, currencies: Sequence[str]) -> None:
        """The currencies this tenant offers (the reporting currency among them)."""
        if isinstance(currencies, str):
            raise ValidationError.single("currencies", "give a list of currency codes")
        codes = sorted({validate_currency(c) for c in currencies})
        with self._step() as uow:
            if uow.config.reporting_currency not in codes:
                raise ValidationError.single(
                    "currencies",
                    f"the reporting currency {uow.config.reporting_currency} must be offered",
                )
            self._put(uow, Section.SETTING, "currencies", {"value": codes})

    @checked_call
    def set_rate(
        self,
        base: str,
        quote: str,
        valid_from: dt.date,
        rate: Decimal | int | str,
        *,
        note: str | None = None,
    ) -> ExchangeRateEntry:
        """Add the rate of ``base`` in ``quote`` valid from ``valid_from`` (until the
        pair's next rate), or correct the one stored for that day. Reports started after
        the commit use it, in every process."""
        arguments = _rate_arguments(base, quote, valid_from, rate, note)
        with self._step() as uow:
            return self._set_rate(uow, *arguments)[0]

    def _set_rate(
        self,
        uow: UnitOfWork,
        base: str,
        quote: str,
        valid_from: dt.date,
        value: Decimal,
        note: str | None,
    ) -> tuple[ExchangeRateEntry, bool]:
        """Store one rate; whether anything changed."""
        require_configure(uow)
        entry = self._rate(uow, base, quote, valid_from)
        now = uow.now()
        before_config = uow.config
        if entry is None:
            entry = ExchangeRateEntry(
                id=new_id(), tenant=uow.tenant, base=base, quote=quote, valid_from=valid_from,
                rate=value, note=note, created_at=now, updated_at=now, updated_by=uow.user,
            )  # fmt: skip
            uow.tx.insert([entry])
            action, before = ChangeAction.CREATE, None
        else:
            before = str(entry.rate)
            if entry.rate == value and entry.note == note:
                return entry, False
            expected = entry.version
            entry.rate, entry.note, entry.updated_at = value, note, now
            entry.updated_by, entry.version = uow.user, entry.version + 1
            uow.tx.update(entry, expected)
            action = ChangeAction.UPDATE
        key = f"{base}/{quote}/{valid_from.isoformat()}"
        self._changed(uow, entry, action, "exchange_rate", key, before, str(value), before_config)
        return entry, True

    # -- locale, time zone, numbers ----------------------------------------------------
    @checked_call
    def set_locale(self, locale: str) -> None:
        """The tenant's default locale (labels, money and dates in reports)."""
        from babel import Locale, UnknownLocaleError

        try:
            Locale.parse(locale)
        except (ValueError, TypeError, UnknownLocaleError):
            raise ValidationError.single(
                "locale", f"{locale!r} is not a known locale (e.g. {', '.join(LOCALES)})"
            ) from None
        with self._step() as uow:
            self._put(uow, Section.SETTING, "locale", {"value": locale})

    @checked_call
    def set_time_zone(self, time_zone: str) -> None:
        """The tenant's time zone (an IANA name such as ``Asia/Shanghai``): the day a
        number's year and month come from."""
        try:
            if len(time_zone) > 60:
                raise ValueError("too long")
            zoneinfo.ZoneInfo(time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError, OSError):
            raise ValidationError.single(
                "time_zone", f"{time_zone!r} is not a time zone name such as 'Asia/Shanghai'"
            ) from None
        with self._step() as uow:
            self._put(uow, Section.SETTING, "time_zone", {"value": time_zone})

    @checked_call
    def set_sequence(self, name: str, pattern: str | None) -> None:
        """Number records with ``pattern`` (``"SO-{year}-{number:06d}"``), or stop
        numbering them (``None``). Numbers already given stay."""
        from pycrm.core.configuration import NumberSequence

        _item_key(name)
        if pattern is not None:
            try:
                NumberSequence(name, pattern)
            except (ConfigurationError, TypeError) as error:
                raise ValidationError.single("pattern", str(error)) from None
        with self._step() as uow:
            self._put(uow, Section.SEQUENCE, name, {"pattern": pattern})

    @checked_call
    def next_number(self, name: str, *, on: dt.date | None = None) -> str:
        """The next number of sequence ``name``, for a record made ``on`` (default: today
        in the tenant's time zone). Gap-free: it is given back if the unit of work rolls
        back, and writers at the same moment get distinct, consecutive numbers."""
        with self._step() as uow:
            return next_numbers(uow, name, 1, on)[0]

    # -- export and import -------------------------------------------------------------
    @checked_call
    def export(self) -> dict[str, Any]:
        """The tenant's own configuration as a JSON-ready document (what it changed, not
        the defaults): give it to :meth:`load` of another tenant to clone a set-up."""
        with self._step(read_only=True) as uow:
            config = uow.config
            return {
                "format": EXPORT_FORMAT,
                "entries": [
                    {"section": e.section, "key": e.key, "value": e.value} for e in config.entries
                ],
                "rates": [r.to_dict() for r in config.rates],
            }

    @checked_call
    def load(self, document: Mapping[str, Any]) -> int:
        """Apply an :meth:`export` document to this tenant, all or nothing; returns how
        many items it changed. Items it does not name stay as they are."""
        if not isinstance(document, Mapping) or document.get("format") != EXPORT_FORMAT:
            raise ValidationError.single(
                "format", f"not a pycrm configuration export (expected {EXPORT_FORMAT!r})"
            )
        entries, rates = document.get("entries", []), document.get("rates", [])
        if not isinstance(entries, list) or not isinstance(rates, list):
            raise ValidationError.single("entries", "entries and rates must be lists")
        changed = 0
        # Pools before the assignment rules that name them, whatever order the file has.
        rank = {section: i for i, section in enumerate(Section.ALL)}
        order = sorted(
            range(len(entries)),
            key=lambda i: (
                rank.get(entries[i].get("section"), 0) if isinstance(entries[i], Mapping) else 0
            ),
        )
        with self._step() as uow:
            for position, item in ((i, entries[i]) for i in order):
                try:
                    section, key, value = item["section"], item["key"], item["value"]
                    if not isinstance(value, dict) or not isinstance(key, str):
                        raise TypeError("value must be an object and key text")
                    _section(section)
                except (KeyError, TypeError, ValidationError) as error:
                    raise ValidationError.single(f"entries.{position}", str(error)) from None
                try:
                    changed += self._put(uow, section, key, value) is not None
                except ValidationError as error:
                    where = f"entries.{position}"
                    raise ValidationError([(where, why) for _, why in error.errors]) from None
            for position, item in enumerate(rates):
                try:
                    day = dt.date.fromisoformat(item["valid_from"])
                    arguments = _rate_arguments(
                        item["base"], item["quote"], day, item["rate"], item.get("note")
                    )
                except (KeyError, TypeError, ValueError, ValidationError) as error:
                    raise ValidationError.single(f"rates.{position}", str(error)) from None
                try:
                    changed += self._set_rate(uow, *arguments)[1]
                except ValidationError as error:
                    where = f"rates.{position}"
                    raise ValidationError([(where, why) for _, why in error.errors]) from None
        return changed

    # -- writing ------------------------------------------------------------------------
    def _entry(
        self, uow: UnitOfWork, section: str, key: str, *, lock: bool = True
    ) -> ConfigEntry | None:
        _item_key(key)
        query = Query(
            filters=(Filter("section", Op.EQ, section), Filter("key", Op.EQ, key)),
            deleted=None,
            lock=lock,
        )
        found = uow.tx.find(ConfigEntry, uow.everything, query)
        return found[0] if found else None

    def _rate(
        self, uow: UnitOfWork, base: str, quote: str, day: dt.date, *, lock: bool = True
    ) -> ExchangeRateEntry | None:
        query = Query(
            filters=(
                Filter("base", Op.EQ, base),
                Filter("quote", Op.EQ, quote),
                Filter("valid_from", Op.EQ, day),
            ),
            deleted=None,
            lock=lock,
        )
        found = uow.tx.find(ExchangeRateEntry, uow.everything, query)
        return found[0] if found else None

    def _put(
        self, uow: UnitOfWork, section: str, key: str, value: dict[str, Any]
    ) -> ConfigEntry | None:
        """Store one item (an empty ``value`` puts it back to its default); ``None`` when
        it already had this value."""
        require_configure(uow)
        entry = self._entry(uow, section, key)
        now = uow.now()
        before_config = uow.config
        if entry is None:
            if not value:
                return None
            entry = new_entry(uow, section, key, value)
            uow.tx.insert([entry])
            action, before = ChangeAction.CREATE, None
        else:
            if entry.value == value:
                return None
            before, expected = entry.value, entry.version
            entry.value, entry.updated_at, entry.updated_by = value, now, uow.user
            entry.version += 1
            uow.tx.update(entry, expected)
            action = ChangeAction.UPDATE
        self._changed(uow, entry, action, section, key, before, value, before_config)
        return entry

    def _changed(
        self,
        uow: UnitOfWork,
        entry: ConfigEntry | ExchangeRateEntry,
        action: ChangeAction,
        section: str,
        key: str,
        before: Any,
        after: Any,
        before_config: TenantConfiguration,
    ) -> None:
        """Audit a change, raise the version, check the whole configuration still builds
        and takes nothing away that records use, and tell the handlers."""
        (change_id,) = new_ids(1)
        fields = (FieldChange("section", None, section), FieldChange("key", None, key))
        fields = (
            *(fields if action is ChangeAction.CREATE else ()),
            FieldChange("value", before, after),
        )
        uow.tx.record_changes(
            [
                Change(
                    id=change_id, tenant=uow.tenant, entity=entry.kind, record_id=entry.id,
                    action=action, user_id=uow.user, at=uow.now(), version=entry.version,
                    fields=fields,
                )
            ]
        )  # fmt: skip
        versions = uow.tx
        if callable(getattr(versions, "raise_configuration_version", None)):
            versions.raise_configuration_version(uow.tenant)  # type: ignore[attr-defined]
        uow.configuration_changed()
        try:
            after_config = uow.config
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            # What the stored value says cannot be built: the change is refused whole.
            raise ValidationError.single(f"{section}.{key}", str(error)) from None
        check_nothing_in_use(uow, before_config, after_config, section)
        if uow.wants_events:
            uow.emit(
                ConfigurationChanged(
                    entity=entry.kind, record_id=entry.id, tenant=uow.tenant,
                    user_id=uow.user, at=uow.now(),
                    data={"section": section, "key": key, "before": before, "after": after},
                )
            )  # fmt: skip


def next_numbers(uow: UnitOfWork, name: str, count: int, on: dt.date | None) -> list[str]:
    """``count`` consecutive numbers of sequence ``name`` for records made ``on``."""
    sequence = uow.config.sequences.get(name)
    if sequence is None:
        raise ValidationError.single(
            "name", f"no number sequence {name!r}; sequences: {sorted(uow.config.sequences)}"
        )
    counter = numbering(uow.tx)
    if counter is None:
        raise ConfigurationError(
            f"the {type(uow.crm.storage).__name__} storage keeps no number sequences "
            "(pycrm.storage.capabilities.configuration.Numbering)"
        )
    day = on if on is not None else uow.today()
    last = counter.next_numbers(uow.tenant, name, sequence.period(day), count)
    return [sequence.format(n, day) for n in range(last - count + 1, last + 1)]


def _follow_stage(uow: UnitOfWork, pipeline: str, stage: str, old: int, new: int) -> None:
    """Open opportunities in ``stage`` at its old default probability take the new one,
    a page at a time (each updated one leaves the filter)."""
    query = Query(
        filters=(
            Filter("pipeline", Op.EQ, pipeline),
            Filter("stage", Op.EQ, stage),
            Filter("status", Op.EQ, OpportunityStatus.OPEN.value),
            Filter("probability", Op.EQ, old),
        ),
        limit=_FOLLOW_PAGE,
        lock=True,
    )
    service = uow.opportunities
    while rows := uow.tx.find(Opportunity, uow.everything, query):
        for row in rows:
            record = cast(Opportunity, service._typed(uow, row))
            before = audited(record)
            record.probability = new
            service._save(uow, record, before, ChangeAction.UPDATE)
        if len(rows) < _FOLLOW_PAGE:
            return


#: Opportunities updated per read when they follow their stage's new probability.
_FOLLOW_PAGE = 500


def _item_key(key: str) -> str:
    """A configured item's key as every backend can store and look it up."""
    try:
        if not key or len(key) > 200:
            raise ValueError("give 1 to 200 characters")
        return check_text(key)
    except ValueError as error:
        raise ValidationError.single("key", str(error)) from None


def _check_assignment_target(uow: UnitOfWork, position: int, rule: AssignmentRule) -> None:
    """The user or department a rule names is one of the tenant's (the user active)."""
    if rule.user is not None:
        user = uow.tx.get(User, uow.everything, rule.user)
        if user is None or user.deleted or not user.active:
            raise ValidationError.single(f"rules.{position}.user", f"no active user {rule.user}")
    if rule.department is not None:
        found = uow.tx.get(Department, uow.everything, rule.department)
        if found is None or found.deleted:
            raise ValidationError.single(
                f"rules.{position}.department", f"no department {rule.department}"
            )


def _rate_arguments(
    base: str, quote: str, valid_from: dt.date, rate: Decimal | int | str, note: str | None
) -> tuple[str, str, dt.date, Decimal, str | None]:
    """A rate's arguments checked: two different currencies, a date, a positive exact
    number, a short note."""
    pair = (validate_currency(base), validate_currency(quote))
    if pair[0] == pair[1]:
        raise ValidationError.single("quote", "a rate needs two different currencies")
    if not isinstance(valid_from, dt.date) or isinstance(valid_from, dt.datetime):
        raise ValidationError.single("valid_from", f"{valid_from!r} is not a date")
    try:
        value = exact_number(rate)
    except (ValueError, TypeError) as error:
        raise ValidationError.single("rate", str(error)) from None
    if value <= 0:
        raise ValidationError.single("rate", "a rate must be positive")
    return pair[0], pair[1], valid_from, value, None if note is None else _text(note, "note")


def _section(section: object) -> str:
    if section not in Section.ALL:
        raise ValidationError.single("section", f"{section!r} is not one of {list(Section.ALL)}")
    return str(section)


def _rate_key(key: str) -> tuple[str, str, dt.date]:
    try:
        base, quote, day = key.split("/")
        return validate_currency(base), validate_currency(quote), dt.date.fromisoformat(day)
    except ValueError:
        raise ValidationError.single("key", "a rate is named 'BASE/QUOTE/YYYY-MM-DD'") from None


def _text(value: object, name: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise ValidationError.single(name, "give non-empty text of at most 200 characters")
    return value


def _plain_stage_value(name: str, value: Any) -> Any:
    if name in ("requires", "next") and value is not None:
        if isinstance(value, str) or not all(isinstance(v, str) for v in value):
            raise ValidationError.single(name, "give a list of keys")
        return list(value)
    if name == "forecast" and value is not None:
        return str(value)
    return value


def _merge_stage(value: dict[str, Any], stage: str, changes: dict[str, Any]) -> dict[str, Any]:
    stages = dict(value.get("stages", {}))
    stages[stage] = {**stages.get(stage, {}), **changes}
    return {**value, "stages": stages}


def _apply_to_definition(definition: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    """A change written for a registered pipeline, applied to a tenant's own definition."""
    result = dict(definition)
    for name in ("name", "lost_reasons", "stale_days"):
        if name in change:
            result[name] = change[name]
    retired = set(change.get("retired_stages", ()))
    stages = [dict(s) for s in result["stages"] if s["key"] not in retired]
    for item in stages:
        item.update(change.get("stages", {}).get(item["key"], {}))
        if item.get("next") is not None:
            item["next"] = [k for k in item["next"] if k not in retired]
    result["stages"] = stages
    return {"definition": result}


def _choices(choices: Iterable[Choice | Mapping[str, Any]]) -> list[Choice]:
    if isinstance(choices, str | Mapping) or not isinstance(choices, Iterable):
        raise ValidationError.single("choices", "give a list of choices")
    found = []
    for position, item in enumerate(choices):
        try:
            if isinstance(item, Choice):
                found.append(item)
            else:
                found.append(Choice(item["key"], item["labels"], item.get("active", True)))
        except (ConfigurationError, KeyError, TypeError) as error:
            raise ValidationError.single(f"choices.{position}", str(error)) from None
    return found
