"""The code-quality bar: mypy --strict and ruff pass on src/."""

from __future__ import annotations

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True)


def test_mypy_strict_passes_on_src() -> None:
    result = run("mypy", "src")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_passes() -> None:
    folders = [
        d for d in ("src", "tests", "benchmarks", "examples", "scripts") if (ROOT / d).is_dir()
    ]
    result = run("ruff", "check", *folders)
    assert result.returncode == 0, result.stdout + result.stderr
