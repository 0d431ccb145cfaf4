"""A CRM per built-in backend: memory, SQLite, and PostgreSQL when a server is given."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import pycrm

SETTINGS = pycrm.Settings(reporting_currency="CNY", exchange_rates={"USD/CNY": Decimal("7")})
BACKENDS = ["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture
def tenant() -> str:
    # A fresh tenant per test lets the PostgreSQL tests share one database.
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=BACKENDS)
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "memory":
        return "memory://"
    if request.param == "sqlite":
        url: str = request.getfixturevalue("sqlite_url")
        return url
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of this test's own (not migrated; its planner statistics are of
    its own rows): a new SQLite file, or a new database on the PostgreSQL server that is
    dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    base = sa.make_url(request.getfixturevalue("postgres_url"))
    name = f"{base.database}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield base.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture
def make_crm(clock: pycrm.FixedClock) -> Iterator[Callable[..., pycrm.CRM]]:
    made: list[pycrm.CRM] = []

    def make(url: str, **options: Any) -> pycrm.CRM:
        options.setdefault("settings", SETTINGS)
        settings: pycrm.Settings = options.pop("settings")
        if url.startswith("postgresql"):
            settings = settings.model_copy(update={"auto_migrate": True})
        options.setdefault("clock", clock)
        crm = pycrm.CRM.connect(url, settings=settings, load_entry_points=False, **options)
        made.append(crm)
        return crm

    yield make
    for crm in made:
        crm.close()


@pytest.fixture
def any_crm(backend_url: str, make_crm: Callable[..., pycrm.CRM]) -> pycrm.CRM:
    return make_crm(backend_url)
