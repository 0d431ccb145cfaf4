"""Migration 0014 keys the match keys by what they are looked up by: the keys stored
before it are kept (once each), and likely duplicates are found the same, down and up."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command

import pycrm
from pycrm.storage.sqlalchemy import schema


def _key_rows(engine: sa.Engine, prefix: str = "pycrm_") -> list[tuple[str, ...]]:
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            f"SELECT entity, rule, {conn.dialect.identifier_preparer.quote('key')} "
            f"FROM {prefix}match_keys ORDER BY 1, 2, 3"
        ).all()
    return [tuple(row) for row in rows]


def test_keys_survive_the_migration_down_and_up(fresh_url: str) -> None:
    crm = pycrm.CRM.connect(fresh_url, migrate=True, load_entry_points=False)
    api = crm.as_user(pycrm.SYSTEM_USER, tenant="t")
    first = api.customers.create(name="北京联成互动软件技术有限公司", phone="010-6552 9988")
    twin = api.customers.create(name="北京聯成互動軟件技術有限公司 ", email="a@lc.cn")
    engine = crm.storage.engine  # type: ignore[attr-defined]
    tables = crm.storage.tables  # type: ignore[attr-defined]
    before = _key_rows(engine)
    assert len(before) == 4  # two names, a phone, an e-mail
    with engine.begin() as conn:  # back to keys with ids of their own, and up again
        command.downgrade(schema.alembic_config(conn, tables), "0013")
    assert _key_rows(engine) == before
    with engine.begin() as conn:
        command.upgrade(schema.alembic_config(conn, tables), "heads")
    assert _key_rows(engine) == before
    assert [c.record_id for c in api.duplicates.of("customer", twin.id)] == [first.id]
    api.customers.update(twin.id, phone="+86 10 6552 9988")
    assert len(_key_rows(engine)) == 5
    crm.close()
