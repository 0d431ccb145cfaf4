"""The SQL schema: migrations match the tables, old schemas are refused, data stays exact."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import pycrm
from pycrm.storage.sqlalchemy import schema
from pycrm.storage.sqlalchemy.tables import metadata


def test_migrations_build_exactly_the_tables_the_code_expects(fresh_url):
    engine = sa.create_engine(fresh_url)
    schema.upgrade(engine)
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "version_table": schema.VERSION_TABLE}
        )
        assert compare_metadata(context, metadata) == []
        assert schema.current_heads(conn) == schema.expected_heads()
    engine.dispose()


def test_a_database_behind_the_code_is_refused_with_instructions(fresh_url):
    with pytest.raises(pycrm.ConfigurationError, match=r"pycrm migrate URL.*migrate=True"):
        pycrm.CRM.connect(
            fresh_url, settings=pycrm.Settings(auto_migrate=False), load_entry_points=False
        )
    crm = pycrm.CRM.connect(
        fresh_url, settings=pycrm.Settings(auto_migrate=True), load_entry_points=False
    )
    crm.close()
    reopened = pycrm.CRM.connect(
        fresh_url, settings=pycrm.Settings(auto_migrate=False), load_entry_points=False
    )
    reopened.migrate()  # nothing to do, no error
    reopened.close()


def test_the_version_table_is_pycrms_own(tmp_path):
    url = f"sqlite:///{tmp_path / 'own.db'}"
    pycrm.CRM.connect(url, load_entry_points=False).close()
    names = sa.inspect(sa.create_engine(url)).get_table_names()
    assert "pycrm_alembic_version" in names and "alembic_version" not in names


def test_money_is_stored_as_integer_minor_units_and_times_as_utc(fresh_url):
    crm = pycrm.CRM.connect(
        fresh_url, settings=pycrm.Settings(auto_migrate=True), load_entry_points=False
    )
    shanghai = dt.timezone(dt.timedelta(hours=8))
    with crm.unit_of_work(tenant="t", user=pycrm.SYSTEM_USER) as uow:
        customer = uow.customers.create(name="甲")
        deal = uow.opportunities.create(
            customer_id=customer.id, name="d", amount=pycrm.Money("1234567890123.45", "CNY")
        )
        task = uow.activities.create(
            type="call", subject="回访", due_at=dt.datetime(2026, 5, 1, 9, 30, tzinfo=shanghai)
        )
    engine = sa.create_engine(fresh_url)
    with engine.connect() as conn:
        minor, currency = conn.execute(
            sa.text(
                "SELECT amount_minor, amount_currency FROM pycrm_opportunities WHERE tenant = 't'"
            )
        ).one()
    engine.dispose()
    assert (minor, currency) == (123456789012345, "CNY")
    loaded = crm.as_user(pycrm.SYSTEM_USER, tenant="t")
    assert loaded.opportunities.get(deal.id).amount == pycrm.Money("1234567890123.45", "CNY")
    due = loaded.activities.get(task.id).due_at
    assert due == dt.datetime(2026, 5, 1, 1, 30, tzinfo=dt.UTC) and due.utcoffset() == dt.timedelta(
        0
    )
    crm.close()


def test_driver_failures_become_storage_errors(tmp_path):
    with pytest.raises(pycrm.StorageError):
        pycrm.CRM.connect(f"sqlite:///{tmp_path}/missing/dir/x.db", load_entry_points=False)
