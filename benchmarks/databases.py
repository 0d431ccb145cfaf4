"""What the benchmarks share: fresh PostgreSQL databases for a run, dropped afterwards,
and the statements an engine runs, timed."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from typing import Any

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


class Statements:
    """The statements an engine runs, with their times (a cursor-execute listener), kept
    while ``on``."""

    def __init__(self, engine: sa.Engine) -> None:
        self.seen: list[tuple[str, Any, float]] = []
        self.on = False
        self._started = 0.0
        sa.event.listen(engine, "before_cursor_execute", self._before)
        sa.event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self._started = time.perf_counter()

    def _after(self, conn: Any, cursor: Any, statement: str, parameters: Any, *a: Any) -> None:
        if self.on:
            self.seen.append((statement, parameters, time.perf_counter() - self._started))

    def take(self) -> list[tuple[str, Any, float]]:
        """The statements seen so far, forgotten here."""
        seen, self.seen = self.seen, []
        return seen
