"""Recycling a public pool's customers in the database: ``pools.recycle()`` against one
hand-written UPDATE of the same rows.

    python benchmarks/bench_pool_recycle.py --rows 1000000 \
        [--reps 500] [--repeat 3] [--explain] [--postgres postgresql+psycopg://user@host/db]

One tenant: a head office with four branches, and a channel department outside it;
``--reps`` sales reps dealt out to the five (created through the services, which keep the
department paths). ``--rows`` customers owned by the reps at random (levels VIP 5 %, A 20 %,
B 35 %, C 40 %; created up to two years ago, a fifth of them changed hands in the last
three months; 1 % soft-deleted, 2 % already in the pool, 3 % marked hot for the next two
weeks and 2 % hot until some day of the last month), about one activity per customer on 60 %
of them (some in the last month, most older; 2 % of the activities soft-deleted), and an
order on 8 % of them (half of those open: draft or confirmed), all written with SQLAlchemy
Core executemany in batches.

The tenant's pool ``recycled`` takes the customers of the head office's reps back after 30
days without a follow-up, 60 for level A, never for VIP (one ``RecycleRule`` with
per-level days); open orders and hot customers exempt. Measured, each run on the same data
(the changed columns are put back from a snapshot and the moves deleted between runs, not
timed):

- **pycrm**: ``crm.as_user(SYSTEM_USER, tenant=...).pools.recycle()``: one unit of work,
  one ``INSERT … SELECT`` of the moves and one ``UPDATE`` of the customers they name;
- **hand SQL**: one ``UPDATE pycrm_customers SET owner_id = NULL, pool = …, version =
  version + 1 … WHERE <the same rule as NOT EXISTS subqueries>`` in a transaction on the
  same engine (no moves written: the least the database must do);
- for reference, not in the ratio: the hand UPDATE preceded by a hand ``INSERT … SELECT``
  of the moves, i.e. the same two statements written by hand.

Both sides must move the same customers (checked, id by id, on the first run of each).
``ratio = pycrm / hand SQL`` (target: at most 2), medians of ``--repeat`` interleaved runs;
pycrm's time is split into its statements (a cursor-execute listener). ``--explain`` prints
the plans of pycrm's two statements and of the hand UPDATE. SQLite runs on a temporary
file; PostgreSQL (skipped without ``--postgres``) in a database of its own created on that
server and dropped at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
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

from databases import Statements, fresh_databases

import pycrm
from pycrm.core.ids import new_ids
from pycrm.core.text import fold
from pycrm.storage.sqlalchemy.tables import table_for
from pycrm.storage.sqlalchemy.types import UTCDateTime

TENANT = "bench"
POOL = "recycled"
NOW = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
BATCH = 20_000
TARGET = 2.0
SETTINGS = pycrm.Settings(reporting_currency="CNY", auto_migrate=True)
#: No follow-up for 30 days; level A 60 days; VIP never.
RULE = pycrm.RecycleRule(reason="no_follow_up", days=30, levels={"A": 60, "VIP": 0})
BRANCHES = ("华北分公司", "华东分公司", "华南分公司", "西南分公司")
LEVELS = (("VIP", 0.05), ("A", 0.20), ("B", 0.35), ("C", 0.40))
SNAPSHOT = "bench_recycle_snapshot"

#: The rule, written by hand: :data:`RULE` for the head office's reps, open orders and hot
#: customers exempt.
HAND_WHERE = """
    c.tenant = :tenant AND c.deleted_at IS NULL AND c.owner_id IS NOT NULL AND c.pool IS NULL
    AND c.owner_id IN (
        SELECT u.id FROM pycrm_users u WHERE u.tenant = :tenant AND u.department_id IN (
            SELECT d.id FROM pycrm_departments d
            WHERE d.tenant = :tenant AND d.path LIKE :prefix))
    AND NOT EXISTS (
        SELECT 1 FROM pycrm_orders o
        WHERE o.tenant = c.tenant AND o.customer_id = c.id AND o.deleted_at IS NULL
          AND o.status IN ('draft', 'confirmed'))
    AND (c.hot_until IS NULL OR c.hot_until <= :now)
    AND coalesce(c.owned_since, c.created_at) <= CASE c.level
        WHEN 'A' THEN :cutoff_a WHEN 'VIP' THEN NULL ELSE :cutoff END
    AND NOT EXISTS (
        SELECT 1 FROM pycrm_activities a
        WHERE a.tenant = c.tenant AND a.customer_id = c.id AND a.deleted_at IS NULL
          AND a.created_at > CASE c.level
            WHEN 'A' THEN :cutoff_a WHEN 'VIP' THEN NULL ELSE :cutoff END)
