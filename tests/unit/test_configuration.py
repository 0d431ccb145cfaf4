"""Per-tenant configuration (``uow.configuration`` and ``uow.config``) on the memory backend:
every change's happy path and refusals, nothing written when a change is refused, audit
history and ``configuration.changed`` events, picklist-bound fields and labels, dated
exchange rates, number sequences, export and load, and tenant isolation."""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest

import pycrm
from pycrm import Money, Pipeline, Stage

T = "t"
OTHER = "other"
FORMAT = "pycrm-configuration/1"
SYSTEM = pycrm.SYSTEM_USER
IN_USE = "configuration.in_use"


# -- helpers --------------------------------------------------------------------------------
def cfg(crm: pycrm.CRM, tenant: str = T, user: uuid.UUID = SYSTEM) -> pycrm.ConfigurationService:
    """The configuration service of ``user``, each call its own unit of work."""
    return crm.as_user(user, tenant=tenant).configuration


def api(crm: pycrm.CRM, tenant: str = T, user: uuid.UUID = SYSTEM) -> pycrm.Services:
    return crm.as_user(user, tenant=tenant)


def config(crm: pycrm.CRM, tenant: str = T) -> pycrm.TenantConfiguration:
    return cfg(crm, tenant).current()


def snapshot(crm: pycrm.CRM, tenant: str = T) -> tuple[Any, ...]:
    """The tenant's configuration version and everything stored (a deep copy)."""
    with crm.unit_of_work(tenant=tenant, user=SYSTEM) as uow:
        version = uow.versions()[1]
        stored = uow.configuration.export()
        rates = [
            (r.base, r.quote, r.valid_from, r.rate, r.version) for r in uow.configuration.rates()
        ]
        versions = [(e.section, e.key, e.version) for e in uow.config.entries]
    return copy.deepcopy((version, stored, rates, versions))


@contextmanager
def nothing_written(crm: pycrm.CRM, tenant: str = T) -> Iterator[None]:
    """The block changes neither the tenant's configuration version nor any entry."""
    before = snapshot(crm, tenant)
    yield
    assert snapshot(crm, tenant) == before


def version(crm: pycrm.CRM, tenant: str = T) -> int:
    with crm.unit_of_work(tenant=tenant, user=SYSTEM) as uow:
        found = uow.versions()[1]
    assert found is not None
    return found


def choices(*keys: str) -> list[dict[str, Any]]:
    return [{"key": k, "labels": {"en_US": k.title(), "zh_CN": f"{k}-zh"}} for k in keys]


def customer(crm: pycrm.CRM, tenant: str = T, **fields: Any) -> pycrm.Customer:
    fields.setdefault("name", "ACME")
    return api(crm, tenant).customers.create(**fields)


def deal(crm: pycrm.CRM, tenant: str = T, **fields: Any) -> pycrm.Opportunity:
    fields.setdefault("customer_id", customer(crm, tenant).id)
    fields.setdefault("name", "Deal")
    fields.setdefault("amount", Money("1000.00", "CNY"))
    return api(crm, tenant).opportunities.create(**fields)


OWN = Pipeline(
    key="renewals",
    name="Renewals",
    stages=[
        Stage("contacted", name="Contacted", probability=30),
        Stage("quoted", name="Quoted", probability=70),
    ],
)


# -- custom fields --------------------------------------------------------------------------
def test_define_field_adds_a_tenant_field_with_labels_per_locale(crm):
    defined = cfg(crm).define_field(
        "customer", "tier", "integer", label={"en_US": "Tier", "zh_CN": "等级"}, minimum=1
    )
    assert defined.key == "tier" and defined.label_for("zh_CN") == "等级"
    assert config(crm).fields.get("customer", "tier") == defined
    assert customer(crm, custom={"tier": 2}).custom == {"tier": 2}
    with pytest.raises(pycrm.ValidationError, match="tier"):
        customer(crm, custom={"tier": 0})  # below the minimum
    changed = cfg(crm).define_field("customer", "tier", "integer", label="Tier", maximum=3)
    assert config(crm).fields.get("customer", "tier") == changed
    with pytest.raises(pycrm.ValidationError, match="tier"):
        customer(crm, custom={"tier": 4})


@pytest.mark.parametrize(
    ("entity", "key", "type_", "options"),
    [
        ("planet", "tier", "integer", {}),
        ("customer", "Tier", "integer", {}),
        ("customer", "tier", "colour", {}),
        ("customer", "tier", "integer", {"minimum": 5, "maximum": 1}),
        ("customer", "tier", "choice", {}),
        ("customer", "tier", "text", {"label": ""}),
        ("customer", "tier", "text", {"pattern": "("}),
    ],
)
def test_a_bad_field_definition_is_refused_and_nothing_written(crm, entity, key, type_, options):
    options.setdefault("label", "Tier")
    with nothing_written(crm), pytest.raises(pycrm.ValidationError):
        cfg(crm).define_field(entity, key, type_, **options)


def test_retire_field_is_refused_with_the_count_while_records_hold_values(crm):
    cfg(crm).define_field("customer", "tier", "integer", label="Tier")
    first = customer(crm, custom={"tier": 1})
    customer(crm, name="Beta", custom={"tier": 2})
    customer(crm, name="Gamma")  # no value: does not count
    with nothing_written(crm), pytest.raises(pycrm.RuleViolation) as refused:
        cfg(crm).retire_field("customer", "tier")
    assert refused.value.rule == IN_USE
    assert "2 customer record(s)" in str(refused.value)
    api(crm).customers.delete(first.id)  # deleted records do not hold it back
    with pytest.raises(pycrm.RuleViolation, match="1 customer record"):
        cfg(crm).retire_field("customer", "tier")


def test_retire_field_takes_an_unused_field_away(crm):
    cfg(crm).define_field("customer", "tier", "integer", label="Tier")
    held = customer(crm, custom={"tier": 1})
    api(crm).customers.update(held.id, custom={"tier": None})
    cfg(crm).retire_field("customer", "tier")
    assert config(crm).fields.get("customer", "tier") is None
    with pytest.raises(pycrm.ValidationError, match="tier"):
        customer(crm, custom={"tier": 1})  # no such field any more
    with nothing_written(crm), pytest.raises(pycrm.ValidationError, match="no custom field"):
        cfg(crm).retire_field("customer", "tier")
    cfg(crm).define_field("customer", "tier", "text", label="Tier again")
    assert customer(crm, custom={"tier": "gold"}).custom == {"tier": "gold"}


