"""The custom field filter benchmark runs at a tiny size (figures are never asserted)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_custom_field_filter.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_custom_field_filter", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tiny_run_on_sqlite_uses_the_expression_index(tmp_path, capsys):
    report = _load().main(["--rows", "500", "--repeat", "1", "--sqlite", str(tmp_path / "b.db")])
    assert report["sqlite"]["index used"] == 1.0
    assert "pycrm custom+index" in capsys.readouterr().out


@pytest.mark.postgres
def test_tiny_run_on_postgresql(postgres_url):
    report = _load().main(["--rows", "500", "--repeat", "1", "--postgres", postgres_url])
    assert set(report["postgresql"]) >= {"sql level", "pycrm custom", "pycrm custom+index"}
