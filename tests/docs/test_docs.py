"""Every ```python block of README.md and docs/*.md runs, top to bottom, one namespace per page.

A block preceded by ``<!-- skip: next -->`` is shown to readers but not run (use it only for
snippets that need something the test machine lacks, e.g. a package that is not installed).
Every examples/*.py script runs too. Pages run in a fresh temporary directory.
"""

from __future__ import annotations

import os
import pathlib
import re
import runpy
import sys
import types

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
SCRIPTS = sorted((ROOT / "examples").glob("*.py"))
BLOCK = re.compile(r"(<!-- skip: next -->\s*)?^```python\n(.*?)^```", re.S | re.M)


def code_blocks(page: pathlib.Path) -> list[tuple[int, str]]:
    text = page.read_text(encoding="utf-8")
    return [
        (text[: m.start(2)].count("\n") + 1, m.group(2))
        for m in BLOCK.finditer(text)
        if not m.group(1)
    ]


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_page_runs(
    page: pathlib.Path, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    # A module of its own, as a reader's script would be: libraries that resolve a class's
    # annotations through sys.modules (SQLAlchemy's declarative models) find it.
    module = types.ModuleType(f"docs.{page.stem}")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    namespace = module.__dict__
    # Reference pages (the generated hook reference) may have no code to run.
    for line, source in code_blocks(page):
        code = compile(source, f"{page.name}:{line}", "exec")
        exec(code, namespace)  # running the documentation is the point


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.name for p in SCRIPTS])
def test_example_runs(
    script: pathlib.Path, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [str(script)])
    runpy.run_path(str(script), run_name="__main__")


def test_the_runner_finds_blocks_and_honours_skip() -> None:
    page = ROOT / "tests" / "docs" / "sample.md.txt"
    blocks = code_blocks(page)
    assert [source.strip() for _, source in blocks] == ["x = 1", "assert x == 1"]
    assert os.path.basename(page) == "sample.md.txt"
