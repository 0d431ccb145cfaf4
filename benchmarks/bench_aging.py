"""Receivables aging over many installments on SQLite: pycrm's report vs hand-written SQL.

Usage: python benchmarks/bench_aging.py [--rows 1000000] [--customers 2000] [--db PATH]

Loads ``--rows`` installments (ten per order and plan, spread over ``--customers``
customers and 40 reps) with fast SQLAlchemy Core inserts into one tenant, and a tenth of
that into a second tenant. Then, for each tenant, in a fresh process, it times
``reports.aging()`` (the storage's GROUP BY query plus conversion and names in Python)
against one hand-written SQL query that gives the same result, checks that both agree,
and reports the ratio and the report's extra peak memory: the memory should not grow with
the number of installments (the answer has one row per customer either way).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

import pycrm
from pycrm.storage.sqlalchemy import SqlBackend
from pycrm.storage.sqlalchemy.tables import child_table, table_for

ON = dt.date(2026, 1, 15)
EPOCH = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
BATCH = 20_000
PER_PLAN = 10

HAND_WRITTEN = """
SELECT i.customer_id, c.name, i.amount_currency,
       SUM(CASE WHEN i.due_on >= :d0 THEN i.amount_minor - COALESCE(i.paid_minor, 0) ELSE 0 END),
       SUM(CASE WHEN i.due_on < :d0 AND i.due_on >= :d30
                THEN i.amount_minor - COALESCE(i.paid_minor, 0) ELSE 0 END),
       SUM(CASE WHEN i.due_on < :d30 AND i.due_on >= :d60
                THEN i.amount_minor - COALESCE(i.paid_minor, 0) ELSE 0 END),
       SUM(CASE WHEN i.due_on < :d60 AND i.due_on >= :d90
                THEN i.amount_minor - COALESCE(i.paid_minor, 0) ELSE 0 END),
       SUM(CASE WHEN i.due_on < :d90 THEN i.amount_minor - COALESCE(i.paid_minor, 0) ELSE 0 END)
FROM pycrm_installments AS i
JOIN pycrm_payment_plans AS p ON p.tenant = i.tenant AND p.id = i.plan_id
LEFT JOIN pycrm_customers AS c ON c.tenant = i.tenant AND c.id = i.customer_id
WHERE i.tenant = :tenant AND p.deleted_at IS NULL
  AND i.amount_minor - COALESCE(i.paid_minor, 0) > 0
