"""Streams on the databases: one cursor read a batch at a time (a named, server-side cursor
on PostgreSQL), children read per batch, memory bounded by a batch, and no transaction or
connection left behind by a stream closed early or dropped."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa

import pycrm

ROWS = 5000
BATCH = 100


@pytest.fixture
def crm(fresh_url: str, make_crm: Callable[..., pycrm.CRM]) -> pycrm.CRM:
    return make_crm(fresh_url)


def _load(crm: pycrm.CRM, tenant: str, rows: int = ROWS) -> None:
    api = crm.as_user(pycrm.SYSTEM_USER, tenant=tenant)
    api.customers.import_many(
        {
            "name": f"上海联成互动广告有限公司（{i:05d}）",
            "level": "ABC"[i % 3],
            "industry": "media",
            "region": "华东",
            "phone": f"139{i:08d}",
            "address": "上海市浦东新区世纪大道 100 号" * 2,
            "tags": ["重点", "广告"],
        }
        for i in range(rows)
    )


@contextmanager
def _statements(engine: sa.Engine) -> Iterator[list[tuple[str, Any]]]:
    """The statements sent while the block runs, each with the DBAPI cursor it ran on."""
    seen: list[tuple[str, Any]] = []

    def listen(_conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        seen.append((statement, cursor))

    sa.event.listen(engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", listen)


def _engine(crm: pycrm.CRM) -> sa.Engine:
    engine: sa.Engine = crm.storage.engine  # type: ignore[attr-defined]
    return engine


def _peak(call: Callable[[], object]) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_streaming_5000_rows_in_batches_of_100_holds_one_batch(crm: pycrm.CRM, tenant: str) -> None:
    _load(crm, tenant)
    api = crm.as_user(pycrm.SYSTEM_USER, tenant=tenant)
    counted: list[int] = []
    held: list[list[pycrm.Customer]] = []
    streaming = _peak(
        lambda: counted.append(sum(1 for _ in api.customers.stream(batch_size=BATCH)))
    )
    whole = _peak(lambda: held.append(list(api.customers.stream(batch_size=BATCH))))
    assert counted == [ROWS] and len(held[0]) == ROWS
    # Every record held at once takes fifty batches' worth; the stream about one (with the
    # driver's buffer and what a unit of work allocates, about a fourteenth of the whole).
    assert streaming < whole / 5, (streaming, whole)


def test_a_stream_runs_one_select_without_limit_on_a_cursor_of_its_own(
    crm: pycrm.CRM, tenant: str
) -> None:
    _load(crm, tenant, 1000)
    api = crm.as_user(pycrm.SYSTEM_USER, tenant=tenant)
    with _statements(_engine(crm)) as seen:
        names = [
            c.name for c in api.customers.stream({"level": "A"}, order_by="-name", batch_size=BATCH)
        ]
    assert names == sorted(names, reverse=True) and len(names) == 334
    selects = [(s, c) for s, c in seen if "FROM pycrm_customers" in s]
    assert len(selects) == 1, [s for s, _ in seen]
    statement, cursor = selects[0]
    assert "LIMIT" not in statement.upper()
    if crm.storage.name == "postgresql":
        import psycopg

        assert isinstance(cursor, psycopg.ServerCursor) and cursor.name  # DECLARE … CURSOR
    else:
        assert crm.storage.name == "sqlite"


def test_children_are_read_once_per_batch(crm: pycrm.CRM, tenant: str) -> None:
    api = crm.as_user(pycrm.SYSTEM_USER, tenant=tenant)
    buyer = api.customers.create(name="北京联成")
    with crm.unit_of_work(tenant=tenant, user=pycrm.SYSTEM_USER) as uow:
        for i in range(250):
            uow.orders.create(
                customer_id=buyer.id,
                currency="CNY",
                lines=[
                    {
                        "description": f"第 {j} 项",
                        "quantity": 1,
                        "unit_price": pycrm.Money("9.90", "CNY"),
                    }
                    for j in range(1 + i % 3)
                ],
            )
    with _statements(_engine(crm)) as seen:
        orders = list(api.orders.stream(batch_size=BATCH))
    assert [len(o.lines) for o in orders] == [1 + i % 3 for i in range(250)]
    assert sum(o.total.minor_units for o in orders) == 990 * sum(1 + i % 3 for i in range(250))
    lines = [s for s, _ in seen if "FROM pycrm_order_lines" in s]
    assert len(lines) == 3  # 250 orders in batches of 100


def _idle(crm: pycrm.CRM) -> bool:
    """Whether every connection of the CRM is back in its pool."""
    return _engine(crm).pool.checkedout() == 0  # type: ignore[attr-defined]


def test_a_stream_closed_early_or_dropped_gives_its_connection_back(
    crm: pycrm.CRM, tenant: str
) -> None:
    _load(crm, tenant, 500)
    api = crm.as_user(pycrm.SYSTEM_USER, tenant=tenant)
    with api.customers.stream(batch_size=BATCH) as rows:
        next(rows)
        assert not _idle(crm)
    assert _idle(crm)
    next(api.customers.stream(batch_size=BATCH))  # dropped at once, never closed
    gc.collect()
    assert _idle(crm)
    assert api.customers.count() == 500


def test_a_unit_of_work_commits_over_a_stream_left_open(crm: pycrm.CRM, tenant: str) -> None:
    _load(crm, tenant, 500)
    with crm.unit_of_work(tenant=tenant, user=pycrm.SYSTEM_USER) as uow:
        rows = uow.customers.stream(batch_size=BATCH)
        first = next(rows)
        uow.customers.update(first.id, level="VIP")
    assert _idle(crm)
    with pytest.raises(pycrm.StorageError, match="ended"):
        list(rows)
    del rows
    gc.collect()
    api = crm.as_user(pycrm.SYSTEM_USER, tenant=tenant)
    assert api.customers.count({"level": "VIP"}) == 1
