"""A ``block`` duplicate rule holds under 8 concurrent writers, in threads and in processes,
on SQLite and PostgreSQL: each writer creates the same new company, spelled its own way
("ACME 有限公司", "Acme Co., Ltd.", "ＡＣＭＥ有限公司"...); exactly one is saved and the other
seven get ConflictError. Nothing reads before it writes: the keys checked are locked until
the unit of work ends (an advisory lock per key on PostgreSQL, one writer at a time on
SQLite). The built-in warn rules stay on, as in an application: the plugin's rule sits
beside the warn rule on the same field.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import threading
import uuid

import pytest
import sqlalchemy as sa

import pycrm
from pycrm.core.matching import MatchRule, company_name

WRITERS = 8
START = dt.datetime(2026, 1, 15, 9, 0, tzinfo=dt.UTC)
SETTINGS = pycrm.Settings(auto_migrate=True)
#: One company, as eight writers spell it.
VARIANTS = (
    "ACME 有限公司",
    "Acme Co., Ltd.",
    "ＡＣＭＥ有限公司",
    "acme",
    "ACME Inc.",
    "ACME集团有限公司",
    " Acme Ltd ",
    "ACME Corporation",
)


class BlockNames:
    """Customers whose names give the same company key may not both be saved."""

    name = "block-customer-names"

    @pycrm.hookimpl
    def pycrm_register_match_rules(self) -> list[MatchRule]:
        return [
            MatchRule(
                key="customer.unique_name",
                entity="customer",
                fields=("name",),
                normaliser="company_name",
                action="block",
            )
        ]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest) -> str:
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(name))


@pytest.fixture
def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


def _connect(url: str) -> pycrm.CRM:
    return pycrm.CRM.connect(
        url,
        settings=SETTINGS,
        clock=pycrm.FixedClock(START),
        plugins=[BlockNames()],
        load_entry_points=False,
    )


# -- what each writer does (module level, so processes can run it) -----------------------
def create(url: str, tenant: str, name: str) -> str:
    with _connect(url) as crm:
        try:
            crm.as_user(pycrm.SYSTEM_USER, tenant=tenant).customers.create(name=name)
        except pycrm.ConflictError as error:
            assert "customer.unique_name" in str(error)
            return "ConflictError"
    return "ok"


def _run(how: str, url: str, tenant: str) -> list[str]:
    """Every writer at once, in threads or in processes, each with its spelling."""
    work = [(url, tenant, name) for name in VARIANTS]
    if how == "processes":
        with multiprocessing.get_context("spawn").Pool(WRITERS) as pool:
            return pool.starmap(create, work)
    results: list[str] = []
    barrier = threading.Barrier(WRITERS)

    def one(args: tuple[str, str, str]) -> None:
        barrier.wait()
        results.append(create(*args))

    threads = [threading.Thread(target=one, args=(args,)) for args in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_the_spellings_are_one_company() -> None:
    assert len(VARIANTS) == WRITERS
    assert {company_name(name) for name in VARIANTS} == {"acme"}


@pytest.mark.parametrize("how", ["threads", "processes"])
def test_one_of_eight_writers_of_the_same_company_wins(url: str, tenant: str, how: str) -> None:
    with _connect(url) as crm:  # the schema, and an unrelated customer, before the race
        crm.as_user(pycrm.SYSTEM_USER, tenant=tenant).customers.create(name="Other Co., Ltd.")

    outcomes = _run(how, url, tenant)

    assert sorted(outcomes) == ["ConflictError"] * (WRITERS - 1) + ["ok"], outcomes
    with _connect(url) as crm:
        api = crm.as_user(pycrm.SYSTEM_USER, tenant=tenant)
        names = [c.name for c in api.customers.list(limit=100)]
        assert len(names) == 2, names
        assert [company_name(n) for n in names].count("acme") == 1, names
        assert api.duplicates.scan("customer") == []  # nor a warned duplicate
        # The one saved is the one its key is stored for: a ninth writer is refused too.
        with pytest.raises(pycrm.ConflictError):
            api.customers.create(name="ACME Limited")


@pytest.mark.postgres
@pytest.mark.parametrize("prefix", ["", "crm_"])
def test_a_blocking_rule_holds_in_a_schema_of_its_own(
    postgres_url: str, tenant: str, prefix: str
) -> None:
    schema = f"dup_{tenant.replace('-', '_')}"
    settings = pycrm.Settings(postgresql_schema=schema, table_prefix=prefix, auto_migrate=True)
    crm = pycrm.CRM.connect(
        postgres_url, settings=settings, plugins=[BlockNames()], load_entry_points=False
    )
    try:
        api = crm.as_user(pycrm.SYSTEM_USER, tenant=tenant)
        api.customers.create(name="Acme Co., Ltd.")
        with pytest.raises(pycrm.ConflictError, match=r"customer\.unique_name"):
            api.customers.create(name="ＡＣＭＥ有限公司")
        assert [c.name for c in api.customers.list()] == ["Acme Co., Ltd."]
    finally:
        crm.close()
        with sa.create_engine(postgres_url).begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')


def test_a_key_shared_under_a_warn_rule_only_does_not_block(url: str, tenant: str) -> None:
    with _connect(url) as crm:
        api = crm.as_user(pycrm.SYSTEM_USER, tenant=tenant)
        first = api.customers.create(name="Acme Co., Ltd.", phone="138 0013 8000")
        # the same phone (a warn rule), another company (the blocking rule): saved
        other = api.customers.create(name="Globex Ltd.", phone="+86 13800138000")
        assert other.id != first.id and api.customers.count() == 2
        with pytest.raises(pycrm.ConflictError, match=r"customer\.unique_name"):
            api.customers.create(name="ACME 有限公司", phone="010-6552 9988")


def _as_written(value: str, region: str) -> str | None:
    return value.strip() or None


class BlockCodes:
    """Customers with the same code (a custom field, kept as written) may not both be saved."""

    name = "block-customer-codes"

    @pycrm.hookimpl
    def pycrm_register_match_rules(self) -> list[MatchRule]:
        return [
            MatchRule(
                key="customer.code",
                entity="customer",
                fields=("custom.code",),
                normaliser=_as_written,
                action="block",
            )
        ]


@pytest.mark.parametrize("code", ['a"b', "c\\d", "e,f", "{g}", "NULL", "h i", '客户\\"{,}'])
def test_keys_with_any_characters_are_found(url: str, tenant: str, code: str) -> None:
    crm = pycrm.CRM.connect(url, settings=SETTINGS, plugins=[BlockCodes()], load_entry_points=False)
    with crm:
        with crm.unit_of_work(tenant=tenant, user=pycrm.SYSTEM_USER) as uow:
            uow.configuration.define_field("customer", "code", "text", label="Code")
        api = crm.as_user(pycrm.SYSTEM_USER, tenant=tenant)
        api.customers.create(name="First", custom={"code": code})
        api.customers.create(name="Second", custom={"code": code + "x"})
        with pytest.raises(pycrm.ConflictError, match=r"customer\.code"):
            api.customers.create(name="Third", custom={"code": code})
