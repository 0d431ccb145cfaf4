"""Reads on PostgreSQL hot standbys: a real primary and a streaming standby on loopback.

The session's cluster pair is started once (``initdb``, then ``pg_basebackup -R`` of the
running primary) when the PostgreSQL server binaries are installed, as the ``postgres``
user when the tests run as root, and removed afterwards. Every test counts the statements
each server ran, so "served by the standby" is what happened, not what was meant.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import glob
import logging
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import pycrm
from pycrm.storage.base import Query, Scope
from pycrm.storage.sqlalchemy import replicas as replicas_module
from pycrm.storage.sqlalchemy.replicas import Replicas

ADMIN = pycrm.SYSTEM_USER


# -- the clusters ---------------------------------------------------------------------------
def _bindir() -> Path | None:
    """Where ``initdb`` and friends are: ``pg_config --bindir``, else Debian's newest."""
    pg_config = shutil.which("pg_config")
    if pg_config:
        found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        path = Path(found.stdout.strip())
        if found.returncode == 0 and (path / "initdb").is_file():
            return path
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: [int(x) if x.isdigit() else x for x in Path(p).parts[-3].split(".")],
    )
    return Path(candidates[-1]).parent if candidates else None


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _free_ports(n: int) -> list[int]:
    """``n`` different loopback ports nothing listens on (each held until all are found)."""
    held = [socket.socket() for _ in range(n)]
    try:
        for s in held:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in held]
    finally:
        for s in held:
            s.close()


class Cluster:
    """A primary and one streaming standby on loopback, each a server of its own."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="pycrm-replicas-"))
        # initdb refuses to run as root: then the servers run as postgres.
        self.as_pg: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            self.as_pg = ["runuser", "-u", "postgres", "--"]
        self.primary_port, self.standby_port = _free_ports(2)
        self.primary_url = f"postgresql+psycopg://postgres@127.0.0.1:{self.primary_port}/postgres"
        self.standby_url = f"postgresql+psycopg://postgres@127.0.0.1:{self.standby_port}/postgres"

    def run(self, tool: str, *args: str) -> None:
        done = subprocess.run(
            [*self.as_pg, str(self.bindir / tool), *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args)} failed:\n{done.stdout}{done.stderr}")

    def _options(self, port: int) -> str:
        return (
            f"-c listen_addresses=127.0.0.1 -p {port} -k {self.root} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c wal_level=replica "
            "-c max_wal_senders=4 -c hot_standby=on -c wal_receiver_status_interval=1"
        )

    def _start(self, name: str, port: int) -> None:
        self.run(
            "pg_ctl",
            *("-D", str(self.root / name), "-l", str(self.root / f"{name}.log")),
            *("-w", "-t", "60", "-o", self._options(port), "start"),
        )

    def start(self) -> None:
        primary = self.root / "primary"
        self.run(
            "initdb",
            *("-D", str(primary), "-U", "postgres", "-A", "trust", "-E", "UTF8"),
            *("--locale=C.UTF-8", "--no-sync"),
        )
        with open(primary / "pg_hba.conf", "a", encoding="utf-8") as hba:
            hba.write("host replication postgres 127.0.0.1/32 trust\n")
        self._start("primary", self.primary_port)
        # A copy of the running primary that follows it (-R writes standby.signal and
        # primary_conninfo); a fast checkpoint instead of waiting for the next one.
        self.run(
            "pg_basebackup",
            *("-h", "127.0.0.1", "-p", str(self.primary_port), "-U", "postgres"),
            *("-D", str(self.root / "standby"), "-R", "-X", "stream"),
            *("--checkpoint=fast", "--no-sync"),
        )
        self.start_standby()

    def start_standby(self) -> None:
        self._start("standby", self.standby_port)

    def stop_standby(self) -> None:
        self.run("pg_ctl", "-D", str(self.root / "standby"), "-m", "immediate", "-w", "stop")

    def stop(self) -> None:
        for name in ("standby", "primary"):
            if (self.root / name / "postmaster.pid").exists():
                with contextlib.suppress(RuntimeError):
                    self.run("pg_ctl", "-D", str(self.root / name), "-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    bindir = _bindir()
    if bindir is None:
        pytest.skip(
            "read replica tests skipped: no PostgreSQL server binaries (pg_config --bindir or "
            "/usr/lib/postgresql/*/bin; Debian: apt-get install postgresql)"
        )
    if os.geteuid() == 0 and not (shutil.which("runuser") and _has_user("postgres")):
        pytest.skip(
            "read replica tests skipped: as root the servers run as the postgres user "
            "through runuser, and one of them is missing"
        )
    pair = Cluster(bindir)
    try:
        pair.start()
        yield pair
    finally:
        pair.stop()


@pytest.fixture(scope="session")
def admin_engines(cluster: Cluster) -> Iterator[tuple[sa.Engine, sa.Engine]]:
    """Engines of the test's own on the primary and the standby (not counted)."""
    primary = sa.create_engine(cluster.primary_url, isolation_level="AUTOCOMMIT")
    standby = sa.create_engine(
        cluster.standby_url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool
    )
    yield primary, standby
    primary.dispose()
    standby.dispose()


