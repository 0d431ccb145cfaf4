"""Schema migrations with alembic, shipped inside the package.

pycrm keeps its own version table (``pycrm_alembic_version``) so a host application's own
alembic history never collides with it, and upgrades to ``heads`` so plugins may add
branches of their own (listed through ``version_locations``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from pycrm.errors import ConfigurationError

__all__ = ["VERSION_TABLE", "alembic_config", "check", "current_heads", "upgrade"]

VERSION_TABLE = "pycrm_alembic_version"

#: Extra migration folders plugins register ("package:folder" or paths).
EXTRA_LOCATIONS: list[str] = []


def alembic_config(connection: sa.Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "pycrm:migrations")
    locations = ["pycrm:migrations/versions", *EXTRA_LOCATIONS]
    cfg.set_main_option("version_locations", " ".join(locations))
    cfg.set_main_option("path_separator", "space")
    cfg.attributes["connection"] = connection
    return cfg


def current_heads(conn: sa.Connection) -> set[str]:
    context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
    return set(context.get_current_heads())


def expected_heads() -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


def upgrade(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "heads")


def check(engine: sa.Engine, *, migrate: bool) -> None:
    """Migrate when allowed; otherwise refuse a database whose schema is behind."""
    with engine.connect() as conn:
        have = current_heads(conn)
    want = expected_heads()
    if have == want:
        return
    if migrate:
        upgrade(engine)
        return
    state = f"at revision {', '.join(sorted(have))}" if have else "not initialised"
    raise ConfigurationError(
        f"the pycrm schema of {engine.url!r} is {state}, but this version of pycrm needs "
        f"{', '.join(sorted(want))}; upgrade it with crm.migrate() or `pycrm migrate URL`"
    )
