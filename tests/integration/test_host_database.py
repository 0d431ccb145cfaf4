"""pycrm inside a host application's database: its own tables beside pycrm's, its engine,
its transactions and its alembic history (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

import pycrm
from pycrm.embedding import include_object
from pycrm.storage.sqlalchemy import schema


class Base(DeclarativeBase):
    pass


class HostUser(Base):
    """The host application's own ``users`` (pycrm 0.1 clashed with exactly this)."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(200), unique=True)


class Signup(Base):
    __tablename__ = "signups"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True))


@pytest.fixture
def host_engine(fresh_url: str) -> Any:
    engine = sa.create_engine(fresh_url)
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


def _crm(engine: sa.Engine, **settings: Any) -> pycrm.CRM:
    return pycrm.CRM.connect(
        engine, settings=pycrm.Settings(**settings), migrate=True, load_entry_points=False
    )


def _customers(crm: pycrm.CRM) -> int:
    return crm.as_user(pycrm.SYSTEM_USER, tenant="t").customers.count()


def _host_users(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(HostUser)).scalar_one())


def test_pycrm_migrates_beside_a_host_users_table_and_both_work(host_engine: sa.Engine):
    crm = _crm(host_engine)
    with crm.unit_of_work(user=pycrm.SYSTEM_USER, tenant="t") as uow:
        uow.users.create(name="王芳", roles=["sales_rep"])
    with Session(host_engine) as session:
        session.add(HostUser(email="a@example.com"))
        session.commit()
    names = set(sa.inspect(host_engine).get_table_names())
    assert {"users", "signups", "pycrm_users", "pycrm_customers"} <= names
    assert _host_users(host_engine) == 1
    crm.close()
    with host_engine.connect() as conn:  # the host's engine outlives the CRM
        conn.execute(sa.select(1))


def test_the_crm_uses_the_host_engine_and_its_pool(host_engine: sa.Engine):
    crm = _crm(host_engine)
    assert crm.storage.engine is host_engine  # type: ignore[attr-defined]
    assert crm.metadata is not None and "pycrm_customers" in crm.metadata.tables
    crm.close()


def test_migrations_under_a_prefix_build_exactly_the_tables_the_code_expects(fresh_url: str):
    crm = pycrm.CRM.connect(
        fresh_url,
        settings=pycrm.Settings(table_prefix="crm_"),
        migrate=True,
        load_entry_points=False,
    )
    engine: sa.Engine = crm.storage.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "version_table": "crm_alembic_version"}
        )
        assert crm.metadata is not None
        assert compare_metadata(context, crm.metadata) == []
    names = set(sa.inspect(engine).get_table_names())
    assert "crm_customers" in names and "pycrm_customers" not in names
    indexes = {i["name"] for i in sa.inspect(engine).get_indexes("crm_users")}
    assert "ix_crm_users_email" in indexes
    with crm.unit_of_work(user=pycrm.SYSTEM_USER, tenant="t") as uow:
        uow.customers.create(name="甲")
    assert _customers(crm) == 1
    crm.close()


@pytest.mark.postgres
def test_a_postgresql_schema_of_its_own(postgres_url: str, tenant: str):
    name = f"crm_{tenant.replace('-', '_')}"
    settings = pycrm.Settings(postgresql_schema=name, table_prefix="")
    crm = pycrm.CRM.connect(postgres_url, settings=settings, migrate=True, load_entry_points=False)
    engine: sa.Engine = crm.storage.engine  # type: ignore[attr-defined]
    try:
        with crm.unit_of_work(user=pycrm.SYSTEM_USER, tenant="t") as uow:
            uow.customers.create(name="甲")
        assert _customers(crm) == 1
        inspector = sa.inspect(engine)
        assert {"customers", "users", "pycrm_alembic_version"} <= set(
            inspector.get_table_names(name)
        )
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "include_schemas": True,
                    "version_table": "pycrm_alembic_version",
                    "version_table_schema": name,
                    "include_name": lambda n, type_, parent: type_ != "schema" or n == name,
                },
            )
            assert crm.metadata is not None
            assert compare_metadata(context, crm.metadata) == []
            # The migration left the connection's search path as it was.
            assert name not in conn.exec_driver_sql("SHOW search_path").scalar_one()
        reopened = pycrm.CRM.connect(postgres_url, settings=settings, load_entry_points=False)
        assert _customers(reopened) == 1
        reopened.close()
    finally:
        crm.close()
        with sa.create_engine(postgres_url).begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{name}" CASCADE')


