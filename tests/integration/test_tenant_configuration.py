"""Tenant configuration stored in the database, on SQLite and PostgreSQL: tenants side by
side in one database, changes made by another process seen by the next unit of work,
nothing records use taken away, gap-free order numbers under concurrent writers, and an
unchanged configuration read without a query of its own."""

from __future__ import annotations

import concurrent.futures
import copy
import datetime as dt
import multiprocessing
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

import pycrm
from pycrm import Money, Pipeline, Stage

SYSTEM = pycrm.SYSTEM_USER
START = dt.datetime(2026, 1, 15, 9, 0, tzinfo=dt.UTC)
#: As ``make_crm`` builds them (tests/integration/conftest.py): CNY reports, USD/CNY at 7.
SETTINGS = pycrm.Settings(reporting_currency="CNY", exchange_rates={"USD/CNY": Decimal("7")})
IN_USE = "configuration.in_use"
WRITERS = 16

MakeCRM = Callable[..., pycrm.CRM]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest) -> str:
    """A migrated database: a copy of the session's SQLite template, or the session's
    PostgreSQL database shared by every test (each test has a tenant of its own)."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(name))


def _api(crm: pycrm.CRM, tenant: str, user: uuid.UUID = SYSTEM) -> pycrm.Services:
    return crm.as_user(user, tenant=tenant)


def _state(crm: pycrm.CRM, tenant: str) -> Any:
    """The tenant's configuration version and everything it stored."""
    with crm.unit_of_work(tenant=tenant, user=SYSTEM) as uow:
        return copy.deepcopy((uow.versions()[1], uow.configuration.export()))


@contextmanager
def _nothing_written(crm: pycrm.CRM, tenant: str) -> Iterator[None]:
    before = _state(crm, tenant)
    yield
    assert _state(crm, tenant) == before


def _value(change: pycrm.Change) -> tuple[Any, Any]:
    """A configuration change's value before and after (PostgreSQL's JSONB keeps the
    changed fields in an order of its own)."""
    [found] = [f for f in change.fields if f.field == "value"]
    return found.old, found.new


def _admin(crm: pycrm.CRM, tenant: str) -> uuid.UUID:
    with crm.unit_of_work(tenant=tenant, user=SYSTEM) as uow:
        return uow.users.create(name="Admin", roles=["admin"]).id


# -- 1. tenants side by side ----------------------------------------------------------------
def _keys(config: pycrm.TenantConfiguration) -> dict[str, Any]:
    return {
        "proposal": config.pipelines["b2b"].stage("proposal").probability,
        "pipelines": sorted(config.pipelines),
        "fields": sorted(f"{f.entity}.{f.key}" for f in config.fields),
        "industry": config.picklists["industry"].keys(),
        "reporting": config.reporting_currency,
    }


def test_two_tenants_run_their_own_configuration_in_one_database(url, make_crm, tenant):
    first, second = make_crm(url), make_crm(url)  # two CRM objects, as two processes have
    a, b = tenant, f"{tenant}-b"
    with first.unit_of_work(tenant=a, user=SYSTEM) as uow:
        c = uow.configuration
        c.change_stage("b2b", "proposal", probability=65)
        c.define_pipeline(
            Pipeline(key="renewals", name="Renewals", stages=[Stage("quoted", probability=70)])
        )
        c.define_field("customer", "tier", "integer", label="Tier")
        c.set_picklist("industry", [{"key": k, "labels": {"en_US": k}} for k in ("mfg", "retail")])
        c.set_reporting_currency("USD")
    with second.unit_of_work(tenant=b, user=SYSTEM) as uow:
        c = uow.configuration
        c.define_field("customer", "segment", "text", label="Segment")
        c.set_picklist("industry", [{"key": k, "labels": {"en_US": k}} for k in ("bank", "oil")])
        c.set_reporting_currency("EUR")
        c.set_rate("EUR", "CNY", dt.date(2026, 1, 1), "8")
    expected = {
        a: {
            "proposal": 65,
            "pipelines": ["b2b", "eight_step", "renewals"],
            "fields": ["customer.tier"],
            "industry": ["mfg", "retail"],
            "reporting": "USD",
        },
        b: {
            "proposal": 50,
            "pipelines": ["b2b", "eight_step"],
            "fields": ["customer.segment"],
            "industry": ["bank", "oil"],
            "reporting": "EUR",
        },
    }
    for crm in (first, second):
        for name in (a, b):
            assert _keys(_api(crm, name).configuration.current()) == expected[name]
        # (through crm.as_user: a read-only unit of work, which locks nothing)
        assert _api(crm, b).configuration.history("pipeline", "b2b") == []
        assert len(_api(crm, a).configuration.history("pipeline", "b2b")) == 1
        assert _api(crm, a).configuration.rates() == []
        assert [r.quote for r in _api(crm, b).configuration.rates()] == ["CNY"]
    # Records follow their own tenant's configuration, written through either CRM.
    for crm, name, good, bad in ((second, a, "mfg", "bank"), (first, b, "bank", "mfg")):
        api = _api(crm, name)
        made = api.customers.create(name="ACME", industry=good)
        with pytest.raises(pycrm.ValidationError, match="not an active key"):
            api.customers.create(name="ACME", industry=bad)
        api.opportunities.create(
            customer_id=made.id, name="Deal", stage="proposal", amount=Money("7000.00", "CNY")
        )
    with pytest.raises(pycrm.ValidationError, match="tier"):
        _api(second, b).customers.create(name="x", custom={"tier": 1})
    assert _api(second, a).customers.create(name="x", custom={"tier": 1}).custom == {"tier": 1}
    report_a = _api(second, a).reports.weighted_pipeline(by=())
    report_b = _api(first, b).reports.weighted_pipeline(by=())
    assert report_a.weighted == Money("650.00", "USD")  # 65% of 7000 CNY at 1/7
    assert report_b.weighted == Money("437.50", "EUR")  # 50% of 7000 CNY at 1/8