"""
HAND_UPDATE = f"""
UPDATE pycrm_customers AS c
SET owner_id = NULL, pool = :pool, owned_since = :now, version = c.version + 1,
    updated_at = :now, updated_by = :actor
WHERE {HAND_WHERE}
"""
HAND_MOVES = """
INSERT INTO pycrm_pool_moves (id, tenant, customer_id, pool, action, owner_id, acted_by, at)
SELECT {new_id}, c.tenant, c.id, :pool, 'recycle', c.owner_id, :actor, :now
FROM pycrm_customers AS c
WHERE {where}
"""
HAND_MOVED = """
UPDATE pycrm_customers AS c
SET owner_id = NULL, pool = :pool, owned_since = :now, version = c.version + 1,
    updated_at = :now, updated_by = :actor
WHERE c.tenant = :tenant AND c.id IN (
    SELECT m.customer_id FROM pycrm_pool_moves m
    WHERE m.tenant = :tenant AND m.pool = :pool AND m.at = :now)
"""


def _words(text: str) -> tuple[str, ...]:
    """Two-character words run together: ``"北京上海"`` -> ``("北京", "上海")``."""
    return tuple(text[i : i + 2] for i in range(0, len(text), 2))


_CITIES = _words("北京上海广州深圳杭州南京成都武汉西安苏州天津重庆青岛厦门长沙合肥")
_TRADE = _words("联成华信天成恒通中科金桥东方博远瑞丰新锐汇通宏达润泽鼎盛远航星辰")
_FORM = ("有限公司", "股份有限公司", "集团有限公司")


# -- the organisation and the pool ----------------------------------------------------------
def build_org(crm: pycrm.CRM, reps: int) -> tuple[str, tuple[uuid.UUID, ...]]:
    """The head office, its branches and the channel department, the reps dealt out to
    them, and the pool: the head office's path and the reps."""
    admin = crm.as_user(pycrm.SYSTEM_USER, tenant=TENANT)
    head = admin.departments.create(name="总部")
    teams = [admin.departments.create(name=n, parent_id=head.id) for n in BRANCHES]
    teams.append(admin.departments.create(name="渠道部"))  # outside the head office
    made = []
    for r in range(reps):
        team = teams[r % len(teams)]
        user = admin.users.create(
            name=f"销售{r + 1:03d}", roles=["sales_rep"], department_id=team.id
        )
        made.append(user.id)
    admin.configuration.set_pool(
        pycrm.Pool(
            key=POOL, name="公海", owners_from=[head.id], recycle=[RULE], exempt_open_orders=True
        )
    )
    assert head.path
    return head.path, tuple(made)


# -- data ---------------------------------------------------------------------------------
def _level(rnd: random.Random) -> str:
    roll, total = rnd.random(), 0.0
    for level, share in LEVELS:
        total += share
        if roll < total:
            return level
    return LEVELS[-1][0]


def _ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def _hot(rnd: random.Random) -> dt.datetime | None:
    """Hot for the next two weeks (3 %), hot until some day of the last month (2 %)."""
    roll = rnd.random()
    if roll < 0.03:
        return NOW + dt.timedelta(days=rnd.uniform(0.1, 14))
    return _ago(rnd.uniform(0, 30)) if roll < 0.05 else None


def _fresh_ids() -> Iterator[uuid.UUID]:
    while True:
        yield from new_ids(BATCH)


