"""Bulk and single-record customer creation, against hand-written baselines.

Bulk: ``uow.customers.create_many(rows)`` (validated, audited, one unit of work) on a fresh
SQLite file, against SQLAlchemy Core ``conn.execute(table.insert(), dicts)`` of the very same
rows (every column, ids and timestamps included) into a second fresh file migrated the same
way. With PostgreSQL (``--postgres URL`` or ``PYCRM_BENCH_POSTGRES_URL``), the same on fresh
databases of that server, against Core executemany and against psycopg's ``COPY ... FROM
STDIN`` of the same rows. Single record: ``crm.as_user(...).customers.create(...)`` (one
unit of work per call) against an ORM insert and commit per record through a throwaway
declarative mapping.

Run: ``python benchmarks/bench_bulk_create.py --rows 100000``. Ratios are what count:
``bulk ratio = pycrm rows/s / baseline rows/s`` (targets: at least 0.8 of Core on SQLite,
0.5 of COPY on PostgreSQL) and ``latency ratio = pycrm median / ORM median``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import random
import resource
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from databases import fresh_databases
from sqlalchemy import orm

import pycrm
from pycrm.storage.sqlalchemy.mapping import entity_mapper
from pycrm.storage.sqlalchemy.tables import table_for

TENANT = "bench"
USER = uuid.UUID("01900000-0000-7000-8000-0000000000b1")
BATCH = 2000

_CITIES = [
    "北京",
    "上海",
    "广州",
    "深圳",
    "杭州",
    "南京",
    "成都",
    "武汉",
    "西安",
    "苏州",
    "天津",
    "重庆",
    "青岛",
    "厦门",
    "长沙",
    "合肥",
]
_NAMES = [
    "联成",
    "华信",
    "恒通",
    "鼎盛",
    "新元",
    "东方",
    "博远",
    "金桥",
    "瑞丰",
    "天宇",
    "中科",
    "嘉禾",
    "明德",
    "汇智",
    "星河",
    "远航",
    "同创",
    "海纳",
    "佳和",
    "万达",
    "启明",
    "安信",
    "宏图",
    "正泰",
    "永信",
    "华泰",
    "盛世",
    "云帆",
    "卓越",
    "锦程",
]
_INDUSTRIES = {
    "software": "软件技术",
    "media": "文化传媒",
    "manufacturing": "机械制造",
    "retail": "商贸",
    "food": "食品",
    "finance": "投资管理",
    "education": "教育科技",
    "logistics": "物流",
}
_FORMS = ("有限公司", "股份有限公司", "集团有限公司")
_REGIONS = ("华北", "华东", "华南", "华中", "西南", "西北", "东北")
_SOURCES = ("visit", "campaign", "referral", "assigned", "self_developed", "web", "other")
_LEVELS = ("VIP", "A", "B", "C")
_TAGS = ("重点客户", "老客户", "渠道", "政府", "外资", "上市公司", "高潜力", "待跟进")
_PREFIXES = ("010", "021", "020", "0755", "0571", "025", "028", "027")


def customer_rows(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """``count`` realistic customer inputs (Chinese company names), the same for a seed."""
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        industry = rng.choice(list(_INDUSTRIES))
        name = (
            f"{rng.choice(_CITIES)}{rng.choice(_NAMES)}{rng.choice(_NAMES)}"
            f"{_INDUSTRIES[industry]}{rng.choice(_FORMS)}"
        )
        rows.append(
            {
                "name": f"{name}（{i}）",  # names repeat across 100k rows: number them
                "level": rng.choice(_LEVELS),
                "industry": industry,
                "source": rng.choice(_SOURCES),
                "region": rng.choice(_REGIONS),
                "phone": f"{rng.choice(_PREFIXES)}-{rng.randrange(10_000_000, 99_999_999)}",
                "tags": rng.sample(_TAGS, rng.randrange(0, 3)),
            }
        )
    return rows


# -- measuring -----------------------------------------------------------------------------


def _peak_rss_mib() -> float:
    """The process's peak resident memory so far (kilobytes on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _timed(work: Callable[[], Any]) -> float:
    gc.collect()
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def _fresh_crm(url: str) -> pycrm.CRM:
    """A CRM on a new database, migrated by pycrm (the baselines write to such databases
    too), with the benchmark's acting user: an administrator, whose rights are checked like
    anyone's."""
    crm = pycrm.CRM.connect(url, load_entry_points=False, migrate=True)
    with crm.unit_of_work(tenant=TENANT, user=pycrm.SYSTEM_USER) as uow:
        # Stored as it is: the benchmark needs this very id (the baselines use it too).
        uow.tx.insert([pycrm.User(id=USER, tenant=TENANT, name="importer", roles=["admin"])])
    return crm


