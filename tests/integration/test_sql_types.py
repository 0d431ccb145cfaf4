"""pycrm's column types read back exactly what was written, through their fast SQLite
readers, and what other tools wrote in the formats SQLite keeps."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from pycrm.storage.sqlalchemy.backend import _make_engine
from pycrm.storage.sqlalchemy.types import JSONData, UTCDateTime, Uuid, json_from_text

METADATA = sa.MetaData()
ROWS = sa.Table(
    "rows",
    METADATA,
    sa.Column("n", sa.Integer, primary_key=True),
    sa.Column("at", UTCDateTime),
    sa.Column("data", JSONData),
    sa.Column("ref", Uuid),
)


@pytest.fixture(scope="module")
def engine() -> Iterator[sa.Engine]:
    made = _make_engine("sqlite://", None)
    METADATA.create_all(made)
    yield made
    made.dispose()


def _round_trip(engine: sa.Engine, **values: Any) -> sa.Row[Any]:
    with engine.begin() as conn:
        conn.execute(ROWS.delete())
        conn.execute(ROWS.insert(), [{"n": 1, **values}])
        return conn.execute(sa.select(ROWS)).one()


zones = st.sampled_from(
    [dt.UTC, dt.timezone(dt.timedelta(hours=8)), dt.timezone(-dt.timedelta(hours=5, minutes=30))]
)
times = st.datetimes(
    min_value=dt.datetime(1900, 1, 2), max_value=dt.datetime(9999, 12, 30), timezones=zones
)
values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(at=times, data=values, ref=st.uuids())
def test_what_is_written_is_read_back(
    engine: sa.Engine, at: dt.datetime, data: Any, ref: uuid.UUID
) -> None:
    row = _round_trip(engine, at=at, data=data, ref=ref)
    assert row.at == at and row.at.tzinfo is dt.UTC
    assert row.data == data
    assert row.ref == ref and isinstance(row.ref, uuid.UUID)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-30 14:15:07.000000", dt.datetime(2026, 11, 30, 14, 15, 7, tzinfo=dt.UTC)),
        ("2026-11-30 14:15:07", dt.datetime(2026, 11, 30, 14, 15, 7, tzinfo=dt.UTC)),
        ("2026-11-30T14:15:07.5", dt.datetime(2026, 11, 30, 14, 15, 7, 500000, tzinfo=dt.UTC)),
        ("2026-11-30 22:15:07+08:00", dt.datetime(2026, 11, 30, 14, 15, 7, tzinfo=dt.UTC)),
        ("2026-11-30", dt.datetime(2026, 11, 30, tzinfo=dt.UTC)),
    ],
)
def test_times_other_tools_wrote_are_read_as_utc(
    engine: sa.Engine, text: str, expected: dt.datetime
) -> None:
    with engine.begin() as conn:
        conn.execute(ROWS.delete())
        conn.exec_driver_sql("INSERT INTO rows (n, at) VALUES (1, ?)", (text,))
        found = conn.execute(sa.select(ROWS.c.at)).scalar_one()
    assert found == expected and found.tzinfo is dt.UTC


def test_a_time_sqlite_cannot_read_is_an_error_not_a_wrong_value(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(ROWS.delete())
        conn.exec_driver_sql("INSERT INTO rows (n, at) VALUES (1, 'yesterday')")
        with pytest.raises(ValueError):
            conn.execute(sa.select(ROWS.c.at)).scalar_one()


@given(values)
def test_the_json_reader_reads_what_json_reads(value: Any) -> None:
    text = json.dumps(value)
    assert json_from_text(text) == json.loads(text)


def test_empty_objects_read_are_new_each_time() -> None:
    first, second = json_from_text("{}"), json_from_text("{}")
    first["key"] = 1
    assert second == {} and json_from_text("[]") is not json_from_text("[]")


@pytest.mark.postgres
@pytest.mark.parametrize("zone", ["Etc/UTC", "UTC", "Asia/Shanghai", "America/New_York"])
def test_times_read_from_postgresql_are_utc_whatever_the_sessions_zone(
    postgres_url: str, zone: str
) -> None:
    engine = _make_engine(postgres_url, {"connect_args": {"options": f"-c timezone={zone}"}})
    table = sa.Table(f"times_{uuid.uuid4().hex[:8]}", sa.MetaData(), sa.Column("at", UTCDateTime))
    written = [
        dt.datetime(2026, 11, 30, 14, 15, 7, 123456, tzinfo=dt.UTC),
        dt.datetime(2026, 7, 1, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=8))),
    ]
    try:
        with engine.begin() as conn:
            table.create(conn)
            conn.execute(table.insert(), [{"at": at} for at in written])
            read = conn.execute(sa.select(table.c.at)).scalars().all()
        assert sorted(read) == sorted(written)
        assert all(at.tzinfo is dt.UTC for at in read)
    finally:
        with engine.begin() as conn:
            table.drop(conn, checkfirst=True)
        engine.dispose()
