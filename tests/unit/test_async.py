"""The async API (pycrm.AsyncCRM) on the memory backend, and units of work per context."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import uuid
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import attrs
import pytest

import pycrm
from pycrm.aio import DEFAULT_MAX_WORKERS, AsyncCRM, AsyncUnitOfWork

T = TypeVar("T")
TENANT = "t"
ADMIN = pycrm.SYSTEM_USER
NESTED = "already open in this context"


class Recorder:
    """A plugin that keeps every event it is handed, and the thread it was handed on."""

    name = "recorder"

    def __init__(self) -> None:
        self.events: list[pycrm.Event] = []
        self.threads: set[str] = set()

    @pycrm.hookimpl
    def pycrm_on_event(self, event: pycrm.Event) -> None:
        self.events.append(event)
        self.threads.add(threading.current_thread().name)


def run(coroutine: Coroutine[Any, Any, T], timeout: float = 20) -> T:
    """Run ``coroutine`` on a new event loop; a hang fails the test instead of stalling it."""

    async def bounded() -> T:
        return await asyncio.wait_for(coroutine, timeout)

    return asyncio.run(bounded())


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def make(clock: pycrm.FixedClock) -> Iterator[Callable[..., pycrm.CRM]]:
    made: list[pycrm.CRM] = []

    def make(*plugins: object) -> pycrm.CRM:
        crm = pycrm.CRM.connect(
            "memory://", clock=clock, plugins=list(plugins), load_entry_points=False
        )
        made.append(crm)
        return crm

    yield make
    for crm in made:
        crm.close()


@pytest.fixture
def crm(make: Callable[..., pycrm.CRM], recorder: Recorder) -> pycrm.CRM:
    return make(recorder)


def count(crm: pycrm.CRM) -> int:
    return crm.as_user(ADMIN, tenant=TENANT).customers.count()


def fields(record: Any) -> dict[str, Any]:
    """A record's fields but its id (two CRMs give two ids to the same work)."""
    return {k: v for k, v in attrs.asdict(record, recurse=False).items() if k != "id"}


def event_facts(events: list[pycrm.Event]) -> list[tuple[Any, ...]]:
    return [
        (type(e), e.name, e.entity, e.tenant, e.user_id, e.at, sorted(e.changes)) for e in events
    ]


# -- the same results, errors and events as the sync API -----------------------------------
def sync_scenario(crm: pycrm.CRM) -> dict[str, Any]:
    with crm.unit_of_work(user=ADMIN, tenant=TENANT) as uow:
        created = uow.customers.create(name="ACME", level="A", tags=["x"])
        updated = uow.customers.update(created.id, level="B", version=created.version)
    api = crm.as_user(ADMIN, tenant=TENANT)
    return {
        "created": created,
        "updated": updated,
        "got": api.customers.get(created.id),
        "page": api.customers.list({"level": "B"}),
        "count": api.customers.count(),
        "history": [c.action for c in api.customers.history(created.id)],
        "pipeline": api.reports.weighted_pipeline(),
    }


async def async_scenario(acrm: AsyncCRM) -> dict[str, Any]:
    async with acrm.unit_of_work(user=ADMIN, tenant=TENANT) as uow:
        created = await uow.customers.create(name="ACME", level="A", tags=["x"])
        updated = await uow.customers.update(created.id, level="B", version=created.version)
    api = acrm.as_user(ADMIN, tenant=TENANT)
    return {
        "created": created,
        "updated": updated,
        "got": await api.customers.get(created.id),
        "page": await api.customers.list({"level": "B"}),
        "count": await api.customers.count(),
        "history": [c.action for c in await api.customers.history(created.id)],
        "pipeline": await api.reports.weighted_pipeline(),
    }