def _sqlite(folder: Path, name: str) -> str:
    return f"sqlite:///{folder / name}"


def _column_values(record: pycrm.Customer) -> dict[str, Any]:
    """A created customer as a Core row: every column, the values pycrm stored (derived
    columns such as ``name_folded`` included)."""
    return entity_mapper(pycrm.Customer).to_row(record)


# -- bulk ------------------------------------------------------------------------------------


def _through_pycrm(
    url: str, rows: list[dict[str, Any]]
) -> tuple[float, list[dict[str, Any]], tuple[float, float]]:
    """Seconds of ``create_many`` on a fresh database, the created customers as rows of
    every column (what the baselines write), and the peak RSS before and after it."""
    crm = _fresh_crm(url)
    created: list[pycrm.Customer] = []

    def through_pycrm() -> None:
        with crm.unit_of_work(tenant=TENANT, user=USER) as uow:
            created.extend(uow.customers.create_many(rows))

    rss_before = _peak_rss_mib()
    seconds = _timed(through_pycrm)
    rss_after = _peak_rss_mib()
    with crm.unit_of_work(tenant=TENANT, user=USER) as uow:
        assert uow.customers.count() == len(rows)
        for record in (created[0], created[-1]):  # the audit trail answers per record
            (change,) = uow.customers.history(record.id)
            fields = {f.field: f.new for f in change.fields}
            assert change.action.value == "create" and fields["name"] == record.name
    crm.close()
    baseline_rows = [_column_values(c) for c in created]
    assert set(baseline_rows[0]) == set(table_for("customer").c.keys())
    return seconds, baseline_rows, (rss_before, rss_after)


def _through_core(url: str, baseline_rows: list[dict[str, Any]]) -> float:
    """Seconds of SQLAlchemy Core executemany of the rows, in batches, into a fresh database."""
    table = table_for("customer")
    engine = _fresh_crm(url).storage.engine  # type: ignore[attr-defined]

    def through_core() -> None:
        with engine.begin() as conn:
            for start in range(0, len(baseline_rows), BATCH):
                conn.execute(table.insert(), baseline_rows[start : start + BATCH])

    seconds = _timed(through_core)
    with engine.connect() as conn:
        stored = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
        assert stored == len(baseline_rows)
    engine.dispose()
    return seconds


def _through_copy(url: str, baseline_rows: list[dict[str, Any]]) -> float:
    """Seconds of one psycopg ``COPY ... FROM STDIN`` (text format) of the rows into a fresh
    PostgreSQL database: the driver's fastest way in, written by hand."""
    from psycopg.types.json import Jsonb

    table = table_for("customer")
    columns = list(table.c.keys())
    json_columns = {c.name for c in table.c if isinstance(c.type, sa.JSON)}
    engine = _fresh_crm(url).storage.engine  # type: ignore[attr-defined]
    sql = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"

    def through_copy() -> None:
        raw = engine.raw_connection()
        try:
            with raw.cursor() as cursor, cursor.copy(sql) as copy:  # type: ignore[attr-defined]
                for row in baseline_rows:
                    copy.write_row(
                        [Jsonb(row[c]) if c in json_columns else row[c] for c in columns]
                    )
            raw.commit()
        finally:
            raw.close()

    seconds = _timed(through_copy)
    with engine.connect() as conn:
        stored = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
        assert stored == len(baseline_rows)
    engine.dispose()
    return seconds