def test_a_process_wide_field_can_be_retired_for_one_tenant(crm):
    crm.fields.define("customer", "vip", "boolean", label="VIP")
    cfg(crm).retire_field("customer", "vip")
    assert config(crm).fields.get("customer", "vip") is None
    assert config(crm, OTHER).fields.get("customer", "vip") is not None


# -- pipelines ------------------------------------------------------------------------------
def test_change_stage_gives_the_stage_new_numbers(crm):
    close, year = dt.date(2026, 3, 1), (dt.date(2026, 1, 1), dt.date(2026, 12, 31))
    following = deal(crm, stage="proposal", expected_close=close)  # at the stage's 50
    by_hand = deal(crm, stage="proposal", probability=35, expected_close=close)
    elsewhere = deal(crm)  # qualification, 10
    assert api(crm).reports.weighted_pipeline(by=()).weighted == Money("950.00", "CNY")
    forecast = api(crm).reports.forecast(period=year, by=()).total
    assert (forecast.best_case, forecast.commit) == (Money("2000.00", "CNY"), Money("0.00", "CNY"))
    changed = cfg(crm).change_stage(
        "b2b", "proposal", probability=60, forecast=pycrm.ForecastCategory.COMMIT, dwell_days=7
    )
    stage = changed.stage("proposal")
    assert (stage.probability, stage.forecast, stage.dwell_days) == (60, "commit", 7)
    assert config(crm).pipelines["b2b"].stage("proposal") == stage
    assert config(crm).pipelines["b2b"].stage("negotiation").probability == 75  # the rest stays
    assert config(crm, OTHER).pipelines["b2b"].stage("proposal").probability == 50
    deals = api(crm).opportunities
    assert deals.get(following.id).probability == 60  # follows the stage, audited
    assert deals.history(following.id)[-1].fields[-1] == pycrm.FieldChange("probability", 50, 60)
    assert deals.get(by_hand.id).probability == 35  # set by hand: kept
    assert deals.get(elsewhere.id).probability == 10
    assert deal(crm, stage="proposal").probability == 60  # new deals take it
    report = api(crm).reports.weighted_pipeline(by=())
    assert report.weighted == Money("1650.00", "CNY")  # 600 + 350 + 100 + 600
    forecast = api(crm).reports.forecast(period=year, by=()).total  # proposal is commit now
    assert (forecast.best_case, forecast.commit) == (Money("0.00", "CNY"), Money("2000.00", "CNY"))


@pytest.mark.parametrize(
    ("pipeline", "stage", "changes"),
    [
        ("b2b", "proposal", {}),
        ("b2b", "nowhere", {"probability": 5}),
        ("nowhere", "proposal", {"probability": 5}),
        ("b2b", "proposal", {"probability": 150}),
        ("b2b", "proposal", {"probability": -1}),
        ("b2b", "proposal", {"dwell_days": 0}),
        ("b2b", "proposal", {"forecast": "certain"}),
        ("b2b", "proposal", {"next": ["nowhere"]}),  # found when the pipeline is rebuilt
    ],
)
def test_a_bad_stage_change_is_refused_and_nothing_written(crm, pipeline, stage, changes):
    cfg(crm).change_stage("b2b", "qualification", probability=15)  # an entry to update
    with nothing_written(crm), pytest.raises(pycrm.ValidationError):
        cfg(crm).change_stage(pipeline, stage, **changes)
    assert config(crm).pipelines["b2b"].stage("proposal").probability == 50


def test_change_pipeline_renames_and_sets_lost_reasons_and_stale_days(crm):
    changed = cfg(crm).change_pipeline(
        "b2b", name="Enterprise", lost_reasons=["price", "budget"], stale_days=10
    )
    assert (changed.name, changed.lost_reasons, changed.stale_days) == (
        "Enterprise",
        ("price", "budget"),
        10,
    )
    assert config(crm).pipelines["b2b"] == changed
    for bad in ({"lost_reasons": []}, {"stale_days": -3}, {"name": " "}, {"lost_reasons": "x"}):
        with nothing_written(crm), pytest.raises(pycrm.ValidationError):
            cfg(crm).change_pipeline("b2b", **bad)
    with nothing_written(crm), pytest.raises(pycrm.ValidationError, match="no pipeline"):
        cfg(crm).change_pipeline("nowhere", name="x")


def test_retire_stage_is_refused_with_the_count_while_deals_are_in_it(crm):
    deal(crm, stage="negotiation", expected_close=dt.date(2026, 3, 1))
    deal(crm, stage="negotiation", expected_close=dt.date(2026, 3, 1))
    with nothing_written(crm), pytest.raises(pycrm.RuleViolation) as refused:
        cfg(crm).retire_stage("b2b", "negotiation")
    assert refused.value.rule == IN_USE
    assert "2 opportunity record(s)" in str(refused.value)
    assert config(crm).pipelines["b2b"].has_stage("negotiation")


def test_retire_stage_takes_an_unused_stage_out(crm):
    open_deal = deal(crm)
    changed = cfg(crm).retire_stage("b2b", "needs_analysis")
    assert changed.keys() == ["qualification", "proposal", "negotiation"]
    assert config(crm).pipelines["b2b"].keys() == changed.keys()
    assert config(crm, OTHER).pipelines["b2b"].has_stage("needs_analysis")
    with pytest.raises(pycrm.ValidationError, match="needs_analysis"):
        api(crm).opportunities.move(open_deal.id, to="needs_analysis")
    with nothing_written(crm), pytest.raises(pycrm.ValidationError, match="needs_analysis"):
        cfg(crm).change_stage("b2b", "needs_analysis", probability=30)
    cfg(crm).retire_stage("b2b", "proposal")  # retired stages add up
    assert config(crm).pipelines["b2b"].keys() == ["qualification", "negotiation"]


