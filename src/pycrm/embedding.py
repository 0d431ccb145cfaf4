"""Living beside a host application's own tables and alembic history.

pycrm migrates its own tables (``crm.migrate()``, ``pycrm migrate URL``, or
``CRM.connect(url, migrate=True)``) and records its revisions in a version table of its
own. A host application that runs ``alembic revision --autogenerate`` on the same database
must not see pycrm's tables as strays to drop; its ``env.py`` passes
:func:`include_object`::

    from pycrm.embedding import include_object

    context.configure(
        connection=connection,
        target_metadata=Base.metadata,             # the host's own tables only
        include_object=include_object(settings),   # the CRM's Settings (prefix, schema)
    )

:func:`metadata` gives pycrm's tables as SQLAlchemy ``Table`` objects (for read-only
reporting joins in the host, say); their names follow ``Settings.table_prefix`` and
``Settings.postgresql_schema``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from pycrm.settings import Settings
from pycrm.storage.sqlalchemy.schema import version_table
from pycrm.storage.sqlalchemy.tables import tables_for

__all__ = ["IncludeObject", "include_object", "metadata"]

#: The signature alembic calls ``include_object`` with.
IncludeObject = Callable[[Any, str | None, str, bool, Any], bool]


def metadata(settings: Settings | None = None) -> sa.MetaData:
    """pycrm's tables as named under ``settings`` (the defaults when ``None``)."""
    settings = settings if settings is not None else Settings()
    return tables_for(settings.table_prefix, settings.postgresql_schema).metadata


def include_object(settings: Settings | None = None) -> IncludeObject:
    """An alembic ``include_object`` that leaves pycrm's tables (and their indexes and
    constraints, and pycrm's version table) out of the host's autogenerate."""
    settings = settings if settings is not None else Settings()
    tables = tables_for(settings.table_prefix, settings.postgresql_schema)
    own = {table.name for table in tables.metadata.tables.values()} | {version_table(tables)}

    def ours(table_name: str | None, schema: str | None) -> bool:
        return table_name in own and (schema or None) == tables.schema

    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        if type_ == "table":
            return not ours(name, getattr(obj, "schema", None))
        table = getattr(obj, "table", None)
        if isinstance(table, sa.Table):
            return not ours(table.name, table.schema)
        return True

    return include
