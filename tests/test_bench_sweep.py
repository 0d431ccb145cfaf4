"""The sweep benchmark runs at a tiny size, so it keeps working (no timing is asserted)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_sweep.py"


def test_sweep_benchmark_runs(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("bench_sweep", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    sys.modules["bench_sweep"] = bench
    spec.loader.exec_module(bench)
    # The benchmark itself checks that pycrm and the hand-written SQL raise the same alerts
    # and that the idle sweep raises none.
    args = ["--activities", "2000", "--tickets", "400", "--agents", "20", "--repeat", "1"]
    results = bench.main(args)
    out = capsys.readouterr().out
    assert "busy sweep" in out and "idle sweep" in out and "hand SELECTs" in out
    assert "postgresql" not in results  # no --postgres: skipped
    sqlite = results["sqlite"]
    assert sqlite["counts"]["activities"] == 2000 and sqlite["counts"]["tickets"] == 400
    assert sqlite["alerts"][bench.REMINDER] > 0 and sqlite["alerts"][bench.BREACHED] > 0
    assert sqlite["tasks"] == sqlite["alerts"].get(bench.ESCALATED, 0)
    for ratio in ("ratio_busy", "ratio_busy_full", "ratio_idle"):
        assert sqlite[ratio] > 0
    assert {"rule activity.reminder", "rule ticket.sla"} <= set(sqlite["by_rule"])