def test_define_pipeline_and_make_it_the_tenants_default(crm):
    assert cfg(crm).define_pipeline(OWN) == OWN
    cfg(crm).set_default_pipeline("renewals")
    assert config(crm).pipelines.default.key == "renewals"
    assert "renewals" not in config(crm, OTHER).pipelines
    made = deal(crm)
    assert (made.pipeline, made.stage, made.probability) == ("renewals", "contacted", 30)
    assert deal(crm, OTHER).pipeline == "b2b"
    # A tenant's own pipeline takes stage changes and retirements like a registered one.
    assert (
        cfg(crm).change_stage("renewals", "quoted", probability=80).stage("quoted").probability
        == 80
    )
    cfg(crm).define_pipeline(
        Pipeline(
            key="renewals",
            name="Renewals",
            stages=[Stage("contacted", probability=30), Stage("signed", probability=90)],
        )
    )
    assert config(crm).pipelines["renewals"].keys() == ["contacted", "signed"]
    assert cfg(crm).retire_stage("renewals", "signed").keys() == ["contacted"]


def test_define_pipeline_may_not_drop_a_stage_deals_are_in(crm):
    cfg(crm).define_pipeline(OWN)
    deal(crm, pipeline="renewals", stage="quoted")
    only_first = Pipeline(key="renewals", name="Renewals", stages=[Stage("contacted")])
    with nothing_written(crm), pytest.raises(pycrm.RuleViolation, match="1 opportunity") as refused:
        cfg(crm).define_pipeline(only_first)
    assert refused.value.rule == IN_USE
    with nothing_written(crm), pytest.raises(pycrm.ValidationError, match="Pipeline"):
        cfg(crm).define_pipeline({"key": "renewals"})  # type: ignore[arg-type]
    with nothing_written(crm), pytest.raises(pycrm.ValidationError, match="no pipeline"):
        cfg(crm).set_default_pipeline("nowhere")


def test_reset_pipeline(crm):
    cfg(crm).change_stage("b2b", "proposal", probability=60)
    assert cfg(crm).reset_pipeline("b2b") == crm.pipelines["b2b"]  # back to the registered
    assert config(crm).pipelines["b2b"].stage("proposal").probability == 50
    cfg(crm).define_pipeline(OWN)
    used = deal(crm, pipeline="renewals")
    with nothing_written(crm), pytest.raises(pycrm.RuleViolation, match="1 opportunity"):
        cfg(crm).reset_pipeline("renewals")
    api(crm).opportunities.delete(used.id)
    assert cfg(crm).reset_pipeline("renewals") is None
    assert "renewals" not in config(crm).pipelines
    with nothing_written(crm), pytest.raises(pycrm.ValidationError, match="no pipeline"):
        cfg(crm).reset_pipeline("renewals")


# -- picklists ------------------------------------------------------------------------------
def test_a_picklist_with_keys_binds_its_field_to_its_active_keys(crm):
    assert customer(crm, industry="anything").industry == "anything"  # empty list: free text
    listed = cfg(crm).set_picklist("industry", choices("mfg", "retail"))
    assert listed.keys() == ["mfg", "retail"] and listed.fields() == ["customer.industry"]
    assert customer(crm, industry="mfg").industry == "mfg"
    with pytest.raises(pycrm.ValidationError, match="not an active key") as refused:
        customer(crm, industry="mining")
    assert refused.value.errors[0][0] == "industry"
    with pytest.raises(pycrm.ValidationError, match="not an active key"):
        api(crm).customers.create_many(
            [{"name": "a", "industry": "mfg"}, {"name": "b", "industry": "x"}]
        )
    assert customer(crm, OTHER, industry="mining").industry == "mining"  # another tenant


def test_add_choice_appends_a_key_or_relabels_one_in_place(crm):
    with crm.unit_of_work(tenant=T, user=SYSTEM) as uow:
        uow.configuration.set_picklist("industry", choices("mfg", "retail"))
        uow.configuration.add_choice("industry", "mining", {"en_US": "Mining"})
        relabelled = uow.configuration.add_choice("industry", "mfg", {"en_US": "Factories"})
    assert relabelled.keys() == ["mfg", "retail", "mining"]
    assert relabelled.label("mfg", "en_US") == "Factories"
    assert customer(crm, industry="mining").industry == "mining"
    with nothing_written(crm), crm.unit_of_work(tenant=T, user=SYSTEM) as uow:
        with pytest.raises(pycrm.ValidationError, match="labels"):
            uow.configuration.add_choice("industry", "oil", {})
        with pytest.raises(pycrm.ValidationError, match="no picklist"):
            uow.configuration.add_choice("planets", "mars", {"en_US": "Mars"})


def test_set_picklist_refusals_write_nothing(crm):
    cfg(crm).set_picklist("industry", choices("mfg", "retail"))
    customer(crm, industry="retail")
    bad_lists = [
        ("planets", choices("mars")),
        ("industry", choices("mfg", "mfg")),
        ("industry", [{"key": "mfg", "labels": {}}]),
        ("industry", [{"key": " padded", "labels": {"en_US": "x"}}]),
        ("industry", "mfg"),
    ]
    for name, items in bad_lists:
        with nothing_written(crm), pytest.raises(pycrm.ValidationError):
            cfg(crm).set_picklist(name, items)
    # A key records hold is neither dropped nor made inactive.
    with nothing_written(crm), pytest.raises(pycrm.RuleViolation, match="1 customer") as dropped:
        cfg(crm).set_picklist("industry", choices("mfg"))
    assert dropped.value.rule == IN_USE
    inactive = [*choices("mfg"), {**choices("retail")[0], "active": False}]
    with nothing_written(crm), pytest.raises(pycrm.RuleViolation, match="1 customer"):
        cfg(crm).set_picklist("industry", inactive)


def test_retire_choice_is_refused_with_the_count_while_records_hold_the_key(crm):
    cfg(crm).set_picklist("industry", choices("mfg", "retail"))
    for name in ("a", "b", "c"):
        customer(crm, name=name, industry="retail")
    with nothing_written(crm), pytest.raises(pycrm.RuleViolation) as refused:
        cfg(crm).retire_choice("industry", "retail")
    assert refused.value.rule == IN_USE
    assert "3 customer record(s)" in str(refused.value)
    with nothing_written(crm), pytest.raises(pycrm.ValidationError, match="no key"):
        cfg(crm).retire_choice("industry", "mining")


