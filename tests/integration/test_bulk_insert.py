"""The bulk INSERT path stores exactly what SQLAlchemy Core's executemany stores."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

import pycrm
from pycrm.core.audit import ChangeAction
from pycrm.core.customers import Customer, CustomerSource
from pycrm.core.ids import new_id
from pycrm.core.money import Money
from pycrm.core.orders import Order, OrderLine
from pycrm.core.records import Record
from pycrm.services.auditing import creations
from pycrm.storage.sqlalchemy import SqlBackend
from pycrm.storage.sqlalchemy.bulk import bulk_insert
from pycrm.storage.sqlalchemy.mapping import entity_mapper
from pycrm.storage.sqlalchemy.tables import table_for

NOW = dt.datetime(2026, 1, 15, 9, 0, tzinfo=dt.UTC)
USER = new_id()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlBackend]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'bulk.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    backend = SqlBackend(url, auto_migrate=True)
    yield backend
    backend.close()


@pytest.fixture
def engine(backend: SqlBackend) -> sa.Engine:
    return backend.engine


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


# -- COPY (PostgreSQL) and executemany (SQLite) alike --------------------------------------

#: Text COPY's special characters, quotes, characters beyond ASCII, and emptiness.
TRICKY = ["a\tb", "c\nd", "e\\f", "g\rh", "\\N", "'\"", "北京\t联成", "😀", "", " "]


def _tricky_customers(tenant: str) -> list[Customer]:
    return [
        Customer(
            tenant=tenant,
            name=text or "-",
            phone=text,
            owner_id=USER,
            created_by=USER,
            updated_by=USER,
            created_at=NOW,
            updated_at=NOW,
            tags=[text, "\\", "\t"],
            custom={"note": text, "nested": {"k": [text, None, 1.5, True]}} if i % 2 else {},
        )
        for i, text in enumerate(TRICKY)
    ]


def test_bulk_insert_keeps_every_character_as_core_does(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        table = _insert_both_ways(conn, _tricky_customers("core"), _tricky_customers("bulk"))
        stored = _stored(conn, table, "bulk")
        assert stored == _stored(conn, table, "core")
        assert sorted(r["phone"] for r in stored) == sorted(TRICKY)
        conn.rollback()


def _many_customers(tenant: str, count: int) -> list[Customer]:
    return [
        Customer(tenant=tenant, name=f"客户 {i}", phone="13800138000", owner_id=USER)
        for i in range(count)
    ]


def test_a_duplicate_in_a_bulk_insert_is_a_conflict_that_names_no_value(
    backend: SqlBackend, tenant: str
) -> None:
    """A duplicate key inside a big insert (a COPY on PostgreSQL, in its third chunk):
    ConflictError, no value of any row in the message, and nothing written."""
    records = _many_customers(tenant, 5000)
    records[4321].id = records[10].id  # the same primary key twice
    tx = backend.begin()
    try:
        with pytest.raises(pycrm.ConflictError) as caught:
            tx.insert(records)
    finally:
        tx.rollback()
    message = str(caught.value)
    for value in (records[10].id, records[10].id.hex, "客户", "13800138000", tenant):
        assert str(value) not in message
    assert "cannot insert customer records" in message
    with backend.engine.connect() as conn:
        assert _stored(conn, table_for("customer"), tenant) == []


def test_a_duplicate_the_database_finds_mid_import_leaves_nothing(
    backend: SqlBackend, tenant: str
) -> None:
    """A unique index of the host's on customers' phones, and a 4,500-row import whose row
    3,210 repeats row 5's phone: the database refuses it in the second batch (a COPY on
    PostgreSQL), after the first was written. ConflictError, no value in the message, and
    nothing of the import left."""
    index = _phone_index(backend, tenant)
    index.create(backend.engine)
    url = backend.engine.url.render_as_string(hide_password=False)
    crm = pycrm.CRM.connect(url, load_entry_points=False, migrate=True)
    try:
        rows = [{"name": f"客户 {i}", "phone": f"1380013{i:04d}"} for i in range(4500)]
        rows[3210]["phone"] = rows[5]["phone"]
        people = crm.as_user(pycrm.SYSTEM_USER, tenant=tenant).customers
        with pytest.raises(pycrm.ConflictError) as caught:
            people.import_many(rows)
        assert "13800130005" not in str(caught.value) and "客户" not in str(caught.value)
        assert people.count(deleted=None) == 0
    finally:
        crm.close()
        index.drop(backend.engine)


# -- the audit trail of bulk creates -------------------------------------------------------


def _expected_create(record: Record) -> dict[str, object]:
    """What a single create's audit lists of ``record``: each field with a value."""
    ((_, _, fields),) = creations([record])
    return {f.field: f.new for f in fields}


