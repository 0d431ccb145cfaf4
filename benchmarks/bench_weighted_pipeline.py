"""Weighted pipeline by owner and stage over many opportunities on SQLite.

Compares ``reports.weighted_pipeline(by=("owner", "stage"))`` with a hand-written SQL
query of the same result on the same database file, printed as a ratio, and shows the
report's peak memory at two sizes (``--rows`` and a tenth of it): it must not grow with
the number of rows, since the aggregation runs in the database.

    python benchmarks/bench_weighted_pipeline.py --rows 1000000

Each size is loaded (SQLAlchemy Core executemany, not the services) and measured in a
fresh child process started through ``sh -c``, so its ``ru_maxrss`` is its own.
``--inline`` runs everything in this process instead (for the test suite).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shlex
import sqlite3
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

import pycrm
from pycrm.core.ids import new_id
from pycrm.storage.sqlalchemy.tables import table_for

TENANT = "bench"
OWNERS = 200
BATCH = 20_000
STAGES = ("qualification", "needs_analysis", "proposal", "negotiation")
PROBABILITY = {"qualification": 10, "needs_analysis": 25, "proposal": 50, "negotiation": 75}
SETTINGS = pycrm.Settings(reporting_currency="CNY", exchange_rates={"USD/CNY": Decimal("7.1")})
HAND_SQL = """
SELECT owner_id, stage, amount_currency, count(*), sum(coalesce(amount_minor, 0)),
       sum(coalesce(amount_minor, 0) * coalesce(probability, 0))
FROM pycrm_opportunities
WHERE tenant = ? AND deleted_at IS NULL AND status = 'open'
GROUP BY owner_id, stage, amount_currency
"""


def load(db: Path, rows: int, seed: int = 7) -> None:
    """A fresh database with ``rows`` opportunities (80 % open) of up to ``OWNERS`` owners."""
    db.unlink(missing_ok=True)
    rnd = random.Random(seed)
    with pycrm.CRM.connect(f"sqlite:///{db}", load_entry_points=False) as crm:
        # The few customers and users go through the services; the many deals do not.
        services = crm.as_user(pycrm.SYSTEM_USER, tenant=TENANT)
        customer = services.customers.create(name="c").id
        owners = [
            services.users.create(name=f"u{i}").id for i in range(min(OWNERS, max(1, rows // 10)))
        ]
    engine = sa.create_engine(f"sqlite:///{db}")
    now = pycrm.SystemClock().now()
    common = {"tenant": TENANT, "created_at": now, "updated_at": now, "version": 1, "custom": {}}
    with engine.begin() as conn:
        opportunities = table_for("opportunity")
        for start in range(0, rows, BATCH):
            batch = []
            for _ in range(min(BATCH, rows - start)):
                stage = rnd.choice(STAGES)
                roll = rnd.random()
                status = "open" if roll < 0.8 else ("won" if roll < 0.9 else "lost")
                batch.append(
                    {
                        **common,
                        "id": new_id(),
                        "owner_id": rnd.choice(owners),
                        "customer_id": customer,
                        "name": "deal",
                        "pipeline": "b2b",
                        "stage": stage,
                        "amount_minor": rnd.randint(100, 100_000_000),
                        "amount_currency": "USD" if rnd.random() < 0.1 else "CNY",
                        "probability": PROBABILITY[stage],
                        "status": status,
                        "stage_entered_at": now,
                    }
                )
            conn.execute(opportunities.insert(), batch)
    engine.dispose()


def hand_written(db: Path) -> tuple[int, Decimal]:
    """The same aggregation in plain SQL, converted the same way: (count, weighted total)."""
    rates = pycrm.FixedRates(dict(SETTINGS.exchange_rates))
    on = pycrm.SystemClock().now().date()
    count, weighted = 0, pycrm.Money.zero("CNY")
    with sqlite3.connect(db) as conn:
        for _owner, _stage, currency, n, _amount, units in conn.execute(HAND_SQL, (TENANT,)):
            count += n
            exact = Decimal(units).scaleb(-4)  # minor units x percent -> major units
            weighted += pycrm.Money.rounded(exact, currency).convert("CNY", rates, on)
    return count, weighted.amount


def measure(db: Path, repeat: int = 3) -> dict[str, Any]:
    crm = pycrm.CRM.connect(f"sqlite:///{db}", settings=SETTINGS, load_entry_points=False)

    def report() -> Any:
        return crm.as_user(pycrm.SYSTEM_USER, tenant=TENANT).reports.weighted_pipeline(
            by=("owner", "stage")
        )

    result = report()  # warm the page cache for both contenders
    expected = hand_written(db)
    assert (result.count, result.weighted.amount) == expected, (result, expected)
    ours = min(_timed(report) for _ in range(repeat))
    theirs = min(_timed(lambda: hand_written(db)) for _ in range(repeat))
    tracemalloc.start()
    report()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    crm.close()
    return {
        "rows": _count(db),
        "groups": len(result.rows),
        "report_s": ours,
        "hand_sql_s": theirs,
        "ratio": ours / theirs,
        "report_peak_kib": peak // 1024,
        "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


def _timed(call: Any) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def _count(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM pycrm_opportunities").fetchone()[0])


def _child(*args: str) -> str:
    command = shlex.join([sys.executable, __file__, *args])
    done = subprocess.run(["sh", "-c", command], check=True, capture_output=True, text=True)
    return done.stdout


def run(rows: int, workdir: Path, inline: bool) -> list[dict[str, Any]]:
    results = []
    for size in (max(rows // 10, 1), rows):
        db = workdir / f"bench_{size}.db"
        if inline:
            load(db, size)
            results.append(measure(db))
        else:
            _child("--load", str(db), "--rows", str(size))
            results.append(json.loads(_child("--measure", str(db))))
        db.unlink(missing_ok=True)
    return results


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="opportunities (larger size)")
    parser.add_argument("--inline", action="store_true", help="no child processes")
    parser.add_argument("--load", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.load:
        load(args.load, args.rows)
        return []
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return []
    with tempfile.TemporaryDirectory() as tmp:
        results = run(args.rows, Path(tmp), args.inline)
    print(
        f"{'rows':>10} {'groups':>7} {'report s':>9} {'hand SQL s':>10} {'ratio':>6} "
        f"{'report peak KiB':>15} {'max RSS KiB':>11}"
    )
    for r in results:
        print(
            f"{r['rows']:>10} {r['groups']:>7} {r['report_s']:>9.3f} {r['hand_sql_s']:>10.3f} "
            f"{r['ratio']:>6.2f} {r['report_peak_kib']:>15} {r['maxrss_kib']:>11}"
        )
    return results


if __name__ == "__main__":
    main()