def test_async_calls_give_the_results_and_events_of_sync_calls(make):
    sync_events, async_events = Recorder(), Recorder()
    expected = sync_scenario(make(sync_events))
    crm = make(async_events)

    async def main() -> dict[str, Any]:
        async with AsyncCRM(crm) as acrm:
            return await async_scenario(acrm)

    got = run(main())
    for name in ("created", "updated", "got"):
        assert fields(got[name]) == fields(expected[name]), name
    assert [fields(c) for c in got["page"].items] == [fields(c) for c in expected["page"].items]
    assert got["count"] == expected["count"] == 1
    assert got["history"] == expected["history"]
    assert got["pipeline"] == expected["pipeline"]
    assert event_facts(async_events.events) == event_facts(sync_events.events)
    assert [e.name for e in async_events.events] == ["customer.created", "customer.updated"]
    assert async_events.threads and all(t.startswith("pycrm-aio") for t in async_events.threads)
    # The record read back through the sync API is the one the async API returned.
    assert crm.as_user(ADMIN, tenant=TENANT).customers.get(got["got"].id) == got["got"]


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda s: s.customers.create(name="", source="rumour"), id="validation"),
        pytest.param(lambda s: s.customers.get(uuid.UUID(int=7)), id="not-found"),
        pytest.param(lambda s: s.customers.update(uuid.UUID(int=7), level="A"), id="update"),
        pytest.param(lambda s: s.customers.list(order_by="nope"), id="bad-order"),
    ],
)
def test_async_calls_raise_the_errors_of_sync_calls(crm, call):
    with pytest.raises(pycrm.CRMError) as sync_error:
        call(crm.as_user(ADMIN, tenant=TENANT))

    async def main() -> None:
        async with AsyncCRM(crm) as acrm:
            with pytest.raises(pycrm.CRMError) as one_call:
                await call(acrm.as_user(ADMIN, tenant=TENANT))
            async with acrm.unit_of_work(user=ADMIN, tenant=TENANT) as uow:
                with pytest.raises(pycrm.CRMError) as in_unit:
                    await call(uow)
        for error in (one_call.value, in_unit.value):
            assert type(error) is type(sync_error.value)
            assert error.to_dict() == sync_error.value.to_dict()

    run(main())


def test_a_stale_version_is_a_conflict_and_the_unit_rolls_back(crm, recorder):
    created = crm.as_user(ADMIN, tenant=TENANT).customers.create(name="ACME")
    recorder.events.clear()

    async def main() -> None:
        async with AsyncCRM(crm) as acrm:
            with pytest.raises(pycrm.ConflictError):
                async with acrm.unit_of_work(user=ADMIN, tenant=TENANT) as uow:
                    await uow.customers.create(name="second")
                    await uow.customers.update(created.id, level="A", version=created.version + 1)

    run(main())
    assert count(crm) == 1 and recorder.events == []


def test_run_is_the_typed_path_on_the_units_own_thread(crm):
    seen: list[int] = []

    def where(uow: pycrm.UnitOfWork) -> int:
        seen.append(threading.get_ident())
        return uow.customers.count()

    async def main() -> tuple[int, str]:
        async with AsyncCRM(crm) as acrm, acrm.unit_of_work(user=ADMIN, tenant=TENANT) as uow:
            before = await uow.run(where)
            await uow.customers.create(name="甲")
            await asyncio.sleep(0)
            after = await uow.run(where)
            name = await uow.run(lambda u: u.customers.list().items[0].name)
            return before + after, name

    assert run(main()) == (1, "甲")
    assert len(set(seen)) == 1 and seen[0] != threading.get_ident()


def test_the_event_loop_runs_while_a_call_runs_on_its_thread(crm):
    async def main() -> bool:
        ticked = threading.Event()

        async def ticker() -> None:
            while not ticked.is_set():
                await asyncio.sleep(0.001)
                ticked.set()

        async with AsyncCRM(crm) as acrm, acrm.unit_of_work(user=ADMIN, tenant=TENANT) as uow:
            tick = asyncio.create_task(ticker())
            # The call waits for the loop to tick: it can only return if the loop is free.
            waited = await uow.run(lambda u: ticked.wait(timeout=10))
            await tick
            return waited

    assert run(main()) is True


