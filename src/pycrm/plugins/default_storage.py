"""Built-in storage backends: ``memory://``, SQLite and PostgreSQL URLs."""

from __future__ import annotations

from pycrm.plugins.hookspecs import hookimpl
from pycrm.settings import Settings
from pycrm.storage.base import StorageBackend


@hookimpl(trylast=True)
def pycrm_make_storage(url: str, settings: Settings) -> StorageBackend | None:
    scheme = url.split(":", 1)[0].lower()
    if scheme == "memory":
        from pycrm.storage.memory import MemoryBackend

        return MemoryBackend()
    if scheme.split("+", 1)[0] in ("sqlite", "postgresql", "postgres"):
        from pycrm.storage.sqlalchemy.backend import SqlBackend

        if scheme.startswith("postgres") and "+" not in scheme:
            url = "postgresql+psycopg" + url[len(scheme) :]
        return SqlBackend(
            url,
            auto_migrate=settings.auto_migrate,
            table_prefix=settings.table_prefix,
            schema=settings.postgresql_schema,
            read_replicas=settings.read_replicas,
            replica_max_lag_seconds=settings.replica_max_lag_seconds,
        )
    return None
