"""The SQLAlchemy backend: SQLite (embedded default) and PostgreSQL."""

from pycrm.storage.sqlalchemy.backend import SqlBackend

__all__ = ["SqlBackend"]
