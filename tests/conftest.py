"""Shared fixtures: a fixed clock, a memory-backed CRM, and database URLs for the backends."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

import pycrm
from pycrm.storage.sqlalchemy import schema

START = dt.datetime(2026, 1, 15, 9, 0, tzinfo=dt.UTC)
POSTGRES_ENV = "PYCRM_TEST_POSTGRES_URL"


@pytest.fixture
def clock() -> pycrm.FixedClock:
    return pycrm.FixedClock(START)


@pytest.fixture
def crm(clock: pycrm.FixedClock) -> Iterator[pycrm.CRM]:
    crm = pycrm.CRM.connect("memory://", clock=clock, load_entry_points=False)
    yield crm
    crm.close()


@pytest.fixture
def admin() -> uuid.UUID:
    # Tests of the domain act as the system; tests of rights create their users.
    return pycrm.SYSTEM_USER


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite database per test session, copied for each test that needs one."""
    path = tmp_path_factory.mktemp("template") / "crm.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    schema.upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    """A freshly migrated SQLite database of this test (a copy of the session's template)."""
    path = tmp_path / "crm.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test session."""
    server = os.environ.get(POSTGRES_ENV)
    if not server:
        pytest.skip(
            f"PostgreSQL tests skipped: set {POSTGRES_ENV} (scripts/test.sh starts a throwaway "
            "server when the PostgreSQL binaries are installed)"
        )
    name = f"pycrm_test_{uuid.uuid4().hex[:10]}"
    admin_engine = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin_engine.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.make_url(server).set(database=name)
    yield url.render_as_string(hide_password=False)
    with admin_engine.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin_engine.dispose()
