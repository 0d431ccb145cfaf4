"""Regenerate docs/hooks.md from the hook specifications (src/pycrm/plugins/hookspecs.py)."""

from pathlib import Path

from pycrm.plugins.reference import render

PAGE = Path(__file__).resolve().parents[1] / "docs" / "hooks.md"

if __name__ == "__main__":
    PAGE.parent.mkdir(exist_ok=True)
    PAGE.write_text(render(), encoding="utf-8")
    print(f"wrote {PAGE}")
