"""The duplicate check on create against a large tenant: ``customers.create(name=...,
phone=...)`` with match rules against the same create without them.

    python benchmarks/bench_duplicate_check.py [--rows 1000000] [--calls 500] \
        [--profile 200] [--postgres postgresql+psycopg://user@host/db]

The tenant holds ``--rows`` customers (the rows of ``bench_csv_import.py``: numbered Chinese
company names, phones, e-mails, external ids) and their match keys (``pycrm_match_keys``:
one per customer rule and key, computed with the built-in rules' own
``MatchRule.keys``), written with pycrm's bulk insert (COPY on PostgreSQL), then
``ANALYZE``-d. Then, on that database, each call a new customer (a name and a phone no
stored customer has) in its own unit of work, ``crm.as_user(SYSTEM_USER,
tenant=...).customers.create(...)``, through three CRMs, the calls interleaved:

- **plain**: the built-in matching plugin disabled (``Settings(disabled_plugins=
  {"pycrm.plugins.default_matching"})``): no rules, no keys;
- **built-in rules**: the default set-up. Its rules only *warn*: a create computes the new
  customer's keys and stores them, and looks nothing up (``refuse_blocked`` returns at
  once without a ``block`` rule);
- **blocking rules**: the same rules with ``action="block"`` for customers (registered by
  a plugin, the built-in one disabled): a create also locks its keys and looks them up in
  ``pycrm_match_keys`` (one indexed query) before it writes. On PostgreSQL one call of
  pycrm's function ``pycrm_lock_find_and_add_match_keys`` takes the advisory locks, looks
  the keys up and stores them; the records found, if any, are read. This is the duplicate
  *check*.

p50 and p95 of ``--calls`` calls each (after ``--warmup`` untimed ones), and the ratios to
plain (target: p50 of the check at most 1.5 times plain). Each call's statements are timed
(a cursor-execute listener): the median call's SQL time and statement count are printed,
the statements of one blocking create listed, and the plan of its match-key lookup shown
(EXPLAIN QUERY PLAN on SQLite, EXPLAIN on PostgreSQL, where the lookup stores the new
customer's keys too; a COPY is not a cursor execute and is not counted). ``--profile N`` profiles N
more calls of each with cProfile and prints where a call's time goes.

SQLite runs on a temporary file; PostgreSQL (skipped without ``--postgres``) on a database
of its own created on that server and dropped at the end. Both are loaded in one pass (the
keys are computed once).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_csv_import import HAND_COLUMNS, customer_values
from databases import Statements, fresh_databases

import pycrm
from pycrm.core.ids import new_ids
from pycrm.core.matching import MatchRule
from pycrm.core.text import fold
from pycrm.plugins.default_matching import RULES
from pycrm.plugins.hookspecs import hookimpl
from pycrm.storage.sqlalchemy.bulk import bulk_insert
from pycrm.storage.sqlalchemy.tables import table_for

TENANT = "bench"
REGION = "CN"  # the region of the tenant's default locale, zh_CN
LOAD_BATCH = 10_000
MATCHING_PLUGIN = "pycrm.plugins.default_matching"
TARGET = 1.5
VARIANTS = ("plain", "built-in rules", "blocking rules")


class BlockingRules:
    """The built-in rules, the customer ones made to block."""

    @hookimpl
    def pycrm_register_match_rules(self) -> list[MatchRule]:
        return [
            attrs.evolve(rule, action="block") if rule.entity == "customer" else rule
            for rule in RULES
        ]


def connect(url: str, variant: str) -> pycrm.CRM:
    if variant == "built-in rules":
        return pycrm.CRM.connect(url, load_entry_points=False, migrate=True)
    settings = pycrm.Settings(disabled_plugins={MATCHING_PLUGIN})
    plugins = [BlockingRules()] if variant == "blocking rules" else []
    return pycrm.CRM.connect(
        url, settings=settings, plugins=plugins, load_entry_points=False, migrate=True
    )


# -- the tenant -------------------------------------------------------------------------------
CUSTOMER_COLUMNS = HAND_COLUMNS  # the columns the import benchmark writes by hand
KEY_COLUMNS = ("tenant", "entity", "record_id", "rule", "key")


def _batches(rows: int) -> Iterator[tuple[list[list[Any]], list[list[Any]]]]:
    """Customers and their match keys, column-wise, a batch at a time."""
    rnd = random.Random(7)
    rules = [rule for rule in RULES if rule.entity == "customer"]
    now = dt.datetime.now(dt.UTC)
    fixed = {
        "tenant": TENANT,
        "owner_id": pycrm.SYSTEM_USER,
        "owned_since": now,
        "created_at": now,
        "updated_at": now,
        "created_by": pycrm.SYSTEM_USER,
        "updated_by": pycrm.SYSTEM_USER,
        "version": 1,
        "custom": {},
        "tags": [],
        "type": "potential",
        "status": "active",
    }
    for first in range(0, rows, LOAD_BATCH):
        count = min(LOAD_BATCH, rows - first)
        customers: list[dict[str, Any]] = []
        keys: list[tuple[Any, ...]] = []
        for i, cid in zip(range(first, first + count), new_ids(count), strict=True):
            values = customer_values(i, rnd)
            customers.append({**fixed, **values, "id": cid, "name_folded": fold(values["name"])})
            for rule in rules:
                keys += [(cid, rule.key, key) for key in sorted(rule.keys(values, REGION))]
        key_rows = [(TENANT, "customer", cid, rule, key) for cid, rule, key in keys]
        customer_columns = [[c[name] for c in customers] for name in CUSTOMER_COLUMNS]
        yield customer_columns, [list(column) for column in zip(*key_rows, strict=True)]


def load(engines: Sequence[sa.Engine], rows: int) -> dict[str, int]:
    """Write the customers and their keys into every database, then ANALYZE them."""
    customers, keys = table_for("customer"), table_for("match_key")
    counts = {"customers": 0, "match keys": 0}
    for customer_columns, key_columns in _batches(rows):
        for engine in engines:
            with engine.begin() as conn:
                bulk_insert(conn, customers, CUSTOMER_COLUMNS, customer_columns)
                bulk_insert(conn, keys, KEY_COLUMNS, key_columns)
        counts["customers"] += len(customer_columns[0])
        counts["match keys"] += len(key_columns[0])
    for engine in engines:
        _analyze(engine)
    return counts


def _analyze(engine: sa.Engine) -> None:
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
        return
    raw = engine.raw_connection()  # outside a transaction (pycrm's engine issues BEGIN)
    try:
        cursor = raw.cursor()
        cursor.execute("ANALYZE")
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        cursor.close()
    finally:
        raw.close()


def new_customer(variant: int, k: int) -> dict[str, str]:
    """The ``k``-th new customer of a variant: a name and a phone no customer has."""
    return {
        "name": f"济南新创{variant}号科技有限公司（新{k}）",
        "phone": f"0531-{80_000_000 + variant * 1_000_000 + k}",
    }


# -- measuring --------------------------------------------------------------------------------


def _percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def measure(url: str, calls: int, warmup: int, profile: int) -> dict[str, Any]:
    crms = {variant: connect(url, variant) for variant in VARIANTS}
    try:
        return _measure(crms, calls, warmup, profile)
    finally:
        for crm in crms.values():
            crm.close()


def _measure(crms: dict[str, pycrm.CRM], calls: int, warmup: int, profile: int) -> dict[str, Any]:
    services = {
        v: crm.as_user(pycrm.SYSTEM_USER, tenant=TENANT).customers for v, crm in crms.items()
    }
    listeners = {v: Statements(crm.storage.engine) for v, crm in crms.items()}  # type: ignore[attr-defined]
    made = dict.fromkeys(VARIANTS, 0)

    def create(variant: str) -> float:
        values = new_customer(VARIANTS.index(variant), made[variant])
        made[variant] += 1
        started = time.perf_counter()
        services[variant].create(name=values["name"], phone=values["phone"])
        return time.perf_counter() - started

    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    sql: dict[str, list[tuple[int, float]]] = {v: [] for v in VARIANTS}
    one_call: dict[str, list[tuple[str, Any, float]]] = {}
    load_before = os.getloadavg()[0]
    for i in range(warmup + calls):
        for variant in VARIANTS[i % 3 :] + VARIANTS[: i % 3]:  # each goes first in turn
            listeners[variant].on = True
            took = create(variant)
            listeners[variant].on = False
            seen = listeners[variant].take()
            if i >= warmup:
                times[variant].append(took)
                sql[variant].append((len(seen), sum(t for _, _, t in seen)))
                one_call[variant] = seen
    load_after = os.getloadavg()[0]
    results: dict[str, Any] = {"load": (load_before, load_after)}
    for variant in VARIANTS:
        t = times[variant]
        median_sql = statistics.median(s for _, s in sql[variant])
        results[variant] = {
            "p50_ms": statistics.median(t) * 1000,
            "p95_ms": _percentile(t, 0.95) * 1000,
            "sql_ms": median_sql * 1000,
            "statements": statistics.median(n for n, _ in sql[variant]),
        }
    plain = results["plain"]
    for variant in VARIANTS:
        results[variant]["p50_ratio"] = results[variant]["p50_ms"] / plain["p50_ms"]
        results[variant]["p95_ratio"] = results[variant]["p95_ms"] / plain["p95_ms"]
    blocking = one_call["blocking rules"]
    results["statements"] = [(_short(s), t * 1000) for s, _, t in blocking]
    # The lookup: a SELECT, or on PostgreSQL the call of the function that locks and stores.
    lookups = [
        (s, p)
        for s, p, _ in blocking
        if "match_keys" in s and s.lstrip().startswith(("SELECT", "WITH"))
    ]
    assert lookups, "the blocking create looked no key up"
    engine: sa.Engine = crms["blocking rules"].storage.engine  # type: ignore[attr-defined]
    results["plan"] = plan(engine, *lookups[0])
    results["lookup_sql"] = " ".join(lookups[0][0].split())
    with crms["plain"].unit_of_work(tenant=TENANT, user=pycrm.SYSTEM_USER) as uow:
        results["customers"] = uow.customers.count()
    if profile:
        results["profile"] = {v: _profiled(functools.partial(create, v), profile) for v in VARIANTS}
    return results


def _short(statement: str) -> str:
    text = " ".join(statement.split())
    return text if len(text) <= 90 else text[:87] + "..."


def plan(engine: sa.Engine, statement: str, parameters: Any) -> list[str]:
    """The database's plan of one statement (EXPLAIN QUERY PLAN on SQLite, EXPLAIN ANALYZE
    on PostgreSQL; plain EXPLAIN of a statement that also stores keys, which ran already)."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
            return [detail for _, _, _, detail in rows]
        if "lock_find_and_add_match_keys" in statement:
            # The function's plan is its own; its lookup is the one that matters.
            statement = (
                "SELECT record_id, rule, key FROM pycrm_match_keys WHERE tenant = %(tenant)s"
                " AND entity = %(entity)s AND key = ANY (CAST(%(added)s AS TEXT[]))"
            )
        writes = statement.lstrip().startswith("WITH")
        sql = ("EXPLAIN " if writes else "EXPLAIN (ANALYZE, BUFFERS) ") + statement
        return [row[0] for row in conn.exec_driver_sql(sql, parameters).all()]