def caught_up(engines: tuple[sa.Engine, sa.Engine], timeout: float = 15.0) -> None:
    """Wait until the standby has replayed everything the primary has written so far."""
    primary, standby = engines
    with primary.connect() as conn:
        lsn = conn.exec_driver_sql("SELECT pg_current_wal_lsn()::text").scalar_one()
    deadline = time.monotonic() + timeout
    replayed = sa.text("SELECT pg_last_wal_replay_lsn() >= CAST(:lsn AS pg_lsn)")
    while True:
        with standby.connect() as conn:
            if conn.execute(replayed, {"lsn": lsn}).scalar_one():
                return
        if time.monotonic() > deadline:
            raise AssertionError(f"the standby did not replay up to {lsn} in {timeout} s")
        time.sleep(0.02)


class Served:
    """How many statements the primary and the standby ran for a CRM since the last
    :meth:`reset`."""

    def __init__(self, crm: pycrm.CRM) -> None:
        storage: Any = crm.storage
        self.counts = {"primary": 0, "standby": 0}
        self._listen(storage.engine, "primary")
        self._listen(storage.replicas.replicas[0].engine, "standby")

    def _listen(self, engine: sa.Engine, name: str) -> None:
        def count(*_: Any) -> None:
            self.counts[name] += 1

        sa.event.listen(engine, "before_cursor_execute", count)

    def reset(self) -> None:
        self.counts.update(primary=0, standby=0)

    @property
    def by(self) -> set[str]:
        """The servers that ran anything."""
        return {name for name, n in self.counts.items() if n}


@pytest.fixture(scope="session")
def migrated(cluster: Cluster) -> str:
    """The primary's URL, migrated once (the standby follows)."""
    pycrm.CRM.connect(cluster.primary_url, migrate=True, load_entry_points=False).close()
    return cluster.primary_url


@pytest.fixture
def replica_crm(cluster: Cluster, migrated: str) -> Iterator[Any]:
    made: list[pycrm.CRM] = []

    def make(**settings: Any) -> tuple[pycrm.CRM, Served]:
        settings.setdefault("read_replicas", [cluster.standby_url])
        crm = pycrm.CRM.connect(
            migrated, settings=pycrm.Settings(**settings), load_entry_points=False
        )
        made.append(crm)
        return crm, Served(crm)

    yield make
    for crm in made:
        crm.close()


def _sell(crm: pycrm.CRM, tenant: str) -> uuid.UUID:
    with crm.unit_of_work(user=ADMIN, tenant=tenant) as uow:
        customer = uow.customers.create(name="北京联成", level="A")
        uow.opportunities.create(
            customer_id=customer.id,
            name="CRM rollout",
            amount=pycrm.Money("250000", "CNY"),
            expected_close=dt.date(2026, 6, 30),
        )
    return customer.id


# -- where reads and writes go --------------------------------------------------------------
def test_reports_and_lists_are_served_by_the_standby_and_writes_by_the_primary(
    replica_crm: Any, admin_engines: tuple[sa.Engine, sa.Engine], tenant: str
) -> None:
    crm, served = replica_crm()
    customer_id = _sell(crm, tenant)
    assert served.by == {"primary"}  # a unit of work that writes never touches the standby

    caught_up(admin_engines)
    served.reset()
    acme = crm.as_user(ADMIN, tenant=tenant)
    assert [c.id for c in acme.customers.list({"level": "A"})] == [customer_id]
    assert acme.customers.count() == 1
    assert acme.reports.weighted_pipeline(by=()).count == 1
    assert acme.customers.history(customer_id)[0].action.value == "create"
    assert served.by == {"standby"}, served.counts

    # The connection those reads used is the standby's: a server in recovery.
    storage: Any = crm.storage
    with storage.replicas.replicas[0].engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT pg_is_in_recovery()").scalar_one() is True
    with storage.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT pg_is_in_recovery()").scalar_one() is False


