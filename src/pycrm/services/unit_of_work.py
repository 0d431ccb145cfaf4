"""The unit of work: one transaction, one tenant, one acting user, events after commit."""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import sys
import uuid
import zoneinfo
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from pycrm.core.events import Event
from pycrm.core.limits import check_text
from pycrm.errors import StorageError, ValidationError
from pycrm.services import outbox
from pycrm.services.access import Access
from pycrm.services.catalogue import Services
from pycrm.storage.base import Scope, StorageBackend, Transaction
from pycrm.storage.capabilities.configuration import tenant_versions
from pycrm.storage.capabilities.organisation import organisation_version

if TYPE_CHECKING:
    from pycrm.core.configuration import TenantConfiguration
    from pycrm.crm import CRM

__all__ = ["Step", "UnitOfWork", "check_tenant"]


class Step(Protocol):
    """How a service runs one call: inside a unit of work the caller holds, or in one of its
    own. ``read_only=True`` says the call only reads, so a unit of work of its own need not
    take a write lock (SQLite)."""

    def __call__(self, *, read_only: bool = False) -> AbstractContextManager[UnitOfWork]: ...


def check_tenant(tenant: object) -> str:
    if not isinstance(tenant, str) or not tenant.strip() or len(tenant) > 100:
        raise ValidationError.single("tenant", "must be a non-empty string of at most 100 chars")
    try:
        return check_text(tenant)  # the tenant is in every row's key
    except ValueError as error:
        raise ValidationError.single("tenant", str(error)) from None


def check_user(user: object) -> uuid.UUID:
    if isinstance(user, uuid.UUID):
        return user
    if isinstance(user, str):
        try:
            return uuid.UUID(user)
        except ValueError:
            pass
    raise ValidationError.single("user", "must be the acting user's id (a UUID)")