def _batches(reps: Sequence[uuid.UUID], rows: int) -> Iterator[tuple[list[dict[str, Any]], ...]]:
    """Customers, their activities and their orders, a batch of customers at a time."""
    rnd = random.Random(7)
    fresh = _fresh_ids()
    for first in range(0, rows, BATCH):
        n = min(BATCH, rows - first)
        customers: list[dict[str, Any]] = []
        activities: list[dict[str, Any]] = []
        orders: list[dict[str, Any]] = []
        for i, cid in enumerate(new_ids(n), first):
            owner = rnd.choice(reps)
            age = rnd.uniform(1, 720)
            created = _ago(age)
            owned = created if rnd.random() < 0.8 else _ago(rnd.uniform(0, min(age, 90)))
            name = rnd.choice(_CITIES) + rnd.choice(_TRADE) + rnd.choice(_FORM) + f"（{i}）"
            roll = rnd.random()
            pooled = 0.01 <= roll < 0.03
            stamp = {"created_at": created, "updated_at": owned, "version": 1, "custom": {}}
            customers.append(
                {
                    **stamp,
                    "tenant": TENANT,
                    "id": cid,
                    "owner_id": None if pooled else owner,
                    "pool": POOL if pooled else None,
                    "owned_since": owned,
                    "created_by": owner,
                    "updated_by": owner,
                    "deleted_at": _ago(rnd.uniform(0, 30)) if roll < 0.01 else None,
                    "hot_until": _hot(rnd),
                    "name": name,
                    "name_folded": fold(name),
                    "level": _level(rnd),
                    "type": "target",
                    "status": "active",
                    "tags": [],
                }
            )
            if rnd.random() < 0.6:  # followed up: once, twice or three times
                for _ in range(rnd.choice((1, 1, 1, 2, 2, 3))):
                    when = _ago(rnd.uniform(0, 45) if rnd.random() < 0.3 else rnd.uniform(0, age))
                    activities.append(
                        {
                            **stamp,
                            "created_at": when,
                            "updated_at": when,
                            "tenant": TENANT,
                            "id": next(fresh),
                            "owner_id": owner,
                            "created_by": owner,
                            "updated_by": owner,
                            "type": "call",
                            "subject": "回访",
                            "done": True,
                            "done_at": when,
                            "customer_id": cid,
                            "deleted_at": NOW if rnd.random() < 0.02 else None,
                        }
                    )
            if rnd.random() < 0.08:
                status = rnd.choice(("draft", "confirmed", "completed", "cancelled"))
                orders.append(
                    {
                        **stamp,
                        "tenant": TENANT,
                        "id": next(fresh),
                        "owner_id": owner,
                        "created_by": owner,
                        "updated_by": owner,
                        "customer_id": cid,
                        "currency": "CNY",
                        "status": status,
                    }
                )
        yield customers, activities, orders


def load(engine: sa.Engine, reps: Sequence[uuid.UUID], rows: int) -> dict[str, int]:
    """Write the customers, activities and orders with Core executemany; ANALYZE; take the
    snapshot the runs are restored from."""
    tables = [table_for(kind) for kind in ("customer", "activity", "order")]
    counts = dict.fromkeys(("customers", "activities", "orders"), 0)
    with engine.begin() as conn:
        for batch in _batches(reps, rows):
            for table, values, name in zip(tables, batch, counts, strict=True):
                if values:
                    conn.execute(table.insert(), values)
                    counts[name] += len(values)
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {SNAPSHOT}")
        conn.exec_driver_sql(
            f"CREATE TABLE {SNAPSHOT} AS SELECT id, owner_id, pool, owned_since, version, "
            f"updated_at, updated_by FROM pycrm_customers WHERE tenant = '{TENANT}'"
        )
        conn.exec_driver_sql(f"CREATE UNIQUE INDEX ix_{SNAPSHOT} ON {SNAPSHOT} (id)")
    _maintain(engine, "")
    return counts