def test_a_call_that_writes_runs_on_the_primary(replica_crm: Any, tenant: str) -> None:
    crm, served = replica_crm()
    acme = crm.as_user(ADMIN, tenant=tenant)
    created = acme.customers.create(name="ACME")
    acme.customers.update(created.id, level="B", version=created.version)
    assert served.by == {"primary"}


def test_a_unit_of_work_reads_the_primary_even_when_it_only_reads(
    replica_crm: Any, tenant: str
) -> None:
    crm, served = replica_crm()
    customer_id = _sell(crm, tenant)
    with crm.unit_of_work(user=ADMIN, tenant=tenant) as uow:
        assert uow.customers.get(customer_id).name == "北京联成"  # its own writes, at once
        uow.reports.weighted_pipeline(by=())
    storage: Any = crm.storage
    with (
        storage.engine.connect() as host,
        host.begin(),
        crm.unit_of_work(user=ADMIN, tenant=tenant, connection=host) as uow,
    ):
        assert uow.customers.count() == 1  # a host's transaction: the primary
    assert served.by == {"primary"}


def test_fresh_reads_go_to_the_primary(replica_crm: Any, tenant: str) -> None:
    crm, served = replica_crm()
    served.reset()
    fresh = crm.as_user(ADMIN, tenant=tenant, fresh=True)
    created = fresh.customers.create(name="ACME")
    # Read at once after the write, without waiting for the standby: always there.
    assert fresh.customers.get(created.id).name == "ACME"
    assert fresh.reports.weighted_pipeline(by=()).count == 0
    assert asyncio.run(_aio_get(crm, tenant, created.id)) == "ACME"
    assert served.by == {"primary"}, served.counts
    with pytest.raises(pycrm.ValidationError, match="fresh"):
        crm.as_user(ADMIN, tenant=tenant, fresh="yes")  # type: ignore[arg-type]


async def _aio_get(crm: pycrm.CRM, tenant: str, record_id: uuid.UUID) -> str:
    acrm = crm.aio(max_workers=1)
    found = await acrm.as_user(ADMIN, tenant=tenant, fresh=True).customers.get(record_id)
    return found.name