class UnitOfWork(Services):
    """Everything done inside ``with crm.unit_of_work(...) as uow:`` commits together.

    Leaving the block normally commits; an exception rolls everything back and is
    re-raised. Call :meth:`commit` or :meth:`rollback` to end it early. Events are emitted
    through the ``pycrm_on_event`` hook only after the commit succeeded.
    """

    def __init__(
        self,
        crm: CRM,
        tenant: str,
        user: uuid.UUID | str,
        *,
        read_only: bool = False,
        connection: Any = None,
        replica: bool = False,
    ) -> None:
        self.crm = crm
        #: Whether this unit of work only reads (its transaction takes no write lock).
        self.read_only = read_only
        #: Whether it may read a hot standby (``Settings.read_replicas``), which can be a
        #: moment behind: only a read-only unit of work of pycrm's own, never a host's.
        self.replica = replica and read_only and connection is None
        self.tenant = check_tenant(tenant)
        self.user = check_user(user)
        #: Every record of the tenant, for pycrm's own bookkeeping (rule checks such as
        #: one plan per order must see records the acting user may not).
        self.everything = Scope(self.tenant)
        self._access: Access | None = None
        #: Whether this unit of work changed the organisation (users, departments, shares).
        self.changed_organisation = False
        #: Whether it changed the tenant's configuration (then it reads its own afresh).
        self.changed_configuration = False
        self._versions: tuple[int | None, int | None] | None = None
        self._config: TenantConfiguration | None = None
        self._tx: Transaction | None = None
        self._events: list[Event] = []
        #: The time this unit of work acts at instead of the clock's (the sweep's ``now``).
        self._at: dt.datetime | None = None
        #: Whether the running call may save records a ``block`` duplicate rule refuses.
        self.allow_duplicates = False
        #: Match keys of records being created that the duplicate check stored with its
        #: lookup, by record id, until the records are written (then they are not stored
        #: again): :mod:`pycrm.services.duplicates`.
        self.match_keys_ahead: dict[uuid.UUID, list[tuple[str, str]]] = {}
        #: Committed in a host's transaction, not yet handed to the handlers.
        self._undelivered: list[Event] = []
        self._host = _HostTransaction.of(connection)
        self._done = False
        self._in_call = False
        super().__init__(self.step)

    @property
    def tx(self) -> Transaction:
        """The storage transaction, opened on first use."""
        if self._done:
            raise StorageError("this unit of work has ended; start a new one")
        if self._tx is None:
            self.crm.claim_context(self)
            try:
                self._tx = begin(
                    self.crm.storage,
                    read_only=self.read_only,
                    host=self._host,
                    replica=self.replica,
                )
            except BaseException:
                self.crm.release_context(self)
                raise
        return self._tx

    def organisation_changed(self) -> None:
        """Note a write that changes who may see what: rights worked out from now on in
        this unit of work see its uncommitted changes, so none of them are kept for other
        units of work."""
        self.changed_organisation = True
        if self._access is not None:
            self._access.detach()

    def versions(self) -> tuple[int | None, int | None]:
        """The tenant's organisation and configuration versions, read once per unit of work
        in one query (``None`` for a counter the backend does not keep)."""
        if self._versions is None:
            both = tenant_versions(self.tx)
            if both is not None:
                self._versions = both.tenant_versions(self.tenant)
            else:
                org = organisation_version(self.tx)
                self._versions = (org.organisation_version(self.tenant) if org else None, None)
        return self._versions

    @property
    def config(self) -> TenantConfiguration:
        """The tenant's configuration: custom fields, pipelines, picklists, currencies,
        rates, locale, time zone and number sequences (defaults merged with the tenant's
        changes; kept by the process while it does not change)."""
        if self._config is None:
            self._config = self.crm.configurations.of(self)
        return self._config

    def configuration_changed(self) -> None:
        """Note a change of the tenant's configuration: this unit of work reads its own
        (uncommitted) configuration from now on, and keeps none of it for others."""
        self.changed_configuration = True
        self._config = None

    @property
    def access(self) -> Access:
        """What the acting user may see and do (resolved on first use)."""
        if self._access is None:
            self._access = Access(self)
        return self._access

    @property
    def scope(self) -> Scope:
        """What this unit of work may read: the records of its tenant the acting user may
        view."""
        return self.access.scope()

    def now(self) -> dt.datetime:
        """The current time by the CRM's clock (timezone-aware, UTC); a sweep's units of
        work act at the time the sweep was given."""
        return self._at if self._at is not None else self.crm.clock.now()

    def today(self) -> dt.date:
        """Today in the tenant's time zone (``uow.config.time_zone``, UTC unless the tenant
        set one): the business day dates default to."""
        zone = self.config.time_zone
        now = self.now()
        return now.date() if zone == "UTC" else now.astimezone(_zone(zone)).date()

    def emit(self, event: Event) -> None:
        """Queue an event, emitted only if this unit of work commits."""
        self._events.append(event)

    @property
    def wants_events(self) -> bool:
        """Whether any plugin handles events (if none does, none is built)."""
        return self.crm.has_event_handlers

    # -- ending -------------------------------------------------------------------------
    def commit(self) -> None:
        """Write everything done so far — with its events, in the same transaction — then
        hand the events to the event hook (:mod:`pycrm.services.outbox`)."""
        if self._done:
            return
        self._done = True
        events, self._events = self._events, []
        if self._tx is not None:
            try:
                self._write_events(self._tx, events)
                self._tx.commit()
            finally:
                self.crm.release_context(self)
        if not events:
            return
        if self._host is None:
            outbox.deliver(self.crm, events)
        else:
            self._undelivered = events
            self._host.after_commit(self.deliver_events)

    def deliver_events(self) -> None:
        """Hand the events of this unit of work to the handlers, once the host
        application's transaction it ran in has committed (with an ORM ``Session`` this
        happens by itself). Undelivered events stay pending in the outbox, so
        :meth:`CRM.deliver_pending_events` hands them over later in any case."""
        events, self._undelivered = self._undelivered, []
        if events:
            outbox.deliver(self.crm, events)

    def _write_events(self, tx: Transaction, events: list[Event]) -> None:
        if not events:
            return
        try:
            events[:] = outbox.record(tx, events, self.now())
        except BaseException:
            tx.rollback()  # the change and its events commit together or not at all
            raise

    def rollback(self) -> None:
        """Undo everything done so far; no event is emitted."""
        if self._done:
            return
        self._done = True
        self._events.clear()
        if self._tx is not None:
            try:
                self._tx.rollback()
            finally:
                self.crm.release_context(self)

    def __enter__(self) -> UnitOfWork:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.rollback()

    @contextmanager
    def step(self, *, read_only: bool = False) -> Iterator[UnitOfWork]:
        """Run one service call inside this unit of work (it commits with the whole).

        The call runs in a savepoint: if it raises, its writes and its events are undone
        while the rest of the unit of work stays, so a caller that catches the error can
        go on. Calls a service makes to other services share the outer call's savepoint.
        A ``read_only`` call has nothing to undo and needs none, unless a failed statement
        would end the whole transaction (PostgreSQL).
        """
        if self._in_call:
            yield self
            return
        self._in_call = True
        mark = len(self._events)
        guarded = not read_only or getattr(self.tx, "read_failures_abort", True)
        try:
            with self.tx.savepoint() if guarded else nullcontext():
                yield self
        except BaseException:
            del self._events[mark:]
            raise
        finally:
            self._in_call = False