def _maintain(engine: sa.Engine, tables: str) -> None:
    """VACUUM ANALYZE (PostgreSQL: dead rows away) or ANALYZE and a checkpoint of the
    write-ahead log (SQLite); ``tables`` only, when named."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f"VACUUM ANALYZE {tables}")
        return
    raw = engine.raw_connection()  # outside a transaction (pycrm's engine issues BEGIN)
    try:
        cursor = raw.cursor()
        if not tables:
            cursor.execute("ANALYZE")
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        cursor.close()
    finally:
        raw.close()


def restore(engine: sa.Engine) -> None:
    """Put the customers back as loaded and delete the moves (not timed)."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f"""
                UPDATE pycrm_customers SET owner_id = s.owner_id, pool = s.pool,
                    owned_since = s.owned_since, version = s.version,
                    updated_at = s.updated_at, updated_by = s.updated_by
                FROM {SNAPSHOT} AS s
                WHERE pycrm_customers.tenant = :tenant AND pycrm_customers.id = s.id
                  AND pycrm_customers.version <> s.version
                """
            ),
            {"tenant": TENANT},
        )
        conn.execute(sa.text("DELETE FROM pycrm_pool_moves WHERE tenant = :t"), {"t": TENANT})
    _maintain(engine, "pycrm_customers, pycrm_pool_moves")


def moved_ids(engine: sa.Engine) -> set[Any]:
    """The customers a run changed."""
    sql = (
        f"SELECT c.id FROM pycrm_customers c JOIN {SNAPSHOT} s ON s.id = c.id "
        "WHERE c.tenant = :tenant AND c.version <> s.version AND c.pool = :pool "
        "AND c.owner_id IS NULL"
    )
    with engine.connect() as conn:
        return set(conn.execute(sa.text(sql), {"tenant": TENANT, "pool": POOL}).scalars())


def moves_name_former_owners(engine: sa.Engine) -> int:
    """How many of pycrm's moves name the customer's owner before the run."""
    sql = (
        f"SELECT count(*) FROM pycrm_pool_moves m JOIN {SNAPSHOT} s ON s.id = m.customer_id "
        "WHERE m.tenant = :tenant AND m.action = 'recycle' AND m.owner_id = s.owner_id"
    )
    with engine.connect() as conn:
        return int(conn.execute(sa.text(sql), {"tenant": TENANT}).scalar_one())


# -- the two sides ------------------------------------------------------------------------


def _label(statement: str) -> str:
    text = " ".join(statement.split()).upper()
    if text.startswith("INSERT INTO PYCRM_POOL_MOVES"):
        return "INSERT … SELECT (moves)"
    if text.startswith("UPDATE PYCRM_CUSTOMERS"):
        return "UPDATE (customers)"
    return "other statements"


def pycrm_recycle(crm: pycrm.CRM) -> int:
    run = crm.as_user(pycrm.SYSTEM_USER, tenant=TENANT).pools.recycle()
    return run.recycled.get(POOL, 0)


def _hand_params(engine: sa.Engine, prefix: str) -> dict[str, Any]:
    customers = table_for("customer")
    return {
        "tenant": TENANT,
        "pool": POOL,
        "prefix": prefix + "%",
        "now": NOW,
        "cutoff": NOW - dt.timedelta(days=RULE.days),
        "cutoff_a": NOW - dt.timedelta(days=RULE.days_for("A")),
        "actor": pycrm.SYSTEM_USER,
        "_types": {
            "now": UTCDateTime(),
            "cutoff": UTCDateTime(),
            "cutoff_a": UTCDateTime(),
            "actor": customers.c.updated_by.type,
        },
    }


def _text(sql: str, params: dict[str, Any]) -> sa.TextClause:
    types = params["_types"]
    return sa.text(sql).bindparams(
        *(sa.bindparam(name, type_=tp) for name, tp in types.items() if f":{name}" in sql)
    )


def _values(sql: str, params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k != "_types" and f":{k}" in sql}


def hand_update(engine: sa.Engine, params: dict[str, Any]) -> int:
    with engine.begin() as conn:
        return int(conn.execute(_text(HAND_UPDATE, params), _values(HAND_UPDATE, params)).rowcount)


def _hand_moves_sql(engine: sa.Engine) -> str:
    new_id = (
        "gen_random_uuid()" if engine.dialect.name == "postgresql" else "lower(hex(randomblob(16)))"
    )
    return HAND_MOVES.format(new_id=new_id, where=HAND_WHERE)


def hand_both(engine: sa.Engine, params: dict[str, Any]) -> int:
    """The moves and the update, both by hand (the reference)."""
    moves = _hand_moves_sql(engine)
    with engine.begin() as conn:
        insert = _text(moves, params).execution_options(preserve_rowcount=True)
        moved = conn.execute(insert, _values(moves, params)).rowcount
        conn.execute(_text(HAND_MOVED, params), _values(HAND_MOVED, params))
    return int(moved)


# -- measuring ----------------------------------------------------------------------------
def _timed(call: Callable[[], int]) -> tuple[float, int]:
    started = time.perf_counter()
    moved = call()
    return time.perf_counter() - started, moved


def plans(
    engine: sa.Engine, groups: Sequence[Sequence[tuple[str, str, Any]]]
) -> dict[str, list[str]]:
    """The database's plan of each ``(label, statement, DBAPI parameters)``: EXPLAIN QUERY
    PLAN on SQLite; EXPLAIN (ANALYZE, BUFFERS) on PostgreSQL, each group run in order in
    one transaction that is rolled back."""
    found: dict[str, list[str]] = {}
    with engine.connect() as conn:
        for group in groups:
            for label, statement, parameters in group:
                if engine.dialect.name == "sqlite":
                    sql = "EXPLAIN QUERY PLAN " + statement
                    rows = conn.exec_driver_sql(sql, parameters).all()
                    depth: dict[int, int] = {0: -1}
                    lines = []
                    for node, parent, _, detail in rows:
                        depth[node] = depth.get(parent, -1) + 1
                        lines.append("  " * depth[node] + detail)
                else:
                    sql = "EXPLAIN (ANALYZE, BUFFERS) " + statement
                    lines = [row[0] for row in conn.exec_driver_sql(sql, parameters).all()]
                found[label] = lines
            conn.rollback()
    return found


def measure(crm: pycrm.CRM, prefix: str, repeat: int, explain: bool) -> dict[str, Any]:
    engine: sa.Engine = crm.storage.engine  # type: ignore[attr-defined]
    params = _hand_params(engine, prefix)
    listener = Statements(engine)

    # First runs: the answers, checked against each other.
    listener.on = True
    reported = pycrm_recycle(crm)
    listener.on = False
    pycrm_sql = [(s, p) for s, p, _ in listener.seen if _label(s) != "other statements"]
    listener.seen.clear()
    by_pycrm = moved_ids(engine)
    moved = len(by_pycrm)
    named = moves_name_former_owners(engine)
    restore(engine)
    listener.on = True
    by_hand_count = hand_update(engine, params)
    listener.on = False
    hand_sql = [(s, p) for s, p, _ in listener.seen if _label(s) == "UPDATE (customers)"]
    listener.seen.clear()
    by_hand = moved_ids(engine)
    restore(engine)
    assert moved == by_hand_count, (moved, by_hand_count)
    assert by_pycrm == by_hand, "pycrm and the hand-written UPDATE moved different customers"
    assert named == moved, f"{named} of {moved} moves name the former owner"
    both_count = hand_both(engine, params)
    restore(engine)
    assert both_count == moved, (both_count, moved)

    times: dict[str, list[float]] = {"pycrm": [], "hand SQL": [], "hand INSERT + UPDATE": []}
    split: list[dict[str, float]] = []
    load_before = os.getloadavg()[0]
    for _ in range(repeat):  # interleaved, restored after every run
        listener.on = True
        seconds, count = _timed(lambda: pycrm_recycle(crm))
        listener.on = False
        assert count == reported
        parts = dict.fromkeys(("INSERT … SELECT (moves)", "UPDATE (customers)"), 0.0)
        parts["other statements"] = 0.0
        for statement, _, took in listener.seen:
            parts[_label(statement)] += took
        parts["outside statements"] = seconds - sum(parts.values())
        split.append(parts)
        listener.seen.clear()
        times["pycrm"].append(seconds)
        restore(engine)
        seconds, count = _timed(lambda: hand_update(engine, params))
        assert count == moved
        times["hand SQL"].append(seconds)
        restore(engine)
        seconds, count = _timed(lambda: hand_both(engine, params))
        assert count == moved
        times["hand INSERT + UPDATE"].append(seconds)
        restore(engine)
    load_after = os.getloadavg()[0]
    results: dict[str, Any] = {name: statistics.median(t) for name, t in times.items()}
    results["runs"] = times
    results["ratio"] = results["pycrm"] / results["hand SQL"]
    results["ratio_both"] = results["pycrm"] / results["hand INSERT + UPDATE"]
    results["moved"] = moved
    # What RecycleRun.recycled said (the rows moved are counted in the database above).
    results["reported"] = reported
    middle = sorted(range(repeat), key=lambda i: times["pycrm"][i])[repeat // 2]
    results["split"] = split[middle]
    results["load"] = (load_before, load_after)
    if explain:
        ours = [(f"pycrm {_label(s)}", s, p) for s, p in pycrm_sql]
        hand = [("hand UPDATE", s, p) for s, p in hand_sql]
        results["plans"] = plans(engine, [ours, hand])
    return results


def run_one(
    label: str, url: str, rows: int, reps: int, repeat: int, explain: bool
) -> dict[str, Any]:
    clock = pycrm.FixedClock(NOW)
    crm = pycrm.CRM.connect(url, settings=SETTINGS, clock=clock, load_entry_points=False)
    try:
        engine: sa.Engine = crm.storage.engine  # type: ignore[attr-defined]
        prefix, made = build_org(crm, reps)
        started = time.perf_counter()
        counts = load(engine, made, rows)
        took = time.perf_counter() - started
        written = ", ".join(f"{n:,} {name}" for name, n in counts.items())
        print(f"{label}: {written} written in {took:.1f} s")
        results = measure(crm, prefix, repeat, explain)
        results["counts"] = counts
    finally:
        crm.close()
    _print(label, results)
    return results


def _print(label: str, results: dict[str, Any]) -> None:
    print(
        f"\n{label}: {results['moved']:,} of {results['counts']['customers']:,} customers "
        f"recycled (target: ratio pycrm / hand SQL at most {TARGET})"
    )
    if results["reported"] != results["moved"]:
        print(f"  RecycleRun.recycled said {results['reported']:,}, not {results['moved']:,}")
    pycrm_s = results["pycrm"]
    print(f"  {'':<34} {'ms':>11} {'ratio':>7}   runs (ms)")
    for name in ("pycrm", "hand SQL", "hand INSERT + UPDATE"):
        ms = results[name] * 1000
        runs = ", ".join(f"{t * 1000:,.0f}" for t in results["runs"][name])
        print(f"  {name:<34} {ms:>11,.1f} {pycrm_s / results[name]:>7.2f}   {runs}")
    print("  pycrm's median run, by statement:")
    for name, seconds in results["split"].items():
        print(f"    {name:<32} {seconds * 1000:>11,.1f}")
    before, after = results["load"]
    print(f"  load average (1 min): {before:.2f} before, {after:.2f} after\n")
    for name, lines in results.get("plans", {}).items():
        print(f"  plan of {name}:")
        for line in lines:
            print(f"    {line}")
        print()


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="customers of the tenant")
    parser.add_argument("--reps", type=int, default=500, help="sales reps")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each side")
    parser.add_argument("--explain", action="store_true", help="print the query plans")
    parser.add_argument("--postgres", help="PostgreSQL server URL (skipped when not given)")
    args = parser.parse_args(argv)
    print(f"{dt.datetime.now():%Y-%m-%d %H:%M}, {args.rows:,} customers, {args.reps} reps")
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench_pool_recycle.db'}"
        report["sqlite"] = run_one("SQLite", url, args.rows, args.reps, args.repeat, args.explain)
    if args.postgres:
        with fresh_databases(args.postgres, "bench_pool_recycle") as (url,):
            report["postgresql"] = run_one(
                "PostgreSQL", url, args.rows, args.reps, args.repeat, args.explain
            )
    return report


if __name__ == "__main__":
    main()
