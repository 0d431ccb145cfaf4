"""The CRM facade: settings, plugins, storage and services of one company's CRM."""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
import sys
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeGuard, TypeVar, cast

from pycrm.core.access import RoleDefinition, SharingRule
from pycrm.core.clock import Clock, SystemClock
from pycrm.core.configuration import Picklist
from pycrm.core.events import Event
from pycrm.core.fields import FieldDefinition
from pycrm.core.matching import MatchRule
from pycrm.core.money import ExchangeRates, validate_currency
from pycrm.core.pipeline import Pipeline, Pipelines
from pycrm.errors import ConfigurationError, PluginError, StorageError, ValidationError
from pycrm.plugins.manager import PluginInfo, make_plugin_manager
from pycrm.services import outbox
from pycrm.services.catalogue import Services
from pycrm.services.fields import CustomFields
from pycrm.services.sweep import SweepRule, SweepRun, sweep
from pycrm.services.tenant_config import Configurations
from pycrm.services.unit_of_work import UnitOfWork, check_tenant, check_user
from pycrm.settings import Settings
from pycrm.storage.base import StorageBackend

if TYPE_CHECKING:
    import sqlalchemy as sa
    from sqlalchemy.orm import Session

    from pycrm.aio import AsyncCRM

__all__ = ["CRM", "DEFAULT_URL"]

log = logging.getLogger("pycrm")
T = TypeVar("T")

#: Where ``CRM.connect()`` keeps data when no URL is given: an embedded SQLite file.
DEFAULT_URL = "sqlite:///pycrm.db"

#: The unit of work open in this context (a thread, or an asyncio task), per CRM instance
#: (see :meth:`CRM.claim_context`). Never changed in place: a copied context shares it.
_OPEN_UNITS: contextvars.ContextVar[tuple[tuple[CRM, UnitOfWork], ...]]
_OPEN_UNITS = contextvars.ContextVar("pycrm_open_units", default=())


def _is_engine(value: object) -> TypeGuard[sa.Engine]:
    # Without sqlalchemy imported nothing can be an Engine, and pycrm on the memory backend
    # never pays for importing it.
    module = sys.modules.get("sqlalchemy")
    return module is not None and isinstance(value, module.Engine)


def _check_arguments(storage: object, settings: object, plugins: object, clock: object) -> None:
    """Refuse what cannot build a CRM, before anything is opened."""
    problems = []
    if not (isinstance(storage, str) or _is_engine(storage)) and not all(
        callable(getattr(storage, name, None)) for name in ("begin", "migrate", "close")
    ):
        problems.append(
            ("storage", "give a database URL, a SQLAlchemy Engine or a storage backend")
        )
    if settings is not None and not isinstance(settings, Settings):
        problems.append(("settings", "give pycrm.Settings(...)"))
    if isinstance(plugins, str | bytes) or not isinstance(plugins, Sequence):
        problems.append(("plugins", "give a list of plugins"))
    if clock is not None and not callable(getattr(clock, "now", None)):
        problems.append(("clock", "give an object with a now() method (pycrm.FixedClock)"))
    if problems:
        raise ConfigurationError(
            "cannot build the CRM: " + "; ".join(f"{field}: {why}" for field, why in problems)
        )


