"""Sets of texts kept by the store for a long write (an import's external ids): the same
answers on every backend, kept in the database by the SQL backend (a temporary table that
goes with its set, or with the transaction)."""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import Callable

import pytest
import sqlalchemy as sa

import pycrm
from pycrm import SYSTEM_USER
from pycrm.storage.capabilities.seen import value_set


def test_a_set_answers_what_it_held_already(
    backend_url: str, make_crm: Callable[..., pycrm.CRM], tenant: str
) -> None:
    crm = make_crm(backend_url)
    with crm.unit_of_work(tenant=tenant, user=SYSTEM_USER) as uow:
        seen, other = value_set(uow.tx), value_set(uow.tx)
        assert seen.add({"E1", "E2"}) == set()
        assert seen.add(["E2", "E3", "E3"]) == {"E2"}
        many = [f"X{i}" for i in range(1200)]  # more than a statement's worth on SQLite
        assert seen.add(many[:700]) == set()
        assert seen.add(many) == set(many[:700])
        assert seen.add({"E1", "外部编号"}) == {"E1"}
        assert other.add({"E1"}) == set()  # sets are apart
        seen.close()
        other.close()
        seen.close()  # once is enough


def test_the_sql_sets_live_in_temporary_tables_and_go(sqlite_url: str, tenant: str) -> None:
    crm = pycrm.CRM.connect(sqlite_url, load_entry_points=False)
    try:
        with crm.unit_of_work(tenant=tenant, user=SYSTEM_USER) as uow:
            kept = value_set(uow.tx)
            kept.add({"a"})
            conn = uow.tx.conn  # type: ignore[attr-defined]
            names = "SELECT name FROM sqlite_temp_master WHERE name LIKE 'pycrm_set_%'"
            assert len(conn.exec_driver_sql(names).all()) == 1
            kept.close()
            assert conn.exec_driver_sql(names).all() == []
        with pytest.raises(RuntimeError), crm.unit_of_work(tenant=tenant, user=SYSTEM_USER) as uow:
            value_set(uow.tx).add({"b"})
            raise RuntimeError("given up")  # the rollback takes the table away
        with crm.unit_of_work(tenant=tenant, user=SYSTEM_USER) as uow:
            conn = uow.tx.conn  # type: ignore[attr-defined]
            assert conn.exec_driver_sql(names).all() == []
    finally:
        crm.close()


def test_an_import_without_external_ids_makes_no_table(sqlite_url: str, tenant: str) -> None:
    crm = pycrm.CRM.connect(sqlite_url, load_entry_points=False)
    made: list[str] = []
    sa.event.listen(
        crm.storage.engine,  # type: ignore[attr-defined]
        "before_cursor_execute",
        lambda conn, cursor, statement, *more: made.append(statement),
    )
    try:
        report = crm.as_user(SYSTEM_USER, tenant=tenant).imports.run(
            "customer", io.StringIO("名称,电话\n甲,010-6552 9988\n乙,\n")
        )
        assert report.created == 2
        assert not [s for s in made if "TEMPORARY" in s]
    finally:
        crm.close()


@pytest.mark.postgres
def test_a_role_that_may_not_make_temporary_tables_keeps_the_set_in_memory(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Without the TEMPORARY privilege the import still runs (and says why it keeps the
    ids in memory); the refusal does not break its transaction."""
    base = sa.make_url(postgres_url)
    name, role = f"{base.database}_notemp", f"notemp_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        conn.exec_driver_sql(f'CREATE ROLE "{role}" LOGIN')
        conn.exec_driver_sql(f'REVOKE TEMPORARY ON DATABASE "{name}" FROM PUBLIC')
        conn.exec_driver_sql(f'GRANT CREATE ON DATABASE "{name}" TO "{role}"')
    owner_url = base.set(database=name).render_as_string(hide_password=False)
    role_url = base.set(database=name, username=role).render_as_string(hide_password=False)
    try:
        pycrm.CRM.connect(owner_url, load_entry_points=False, migrate=True).close()
        with sa.create_engine(owner_url).begin() as conn:
            conn.exec_driver_sql(f'GRANT ALL ON ALL TABLES IN SCHEMA public TO "{role}"')
        crm = pycrm.CRM.connect(role_url, load_entry_points=False)
        try:
            with caplog.at_level(logging.WARNING, logger="pycrm.storage.sqlalchemy.seen"):
                report = crm.as_user(SYSTEM_USER, tenant="t").imports.run(
                    "customer", io.StringIO("名称,外部编号\n甲,E1\n乙,E2\n丙,E1\n"), mode="skip"
                )
            assert (report.created, report.skipped) == (2, 1)
            assert "permission denied" in caplog.text
        finally:
            crm.close()
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{role}"')
        admin.dispose()
