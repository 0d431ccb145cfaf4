"""Names in pycrm's migrations, under the naming of the CRM being migrated.

Migrations name tables as pycrm calls them (``table("users")``); the real names carry the
CRM's ``Settings.table_prefix`` (``pycrm_users`` by default), and so do index and constraint
names (``label("ix_users_email")`` → ``ix_pycrm_users_email``), which PostgreSQL keeps
unique per schema. The schema itself (``Settings.schema``) is the migration connection's
search path, so migrations never spell it out.
"""

from __future__ import annotations

from alembic import context

from pycrm.storage.sqlalchemy.tables import DEFAULT_PREFIX

__all__ = ["label", "ref", "table"]


def _prefix() -> str:
    prefix: str = context.config.attributes.get("table_prefix", DEFAULT_PREFIX)
    return prefix


def table(base: str) -> str:
    """The real name of the table pycrm calls ``base``."""
    return _prefix() + base


def ref(dotted: str) -> str:
    """``"users.id"`` → the real ``table.column`` a foreign key points at."""
    return _prefix() + dotted


def label(name: str) -> str:
    """An index or constraint name (``ix_<table>_…``) with the prefix after its kind."""
    kind, _, rest = name.partition("_")
    return f"{kind}_{_prefix()}{rest}"
