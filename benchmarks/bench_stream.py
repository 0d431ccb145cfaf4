"""Streaming every customer of a tenant: ``customers.stream()`` against a hand-written
streaming SELECT of the same rows in the same process.

    python benchmarks/bench_stream.py --rows 1000000 \
        [--postgres postgresql+psycopg://user@host/db]

``--rows`` customers (realistic Chinese company names, level, industry, region, phone,
tags, and a custom value on every tenth) are written with SQLAlchemy Core executemany in
batches into the measured tenant, plus a hundredth as many into another tenant. Measured,
as the median of ``--repeat`` interleaved runs:

- **pycrm**: ``crm.as_user(SYSTEM_USER, tenant=...).customers.stream(batch_size=B)``
  iterated to the end (one read-only unit of work; a server-side cursor on PostgreSQL):
  typed ``Customer`` entities;
- **hand-written**: ``SELECT * FROM pycrm_customers WHERE tenant = ? AND deleted_at IS NULL
  ORDER BY id`` through SQLAlchemy Core with ``yield_per=B`` on a connection of its own,
  every row decoded into a dict (``dict(row._mapping)``: ids, times and JSON decoded by the
  column types), and the same into plain tuples;
- once, for reference: the same rows read the way one had to before, ``customers.list``
  pages of 1,000 walked with ``after=``, each page its own unit of work.

``ratio = pycrm / hand-written dicts`` (target: at most 2). Peak memory is Python's
(tracemalloc) during one more run of each, apart from the timed runs; a stream holds about
one batch whatever the number of rows, where a list of every row would hold them all.
SQLite runs on a temporary file; PostgreSQL (skipped without ``--postgres``) in a database
of its own created on that server and dropped at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from databases import fresh_databases

import pycrm
from pycrm.core.ids import new_ids
from pycrm.storage.sqlalchemy.tables import table_for

TENANT = "bench"
OTHER = "elsewhere"
WRITE_BATCH = 20_000
TARGET = 2.0
SIDES = ("pycrm stream", "hand-written dicts", "hand-written tuples")
SETTINGS = pycrm.Settings(reporting_currency="CNY", auto_migrate=True)


def _words(text: str) -> tuple[str, ...]:
    """Two-character words run together: ``"北京上海"`` -> ``("北京", "上海")``."""
    return tuple(text[i : i + 2] for i in range(0, len(text), 2))


_CITIES = _words("北京上海广州深圳杭州南京成都武汉西安苏州天津重庆青岛厦门长沙合肥")
_TRADE = _words("联成华信天成恒通中科金桥东方博远瑞丰新锐汇通宏达润泽鼎盛远航星辰")
_INDUSTRY = _words("软件科技贸易物流医药电子机械食品建材教育传媒能源")
_FORM = ("有限公司", "股份有限公司", "集团有限公司")
_REGIONS = ("华北", "华东", "华南", "华中", "西南", "西北", "东北")


# -- data ---------------------------------------------------------------------------------
def _rows(tenant: str, start: int, stop: int) -> Iterator[list[dict[str, Any]]]:
    """Customer rows ``start``..``stop`` of ``tenant`` as column dicts, in batches."""
    rnd = random.Random(f"{tenant}-{start}")
    now = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
    owner = pycrm.SYSTEM_USER
    common = {
        "tenant": tenant,
        "owner_id": owner,
        "created_by": owner,
        "updated_by": owner,
        "created_at": now,
        "updated_at": now,
        "version": 1,
        "type": "potential",
        "status": "active",
        "source": "referral",
    }
    for first in range(start, stop, WRITE_BATCH):
        n = min(WRITE_BATCH, stop - first)
        batch = []
        for i, cid in enumerate(new_ids(n), first):
            city = rnd.choice(_CITIES)
            name = (
                city + rnd.choice(_TRADE) + rnd.choice(_INDUSTRY) + rnd.choice(_FORM) + f"（{i}）"
            )
            batch.append(
                {
                    **common,
                    "id": cid,
                    "name": name,
                    "level": rnd.choice(("VIP", "A", "B", "C")),
                    "industry": rnd.choice(("software", "media", "retail", "logistics")),
                    "region": rnd.choice(_REGIONS),
                    "phone": f"1{rnd.randrange(10**10):010d}",
                    "tags": ["重点"] if i % 7 == 0 else [],
                    "custom": {"tier": i % 5} if i % 10 == 0 else {},
                }
            )
        yield batch


def load(engine: sa.Engine, rows: int) -> float:
    """Write the customers of both tenants with Core executemany; ANALYZE."""
    started = time.perf_counter()
    customers = table_for("customer")
    with engine.begin() as conn:
        for tenant, count in ((TENANT, rows), (OTHER, max(rows // 100, 1))):
            for batch in _rows(tenant, 0, count):
                conn.execute(customers.insert(), batch)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE")
    return time.perf_counter() - started


# -- the two sides ------------------------------------------------------------------------
def pycrm_stream(crm: pycrm.CRM, batch: int) -> tuple[int, uuid.UUID | None]:
    """Every customer of the tenant through pycrm: how many, and the last id."""
    api = crm.as_user(pycrm.SYSTEM_USER, tenant=TENANT)
    count, last = 0, None
    with api.customers.stream(batch_size=batch) as customers:
        for customer in customers:
            count += 1
            last = customer.id
    return count, last


def pycrm_pages(crm: pycrm.CRM) -> tuple[int, uuid.UUID | None]:
    """The same through ``list`` pages of 1,000, as before streaming existed."""
    api = crm.as_user(pycrm.SYSTEM_USER, tenant=TENANT)
    count, last, cursor = 0, None, None
    while True:
        page = api.customers.list(limit=1000, after=cursor)
        for customer in page:
            count += 1
            last = customer.id
        if page.next_cursor is None:
            return count, last
        cursor = page.next_cursor


def hand_stream(engine: sa.Engine, batch: int, shape: str) -> tuple[int, uuid.UUID | None]:
    """The hand-written streaming SELECT, each row a dict (or a tuple)."""
    customers = table_for("customer")
    stmt = (
        sa.select(customers)
        .where(customers.c.tenant == TENANT, customers.c.deleted_at.is_(None))
        .order_by(customers.c.id)
        .execution_options(yield_per=batch)
    )
    count, last = 0, None
    with engine.connect() as conn:
        result = conn.execute(stmt)
        if shape == "dicts":
            for row in result:
                record = dict(row._mapping)
                count += 1
                last = record["id"]
        else:
            for row in result:
                values = tuple(row)
                count += 1
                last = values[0]
        conn.rollback()
    return count, last


# -- measuring ----------------------------------------------------------------------------
def _timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def _peak_mib(call: Callable[[], object]) -> float:
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def measure(crm: pycrm.CRM, engine: sa.Engine, batch: int, repeat: int) -> dict[str, Any]:
    runs: dict[str, Callable[[], tuple[int, uuid.UUID | None]]] = {
        "pycrm stream": lambda: pycrm_stream(crm, batch),
        "hand-written dicts": lambda: hand_stream(engine, batch, "dicts"),
        "hand-written tuples": lambda: hand_stream(engine, batch, "tuples"),
    }
    answers = {name: run() for name, run in runs.items()}  # also warms the caches
    assert len(set(answers.values())) == 1, f"the sides disagree: {answers}"
    times: dict[str, list[float]] = {name: [] for name in runs}
    load_before = os.getloadavg()[0]
    for _ in range(repeat):  # interleaved, so a burst of load hits every side alike
        for name, run in runs.items():
            times[name].append(_timed(run))
    load_after = os.getloadavg()[0]
    results: dict[str, Any] = {
        name: {"s": statistics.median(t), "runs": t} for name, t in times.items()
    }
    for name, run in runs.items():
        results[name]["peak_mib"] = _peak_mib(run)
    pages = time.perf_counter()
    assert pycrm_pages(crm) == answers["pycrm stream"]
    results["list pages of 1,000"] = {"s": time.perf_counter() - pages, "runs": []}
    hand = results["hand-written dicts"]["s"]
    for measured in results.values():
        measured["ratio"] = measured["s"] / hand
    results["rows"] = answers["pycrm stream"][0]
    results["load"] = (load_before, load_after)
    results["max_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return results


def run_one(label: str, url: str, rows: int, batch: int, repeat: int) -> dict[str, Any]:
    crm = pycrm.CRM.connect(url, settings=SETTINGS, load_entry_points=False)
    engine = sa.create_engine(url)
    try:
        seconds = load(engine, rows)
        print(f"{label}: {rows:,} customers (+{max(rows // 100, 1):,}) written in {seconds:.1f} s")
        results = measure(crm, engine, batch, repeat)
    finally:
        engine.dispose()
        crm.close()
    _print(label, results, batch)
    return results


def _print(label: str, results: dict[str, Any], batch: int) -> None:
    print(
        f"\n{label}: {results['rows']:,} rows streamed in batches of {batch:,} "
        f"(target: ratio pycrm / hand-written dicts at most {TARGET})"
    )
    print(f"  {'':<22} {'seconds':>9} {'rows/s':>11} {'ratio':>6} {'peak memory MiB':>16}")
    for name in (*SIDES, "list pages of 1,000"):
        m = results[name]
        peak = f"{m['peak_mib']:>16.1f}" if "peak_mib" in m else f"{'':>16}"
        rate = results["rows"] / m["s"] if m["s"] else 0.0
        print(f"  {name:<22} {m['s']:>9.3f} {rate:>11,.0f} {m['ratio']:>6.2f} {peak}")
    before, after = results["load"]
    print(
        f"  load average (1 min): {before:.2f} before, {after:.2f} after; "
        f"max RSS of the process {results['max_rss_mib']:,.0f} MiB\n"
    )


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="customers of the tenant")
    parser.add_argument("--batch", type=int, default=1000, help="rows per batch (yield_per)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each side")
    parser.add_argument("--postgres", help="PostgreSQL server URL (skipped when not given)")
    args = parser.parse_args(argv)
    print(f"{dt.datetime.now():%Y-%m-%d %H:%M}, {args.rows:,} rows, batches of {args.batch:,}")
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench_stream.db'}"
        report["sqlite"] = run_one("SQLite", url, args.rows, args.batch, args.repeat)
    if args.postgres:
        with fresh_databases(args.postgres, "bench_stream") as (url,):
            report["postgresql"] = run_one("PostgreSQL", url, args.rows, args.batch, args.repeat)
    return report


if __name__ == "__main__":
    main()
