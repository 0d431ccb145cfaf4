"""The aging benchmark at a tiny size, so it keeps working (no timing is asserted)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).parents[2] / "benchmarks" / "bench_aging.py"


def test_bench_aging_runs_and_both_ways_agree(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("bench_aging", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    results = bench.main(
        ["--rows", "400", "--customers", "7", "--repeat", "1", "--db", str(tmp_path / "a.db")]
    )
    assert [(r["tenant"], r["rows"], r["rows_out"]) for r in results] == [
        ("small", 40, 4),
        ("big", 400, 7),
    ]
    assert all(r["ratio"] > 0 and r["total"].endswith("CNY") for r in results)
