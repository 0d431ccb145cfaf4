"""The CSV import and duplicate-check benchmarks run at a tiny size, so they keep working
(no timing is asserted)."""

from __future__ import annotations

import csv
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_csv_import_file_has_one_bad_row_in_a_hundred(tmp_path: Path) -> None:
    bench = _load("bench_csv_import")
    path = tmp_path / "customers.csv"
    bad = bench.write_csv(path, 800)
    assert bad == bench.write_csv(tmp_path / "again.csv", 800)  # the same for a seed
    assert (tmp_path / "again.csv").read_bytes() == path.read_bytes()
    with open(path, encoding="utf-8", newline="") as file:
        rows = list(csv.reader(file))
    assert rows[0] == list(bench.COLUMNS) and len(rows) == 801
    assert sorted(bad) == [i + 2 for i in range(800) if i % 100 == 99]  # header: row 1
    assert sorted(bad.values()) == sorted(bench.BAD_KINDS * 2)
    for number, column in bad.items():
        cells = dict(zip(bench.COLUMNS, rows[number - 1], strict=True))
        if column == "external_id":  # the row before's
            assert cells["external_id"] == rows[number - 2][3]
    good = list(bench.good_rows(path, bad))
    assert len(good) == 792 and len({r[3] for r in good}) == 792


def test_csv_import_report_check_catches_a_missing_row(tmp_path: Path) -> None:
    bench = _load("bench_csv_import")
    bad = bench.write_csv(tmp_path / "customers.csv", 300)
    result: dict[str, Any] = {
        "rows": 300,
        "created": 297,
        "updated": 0,
        "skipped": 3,
        "errors": [[row, column, "why"] for row, column in bad.items()],
    }
    bench.check_report(result, 300, bad)
    result["errors"] = result["errors"][1:]
    with pytest.raises(AssertionError, match="missing rows"):
        bench.check_report(result, 300, bad)


def test_csv_import_benchmark_runs(capsys: pytest.CaptureFixture[str]) -> None:
    bench = _load("bench_csv_import")
    # The benchmark itself checks the report (every bad row, by number and column) and the
    # rows stored by both sides.
    results = bench.main(["--rows", "400", "--kill-rows", "2100", "--profile", "200"])
    out = capsys.readouterr().out
    assert "ratio pycrm / hand" in out and "hand-written executemany" in out
    assert "nothing half-imported" in out and "where an import of 200 rows goes" in out
    sqlite = results["sqlite"]
    assert "postgresql" not in results  # no --postgres: skipped
    assert set(sqlite["sizes"]) == {100, 400}
    for rows, measured in sqlite["sizes"].items():
        assert measured["bad_rows"] == measured["reported"] == rows // 100
        assert measured["ratio"] > 0 and measured["peak_mib"] > 0
        # The external-id lookups are watched by statement text; where a run saw none
        # (a busy machine, a cached statement), the import's own checks above still hold.
        lookups = measured["watched"].get("lookups")
        if lookups is not None:
            assert lookups["count"] == rows // 1000 + (rows % 1000 > 0) and lookups["plan"]
        # Bad rows are refused before their batch's savepoint: nothing to roll back.
        assert "rollbacks" not in measured["watched"]
    assert sqlite["sizes"][100]["no_keys_ratio"] > 0
    kill = sqlite["kill"]
    assert kill["clean"] and kill["rows_read"] >= 2000
    assert set(kill["left"]) == {"customers", "match keys", "audit batches", "audit changes"}
    assert sqlite["profile"]["match keys computed (keys_of)"] > 0


@pytest.mark.postgres
def test_csv_import_benchmark_runs_on_postgresql(
    postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = _load("bench_csv_import")
    results = bench.main(["--rows", "300", "--kill-rows", "2100", "--postgres", postgres_url])
    assert "hand-written COPY" in capsys.readouterr().out
    measured = results["postgresql"]
    assert measured["kill"]["clean"]
    assert all(m["ratio"] > 0 for m in measured["sizes"].values())


def test_duplicate_check_benchmark_runs(capsys: pytest.CaptureFixture[str]) -> None:
    bench = _load("bench_duplicate_check")
    results = bench.main(["--rows", "300", "--calls", "6", "--warmup", "1", "--profile", "2"])
    out = capsys.readouterr().out
    assert "p50 ratio blocking rules / plain" in out and "plan of the match-key lookup" in out
    sqlite = results["sqlite"]
    assert "postgresql" not in results  # no --postgres: skipped
    assert sqlite["counts"] == {"customers": 300, "match keys": 900}
    assert sqlite["customers"] == 300 + 3 * (6 + 1)  # counted before the profile
    for variant in bench.VARIANTS:
        assert sqlite[variant]["p50_ms"] > 0 and sqlite[variant]["p95_ratio"] > 0
    assert sqlite["plain"]["p50_ratio"] == 1.0
    assert any("pk_pycrm_match_keys" in line or "PRIMARY KEY" in line for line in sqlite["plan"])
    assert sqlite["profile"]["blocking rules"]["    find_keys (the SELECT)"] > 0
    assert sqlite["profile"]["plain"]["    find_keys (the SELECT)"] == 0


def test_duplicate_check_keys_are_the_built_in_rules() -> None:
    bench = _load("bench_duplicate_check")
    ((customers, keys),) = list(bench._batches(5))
    assert len(customers[0]) == 5 and len(keys[0]) == 15  # name, phone and e-mail keys
    by_rule = {rule: key for rule, key in zip(keys[3], keys[4], strict=True) if rule}
    assert set(by_rule) == {"customer.name", "customer.phone", "customer.email"}
    assert all(
        key.startswith("+86")
        for rule, key in zip(keys[3], keys[4], strict=True)
        if rule == "customer.phone"
    )


@pytest.mark.postgres
def test_duplicate_check_benchmark_runs_on_postgresql(postgres_url: str) -> None:
    bench = _load("bench_duplicate_check")
    results = bench.main(
        ["--rows", "200", "--calls", "4", "--warmup", "1", "--postgres", postgres_url]
    )
    measured = results["postgresql"]
    assert any("Index" in line for line in measured["plan"])
    assert measured["blocking rules"]["statements"] > measured["plain"]["statements"]
