"""Concurrent async requests through pycrm.AsyncCRM, against the same work done sequentially
through the sync API, on one SQLite file.

A request is one unit of work as a user: create a customer, find it with a filter, update
it (three service calls, one commit). ``async``: N requests at once on one event loop, each
in ``async with acrm.unit_of_work(...)`` (worker threads: ``--workers``, default
``pycrm.aio.DEFAULT_MAX_WORKERS``). ``sync``: the same N units of work one after another
with ``crm.unit_of_work`` in the same process. ``ratio = async total / sync total`` (below 1
means the concurrent requests finish sooner). While the async requests run, a task ticking
every 10 ms records how late each tick is: the event loop's lag (worst and median).

With ``--io-ms`` each request also waits that long for something else (another service)
before its unit of work: ``await asyncio.sleep`` in the async run, ``time.sleep`` in the sync
run. That wait overlaps across requests in the async run only.

Run: ``python benchmarks/bench_async.py`` (sizes 50 and 200, ``--io-ms 0`` and ``10``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pycrm
from pycrm.aio import DEFAULT_MAX_WORKERS

USER = pycrm.SYSTEM_USER
TICK = 0.01


def sync_requests(crm: pycrm.CRM, tenant: str, n: int, io_ms: float) -> float:
    """``n`` requests one after another through the sync API; seconds taken."""
    started = time.perf_counter()
    for i in range(n):
        if io_ms:
            time.sleep(io_ms / 1000)
        with crm.unit_of_work(user=USER, tenant=tenant) as uow:
            customer = uow.customers.create(name=f"客户 {i}", level="B")
            found = uow.customers.list({"name": customer.name})
            uow.customers.update(found.items[0].id, level="A", version=customer.version)
    return time.perf_counter() - started


async def _ticking(stop: asyncio.Event, lags: list[float]) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        await asyncio.sleep(TICK)
        lags.append(time.perf_counter() - started - TICK)


async def _async_requests(
    acrm: pycrm.AsyncCRM, tenant: str, n: int, io_ms: float
) -> tuple[float, list[float]]:
    async def request(i: int) -> None:
        if io_ms:
            await asyncio.sleep(io_ms / 1000)
        async with acrm.unit_of_work(user=USER, tenant=tenant) as uow:
            customer = await uow.customers.create(name=f"客户 {i}", level="B")
            found = await uow.customers.list({"name": customer.name})
            await uow.customers.update(found.items[0].id, level="A", version=customer.version)

    stop, lags = asyncio.Event(), []
    ticker = asyncio.create_task(_ticking(stop, lags))
    await asyncio.sleep(0)  # the ticker is waiting before the requests start
    started = time.perf_counter()
    await asyncio.gather(*(request(i) for i in range(n)))
    seconds = time.perf_counter() - started
    stop.set()
    await ticker
    return seconds, lags


def async_requests(
    crm: pycrm.CRM, tenant: str, n: int, io_ms: float, workers: int
) -> tuple[float, list[float]]:
    """``n`` requests at once on a new event loop; seconds taken and the loop's lags."""

    async def main() -> tuple[float, list[float]]:
        async with pycrm.AsyncCRM(crm, max_workers=workers) as acrm:
            return await _async_requests(acrm, tenant, n, io_ms)

    return asyncio.run(main())


def _check(crm: pycrm.CRM, tenant: str, n: int) -> None:
    done = crm.as_user(USER, tenant=tenant).customers.count({"level": "A"})
    assert done == n, f"{done} of {n} requests committed"


def measure(url: str, n: int, io_ms: float, workers: int, repeat: int) -> dict[str, Any]:
    """Medians of ``repeat`` interleaved runs of both, each run in a tenant of its own."""
    crm = pycrm.CRM.connect(url, load_entry_points=False)
    try:
        sync_s: list[float] = []
        async_s: list[float] = []
        lags: list[float] = []
        worst: list[float] = []
        for _ in range(repeat):  # interleaved, so a burst of load hits both alike
            tenant = f"sync-{uuid.uuid4().hex[:8]}"
            sync_s.append(sync_requests(crm, tenant, n, io_ms))
            _check(crm, tenant, n)
            tenant = f"async-{uuid.uuid4().hex[:8]}"
            seconds, run_lags = async_requests(crm, tenant, n, io_ms, workers)
            _check(crm, tenant, n)
            async_s.append(seconds)
            lags.extend(run_lags)
            worst.append(max(run_lags, default=0.0))
    finally:
        crm.close()
    sync_median, async_median = statistics.median(sync_s), statistics.median(async_s)
    return {
        "sync_s": sync_median,
        "async_s": async_median,
        "ratio": async_median / sync_median,
        "ticks": len(lags),
        "worst_lag_ms": statistics.median(worst) * 1000,
        "median_lag_ms": statistics.median(lags) * 1000 if lags else 0.0,
    }


def report(results: dict[tuple[int, float], dict[str, Any]], workers: int) -> list[str]:
    lines = [
        f"SQLite, {workers} worker threads; a request = 1 unit of work (create, filter, update)",
        f"  {'requests':>8} {'io ms':>6} {'sync s':>8} {'async s':>8} {'ratio':>6} "
        f"{'worst lag ms':>13} {'median lag ms':>14} {'ticks':>6}",
    ]
    for (n, io_ms), r in results.items():
        lines.append(
            f"  {n:>8} {io_ms:>6g} {r['sync_s']:>8.3f} {r['async_s']:>8.3f} {r['ratio']:>6.2f} "
            f"{r['worst_lag_ms']:>13.1f} {r['median_lag_ms']:>14.2f} {r['ticks']:>6}"
        )
    lines.append(
        "  ratio = async total / sync sequential total; lag = lateness of a 10 ms timer "
        "while the async requests run (worst: median over the runs of each run's worst)"
    )
    return lines


def main(argv: Sequence[str] | None = None) -> dict[tuple[int, float], dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--io-ms", type=float, nargs="+", default=[0.0, 10.0])
    parser.add_argument("--workers", type=int, default=DEFAULT_MAX_WORKERS)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each")
    args = parser.parse_args(argv)
    print(f"load average (1 min) before: {os.getloadavg()[0]:.2f}")
    results: dict[tuple[int, float], dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench_async.db'}"
        for n in args.requests:
            for io_ms in args.io_ms:
                results[(n, io_ms)] = measure(url, n, io_ms, args.workers, args.repeat)
    for line in report(results, args.workers):
        print(line)
    print(f"load average (1 min) after: {os.getloadavg()[0]:.2f}")
    return results


if __name__ == "__main__":
    main()