def test_a_retired_key_stays_on_existing_records_but_cannot_be_newly_set(crm):
    cfg(crm).set_picklist("industry", choices("mfg", "retail"))
    kept = customer(crm, name="Kept", industry="retail")
    other = customer(crm, name="Other", industry="mfg")
    api(crm).customers.delete(kept.id)  # a deleted record does not hold the key back
    retired = cfg(crm).retire_choice("industry", "retail")
    assert retired.keys() == ["mfg"] and retired.keys(active=False) == ["mfg", "retail"]
    restored = api(crm).customers.restore(kept.id)
    assert restored.industry == "retail"  # the record keeps it
    assert api(crm).customers.update(kept.id, name="Kept!").industry == "retail"
    assert config(crm).label("customer", "industry", "retail", "en_US") == "Retail"
    with pytest.raises(pycrm.ValidationError, match="not an active key"):
        customer(crm, industry="retail")
    with pytest.raises(pycrm.ValidationError, match="not an active key"):
        api(crm).customers.update(other.id, industry="retail")
    # Made active again, new records may take it again.
    cfg(crm).set_picklist("industry", choices("mfg", "retail"))
    assert customer(crm, industry="retail").industry == "retail"


def test_a_fixed_picklist_can_be_relabelled_reordered_and_retired_but_not_extended(crm):
    default = crm.picklists["source"]
    assert default.fixed
    with nothing_written(crm), pytest.raises(pycrm.ValidationError, match="fixed values"):
        cfg(crm).set_picklist("source", [*default.choices, *choices("tv")])
    with crm.unit_of_work(tenant=T, user=SYSTEM) as uow:
        with pytest.raises(pycrm.ValidationError, match="fixed values"):
            uow.configuration.add_choice("source", "tv", {"en_US": "TV"})
        uow.configuration.add_choice("source", "web", {"en_US": "Online", "zh_CN": "线上"})
    reordered = cfg(crm).set_picklist(
        "source", list(reversed(config(crm).picklists["source"].choices))
    )
    assert reordered.keys() == list(reversed(default.keys()))
    assert reordered.fixed and reordered.label("web", "en_US") == "Online"
    cfg(crm).retire_choice("source", "other")
    for service in (api(crm).customers, api(crm).leads):  # both fields bound to "source"
        with pytest.raises(pycrm.ValidationError, match="not an active key"):
            service.create(name="x", source="other")
    assert customer(crm, source="web").source == "web"
    with pytest.raises(pycrm.ValidationError):
        customer(crm, source="tv")


def test_labels_follow_the_tenants_locale(crm):
    cfg(crm).set_picklist(
        "industry", [{"key": "mfg", "labels": {"zh_CN": "制造业", "en_US": "Manufacturing"}}]
    )
    here = config(crm)
    assert here.locale == "zh_CN"
    assert here.label("customer", "industry", "mfg") == "制造业"
    assert here.label("customer", "industry", "mfg", "en_US") == "Manufacturing"
    assert here.label("customer", "industry", "mfg", "ja_JP") == "Manufacturing"  # English next
    assert here.label("customer", "industry", "unknown") == "unknown"
    assert here.label("customer", "industry", None) is None
    assert here.label("customer", "name", "ACME") == "ACME"  # not picklist-bound
    assert here.label("customer", "source", "visit", "ja_JP") == "訪問"  # built-in labels
    assert here.label("ticket", "channel", "email") == "邮件"
    cfg(crm).set_locale("en_US")
    there = config(crm)
    assert there.locale == "en_US"
    assert there.label("customer", "industry", "mfg") == "Manufacturing"
    assert there.label("customer", "source", "visit") == "Visit"
    assert config(crm, OTHER).label("customer", "source", "visit") == "上门拜访"


# -- money ----------------------------------------------------------------------------------
def test_reporting_currency_and_currencies(crm):
    cfg(crm).set_reporting_currency("USD")
    assert config(crm).reporting_currency == "USD"
    assert config(crm, OTHER).reporting_currency == "CNY"
    cfg(crm).set_currencies(["USD", "EUR", "USD"])
    assert config(crm).currencies == ("EUR", "USD")
    cfg(crm).set_rate("CNY", "USD", dt.date(2026, 1, 1), "0.14")
    deal(crm)  # 1000.00 CNY at 10%
    report = api(crm).reports.weighted_pipeline(by=())
    assert (report.currency, report.total) == ("USD", Money("140.00", "USD"))
    for bad in (
        lambda: cfg(crm).set_reporting_currency("CNY"),  # no longer offered
        lambda: cfg(crm).set_reporting_currency("XYZ"),
        lambda: cfg(crm).set_reporting_currency("eur"),
        lambda: cfg(crm).set_currencies(["EUR"]),  # without the reporting currency
        lambda: cfg(crm).set_currencies("USD"),
    ):
        with nothing_written(crm), pytest.raises(pycrm.ValidationError):
            bad()


@pytest.fixture
def rated(clock: pycrm.FixedClock) -> Iterator[pycrm.CRM]:
    """A CRM whose settings give every tenant USD/CNY at 7."""
    settings = pycrm.Settings(exchange_rates={"USD/CNY": Decimal("7")})
    crm = pycrm.CRM.connect("memory://", settings=settings, clock=clock, load_entry_points=False)
    yield crm
    crm.close()


def test_stored_dated_rates_win_over_the_settings_rates(rated):
    crm, jan, feb = rated, dt.date(2026, 1, 1), dt.date(2026, 2, 1)
    cfg(crm).set_rate("USD", "CNY", jan, "7.2", note="bank rate")
    cfg(crm).set_rate("USD", "CNY", feb, Decimal("7.3"))
    rates = config(crm).exchange_rates
    assert rates.rate("USD", "CNY", dt.date(2025, 12, 31)) == Decimal("7")  # before: settings
    assert rates.rate("USD", "CNY", jan) == Decimal("7.2")
    assert rates.rate("USD", "CNY", dt.date(2026, 1, 31)) == Decimal("7.2")
    assert rates.rate("USD", "CNY", dt.date(2026, 3, 1)) == Decimal("7.3")
    assert config(crm, OTHER).exchange_rates.rate("USD", "CNY", feb) == Decimal("7")
    order = api(crm).orders.create(
        customer_id=customer(crm).id,
        currency="USD",
        lines=[{"description": "x", "quantity": 1, "unit_price": Money("100.00", "USD")}],
    )
    assert api(crm).orders.balance(order.id).total_reporting == Money("720.00", "CNY")
    stored = cfg(crm).rates("USD", "CNY")
    assert [(r.valid_from, r.rate, r.note) for r in stored] == [
        (jan, Decimal("7.2"), "bank rate"),
        (feb, Decimal("7.3"), None),
    ]
    assert cfg(crm).rates("EUR") == []


