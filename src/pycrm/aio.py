"""The async API: the same services, awaited, for asyncio applications.

::

    acrm = pycrm.AsyncCRM(crm)  # or crm.aio(); build it once and share it
    async with acrm.unit_of_work(user=user_id, tenant="acme") as uow:
        customer = await uow.customers.create(name="ACME")
        page = await uow.customers.list({"level": "A"})
        n = await uow.run(lambda u: u.customers.count())  # any sync code, fully typed
    await acrm.as_user(user_id, tenant="acme").customers.get(customer.id)  # one unit per call
    await acrm.aclose()

Each async unit of work runs on a worker thread of its own: every call of it runs on that
thread, where its transaction and database connection live, and the event loop only waits
for the answer. What a call returns or raises, and the events handed to the
``pycrm_on_event`` handlers, are those of the sync API, because it is the sync API.

Why threads rather than a native asyncio database driver:

- **One implementation.** The services, their validation, rights, rules, hooks, audit
  trail and errors are those of the sync API, not a second copy that could drift from it;
  plugins and storage adapters stay plain synchronous code.
- **SQLite has no true async driver.** The async SQLite drivers run :mod:`sqlite3` in a
  thread too; PostgreSQL's would only help the one backend.
- **The work is short transactions.** A unit of work holds a thread for a few
  milliseconds of database work; what an async application awaits in between (other
  services, the network) does not hold the database.
- **The number of threads is bounded.** At most ``max_workers`` units of work (and
  one-call units of :meth:`AsyncCRM.as_user`) run at once, each with one database
  connection; the others wait for a worker without blocking the event loop.
  :data:`DEFAULT_MAX_WORKERS` is 15, the connections SQLAlchemy's default pool holds
  (``pool_size`` 5 plus ``max_overflow`` 10), so a worker never waits for a connection.

One unit of work per task: a task that opens a unit of work inside another of the same CRM
is refused at once with :class:`pycrm.StorageError` (as a thread is with the sync API); a
task started inside a unit of work (``asyncio.create_task``, ``gather``) inherits its
context and counts as inside it. Tasks each with a unit of their own run side by side.

Cancellation: a task cancelled inside ``async with acrm.unit_of_work(...)`` rolls the unit
of work back on its thread, after the call that was running there (if any) has finished,
and the connection and the thread are freed even if the task is cancelled again meanwhile.
A call cannot be interrupted half-way on its thread: a one-call unit of
:meth:`AsyncCRM.as_user` that was already running commits; a commit that was under way
completes.

Typing: :meth:`AsyncUnitOfWork.run` is the typed path (``run(fn: Callable[[UnitOfWork],
T]) -> T``, checked by mypy). The service attributes (``uow.customers`` …) are proxies
typed loosely: every method is ``(...) -> Awaitable[Any]`` for a type checker.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime as dt
import functools
import inspect
import threading
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any, Literal, TypeVar

from pycrm.crm import _OPEN_UNITS, CRM
from pycrm.errors import ConfigurationError, StorageError
from pycrm.services.catalogue import Services
from pycrm.services.sweep import SweepRun
from pycrm.services.unit_of_work import UnitOfWork

__all__ = [
    "DEFAULT_MAX_WORKERS",
    "AsyncCRM",
    "AsyncService",
    "AsyncServices",
    "AsyncUnitOfWork",
]

T = TypeVar("T")

#: Worker threads of an :class:`AsyncCRM` unless told otherwise: as many as SQLAlchemy's
#: default connection pool holds (5 + 10 overflow).
DEFAULT_MAX_WORKERS = 15

#: How one call runs: a sync callable in, its result awaited.
Call = Callable[[Callable[[], Any]], Awaitable[Any]]


class AsyncService:
    """One service of an async unit of work (``customers``, ``orders``, ``reports`` …):
    each of its methods is awaitable and takes the sync method's arguments.

    ``await uow.customers.create(name="ACME")`` runs ``customers.create`` on the unit of
    work's thread and returns what it returns, or raises what it raises. Only methods are
    offered: an unknown name raises :class:`AttributeError` at once.

    Typed loosely: to a type checker every method is ``(...) -> Awaitable[Any]``. For
    checked arguments and results use :meth:`AsyncUnitOfWork.run`.
    """

    def __init__(self, services: Services, name: str, call: Call) -> None:
        self._services = services
        self._name = name
        self._call = call

    def __getattr__(self, method: str) -> Callable[..., Awaitable[Any]]:
        if method.startswith("_"):  # private, or looked up before __init__ (copy, pickle)
            raise AttributeError(method)
        if method in _SYNC_ONLY:
            raise AttributeError(
                f"{self._name}.{method} reads on the thread that iterates it: in async code, "
                f"iterate it on the unit of work's thread, in "
                f"`await uow.run(lambda u: ... u.{self._name}.{method}(...) ...)`"
            )
        target = getattr(_service_class(self._services, self._name), method, None)
        if not inspect.isfunction(target):
            raise AttributeError(f"{self._name} has no method {method!r}")
        services, name, call = self._services, self._name, self._call

        async def method_call(*args: Any, **kwargs: Any) -> Any:
            return await call(lambda: getattr(getattr(services, name), method)(*args, **kwargs))

        method_call.__name__ = method
        method_call.__qualname__ = f"{name}.{method}"
        method_call.__doc__ = target.__doc__
        return method_call

    def __dir__(self) -> list[str]:
        cls = _service_class(self._services, self._name)
        return sorted(
            n
            for n in dir(cls)
            if not n.startswith("_") and n not in _SYNC_ONLY and _is_method(cls, n)
        )

    def __repr__(self) -> str:
        return f"<async {self._name}>"


#: Methods whose result reads the database as it is iterated (a stream), which only a unit
#: of work's own thread may do.
_SYNC_ONLY = frozenset({"stream"})


def _service_class(services: Services, name: str) -> type:
    if name == "reports":  # built on first use: look at the class, build nothing here
        from pycrm.services.reports import Reports

        return Reports
    return type(getattr(services, name))


def _is_method(cls: type, name: str) -> bool:
    return inspect.isfunction(getattr(cls, name, None))


class AsyncServices:
    """``.customers``, ``.contacts``, ``.orders`` … and ``.reports`` of the async API,
    as :class:`AsyncService` proxies: each method awaited. From :meth:`AsyncCRM.as_user`,
    every call is a unit of work of its own."""

    def __init__(self, services: Services, call: Call) -> None:
        self.departments = AsyncService(services, "departments", call)
        self.users = AsyncService(services, "users", call)
        self.customers = AsyncService(services, "customers", call)
        self.contacts = AsyncService(services, "contacts", call)
        self.leads = AsyncService(services, "leads", call)
        self.opportunities = AsyncService(services, "opportunities", call)
        self.products = AsyncService(services, "products", call)
        self.orders = AsyncService(services, "orders", call)
        self.payment_plans = AsyncService(services, "payment_plans", call)
        self.payments = AsyncService(services, "payments", call)
        self.tickets = AsyncService(services, "tickets", call)
        self.activities = AsyncService(services, "activities", call)
        self.receivables = AsyncService(services, "receivables", call)
        self.shares = AsyncService(services, "shares", call)
        self.configuration = AsyncService(services, "configuration", call)
        self.pools = AsyncService(services, "pools", call)
        self.duplicates = AsyncService(services, "duplicates", call)
        self.imports = AsyncService(services, "imports", call)
        self.exports = AsyncService(services, "exports", call)
        self.search = AsyncService(services, "search", call)
        self.reports = AsyncService(services, "reports", call)


class AsyncUnitOfWork(AsyncServices):
    """``async with acrm.unit_of_work(user=..., tenant=...) as uow:``: a unit of work of
    the sync API (:class:`pycrm.UnitOfWork`) run on a worker thread of its own.

    Leaving the block normally commits; an exception or a cancellation rolls everything
    back. ``await uow.commit()`` and ``await uow.rollback()`` end it early. Events go to
    the ``pycrm_on_event`` handlers after the commit, on the unit's thread. The sync code
    runs in a copy of the task's :mod:`contextvars` context taken when the block began.
    """

    def __init__(self, acrm: AsyncCRM, uow: UnitOfWork) -> None:
        super().__init__(uow, self._call)
        self._acrm = acrm
        self._uow = uow
        #: The tenant and the acting user, as the sync unit of work has them.
        self.tenant: str = uow.tenant
        self.user: uuid.UUID = uow.user
        self._state: Literal["new", "open", "ended"] = "new"
        self._worker: ThreadPoolExecutor | None = None
        self._context: contextvars.Context | None = None

    async def run(self, fn: Callable[[UnitOfWork], T]) -> T:
        """Run ``fn(unit_of_work)`` on this unit of work's thread and return its result:
        any sync code against the sync :class:`pycrm.UnitOfWork` (the typed path).
        ``fn`` must not wait for the event loop (it runs while the loop goes on)."""
        return await self._call(functools.partial(fn, self._uow))

    async def commit(self) -> None:
        """Write everything done so far (then hand its events to the handlers); the unit
        of work has ended, the block only frees its thread."""
        await self._call(self._uow.commit)

    async def rollback(self) -> None:
        """Undo everything done so far; no event is emitted."""
        await self._call(self._uow.rollback)

    async def __aenter__(self) -> AsyncUnitOfWork:
        if self._state != "new":
            raise StorageError("this unit of work has already been used; start a new one")
        crm = self._acrm.crm
        crm.claim_context(self._uow)  # a second one in this task: refused before waiting
        try:
            self._worker = await self._acrm._pool.lease()
        except BaseException:
            crm.release_context(self._uow)
            raise
        self._context = contextvars.copy_context()
        self._state = "open"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self._end(self._uow.commit if exc_type is None else self._uow.rollback)
        finally:
            self._acrm.crm.release_context(self._uow)

    def _open(self) -> tuple[ThreadPoolExecutor, contextvars.Context]:
        if self._state == "new" or self._worker is None or self._context is None:
            if self._state == "ended":
                raise StorageError("this unit of work has ended; start a new one")
            raise StorageError("use it inside `async with acrm.unit_of_work(...) as uow:`")
        return self._worker, self._context

    async def _call(self, fn: Callable[[], T]) -> T:
        worker, context = self._open()
        # A call cancelled before it started never runs; one already running finishes.
        return await asyncio.wrap_future(worker.submit(context.run, fn))

    async def _end(self, end: Callable[[], None]) -> None:
        worker, context = self._open()
        self._state, self._worker = "ended", None
        pool = self._acrm._pool

        def finish() -> None:
            try:
                context.run(end)
            finally:
                pool.give_back(worker)

        # Queued behind any call still running on the thread; shielded, so the commit or
        # rollback (and the freeing of the connection and thread) happens even if this
        # task is cancelled again while it waits.
        await asyncio.shield(asyncio.wrap_future(worker.submit(finish)))

    def __repr__(self) -> str:
        return f"<AsyncUnitOfWork tenant={self.tenant!r} user={self.user} {self._state}>"


class AsyncCRM:
    """The async API of a :class:`pycrm.CRM` (module :mod:`pycrm.aio`).

    ``max_workers`` bounds the worker threads, hence the units of work running at once
    and the database connections they hold (default :data:`DEFAULT_MAX_WORKERS`, 15; keep
    it at most the storage's connection pool). Further units of work wait for a free
    worker without blocking the event loop. Build one per application and share it; it
    may be used from several event loops.

    ``await acrm.aclose()`` (or ``async with pycrm.AsyncCRM(crm) as acrm:``) stops the
    worker threads; the CRM itself stays open (close it with ``crm.close()``).
    """

    def __init__(self, crm: CRM, *, max_workers: int = DEFAULT_MAX_WORKERS) -> None:
        problems = []
        if not isinstance(crm, CRM):
            problems.append("crm: give a pycrm.CRM")
        if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
            problems.append("max_workers: give a whole number of at least 1")
        if problems:
            raise ConfigurationError("cannot build the AsyncCRM: " + "; ".join(problems))
        #: The sync CRM whose services run on the worker threads.
        self.crm = crm
        #: The most worker threads (units of work running at once).
        self.max_workers = max_workers
        self._pool = _Pool(max_workers)

    def unit_of_work(self, *, user: uuid.UUID | str, tenant: str | None = None) -> AsyncUnitOfWork:
        """A unit of work for ``user`` in ``tenant``, for ``async with``: all of it
        commits, or none (arguments as :meth:`pycrm.CRM.unit_of_work`)."""
        return AsyncUnitOfWork(self, self.crm.unit_of_work(user=user, tenant=tenant))

    def as_user(
        self, user: uuid.UUID | str, *, tenant: str | None = None, fresh: bool = False
    ) -> AsyncServices:
        """Services where every awaited call is its own unit of work, acting as ``user``
        (as :meth:`pycrm.CRM.as_user`; a call that only reads takes no write lock, and may
        run on a read replica unless ``fresh=True``)."""
        services = self.crm.as_user(user, tenant=tenant, fresh=fresh)
        return AsyncServices(services, self._call_alone)

    async def _call_alone(self, fn: Callable[[], T]) -> T:
        if _open_here(self.crm):
            # The thread would refuse it too, but only after waiting for a worker, which
            # the open unit of work of this task may be holding: refuse it now.
            raise StorageError(
                "a unit of work is already open in this context (thread or task): finish it "
                "before starting another (or do the work inside it)"
            )
        pool = self._pool
        worker = await pool.lease()
        future = worker.submit(contextvars.copy_context().run, fn)
        future.add_done_callback(lambda _: pool.give_back(worker))
        return await asyncio.wrap_future(future)

    async def sweep(self, now: dt.datetime | None = None, *, tenant: str | None = None) -> SweepRun:
        """:meth:`pycrm.CRM.sweep` on a worker thread: every time-based rule of ``tenant``
        at ``now``, without blocking the event loop."""
        return await self._call_alone(lambda: self.crm.sweep(now, tenant=tenant))

    @property
    def workers_in_use(self) -> int:
        """Worker threads serving a unit of work right now."""
        return self._pool.in_use

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._pool.closed

    async def aclose(self) -> None:
        """Stop the worker threads: idle ones now, busy ones when their unit of work ends.
        Units of work still waiting for a worker, and new ones, raise
        :class:`pycrm.StorageError`. The CRM stays open."""
        self._pool.close()

    async def __aenter__(self) -> AsyncCRM:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return (
            f"<AsyncCRM max_workers={self.max_workers} in use={self.workers_in_use}"
            f"{' closed' if self.closed else ''}>"
        )


def _open_here(crm: CRM) -> bool:
    """Whether a unit of work of ``crm`` is open in this context."""
    return any(c is crm and not u._done for c, u in _OPEN_UNITS.get())


class _Pool:
    """At most ``limit`` worker threads, each a one-thread executor lent to one unit of
    work at a time. Waiters are futures of any event loop, served first come first."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.closed = False
        self._lock = threading.Lock()
        self._idle: list[ThreadPoolExecutor] = []
        self._started = 0
        self._waiting: deque[asyncio.Future[ThreadPoolExecutor]] = deque()

    @property
    def in_use(self) -> int:
        with self._lock:
            return self._started - len(self._idle)

    async def lease(self) -> ThreadPoolExecutor:
        """A worker of one's own, waiting (without blocking the loop) for a free one."""
        with self._lock:
            if self.closed:
                raise _closed()
            if self._idle:
                return self._idle.pop()
            if self._started < self.limit:
                self._started += 1
                return ThreadPoolExecutor(max_workers=1, thread_name_prefix="pycrm-aio")
            waiter: asyncio.Future[ThreadPoolExecutor] = asyncio.get_running_loop().create_future()
            self._waiting.append(waiter)
        try:
            return await waiter
        except BaseException:
            with self._lock:
                if waiter in self._waiting:
                    self._waiting.remove(waiter)
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self.give_back(waiter.result())  # handed over just as the task was cancelled
            raise

    def give_back(self, worker: ThreadPoolExecutor) -> None:
        """Return a worker (from any thread): to the first waiter, else to the idle ones."""
        with self._lock:
            if self.closed:
                self._started -= 1
            else:
                while self._waiting:
                    waiter = self._waiting.popleft()
                    try:
                        waiter.get_loop().call_soon_threadsafe(self._hand_over, waiter, worker)
                        return
                    except RuntimeError:  # that waiter's event loop is closed
                        continue
                self._idle.append(worker)
                return
        worker.shutdown(wait=False)

    def _hand_over(
        self, waiter: asyncio.Future[ThreadPoolExecutor], worker: ThreadPoolExecutor
    ) -> None:
        if waiter.done():  # cancelled, or failed by close(), since
            self.give_back(worker)
        else:
            waiter.set_result(worker)

    def close(self) -> None:
        with self._lock:
            self.closed = True
            idle, self._idle = self._idle, []
            self._started -= len(idle)
            waiting, self._waiting = list(self._waiting), deque()
        for worker in idle:
            worker.shutdown(wait=False)
        for waiter in waiting:
            with contextlib.suppress(RuntimeError):  # that waiter's event loop is closed
                waiter.get_loop().call_soon_threadsafe(_fail, waiter)


def _fail(waiter: asyncio.Future[Any]) -> None:
    if not waiter.done():
        waiter.set_exception(_closed())


def _closed() -> StorageError:
    return StorageError("this AsyncCRM is closed")
