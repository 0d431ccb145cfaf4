"""Every hook is documented in docs/hooks.md (generated, never stale) and has a test of its
own, named ``test_hook_<hook>`` (a mention elsewhere does not count)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pycrm.plugins.hookspecs import hook_names
from pycrm.plugins.reference import render

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "hooks.md"


def test_the_hook_reference_is_generated_from_the_hook_specifications():
    assert PAGE.read_text(encoding="utf-8") == render(), (
        "docs/hooks.md is out of date: run `python scripts/hook-reference.py`"
    )


def _test_sources() -> str:
    me = Path(__file__).resolve()
    files = [p for p in (ROOT / "tests").rglob("*.py") if p.resolve() != me]
    return "\n".join(p.read_text(encoding="utf-8") for p in files)


@pytest.mark.parametrize("hook", hook_names())
def test_every_hook_has_a_docs_section_and_a_test(hook):
    assert f"\n## {hook}\n" in PAGE.read_text(encoding="utf-8"), f"{hook} has no docs section"
    assert f"def test_hook_{hook}(" in _test_sources(), f"no test is named test_hook_{hook}"
