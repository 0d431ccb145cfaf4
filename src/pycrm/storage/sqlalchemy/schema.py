"""Schema migrations with alembic, shipped inside the package.

pycrm keeps its own version table (``pycrm_alembic_version``, or ``<prefix>alembic_version``
under another table prefix) so a host application's own alembic history never collides
with it, and upgrades to ``heads`` so plugins may add branches of their own (listed through
``version_locations``). Migrations run under the CRM's naming: its table prefix, and on
PostgreSQL its schema, which is created when missing.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from pycrm.errors import ConfigurationError
from pycrm.storage.sqlalchemy.tables import Tables, tables_for

__all__ = [
    "VERSION_TABLE",
    "alembic_config",
    "check",
    "current_heads",
    "upgrade",
    "version_table",
]

VERSION_TABLE = "pycrm_alembic_version"

#: Extra migration folders plugins register ("package:folder" or paths).
EXTRA_LOCATIONS: list[str] = []


def version_table(tables: Tables) -> str:
    """Where pycrm records the revisions applied under ``tables``' naming."""
    return f"{tables.prefix}alembic_version" if tables.prefix else VERSION_TABLE


def alembic_config(connection: sa.Connection | None = None, tables: Tables | None = None) -> Config:
    tables = tables if tables is not None else tables_for()
    cfg = Config()
    cfg.set_main_option("script_location", "pycrm:migrations")
    locations = ["pycrm:migrations/versions", *EXTRA_LOCATIONS]
    cfg.set_main_option("version_locations", " ".join(locations))
    cfg.set_main_option("path_separator", "space")
    cfg.attributes["connection"] = connection
    cfg.attributes["tables"] = tables
    cfg.attributes["table_prefix"] = tables.prefix
    return cfg


def current_heads(conn: sa.Connection, tables: Tables | None = None) -> set[str]:
    tables = tables if tables is not None else tables_for()
    opts = {"version_table": version_table(tables), "version_table_schema": tables.schema}
    context = MigrationContext.configure(conn, opts=opts)
    return set(context.get_current_heads())


def expected_heads() -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


def upgrade(engine: sa.Engine | sa.Connection, tables: Tables | None = None) -> None:
    """Apply every pending migration, in one transaction."""
    if isinstance(engine, sa.Connection):
        _upgrade_on(engine, tables)
        return
    with engine.begin() as conn:
        _upgrade_on(conn, tables)


def _upgrade_on(conn: sa.Connection, tables: Tables | None) -> None:
    tables = tables if tables is not None else tables_for()
    if tables.schema:
        quoted = conn.dialect.identifier_preparer.quote_schema(tables.schema)
        conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {quoted}")
    command.upgrade(alembic_config(conn, tables), "heads")


def check(engine: sa.Engine, *, migrate: bool, tables: Tables | None = None) -> None:
    """Migrate when allowed; otherwise refuse a database whose schema is behind."""
    tables = tables if tables is not None else tables_for()
    with engine.connect() as conn:
        have = current_heads(conn, tables)
        if have:
            _refuse_other_naming(conn, tables)
    want = expected_heads()
    if have == want:
        return
    if migrate:
        upgrade(engine, tables)
        return
    state = f"at revision {', '.join(sorted(have))}" if have else "not initialised"
    raise ConfigurationError(
        f"the pycrm schema of {engine.url!r} is {state}, but this version of pycrm needs "
        f"{', '.join(sorted(want))}; upgrade it with `pycrm migrate URL`, or connect with "
        "CRM.connect(url, migrate=True)"
    )


def _refuse_other_naming(conn: sa.Connection, tables: Tables) -> None:
    """A database migrated under another table prefix (pycrm 0.1 used none) is named, not
    half-used: its tables would look missing."""
    inspector = sa.inspect(conn)
    if inspector.has_table(tables.name("customers"), schema=tables.schema):
        return
    if tables.prefix and inspector.has_table("customers", schema=tables.schema):
        raise ConfigurationError(
            "this database holds pycrm tables without a prefix (created by pycrm 0.1): "
            "open it with Settings(table_prefix=''), or rename its tables to "
            f"{tables.prefix}<name>"
        )
