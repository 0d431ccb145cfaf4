"""pycrm.volumes: realistic volumes written fast, read back by pycrm, the same for a seed."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa

import pycrm
from pycrm.volumes import VolumeReport, generate

SCALE = 0.0005  # 500 customers, 1,500 contacts, 2,500 deals, 5,000 activities


def _count(crm: pycrm.CRM, table: sa.Table, tenant: str) -> int:
    engine: sa.Engine = crm.storage.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        query = sa.select(sa.func.count()).select_from(table).where(table.c.tenant == tenant)
        return int(conn.execute(query).scalar_one())


def _counts(crm: pycrm.CRM, tenant: str) -> dict[str, int]:
    tables = crm.storage.tables  # type: ignore[attr-defined]
    kinds = ("department", "user", "customer", "contact", "opportunity", "activity", "order")
    counts = {kind: _count(crm, tables.table(kind), tenant) for kind in kinds}
    counts |= {k: _count(crm, tables.table(k), tenant) for k in ("payment_plan", "payment")}
    counts["order_line"] = _count(crm, tables.child("order", "lines"), tenant)
    counts["installment"] = _count(crm, tables.child("payment_plan", "installments"), tenant)
    return counts


def test_generate_writes_what_it_reports_and_pycrm_reads_it_back(
    fresh_url: str, make_crm: Callable[..., pycrm.CRM], tenant: str
) -> None:
    crm = make_crm(fresh_url)
    seen: list[tuple[str, int, int]] = []
    report = generate(crm, tenant=tenant, scale=SCALE, reps=20, progress=lambda *a: seen.append(a))
    assert isinstance(report, VolumeReport)
    expected = {"customer": 500, "contact": 1500, "opportunity": 2500, "activity": 5000}
    assert {k: report.counts[k] for k in expected} == expected
    assert report.counts["installment"] == 2500
    assert report.counts["order"] == report.counts["payment_plan"] == report.counts["order_line"]
    assert 0 < report.counts["order"] <= report.counts["opportunity"]
    assert len(report.reps) == 20 and report.rows_per_second > 0
    assert _counts(crm, tenant) == report.counts
    assert ("customer", 500, 500) in seen and ("installment", 2500, 2500) in seen

    boss = crm.as_user(pycrm.SYSTEM_USER, tenant=tenant)
    assert boss.customers.count() == 500
    assert boss.opportunities.count() == 2500
    assert len(boss.contacts.list(limit=50)) == 50
    assert len(boss.activities.list({"done": True}, limit=10)) == 10
    pipeline = boss.reports.weighted_pipeline(by=("stage",))
    assert pipeline.count == boss.opportunities.count({"status": "open"}) > 0
    aging = boss.reports.aging(by="customer")
    assert aging.totals.total.currency == crm.settings.reporting_currency
    customer = next(iter(boss.customers.list(order_by="name", limit=1)))
    assert isinstance(boss.customers.history(customer.id), list)  # may be empty: no audit
    plan = next(iter(boss.payment_plans.list(limit=1)))
    assert plan.installments and sum(p.amount.minor_units for p in plan.installments) == (
        plan.total.minor_units
    )
    order = boss.orders.get(plan.order_id)
    assert order.total == plan.total and order.lines

    rep = crm.as_user(report.reps[0], tenant=tenant)
    mine = rep.customers.list(limit=500)
    assert 0 < len(mine) < 500 and all(c.owner_id == report.reps[0] for c in mine)
    assert rep.reports.weighted_pipeline(by=("stage",)).count <= pipeline.count
    rep.reports.aging(by="customer")
    director = crm.as_user(report.directors[0], tenant=tenant)
    assert director.customers.count() >= len(mine)


def test_the_same_seed_gives_the_same_data(
    fresh_url: str, make_crm: Callable[..., pycrm.CRM]
) -> None:
    crm = make_crm(fresh_url)

    def content(tenant: str, seed: int) -> list[tuple[object, ...]]:
        generate(crm, tenant=tenant, scale=0.0001, reps=5, seed=seed)
        boss = crm.as_user(pycrm.SYSTEM_USER, tenant=tenant)
        deals = boss.opportunities.list(order_by="name", limit=1000)
        return sorted(
            (d.name, d.stage, d.status, d.amount, d.created_at, d.closed_at) for d in deals
        )

    first = content("seed-a", 7)
    assert first == content("seed-b", 7)
    assert first != content("seed-c", 8)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"scale": 0}, "scale"),
        ({"scale": -1.0}, "scale"),
        ({"scale": float("nan")}, "scale"),
        ({"years": 0}, "years"),
        ({"reps": 0}, "reps"),
    ],
)
def test_bad_arguments_write_nothing(
    fresh_url: str,
    make_crm: Callable[..., pycrm.CRM],
    tenant: str,
    options: dict[str, float],
    field: str,
) -> None:
    crm = make_crm(fresh_url)
    with pytest.raises(pycrm.ValidationError) as raised:
        generate(crm, tenant=tenant, **options)  # type: ignore[arg-type]
    assert [name for name, _ in raised.value.errors] == [field]
    assert set(_counts(crm, tenant).values()) == {0}


def test_only_sql_databases(make_crm: Callable[..., pycrm.CRM], tenant: str) -> None:
    with pytest.raises(pycrm.ConfigurationError, match="SQL database"):
        generate(make_crm("memory://"), tenant=tenant, scale=0.0001)
