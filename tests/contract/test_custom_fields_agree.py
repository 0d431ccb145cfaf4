"""Property: the memory backend and SQLite give the same answers to custom field lists."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pycrm

OPS = ["", "__ne", "__lt", "__lte", "__gt", "__gte"]
rates = st.decimals(min_value=-1000, max_value=1000, places=2, allow_nan=False)
values = st.lists(st.one_of(st.none(), rates), min_size=1, max_size=12)


def _crm(url: str) -> pycrm.CRM:
    crm = pycrm.CRM(url, load_entry_points=False)
    crm.fields.define("customer", "rate", "decimal", label="Rate")
    crm.fields.define("customer", "code", "text", label="Code")
    return crm


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[pycrm.CRM, pycrm.CRM]]:
    folder: Path = tmp_path_factory.mktemp("agree")
    memory, sqlite = _crm("memory://"), _crm(f"sqlite:///{folder / 'crm.db'}")
    yield memory, sqlite
    memory.close()
    sqlite.close()


def _answers(crm: pycrm.CRM, tenant: str, rows, where, order_by) -> tuple[list[str], int]:
    with crm.unit_of_work(tenant=tenant) as uow:
        uow.customers.create_many(rows)
        listed = [c.name for c in uow.customers.list(where, order_by=order_by, limit=100)]
        return listed, uow.customers.count(where)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(values=values, op=st.sampled_from(OPS), bound=rates, descending=st.booleans())
def test_decimal_filters_and_orders_agree(pair, values, op, bound, descending):
    rows = [
        {"name": f"c{i:02d}", "custom": {} if v is None else {"rate": v, "code": f"K{v}"}}
        for i, v in enumerate(values)
    ]
    where = {f"custom.rate{op}": bound}
    order_by = ["-custom.rate" if descending else "custom.rate", "-custom.code"]
    tenant = uuid.uuid4().hex
    memory, sqlite = (_answers(crm, tenant, rows, where, order_by) for crm in pair)
    assert memory == sqlite
    expected = {
        f"c{i:02d}"
        for i, v in enumerate(values)
        if {"": v == bound, "__ne": v != bound, "__lt": v is not None and v < bound,
            "__lte": v is not None and v <= bound, "__gt": v is not None and v > bound,
            "__gte": v is not None and v >= bound}[op]
    }  # fmt: skip
    assert set(memory[0]) == expected and memory[1] == len(expected)