def bench_bulk(folder: Path, rows: list[dict[str, Any]]) -> dict[str, float]:
    """Rows per second through ``create_many`` and through hand-written Core executemany
    on SQLite files."""
    pycrm_seconds, baseline_rows, (rss_before, rss_after) = _through_pycrm(
        _sqlite(folder, "bulk-pycrm.db"), rows
    )
    core_seconds = _through_core(_sqlite(folder, "bulk-core.db"), baseline_rows)
    return {
        "pycrm_rows_per_s": len(rows) / pycrm_seconds,
        "core_rows_per_s": len(rows) / core_seconds,
        "ratio": core_seconds / pycrm_seconds,
        "peak_rss_mib": rss_after,
        "peak_rss_growth_mib": rss_after - rss_before,
    }


def bench_bulk_postgres(server: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Rows per second through ``create_many``, Core executemany and COPY, each into a
    fresh database of the PostgreSQL server at ``server`` (dropped afterwards)."""
    with fresh_databases(server, "bench_bulk", 3) as (pycrm_url, core_url, copy_url):
        pycrm_seconds, baseline_rows, _ = _through_pycrm(pycrm_url, rows)
        core_seconds = _through_core(core_url, baseline_rows)
        copy_seconds = _through_copy(copy_url, baseline_rows)
        version = _server_version(pycrm_url)
    return {
        "pycrm_rows_per_s": len(rows) / pycrm_seconds,
        "core_rows_per_s": len(rows) / core_seconds,
        "copy_rows_per_s": len(rows) / copy_seconds,
        "ratio": core_seconds / pycrm_seconds,
        "copy_ratio": copy_seconds / pycrm_seconds,
        "server_version": version,
    }


def _server_version(url: str) -> str:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        version = str(conn.exec_driver_sql("SHOW server_version").scalar_one())
    engine.dispose()
    return version.split()[0]


# -- single records --------------------------------------------------------------------------


def _orm_class() -> type[Any]:
    """A declarative mapping of the customers table, private to this benchmark."""

    class Base(orm.DeclarativeBase):
        pass

    class CustomerRow(Base):
        __table__ = table_for("customer")

    return CustomerRow


def _median_ms(calls: int, once: Callable[[int], Any]) -> float:
    times = []
    for i in range(calls):
        start = time.perf_counter()
        once(i)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def bench_single(folder: Path, rows: list[dict[str, Any]]) -> dict[str, float]:
    """Median milliseconds for one create in its own unit of work, pycrm vs ORM."""
    crm = _fresh_crm(_sqlite(folder, "single-pycrm.db"))
    service = crm.as_user(USER, tenant=TENANT).customers
    pycrm_ms = _median_ms(len(rows), lambda i: service.create(**rows[i]))
    # The same as SYSTEM_USER: no acting user to look up (what a job or import pays).
    system = crm.as_user(pycrm.SYSTEM_USER, tenant=TENANT).customers
    system_ms = _median_ms(len(rows), lambda i: system.create(**rows[i]))
    crm.close()

    engine = _fresh_crm(_sqlite(folder, "single-orm.db")).storage.engine  # type: ignore[attr-defined]
    mapped = _orm_class()

    def orm_create(i: int) -> None:
        now = dt.datetime.now(dt.UTC)
        with orm.Session(engine) as session:
            session.add(
                mapped(
                    tenant=TENANT,
                    id=pycrm.new_id(),
                    owner_id=USER,
                    created_at=now,
                    updated_at=now,
                    created_by=USER,
                    updated_by=USER,
                    version=1,
                    custom={},
                    type="potential",
                    status="active",
                    **rows[i],
                )
            )
            session.commit()

    orm_ms = _median_ms(len(rows), orm_create)
    engine.dispose()
    return {
        "pycrm_ms": pycrm_ms,
        "system_ms": system_ms,
        "orm_ms": orm_ms,
        "ratio": pycrm_ms / orm_ms,
        "system_ratio": system_ms / orm_ms,
    }


# -- running ---------------------------------------------------------------------------------


def run(rows: int, single: int, postgres: str | None = None) -> dict[str, dict[str, Any]]:
    """The benchmarks in a temporary folder (and on the PostgreSQL server at ``postgres``
    when given); the figures as a dict."""
    inputs = customer_rows(rows)
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="pycrm-bench-") as folder:
        results["bulk"] = bench_bulk(Path(folder), inputs)
        if postgres:
            results["postgresql"] = bench_bulk_postgres(postgres, inputs)
        results["single"] = bench_single(Path(folder), customer_rows(single, seed=11))
    return results


#: Targets of the bulk ratios: pycrm's rows per second as a fraction of the baseline's.
CORE_TARGET = 0.8
COPY_TARGET = 0.5


def _verdict(ratio: float, target: float) -> str:
    return f"{'meets' if ratio >= target else 'misses'} the {target} target"


def report(rows: int, single: int, results: dict[str, dict[str, Any]]) -> Iterator[str]:
    bulk, one = results["bulk"], results["single"]
    yield f"bulk create of {rows:,} customers (SQLite file, batches of {BATCH}):"
    yield f"  pycrm create_many (validated, audited): {bulk['pycrm_rows_per_s']:>10,.0f} rows/s"
    yield f"  SQLAlchemy Core executemany:            {bulk['core_rows_per_s']:>10,.0f} rows/s"
    yield f"  ratio pycrm / Core: {bulk['ratio']:.2f} ({_verdict(bulk['ratio'], CORE_TARGET)})"
    yield (
        f"  peak memory (RSS) after the bulk create: {bulk['peak_rss_mib']:,.0f} MiB "
        f"(+{bulk['peak_rss_growth_mib']:,.0f} MiB during it)"
    )
    if "postgresql" in results:
        pg = results["postgresql"]
        yield f"bulk create of {rows:,} customers (PostgreSQL {pg['server_version']}):"
        yield f"  pycrm create_many (validated, audited): {pg['pycrm_rows_per_s']:>10,.0f} rows/s"
        yield f"  SQLAlchemy Core executemany:            {pg['core_rows_per_s']:>10,.0f} rows/s"
        yield f"  psycopg COPY FROM STDIN of the rows:    {pg['copy_rows_per_s']:>10,.0f} rows/s"
        yield f"  ratio pycrm / Core: {pg['ratio']:.2f}"
        verdict = _verdict(pg["copy_ratio"], COPY_TARGET)
        yield f"  ratio pycrm / COPY: {pg['copy_ratio']:.2f} ({verdict})"
    else:
        yield f"PostgreSQL skipped: give --postgres URL or set {POSTGRES_ENV}"
    yield f"single-record create, median of {single} calls, one commit each:"
    yield f"  pycrm customers.create:     {one['pycrm_ms']:.3f} ms (as an administrator)"
    yield f"  the same as SYSTEM_USER:    {one['system_ms']:.3f} ms (no acting user to look up)"
    yield f"  SQLAlchemy ORM add+commit:  {one['orm_ms']:.3f} ms"
    yield f"  ratio pycrm / ORM: {one['ratio']:.2f} ({one['system_ratio']:.2f} as SYSTEM_USER)"


#: Where the benchmark finds a PostgreSQL server when ``--postgres`` is not given.
POSTGRES_ENV = "PYCRM_BENCH_POSTGRES_URL"


def main(argv: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=100_000, help="customers in the bulk run")
    parser.add_argument("--single", type=int, default=500, help="single-record calls")
    parser.add_argument(
        "--postgres",
        default=os.environ.get(POSTGRES_ENV) or None,
        help=f"PostgreSQL server URL (default: ${POSTGRES_ENV}; skipped without either); "
        "the benchmark creates and drops databases of its own there",
    )
    args = parser.parse_args(argv)
    results = run(args.rows, args.single, args.postgres)
    for line in report(args.rows, args.single, results):
        print(line)
    return results


if __name__ == "__main__":
    main()