def test_service_proxies_offer_methods_only(crm):
    async def main() -> None:
        async with AsyncCRM(crm) as acrm:
            api = acrm.as_user(ADMIN, tenant=TENANT)
            with pytest.raises(AttributeError, match="nope"):
                api.customers.nope  # noqa: B018
            with pytest.raises(AttributeError):
                api.customers.entity  # noqa: B018  (a class attribute, not a method)
            assert "create" in dir(api.customers) and "_create" not in dir(api.customers)
            sync = crm.as_user(ADMIN, tenant=TENANT)
            assert api.customers.create.__doc__ == sync.customers.create.__doc__
            uow = acrm.unit_of_work(user=ADMIN, tenant=TENANT)
            with pytest.raises(pycrm.StorageError, match="async with"):
                await uow.customers.count()
            async with uow:
                pass
            with pytest.raises(pycrm.StorageError, match="has ended"):
                await uow.customers.count()
            with pytest.raises(pycrm.StorageError, match="already been used"):
                async with uow:
                    pass
            with pytest.raises(pycrm.ValidationError):
                acrm.unit_of_work(user="not a uuid", tenant=TENANT)
            with pytest.raises(pycrm.ValidationError):
                acrm.as_user(ADMIN, tenant="")

    run(main())


def test_commit_and_rollback_end_the_unit_early(crm):
    async def main() -> None:
        async with AsyncCRM(crm) as acrm:
            async with acrm.unit_of_work(user=ADMIN, tenant=TENANT) as uow:
                await uow.customers.create(name="kept")
                await uow.commit()
                with pytest.raises(pycrm.StorageError, match="has ended"):
                    await uow.customers.create(name="too late")
            async with acrm.unit_of_work(user=ADMIN, tenant=TENANT) as uow:
                await uow.customers.create(name="undone")
                await uow.rollback()

    run(main())
    assert [c.name for c in crm.as_user(ADMIN, tenant=TENANT).customers.list()] == ["kept"]


# -- one unit of work per context -----------------------------------------------------------
def test_a_nested_unit_of_work_in_the_same_task_is_refused_at_once(crm):
    async def main() -> None:
        # One worker only: a nested call that waited for a worker would wait for ever.
        async with AsyncCRM(crm, max_workers=1) as acrm:
            async with acrm.unit_of_work(user=ADMIN, tenant=TENANT) as uow:
                await uow.customers.create(name="甲")
                with pytest.raises(pycrm.StorageError, match=NESTED):
                    async with acrm.unit_of_work(user=ADMIN, tenant=TENANT):
                        pass
                with pytest.raises(pycrm.StorageError, match=NESTED):
                    await acrm.as_user(ADMIN, tenant=TENANT).customers.create(name="乙")
                with pytest.raises(pycrm.StorageError, match=NESTED):
                    crm.as_user(ADMIN, tenant=TENANT).customers.count()  # sync, same task
                with pytest.raises(pycrm.StorageError, match=NESTED):
                    await uow.run(lambda u: crm.as_user(ADMIN, tenant=TENANT).customers.count())
                await uow.customers.create(name="丙")  # the outer unit of work goes on
            assert acrm.workers_in_use == 0

    run(main())
    assert {c.name for c in crm.as_user(ADMIN, tenant=TENANT).customers.list()} == {"甲", "丙"}


def test_two_tasks_each_with_a_unit_of_work_at_once(crm):
    async def main() -> None:
        both_open = asyncio.Barrier(2)

        async def request(name: str) -> None:
            async with acrm.unit_of_work(user=ADMIN, tenant=TENANT) as uow:
                await both_open.wait()  # both units of work are open here
                created = await uow.customers.create(name=name)
                await asyncio.sleep(0.01)
                await uow.customers.update(created.id, level="A")

        async with AsyncCRM(crm) as acrm, asyncio.TaskGroup() as tasks:
            tasks.create_task(request("甲"))
            tasks.create_task(request("乙"))

    run(main())
    assert count(crm) == 2


def test_the_sync_api_tracks_units_of_work_per_task_not_per_thread(crm):
    async def main() -> None:
        claimed = asyncio.Barrier(2)

        async def task() -> None:
            uow = crm.unit_of_work(user=ADMIN, tenant=TENANT)
            crm.claim_context(uow)  # what a unit of work does when it opens its transaction
            await claimed.wait()  # the other task on this thread holds one too: fine
            crm.release_context(uow)

        await asyncio.gather(task(), task())

    run(main())


