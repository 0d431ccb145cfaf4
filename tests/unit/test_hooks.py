"""One test per hook, named ``test_hook_<hook>``: each hook is called through pluggy, so
wrappers, ``tryfirst``/``trylast`` and ``firstresult`` behave as pluggy documents, and a
failing implementation is a PluginError naming its plugin."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Generator
from decimal import Decimal
from typing import Any

import pytest

import pycrm
from pycrm.storage.memory import MemoryBackend

DAY = dt.date(2026, 1, 15)


def connect(*plugins: object, clock: pycrm.FixedClock | None = None) -> pycrm.CRM:
    return pycrm.CRM.connect("memory://", plugins=plugins, clock=clock, load_entry_points=False)


def test_hook_pycrm_make_storage() -> None:
    seen: list[str] = []

    class Tracing:
        name = "tracing"

        @pycrm.hookimpl(wrapper=True)
        def pycrm_make_storage(self, url: str) -> Generator[None, Any, Any]:
            seen.append(f"before {url}")
            backend = yield
            seen.append(f"after {backend.name}")
            return backend

    class Mine:
        name = "mine"

        @pycrm.hookimpl(tryfirst=True)
        def pycrm_make_storage(self, url: str) -> Any:
            return MemoryBackend() if url == "mine://" else None

    crm = pycrm.CRM.connect("mine://", plugins=[Tracing(), Mine()], load_entry_points=False)
    assert crm.storage.name == "memory"
    assert seen == ["before mine://", "after memory"]  # the wrapper wrapped the call


def test_hook_pycrm_register_currencies() -> None:
    class Wrapping:
        name = "wrapping"

        @pycrm.hookimpl(wrapper=True)
        def pycrm_register_currencies(self) -> Generator[None, Any, Any]:
            lists = yield
            return [*lists, ["CHF"]]  # a wrapper may add to (or change) the results

    class Bad:
        name = "bad"

        @pycrm.hookimpl
        def pycrm_register_currencies(self) -> list[str]:
            return ["XXQ"]

    assert "CHF" in connect(Wrapping()).currencies
    with pytest.raises(pycrm.PluginError, match="plugin 'bad' registered a bad currency"):
        connect(Bad())


def test_hook_pycrm_make_exchange_rates() -> None:
    class Feed:
        name = "feed"

        @pycrm.hookimpl(trylast=True)
        def pycrm_make_exchange_rates(self) -> Any:
            raise AssertionError("never asked: the built-in plugin answers first")

    class Bank:
        name = "bank"

        @pycrm.hookimpl
        def pycrm_make_exchange_rates(self) -> pycrm.ExchangeRates:
            return pycrm.FixedRates({"USD/CNY": Decimal("7.20")})

    crm = connect(Feed(), Bank())
    assert crm.exchange_rates.rate("USD", "CNY", DAY) == Decimal("7.20")


def test_hook_pycrm_register_fields() -> None:
    tier = pycrm.FieldDefinition(entity="customer", key="tier", type="integer", label="Tier")

    class Fields:
        name = "fields"

        @pycrm.hookimpl
        def pycrm_register_fields(self) -> list[pycrm.FieldDefinition]:
            return [tier]

    class Broken:
        name = "broken"

        @pycrm.hookimpl
        def pycrm_register_fields(self) -> list[Any]:
            raise KeyError("tier")

    crm = connect(Fields())
    assert crm.fields.get("customer", "tier") == tier
    with pytest.raises(pycrm.PluginError, match="plugin 'broken' failed in pycrm_register_fields"):
        connect(Broken())


def test_hook_pycrm_on_event() -> None:
    order: list[str] = []

    class Early:
        name = "early"

        @pycrm.hookimpl(tryfirst=True)
        def pycrm_on_event(self, event: pycrm.Event) -> None:
            order.append(f"early {event.name}")

    class Failing:
        name = "failing"

        @pycrm.hookimpl
        def pycrm_on_event(self, event: pycrm.Event) -> None:
            raise ConnectionError("webhook down")

    class Late:
        name = "late"

        @pycrm.hookimpl(trylast=True)
        def pycrm_on_event(self, event: pycrm.Event, crm: pycrm.CRM) -> None:
            order.append(f"late {event.name}")

    crm = connect(Late(), Failing(), Early())
    with crm.unit_of_work(tenant="t", user=pycrm.SYSTEM_USER) as uow:
        uow.customers.create(name="ACME")
    assert order == ["early customer.created", "late customer.created"]
    [(event, error)] = crm.event_errors
    assert isinstance(event, pycrm.RecordCreated) and isinstance(error, ConnectionError)


def test_hook_pycrm_register_pipelines() -> None:
    ads = pycrm.Pipeline(key="ads", name="Ads", stages=[pycrm.Stage("lead", probability=10)])

    class Ads:
        name = "ads"

        @pycrm.hookimpl
        def pycrm_register_pipelines(self) -> list[pycrm.Pipeline]:
            return [ads]

    class Odd:
        name = "odd"

        @pycrm.hookimpl
        def pycrm_register_pipelines(self) -> list[Any]:
            return ["not a pipeline"]

    assert connect(Ads()).pipelines["ads"] is ads
    with pytest.raises(pycrm.PluginError, match="plugin 'odd' registered 'not a pipeline'"):
        connect(Odd())


def test_hook_pycrm_check_transition() -> None:
    calls: list[str] = []

    class Director:
        name = "director"

        @pycrm.hookimpl
        def pycrm_check_transition(self, target: pycrm.Stage, user: uuid.UUID) -> str | None:
            return "a director must approve" if target.key == "won" else None

    class Audit:
        name = "audit"

        @pycrm.hookimpl(wrapper=True)
        def pycrm_check_transition(self, source: pycrm.Stage) -> Generator[None, Any, Any]:
            answers = yield
            calls.append(f"{source.key}: {answers}")
            return answers

    crm = connect(Director(), Audit())
    api = crm.as_user(pycrm.SYSTEM_USER, tenant="t")
    customer = api.customers.create(name="ACME")
    deal = api.opportunities.create(
        customer_id=customer.id, name="Ads", amount=pycrm.Money("10.00", "CNY")
    )
    api.opportunities.move(deal.id, to="proposal")
    with pytest.raises(pycrm.RuleViolation, match="a director must approve"):
        api.opportunities.win(deal.id)
    assert calls == ["qualification: []", "proposal: ['a director must approve']"]


def test_hook_pycrm_register_picklists() -> None:
    industry = pycrm.Picklist(
        "industry",
        [
            pycrm.Choice("it", {"zh_CN": "信息技术", "en_US": "IT", "ja_JP": "情報技術"}),
            pycrm.Choice("finance", {"zh_CN": "金融", "en_US": "Finance", "ja_JP": "金融"}),
        ],
    )

    class Industries:
        name = "industries"

        @pycrm.hookimpl
        def pycrm_register_picklists(self) -> list[pycrm.Picklist]:
            return [industry]  # registered after the built-in plugin: its list wins

    class Odd:
        name = "odd"

        @pycrm.hookimpl
        def pycrm_register_picklists(self) -> list[Any]:
            return ["not a picklist"]

    crm = connect(Industries())
    assert crm.picklists["industry"] is industry
    assert crm.picklists["source"].fixed  # the built-in lists are still there
    api = crm.as_user(pycrm.SYSTEM_USER, tenant="t")
    config = api.configuration.current()
    assert config.picklists["industry"].keys() == ["it", "finance"]
    assert config.label("customer", "industry", "finance", "ja_JP") == "金融"
    assert api.customers.create(name="ACME", industry="it").industry == "it"
    with pytest.raises(pycrm.ValidationError) as caught:
        api.customers.create(name="Mining Co", industry="mining")
    assert [path for path, _ in caught.value.errors] == ["industry"]
    plain = connect().as_user(pycrm.SYSTEM_USER, tenant="t")  # without the plugin: free text
    assert plain.customers.create(name="Mining Co", industry="mining").industry == "mining"
    with pytest.raises(pycrm.PluginError, match="plugin 'odd' registered 'not a picklist'"):
        connect(Odd())


def test_a_wrapper_that_fails_is_named_and_the_call_fails_cleanly() -> None:
    class Flaky:
        name = "flaky"

        @pycrm.hookimpl(wrapper=True)
        def pycrm_register_pipelines(self) -> Generator[None, Any, Any]:
            yield
            raise ValueError("lost my list")

    with pytest.raises(pycrm.PluginError, match="plugin 'flaky' failed in pycrm_register_pip"):
        connect(Flaky())


def test_hook_pycrm_register_sweep_rules(caplog: pytest.LogCaptureFixture) -> None:
    at = dt.datetime(2026, 3, 16, 9, 0, tzinfo=dt.UTC)

    class Renewals:
        """Warn the owner of every customer whose contract field says it ends today."""

        key = "customer.renewal"

        def run(self, uow: Any, now: dt.datetime) -> int:
            due = uow.customers.list({"custom.renews_on": now.date().isoformat()}).items
            found = [pycrm.new_alert(uow, self.key, c, "renewal", c.owner_id) for c in due]
            return len(pycrm.raise_alerts(uow, pycrm.fresh_alerts(uow, found)))

    class Broken:
        key = "broken"

        def run(self, uow: Any, now: dt.datetime) -> int:
            raise RuntimeError("no luck")

    class Mine:
        name = "mine"

        @pycrm.hookimpl
        def pycrm_register_fields(self) -> list[pycrm.FieldDefinition]:
            return [
                pycrm.FieldDefinition(
                    entity="customer", key="renews_on", type="date", label={"en_US": "Renews"}
                )
            ]

        @pycrm.hookimpl
        def pycrm_register_sweep_rules(self) -> list[Any]:
            return [Broken(), Renewals()]

    class Odd:
        name = "odd"

        @pycrm.hookimpl
        def pycrm_register_sweep_rules(self) -> list[Any]:
            return ["not a rule"]

    crm = connect(Mine(), clock=pycrm.FixedClock(at))
    keys = [rule.key for rule in crm.sweep_rules]
    assert keys[0] == "activity.reminder" and keys[-2:] == ["broken", "customer.renewal"]
    api = crm.as_user(pycrm.SYSTEM_USER, tenant="t")
    api.customers.create(name="ACME", custom={"renews_on": "2026-03-16"})
    api.customers.create(name="Other", custom={"renews_on": "2026-04-01"})
    run = crm.sweep(at, tenant="t")
    assert run.raised["customer.renewal"] == 1 and "RuntimeError: no luck" in run.failed["broken"]
    assert crm.sweep(at, tenant="t").raised["customer.renewal"] == 0  # raised once
    with pytest.raises(pycrm.PluginError, match="odd"):
        connect(Odd())

    class Again:
        name = "again"
        pycrm_register_sweep_rules = Mine.pycrm_register_sweep_rules

    with pytest.raises(pycrm.PluginError, match="registered twice"):
        connect(Mine(), Again())


def test_hook_pycrm_register_match_rules() -> None:
    class TaxIds:
        name = "tax-ids"

        @pycrm.hookimpl
        def pycrm_register_fields(self) -> list[pycrm.FieldDefinition]:
            label = {"en_US": "Tax id"}
            return [
                pycrm.FieldDefinition(entity="customer", key="tax_id", type="text", label=label)
            ]

        @pycrm.hookimpl
        def pycrm_register_match_rules(self) -> list[pycrm.MatchRule]:
            return [
                pycrm.MatchRule(
                    key="customer.tax_id",
                    entity="customer",
                    fields=("custom.tax_id",),
                    normaliser=lambda value, region: value.replace(" ", "").upper(),
                    action="block",
                )
            ]

    class Odd:
        name = "odd"

        @pycrm.hookimpl
        def pycrm_register_match_rules(self) -> list[Any]:
            return ["not a rule"]

    crm = connect(TaxIds())
    assert {"customer.name", "customer.tax_id"} <= {rule.key for rule in crm.match_rules}
    api = crm.as_user(pycrm.SYSTEM_USER, tenant="t")
    first = api.customers.create(name="ACME", custom={"tax_id": "91110 000"})
    with pytest.raises(pycrm.ConflictError, match=r"customer\.tax_id"):
        api.customers.create(name="Other", custom={"tax_id": "91110000"})
    kept = api.customers.create(name="Other", custom={"tax_id": "91110000"}, allow_duplicates=True)
    assert {c.record_id for c in api.duplicates.of("customer", kept.id)} == {first.id}
    with pytest.raises(pycrm.PluginError, match="odd"):
        connect(Odd())
    with pytest.raises(pycrm.PluginError, match="registered twice"):
        connect(
            TaxIds(),
            type(
                "Again",
                (),
                {"name": "again", "pycrm_register_match_rules": TaxIds.pycrm_register_match_rules},
            )(),
        )
