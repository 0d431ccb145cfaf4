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


@pytest.mark.postgres
def test_bulk_create_benchmark_runs_on_postgresql(
    postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = _load("bench_bulk_create")
    results = bench.main(["--rows", "300", "--single", "5", "--postgres", postgres_url])
    out = capsys.readouterr().out
    assert "ratio pycrm / COPY" in out and "psycopg COPY FROM STDIN" in out
    measured = results["postgresql"]
    assert measured["ratio"] > 0 and measured["copy_ratio"] > 0
    assert measured["copy_rows_per_s"] > 0 and measured["server_version"]


def test_bulk_create_benchmark_rows_are_valid_and_varied() -> None:
    bench = _load("bench_bulk_create")
    rows = bench.customer_rows(200)
    assert rows == bench.customer_rows(200)  # the same for a seed
    assert len({r["name"] for r in rows}) == 200
    assert {r["level"] for r in rows} == {"VIP", "A", "B", "C"}
    assert all(r["name"].endswith(f"（{i}）") for i, r in enumerate(rows))


def test_import_benchmark_runs(capsys: pytest.CaptureFixture[str]) -> None:
    bench = _load("bench_import")
    results = bench.main(["--repeat", "3"])
    out = capsys.readouterr().out
    assert "x dependencies" in out and "pycrm.CRM" in out
    names = {"bare python", "dependencies", "import pycrm", "pycrm.CRM", "connect memory"}
    assert set(results) == names
    assert results["dependencies"]["x_dependencies"] == 1.0
    assert all(r["ms"] > 0 and r["x_bare"] > 0 for r in results.values())


def test_access_benchmark_runs(capsys: pytest.CaptureFixture[str]) -> None:
    bench = _load("bench_access")
    # The benchmark itself checks that pycrm and the hand-written SQL give the same answers.
    results = bench.main(["--rows", "2000", "--reps", "40", "--repeat", "1"])
    out = capsys.readouterr().out
    assert "first page" in out and "weighted pipeline" in out and "customers read through" in out
    assert "postgresql" not in results  # no --postgres: skipped
    sqlite = results["sqlite"]
    assert len(sqlite["org"].visible) == 1 + 3 + 16  # the director, 3 team leads, 16 reps
    sizes = sqlite["sizes"]
    assert list(sizes) == [200, 2000]
    for measured in sizes.values():
        for name in ("first page", "weighted pipeline"):
            assert measured[name]["ratio"] > 0 and measured[name]["peak_kib"] > 0
        assert "FROM pycrm_customers" in measured["page_sql"] and measured["page_plan"]
        assert bench.read_through(measured["page_plan"]) != "not found in the plan"


def test_async_benchmark_runs(capsys: pytest.CaptureFixture[str]) -> None:
    bench = _load("bench_async")
    # The benchmark itself checks that every request of both runs committed.
    results = bench.main(["--requests", "4", "--io-ms", "0", "1", "--repeat", "1"])
    out = capsys.readouterr().out
    assert "ratio" in out and "worst lag ms" in out
    assert set(results) == {(4, 0.0), (4, 1.0)}
    for measured in results.values():
        assert measured["ratio"] > 0 and measured["sync_s"] > 0 and measured["async_s"] > 0
        assert measured["worst_lag_ms"] >= 0 and measured["median_lag_ms"] >= 0


def test_everyday_benchmark_runs(capsys: pytest.CaptureFixture[str]) -> None:
    _load("bench_access")  # the data it shares
    bench = _load("bench_everyday")
    # The benchmark itself checks that pycrm and the hand-written SQL give the same answers.
    results = bench.main(["--rows", "1500", "--reps", "40", "--repeat", "1"])
    out = capsys.readouterr().out
    assert "first page" in out and "deep" in out and "history" in out and "update" in out
    sqlite = results["sqlite"]
    assert all(r["pycrm"] > 0 for r in sqlite.values())


def test_stream_benchmark_runs(capsys: pytest.CaptureFixture[str]) -> None:
    bench = _load("bench_stream")
    # The benchmark itself checks that pycrm and the hand-written SELECT read the same rows.
    results = bench.main(["--rows", "300", "--batch", "50", "--repeat", "1"])
    out = capsys.readouterr().out
    assert "pycrm stream" in out and "hand-written dicts" in out and "peak memory" in out
    assert "postgresql" not in results  # no --postgres: skipped
    sqlite = results["sqlite"]
    assert sqlite["rows"] == 300
    for name in ("pycrm stream", "hand-written dicts", "hand-written tuples"):
        assert sqlite[name]["ratio"] > 0 and sqlite[name]["peak_mib"] > 0
    assert sqlite["hand-written dicts"]["ratio"] == 1.0


@pytest.mark.postgres
def test_stream_benchmark_runs_on_postgresql(postgres_url: str) -> None:
    bench = _load("bench_stream")
    results = bench.main(
        ["--rows", "300", "--batch", "50", "--repeat", "1", "--postgres", postgres_url]
    )
    assert results["postgresql"]["rows"] == 300


def test_pool_recycle_benchmark_runs(capsys: pytest.CaptureFixture[str]) -> None:
    bench = _load("bench_pool_recycle")
    # The benchmark itself checks that pycrm and the hand-written UPDATE move the same rows.
    results = bench.main(["--rows", "400", "--reps", "10", "--repeat", "1", "--explain"])
    out = capsys.readouterr().out
    assert "hand SQL" in out and "INSERT … SELECT (moves)" in out and "plan of hand UPDATE" in out
    assert "postgresql" not in results  # no --postgres: skipped
    sqlite = results["sqlite"]
    assert 0 < sqlite["moved"] < sqlite["counts"]["customers"] == 400
    assert sqlite["reported"] == sqlite["moved"]  # RecycleRun.recycled
    assert sqlite["ratio"] > 0 and sqlite["ratio_both"] > 0
    assert set(sqlite["split"]) >= {"INSERT … SELECT (moves)", "UPDATE (customers)"}


@pytest.mark.postgres
def test_pool_recycle_benchmark_runs_on_postgresql(postgres_url: str) -> None:
    bench = _load("bench_pool_recycle")
    results = bench.main(
        ["--rows", "400", "--reps", "10", "--repeat", "1", "--postgres", postgres_url]
    )
    measured = results["postgresql"]
    assert measured["moved"] > 0 and measured["ratio"] > 0
