"""Events go through a transactional outbox: written with the change, delivered at least
once, each with the id of its stored entry."""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import pycrm
from pycrm.core.events import OutboxEntry
from pycrm.storage.base import Query, Scope

START = dt.datetime(2026, 1, 15, 9, 0, tzinfo=dt.UTC)
CRASH = Path(__file__).with_name("outbox_crash.py")


class Seen:
    """A handler that ignores repeats by event id, and counts what it acted on."""

    name = "seen"

    def __init__(self) -> None:
        self.acted: Counter[Any] = Counter()
        self.calls = 0
        self._lock = threading.Lock()

    @pycrm.hookimpl
    def pycrm_on_event(self, event: pycrm.Event) -> None:
        with self._lock:
            self.calls += 1
            if event.id not in self.acted:
                self.acted[event.id] += 1


def _entries(crm: pycrm.CRM, tenant: str) -> list[OutboxEntry]:
    tx = crm.storage.begin()
    try:
        return tx.find(OutboxEntry, Scope(tenant), Query(deleted=None))
    finally:
        tx.rollback()


def test_events_carry_the_id_of_their_entry_which_is_marked_delivered(
    make_crm: Any, backend_url: str, tenant: str
) -> None:
    seen = Seen()
    crm = make_crm(backend_url, plugins=[seen])
    with crm.unit_of_work(tenant=tenant, user=pycrm.SYSTEM_USER) as uow:
        acme = uow.customers.create(name="ACME")
        uow.customers.update(acme.id, status="archived")
    entries = _entries(crm, tenant)
    assert len(entries) == 3 == len(seen.acted)  # created, updated, status_changed
    assert {e.id for e in entries} == set(seen.acted)
    assert all(e.delivered_at is not None for e in entries)
    with (
        pytest.raises(RuntimeError),
        crm.unit_of_work(tenant=tenant, user=pycrm.SYSTEM_USER) as uow,
    ):
        uow.customers.create(name="Beta")
        raise RuntimeError("rolled back")
    assert len(_entries(crm, tenant)) == 3  # a rolled-back unit of work leaves no event


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest) -> str:
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(name))


def _crash(url: str, tenant: str, count: int) -> None:
    done = subprocess.run([sys.executable, str(CRASH), url, tenant, str(count)], check=False)
    assert done.returncode == -signal.SIGKILL


def _restart(url: str, seen: Seen, minutes: int = 2) -> pycrm.CRM:
    clock = pycrm.FixedClock(START + dt.timedelta(minutes=minutes))
    return pycrm.CRM.connect(url, plugins=[seen], clock=clock, load_entry_points=False)


def test_an_event_of_a_process_killed_after_its_commit_is_delivered_once(
    url: str, tenant: str
) -> None:
    _crash(url, tenant, 1)
    seen = Seen()
    with _restart(url, seen, minutes=0) as crm:
        # Too fresh: the writing process may still be delivering it.
        assert crm.deliver_pending_events(tenant=tenant) == 0
    with _restart(url, seen) as crm:
        assert crm.as_user(pycrm.SYSTEM_USER, tenant=tenant).customers.count() == 1
        assert crm.deliver_pending_events(tenant=tenant) == 1
        assert crm.deliver_pending_events(tenant=tenant) == 0  # delivered means done
        assert all(e.delivered_at is not None for e in _entries(crm, tenant))
    assert seen.calls == 1 and list(seen.acted.values()) == [1]


def test_delivery_runs_at_once_hand_each_event_over_once(url: str, tenant: str) -> None:
    _crash(url, tenant, 30)
    seen = Seen()
    crms = [_restart(url, seen) for _ in range(4)]
    counts: list[int] = []
    threads = [
        threading.Thread(target=lambda c=c: counts.append(c.deliver_pending_events(tenant=tenant)))
        for c in crms
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for crm in crms:
        crm.close()
    assert sum(counts) == 30 == seen.calls == len(seen.acted)
