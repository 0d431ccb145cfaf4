"""Read replicas: PostgreSQL hot standbys that serve the reads pycrm may send there.

A :class:`~pycrm.storage.sqlalchemy.backend.SqlBackend` given ``read_replicas`` keeps one
engine per standby (``pool_pre_ping``, parameters hidden as on the primary). A read-only
unit of work pycrm opens itself (one call of ``crm.as_user(...)`` that only reads) takes a
connection from the next usable standby, round robin; a standby that cannot be reached
is left out for :data:`RETRY_SECONDS` and the read goes to the next one, or to the
primary, with a warning on logger ``"pycrm"`` once per back-off. With a maximum lag, a
standby further behind than that is left out until its lag is checked again (every
:data:`LAG_CHECK_SECONDS` at most, one small query).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, exc

from pycrm.errors import ConfigurationError

__all__ = ["LAG_CHECK_SECONDS", "RETRY_SECONDS", "Replica", "Replicas"]

log = logging.getLogger("pycrm")

#: How long a standby that could not be reached is left out before it is tried again.
RETRY_SECONDS = 30.0

#: How long a standby's measured lag is trusted before it is measured again.
LAG_CHECK_SECONDS = 5.0

#: Seconds to wait for a standby to accept a connection before the read goes elsewhere
#: (unless the URL sets ``connect_timeout`` itself).
CONNECT_TIMEOUT = 5

#: How far behind the primary a standby is, in seconds: none when it has replayed all it
#: received while streaming (an idle primary sends nothing, so the time of the last replayed
#: transaction alone would make every quiet standby look late); otherwise the time since
#: the last transaction it replayed; a server that is not a standby is not behind.
LAG_SQL = """\
SELECT CASE
  WHEN NOT pg_is_in_recovery() THEN 0::float8
  WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()
       AND EXISTS (SELECT FROM pg_stat_wal_receiver) THEN 0::float8
  ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8,
                'Infinity'::float8)