def test_the_memory_backend_still_serialises_transactions_of_tasks_on_one_thread(crm):
    # Two tasks on one thread, each with a sync unit of work that awaits inside: the memory
    # store is held by the first, and waiting for it would block the thread that must end
    # it. It says so at once (pycrm.AsyncCRM gives each task a thread of its own).
    async def main() -> None:
        first_open, second_done = asyncio.Event(), asyncio.Event()

        async def first() -> None:
            with crm.unit_of_work(user=ADMIN, tenant=TENANT) as uow:
                uow.customers.create(name="甲")
                first_open.set()
                await second_done.wait()

        async def second() -> None:
            await first_open.wait()
            try:
                with pytest.raises(pycrm.StorageError, match="another task's on the same"):
                    crm.as_user(ADMIN, tenant=TENANT).customers.create(name="乙")
            finally:
                second_done.set()

        await asyncio.gather(first(), second())

    run(main())
    assert count(crm) == 1


def test_units_of_work_of_two_crms_do_not_see_each_other(make):
    one, two = make(), make()
    with (
        one.unit_of_work(user=ADMIN, tenant=TENANT) as a,
        two.unit_of_work(user=ADMIN, tenant=TENANT) as b,
    ):
        a.customers.create(name="甲")
        b.customers.create(name="乙")
    assert count(one) == count(two) == 1


def test_threads_each_have_their_own_unit_of_work(crm):
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def worker(i: int) -> None:
        try:
            start.wait()
            crm.as_user(ADMIN, tenant=TENANT).customers.create(name=f"c{i}")
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and count(crm) == 4


# -- cancellation, bounds, closing ----------------------------------------------------------
def test_a_cancelled_task_rolls_its_unit_of_work_back(crm, recorder):
    async def main() -> None:
        async with AsyncCRM(crm, max_workers=1) as acrm:
            created = asyncio.Event()

            async def request() -> None:
                async with acrm.unit_of_work(user=ADMIN, tenant=TENANT) as uow:
                    await uow.customers.create(name="never")
                    created.set()
                    await asyncio.Event().wait()  # a client that went away

            task = asyncio.create_task(request())
            await created.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert acrm.workers_in_use == 0
            # The one worker and the memory store are free: the next unit goes ahead.
            async with acrm.unit_of_work(user=ADMIN, tenant=TENANT) as uow:
                assert await uow.customers.count() == 0

    run(main())
    assert count(crm) == 0 and recorder.events == []


def test_a_task_cancelled_while_its_call_runs_rolls_back_after_the_call(crm, recorder):
    started, go_on = threading.Event(), threading.Event()

    def slow(uow: pycrm.UnitOfWork) -> None:
        uow.customers.create(name="never")
        started.set()
        go_on.wait(timeout=10)
        uow.customers.create(name="never either")

    async def main() -> None:
        async with AsyncCRM(crm) as acrm:

            async def request() -> None:
                async with acrm.unit_of_work(user=ADMIN, tenant=TENANT) as uow:
                    await uow.run(slow)

            task = asyncio.create_task(request())
            await asyncio.to_thread(started.wait, 10)
            task.cancel()
            await asyncio.sleep(0.01)
            go_on.set()  # the call finishes on its thread; the rollback follows it
            with pytest.raises(asyncio.CancelledError):
                await task
            assert acrm.workers_in_use == 0

    run(main())
    assert count(crm) == 0 and recorder.events == []


def test_a_task_cancelled_while_waiting_for_a_worker_leaves_no_trace(crm):
    async def main() -> None:
        async with AsyncCRM(crm, max_workers=1) as acrm:
            holding, release = asyncio.Event(), asyncio.Event()

            async def holder() -> None:
                async with acrm.unit_of_work(user=ADMIN, tenant=TENANT) as uow:
                    await uow.customers.create(name="held")
                    holding.set()
                    await release.wait()

            async def waiter() -> None:
                async with acrm.unit_of_work(user=ADMIN, tenant=TENANT) as uow:
                    await uow.customers.create(name="never")

            first = asyncio.create_task(holder())
            await holding.wait()
            second = asyncio.create_task(waiter())
            await asyncio.sleep(0.01)  # waiting for the one worker
            second.cancel()
            with pytest.raises(asyncio.CancelledError):
                await second
            release.set()
            await first
            assert acrm.workers_in_use == 0
            assert await acrm.as_user(ADMIN, tenant=TENANT).customers.count() == 1

    run(main())


