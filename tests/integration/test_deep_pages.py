"""A deep page seeks its index: the keyset condition starts with a range on the first order
column, so the database jumps to the page instead of walking every row before it. Checked
with the database's own plan (EXPLAIN), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

import pycrm


@pytest.fixture
def crm(fresh_url: str, clock: pycrm.FixedClock) -> Iterator[pycrm.CRM]:
    settings = pycrm.Settings(auto_migrate=True)
    with pycrm.CRM.connect(
        fresh_url, settings=settings, clock=clock, load_entry_points=False
    ) as crm:
        yield crm


def _plans(crm: pycrm.CRM, run: Any) -> list[str]:
    """The plans of the SELECTs on customers that ``run()`` sends."""
    engine: sa.Engine = crm.storage.engine  # type: ignore[attr-defined]
    sent: list[tuple[str, Any]] = []

    def seen(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().startswith("SELECT") and "FROM pycrm_customers" in statement:
            sent.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        run()
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("ANALYZE pycrm_customers")  # statistics of the rows just written
            conn.exec_driver_sql("SET enable_seqscan = off")  # a small table: ask for the plan
        return [
            " ".join(str(row) for row in conn.exec_driver_sql(explain + sql, params))
            for sql, params in sent
        ]


@pytest.mark.parametrize("order_by", ["name", "-name"])
def test_a_deep_page_seeks_the_index_of_its_order(
    crm: pycrm.CRM, tenant: str, order_by: str
) -> None:
    api = crm.as_user(pycrm.SYSTEM_USER, tenant=tenant)
    api.customers.create_many([{"name": f"客户 {i:05d}"} for i in range(600)])
    first = api.customers.list(order_by=order_by, limit=500)
    assert first.next_cursor is not None
    plans = _plans(crm, lambda: api.customers.list(order_by=order_by, after=first.next_cursor))
    [plan] = plans
    if crm.storage.name == "sqlite":
        assert "ix_pycrm_customers_name (tenant=? AND name" in plan, plan  # a range, not a walk
    else:
        assert "ix_pycrm_customers_name" in plan and "name" in plan.split("Index Cond")[-1], plan
    page = api.customers.list(order_by=order_by, after=first.next_cursor, limit=500)
    expected = sorted((f"客户 {i:05d}" for i in range(600)), reverse=order_by.startswith("-"))
    assert [c.name for c in first] + [c.name for c in page] == expected


def test_a_history_finds_the_records_merged_into_it_by_index(crm: pycrm.CRM, tenant: str) -> None:
    api = crm.as_user(pycrm.SYSTEM_USER, tenant=tenant)
    made = api.customers.create_many([{"name": f"客户 {i:05d}"} for i in range(300)])
    survivor, merged = made[0].id, made[1].id
    api.customers.merge(survivor, [merged])
    plans = _plans(crm, lambda: api.customers.history(survivor))
    # the look-up of the merged records: by the index of survivors, not a walk of them all
    assert any("ix_pycrm_customers_merged_into" in p for p in plans), plans
    assert {c.record_id for c in api.customers.history(survivor)} == {survivor, merged}