@functools.cache
def _zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


class _HostTransaction:
    """The host application's connection (and ORM session, when given one) that a unit of
    work joins."""

    def __init__(self, connection: Any, session: Any = None) -> None:
        self.connection, self.session = connection, session

    @classmethod
    def of(cls, given: object) -> _HostTransaction | None:
        if given is None:
            return None
        if _is_session(given):
            return cls(given.connection(), given)  # type: ignore[attr-defined]
        if not callable(getattr(given, "begin_nested", None)):
            raise ValidationError.single(
                "connection", "give a SQLAlchemy Connection or Session of the CRM's database"
            )
        return cls(given)

    def after_commit(self, deliver: Callable[[], None]) -> None:
        """Run ``deliver`` once the host's session commits; forget it if it rolls back."""
        if self.session is None:
            return
        import sqlalchemy as sa

        def committed(_session: Any) -> None:
            sa.event.remove(self.session, "after_rollback", rolled_back)
            deliver()

        def rolled_back(_session: Any) -> None:
            sa.event.remove(self.session, "after_commit", committed)

        sa.event.listen(self.session, "after_commit", committed, once=True)
        sa.event.listen(self.session, "after_rollback", rolled_back, once=True)


def _is_session(value: object) -> bool:
    orm = sys.modules.get("sqlalchemy.orm")
    return orm is not None and isinstance(value, orm.Session)


def begin(
    storage: StorageBackend,
    *,
    read_only: bool,
    host: _HostTransaction | None = None,
    replica: bool = False,
) -> Transaction:
    """A transaction of ``storage``, read-only when asked and the backend knows the
    difference (its ``begin`` takes ``read_only``), in the host's transaction if given;
    on a read replica when ``replica`` allows it and the backend has them."""
    if host is not None:
        join = getattr(storage, "begin", None)
        try:
            takes = "connection" in inspect.signature(join).parameters  # type: ignore[arg-type]
        except (TypeError, ValueError):
            takes = False
        if not takes:
            raise ValidationError.single(
                "connection", "this CRM's storage cannot join a host's transaction"
            )
        return storage.begin(read_only=read_only, connection=host.connection)  # type: ignore[call-arg]
    if read_only and _takes(storage, "read_only"):
        if replica and getattr(storage, "replicas", None) is not None:
            return storage.begin(read_only=True, replica=True)  # type: ignore[call-arg]
        return storage.begin(read_only=True)  # type: ignore[call-arg]
    return storage.begin()


def _takes(storage: StorageBackend, argument: str) -> bool:
    return _begin_takes(type(storage), argument)


@functools.cache
def _begin_takes(backend: type[StorageBackend], argument: str) -> bool:
    """Whether a backend class's ``begin`` takes ``argument`` (asked once per class: a
    signature costs as much as a short query)."""
    try:
        return argument in inspect.signature(backend.begin).parameters
    except (TypeError, ValueError, AttributeError):
        return False