# -- a standby that is down or behind -------------------------------------------------------
def test_with_the_standby_down_reads_fall_back_to_the_primary_and_say_so(
    cluster: Cluster,
    replica_crm: Any,
    admin_engines: tuple[sa.Engine, sa.Engine],
    tenant: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    crm, served = replica_crm()
    customer_id = _sell(crm, tenant)
    caught_up(admin_engines)
    acme = crm.as_user(ADMIN, tenant=tenant)
    assert acme.customers.count() == 1  # a pooled connection to the standby now
    monkeypatch.setattr(replicas_module, "RETRY_SECONDS", 1.5)

    cluster.stop_standby()
    try:
        served.reset()
        with caplog.at_level(logging.WARNING, logger="pycrm"):
            for _ in range(3):
                assert acme.customers.get(customer_id).name == "北京联成"
                assert acme.reports.weighted_pipeline(by=()).count == 1
        assert served.by == {"primary"}, served.counts
        warnings = [r for r in caplog.records if r.name == "pycrm"]
        assert len(warnings) == 1, caplog.text  # once per back-off, not once per read
        assert warnings[0].levelno == logging.WARNING
        message = warnings[0].getMessage()
        assert "cannot be reached" in message and "for 1.5 s" in message, message
        assert str(cluster.standby_port) in message
    finally:
        cluster.start_standby()

    # After the back-off the standby is tried again, and serves again.
    caught_up(admin_engines)
    time.sleep(1.6)
    served.reset()
    with caplog.at_level(logging.INFO, logger="pycrm"):
        assert acme.customers.count() == 1
    assert served.by == {"standby"}, served.counts
    assert "serves reads again" in caplog.text


def test_a_standby_too_far_behind_is_left_out_until_it_catches_up(
    replica_crm: Any,
    admin_engines: tuple[sa.Engine, sa.Engine],
    tenant: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    standby = admin_engines[1]
    crm, served = replica_crm(replica_max_lag_seconds=0.5)
    monkeypatch.setattr(replicas_module, "LAG_CHECK_SECONDS", 0.0)  # measure on every read
    acme = crm.as_user(ADMIN, tenant=tenant)
    with standby.connect() as conn:
        conn.exec_driver_sql("SELECT pg_wal_replay_pause()")
    try:
        _sell(crm, tenant)  # received by the standby, not replayed
        time.sleep(0.7)
        served.reset()
        with caplog.at_level(logging.WARNING, logger="pycrm"):
            assert acme.customers.count() == 1  # so it was read on the primary
            assert acme.customers.count() == 1
        assert served.counts["primary"] >= 2
        assert "behind the primary" in caplog.text
        assert len([r for r in caplog.records if r.name == "pycrm"]) == 1, caplog.text
    finally:
        with standby.connect() as conn:
            conn.exec_driver_sql("SELECT pg_wal_replay_resume()")

    # Caught up, and idle for longer than the allowed lag: a quiet standby is not late.
    caught_up(admin_engines)
    time.sleep(0.7)
    served.reset()
    assert acme.customers.count() == 1
    assert served.counts["primary"] == 0 and served.counts["standby"] >= 2, served.counts


def test_a_standby_connection_lost_mid_read_sends_the_next_reads_elsewhere(
    replica_crm: Any,
    admin_engines: tuple[sa.Engine, sa.Engine],
    tenant: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    crm, served = replica_crm()
    storage: Any = crm.storage
    tx = storage.begin(read_only=True, replica=True)
    try:
        pid = tx.conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        with admin_engines[1].connect() as conn:
            conn.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
        with (
            caplog.at_level(logging.WARNING, logger="pycrm"),
            pytest.raises(pycrm.StorageError),
        ):
            tx.count(pycrm.Customer, Scope(tenant), Query())
    finally:
        tx.rollback()
    assert "lost its connection" in caplog.text
    served.reset()
    assert crm.as_user(ADMIN, tenant=tenant).customers.count() == 0
    assert served.by == {"primary"}, served.counts


def test_close_disposes_of_the_standby_engines_but_not_a_hosts_engine(
    cluster: Cluster, migrated: str, admin_engines: tuple[sa.Engine, sa.Engine]
) -> None:
    host = sa.create_engine(migrated)
    settings = pycrm.Settings(read_replicas=[cluster.standby_url])
    crm = pycrm.CRM.connect(host, settings=settings, load_entry_points=False)
    storage: Any = crm.storage
    standby = storage.replicas.replicas[0].engine
    crm.as_user(ADMIN, tenant="t").customers.count()
    assert standby.pool.checkedin() == 1
    crm.close()
    assert standby.pool.checkedin() == 0
    with host.connect() as conn:  # the host's engine still works
        assert conn.exec_driver_sql("SELECT 1").scalar_one() == 1
    host.dispose()


# -- without any server ---------------------------------------------------------------------
def test_replicas_must_be_postgresql_urls() -> None:
    pycrm.Settings(read_replicas=["postgresql://crm@standby1/crm", "postgres://s2/crm"])
    for bad in ("sqlite:///standby.db", "mysql://u:secret@host/db", "standby1"):
        with pytest.raises(pycrm.ValidationError, match="not a PostgreSQL URL") as caught:
            pycrm.Settings(read_replicas=[bad])
        assert "secret" not in str(caught.value)
    with pytest.raises(pycrm.ValidationError, match="replica_max_lag_seconds"):
        pycrm.Settings(replica_max_lag_seconds=0)
    # URLs may carry passwords: settings never show them.
    assert "secret" not in repr(pycrm.Settings(read_replicas=["postgresql://u:secret@h/db"]))


@pytest.mark.parametrize("url", ["memory://", "sqlite"])
def test_replicas_need_a_postgresql_primary(url: str, tmp_path: Path) -> None:
    if url == "sqlite":
        url = f"sqlite:///{tmp_path / 'crm.db'}"
    settings = pycrm.Settings(read_replicas=["postgresql://standby/crm"])
    with pytest.raises(pycrm.ConfigurationError, match="needs a PostgreSQL primary"):
        pycrm.CRM.connect(url, settings=settings, load_entry_points=False)


def test_an_unreachable_standby_is_left_out_for_the_back_off(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [100.0]
    url = f"postgresql://nobody:secret@127.0.0.1:{_free_ports(1)[0]}/crm"  # nothing listens
    replicas = Replicas([url], clock=lambda: now[0])
    try:
        with caplog.at_level(logging.WARNING, logger="pycrm"):
            assert replicas.connect() is None
            assert replicas.connect() is None  # left out: not even tried
            now[0] += replicas_module.RETRY_SECONDS
            assert replicas.connect() is None  # tried again, and said again
        messages = [r.getMessage() for r in caplog.records if r.name == "pycrm"]
        assert len(messages) == 2, messages
        assert "cannot be reached" in messages[0] and "secret" not in messages[0]
    finally:
        replicas.dispose()