def test_worker_threads_are_bounded(crm):
    running, peak = 0, 0
    threads: set[int] = set()

    async def main() -> None:
        async with AsyncCRM(crm, max_workers=2) as acrm:

            async def request(i: int) -> None:
                nonlocal running, peak
                async with acrm.unit_of_work(user=ADMIN, tenant=TENANT) as uow:
                    running += 1
                    peak = max(peak, running)
                    threads.add(await uow.run(lambda u: threading.get_ident()))
                    await uow.customers.create(name=f"c{i}")
                    await asyncio.sleep(0.005)
                    running -= 1

            await asyncio.gather(*(request(i) for i in range(8)))
            assert acrm.workers_in_use == 0

    run(main())
    assert peak == 2 and len(threads) <= 2 and count(crm) == 8


def test_closing_stops_the_workers_and_leaves_the_crm_open(crm):
    async def main() -> AsyncCRM:
        async with crm.aio(max_workers=3) as acrm:
            assert acrm.max_workers == 3 and not acrm.closed
            await acrm.as_user(ADMIN, tenant=TENANT).customers.create(name="甲")
        assert acrm.closed
        with pytest.raises(pycrm.StorageError, match="closed"):
            async with acrm.unit_of_work(user=ADMIN, tenant=TENANT):
                pass
        with pytest.raises(pycrm.StorageError, match="closed"):
            await acrm.as_user(ADMIN, tenant=TENANT).customers.count()
        return acrm

    acrm = run(main())
    assert count(crm) == 1  # the CRM itself stays open
    assert acrm.workers_in_use == 0
    assert crm.aio().max_workers == DEFAULT_MAX_WORKERS
    assert isinstance(pycrm.AsyncCRM(crm), AsyncCRM)


def test_an_async_crm_serves_several_event_loops_one_after_another(crm):
    acrm = AsyncCRM(crm, max_workers=1)

    async def request(name: str) -> None:
        async with acrm.unit_of_work(user=ADMIN, tenant=TENANT) as uow:
            await uow.customers.create(name=name)

    run(request("甲"))
    run(request("乙"))  # the idle worker of the first loop serves the second
    run(acrm.aclose())
    assert count(crm) == 2


@pytest.mark.parametrize(
    "arguments",
    [
        pytest.param(("not a crm",), id="crm"),
        pytest.param((None,), id="none"),
    ],
)
def test_bad_arguments_are_configuration_errors(arguments):
    with pytest.raises(pycrm.ConfigurationError, match="crm"):
        AsyncCRM(*arguments)


@pytest.mark.parametrize("max_workers", [0, -1, 1.5, True, "4"])
def test_a_bad_worker_bound_is_a_configuration_error(crm, max_workers):
    with pytest.raises(pycrm.ConfigurationError, match="max_workers"):
        AsyncCRM(crm, max_workers=max_workers)


def test_an_async_unit_of_work_says_what_it_is(crm):
    acrm = AsyncCRM(crm)
    uow = acrm.unit_of_work(user=ADMIN, tenant=TENANT)
    assert isinstance(uow, AsyncUnitOfWork)
    assert uow.tenant == TENANT and uow.user == ADMIN
    assert "new" in repr(uow) and "max_workers=15" in repr(acrm)
    run(acrm.aclose())


def test_the_sweep_runs_on_a_worker_thread() -> None:
    at = dt.datetime(2026, 3, 16, 9, 0, tzinfo=dt.UTC)

    async def scenario(crm: pycrm.CRM) -> pycrm.SweepRun:
        async with AsyncCRM(crm) as acrm:
            api = acrm.as_user(pycrm.SYSTEM_USER, tenant="t")
            await api.activities.create(type="call", subject="call back", remind_at=at)
            return await acrm.sweep(at, tenant="t")

    crm = pycrm.CRM.connect("memory://", clock=pycrm.FixedClock(at), load_entry_points=False)
    assert asyncio.run(scenario(crm)).raised["activity.reminder"] == 1
