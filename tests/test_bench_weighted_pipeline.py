"""The weighted-pipeline benchmark runs at a tiny size, so it cannot rot."""

from __future__ import annotations

import importlib.util
import pathlib

import pytest

BENCH = pathlib.Path(__file__).parents[1] / "benchmarks" / "bench_weighted_pipeline.py"


def test_the_benchmark_runs_at_a_tiny_size(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("bench_weighted_pipeline", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    results = bench.main(["--rows", "2000", "--inline"])
    assert [r["rows"] for r in results] == [200, 2000]
    assert all(r["ratio"] > 0 and r["groups"] > 0 for r in results)
    assert "ratio" in capsys.readouterr().out