def test_every_bulk_created_record_has_its_create_change(
    make_crm: Callable[..., pycrm.CRM], backend_url: str, tenant: str
) -> None:
    crm = make_crm(backend_url)
    crm.fields.define("customer", "tier", "integer", label="Tier")
    crm.fields.define("customer", "budget", "money", label="Budget")
    crm.fields.define("customer", "since", "date", label="Since")
    rows: list[dict[str, object]] = [
        {
            "name": f"客户 {i:04d}",
            "level": "ABC"[i % 3] if i % 4 else None,
            "tags": ["重点"] * (i % 3),
        }
        for i in range(4500)
    ]
    for i in range(0, 4500, 7):
        rows[i]["custom"] = {"tier": i, "budget": {"amount": f"{i}.50", "currency": "CNY"}}
    rows[2000]["custom"] = {"since": "2026-01-02", "tier": 0}
    with crm.unit_of_work(tenant=tenant, user=pycrm.SYSTEM_USER) as uow:
        created = uow.customers.create_many(rows)
        uow.customers.update(created[2001].id, name="改名")
    picked = [0, 1, 7, 1999, 2000, 2001, 2002, 3999, 4000, 4494, 4499]
    with crm.unit_of_work(tenant=tenant, user=pycrm.SYSTEM_USER) as uow:
        histories = {i: uow.customers.history(created[i].id) for i in picked}
    ids = set()
    for i, history in histories.items():
        change = history[0]
        assert (change.action, change.version, change.user_id) == (
            ChangeAction.CREATE,
            1,
            pycrm.SYSTEM_USER,
        )
        assert change.record_id == created[i].id and change.entity == "customer"
        assert {f.field: f.new for f in change.fields} == _expected_create(created[i])
        assert all(f.old is None for f in change.fields)
        ids.add(change.id)
    assert len(ids) == len(picked)  # each record's change has an id of its own
    assert [c.action for c in histories[2001]] == [ChangeAction.CREATE, ChangeAction.UPDATE]
    assert {f.field: f.new for f in histories[2000][0].fields}["custom.since"] == "2026-01-02"
    assert "custom.tier" in {f.field for f in histories[2000][0].fields}  # 0 is a value


def test_a_record_s_bulk_create_change_is_found_by_its_index(backend: SqlBackend) -> None:
    """The look-up of one record's batch goes through the primary key of the index rows."""
    from pycrm.storage.sqlalchemy.audit import _created_query

    stmt = _created_query(backend.tables, backend.name)
    params = {"tenant": "t", "entity": "customer", "record_id": new_id()}
    with backend.engine.connect() as conn:
        if backend.name == "sqlite":
            compiled = stmt.compile(conn)
            bound = {**compiled.construct_params(params), "record_id": new_id().hex}
            values = tuple(bound[key] for key in compiled.positiontup or ())
            plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", values).all()
            text = " ".join(str(row[-1]) for row in plan)
            assert "pycrm_change_batch_records USING PRIMARY KEY" in text, text
        else:
            conn.exec_driver_sql("SET enable_seqscan = off")  # a tiny table: make it choose
            compiled = stmt.compile(conn)
            plan = conn.exec_driver_sql(f"EXPLAIN {compiled}", compiled.construct_params(params))
            text = " ".join(str(row[0]) for row in plan.all())
            assert "pk_pycrm_change_batch_records" in text, text


