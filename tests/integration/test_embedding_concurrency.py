"""What a host application does at once: threads writing, writers racing for one record,
and many async requests each in a unit of work of its own (one abandoned half-way), on
SQLite and PostgreSQL.

No timing is asserted; the event loop's lag is printed (``pytest -s``).
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import pycrm

ADMIN = pycrm.SYSTEM_USER
THREADS, WRITES = 8, 50


def in_threads(n: int, work: Callable[[int], Any]) -> tuple[list[Any], list[BaseException]]:
    """Run ``work(i)`` in ``n`` threads started together; their results and errors."""
    start = threading.Barrier(n)
    results: list[Any] = []
    errors: list[BaseException] = []

    def run(i: int) -> None:
        start.wait()
        try:
            results.append(work(i))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a writer hung"
    return results, errors


def test_threads_writing_different_records_all_succeed(fresh_url, make_crm, tenant):
    crm = make_crm(fresh_url)

    def writer(i: int) -> int:
        api = crm.as_user(ADMIN, tenant=tenant)
        for j in range(WRITES):
            api.customers.create(name=f"客户 {i}-{j}", level="A" if j % 2 else "B")
        return WRITES

    results, errors = in_threads(THREADS, writer)
    assert errors == []
    assert sum(results) == THREADS * WRITES
    api = crm.as_user(ADMIN, tenant=tenant)
    assert api.customers.count() == THREADS * WRITES == 400
    names = {c.name for c in api.customers.list(limit=1000).items}
    assert names == {f"客户 {i}-{j}" for i in range(THREADS) for j in range(WRITES)}


def test_writers_racing_for_one_record_get_one_success_and_conflicts(fresh_url, make_crm, tenant):
    crm = make_crm(fresh_url)
    record = crm.as_user(ADMIN, tenant=tenant).customers.create(name="ACME")

    def writer(i: int) -> int:
        updated = crm.as_user(ADMIN, tenant=tenant).customers.update(
            record.id, region=f"region {i}", version=record.version
        )
        return updated.version

    results, errors = in_threads(THREADS, writer)
    assert results == [record.version + 1]
    assert len(errors) == THREADS - 1
    # A conflict each, never "database is locked" (StorageError) nor another error.
    assert all(type(e) is pycrm.ConflictError for e in errors), errors
    assert crm.as_user(ADMIN, tenant=tenant).customers.get(record.id).version == results[0]


async def ticking(stop: asyncio.Event, lags: list[float], every: float = 0.01) -> None:
    """Tick every ``every`` seconds until ``stop``; each tick's lateness into ``lags``."""
    while not stop.is_set():
        started = time.perf_counter()
        await asyncio.sleep(every)
        lags.append(time.perf_counter() - started - every)


def print_lag(what: str, lags: list[float], seconds: float) -> None:
    print(
        f"\n{what}: {seconds * 1000:.0f} ms in all; event loop lag over {len(lags)} ticks of "
        f"10 ms: worst {max(lags) * 1000:.1f} ms, median {statistics.median(lags) * 1000:.1f} ms"
    )


def test_many_async_requests_each_in_a_unit_of_work_of_its_own(fresh_url, make_crm, tenant):
    crm = make_crm(fresh_url)
    requests = 50

    async def request(acrm: pycrm.AsyncCRM, i: int) -> pycrm.Customer:
        async with acrm.unit_of_work(user=ADMIN, tenant=tenant) as uow:
            customer = await uow.customers.create(name=f"请求 {i}")
            await asyncio.sleep(0.01)  # an await inside the unit of work: another service…
            return await uow.customers.update(customer.id, level="A")

    async def main() -> tuple[list[Any], list[float], float]:
        stop, lags = asyncio.Event(), []
        ticker = asyncio.create_task(ticking(stop, lags))
        started = time.perf_counter()
        async with pycrm.AsyncCRM(crm) as acrm:
            outcomes = await asyncio.gather(
                *(request(acrm, i) for i in range(requests)), return_exceptions=True
            )
            assert acrm.workers_in_use == 0
        seconds = time.perf_counter() - started
        await asyncio.sleep(0.02)  # a tick or two after the work, should it have been quick
        stop.set()
        await ticker
        return outcomes, lags, seconds

    outcomes, lags, seconds = asyncio.run(main())
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    assert errors == []
    assert all(c.level == "A" and c.version == 2 for c in outcomes)
    api = crm.as_user(ADMIN, tenant=tenant)
    assert api.customers.count({"level": "A"}) == requests
    assert lags, "the event loop never ticked"
    print_lag(f"{requests} async requests on {crm.storage.name}", lags, seconds)


def test_the_sync_api_in_async_tasks_on_postgresql(fresh_url, make_crm, tenant):
    """The sync API's units of work are per task, not per thread: tasks on one event loop
    each with a unit of work that awaits inside no longer refuse each other. (On SQLite a
    writer holds the database's write lock while its task awaits, and another task's writer
    would wait for it on the very thread that must finish it: use pycrm.AsyncCRM there.)"""
    if not fresh_url.startswith("postgresql"):
        pytest.skip("SQLite: a second writer on the same thread waits for the first")
    crm = make_crm(fresh_url)

    async def request(i: int) -> None:
        with crm.unit_of_work(user=ADMIN, tenant=tenant) as uow:
            uow.customers.create(name=f"请求 {i}")
            await asyncio.sleep(0.01)
            uow.customers.create(name=f"请求 {i} bis")

    async def main() -> list[Any]:
        return await asyncio.gather(*(request(i) for i in range(6)), return_exceptions=True)

    assert asyncio.run(main()) == [None] * 6
    assert crm.as_user(ADMIN, tenant=tenant).customers.count() == 12


def test_a_cancelled_async_request_rolls_back_and_frees_its_connection(fresh_url, make_crm, tenant):
    crm = make_crm(fresh_url)
    engine = crm.storage.engine  # type: ignore[attr-defined]

    async def main() -> None:
        async with pycrm.AsyncCRM(crm, max_workers=2) as acrm:
            writing = asyncio.Event()

            async def request() -> None:
                async with acrm.unit_of_work(user=ADMIN, tenant=tenant) as uow:
                    await uow.customers.create(name="never")  # holds SQLite's write lock
                    writing.set()
                    await asyncio.Event().wait()  # the client goes away

            task = asyncio.create_task(request())
            await writing.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert acrm.workers_in_use == 0
            assert engine.pool.checkedout() == 0
            # The write lock is free: the next writer goes ahead at once.
            async with acrm.unit_of_work(user=ADMIN, tenant=tenant) as uow:
                await uow.customers.create(name="kept")

    asyncio.run(main())
    names = [c.name for c in crm.as_user(ADMIN, tenant=tenant).customers.list().items]
    assert names == ["kept"]