def test_a_schema_is_refused_on_sqlite(tmp_path):
    with pytest.raises(pycrm.ConfigurationError, match="needs PostgreSQL"):
        pycrm.CRM.connect(
            f"sqlite:///{tmp_path / 'x.db'}",
            settings=pycrm.Settings(postgresql_schema="crm"),
            load_entry_points=False,
        )


@pytest.mark.parametrize("prefix", ["Crm_", "1crm_", "crm-", "crm; drop", "x" * 21])
def test_a_bad_prefix_is_refused(prefix: str):
    with pytest.raises(pycrm.ValidationError, match="table_prefix"):
        pycrm.Settings(table_prefix=prefix)


def test_a_database_of_pycrm_0_1_is_named_not_half_used(fresh_url: str):
    old = pycrm.Settings(table_prefix="")
    pycrm.CRM.connect(fresh_url, settings=old, migrate=True, load_entry_points=False).close()
    with pytest.raises(pycrm.ConfigurationError, match=r"table_prefix=''"):
        pycrm.CRM.connect(fresh_url, migrate=True, load_entry_points=False)
    again = pycrm.CRM.connect(fresh_url, settings=old, load_entry_points=False)
    assert _customers(again) == 0
    again.close()


def test_host_autogenerate_proposes_nothing_for_pycrm(host_engine: sa.Engine):
    _crm(host_engine).close()
    with host_engine.connect() as conn:
        plain = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(plain, Base.metadata)  # without the recipe: drops proposed
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": include_object()}
        )
        assert compare_metadata(context, Base.metadata) == []


def test_a_first_run_names_a_command_that_works(fresh_url: str):
    if fresh_url.startswith("sqlite"):
        pytest.skip("SQLite databases are migrated on first use")
    with pytest.raises(pycrm.ConfigurationError) as refused:
        pycrm.CRM.connect(fresh_url, load_entry_points=False)
    assert "pycrm migrate URL" in str(refused.value) and "migrate=True" in str(refused.value)
    crm = pycrm.CRM.connect(fresh_url, migrate=True, load_entry_points=False)
    assert _customers(crm) == 0
    crm.close()


def test_a_missing_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(__import__("sys").modules, "psycopg", None)
    with pytest.raises(pycrm.ConfigurationError, match=r"pycrm-embedded\[postgresql\]"):
        pycrm.CRM.connect("postgresql://u@localhost/db", load_entry_points=False)


# -- one transaction with the host -----------------------------------------------------------
class Recorder:
    def __init__(self) -> None:
        self.events: list[pycrm.Event] = []

    @pycrm.hookimpl
    def pycrm_on_event(self, event: pycrm.Event, crm: pycrm.CRM) -> None:
        self.events.append(event)


def _crm_with(engine: sa.Engine, recorder: Recorder) -> pycrm.CRM:
    return pycrm.CRM.connect(engine, plugins=[recorder], migrate=True, load_entry_points=False)


@pytest.mark.parametrize("outcome", ["commit", "rollback"])
def test_host_row_and_pycrm_rows_commit_or_roll_back_together(host_engine: sa.Engine, outcome: str):
    recorder = Recorder()
    crm = _crm_with(host_engine, recorder)
    with host_engine.connect() as conn:
        trans = conn.begin()
        conn.execute(sa.insert(HostUser).values(email="host@example.com"))
        with crm.unit_of_work(user=pycrm.SYSTEM_USER, tenant="t", connection=conn) as uow:
            uow.customers.create(name="甲")
            uow.customers.create(name="乙")
        assert recorder.events == []  # nothing is final until the host commits
        getattr(trans, outcome)()
    expected = 1 if outcome == "commit" else 0
    assert _host_users(host_engine) == expected and _customers(crm) == 2 * expected
    crm.close()