def test_correcting_a_rate_updates_it_and_the_inverse_is_derived(rated):
    crm, jan = rated, dt.date(2026, 1, 1)
    first = cfg(crm).set_rate("USD", "CNY", jan, "7.2")
    before = version(crm)
    corrected = cfg(crm).set_rate("USD", "CNY", jan, "7.25")
    assert corrected.id == first.id and corrected.version == 2
    assert version(crm) == before + 1
    assert [r.rate for r in cfg(crm).rates()] == [Decimal("7.25")]
    rates = config(crm).exchange_rates
    assert rates.rate("USD", "CNY", jan) == Decimal("7.25")
    assert rates.rate("CNY", "USD", jan) == Decimal(1) / Decimal("7.25")
    with nothing_written(crm):  # the same rate again changes nothing
        assert cfg(crm).set_rate("USD", "CNY", jan, "7.25").version == 2
    history = cfg(crm).history("exchange_rate", "USD/CNY/2026-01-01")
    assert [c.action for c in history] == [pycrm.ChangeAction.CREATE, pycrm.ChangeAction.UPDATE]
    assert history[1].fields[-1] == pycrm.FieldChange("value", "7.2", "7.25")
    # Only the inverse stored: derived for the direct pair, before the settings' rate.
    cfg(crm).set_rate("CNY", "JPY", jan, "20")
    assert config(crm).exchange_rates.rate("JPY", "CNY", jan) == Decimal("0.05")


@pytest.mark.parametrize(
    ("base", "quote", "day", "rate"),
    [
        ("USD", "USD", dt.date(2026, 1, 1), "1"),
        ("USD", "CNY", dt.date(2026, 1, 1), "0"),
        ("USD", "CNY", dt.date(2026, 1, 1), "-7"),
        ("USD", "CNY", dt.date(2026, 1, 1), "seven"),
        ("USD", "XYZ", dt.date(2026, 1, 1), "7"),
        ("USD", "CNY", "someday", "7"),
    ],
)
def test_a_bad_rate_is_refused_and_nothing_written(rated, base, quote, day, rate):
    with nothing_written(rated), pytest.raises(pycrm.ValidationError):
        cfg(rated).set_rate(base, quote, day, rate)


def test_a_missing_rate_names_the_way_to_add_one(crm):
    with pytest.raises(pycrm.ExchangeRateMissing, match="set_rate"):
        config(crm).exchange_rates.rate("USD", "CNY", dt.date(2026, 1, 1))


# -- locale, time zone, sequences -----------------------------------------------------------
def test_locale_and_time_zone(crm):
    cfg(crm).set_locale("ja_JP")
    cfg(crm).set_time_zone("Asia/Shanghai")
    here = config(crm)
    assert (here.locale, here.time_zone) == ("ja_JP", "Asia/Shanghai")
    assert (config(crm, OTHER).locale, config(crm, OTHER).time_zone) == ("zh_CN", "UTC")
    for bad in (
        lambda: cfg(crm).set_locale("xx_YY"),
        lambda: cfg(crm).set_time_zone("Mars/Olympus"),
        lambda: cfg(crm).set_time_zone("x" * 100),
    ):
        with nothing_written(crm), pytest.raises(pycrm.ValidationError):
            bad()


def _order(crm: pycrm.CRM, tenant: str = T, **fields: Any) -> pycrm.Order:
    with crm.unit_of_work(tenant=tenant, user=SYSTEM) as uow:
        made = uow.customers.create(name="Buyer")
        return uow.orders.create(customer_id=made.id, currency="CNY", **fields)


def test_orders_are_numbered_from_the_tenants_sequence(crm):
    assert [_order(crm).number for _ in range(3)] == [
        "SO-2026-000001",
        "SO-2026-000002",
        "SO-2026-000003",
    ]
    assert _order(crm, number="CONTRACT-7").number == "CONTRACT-7"  # a given number is kept
    assert _order(crm).number == "SO-2026-000004"  # and uses none of the sequence
    assert _order(crm, OTHER).number == "SO-2026-000001"  # each tenant counts on its own


def test_numbers_start_again_each_year(crm, clock):
    assert _order(crm).number == "SO-2026-000001"
    assert _order(crm).number == "SO-2026-000002"
    clock.set(dt.datetime(2027, 1, 1, 0, 30, tzinfo=dt.UTC))
    assert _order(crm).number == "SO-2027-000001"
    clock.set(dt.datetime(2026, 12, 31, 12, tzinfo=dt.UTC))  # a late entry for last year
    assert _order(crm).number == "SO-2026-000003"


def test_the_year_of_a_number_is_the_tenants_local_year(crm, clock):
    cfg(crm).set_time_zone("Asia/Shanghai")
    clock.set(dt.datetime(2026, 12, 31, 20, tzinfo=dt.UTC))  # already 2027 in Shanghai
    assert _order(crm).number == "SO-2027-000001"
    assert _order(crm, OTHER).number == "SO-2026-000001"  # UTC


def test_set_sequence_changes_the_pattern_or_turns_numbering_off(crm, clock):
    first = _order(crm).number
    cfg(crm).set_sequence("order", "ORD-{year}{month:02d}-{number:04d}")
    assert _order(crm).number == "ORD-202601-0001"  # a monthly pattern counts by month
    clock.set(dt.datetime(2026, 2, 3, tzinfo=dt.UTC))
    assert _order(crm).number == "ORD-202602-0001"  # monthly: a new period
    cfg(crm).set_sequence("order", None)
    assert "order" not in config(crm).sequences
    assert _order(crm).number is None
    assert api(crm).orders.list({"number": first}).items[0].number == first  # given ones stay
    with nothing_written(crm), pytest.raises(pycrm.ValidationError, match="no number sequence"):
        cfg(crm).next_number("order")
    cfg(crm).set_sequence("order", "SO-{year}-{number:06d}")
    assert _order(crm).number == "SO-2026-000002"


def test_a_sequence_of_the_tenants_own_and_next_number(crm, clock):
    cfg(crm).set_sequence("invoice", "INV-{number:05d}")
    assert cfg(crm).next_number("invoice") == "INV-00001"
    clock.set(dt.datetime(2030, 6, 1, tzinfo=dt.UTC))
    assert cfg(crm).next_number("invoice") == "INV-00002"  # no {year}: never starts again
    assert cfg(crm).next_number("order", on=dt.date(2025, 5, 5)) == "SO-2025-000001"
    for name, pattern in [
        ("invoice", "INV"),
        ("invoice", "INV-{customer}-{number}"),
        ("invoice", "{number}" + "x" * 80),
        ("Invoice", "INV-{number}"),
        ("", "INV-{number}"),
    ]:
        with nothing_written(crm), pytest.raises(pycrm.ValidationError):
            cfg(crm).set_sequence(name, pattern)


