"""Filtering customers on a custom field runs in the database: how fast, with and without an
expression index, against a built-in indexed column.

    python benchmarks/bench_custom_field_filter.py --rows 1000000 \
        [--postgres postgresql+psycopg://user@host/db]

Each database gets ``--rows`` customers in a fresh tenant. ``level`` (a built-in column
with an index) and ``custom.tier`` (a custom integer field) both take 100 values evenly,
so ``level == "L07"`` and ``custom.tier == 7`` select the same 1 %. Timed, as the median
of ``--repeat`` runs: a count and the first page of 50, for

- ``sql level``: hand-written SQL on the indexed column (the baseline),
- ``pycrm level``: the same filter through ``uow.customers``,
- ``pycrm custom``: ``custom.tier`` through ``uow.customers``, a JSON expression in SQL,
- ``pycrm custom+index``: the same after ``custom_index(...)`` built an expression index,

and the ratio of each to the baseline. The query plan of the indexed custom filter is
checked to use the expression index.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa

import pycrm
from pycrm.core.ids import new_id
from pycrm.storage.base import Filter, Op, Query, Scope, StorageType
from pycrm.storage.sqlalchemy import SqlBackend
from pycrm.storage.sqlalchemy.mapping import entity_mapper
from pycrm.storage.sqlalchemy.queries import custom_index, where_clause
from pycrm.storage.sqlalchemy.tables import table_for

BATCH = 10_000


def _customers(tenant: str, rows: int) -> Iterator[list[dict[str, Any]]]:
    """Row dicts for the customers table, in batches (written with Core, no RETURNING)."""
    mapper = entity_mapper(pycrm.Customer)
    for start in range(0, rows, BATCH):
        batch = []
        for i in range(start, min(start + BATCH, rows)):
            customer = pycrm.Customer(
                id=new_id(),
                tenant=tenant,
                name=f"客户 {i:07d}",
                level=f"L{i % 100:02d}",
                custom={"tier": i % 100, "region_code": f"R{i % 7}"},
            )
            batch.append(mapper.to_row(customer))
        yield batch


def populate(backend: SqlBackend, tenant: str, rows: int) -> float:
    table = table_for("customer")
    started = time.perf_counter()
    with backend.engine.begin() as conn:
        for batch in _customers(tenant, rows):
            conn.execute(table.insert(), batch)
    with backend.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
    return time.perf_counter() - started


def timed(run: Callable[[], object], repeat: int) -> float:
    run()  # warm caches and the statement cache
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure(crm: pycrm.CRM, backend: SqlBackend, tenant: str, repeat: int) -> dict[str, float]:
    table = table_for("customer")
    people = crm.as_user(pycrm.SYSTEM_USER, tenant=tenant).customers
    count_sql = sa.select(sa.func.count()).select_from(table)
    count_sql = count_sql.where(table.c.tenant == tenant, table.c.level == "L07")
    page_sql = (
        sa.select(table)
        .where(table.c.tenant == tenant, table.c.level == "L07", table.c.deleted_at.is_(None))
        .order_by(table.c.id)
        .limit(50)
    )

    def sql_level() -> object:
        with backend.engine.connect() as conn:
            conn.execute(count_sql).scalar_one()
            return conn.execute(page_sql).all()

    def pycrm_level() -> object:
        people.count({"level": "L07"})
        return people.list({"level": "L07"}, limit=50)

    def pycrm_custom() -> object:
        assert people.count({"custom.tier": 7}) == people.count({"level": "L07"})
        return people.list({"custom.tier": 7}, limit=50)

    def pycrm_custom_only() -> object:
        people.count({"custom.tier": 7})
        return people.list({"custom.tier": 7}, limit=50)

    pycrm_custom()  # the same rows as the built-in filter
    results = {
        "sql level": timed(sql_level, repeat),
        "pycrm level": timed(pycrm_level, repeat),
        "pycrm custom": timed(pycrm_custom_only, repeat),
    }
    index = custom_index(table, "custom.tier", "integer")
    index.create(backend.engine)
    with backend.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
    try:
        results["pycrm custom+index"] = timed(pycrm_custom_only, repeat)
        results["index used"] = float(_uses_index(backend, tenant, index.name or ""))
    finally:
        index.drop(backend.engine)
    return results


def _uses_index(backend: SqlBackend, tenant: str, index_name: str) -> bool:
    """Whether the plan of the custom filter's count names the expression index."""
    table = table_for("customer")
    query = Query(
        filters=(Filter("custom.tier", Op.EQ, 7),),
        custom_types={"custom.tier": StorageType.INTEGER},
    )
    where = where_clause(table, Scope(tenant), query, "customer")
    stmt = sa.select(sa.func.count()).select_from(table).where(where)
    sql = str(stmt.compile(backend.engine, compile_kwargs={"literal_binds": True}))
    explain = "EXPLAIN QUERY PLAN " if backend.name == "sqlite" else "EXPLAIN "
    with backend.engine.connect() as conn:
        plan = " ".join(str(row) for row in conn.exec_driver_sql(explain + sql))
    return index_name in plan


def run_one(label: str, url: str, rows: int, repeat: int) -> dict[str, float]:
    backend = SqlBackend(url, auto_migrate=True)
    crm = pycrm.CRM(backend, load_entry_points=False)
    crm.fields.define("customer", "tier", "integer", label="Tier")
    crm.fields.define("customer", "region_code", "text", label="Region code")
    tenant = f"bench-{uuid.uuid4().hex[:8]}"
    seconds = populate(backend, tenant, rows)
    print(f"{label}: {rows:,} customers written in {seconds:.1f} s")
    results = measure(crm, backend, tenant, repeat)
    base = results["sql level"]
    for name in ("sql level", "pycrm level", "pycrm custom", "pycrm custom+index"):
        value = results[name]
        print(f"  {name:<20} {value * 1000:9.2f} ms   x{value / base:6.2f}")
    print(f"  expression index used by the custom filter: {bool(results['index used'])}")
    crm.close()
    return results


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sqlite", help="SQLite file to use (default: a temporary one)")
    parser.add_argument("--postgres", help="PostgreSQL URL (skipped when not given)")
    args = parser.parse_args(argv)
    report = {}
    with tempfile.TemporaryDirectory() as folder:
        path = args.sqlite or str(Path(folder) / "bench.db")
        report["sqlite"] = run_one("SQLite", f"sqlite:///{path}", args.rows, args.repeat)
    if args.postgres:
        report["postgresql"] = run_one("PostgreSQL", args.postgres, args.rows, args.repeat)
    return report


if __name__ == "__main__":
    main()
