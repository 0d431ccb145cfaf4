"""Fresh PostgreSQL databases for a benchmark run, dropped afterwards."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import sqlalchemy as sa


@contextlib.contextmanager
def fresh_databases(server: str, label: str, count: int = 1) -> Iterator[list[str]]:
    """``count`` new databases on the server at ``server`` (named ``<label>_<random>``),
    their URLs yielded, all dropped on the way out."""
    names = [f"{label}_{uuid.uuid4().hex[:10]}" for _ in range(count)]
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            for name in names:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        base = sa.make_url(server)
        yield [base.set(database=n).render_as_string(hide_password=False) for n in names]
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