def test_a_rolled_back_unit_of_work_gives_its_number_back(crm):
    assert _order(crm).number == "SO-2026-000001"
    with pytest.raises(RuntimeError), crm.unit_of_work(tenant=T, user=SYSTEM) as uow:
        made = uow.customers.create(name="Buyer")
        assert uow.orders.create(customer_id=made.id, currency="CNY").number == "SO-2026-000002"
        raise RuntimeError("changed my mind")
    assert _order(crm).number == "SO-2026-000002"


# -- one unit of work -----------------------------------------------------------------------
def test_a_unit_of_work_sees_its_own_changes_and_a_rollback_leaves_nothing(crm):
    start = version(crm)
    with crm.unit_of_work(tenant=T, user=SYSTEM) as uow:
        assert uow.config.version == start
        uow.configuration.change_stage("b2b", "proposal", probability=60)
        assert uow.config.version == -1  # its own, uncommitted
        assert uow.config.pipelines["b2b"].stage("proposal").probability == 60
        with pytest.raises(pycrm.ValidationError):  # a failed change is undone on its own
            uow.configuration.change_stage("b2b", "proposal", next=["nowhere"])
        uow.configuration.set_locale("en_US")
    assert version(crm) == start + 2
    assert config(crm).pipelines["b2b"].stage("proposal").probability == 60
    with nothing_written(crm), crm.unit_of_work(tenant=T, user=SYSTEM) as uow:
        uow.configuration.set_locale("ja_JP")
        uow.configuration.define_field("customer", "tier", "integer", label="Tier")
        uow.rollback()
    assert config(crm).locale == "en_US"


# -- audit and events -----------------------------------------------------------------------
def test_every_change_is_audited_with_its_user_and_values(crm):
    with crm.unit_of_work(tenant=T, user=SYSTEM) as uow:
        admin = uow.users.create(name="Admin", roles=["admin"])
    mine = cfg(crm, user=admin.id)
    mine.change_stage("b2b", "proposal", probability=60)
    mine.change_stage("b2b", "proposal", probability=65)
    history = mine.history("pipeline", "b2b")
    assert [c.action for c in history] == [pycrm.ChangeAction.CREATE, pycrm.ChangeAction.UPDATE]
    assert {c.user_id for c in history} == {admin.id}
    assert all(c.entity == "config_entry" for c in history)
    assert history[0].fields == (
        pycrm.FieldChange("section", None, "pipeline"),
        pycrm.FieldChange("key", None, "b2b"),
        pycrm.FieldChange("value", None, {"stages": {"proposal": {"probability": 60}}}),
    )
    assert history[1].fields == (
        pycrm.FieldChange(
            "value",
            {"stages": {"proposal": {"probability": 60}}},
            {"stages": {"proposal": {"probability": 65}}},
        ),
    )
    assert mine.history("pipeline", "eight_step") == []
    assert cfg(crm, OTHER).history("pipeline", "b2b") == []
    with pytest.raises(pycrm.ValidationError):
        mine.history("planets", "b2b")
    with pytest.raises(pycrm.ValidationError, match="BASE/QUOTE"):
        mine.history("exchange_rate", "USD-CNY")


class Recorder:
    name = "recorder"

    def __init__(self) -> None:
        self.events: list[pycrm.Event] = []

    @pycrm.hookimpl
    def pycrm_on_event(self, event: pycrm.Event) -> None:
        self.events.append(event)

    def changes(self) -> list[pycrm.Event]:
        return [e for e in self.events if e.name == "configuration.changed"]


def test_configuration_changed_events_reach_the_handlers_after_commit(clock):
    recorder = Recorder()
    crm = pycrm.CRM.connect("memory://", clock=clock, plugins=[recorder], load_entry_points=False)
    cfg(crm).set_picklist("industry", choices("mfg"))
    rate = cfg(crm).set_rate("USD", "CNY", dt.date(2026, 1, 1), "7.1")
    with nothing_written(crm), pytest.raises(pycrm.ValidationError):
        cfg(crm).change_stage("b2b", "proposal", next=["nowhere"])
    with crm.unit_of_work(tenant=T, user=SYSTEM) as uow:
        uow.configuration.set_locale("en_US")
        assert len(recorder.changes()) == 2  # not before the commit
        uow.configuration.set_locale("ja_JP")
    with crm.unit_of_work(tenant=T, user=SYSTEM) as uow:
        uow.configuration.set_time_zone("Asia/Tokyo")
        uow.rollback()
    picklist, rated, *locales = recorder.changes()
    assert len(locales) == 2
    assert picklist.entity == "config_entry" and picklist.tenant == T
    assert picklist.user_id == SYSTEM and picklist.at == clock.now()
    assert picklist.data == {
        "section": "picklist",
        "key": "industry",
        "before": None,
        "after": {
            "choices": [
                {"key": "mfg", "labels": {"en_US": "Mfg", "zh_CN": "mfg-zh"}, "active": True}
            ]
        },
    }
    assert (rated.entity, rated.record_id) == ("exchange_rate", rate.id)
    assert rated.data["key"] == "USD/CNY/2026-01-01" and rated.data["after"] == "7.1"
    assert [e.data["after"] for e in locales] == [{"value": "en_US"}, {"value": "ja_JP"}]
    assert locales[1].data["before"] == {"value": "en_US"}
    crm.close()


