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


# -- id runs, JSON and COPY text of the bulk path --------------------------------------------


def test_an_id_run_is_as_many_increasing_ids_as_asked_from_one_value() -> None:
    from pycrm.core.ids import id_in_run, new_id_run

    before = new_id()
    first = new_id_run(5000)
    run = [id_in_run(first, i) for i in range(5000)]
    after = new_id()
    assert run[0] == first and run == sorted(run) and len(set(run)) == 5000
    assert before < first and run[-1] < after  # the run's stamps are reserved
    assert {i.version for i in run} == {7} and {i.variant for i in run} == {uuid.RFC_4122}
    assert all(uuid.UUID(str(i)) == i for i in (first, run[-1]))


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(_JSON)
def test_json_text_is_json_dumps_to_the_character(value: object) -> None:
    import json

    from pycrm.storage.sqlalchemy.bulk import json_text

    assert json_text(value) == json.dumps(value)


def _copy_fields(line: str) -> list[str | None]:
    """One line of COPY's text format read back as PostgreSQL reads it."""
    fields: list[str | None] = []
    for raw in line.split("\t"):
        if raw == "\\N":
            fields.append(None)
            continue
        out, chars = [], iter(raw)
        for char in chars:
            if char == "\\":
                escaped = next(chars)
                out.append({"t": "\t", "n": "\n", "r": "\r"}.get(escaped, escaped))
            else:
                out.append(char)
        fields.append("".join(out))
    return fields


@given(st.lists(st.none() | st.text(alphabet=st.characters(blacklist_characters="\x00"))))
def test_copy_text_reads_back_as_the_values_written(values: list[str | None]) -> None:
    from pycrm.storage.sqlalchemy.bulk import _escaped

    texts = _escaped(values)
    assert all("\t" not in t and "\n" not in t and "\r" not in t for t in texts)
    assert _copy_fields("\t".join(texts)) == values if values else texts == []
