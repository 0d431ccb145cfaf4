"""Lists give the same answers on the memory backend and on SQLite: the same records, in the
same order, page by page, for any mix of filters and orders (property test)."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pycrm

LEVELS = st.sampled_from(["A", "B", "C", None])
NAMES = st.sampled_from(["Alpha", "alpha co", "北京阿尔法", "Beta_1", "100% Ads", "Ωmega", "é"])
REGIONS = st.sampled_from(["华北", "华东", None])

customers = st.lists(
    st.fixed_dictionaries({"name": NAMES, "level": LEVELS, "region": REGIONS}),
    min_size=0,
    max_size=25,
)
wheres = st.dictionaries(
    st.sampled_from(
        [
            "level",
            "level__ne",
            "level__in",
            "level__is_null",
            "level__gte",
            "name__contains",
            "region",
            "region__is_null",
        ]
    ),
    st.sampled_from(["A", "B", None, True, False, ["A", "C"], "alpha", "阿尔", "%", "_"]),
    max_size=2,
)
orders = st.lists(
    st.sampled_from(["level", "-level", "name", "-name", "region", "-created_at"]),
    max_size=2,
    unique=True,
)


def _load(crm: pycrm.CRM, rows: list[dict[str, Any]]) -> dict[str, str]:
    """Create the rows; map each new id to a stable label so backends can be compared."""
    acme = crm.as_user(pycrm.SYSTEM_USER, tenant="t")
    return {str(c.id): f"#{i}" for i, c in enumerate(acme.customers.create_many(rows))}


def _walk(crm: pycrm.CRM, where: dict[str, Any], order: list[str], labels: dict[str, str]) -> Any:
    acme = crm.as_user(pycrm.SYSTEM_USER, tenant="t")
    try:
        seen, cursor = [], None
        while True:
            page = acme.customers.list(where, order_by=order, limit=4, after=cursor)
            seen += [labels[str(c.id)] for c in page]
            if page.next_cursor is None:
                return seen, acme.customers.count(where)
            cursor = page.next_cursor
    except pycrm.ValidationError as error:
        return "invalid", sorted(path for path, _ in error.errors)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=customers, where=wheres, order=orders)
def test_memory_and_sqlite_list_the_same(rows, where, order) -> None:
    clock = pycrm.FixedClock(dt.datetime(2026, 1, 15, tzinfo=dt.UTC))
    with tempfile.TemporaryDirectory() as folder:
        answers = []
        for url in ("memory://", f"sqlite:///{Path(folder) / 'crm.db'}"):
            crm = pycrm.CRM.connect(url, clock=clock, load_entry_points=False)
            labels = _load(crm, rows)
            answers.append(_walk(crm, where, order, labels))
            crm.close()
    assert answers[0] == answers[1]