# -- who may change it ----------------------------------------------------------------------
CHANGES: dict[str, Callable[[pycrm.ConfigurationService], Any]] = {
    "define_field": lambda c: c.define_field("customer", "rank", "integer", label="Rank"),
    "retire_field": lambda c: c.retire_field("customer", "tier"),
    "change_stage": lambda c: c.change_stage("b2b", "proposal", probability=60),
    "change_pipeline": lambda c: c.change_pipeline("b2b", name="Mine"),
    "retire_stage": lambda c: c.retire_stage("b2b", "negotiation"),
    "define_pipeline": lambda c: c.define_pipeline(OWN),
    "reset_pipeline": lambda c: c.reset_pipeline("eight_step"),  # changed by ``people``
    "set_default_pipeline": lambda c: c.set_default_pipeline("eight_step"),
    "set_picklist": lambda c: c.set_picklist("region", choices("north", "south")),
    "retire_choice": lambda c: c.retire_choice("industry", "retail"),
    "set_reporting_currency": lambda c: c.set_reporting_currency("USD"),
    "set_currencies": lambda c: c.set_currencies(["CNY", "USD"]),
    "set_rate": lambda c: c.set_rate("USD", "CNY", dt.date(2026, 1, 1), "7.1"),
    "set_locale": lambda c: c.set_locale("en_US"),
    "set_time_zone": lambda c: c.set_time_zone("Asia/Shanghai"),
    "set_sequence": lambda c: c.set_sequence("order", "O-{number}"),
    "load": lambda c: c.load(
        {
            "format": FORMAT,
            "entries": [{"section": "setting", "key": "locale", "value": {"value": "en_US"}}],
        }
    ),
}


@pytest.fixture
def people(crm: pycrm.CRM) -> dict[str, uuid.UUID]:
    """A sales rep and a system administrator of tenant T, and a field and a picklist."""
    with crm.unit_of_work(tenant=T, user=SYSTEM) as uow:
        rep = uow.users.create(name="Rep", roles=["sales_rep"])
        admin = uow.users.create(name="Admin", roles=["admin"])
        uow.configuration.define_field("customer", "tier", "integer", label="Tier")
        uow.configuration.set_picklist("industry", choices("mfg", "retail"))
        uow.configuration.change_pipeline("eight_step", name="Eight")
    return {"rep": rep.id, "admin": admin.id}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_sales_rep_may_not_change_the_configuration_a_system_admin_may(crm, people, change):
    with nothing_written(crm), pytest.raises(pycrm.PermissionDenied, match="edit right on config"):
        CHANGES[change](cfg(crm, user=people["rep"]))
    before = version(crm)
    CHANGES[change](cfg(crm, user=people["admin"]))
    assert version(crm) == before + 1


def test_add_choice_by_a_sales_rep_is_refused(crm, people):
    rep = crm.unit_of_work(tenant=T, user=people["rep"])
    with nothing_written(crm), rep as uow, pytest.raises(pycrm.PermissionDenied):
        uow.configuration.add_choice("industry", "mining", {"en_US": "Mining"})


def test_a_sales_rep_may_read_the_configuration(crm, people):
    mine = cfg(crm, user=people["rep"])
    assert mine.current().fields.get("customer", "tier") is not None
    assert [e["key"] for e in mine.export()["entries"]] == [
        "customer.tier",
        "industry",
        "eight_step",
    ]
    assert len(mine.history("field", "customer.tier")) == 1


def test_a_sales_rep_retiring_a_used_item_is_refused_for_want_of_the_right(crm, people):
    # Regression: the records were counted first, and the rep got the tenant-wide count.
    customer(crm, custom={"tier": 1}, industry="retail")
    deal(crm, stage="proposal")
    rep = cfg(crm, user=people["rep"])
    for retire in (
        lambda: rep.retire_field("customer", "tier"),
        lambda: rep.retire_choice("industry", "retail"),
        lambda: rep.retire_stage("b2b", "proposal"),
    ):
        with nothing_written(crm), pytest.raises(pycrm.PermissionDenied):
            retire()


# -- export, load, isolation ----------------------------------------------------------------
def _configure(crm: pycrm.CRM, tenant: str) -> None:
    with crm.unit_of_work(tenant=tenant, user=SYSTEM) as uow:
        c = uow.configuration
        c.define_field("customer", "tier", "integer", label={"en_US": "Tier", "zh_CN": "等级"})
        c.define_field("opportunity", "budget", "money", label="Budget", required=False)
        c.change_stage("b2b", "proposal", probability=60, dwell_days=10)
        c.retire_stage("b2b", "needs_analysis")
        c.change_pipeline("eight_step", name="Eight steps", stale_days=12)
        c.define_pipeline(OWN)
        c.set_default_pipeline("renewals")
        c.set_picklist("industry", choices("mfg", "retail"))
        c.add_choice("customer_level", "a", {"en_US": "A"})
        c.retire_choice("source", "other")
        c.set_reporting_currency("USD")
        c.set_currencies(["USD", "EUR", "CNY"])
        c.set_rate("USD", "CNY", dt.date(2026, 1, 1), "7.2", note="January")
        c.set_rate("EUR", "USD", dt.date(2026, 1, 1), "1.1")
        c.set_locale("en_US")
        c.set_time_zone("Asia/Shanghai")
        c.set_sequence("order", "ORD-{year}-{number:05d}")
        c.set_sequence("invoice", "INV-{number}")


def _rate(config: pycrm.TenantConfiguration, pair: tuple[str, str], day: dt.date) -> Any:
    try:
        return config.exchange_rates.rate(*pair, day)
    except pycrm.ExchangeRateMissing:
        return None


def _summary(config: pycrm.TenantConfiguration) -> dict[str, Any]:
    day = dt.date(2026, 1, 15)
    return {
        "fields": sorted((f.entity, f.key, f) for f in config.fields),
        "pipelines": dict(config.pipelines),
        "default": config.pipelines.default.key,
        "picklists": dict(config.picklists),
        "money": (config.reporting_currency, config.currencies),
        "rates": [_rate(config, pair, day) for pair in (("USD", "CNY"), ("USD", "EUR"))],
        "place": (config.locale, config.time_zone),
        "sequences": dict(config.sequences),
    }


def test_export_then_load_into_another_tenant_reproduces_the_configuration(crm):
    _configure(crm, T)
    document = cfg(crm).export()
    assert document["format"] == FORMAT
    assert len(document["rates"]) == 2
    assert _summary(config(crm, OTHER)) != _summary(config(crm))
    with crm.unit_of_work(tenant=OTHER, user=SYSTEM) as uow:
        assert uow.configuration.load(document) == len(document["entries"]) + 2
    assert cfg(crm, OTHER).export() == document
    assert _summary(config(crm, OTHER)) == _summary(config(crm))
    assert deal(crm, OTHER).pipeline == "renewals"
    assert _order(crm, OTHER).number == "ORD-2026-00001"
    with nothing_written(crm, OTHER), crm.unit_of_work(tenant=OTHER, user=SYSTEM) as uow:
        assert uow.configuration.load(document) == 0  # "how many items it changed"