# -- 2. another process's change, seen by the next unit of work ---------------------------
def _connect(url: str) -> pycrm.CRM:
    settings = SETTINGS.model_copy(update={"auto_migrate": url.startswith("postgresql")})
    return pycrm.CRM.connect(
        url, settings=settings, clock=pycrm.FixedClock(START), load_entry_points=False
    )


def add_rate(url: str, tenant: str, user: uuid.UUID) -> str:
    """Run in another process: the tenant's own USD/CNY rate from January 1st."""
    with _connect(url) as crm:
        entry = crm.as_user(user, tenant=tenant).configuration.set_rate(
            "USD", "CNY", dt.date(2026, 1, 1), "7.5"
        )
    return str(entry.rate)


def raise_proposal(url: str, tenant: str, user: uuid.UUID) -> int:
    """Run in another process: the proposal stage of b2b at 80%."""
    with _connect(url) as crm:
        changed = crm.as_user(user, tenant=tenant).configuration.change_stage(
            "b2b", "proposal", probability=80
        )
    return changed.stage("proposal").probability


def _in_another_process(work: Callable[..., Any], *args: Any) -> Any:
    spawn = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=spawn) as pool:
        return pool.submit(work, *args).result(timeout=120)


def test_a_rate_added_in_another_process_is_used_by_the_next_report(url, make_crm, tenant):
    crm = make_crm(url)
    admin = _admin(crm, tenant)
    api = _api(crm, tenant)
    customer = api.customers.create(name="ACME")
    order = api.orders.create(
        customer_id=customer.id,
        currency="USD",
        lines=[{"description": "licence", "quantity": 1, "unit_price": Money("100.00", "USD")}],
    )
    api.opportunities.create(customer_id=customer.id, name="Deal", amount=Money("1000", "USD"))
    # This process has read (and keeps) the tenant's configuration: the settings' rate.
    assert api.orders.balance(order.id).total_reporting == Money("700.00", "CNY")
    assert api.reports.weighted_pipeline(by=()).weighted == Money("700.00", "CNY")  # 10%
    kept = api.configuration.current()
    assert api.configuration.current() is kept
    assert _in_another_process(add_rate, url, tenant, admin) == "7.5"
    assert api.orders.balance(order.id).total_reporting == Money("750.00", "CNY")
    assert api.reports.weighted_pipeline(by=()).weighted == Money("750.00", "CNY")
    assert api.configuration.current().version == kept.version + 1
    [change] = api.configuration.history("exchange_rate", "USD/CNY/2026-01-01")
    assert change.user_id == admin and _value(change) == (None, "7.5")


def test_a_stage_changed_in_another_process_changes_the_next_report(url, make_crm, tenant):
    crm = make_crm(url)
    admin = _admin(crm, tenant)
    api = _api(crm, tenant)
    customer = api.customers.create(name="ACME")
    deal = api.opportunities.create(
        customer_id=customer.id, name="Deal", stage="proposal", amount=Money("1000.00", "CNY")
    )
    assert api.reports.weighted_pipeline(by=()).weighted == Money("500.00", "CNY")
    assert _in_another_process(raise_proposal, url, tenant, admin) == 80
    assert api.reports.weighted_pipeline(by=()).weighted == Money("800.00", "CNY")
    assert api.opportunities.get(deal.id).probability == 80
    another = api.opportunities.create(customer_id=customer.id, name="Next", stage="proposal")
    assert another.probability == 80
    [change] = api.configuration.history("pipeline", "b2b")
    assert change.user_id == admin and change.action is pycrm.ChangeAction.CREATE
    assert _value(change) == (None, {"stages": {"proposal": {"probability": 80}}})