class CRM:
    """One company's CRM. Build it once per application and share it.

    >>> crm = CRM.connect("memory://")
    >>> with crm.unit_of_work(tenant="acme", user=SYSTEM_USER) as uow:
    ...     uow.customers.create(name="ACME").name
    'ACME'
    """

    def __init__(
        self,
        storage: StorageBackend | str | sa.Engine = DEFAULT_URL,
        *,
        settings: Settings | None = None,
        plugins: Sequence[object] = (),
        clock: Clock | None = None,
        load_entry_points: bool = True,
    ) -> None:
        _check_arguments(storage, settings, plugins, clock)
        self.settings = settings if settings is not None else Settings()
        self.clock: Clock = clock if clock is not None else SystemClock()
        #: Errors raised by event handlers, newest last (handlers never undo a commit).
        self.event_errors: list[tuple[Event, BaseException]] = []
        self._plugins = make_plugin_manager(
            plugins,
            disabled=self.settings.disabled_plugins,
            load_entry_points=load_entry_points,
            on_handler_error=lambda event, error: self.event_errors.append((event, error)),
        )
        self._pm = self._plugins.pm
        self.storage: StorageBackend = (
            self._make_storage(storage)
            if isinstance(storage, str) or _is_engine(storage)
            else cast(StorageBackend, storage)
        )
        self.exchange_rates: ExchangeRates = self._make_rates()
        self.currencies: list[str] = self._collect_currencies()
        #: Every registered pipeline by key; ``crm.pipelines.default`` takes new deals.
        self.pipelines: Pipelines = self._collect_pipelines()
        #: Every registered role by key (``pycrm_register_roles``).
        self.roles: dict[str, RoleDefinition] = self._collect_roles()
        #: Rules that share records automatically (``pycrm_register_sharing_rules``).
        self.sharing_rules: list[SharingRule] = self._collected(
            self._pm.hook.pycrm_register_sharing_rules(), SharingRule, "pycrm.SharingRule"
        )
        #: Custom field definitions every tenant starts from (plugins' and the host
        #: application's); a tenant's own are in ``uow.config.fields``.
        self.fields = CustomFields(self, self._collect_fields())
        #: Picklists every tenant starts from, by name (``pycrm_register_picklists``).
        self.picklists: dict[str, Picklist] = self._collect_picklists()
        #: Each tenant's configuration as this process keeps it (``uow.config``).
        self.configurations = Configurations(self)
        #: The time-based rules :meth:`sweep` runs, in order (``pycrm_register_sweep_rules``).
        self.sweep_rules: list[SweepRule] = self._collect_sweep_rules()
        #: The rules that find likely duplicates (``pycrm_register_match_rules``).
        self.match_rules: list[MatchRule] = self._collect_match_rules()

    @classmethod
    def connect(
        cls,
        url: str | sa.Engine = DEFAULT_URL,
        *,
        settings: Settings | None = None,
        plugins: Sequence[object] = (),
        clock: Clock | None = None,
        load_entry_points: bool = True,
        migrate: bool | None = None,
    ) -> CRM:
        """Open the CRM stored at ``url`` (``sqlite:///file.db``, ``postgresql://...``,
        ``memory://``), or in the database of a host application's SQLAlchemy ``Engine``
        (its pool and options stay the host's; pycrm never disposes of it). On SQLite every
        connection of that engine gets what pycrm needs: foreign keys on, the WAL journal, a
        busy timeout, a Unicode ``lower()`` and SQLAlchemy-issued ``BEGIN`` (the host's own
        transactions stay deferred).

        An embedded SQLite database is created and migrated on first use; other databases
        are migrated when ``migrate=True`` (which overrides ``settings.auto_migrate``) and
        otherwise refused while their schema is behind, with the command that upgrades it.
        """
        if migrate is not None:
            if not isinstance(migrate, bool):
                raise ConfigurationError("cannot build the CRM: migrate: give True or False")
            base = settings if isinstance(settings, Settings) else Settings()
            settings = base.model_copy(update={"auto_migrate": migrate})
        return cls(
            url,
            settings=settings,
            plugins=plugins,
            clock=clock,
            load_entry_points=load_entry_points,
        )

    # -- set-up ---------------------------------------------------------------------------
    def _make_storage(self, url: str | sa.Engine) -> StorageBackend:
        if _is_engine(url):
            from pycrm.storage.sqlalchemy.backend import SqlBackend

            return SqlBackend(
                url,
                auto_migrate=self.settings.auto_migrate,
                table_prefix=self.settings.table_prefix,
                schema=self.settings.postgresql_schema,
                read_replicas=self.settings.read_replicas,
                replica_max_lag_seconds=self.settings.replica_max_lag_seconds,
            )
        backend = self._pm.hook.pycrm_make_storage(url=url, settings=self.settings)
        if backend is None:
            raise ConfigurationError(
                f"no storage backend for {url!r}: use sqlite:///path.db, postgresql://... or "
                "memory://, or install a plugin that handles this scheme"
            )
        if self.settings.read_replicas and getattr(backend, "replicas", None) is None:
            backend.close()
            raise ConfigurationError(
                "Settings.read_replicas needs a PostgreSQL primary (postgresql://...); "
                f"{str(url).split(':', 1)[0]!r} storage reads from one place (see docs/scaling.md)"
            )
        return backend  # type: ignore[no-any-return]

    def _make_rates(self) -> ExchangeRates:
        rates = self._pm.hook.pycrm_make_exchange_rates(settings=self.settings)
        if rates is None:
            raise PluginError("no plugin provides exchange rates (pycrm_make_exchange_rates)")
        return rates  # type: ignore[no-any-return]

    def _collect_currencies(self) -> list[str]:
        codes: set[str] = set()
        for plugin_codes in self._pm.hook.pycrm_register_currencies(settings=self.settings):
            for code in plugin_codes:
                try:
                    codes.add(validate_currency(code))
                except ValidationError as error:
                    plugin = self._plugins.origin(plugin_codes) or "?"
                    raise PluginError(
                        f"plugin {plugin!r} registered a bad currency: {error}", plugin=plugin
                    ) from error
        return sorted(codes)

    def _collect_pipelines(self) -> Pipelines:
        found: list[Pipeline] = []
        for plugin_pipelines in self._pm.hook.pycrm_register_pipelines():
            for pipeline in plugin_pipelines:
                if not isinstance(pipeline, Pipeline):
                    plugin = self._plugins.origin(plugin_pipelines) or "?"
                    raise PluginError(
                        f"plugin {plugin!r} registered {pipeline!r}, not a pycrm.Pipeline",
                        plugin=plugin,
                    )
                found.append(pipeline)
        tuning = self.settings.stages
        if unknown := sorted(set(tuning) - {p.key for p in found}):
            raise ConfigurationError(
                f"settings.stages names pipelines that are not registered: {', '.join(unknown)}"
            )
        found = [p.tuned(tuning[p.key]) if p.key in tuning else p for p in found]
        return Pipelines(found, self.settings.default_pipeline)

    def _collected(self, lists: list[Any], cls: type[T], name: str) -> list[T]:
        """Merge the lists a ``pycrm_register_*`` hook returned, refusing other objects."""
        found: list[T] = []
        for items in lists:
            for item in items:
                if not isinstance(item, cls):
                    plugin = self._plugins.origin(items) or "?"
                    raise PluginError(
                        f"plugin {plugin!r} registered {item!r}, not a {name}", plugin=plugin
                    )
                found.append(item)
        return found

    def _collect_sweep_rules(self) -> list[SweepRule]:
        # pluggy answers the plugin registered last first: the built-in rules run first.
        lists = list(reversed(self._pm.hook.pycrm_register_sweep_rules()))
        rules = self._collected(lists, SweepRule, "pycrm.SweepRule")  # type: ignore[type-abstract]
        keys = [rule.key for rule in rules]
        if twice := sorted({k for k in keys if keys.count(k) > 1}):
            raise PluginError(f"sweep rules {twice} are registered twice; disable one of them")
        return rules

    def _collect_match_rules(self) -> list[MatchRule]:
        lists = list(reversed(self._pm.hook.pycrm_register_match_rules()))
        rules = self._collected(lists, MatchRule, "pycrm.MatchRule")
        keys = [rule.key for rule in rules]
        if twice := sorted({k for k in keys if keys.count(k) > 1}):
            raise PluginError(f"match rules {twice} are registered twice; disable one of them")
        return rules

    def _collect_picklists(self) -> dict[str, Picklist]:
        found: dict[str, Picklist] = {}
        lists = self._pm.hook.pycrm_register_picklists()
        # pluggy answers the plugin registered last first: let later plugins win.
        for picklist in self._collected(list(reversed(lists)), Picklist, "pycrm.Picklist"):
            found[picklist.name] = picklist
        return found

    def _collect_roles(self) -> dict[str, RoleDefinition]:
        roles: dict[str, RoleDefinition] = {}
        for items in self._pm.hook.pycrm_register_roles():
            plugin = self._plugins.origin(items) or "?"
            for role in self._collected([items], RoleDefinition, "pycrm.RoleDefinition"):
                if role.key in roles:
                    raise PluginError(
                        f"plugin {plugin!r} registered role {role.key!r}, which another "
                        "plugin registered too; disable one of them",
                        plugin=plugin,
                    )
                roles[role.key] = role
        return roles

    def _collect_fields(self) -> list[FieldDefinition]:
        seen: dict[tuple[str, str], tuple[str, FieldDefinition]] = {}
        for definitions in self._pm.hook.pycrm_register_fields(settings=self.settings):
            for definition in definitions:
                plugin = self._plugins.origin(definitions) or "?"
                if not isinstance(definition, FieldDefinition):
                    raise PluginError(
                        f"plugin {plugin!r} returned {definition!r} from "
                        "pycrm_register_fields, not a FieldDefinition",
                        plugin=plugin,
                    )
                where = (definition.entity, definition.key)
                if where in seen:
                    first, second = sorted((seen[where][0], plugin))
                    raise PluginError(
                        f"plugins {first!r} and {second!r} both define the custom "
                        f"field {definition.entity}.{definition.key}; disable one of them",
                        plugin=plugin,
                    )
                seen[where] = (plugin, definition)
        return [definition for _, definition in seen.values()]

    @property
    def plugins(self) -> list[PluginInfo]:
        """The loaded plugins, where each came from, and the hooks it implements."""
        return list(self._plugins.infos)

    @property
    def hook(self) -> Any:
        """The plugin manager's hook relay: ``crm.hook.pycrm_<name>(...)`` calls a hook the
        way pluggy documents (its result, firstresult, wrappers)."""
        return self._pm.hook

    def migrate(self) -> None:
        """Bring the database schema up to date (core and plugin migrations)."""
        self.storage.migrate()

    @property
    def metadata(self) -> sa.MetaData | None:
        """pycrm's tables in this CRM's database, named as its settings say (``None`` on a
        backend without SQL tables). A host application's alembic ignores them with
        :func:`pycrm.embedding.include_object`."""
        tables = getattr(self.storage, "tables", None)
        return tables.metadata if tables is not None else None

    def close(self) -> None:
        """Release the storage backend's connections; the CRM is unusable afterwards."""
        self.storage.close()

    def __enter__(self) -> CRM:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- working --------------------------------------------------------------------------
    def unit_of_work(
        self,
        *,
        user: uuid.UUID | str,
        tenant: str | None = None,
        connection: sa.Connection | Session | None = None,
    ) -> UnitOfWork:
        """Start a unit of work for ``user`` in ``tenant``: all of it commits, or none.

        ``user`` is required: the acting user, whose rights every read and write is held
        to, or :data:`pycrm.SYSTEM_USER` for jobs and imports that act for no one (it sees
        and may do everything). ``tenant`` defaults to ``settings.default_tenant``
        (``"default"`` unless configured).

        ``connection`` runs the unit of work in the host application's transaction: a
        SQLAlchemy ``Connection`` or ORM ``Session`` of the same database. Inside the
        host's open transaction pycrm's writes are a savepoint, and the host's own commit or
        rollback decides for its rows and pycrm's together. Events are handed to the
        handlers after the host's session commits (with a ``Session``); with a bare
        ``Connection`` call :meth:`UnitOfWork.deliver_events` after committing, or leave
        them to :meth:`deliver_pending_events`.
        """
        return UnitOfWork(
            self,
            tenant if tenant is not None else self.settings.default_tenant,
            user,
            connection=connection,
        )

    def as_user(
        self, user: uuid.UUID | str, *, tenant: str | None = None, fresh: bool = False
    ) -> Services:
        """Services where every call is its own unit of work, acting as ``user``.

        With ``Settings.read_replicas``, calls that only read (lists, gets, counts,
        reports) may run on a hot standby, which can be a moment behind the primary;
        ``fresh=True`` keeps them on the primary, so they see every commit made before
        them (read your own writes). Calls that write always run on the primary.
        """
        tenant = check_tenant(tenant if tenant is not None else self.settings.default_tenant)
        user_id = check_user(user)
        if not isinstance(fresh, bool):
            raise ValidationError.single("fresh", "give True or False")

        @contextmanager
        def step(*, read_only: bool = False) -> Iterator[UnitOfWork]:
            replica = read_only and not fresh
            with UnitOfWork(self, tenant, user_id, read_only=read_only, replica=replica) as uow:
                yield uow

        return Services(step)

    def claim_context(self, uow: UnitOfWork) -> None:
        """Note that ``uow`` is open in this context; refuse a second unit of work of this
        CRM in it.

        The context is the thread's or, under asyncio, the task's (:mod:`contextvars`), so
        each thread and each task has a unit of work of its own. A unit of work inside
        another in the same context would wait for the outer one's locks (SQLite) or see
        its uncommitted work half-way (other databases): every backend refuses it the same
        way, at once. A task started inside a unit of work inherits its context, and so
        counts as inside it. Other CRM instances' units of work are not seen.
        """
        opened = _OPEN_UNITS.get()
        held = next((u for crm, u in opened if crm is self), None)
        if held is uow:
            return
        if held is not None and not held._done:  # an ended one was released elsewhere
            raise StorageError(
                "a unit of work is already open in this context (thread or task): finish it "
                "before starting another (or do the work inside it)"
            )
        _OPEN_UNITS.set((*((c, u) for c, u in opened if c is not self), (self, uow)))

    def release_context(self, uow: UnitOfWork) -> None:
        """Note that ``uow`` has ended in this context."""
        opened = _OPEN_UNITS.get()
        if any(u is uow for c, u in opened if c is self):
            _OPEN_UNITS.set(tuple((c, u) for c, u in opened if c is not self))

    def aio(self, *, max_workers: int | None = None) -> AsyncCRM:
        """This CRM's async API: ``pycrm.AsyncCRM(crm)`` (see :mod:`pycrm.aio`). Build it
        once and share it: each one has worker threads of its own (at most
        ``max_workers``, :data:`pycrm.aio.DEFAULT_MAX_WORKERS` unless given)."""
        from pycrm.aio import AsyncCRM

        if max_workers is None:
            return AsyncCRM(self)
        return AsyncCRM(self, max_workers=max_workers)

    # -- time-based rules ---------------------------------------------------------------
    def sweep(self, now: dt.datetime | None = None, *, tenant: str | None = None) -> SweepRun:
        """Run every time-based rule for ``tenant`` (default ``settings.default_tenant``) at
        ``now`` (default the clock's): activity reminders, SLA warnings, breaches and
        escalations, dunning, stale deals, birthdays, care days and the public pools'
        recycling, then the plugins' rules (``pycrm_register_sweep_rules``).

        Safe to run as often as you like, from cron (``pycrm sweep``) or a scheduler, and
        from several processes at once: each alert is raised once (:class:`pycrm.Alert`),
        and a second run at the same time raises nothing new. The rules run in one unit
        of work, each in a savepoint: one that fails is logged and named in
        :attr:`SweepRun.failed`, its writes undone, while the others still run.
        """
        tenant = check_tenant(tenant if tenant is not None else self.settings.default_tenant)
        at = now if now is not None else self.clock.now()
        if not isinstance(at, dt.datetime) or at.tzinfo is None:
            raise ValidationError.single("now", "give a timezone-aware time")
        return sweep(self, tenant, at.astimezone(dt.UTC))

    # -- events ---------------------------------------------------------------------------
    @property
    def has_event_handlers(self) -> bool:
        """Whether any plugin implements ``pycrm_on_event`` (if none does, no event is built)."""
        return bool(self._pm.hook.pycrm_on_event.get_hookimpls())

    def deliver_pending_events(self, *, tenant: str) -> int:
        """Deliver ``tenant``'s events that were committed but never handed to the handlers
        (the process stopped right after its commit); returns how many. Events are
        delivered at least once: a handler that must not act twice ignores an
        ``event.id`` it has seen. Safe to run from several processes at once."""
        return outbox.deliver_pending(self, check_tenant(tenant))

    def dispatch(self, events: Iterable[Event]) -> None:
        """Hand committed events to every ``pycrm_on_event`` handler, in order.

        Each handler is called on its own: one that raises is logged (logger ``"pycrm"``)
        and its ``(event, error)`` appended to :attr:`event_errors`, and the other handlers
        and later events still run. Nothing committed is undone.
        """
        for event in events:
            self._pm.hook.pycrm_on_event(event=event, crm=self)