#: The parts of a create a profile reports (cumulative; the first is the whole call).
_PARTS = (
    ("create (whole call)", "base.py", "_create"),
    ("refuse_blocked (locks, lookup)", "duplicates.py", "refuse_blocked"),
    ("  hold_all (the keys' locks)", "locks.py", "hold_all"),
    ("  _blocked_by (the lookup)", "duplicates.py", "_blocked_by"),
    ("    find_keys (the SELECT)", "matching.py", "find_keys"),
    ("    find_and_add_keys (+INSERT)", "matching.py", "find_and_add_keys"),
    ("    lock_find_and_add_keys (all three)", "matching.py", "lock_find_and_add_keys"),
    ("store_keys (keys written)", "duplicates.py", "store_keys"),
    ("  replace_keys (the INSERT)", "matching.py", "replace_keys"),
    ("MatchRule.keys (normalising)", "matching.py", "keys"),
    ("tx.insert (the customer)", "backend.py", "insert"),
    ("unit of work: begin/commit", "unit_of_work.py", "__exit__"),
)


def _profiled(call: Callable[[], float], calls: int) -> dict[str, float]:
    """Milliseconds per call of each part of :data:`_PARTS`, from ``calls`` profiled calls."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        call()
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    found = {}
    for label, file, function in _PARTS:
        found[label] = (
            1000
            / calls
            * sum(
                cumulative
                for (path, _, name), (_, _, _, cumulative, _) in stats.items()
                if name == function and path.endswith(os.sep + file)
            )
        )
    return found


# -- running ----------------------------------------------------------------------------------
def _print(label: str, rows: int, calls: int, r: dict[str, Any]) -> None:
    print(
        f"\n{label}: customers.create as SYSTEM_USER, one unit of work each, {calls} calls "
        f"per variant, against {rows:,} customers ({r['customers']:,} at the end)"
    )
    print(
        f"  {'':<16} {'p50 ms':>8} {'p95 ms':>8} {'p50 ratio':>10} {'p95 ratio':>10}"
        f" {'SQL ms':>7} {'statements':>11}"
    )
    for variant in VARIANTS:
        m = r[variant]
        print(
            f"  {variant:<16} {m['p50_ms']:>8.3f} {m['p95_ms']:>8.3f} {m['p50_ratio']:>10.2f} "
            f"{m['p95_ratio']:>10.2f} {m['sql_ms']:>7.3f} {m['statements']:>11.0f}"
        )
    for variant in VARIANTS[1:]:
        ratio = r[variant]["p50_ratio"]
        verdict = "meets" if ratio <= TARGET else "misses"
        print(f"  p50 ratio {variant} / plain: {ratio:.2f} ({verdict} the {TARGET} target)")
    print("  statements of one blocking create (ms):")
    for statement, ms in r["statements"]:
        print(f"    {ms:>7.3f}  {statement}")
    print(f"  plan of the match-key lookup: {r['lookup_sql']}")
    for line in r["plan"]:
        print(f"    {line}")
    before, after = r["load"]
    print(f"  load average (1 min): {before:.2f} before, {after:.2f} after")
    if "profile" in r:
        print("  cProfile, ms per call (cumulative, profiler overhead included):")
        print(f"    {'':<32}" + "".join(f"{v:>16}" for v in VARIANTS))
        for label, _, _ in _PARTS:
            cells = "".join(f"{r['profile'][v][label]:>16.3f}" for v in VARIANTS)
            print(f"    {label:<32}{cells}")


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="customers of the tenant")
    parser.add_argument("--calls", type=int, default=500, help="timed creates per variant")
    parser.add_argument("--warmup", type=int, default=30, help="untimed creates first")
    parser.add_argument("--profile", type=int, default=0, help="profiled creates (0: none)")
    parser.add_argument("--postgres", help="PostgreSQL server URL (skipped when not given)")
    args = parser.parse_args(argv)
    print(
        f"{dt.datetime.now():%Y-%m-%d %H:%M}, {args.rows:,} customers; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder, contextlib.ExitStack() as stack:
        urls = {"SQLite": f"sqlite:///{Path(folder) / 'bench_duplicate_check.db'}"}
        if args.postgres:
            (urls["PostgreSQL"],) = stack.enter_context(
                fresh_databases(args.postgres, "bench_duplicate_check")
            )
        engines = []
        for url in urls.values():
            crm = stack.enter_context(contextlib.closing(connect(url, "plain")))  # migrates
            engines.append(crm.storage.engine)  # type: ignore[attr-defined]
        started = time.perf_counter()
        counts = load(engines, args.rows)
        took = time.perf_counter() - started
        written = ", ".join(f"{n:,} {what}" for what, n in counts.items())
        print(f"{written} written into {', '.join(urls)} in {took:.1f} s")
        for label, url in urls.items():
            results = measure(url, args.calls, args.warmup, args.profile)
            results["counts"] = counts
            _print(label, args.rows, args.calls, results)
            report[label.lower()] = results
    if not args.postgres:
        print("PostgreSQL skipped: give --postgres URL")
    return report


if __name__ == "__main__":
    main()
