"""Plugins: entry points, plugins passed to CRM, disabling by name, load errors."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import sys
import textwrap
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

import pycrm
from pycrm.plugins.manager import DEFAULT_PLUGINS


def names(crm: pycrm.CRM) -> list[str]:
    return [p.name for p in crm.plugins]


BUILT_INS = list(DEFAULT_PLUGINS)


class Hello:
    name = "hello"

    @pycrm.hookimpl
    def pycrm_register_currencies(self) -> list[str]:
        return ["KWD"]


def test_plugins_passed_to_crm_are_listed_with_their_source_and_hooks():
    crm = pycrm.CRM("memory://", plugins=[Hello()], load_entry_points=False)
    assert names(crm) == [*BUILT_INS, "hello"]
    info = crm.plugins[-1]
    assert (info.source, info.hooks) == ("passed to CRM", ["pycrm_register_currencies"])
    assert "KWD" in crm.currencies


def test_plugins_are_disabled_by_name():
    settings = pycrm.Settings(disabled_plugins=frozenset({"hello"}))
    crm = pycrm.CRM("memory://", settings=settings, plugins=[Hello()], load_entry_points=False)
    assert names(crm) == BUILT_INS and "KWD" not in crm.currencies


def test_a_hook_that_does_not_exist_names_the_plugin():
    class Typo:
        name = "typo"

        @pycrm.hookimpl
        def pycrm_on_evnt(self, event: pycrm.Event) -> None: ...

    expected = r"plugin .typo. implements pycrm_on_evnt"
    with pytest.raises(pycrm.PluginError, match=expected) as caught:
        pycrm.CRM("memory://", plugins=[Typo()], load_entry_points=False)
    assert caught.value.plugin == "typo"


def test_bad_hook_arguments_name_the_plugin():
    class Wrong:
        name = "wrong"

        @pycrm.hookimpl
        def pycrm_on_event(self, event: pycrm.Event, colour: str) -> None: ...

    with pytest.raises(pycrm.PluginError, match="'wrong' cannot be registered"):
        pycrm.CRM("memory://", plugins=[Wrong()], load_entry_points=False)


# -- entry points, from a distribution made on the fly --------------------------------------


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A distribution ``acme-crm-plugins`` with two entry points: one loads, one raises."""
    (tmp_path / "acme_good.py").write_text(
        textwrap.dedent(
            """
            import pycrm

            @pycrm.hookimpl
            def pycrm_register_currencies():
                return ["CHF"]
            """
        )
    )
    (tmp_path / "acme_broken.py").write_text("raise ImportError('needs acme-sdk installed')\n")
    dist = tmp_path / "acme_crm_plugins-1.2.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: acme-crm-plugins\nVersion: 1.2.0\n"
    )
    (dist / "entry_points.txt").write_text("[pycrm]\ngood = acme_good\nbroken = acme_broken\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    yield tmp_path
    for module in ("acme_good", "acme_broken"):
        sys.modules.pop(module, None)


def test_an_entry_point_that_fails_to_load_is_a_plugin_error_naming_it(installed):
    with pytest.raises(pycrm.PluginError, match=r"'broken' .*needs acme-sdk") as caught:
        pycrm.CRM("memory://")
    assert caught.value.plugin == "broken"


def test_entry_points_load_unless_disabled(installed):
    settings = pycrm.Settings(disabled_plugins=frozenset({"broken"}))
    crm = pycrm.CRM("memory://", settings=settings)
    good = next(p for p in crm.plugins if p.name == "good")
    assert good.source == "entry point acme_good from acme-crm-plugins 1.2.0"
    assert "CHF" in crm.currencies
    assert "good" not in names(pycrm.CRM("memory://", load_entry_points=False))


# -- the example package in examples/pycrm-ads-plugin ---------------------------------------


def _ads_installed() -> bool:
    try:
        importlib.metadata.distribution("pycrm-ads-plugin")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


needs_ads = pytest.mark.skipif(
    not _ads_installed(),
    reason="examples/pycrm-ads-plugin is not installed (scripts/test.sh installs it)",
)


@needs_ads
def test_the_ads_plugin_is_picked_up_through_its_entry_point(clock, admin):
    crm = pycrm.CRM("memory://", clock=clock)
    ads = next(p for p in crm.plugins if p.name == "ads")
    assert ads.source.startswith("entry point pycrm_ads_plugin from pycrm-ads-plugin")
    assert ads.hooks == ["pycrm_check_transition", "pycrm_on_event", "pycrm_register_fields"]
    assert crm.fields.get("order", "ad_slot").label_for("zh_CN") == "广告位"
    with crm.unit_of_work(user=admin) as uow:
        acme = uow.customers.create(name="ACME")
        order = uow.orders.create(
            customer_id=acme.id,
            currency="CNY",
            custom={"ad_slot": "banner", "run_start": "2026-03-01"},
        )
        uow.orders.create(customer_id=acme.id, currency="CNY")
    with crm.unit_of_work(user=admin) as uow:
        (todo,) = uow.activities.list()
        booked = uow.orders.list({"custom.ad_slot": "banner"}).items
    assert booked == [order] and crm.event_errors == []
    assert (todo.subject, todo.order_id, todo.owner_id) == ("Book the banner slot", order.id, admin)
    assert todo.due_at == dt.datetime(2026, 2, 28, 9, tzinfo=dt.UTC)


@needs_ads
def test_the_ads_plugin_stage_rule_holds_ad_deals_without_a_slot(clock, admin):
    crm = pycrm.CRM("memory://", clock=clock)
    with crm.unit_of_work(user=admin) as uow:
        customer = uow.customers.create(name="北京食品报")
        deal = uow.opportunities.create(
            customer_id=customer.id,
            name="春季广告",
            product_line="ads",
            amount=pycrm.Money("9.00", "CNY"),
            expected_close=dt.date(2026, 3, 1),
        )
        other = uow.opportunities.create(
            customer_id=customer.id,
            name="软件",
            product_line="it",
            amount=pycrm.Money("5.00", "CNY"),
            expected_close=dt.date(2026, 4, 1),
        )
    acme = crm.as_user(admin)
    with pytest.raises(pycrm.RuleViolation, match="choose the ad slot") as caught:
        acme.opportunities.move(deal.id, to="negotiation")
    assert caught.value.rule == "opportunity.plugin_veto"
    assert acme.opportunities.move(other.id, to="negotiation").stage == "negotiation"
    acme.opportunities.update(deal.id, custom={"ad_slot": "banner"})
    assert acme.opportunities.move(deal.id, to="negotiation").stage == "negotiation"


def test_the_ads_plugin_stays_out_when_entry_points_are_off_or_it_is_disabled():
    assert "ads" not in names(pycrm.CRM("memory://", load_entry_points=False))
    settings = pycrm.Settings(disabled_plugins=frozenset({"ads"}))
    crm = pycrm.CRM("memory://", settings=settings)
    assert "ads" not in names(crm) and crm.fields.get("order", "ad_slot") is None


# -- first-result hooks: a later plugin overrides the built-in --------------------------------


def test_a_storage_plugin_handles_its_own_url_scheme():
    class Vault:
        name = "vault"

        @pycrm.hookimpl
        def pycrm_make_storage(self, url: str) -> object | None:
            from pycrm.storage.memory import MemoryBackend

            return MemoryBackend() if url.startswith("vault://") else None

    crm = pycrm.CRM("vault://acme", plugins=[Vault()], load_entry_points=False)
    assert crm.storage.name == "memory"
    with pytest.raises(pycrm.ConfigurationError, match="no storage backend"):
        pycrm.CRM("mongodb://x", plugins=[Vault()], load_entry_points=False)


def test_an_exchange_rate_plugin_takes_precedence_over_the_fixed_rates():
    class Bank:
        name = "bank"

        @pycrm.hookimpl
        def pycrm_make_exchange_rates(self) -> pycrm.FixedRates:
            return pycrm.FixedRates({"USD/CNY": Decimal("7.1")})

    settings = pycrm.Settings(exchange_rates={"USD/CNY": Decimal("6.9")})
    crm = pycrm.CRM("memory://", settings=settings, plugins=[Bank()], load_entry_points=False)
    assert crm.exchange_rates.rate("USD", "CNY", dt.date(2026, 1, 1)) == Decimal("7.1")


def test_a_plugin_error_names_the_plugin_never_by_its_repr():
    class Typo:  # no ``name``: its class name stands for it
        @pycrm.hookimpl
        def pycrm_on_evnt(self, event: pycrm.Event) -> None: ...

    class Wrong:
        name = "wrong"

        @pycrm.hookimpl
        def pycrm_on_event(self, event: pycrm.Event, colour: str) -> None: ...

    for plugin, name in ((Typo(), "Typo"), (Wrong(), "wrong")):
        with pytest.raises(pycrm.PluginError) as caught:
            pycrm.CRM("memory://", plugins=[plugin], load_entry_points=False)
        assert f"plugin {name!r}" in str(caught.value) and " at 0x" not in str(caught.value)
