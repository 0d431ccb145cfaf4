"""The facade: settings, storage by URL, plugins, units of work and events."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from decimal import Decimal

import pytest

import pycrm
from pycrm.plugins import manager


def test_settings_are_validated():
    with pytest.raises(pycrm.ValidationError) as caught:
        pycrm.Settings(reporting_currency="XYZ", locale="xx_XX", exchange_rates={"USDCNY": 1})
    fields = {path.split(".")[0] for path, _ in caught.value.errors}
    assert fields == {"reporting_currency", "locale", "exchange_rates"}
    with pytest.raises(pycrm.ValidationError, match="colour"):
        pycrm.Settings(colour="blue")  # type: ignore[call-arg]


def test_an_unknown_url_scheme_is_a_configuration_error():
    with pytest.raises(pycrm.ConfigurationError, match="no storage backend for 'mongodb://x'"):
        pycrm.CRM.connect("mongodb://x", load_entry_points=False)


def test_built_in_plugins_are_listed_with_their_hooks(crm):
    names = {p.name: p for p in crm.plugins}
    assert names["pycrm.plugins.default_storage"].hooks == ["pycrm_make_storage"]
    assert names["pycrm.plugins.default_storage"].source == "built-in"


def test_a_plugin_provides_a_storage_backend_for_its_scheme():
    from pycrm.storage.memory import MemoryBackend

    made: list[str] = []

    class Scheme:
        @pycrm.hookimpl
        def pycrm_make_storage(self, url, settings):
            if url.startswith("scratch:"):
                made.append(url)
                return MemoryBackend()
            return None

    crm = pycrm.CRM.connect("scratch://x", plugins=[Scheme()], load_entry_points=False)
    assert made == ["scratch://x"] and crm.storage.name == "memory"


def test_a_plugin_registering_a_bad_currency_is_named():
    class Bad:
        @pycrm.hookimpl
        def pycrm_register_currencies(self):
            return ["CNY", "XXQ"]

    with pytest.raises(pycrm.PluginError, match="XXQ"):
        pycrm.CRM.connect("memory://", plugins=[Bad()], load_entry_points=False)


def test_a_hook_implementation_with_unknown_arguments_is_refused():
    class Wrong:
        @pycrm.hookimpl
        def pycrm_make_storage(self, uri):
            return None

    with pytest.raises(pycrm.PluginError, match="cannot be registered"):
        pycrm.CRM.connect("memory://", plugins=[Wrong()], load_entry_points=False)


def test_an_entry_point_that_fails_to_load_is_named(monkeypatch):
    class Broken:
        name, value, dist = "broken", "broken_plugin:nothing", None

        def load(self):
            raise ImportError("No module named 'broken_plugin'")

    monkeypatch.setattr(manager, "entry_points", lambda group: [Broken()])
    with pytest.raises(pycrm.PluginError, match=r"plugin 'broken'.*failed to load"):
        pycrm.CRM.connect("memory://")


def test_plugins_can_be_disabled_by_name():
    settings = pycrm.Settings(disabled_plugins=frozenset({"pycrm.plugins.default_currencies"}))
    with pytest.raises(pycrm.PluginError, match="exchange rates"):
        pycrm.CRM.connect("memory://", settings=settings, load_entry_points=False)


def test_currencies_come_from_settings_and_plugins():
    class Gulf:
        @pycrm.hookimpl
        def pycrm_register_currencies(self):
            return ["KWD"]

    settings = pycrm.Settings(reporting_currency="SGD", exchange_rates={"SGD/CNY": Decimal("5.3")})
    crm = pycrm.CRM.connect(
        "memory://", settings=settings, plugins=[Gulf()], load_entry_points=False
    )
    assert {"SGD", "CNY", "KWD", "USD"} <= set(crm.currencies)


@pytest.mark.parametrize(("tenant", "user"), [("", pycrm.SYSTEM_USER), ("t", "nobody")])
def test_the_acting_tenant_and_user_are_checked(crm, tenant, user):
    with pytest.raises(pycrm.ValidationError):
        crm.unit_of_work(tenant=tenant, user=user)


def test_a_unit_of_work_cannot_be_used_after_it_ended(crm):
    with crm.unit_of_work(tenant="t", user=pycrm.SYSTEM_USER) as uow:
        uow.customers.create(name="x")
    with pytest.raises(pycrm.StorageError, match="ended"):
        uow.customers.create(name="y")


class Recorder:
    def __init__(self, fail_on: str | None = None) -> None:
        self.events: list[pycrm.Event] = []
        self.fail_on = fail_on

    @pycrm.hookimpl
    def pycrm_on_event(self, event, crm):
        if event.name == self.fail_on:
            raise RuntimeError("handler broke")
        self.events.append(event)


def test_events_are_emitted_after_commit_in_order(clock):
    recorder = Recorder()
    crm = pycrm.CRM.connect("memory://", plugins=[recorder], clock=clock, load_entry_points=False)
    with crm.unit_of_work(tenant="t", user=pycrm.SYSTEM_USER) as uow:
        customer = uow.customers.create(name="甲")
        uow.customers.update(customer.id, level="A")
        assert recorder.events == []  # nothing before commit
    assert [e.name for e in recorder.events] == ["customer.created", "customer.updated"]
    updated = recorder.events[1]
    assert updated.changes == {"level": (None, "A")}
    assert (updated.record_id, updated.tenant, updated.at) == (customer.id, "t", clock.now())


def test_events_of_a_rolled_back_unit_of_work_are_never_emitted():
    recorder = Recorder()
    crm = pycrm.CRM.connect("memory://", plugins=[recorder], load_entry_points=False)
    with (
        pytest.raises(ZeroDivisionError),
        crm.unit_of_work(tenant="t", user=pycrm.SYSTEM_USER) as uow,
    ):
        uow.customers.create(name="甲")
        1 / 0  # noqa: B018
    assert recorder.events == []


def test_a_failing_handler_never_undoes_the_commit(caplog):
    recorder = Recorder(fail_on="customer.created")
    crm = pycrm.CRM.connect("memory://", plugins=[recorder], load_entry_points=False)
    with (
        caplog.at_level(logging.ERROR, logger="pycrm"),
        crm.unit_of_work(tenant="t", user=pycrm.SYSTEM_USER) as uow,
    ):
        customer = uow.customers.create(name="甲")
    assert crm.as_user(pycrm.SYSTEM_USER, tenant="t").customers.get(customer.id).name == "甲"
    [(event, error)] = crm.event_errors
    assert event.name == "customer.created" and str(error) == "handler broke"
    assert "event handler" in caplog.text and "failed for customer.created" in caplog.text


def test_as_user_runs_each_call_in_its_own_unit_of_work(crm):
    rep = crm.as_user(pycrm.SYSTEM_USER, tenant="acme").users.create(name="Wang")
    acme = crm.as_user(rep.id, tenant="acme")
    customer = acme.customers.create(name="甲")
    with pytest.raises(pycrm.ValidationError):
        acme.customers.create(name="")
    assert acme.customers.count() == 1
    assert acme.customers.history(customer.id)[0].user_id == rep.id


def test_views_serialise_to_json(crm):
    with crm.unit_of_work(tenant="t", user=pycrm.SYSTEM_USER) as uow:
        customer = uow.customers.create(name="甲", tags=["x"])
        deal = uow.opportunities.create(
            customer_id=customer.id,
            name="d",
            amount=pycrm.Money("1.50", "USD"),
            expected_close=dt.date(2026, 5, 1),
        )
    data = pycrm.view(deal).model_dump(mode="json")
    assert data["amount"] == {"amount": "1.50", "currency": "USD"}
    assert data["expected_close"] == "2026-05-01" and data["status"] == "open"


@pytest.mark.parametrize("url", ["memory://", "sqlite:///{tmp}/nested.db"])
def test_a_second_unit_of_work_in_the_same_thread_is_refused_at_once(url, tmp_path):
    crm = pycrm.CRM.connect(url.format(tmp=tmp_path), load_entry_points=False)
    with crm.unit_of_work(tenant="t", user=pycrm.SYSTEM_USER) as uow:
        uow.customers.create(name="甲")
        with pytest.raises(pycrm.StorageError, match="already open in this context"):
            crm.as_user(pycrm.SYSTEM_USER, tenant="t").customers.create(name="乙")
        uow.customers.create(name="丙")  # the outer unit of work goes on
    names = {c.name for c in crm.as_user(pycrm.SYSTEM_USER, tenant="t").customers.list()}
    assert names == {"甲", "丙"}


@pytest.mark.parametrize(
    "call",
    [
        lambda a: a.customers.list("abc"),
        lambda a: a.customers.count([1]),
        lambda a: a.customers.list(order_by=None),
        lambda a: a.customers.list(after=5),
        lambda a: a.customers.list({"status__contains": "act"}),
        lambda a: a.opportunities.list({"amount__in": ["1.00 CNY"]}),
        lambda a: a.customers.subtotals(None),
        lambda a: a.customers.create_many(None),
        lambda a: a.customers.create_many([None]),
        lambda a: a.customers.import_many([3]),
        lambda a: a.reports.sales(None, None),
        lambda a: a.receivables.due("month", owner_id="abc"),
        lambda a: a.customers.update(a.customers.list().items[0].id, version="one", level="A"),
        lambda a: a.tickets.create(
            customer_id=a.customers.list().items[0].id, subject="s", due_at=dt.datetime(2026, 1, 1)
        ),
        lambda a: a.opportunities.create(
            customer_id=a.customers.list().items[0].id, name="d", amount="1e20 CNY"
        ),
    ],
)
def test_bad_arguments_are_validation_errors_and_write_nothing(crm, call):
    acme = crm.as_user(pycrm.SYSTEM_USER, tenant="t")
    acme.customers.create(name="甲")
    with pytest.raises(pycrm.ValidationError):
        call(acme)
    assert acme.customers.count() == 1
    assert acme.opportunities.count() == acme.tickets.count() == 0


def test_owners_managers_and_assignees_must_be_users_of_the_tenant(crm, admin):
    acme = crm.as_user(admin, tenant="acme")
    rep = acme.users.create(name="王芳")
    other = crm.as_user(admin, tenant="globex").users.create(name="外人")
    assert acme.customers.create(name="甲", owner_id=rep.id).owner_id == rep.id
    assert acme.customers.create(name="乙").owner_id == admin  # the acting user needs no record
    for bad in (other.id, uuid.uuid4()):
        with pytest.raises(pycrm.ValidationError, match="no user"):
            acme.customers.create(name="丙", owner_id=bad)
        with pytest.raises(pycrm.ValidationError, match="no user"):
            acme.users.update(rep.id, manager_id=bad)
    assert acme.customers.count() == 2
