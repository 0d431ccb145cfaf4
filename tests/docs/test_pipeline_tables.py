"""The stage tables of docs/pipelines.md say exactly what the built-in pipelines define."""

from __future__ import annotations

import pathlib
import re

import pycrm

PAGE = pathlib.Path(__file__).resolve().parents[2] / "docs" / "pipelines.md"


def _tables() -> dict[str, list[tuple[str, ...]]]:
    """Each pipeline's table rows, by the pipeline key named just above the table."""
    found: dict[str, list[tuple[str, ...]]] = {}
    key = None
    for line in PAGE.read_text(encoding="utf-8").splitlines():
        if heading := re.match(r"^`(\w+)` \(", line):
            key = heading.group(1)
        elif key and line.startswith("| `"):
            cells = tuple(c.strip().strip("`") for c in line.strip("|").split("|"))
            found.setdefault(key, []).append(cells)
    return found


def test_the_stage_tables_match_the_built_in_pipelines() -> None:
    crm = pycrm.CRM.connect("memory://", load_entry_points=False)
    tables = _tables()
    assert set(tables) == {"b2b", "eight_step"}
    for key, rows in tables.items():
        stages = crm.pipelines[key].stages
        expected = [
            (
                s.key,
                str(s.probability),
                s.forecast.value,
                str(s.dwell_days),
                ", ".join(s.requires),
            )
            for s in stages
        ]
        assert rows == expected, key
