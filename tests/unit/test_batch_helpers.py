"""Helpers of the bulk path: batch ids, column-wise snapshots, converting distinct values once."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from pycrm.core.customers import Customer, CustomerSource
from pycrm.core.ids import new_id, new_ids
from pycrm.core.money import Money
from pycrm.core.orders import Order, OrderLine
from pycrm.core.snapshot import map_distinct, snapshot, snapshot_columns, snapshots


def test_batch_ids_are_unique_increasing_version_7_and_interleave_with_single_ids() -> None:
    ids = [new_id(), *new_ids(5000), new_id(), *new_ids(1), *new_ids(0)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids) == 5003
    assert {i.version for i in ids} == {7} and {i.variant for i in ids} == {uuid.RFC_4122}


def test_map_distinct_calls_once_per_distinct_object_and_keeps_order() -> None:
    calls: list[object] = []

    def upper(value: str) -> str:
        calls.append(value)
        return value.upper()

    shared = "".join(["a", "b"])  # one object, many times
    values = [shared] * 6 + ["c"]
    assert map_distinct(upper, values) == ["AB"] * 6 + ["C"]
    assert calls == [shared, "c"]


def test_map_distinct_tells_equal_but_different_objects_apart() -> None:
    utc = dt.datetime(2026, 1, 1, 8, tzinfo=dt.UTC)
    beijing = utc.astimezone(dt.timezone(dt.timedelta(hours=8)))
    assert utc == beijing
    values = [utc, utc, utc, beijing]
    assert map_distinct(dt.datetime.isoformat, values) == [utc.isoformat()] * 3 + [
        beijing.isoformat()
    ]


@given(st.lists(st.sampled_from([None, 1, "x", True, CustomerSource.WEB]), max_size=30))
def test_map_distinct_equals_map(values: list[object]) -> None:
    assert map_distinct(repr, values) == list(map(repr, values))


def _customers() -> list[Customer]:
    user = new_id()
    return [
        Customer(tenant="t", name="北京联成", owner_id=user, source=CustomerSource.WEB, tags=["a"]),
        Customer(tenant="t", name="上海华信", owner_id=user, level="A", custom={"n": 1}),
        Customer(tenant="t", name="深圳", deleted_at=dt.datetime(2026, 1, 2, tzinfo=dt.UTC)),
    ]


def test_snapshots_of_a_batch_equal_each_snapshot() -> None:
    customers = _customers()
    skip = frozenset({"id", "version"})
    assert snapshots(customers, skip=skip) == [snapshot(c, skip=skip) for c in customers]
    first = snapshot(customers[0])
    assert first["source"] == "web" and first["owner_id"] == str(customers[0].owner_id)
    assert first["tags"] == ["a"] and first["tags"] is not customers[0].tags
    assert snapshot(customers[2])["deleted_at"] == "2026-01-02T00:00:00+00:00"


def test_snapshot_columns_convert_money_and_children() -> None:
    line = OrderLine(description="广告位", quantity=Decimal(3), unit_price=Money("1000.00", "CNY"))
    order = Order(tenant="t", customer_id=new_id(), currency="CNY", lines=[line])
    names, columns = snapshot_columns([order], skip=frozenset({"id"}))
    lines = columns[names.index("lines")][0]
    assert lines[0]["unit_price"] == {"amount": "1000.00", "currency": "CNY"}
    assert snapshot_columns([], skip=frozenset()) == ([], [])
