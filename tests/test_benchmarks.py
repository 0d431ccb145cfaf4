"""The benchmarks run at a tiny size, so they keep working (no timing is asserted)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_bulk_create_benchmark_runs(capsys: pytest.CaptureFixture[str]) -> None:
    bench = _load("bench_bulk_create")
    results = bench.main(["--rows", "300", "--single", "10"])
    out = capsys.readouterr().out
    assert "ratio pycrm / Core" in out and "ratio pycrm / ORM" in out and "peak memory" in out
    assert results["bulk"]["ratio"] > 0 and results["single"]["ratio"] > 0
    assert results["bulk"]["peak_rss_mib"] > 0


def test_bulk_create_benchmark_rows_are_valid_and_varied() -> None:
    bench = _load("bench_bulk_create")
    rows = bench.customer_rows(200)
    assert rows == bench.customer_rows(200)  # the same for a seed
    assert len({r["name"] for r in rows}) == 200
    assert {r["level"] for r in rows} == {"VIP", "A", "B", "C"}
    assert all(r["name"].endswith(f"（{i}）") for i, r in enumerate(rows))