# -- a batch written while the next is prepared (PostgreSQL) -------------------------------


def _crm_on(backend: SqlBackend) -> pycrm.CRM:
    url = backend.engine.url.render_as_string(hide_password=False)
    return pycrm.CRM.connect(url, load_entry_points=False, migrate=True)


def _phone_index(backend: SqlBackend, tenant: str) -> sa.Index:
    table = backend.tables.table("customer")
    where = table.c.tenant == tenant
    name = f"uq_test_phone_{tenant.replace('-', '_')}"
    index = sa.Index(name, table.c.phone, unique=True, sqlite_where=where, postgresql_where=where)
    table.indexes.discard(index)  # in the database only: the shared table definitions keep none
    return index


def test_a_duplicate_in_the_last_batch_is_found_before_the_call_returns(
    backend: SqlBackend, tenant: str
) -> None:
    """The last batch's rows may still be on their way when its call would return: the
    call waits for them, and a caught failure leaves the unit of work as it was."""
    index = _phone_index(backend, tenant)
    index.create(backend.engine)
    crm = _crm_on(backend)
    try:
        rows = [{"name": f"客户 {i}", "phone": f"1380013{i:04d}"} for i in range(4500)]
        rows[4400]["phone"] = rows[4399]["phone"]
        with crm.unit_of_work(tenant=tenant, user=pycrm.SYSTEM_USER) as uow:
            kept = uow.customers.create(name="留下", phone="13900000000")
            with pytest.raises(pycrm.ConflictError) as caught:
                uow.customers.import_many(rows)
            assert "13800134399" not in str(caught.value)
            assert uow.customers.count() == 1  # nothing of the import, the rest intact
            uow.customers.create(name="之后", phone="13900000001")
        people = crm.as_user(pycrm.SYSTEM_USER, tenant=tenant).customers
        assert sorted(c.name for c in people.list()) == ["之后", "留下"]
        assert len(people.history(kept.id)) == 1
    finally:
        crm.close()
        index.drop(backend.engine)


def test_a_bad_row_while_a_batch_is_being_written_writes_nothing(
    backend: SqlBackend, tenant: str
) -> None:
    crm = _crm_on(backend)
    rows = [{"name": f"客户 {i}"} for i in range(4500)]
    rows[2500]["name"] = ""
    people = crm.as_user(pycrm.SYSTEM_USER, tenant=tenant).customers
    with pytest.raises(pycrm.ValidationError) as caught:
        people.import_many(rows)
    assert [path for path, _ in caught.value.errors] == ["2500.name"]
    assert people.count(deleted=None) == 0
    crm.close()


def test_an_import_may_read_its_rows_from_a_stream_of_the_same_unit_of_work(
    backend: SqlBackend, tenant: str
) -> None:
    """The rows come from a cursor on the very connection the import writes on: the store
    has finished writing whenever the next rows are read."""
    crm = _crm_on(backend)
    with crm.unit_of_work(tenant=tenant, user=pycrm.SYSTEM_USER) as uow:
        uow.customers.import_many({"name": f"源 {i}", "level": "A"} for i in range(4500))
    with crm.unit_of_work(tenant=tenant, user=pycrm.SYSTEM_USER) as uow:
        source = uow.customers.stream({"level": "A"}, batch_size=700)
        copied = uow.customers.import_many({"name": f"副本 {c.name}"} for c in source)
        assert copied == 4500
    people = crm.as_user(pycrm.SYSTEM_USER, tenant=tenant).customers
    assert people.count() == 9000 and people.count({"level": "A"}) == 4500
    crm.close()