def test_a_failure_in_the_host_after_pycrm_rolls_both_back(host_engine: sa.Engine):
    crm = _crm(host_engine)
    with pytest.raises(RuntimeError), host_engine.begin() as conn:
        conn.execute(sa.insert(HostUser).values(email="host@example.com"))
        with crm.unit_of_work(user=pycrm.SYSTEM_USER, tenant="t", connection=conn) as uow:
            uow.customers.create(name="甲")
        raise RuntimeError("the host's next step failed")
    assert _host_users(host_engine) == 0 and _customers(crm) == 0
    crm.close()


def test_a_failure_in_pycrm_undoes_only_its_own_part_and_the_host_decides(
    host_engine: sa.Engine,
):
    crm = _crm(host_engine)
    with host_engine.begin() as conn:
        conn.execute(sa.insert(HostUser).values(email="host@example.com"))
        with (
            pytest.raises(pycrm.ValidationError),
            crm.unit_of_work(user=pycrm.SYSTEM_USER, tenant="t", connection=conn) as uow,
        ):
            uow.customers.create(name="甲")
            uow.customers.create(name="")
    assert _host_users(host_engine) == 1 and _customers(crm) == 0
    crm.close()


@pytest.mark.parametrize("outcome", ["commit", "rollback"])
def test_a_host_session_shares_the_transaction_and_events_follow_its_commit(
    host_engine: sa.Engine, outcome: str
):
    recorder = Recorder()
    crm = _crm_with(host_engine, recorder)
    with Session(host_engine) as session:
        session.add(HostUser(email="host@example.com"))
        session.flush()  # the host's row is written first, in the same transaction
        with crm.unit_of_work(user=pycrm.SYSTEM_USER, tenant="t", connection=session) as uow:
            uow.customers.create(name="甲")
        assert recorder.events == []
        getattr(session, outcome)()
        session.add(Signup(at=dt.datetime.now(dt.UTC)))
        session.commit()  # a later commit of the session delivers nothing more
    expected = 1 if outcome == "commit" else 0
    assert _host_users(host_engine) == expected and _customers(crm) == expected
    assert [type(e).__name__ for e in recorder.events] == ["RecordCreated"] * expected
    crm.close()


def test_a_bare_connection_delivers_events_when_asked(host_engine: sa.Engine):
    recorder = Recorder()
    crm = _crm_with(host_engine, recorder)
    with (
        host_engine.begin() as conn,
        crm.unit_of_work(user=pycrm.SYSTEM_USER, tenant="t", connection=conn) as uow,
    ):
        uow.customers.create(name="甲")
    uow.deliver_events()
    uow.deliver_events()  # once only
    assert len(recorder.events) == 1
    crm.close()


def test_a_connection_to_another_database_is_refused(host_engine: sa.Engine, tmp_path):
    crm = _crm(host_engine)
    other = sa.create_engine(f"sqlite:///{tmp_path / 'other.db'}")
    with (
        other.connect() as conn,
        pytest.raises(pycrm.ConfigurationError, match="another"),
        crm.unit_of_work(user=pycrm.SYSTEM_USER, tenant="t", connection=conn) as uow,
    ):
        uow.customers.count()
    other.dispose()
    crm.close()


def test_the_version_table_lives_under_the_prefix(fresh_url: str):
    crm = pycrm.CRM.connect(
        fresh_url, settings=pycrm.Settings(table_prefix="crm_"), migrate=True,
        load_entry_points=False,
    )  # fmt: skip
    engine: sa.Engine = crm.storage.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        assert schema.current_heads(conn, crm.storage.tables) == schema.expected_heads()  # type: ignore[attr-defined]
    crm.close()