def test_load_is_all_or_nothing(crm):
    good = {"section": "setting", "key": "locale", "value": {"value": "en_US"}}
    documents: list[Any] = [
        {"format": "something else", "entries": [good]},
        ["not", "a", "document"],
        {"format": FORMAT, "entries": {"a": 1}},
        {"format": FORMAT, "entries": [good, {"section": "planets", "key": "x", "value": {}}]},
        {"format": FORMAT, "entries": [good, {"section": "setting", "key": "locale"}]},
        {"format": FORMAT, "entries": [good, {"section": "setting", "key": "x", "value": "y"}]},
        {
            "format": FORMAT,
            "entries": [
                good,
                {"section": "pipeline", "key": "b2b", "value": {"stages": {"nowhere": {}}}},
            ],
        },
        {
            "format": FORMAT,
            "entries": [
                good,
                {"section": "field", "key": "planet.x", "value": {"type": "text", "label": "X"}},
            ],
        },
        {
            "format": FORMAT,
            "entries": [good, {"section": "sequence", "key": "order", "value": {"pattern": "SO"}}],
        },
        {
            "format": FORMAT,
            "entries": [good],
            "rates": [{"base": "USD", "quote": "USD", "valid_from": "2026-01-01", "rate": "1"}],
        },
        {
            "format": FORMAT,
            "entries": [good],
            "rates": [{"base": "USD", "quote": "CNY", "valid_from": "soon", "rate": "1"}],
        },
    ]
    for document in documents:
        unit = crm.unit_of_work(tenant=T, user=SYSTEM)
        with nothing_written(crm), unit as uow, pytest.raises(pycrm.ValidationError):
            uow.configuration.load(document)


def test_tenants_are_isolated(crm):
    _configure(crm, T)
    customer(crm, custom={"tier": 1}, industry="mfg")
    other = config(crm, OTHER)
    assert other.version == 0 and other.entries == () and other.rates == ()
    assert _summary(other) == _summary(config(crm, "third"))  # the defaults
    assert cfg(crm, OTHER).export() == {"format": FORMAT, "entries": [], "rates": []}
    assert cfg(crm, OTHER).rates() == []
    assert cfg(crm, OTHER).history("field", "customer.tier") == []
    with pytest.raises(pycrm.ValidationError, match="tier"):
        customer(crm, OTHER, custom={"tier": 1})
    with pytest.raises(pycrm.ValidationError, match="no key"):
        cfg(crm, OTHER).retire_choice("industry", "mfg")
    cfg(crm, OTHER).set_locale("ja_JP")
    assert config(crm).locale == "en_US" and config(crm, OTHER).locale == "ja_JP"


def test_the_configuration_is_kept_while_its_version_stands_still(crm):
    first = config(crm)
    assert config(crm) is first  # kept: not read again
    cfg(crm).set_locale("en_US")
    second = config(crm)
    assert second is not first and second.version == first.version + 1
    assert config(crm) is second
    crm.fields.define("customer", "vip", "boolean", label="VIP")  # process-wide defaults
    assert config(crm).fields.get("customer", "vip") is not None


# -- regressions (each failed on the first version of the service) ---------------------------
def test_add_choice_works_through_as_user(crm):
    # add_choice called the service's own set_picklist: a second unit of work (StorageError).
    picklist = cfg(crm).add_choice("industry", "mfg", {"en_US": "Manufacturing"})
    assert picklist.keys() == ["mfg"]


def test_load_through_as_user_is_all_or_nothing(crm):
    # load called the service's own set_rate: a unit of work per rate.
    rate = {"base": "USD", "quote": "CNY", "valid_from": "2026-01-01", "rate": "7.2"}
    bad = {**rate, "quote": "USD"}
    with nothing_written(crm), pytest.raises(pycrm.ValidationError):
        cfg(crm).load({"format": FORMAT, "entries": [], "rates": [rate, bad]})
    locale = {"section": "setting", "key": "locale", "value": {"value": "en_US"}}
    assert cfg(crm).load({"format": FORMAT, "entries": [locale], "rates": [rate]}) == 2


@pytest.mark.parametrize(
    ("entry", "error"),
    [
        (
            {"section": "field", "key": "customer.tier", "value": {"retired": True}},
            pycrm.RuleViolation,
        ),
        ({"section": "picklist", "key": "industry", "value": {"choices": []}}, pycrm.RuleViolation),
        (
            {"section": "picklist", "key": "source", "value": {"choices": choices("visit", "tv")}},
            pycrm.ValidationError,
        ),
        (
            {"section": "setting", "key": "reporting_currency", "value": {"value": "XYZ"}},
            pycrm.ValidationError,
        ),
    ],
)
def test_load_applies_the_same_checks_as_the_methods(crm, entry, error):
    # load stored entries as given: it took away what records use, added keys to a fixed
    # picklist and took a currency that is not offered.
    cfg(crm).define_field("customer", "tier", "integer", label="Tier")
    cfg(crm).set_picklist("industry", choices("mfg"))
    customer(crm, custom={"tier": 1}, industry="mfg", source="visit")
    unit = crm.unit_of_work(tenant=T, user=SYSTEM)
    with nothing_written(crm), unit as uow, pytest.raises(error) as refused:
        uow.configuration.load({"format": FORMAT, "entries": [entry]})
    if error is pycrm.RuleViolation:
        assert refused.value.rule == IN_USE and str(refused.value).startswith("1 customer")


def test_load_refuses_an_unknown_field_type_as_a_validation_error(crm):
    # A plain ValueError of the field type escaped.
    entry = {"section": "field", "key": "customer.x", "value": {"type": "colour", "label": "X"}}
    with crm.unit_of_work(tenant=T, user=SYSTEM) as uow, pytest.raises(pycrm.ValidationError):
        uow.configuration.load({"format": FORMAT, "entries": [entry]})


def test_the_count_of_a_used_picklist_key_covers_every_bound_field(crm):
    # The refusal counted only the first entity holding the key.
    customer(crm, source="web")
    customer(crm, name="Beta", source="web")
    for name in ("a", "b", "c"):
        api(crm).leads.create(name=name, source="web")
    with pytest.raises(pycrm.RuleViolation) as refused:
        cfg(crm).retire_choice("source", "web")
    assert refused.value.rule == IN_USE
    assert str(refused.value).startswith("5 ")  # 2 customers and 3 leads