# -- 3. nothing records use is taken away ---------------------------------------------------
def test_retiring_what_records_use_is_refused_with_the_count(url, make_crm, tenant):
    crm = make_crm(url)
    api = _api(crm, tenant)
    api.configuration.define_field("customer", "tier", "integer", label="Tier")
    api.configuration.set_picklist(
        "industry", [{"key": k, "labels": {"en_US": k}} for k in ("mfg", "retail")]
    )
    customers = [
        api.customers.create(name=f"c{i}", industry="mfg" if i < 2 else "retail", custom=custom)
        for i, custom in enumerate([{"tier": 1}, {"tier": 2}, {"tier": 3}, {}])
    ]
    for i in range(4):
        api.opportunities.create(
            customer_id=customers[i].id, name=f"d{i}", stage="proposal", amount=Money("1", "CNY")
        )
    refusals = [
        (lambda: api.configuration.retire_choice("industry", "mfg"), "2 customer record(s)"),
        (lambda: api.configuration.retire_stage("b2b", "proposal"), "4 opportunity record(s)"),
        (lambda: api.configuration.retire_field("customer", "tier"), "3 customer record(s)"),
        (
            lambda: api.configuration.set_picklist(
                "industry", [{"key": "retail", "labels": {"en_US": "retail"}}]
            ),
            "2 customer record(s)",
        ),
    ]
    for retire, count in refusals:
        with _nothing_written(crm, tenant), pytest.raises(pycrm.RuleViolation) as refused:
            retire()
        assert refused.value.rule == IN_USE
        assert count in str(refused.value)
    config = api.configuration.current()
    assert config.picklists["industry"].keys() == ["mfg", "retail"]
    assert config.pipelines["b2b"].has_stage("proposal")
    assert config.fields.get("customer", "tier") is not None
    assert api.customers.create(name="more", industry="mfg", custom={"tier": 4}).industry == "mfg"


# -- 4. gap-free numbers under concurrent writers -------------------------------------------
def test_concurrent_orders_get_distinct_consecutive_numbers(url, make_crm, tenant):
    crm = make_crm(url)  # its clock stands in 2026
    customer = _api(crm, tenant).customers.create(name="ACME")
    numbers: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(WRITERS)

    def write() -> None:
        try:
            barrier.wait()
            with crm.unit_of_work(tenant=tenant, user=SYSTEM) as uow:
                order = uow.orders.create(customer_id=customer.id, currency="CNY")
            assert order.number is not None
            numbers.append(order.number)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=write) for _ in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(numbers) == [f"SO-2026-{n:06d}" for n in range(1, WRITERS + 1)]
    stored = _api(crm, tenant).orders.list(limit=100)
    assert sorted(o.number for o in stored) == sorted(numbers)
    # A unit of work that rolls back gives its number back: no gap.
    with pytest.raises(RuntimeError), crm.unit_of_work(tenant=tenant, user=SYSTEM) as uow:
        taken = uow.orders.create(customer_id=customer.id, currency="CNY")
        assert taken.number == f"SO-2026-{WRITERS + 1:06d}"
        raise RuntimeError("the customer changed their mind")
    again = _api(crm, tenant).orders.create(customer_id=customer.id, currency="CNY")
    assert again.number == f"SO-2026-{WRITERS + 1:06d}"


# -- 5. an unchanged configuration costs no query -------------------------------------------
class Statements:
    """The statements a CRM's engine sends while listening."""

    def __init__(self, crm: pycrm.CRM) -> None:
        self.engine: sa.Engine = crm.storage.engine  # type: ignore[attr-defined]
        self.sent: list[str] = []

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.sent.append(" ".join(statement.split()))

    @contextmanager
    def listening(self) -> Iterator[list[str]]:
        self.sent = []
        sa.event.listen(self.engine, "before_cursor_execute", self._seen)
        try:
            yield self.sent
        finally:
            sa.event.remove(self.engine, "before_cursor_execute", self._seen)

    def reading(self, table: str) -> list[str]:
        return [s for s in self.sent if s.upper().startswith("SELECT") and table in s]

    def touching(self, table: str) -> list[str]:
        return [s for s in self.sent if table in s]


def test_an_unchanged_configuration_adds_no_query(url, make_crm, tenant):
    crm, other = make_crm(url), make_crm(url)
    with crm.unit_of_work(tenant=tenant, user=SYSTEM) as uow:
        rep = uow.users.create(name="Rep", roles=["sales_rep"]).id
        uow.configuration.set_picklist("industry", [{"key": "mfg", "labels": {"en_US": "Mfg"}}])
        uow.configuration.set_rate("USD", "CNY", dt.date(2026, 1, 1), "7.2")

    def work() -> None:
        with crm.unit_of_work(tenant=tenant, user=rep) as uow:
            uow.customers.create(name="ACME", industry="mfg")
            assert len(uow.customers.list(limit=100).items) >= 1

    work()  # reads the rights and the configuration, and keeps both
    watch = Statements(crm)
    with watch.listening():
        work()
    assert watch.touching("pycrm_config_entries") == []
    assert watch.touching("pycrm_exchange_rates") == []
    assert len(watch.reading("pycrm_org_versions")) == 1, watch.sent
    # Another CRM (another process) changes the configuration: read again, once.
    _api(other, tenant).configuration.set_locale("en_US")
    with watch.listening():
        work()
    assert len(watch.reading("pycrm_config_entries")) == 1, watch.sent
    assert len(watch.reading("pycrm_exchange_rates")) == 1, watch.sent
    assert len(watch.reading("pycrm_org_versions")) == 1, watch.sent
    with watch.listening():
        work()
    assert watch.touching("pycrm_config_entries") == []
    assert _api(crm, tenant, rep).configuration.current().locale == "en_US"
