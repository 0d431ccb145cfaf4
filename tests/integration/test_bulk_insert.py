"""The bulk INSERT path stores exactly what SQLAlchemy Core's executemany stores."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from pycrm.core.customers import Customer, CustomerSource
from pycrm.core.ids import new_id
from pycrm.core.money import Money
from pycrm.core.orders import Order, OrderLine
from pycrm.core.records import Record
from pycrm.storage.sqlalchemy import SqlBackend
from pycrm.storage.sqlalchemy.bulk import bulk_insert
from pycrm.storage.sqlalchemy.mapping import entity_mapper
from pycrm.storage.sqlalchemy.tables import table_for

NOW = dt.datetime(2026, 1, 15, 9, 0, tzinfo=dt.UTC)
USER = new_id()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'bulk.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    backend = SqlBackend(url, auto_migrate=True)
    yield backend.engine
    backend.close()


def _customers(tenant: str) -> list[Customer]:
    user = USER
    shanghai = dt.timezone(dt.timedelta(hours=8))
    return [
        Customer(
            tenant=tenant,
            name=f"北京联成 {i}",
            owner_id=user,
            created_by=user,
            updated_by=user,
            created_at=NOW,
            updated_at=NOW.astimezone(shanghai) if i == 2 else NOW,
            source=CustomerSource.WEB if i % 2 else None,
            tags=["重点客户"] * i,
            custom={"n": i} if i else {},
        )
        for i in range(5)
    ]


def _stored(conn: sa.Connection, table: sa.Table, tenant: str) -> list[dict[str, object]]:
    rows = conn.execute(sa.select(table).where(table.c.tenant == tenant).order_by(table.c.id))
    return [{k: v for k, v in row._mapping.items() if k != "tenant"} for row in rows]


def _orders(tenant: str, customer_id: uuid.UUID) -> list[Order]:
    line = OrderLine(description="广告位", quantity=Decimal(3), unit_price=Money("1000", "CNY"))
    return [
        Order(
            tenant=tenant,
            customer_id=customer_id,
            currency="CNY",
            number=f"SO-{i}",
            signed_on=dt.date(2026, 1, i + 1),
            lines=[line] * i,
        )
        for i in range(3)
    ]


def _insert_both_ways(conn: sa.Connection, core: list[Record], bulk: list[Record]) -> sa.Table:
    """``core`` through Core executemany, ``bulk`` (same ids) through the bulk path."""
    for mine, theirs in zip(bulk, core, strict=True):
        mine.id = theirs.id
    table = table_for(core[0].kind)
    mapper = entity_mapper(type(core[0]))
    conn.execute(table.insert(), mapper.rows(core))
    bulk_insert(conn, table, mapper.columns, mapper.columns_of(bulk))
    return table


def test_bulk_insert_stores_what_core_executemany_stores(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        table = _insert_both_ways(conn, _customers("core"), _customers("bulk"))
        assert _stored(conn, table, "bulk") == _stored(conn, table, "core")
        customer_id = new_id()
        for tenant in ("core", "bulk"):
            customer = Customer(id=customer_id, tenant=tenant, name="买家")
            conn.execute(table.insert(), entity_mapper(Customer).rows([customer]))
        table = _insert_both_ways(conn, _orders("core", customer_id), _orders("bulk", customer_id))
        assert _stored(conn, table, "bulk") == _stored(conn, table, "core")
        assert len(_stored(conn, table, "bulk")) == 3
        conn.rollback()


def test_bulk_insert_of_no_rows_does_nothing(engine: sa.Engine) -> None:
    table = table_for("customer")
    mapper = entity_mapper(Customer)
    with engine.begin() as conn:
        bulk_insert(conn, table, mapper.columns, mapper.columns_of([]))
        assert _stored(conn, table, "core") == []