END"""

_POSTGRESQL = re.compile(r"(?i)postgres(?:ql)?(\+\w+)?://")


def driver_url(url: str) -> str:
    """``url`` with the driver pycrm installs (psycopg 3) when it names none."""
    match = _POSTGRESQL.match(url)
    if match is None or match.group(1):
        return url
    return "postgresql+psycopg://" + url[match.end() :]


def _first_line(error: BaseException) -> str:
    orig = getattr(error, "orig", None)
    text = str(orig if orig is not None else error).strip().split("\n")[0]
    return text or type(error).__name__


def _read_only(dbapi_connection: Any, _record: Any) -> None:
    # Every transaction on a standby only reads. SQLAlchemy resets a connection that ran
    # with ``postgresql_readonly`` to read_only=False when it goes back to the pool, after
    # which psycopg would begin the next transaction with READ WRITE, which a standby
    # refuses ("cannot set transaction read-write mode during recovery").
    if dbapi_connection is not None:
        dbapi_connection.read_only = True


class Replica:
    """One standby: its engine and what is known of its health."""

    def __init__(self, engine: sa.Engine) -> None:
        #: The standby's own engine (pycrm's: disposed by :meth:`Replicas.dispose`).
        self.engine = engine
        #: The URL as it may be logged (no password).
        self.name = engine.url.render_as_string(hide_password=True)
        #: Monotonic time until which the standby is left out (0: in use).
        self.down_until = 0.0
        #: Why it was last left out (``None`` while it serves reads).
        self.trouble: str | None = None
        #: Monotonic time the lag was last found acceptable (``None``: never).
        self.lag_checked_at: float | None = None


class Replicas:
    """The standbys of one primary and the choice among them (thread-safe)."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        hide_parameters: bool = True,
        max_lag_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        #: Each standby, in the order given.
        self.replicas = [Replica(self._engine(url, hide_parameters)) for url in urls]
        #: Reads go elsewhere from a standby further behind than this (``None``: any lag).
        self.max_lag_seconds = max_lag_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._turn = 0
        for replica in self.replicas:
            event.listen(replica.engine, "handle_error", self._on_error(replica))
            event.listen(replica.engine, "connect", _read_only)
            event.listen(replica.engine, "checkin", _read_only)

    @staticmethod
    def _engine(url: str, hide_parameters: bool) -> sa.Engine:
        try:
            parsed = sa.make_url(driver_url(url))
        except exc.ArgumentError:
            parsed = None
        if parsed is None or parsed.get_backend_name() != "postgresql":
            raise ConfigurationError(
                "read_replicas: give PostgreSQL URLs (postgresql://user@host/database)"
            )
        options: dict[str, Any] = {"pool_pre_ping": True, "hide_parameters": hide_parameters}
        if "connect_timeout" not in parsed.query:
            options["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT}
        try:
            return sa.create_engine(parsed, **options)
        except (exc.NoSuchModuleError, ImportError) as error:
            raise ConfigurationError(
                "the PostgreSQL driver is not installed: pip install "
                f"'pycrm-embedded[postgresql]' ({error})"
            ) from error

    def connect(self) -> sa.Connection | None:
        """A connection to the next usable standby, or ``None`` when none is usable (the
        read goes to the primary). Standbys that fail are left out and logged."""
        for replica in self._rotation():
            conn = self._open(replica)
            if conn is not None:
                return conn
        return None

    def dispose(self) -> None:
        """Close every standby's pooled connections."""
        for replica in self.replicas:
            replica.engine.dispose()

    # -- choosing -----------------------------------------------------------------------
    def _rotation(self) -> list[Replica]:
        now = self._clock()
        with self._lock:
            start = self._turn
            self._turn = (start + 1) % len(self.replicas)
        ordered = self.replicas[start:] + self.replicas[:start]
        return [replica for replica in ordered if replica.down_until <= now]

    def _open(self, replica: Replica) -> sa.Connection | None:
        try:
            conn = replica.engine.connect()
        except exc.DBAPIError as error:
            self._leave_out(replica, f"cannot be reached ({_first_line(error)})", RETRY_SECONDS)
            return None
        try:
            if not self._lag_acceptable(replica, conn):
                conn.close()
                return None
        except exc.DBAPIError as error:
            conn.close()
            self._leave_out(replica, f"failed ({_first_line(error)})", RETRY_SECONDS)
            return None
        if replica.trouble is not None:
            replica.trouble = None
            log.info("read replica %s serves reads again", replica.name)
        return conn

    def _lag_acceptable(self, replica: Replica, conn: sa.Connection) -> bool:
        if self.max_lag_seconds is None:
            return True
        now = self._clock()
        checked = replica.lag_checked_at
        if checked is not None and now - checked < LAG_CHECK_SECONDS:
            return True
        lag = float(conn.exec_driver_sql(LAG_SQL).scalar_one())
        conn.rollback()  # the unit of work begins its own transaction on this connection
        if lag <= self.max_lag_seconds:
            replica.lag_checked_at = now
            return True
        replica.lag_checked_at = None
        behind = "an unknown time" if lag == float("inf") else f"{lag:.1f} s"
        why = f"is {behind} behind the primary (at most {self.max_lag_seconds:g} s allowed)"
        # A standby that stays behind is checked again every few seconds: said once.
        late = replica.trouble is not None and " behind the primary " in replica.trouble
        self._leave_out(replica, why, LAG_CHECK_SECONDS, warn=not late)
        return False

    def _leave_out(self, replica: Replica, why: str, seconds: float, *, warn: bool = True) -> None:
        """Leave ``replica`` out for ``seconds`` and say so (once per back-off)."""
        with self._lock:
            replica.down_until = self._clock() + seconds
            replica.trouble = why
        if warn:
            log.warning(
                "read replica %s %s: reads go to another server for %g s",
                replica.name,
                why,
                seconds,
            )

    def _on_error(self, replica: Replica) -> Callable[[Any], None]:
        def on_error(context: Any) -> None:
            # A connection lost in the middle of a read: that read fails, later ones go
            # elsewhere at once instead of waiting for the pool to find out.
            if context.is_disconnect and not context.is_pre_ping:
                self._leave_out(replica, "lost its connection", RETRY_SECONDS)

        return on_error