GROUP BY i.customer_id, c.name, i.amount_currency
"""


def _row(table: sa.Table, **values: Any) -> dict[str, Any]:
    """A full row: every column given or empty (the NOT NULL ones must be given)."""
    row = {c.name: values.pop(c.name, None) for c in table.columns}
    assert not values, f"unknown columns {values}"
    return row


def _record(table: sa.Table, tenant: str, **values: Any) -> dict[str, Any]:
    common = {"tenant": tenant, "created_at": EPOCH, "updated_at": EPOCH, "version": 1}
    return _row(table, custom={}, **common, **values)


def load(engine: sa.Engine, tenant: str, rows: int, customers: int) -> None:
    """Users, customers, orders, plans and ``rows`` installments of one tenant (Core inserts)."""
    users, people = table_for("user"), table_for("customer")
    orders, plans = table_for("order"), table_for("payment_plan")
    parts = child_table("payment_plan", "installments")
    reps = [uuid.uuid4() for _ in range(40)]
    firms = [uuid.uuid4() for _ in range(customers)]
    with engine.begin() as conn:
        conn.execute(
            users.insert(),
            [
                _record(users, tenant, id=r, name=f"rep {i}", roles=["sales_rep"], active=True)
                for i, r in enumerate(reps)
            ],
        )
        conn.execute(
            people.insert(),
            [
                _record(
                    people,
                    tenant,
                    id=c,
                    name=f"customer {i:05d}",
                    type="target",
                    status="active",
                    tags=[],
                )
                for i, c in enumerate(firms)
            ],
        )
        for start in range(0, rows // PER_PLAN, BATCH // PER_PLAN):
            count = min(BATCH // PER_PLAN, rows // PER_PLAN - start)
            o_rows, p_rows, i_rows = [], [], []
            for k in range(start, start + count):
                order_id, plan_id = uuid.uuid4(), uuid.uuid4()
                firm, rep = firms[k % customers], reps[k % len(reps)]
                amount = 1000 + (k * 7919) % 900_000  # minor units per installment
                total = amount * PER_PLAN
                money = {"total_minor": total, "total_currency": "CNY"}
                o_rows.append(
                    _record(
                        orders,
                        tenant,
                        id=order_id,
                        owner_id=rep,
                        customer_id=firm,
                        currency="CNY",
                        status="confirmed",
                        **money,
                        confirmed_on=ON - dt.timedelta(days=k % 400),
                    )
                )
                p_rows.append(
                    _record(
                        plans,
                        tenant,
                        id=plan_id,
                        owner_id=rep,
                        order_id=order_id,
                        customer_id=firm,
                        **money,
                    )
                )
                first = ON - dt.timedelta(days=k % 365)
                for n in range(PER_PLAN):
                    paid = amount if n < (k % 4) else (amount // 3 if n == (k % 4) else 0)
                    i_rows.append(
                        _row(
                            parts,
                            tenant=tenant,
                            plan_id=plan_id,
                            position=n,
                            id=uuid.uuid4(),
                            due_on=first + dt.timedelta(days=30 * n),
                            amount_minor=amount,
                            amount_currency="CNY",
                            paid_minor=paid,
                            paid_currency="CNY",
                            order_id=order_id,
                            customer_id=firm,
                            owner_id=rep,
                        )
                    )
            conn.execute(orders.insert(), o_rows)
            conn.execute(plans.insert(), p_rows)
            conn.execute(parts.insert(), i_rows)


def _maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(url: str, tenant: str, repeat: int) -> dict[str, Any]:
    """Run in a fresh process: time both ways, check they agree, report peak memory."""
    crm = pycrm.CRM.connect(
        url,
        clock=pycrm.FixedClock(dt.datetime(2026, 1, 15, tzinfo=dt.UTC)),
        load_entry_points=False,
    )
    desk = crm.as_user(pycrm.SYSTEM_USER, tenant=tenant).reports
    engine: sa.Engine = crm.storage.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:  # warm the page cache the same way for both
        conn.exec_driver_sql("SELECT count(*) FROM pycrm_installments").scalar()
    before = _maxrss_mib()
    report, ours = None, []
    for _ in range(repeat):
        started = time.perf_counter()
        report = desk.aging(on=ON)
        ours.append(time.perf_counter() - started)
    peak = _maxrss_mib()
    bounds = {f"d{d}": ON - dt.timedelta(days=d) for d in (0, 30, 60, 90)}
    hand, rows = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        with engine.connect() as conn:
            rows = conn.execute(sa.text(HAND_WRITTEN), {"tenant": tenant, **bounds}).all()
        hand_totals: dict[Any, list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 5)
        for row in rows:
            for b in range(5):
                hand_totals[row[1]][b] += Decimal(row[3 + b]).scaleb(-2)  # CNY: 2 decimals
        hand.append(time.perf_counter() - started)
    assert report is not None
    ours_totals = {r.name: [m.amount for m in r.buckets] for r in report.rows}
    assert ours_totals == dict(hand_totals), "the report and the hand-written SQL disagree"
    crm.close()
    return {
        "pycrm_s": min(ours),
        "sql_s": min(hand),
        "rows_out": len(report.rows),
        "extra_peak_mib": round(peak - before, 1),
        "total": str(report.totals.total),
    }


def _child(db: Path, tenant: str, repeat: int) -> dict[str, Any]:
    # Through sh -c, so the child does not inherit this process's peak memory.
    command = (
        f"'{sys.executable}' '{Path(__file__).resolve()}' --measure --db '{db}' "
        f"--tenant {tenant} --repeat {repeat}"
    )
    done = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="installments (big tenant)")
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs; the best counts")
    parser.add_argument("--db", type=Path, help="SQLite file (default: a temporary one)")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tenant", default="big", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(f"sqlite:///{args.db}", args.tenant, args.repeat)))
        return []
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "aging.db"
        SqlBackend(f"sqlite:///{db}").close()  # create and migrate
        engine = sa.create_engine(f"sqlite:///{db}")
        sizes = {"small": max(PER_PLAN, args.rows // 10), "big": args.rows}
        for tenant, rows in sizes.items():
            started = time.perf_counter()
            load(engine, tenant, rows, min(args.customers, rows // PER_PLAN))
            took = time.perf_counter() - started
            print(f"loaded {rows:>9,} installments ({tenant}) in {took:5.1f} s", flush=True)
        engine.dispose()
        results = []
        for tenant, rows in sizes.items():
            result = {"tenant": tenant, "rows": rows, **_child(db, tenant, args.repeat)}
            result["ratio"] = round(result["pycrm_s"] / result["sql_s"], 2)
            results.append(result)
            print(
                f"{rows:>9,} installments: pycrm {result['pycrm_s']:.3f} s, hand-written SQL "
                f"{result['sql_s']:.3f} s, ratio {result['ratio']:.2f}x, "
                f"{result['rows_out']} customers, extra peak memory "
                f"{result['extra_peak_mib']} MiB",
                flush=True,
            )
        if args.db is None:
            os.remove(db)
    return results


if __name__ == "__main__":
    main()
