"""The SQLAlchemy backend: one Engine per CRM, Core statements, explicit mapping."""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from operator import attrgetter
from typing import Any, Literal, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.dialects import postgresql

from pycrm.core.audit import Change, ChangeAction, FieldChange
from pycrm.core.matching import MatchKey
from pycrm.core.text import fold
from pycrm.errors import ConfigurationError, ConflictError, StorageError
from pycrm.storage.base import Condition, Group, Query, Scope, Stored
from pycrm.storage.capabilities.audit import Creations
from pycrm.storage.capabilities.churn import ChurnCheck
from pycrm.storage.capabilities.lookups import RecordStoreLookups
from pycrm.storage.capabilities.pipeline import OpenStays, OpportunityTotals
from pycrm.storage.capabilities.pools import RecyclePlan
from pycrm.storage.capabilities.receivables import AgingSum, DatedSum, OpenInstallment
from pycrm.storage.capabilities.sweeping import DueDeadline, DueReminder, Stage
from pycrm.storage.sqlalchemy import (
    audit,
    churn,
    matching,
    pipeline_queries,
    pools,
    receivables,
    sweeping,
)
from pycrm.storage.sqlalchemy import schema as schema_
from pycrm.storage.sqlalchemy.bulk import bulk_insert, deferred_copies, finish_copy
from pycrm.storage.sqlalchemy.conflicts import unique_fields
from pycrm.storage.sqlalchemy.mapping import Mapper, entity_mapper, mapper_for
from pycrm.storage.sqlalchemy.queries import (
    after_clause,
    column,
    order_clause,
    where_clause,
)
from pycrm.storage.sqlalchemy.replicas import Replicas
from pycrm.storage.sqlalchemy.seen import TemporarySet
from pycrm.storage.sqlalchemy.tables import CHILDREN, DEFAULT_PREFIX, Tables, tables_for
from pycrm.storage.sqlalchemy.types import json_from_text

__all__ = ["SqlBackend", "SqlTransaction"]

S = TypeVar("S", bound=Stored)

#: Connection info key: whether the connection's current transaction only reads.
READ_ONLY = "pycrm_read_only"

#: Rows per INSERT statement batch: bounded memory and statement size on bulk paths.
BATCH_ROWS = 2000

#: What a failed write of the audit trail says first.
_AUDIT = "cannot write the audit trail"

#: The audit trail's plain columns, read from each Change in one call.
_CHANGE_COLUMNS = ("tenant", "id", "entity", "record_id", "user_id", "at", "version")
_change_values = attrgetter(*_CHANGE_COLUMNS)


#: Advisory locks on many names in one statement (each as ``hold_lock`` takes it), in the
#: order of their keys: two transactions taking overlapping sets cannot deadlock.
_HOLD_LOCKS = sa.text(
    "SELECT pg_advisory_xact_lock(k) FROM (SELECT DISTINCT hashtextextended(n, 0) AS k"
    " FROM unnest(CAST(:names AS TEXT[])) AS n ORDER BY k) AS held"
)

#: DBAPI connection info key: pycrm's functions and pragmas are installed on it.
_READY = "pycrm_ready"


def _sqlite_pragmas(dbapi_connection: Any, record: Any) -> None:
    # SQLite's own lower() folds ASCII only; text filters must fold every script the way
    # Python (and so the memory backend) does.
    dbapi_connection.create_function("lower", 1, _lower, deterministic=True)
    dbapi_connection.create_function("pycrm_fold", 1, _fold, deterministic=True)
    if dbapi_connection.in_transaction:
        return  # a host's connection mid-transaction: the rest waits for its next use
    # pycrm issues BEGIN itself (see _sqlite_begin): the driver's own transaction handling
    # would otherwise defer BEGIN to the first write and break SAVEPOINT.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")  # readers work while a writer commits
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
    if record is not None:
        record.info[_READY] = True


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _fold(value: object) -> object:
    return fold(value) if isinstance(value, str) else value


def _without_values(error: exc.SQLAlchemyError) -> str:
    """The driver's first line about a failure, without the statement's parameter values
    (a driver may quote one: "invalid input syntax for type bigint: \"…\"")."""
    orig = getattr(error, "orig", None)
    text = str(orig) if orig is not None else str(error)
    text = text.split("\n")[0].split("[SQL:")[0].strip() or type(error).__name__
    for value in _bound_values(getattr(error, "params", None)):
        shown = str(value)
        if len(shown) >= 3:  # shorter values would blank out ordinary words
            text = text.replace(shown, "…")
    return text


def _bound_values(params: Any, most: int = 10_000) -> list[Any]:
    """The values bound to a failed statement (a row, or the rows of an executemany)."""
    rows = params if isinstance(params, list | tuple) and params and isinstance(
        params[0], dict | list | tuple) else [params]  # fmt: skip
    found: list[Any] = []
    for row in rows:
        values = (
            row.values() if isinstance(row, dict) else row if isinstance(row, list | tuple) else ()
        )
        found.extend(v for v in values if v is not None)
        if len(found) >= most:
            break
    return found


def _sqlite_begin(conn: sa.Connection) -> None:
    # A writer takes the write lock at once (waiting up to the busy timeout for another
    # writer), so it never fails later when a deferred read lock cannot be upgraded.
    # Read-only units stay deferred and never wait for writers (WAL).
    conn.exec_driver_sql("BEGIN" if conn.info.get(READ_ONLY, False) else "BEGIN IMMEDIATE")


def _sqlite_begin_shared(conn: sa.Connection) -> None:
    # On a host application's engine its own transactions keep SQLite's usual deferred
    # BEGIN; only pycrm's writers (READ_ONLY set to False) take the write lock at once.
    conn.exec_driver_sql("BEGIN" if conn.info.get(READ_ONLY, True) else "BEGIN IMMEDIATE")


def _prepare_sqlite(engine: sa.Engine, *, shared: bool) -> None:
    begin = _sqlite_begin_shared if shared else _sqlite_begin
    if not event.contains(engine, "connect", _sqlite_pragmas):
        event.listen(engine, "connect", _sqlite_pragmas)
    if not event.contains(engine, "begin", begin):
        event.listen(engine, "begin", begin)


def _check_naming(prefix: str, schema: str | None, dialect: str) -> None:
    if schema is not None and dialect != "postgresql":
        raise ConfigurationError(
            f"Settings.schema={schema!r} needs PostgreSQL; on {dialect} use "
            "Settings.table_prefix to keep pycrm's tables apart"
        )


def _make_replicas(
    engine: sa.Engine, urls: Sequence[str], max_lag: float | None, *, shared: bool
) -> Replicas | None:
    if not urls:
        return None
    if engine.dialect.name != "postgresql":
        if not shared:
            engine.dispose()
        raise ConfigurationError(
            f"Settings.read_replicas needs a PostgreSQL primary; this CRM's database is "
            f"{engine.dialect.name} (see docs/scaling.md)"
        )
    return Replicas(urls, hide_parameters=engine.hide_parameters, max_lag_seconds=max_lag)


def _make_engine(url: str | sa.URL, engine_options: dict[str, Any] | None) -> sa.Engine:
    options = dict(engine_options or {})
    options.setdefault("hide_parameters", True)  # values are personal data: not in errors
    if _in_memory_sqlite(url):
        # One shared connection, or each connection would see its own empty database.
        options.setdefault("poolclass", sa.StaticPool)
        options.setdefault("connect_args", {"check_same_thread": False})
    try:
        if sa.make_url(url).get_backend_name() == "sqlite":
            options.setdefault("json_deserializer", json_from_text)
        return sa.create_engine(url, **options)
    except (exc.NoSuchModuleError, ImportError) as error:
        raise ConfigurationError(_missing_driver(url, error)) from error
    except (exc.ArgumentError, ValueError) as error:
        raise StorageError(f"cannot open database {url!s}: {error}") from error


def _missing_driver(url: str | sa.URL, error: BaseException) -> str:
    backend = str(url).split(":", 1)[0].split("+", 1)[0]
    if backend in ("postgresql", "postgres"):
        return (
            "the PostgreSQL driver is not installed: pip install 'pycrm-embedded[postgresql]' "
            f"({error})"
        )
    return f"no database driver for {backend!r} ({error})"


def _in_memory_sqlite(url: str | sa.URL) -> bool:
    try:
        parsed = sa.make_url(url)
    except (exc.ArgumentError, ValueError):
        return False
    return parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:")


class SqlBackend:
    """Stores records in SQLite or PostgreSQL through SQLAlchemy Core."""

    def __init__(
        self,
        url: str | sa.URL | sa.Engine,
        *,
        auto_migrate: bool | None = None,
        engine_options: dict[str, Any] | None = None,
        table_prefix: str = DEFAULT_PREFIX,
        schema: str | None = None,
        read_replicas: Sequence[str] = (),
        replica_max_lag_seconds: float | None = None,
    ) -> None:
        #: Whether the engine is the host application's (pycrm never disposes of it).
        self.shared = isinstance(url, sa.Engine)
        self.engine = url if isinstance(url, sa.Engine) else _make_engine(url, engine_options)
        self.name = self.engine.dialect.name
        _check_naming(table_prefix, schema, self.name)
        #: Hot standbys for reads (``Settings.read_replicas``); ``None`` without any.
        self.replicas = _make_replicas(
            self.engine, read_replicas, replica_max_lag_seconds, shared=self.shared
        )
        #: pycrm's tables in this database (named with the prefix, in the schema).
        self.tables = tables_for(table_prefix, schema)
        migrate = self.name == "sqlite" if auto_migrate is None else auto_migrate
        with self._translate(f"cannot open {self.engine.url!r}"):
            if self.name == "sqlite":
                _prepare_sqlite(self.engine, shared=self.shared)
            schema_.check(self.engine, migrate=migrate, tables=self.tables)

    def begin(
        self,
        *,
        read_only: bool = False,
        connection: sa.Connection | None = None,
        replica: bool = False,
    ) -> SqlTransaction:
        """Open a transaction; ``read_only`` ones take no write lock (SQLite) and refuse
        writes (PostgreSQL).

        With ``connection`` (one the host application holds), the work joins it: inside the
        host's open transaction it is a savepoint, and the host's commit or rollback decides
        for both; otherwise a transaction of its own on that connection.

        ``replica=True`` lets a ``read_only`` transaction run on a read replica, when there
        are any and one is usable (otherwise on the primary); it may not see the latest
        commits.
        """
        with self._translate("cannot start a transaction"):
            if connection is not None:
                return self._join(connection, read_only)
            on_replica = None
            if replica and read_only and self.replicas is not None:
                on_replica = self.replicas.connect()
            conn = on_replica if on_replica is not None else self.engine.connect()
            if self.name == "sqlite" and not conn.connection.info.get(_READY):
                _sqlite_pragmas(conn.connection.dbapi_connection, conn.connection)
            conn.info[READ_ONLY] = read_only
            if read_only and self.name == "postgresql":
                # BEGIN READ ONLY in one statement; reset when the connection goes back.
                conn = conn.execution_options(postgresql_readonly=True)
            return SqlTransaction(conn, conn.begin(), self._translate, tables=self.tables)

    def _join(self, conn: sa.Connection, read_only: bool) -> SqlTransaction:
        if not isinstance(conn, sa.Connection) or conn.closed:
            raise ConfigurationError("connection: give an open SQLAlchemy Connection")
        if conn.engine.url != self.engine.url:
            raise ConfigurationError(
                "connection: it is connected to another database than this CRM's"
            )
        if self.name == "sqlite" and not conn.connection.info.get(_READY):
            _sqlite_pragmas(conn.connection.dbapi_connection, conn.connection)
        if conn.in_transaction():
            return SqlTransaction(
                conn, conn.begin_nested(), self._translate, tables=self.tables, joined=True
            )
        conn.info[READ_ONLY] = read_only
        return SqlTransaction(conn, conn.begin(), self._translate, tables=self.tables, joined=True)

    def migrate(self, connection: sa.Connection | None = None) -> None:
        """Apply every pending migration (core and plugins) up to the heads, on
        ``connection`` (inside its transaction) when given."""
        with self._translate("migration failed"):
            schema_.upgrade(connection if connection is not None else self.engine, self.tables)

    def close(self) -> None:
        """Release pycrm's connections (the read replicas' too); a host application's
        engine stays as it is."""
        if self.replicas is not None:
            self.replicas.dispose()
        if not self.shared:
            self.engine.dispose()

    @staticmethod
    @contextmanager
    def _translate(what: str) -> Iterator[None]:
        try:
            yield
        except exc.IntegrityError as error:
            raise ConflictError(
                f"{what}: {_without_values(error)}", fields=unique_fields(error)
            ) from error
        except exc.SQLAlchemyError as error:
            raise StorageError(f"{what}: {_without_values(error)}") from error


class SqlTransaction:
    """One connection and its open transaction (or savepoint, in a host's transaction)."""

    def __init__(
        self,
        conn: sa.Connection,
        trans: sa.Transaction,
        translate: Callable[[str], Any],
        *,
        tables: Tables | None = None,
        joined: bool = False,
    ) -> None:
        self.conn, self._trans, self._translate = conn, trans, translate
        #: The tables this transaction reads and writes (the CRM's naming).
        self.tables = tables if tables is not None else tables_for()
        #: Whether this runs on the host application's connection (which it leaves open).
        self.joined = joined
        #: Whether a failed statement ends the whole transaction (PostgreSQL): then even a
        #: read inside a unit of work runs in a savepoint, so a caught error leaves it usable.
        self.read_failures_abort = conn.dialect.name != "sqlite"
        #: Whether no other transaction can commit a write while this one writes, so what
        #: it read stays as it read it: SQLite lets one writer in at a time (and a write on
        #: a stale snapshot fails). PostgreSQL locks only the rows read ``FOR UPDATE``: an
        #: update that also saves records it read without a lock may meet a newer one.
        self.writers_take_turns = conn.dialect.name == "sqlite"
        #: Results of streams still open: closed before the transaction ends.
        self._streams: set[sa.CursorResult[Any]] = set()

    # -- reads ------------------------------------------------------------------------
    def get(self, kind: type[S], scope: Scope, record_id: uuid.UUID) -> S | None:
        if scope.condition(kind.kind) is not None:
            found = self.find(kind, scope, Query(ids=frozenset([record_id]), deleted=None))
            return found[0] if found else None
        # The everyday look-up by id: one statement per kind, built once (SQLAlchemy then
        # reuses its compiled form), instead of composing a query on every call.
        with self._translate(f"cannot read {kind.kind} records"):
            params = {"tenant": scope.tenant, "id": record_id}
            result = self.conn.execute(_by_id(self.tables, kind.kind), params)
            loaded = self._load(kind, scope.tenant, result)
        return loaded[0] if loaded else None

    def find(self, kind: type[S], scope: Scope, query: Query) -> list[S]:
        if _one_by_id(query):
            return self._visible_by_id(kind, scope, query)
        table = self.tables.table(kind.kind)
        stmt = sa.select(table).where(where_clause(table, scope, query, kind.kind))
        if (after := after_clause(table, query)) is not None:
            stmt = stmt.where(after)
        stmt = stmt.order_by(*order_clause(table, query)).limit(query.limit)
        if query.lock and self.conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update(of=table)
        with self._translate(f"cannot read {kind.kind} records"):
            return self._load(kind, scope.tenant, self.conn.execute(stmt))

    def _visible_by_id(self, kind: type[S], scope: Scope, query: Query) -> list[S]:
        # A record read by id as a user (every get and update does it): the statement is
        # built once per user's condition, so a call only binds the id.
        lock = query.lock and self.conn.dialect.name == "postgresql"
        visible = scope.condition(kind.kind)
        try:
            stmt = _visible_one(self.tables, kind.kind, visible, scope.tenant, query.deleted, lock)
        except TypeError:  # a condition holding an unhashable value (a plugin's list)
            stmt = _visible_one.__wrapped__(
                self.tables, kind.kind, visible, scope.tenant, query.deleted, lock
            )
        (record_id,) = cast(frozenset[uuid.UUID], query.ids)
        with self._translate(f"cannot read {kind.kind} records"):
            return self._load(kind, scope.tenant, self.conn.execute(stmt, {"id": record_id}))

    def find_by(self, kind: type[S], scope: Scope, field: str, values: Collection[str]) -> list[S]:
        if self.conn.dialect.name != "postgresql":
            return RecordStoreLookups(self).find_by(kind, scope, field, values)
        if not values:
            return []
        table = self.tables.table(kind.kind)
        wanted = (
            sa.func.unnest(sa.literal(sorted(values), postgresql.ARRAY(table.c[field].type)))
            .table_valued("value")
            .render_derived(name="wanted")
        )
        # One probe of the field's unique index per value, whatever the planner knows: the
        # LIMIT (one live record per value) keeps it from turning the probes into a join
        # that reads every record of the tenant.
        found = (
            sa.select(table)
            .where(where_clause(table, scope, Query(), kind.kind), table.c[field] == wanted.c.value)
            .limit(1)
            .lateral()
        )
        stmt = sa.select(found).select_from(wanted.join(found, sa.true()))
        with self._translate(f"cannot read {kind.kind} records"):
            return self._load(kind, scope.tenant, self.conn.execute(stmt))

    def value_set(self) -> TemporarySet:
        """A set of texts in a temporary table (:mod:`pycrm.storage.capabilities.seen`)."""
        return TemporarySet(self.conn, self._translate)

    def refresh_statistics(self, kind: type[Stored]) -> None:
        if self.conn.dialect.name != "postgresql":
            return  # SQLite plans by its indexes alone unless told to ANALYZE
        table = self.tables.table(kind.kind)
        name = self.conn.dialect.identifier_preparer.format_table(table)
        # A user who does not own the table gets a warning, not an error: nothing changes.
        with self._translate(f"cannot refresh the statistics of {kind.kind} records"):
            self.conn.exec_driver_sql(f"ANALYZE {name}")

    def count(self, kind: type[Stored], scope: Scope, query: Query) -> int:
        table = self.tables.table(kind.kind)
        stmt = sa.select(sa.func.count()).select_from(table)
        stmt = stmt.where(where_clause(table, scope, query, kind.kind))
        with self._translate(f"cannot count {kind.kind} records"):
            return int(self.conn.execute(stmt).scalar_one())

    def group(
        self,
        kind: type[Stored],
        scope: Scope,
        query: Query,
        by: tuple[str, ...],
        total: str | None = None,
    ) -> list[Group]:
        table = self.tables.table(kind.kind)
        keys = [column(table, name) for name in by]
        money = total is not None and f"{total}_currency" in table.c
        if money:
            keys.append(table.c[f"{total}_currency"])
        measures: list[sa.ColumnElement[Any]] = [sa.func.count()]
        if total is not None:
            measures.append(sa.func.sum(column(table, total)))
        stmt = (
            sa.select(*keys, *measures)
            .where(where_clause(table, scope, query, kind.kind))
            .group_by(*keys)
            .order_by(*(key.asc().nulls_first() for key in keys))
        )
        with self._translate(f"cannot aggregate {kind.kind} records"):
            rows = self.conn.execute(stmt).all()
        n = len(by)
        return [
            Group(
                tuple(row[:n]),
                int(row[len(keys)]),
                row[n] if money else None,
                None if total is None or row[-1] is None else int(row[-1]),
            )
            for row in rows
        ]

    def _load(self, kind: type[S], tenant: str, result: sa.CursorResult[Any]) -> list[S]:
        """The records of ``result``'s rows, decoded a column at a time, with children."""
        keys, rows = tuple(result.keys()), result.all()
        if not rows:
            return []
        mapper = entity_mapper(kind)
        children = self._batch_children(kind.kind, mapper, tenant, rows)
        loaded: list[S] = mapper.from_rows(keys, rows, **children)
        return loaded

    def _children(
        self, kind: str, name: str, tenant: str, parents: Sequence[sa.RowMapping]
    ) -> dict[uuid.UUID, list[Any]]:
        _, cls, parent_key, _ = CHILDREN[(kind, name)]
        found: dict[uuid.UUID, list[Any]] = {}
        if not parents:
            return found
        mapper = mapper_for(cls)
        ids = [p["id"] for p in parents]
        # One parent (a get) is the common case: "=", which skips expanding a list.
        one = len(ids) == 1
        params = {"tenant": tenant, "parents": ids[0] if one else ids}
        for row in self.conn.execute(_children_of(self.tables, kind, name, one), params).mappings():
            found.setdefault(row[parent_key], []).append(mapper.from_row(row))
        return found

    # -- writes -----------------------------------------------------------------------
    def insert(self, records: Sequence[Stored]) -> None:
        if not records:
            return
        kind = records[0].kind
        mapper = entity_mapper(type(records[0]))
        with self._translate(f"cannot insert {kind} records"):
            for start in range(0, len(records), BATCH_ROWS):
                batch = records[start : start + BATCH_ROWS]
                values = mapper.columns_of(batch)
                what = f"cannot insert {kind} records"
                bulk_insert(self.conn, self.tables.table(kind), mapper.columns, values, what=what)
                for name in mapper.children:
                    self._insert_children(kind, name, batch)

    def _insert_children(self, kind: str, name: str, parents: Sequence[Stored]) -> None:
        _, cls, parent_key, _ = CHILDREN[(kind, name)]
        mapper = mapper_for(cls)
        owners = [(p, i) for p in parents for i in range(len(getattr(p, name)))]
        if not owners:
            return
        values: list[Sequence[Any]] = [
            [p.tenant for p, _ in owners],
            [p.id for p, _ in owners],
            [i for _, i in owners],
            *mapper.columns_of([child for p in parents for child in getattr(p, name)]),
        ]
        columns = ["tenant", parent_key, "position", *mapper.columns]
        what = f"cannot insert {kind} records"
        bulk_insert(self.conn, self.tables.child(kind, name), columns, values, what=what)

    def update(self, record: Stored, expected_version: int) -> None:
        mapper = entity_mapper(type(record))
        # One statement per kind, its SET taken from the row's keys: SQLAlchemy reuses the
        # compiled form instead of a statement built per call.
        params = mapper.to_row(
            record, where_tenant=record.tenant, where_id=record.id, expected=expected_version
        )
        with self._translate(f"cannot update {record.kind} {record.id}"):
            if self.conn.execute(_update_of(self.tables, record.kind), params).rowcount != 1:
                raise ConflictError(
                    f"{record.kind} {record.id} was changed by someone else (expected version "
                    f"{expected_version}); read it again and retry"
                )
            for name in mapper.children:
                self._replace_children(record, name)

    def _replace_children(self, record: Stored, name: str) -> None:
        _, cls, parent_key, keyed = CHILDREN[(record.kind, name)]
        table = self.tables.child(record.kind, name)
        items = getattr(record, name)
        mine = sa.and_(table.c.tenant == record.tenant, table.c[parent_key] == record.id)
        if keyed:
            # Children others may reference (installments paid by payments) keep their rows.
            keep = [item.id for item in items]
            self.conn.execute(table.delete().where(mine, table.c.id.not_in(keep)))
            mapper: Mapper = mapper_for(cls)
            for i, item in enumerate(items):
                row = mapper.to_row(
                    item, tenant=record.tenant, position=i, **{parent_key: record.id}
                )
                done = self.conn.execute(
                    table.update().where(mine, table.c.id == item.id).values(row)
                )
                if done.rowcount == 0:
                    self.conn.execute(table.insert(), [row])
        else:
            self.conn.execute(table.delete().where(mine))
            self._insert_children(record.kind, name, [record])

    # -- audit --------------------------------------------------------------------------
    def record_changes(self, items: Sequence[Change]) -> None:
        with self._translate("cannot write the audit trail"):
            for start in range(0, len(items), BATCH_ROWS):
                batch = items[start : start + BATCH_ROWS]
                values = [
                    *zip(*map(_change_values, batch), strict=True),
                    [c.action.value for c in batch],
                    [{f.field: [f.old, f.new] for f in c.fields} for c in batch],
                ]
                columns = (*_CHANGE_COLUMNS, "action", "fields")
                bulk_insert(self.conn, self.tables.changes, columns, values, what=_AUDIT)

    def record_creations(self, creations: Creations) -> None:
        """The bulk audit capability (:mod:`pycrm.storage.capabilities.audit`): a row per
        batch of records, an index row per record (:mod:`pycrm.storage.sqlalchemy.audit`)."""
        with self._translate(_AUDIT):
            audit.write_creations(self.conn, self.tables, creations, BATCH_ROWS, what=_AUDIT)

    def bulk_writes(self) -> AbstractContextManager[Callable[[], None]]:
        """The bulk-writes capability (:mod:`pycrm.storage.capabilities.bulk`): on
        PostgreSQL a batch's last COPY stays open, and the server stores its rows while the
        next batch is prepared (:func:`pycrm.storage.sqlalchemy.bulk.deferred_copies`)."""
        return deferred_copies(self.conn)

    def changes(self, scope: Scope, entity: str, record_id: uuid.UUID) -> list[Change]:
        params = {"tenant": scope.tenant, "entity": entity, "record_id": record_id}
        actions, field = _ACTIONS, FieldChange
        with self._translate("cannot read the audit trail"):
            rows = self.conn.execute(_changes_of(self.tables), params).all()
            # Positional rows and a table of actions: a record's history can be thousands
            # of changes long, and this loop is most of what reading it costs.
            found = [
                Change(
                    id=cid,
                    tenant=tenant,
                    entity=kind,
                    record_id=rid,
                    action=actions[action],
                    user_id=user,
                    at=at,
                    version=version,
                    fields=tuple([field(k, v[0], v[1]) for k, v in fields.items()]),
                )
                for tenant, cid, kind, rid, action, user, at, version, fields in rows
            ]
            # Creates of bulk writes are kept a batch at a time (record_creations).
            created = audit.created_changes(self.conn, self.tables, scope.tenant, entity, record_id)
        return sorted([*created, *found], key=_change_order) if created else found

    # -- organisation capability (pycrm.storage.capabilities.organisation) ---------------
    def organisation_version(self, tenant: str) -> int:
        with self._translate("cannot read the organisation version"):
            found = self.conn.execute(_org_version(self.tables), {"tenant": tenant}).scalar()
        return int(found or 0)

    def raise_organisation_version(self, tenant: str) -> None:
        with self._translate("cannot raise the organisation version"):
            self.conn.execute(
                _raise_version(self.tables, self.conn.dialect.name, "version"), [{"tenant": tenant}]
            )

    # -- configuration capabilities (pycrm.storage.capabilities.configuration) ----------
    def tenant_versions(self, tenant: str) -> tuple[int, int]:
        with self._translate("cannot read the tenant's versions"):
            found = self.conn.execute(_tenant_versions(self.tables), {"tenant": tenant}).first()
        return (int(found[0]), int(found[1])) if found is not None else (0, 0)

    def raise_configuration_version(self, tenant: str) -> None:
        with self._translate("cannot raise the configuration version"):
            self.conn.execute(
                _raise_version(self.tables, self.conn.dialect.name, "configuration"),
                [{"tenant": tenant}],
            )

    def next_numbers(self, tenant: str, sequence: str, period: str, count: int) -> int:
        statement = _next_numbers(self.tables, self.conn.dialect.name)
        values = {"tenant": tenant, "sequence": sequence, "period": period, "count": count}
        with self._translate(f"cannot number from sequence {sequence!r}"):
            return int(self.conn.execute(statement, values).scalar_one())

    # -- match keys (pycrm.storage.capabilities.matching) ---------------------------------
    def replace_match_keys(
        self, tenant: str, record_ids: Sequence[uuid.UUID], keys: Sequence[MatchKey]
    ) -> None:
        with self._translate("cannot store the match keys"):
            matching.replace_keys(self.conn, self.tables, tenant, record_ids, keys)

    def find_match_keys(self, tenant: str, entity: str, keys: Sequence[str]) -> list[MatchKey]:
        with self._translate("cannot look up match keys"):
            return matching.find_keys(self.conn, self.tables, tenant, entity, keys)

    def find_and_add_match_keys(
        self, tenant: str, entity: str, keys: Sequence[str], added: Sequence[MatchKey]
    ) -> list[MatchKey]:
        with self._translate("cannot look up and store match keys"):
            return matching.find_and_add_keys(self.conn, self.tables, tenant, entity, keys, added)

    def lock_find_and_add_match_keys(
        self,
        locks: Sequence[str],
        tenant: str,
        entity: str,
        keys: Sequence[str],
        added: Sequence[MatchKey],
    ) -> list[MatchKey]:
        named = [f"{self.tables.prefix}:{name}" for name in locks]  # as hold_locks names them
        with self._translate("cannot look up and store match keys"):
            found = matching.lock_find_and_add_keys(
                self.conn, self.tables, named, tenant, entity, keys, added
            )
        if found is not None:
            return found
        self.hold_locks(sorted(set(locks)))
        return self.find_and_add_match_keys(tenant, entity, keys, added)

    def shared_match_keys(
        self, tenant: str, entity: str, limit: int
    ) -> list[tuple[str, str, list[uuid.UUID]]]:
        with self._translate("cannot scan match keys"):
            return matching.shared_keys(self.conn, self.tables, tenant, entity, limit)

    def search_match_keys(
        self, tenant: str, entity: str, rules: Sequence[str], fragment: str, limit: int
    ) -> list[uuid.UUID]:
        with self._translate("cannot search match keys"):
            return matching.search_keys(
                self.conn, self.tables, tenant, entity, rules, fragment, limit
            )

    # -- churn rules (pycrm.storage.capabilities.churn) ------------------------------------
    def churn_candidates(
        self, tenant: str, check: ChurnCheck
    ) -> list[tuple[uuid.UUID, uuid.UUID | None, list[str]]]:
        with self._translate("cannot apply the churn rules"):
            return churn.churn_candidates(self.conn, self.tables, tenant, check)

    # -- the sweep (pycrm.storage.capabilities.sweeping) ----------------------------------
    def due_reminders(
        self, tenant: str, rule: str, since: dt.datetime, now: dt.datetime
    ) -> list[DueReminder]:
        with self._translate("cannot find the reminders due"):
            return sweeping.due_reminders(self.conn, self.tables, tenant, rule, since, now)

    def raise_reminders(self, tenant: str, rule: str, since: dt.datetime, now: dt.datetime) -> int:
        with self._translate("cannot raise the reminders due"):
            return sweeping.raise_reminders(self.conn, self.tables, tenant, rule, since, now)

    def raise_deadlines(
        self, tenant: str, rules: dict[Stage, str], now: dt.datetime, nobody: uuid.UUID
    ) -> int:
        with self._translate("cannot raise the SLA alerts due"):
            return sweeping.raise_deadlines(self.conn, self.tables, tenant, rules, now, nobody)

    def due_deadlines(
        self, tenant: str, rules: dict[Stage, str], now: dt.datetime
    ) -> list[DueDeadline]:
        with self._translate("cannot find the deadlines due"):
            return sweeping.due_deadlines(self.conn, self.tables, tenant, rules, now)

    # -- named locks (pycrm.storage.capabilities.locks) -----------------------------------
    def hold_lock(self, name: str) -> None:
        if self.conn.dialect.name != "postgresql":
            return  # SQLite's writers take turns already
        key = sa.func.hashtextextended(f"{self.tables.prefix}:{name}", 0)
        with self._translate("cannot take a lock"):
            self.conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))

    def hold_locks(self, names: Sequence[str]) -> None:
        if self.conn.dialect.name != "postgresql" or not names:
            return
        keys = [f"{self.tables.prefix}:{name}" for name in names]
        with self._translate("cannot take a lock"):
            self.conn.execute(_HOLD_LOCKS, {"names": keys})

    # -- pool-recycling capability (pycrm.storage.capabilities.pools) ---------------------
    def recycle_customers(self, tenant: str, plan: RecyclePlan) -> int:
        with self._translate("cannot recycle customers into their pool"):
            return pools.recycle_customers(self.conn, self.tables, tenant, plan)

    def due_customers(
        self, tenant: str, plan: RecyclePlan, limit: int
    ) -> list[tuple[uuid.UUID, uuid.UUID]]:
        with self._translate("cannot find the customers due to return to a pool"):
            return pools.due_customers(self.conn, self.tables, tenant, plan, limit)

    # -- streaming capability (pycrm.storage.capabilities.streaming) -----------------------
    def stream(
        self, kind: type[S], scope: Scope, query: Query, batch_size: int
    ) -> Iterator[list[S]]:
        """Every matching record read on one cursor, ``batch_size`` rows at a time: a
        server-side (named) cursor on PostgreSQL, SQLite's own stepping cursor; each batch
        decoded with its children, read for the whole batch at once."""
        table = self.tables.table(kind.kind)
        stmt = sa.select(table).where(where_clause(table, scope, query, kind.kind))
        if (after := after_clause(table, query)) is not None:
            stmt = stmt.where(after)
        stmt = stmt.order_by(*order_clause(table, query))
        what = f"cannot read {kind.kind} records"
        mapper = entity_mapper(kind)
        with self._translate(what):
            result = self.conn.execute(stmt.execution_options(yield_per=batch_size))
        self._streams.add(result)
        try:
            keys = tuple(result.keys())
            while True:
                with self._translate(what):
                    rows = result.fetchmany(batch_size)
                    if not rows:
                        return
                    children = self._batch_children(kind.kind, mapper, scope.tenant, rows)
                    batch: list[S] = mapper.from_rows(keys, rows, **children)
                yield batch
        finally:
            self._close_stream(result)

    def _batch_children(
        self, kind: str, mapper: Mapper, tenant: str, rows: Sequence[sa.Row[Any]]
    ) -> dict[str, list[list[Any]]]:
        """The child lists of a batch's records (one query per collection), per name in
        the order of ``rows``."""
        if not mapper.children:
            return {}
        parents = [row._mapping for row in rows]
        found = {}
        for name in mapper.children:
            by_parent = self._children(kind, name, tenant, parents)
            found[name] = [by_parent.get(parent["id"], []) for parent in parents]
        return found

    def _close_stream(self, result: sa.CursorResult[Any]) -> None:
        if result in self._streams:
            self._streams.discard(result)
            with self._translate("cannot close a cursor"):
                result.close()

    def _close_streams(self) -> None:
        # While the transaction is open: a server-side cursor it declared still exists, and
        # none is left for a later transaction on this connection to close.
        for result in list(self._streams):
            self._close_stream(result)

    # -- receivables capability (pycrm.storage.capabilities.receivables) ----------------
    def open_installments(
        self, scope: Scope, *, due_from: dt.date | None, due_to: dt.date | None
    ) -> list[OpenInstallment]:
        with self._translate("cannot list installments"):
            return receivables.open_installments(
                self.conn, self.tables, scope, due_from=due_from, due_to=due_to
            )

    def sales_by_day(self, scope: Scope, start: dt.date, end: dt.date) -> list[DatedSum]:
        with self._translate("cannot sum sales"):
            return receivables.sales_by_day(self.conn, self.tables, scope, start, end)

    def collected_by_day(self, scope: Scope, start: dt.date, end: dt.date) -> list[DatedSum]:
        with self._translate("cannot sum payments"):
            return receivables.collected_by_day(self.conn, self.tables, scope, start, end)

    def outstanding_by_day(self, scope: Scope, start: dt.date, end: dt.date) -> list[DatedSum]:
        with self._translate("cannot sum outstanding installments"):
            return receivables.outstanding_by_day(self.conn, self.tables, scope, start, end)

    def aging_sums(
        self, scope: Scope, on: dt.date, by: Literal["customer", "owner"]
    ) -> list[AgingSum]:
        with self._translate("cannot compute the receivables aging"):
            return receivables.aging_sums(self.conn, self.tables, scope, on, by)

    # -- pipeline capability (pycrm.storage.capabilities.pipeline) ------------------------
    def opportunity_totals(
        self, scope: Scope, query: Query, group_by: Sequence[str], *, cycle: bool = False
    ) -> list[OpportunityTotals]:
        with self._translate("cannot total opportunities"):
            return pipeline_queries.opportunity_totals(
                self.conn, self.tables, scope, query, group_by, cycle=cycle
            )

    def open_stays(
        self, scope: Scope, query: Query, group_by: Sequence[str], now: dt.datetime
    ) -> list[OpenStays]:
        with self._translate("cannot total open stays"):
            return pipeline_queries.open_stays(self.conn, self.tables, scope, query, group_by, now)

    def furthest_stages(
        self, scope: Scope, query: Query, ranks: Mapping[str, int]
    ) -> dict[int, int]:
        with self._translate("cannot count stages reached"):
            return pipeline_queries.furthest_stages(self.conn, self.tables, scope, query, ranks)

    # -- ending -------------------------------------------------------------------------
    @contextmanager
    def savepoint(self) -> Iterator[None]:
        with self._translate("savepoint failed"):
            nested = self.conn.begin_nested()
        try:
            yield
            # A COPY left open in a stretch of bulk writes is this savepoint's: it ends
            # here, so that its failure is undone to the savepoint, not past it.
            finish_copy(self.conn)
        except BaseException:
            with self._translate("rollback to savepoint failed"):
                nested.rollback()
            raise
        with self._translate("savepoint release failed"):
            nested.commit()

    def commit(self) -> None:
        try:
            self._close_streams()
            with self._translate("commit failed"):
                self._trans.commit()
        finally:
            self._end()

    def rollback(self) -> None:
        try:
            self._close_streams()
            with self._translate("rollback failed"):
                self._trans.rollback()
        finally:
            self._end()

    def _end(self) -> None:
        self.conn.info.pop(READ_ONLY, None)
        if not self.joined:
            self.conn.close()


_ACTIONS = {action.value: action for action in ChangeAction}


@functools.cache
def _update_of(tables: Tables, kind: str) -> sa.Update:
    """The update of one record at an expected version (SET from the parameters)."""
    table = tables.table(kind)
    return table.update().where(
        table.c.tenant == sa.bindparam("where_tenant", type_=table.c.tenant.type),
        table.c.id == sa.bindparam("where_id", type_=table.c.id.type),
        table.c.version == sa.bindparam("expected", type_=table.c.version.type),
    )


@functools.cache
def _changes_of(tables: Tables) -> sa.Select[Any]:
    """One record's changes, oldest first (bound per call)."""
    log = tables.changes
    return (
        sa.select(
            log.c.tenant,
            log.c.id,
            log.c.entity,
            log.c.record_id,
            log.c.action,
            log.c.user_id,
            log.c.at,
            log.c.version,
            log.c.fields,
        )
        .where(
            log.c.tenant == sa.bindparam("tenant", type_=log.c.tenant.type),
            log.c.entity == sa.bindparam("entity", type_=log.c.entity.type),
            log.c.record_id == sa.bindparam("record_id", type_=log.c.record_id.type),
        )
        .order_by(log.c.version, log.c.at, log.c.id)
    )


@functools.cache
def _org_version(tables: Tables) -> sa.Select[Any]:
    table = tables.org_versions
    return sa.select(table.c.version).where(
        table.c.tenant == sa.bindparam("tenant", type_=table.c.tenant.type)
    )


@functools.cache
def _tenant_versions(tables: Tables) -> sa.Select[Any]:
    table = tables.org_versions
    return sa.select(table.c.version, table.c.configuration).where(
        table.c.tenant == sa.bindparam("tenant", type_=table.c.tenant.type)
    )


@functools.cache
def _raise_version(tables: Tables, dialect: str, column: str) -> Any:
    """Insert the tenant's counters with ``column`` at 1, or add one to it: one statement,
    safe when two writers raise it at once."""
    from sqlalchemy.dialects import postgresql, sqlite

    table = tables.org_versions
    values = {"tenant": sa.bindparam("tenant"), "version": 0, "configuration": 0}
    values[column] = 1
    bump = {column: table.c[column] + 1}
    if dialect == "postgresql":
        pg = postgresql.insert(table).values(values)
        return pg.on_conflict_do_update(index_elements=[table.c.tenant], set_=bump)
    lite = sqlite.insert(table).values(values)
    return lite.on_conflict_do_update(index_elements=[table.c.tenant], set_=bump)


@functools.cache
def _next_numbers(tables: Tables, dialect: str) -> Any:
    """Start the counter at ``count`` or add ``count`` to it, returning the new last
    number. The row stays locked until the transaction ends, so writers take turns."""
    from sqlalchemy.dialects import postgresql, sqlite

    table = tables.number_sequences
    values = {
        "tenant": sa.bindparam("tenant"),
        "sequence": sa.bindparam("sequence"),
        "period": sa.bindparam("period"),
        "last": sa.bindparam("count", type_=sa.BigInteger()),
    }
    keys = [table.c.tenant, table.c.sequence, table.c.period]
    bump = {"last": table.c["last"] + sa.bindparam("count", type_=sa.BigInteger())}
    insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    upsert = insert.values(values).on_conflict_do_update(index_elements=keys, set_=bump)
    return upsert.returning(table.c["last"])


def _change_order(change: Change) -> tuple[int, dt.datetime, uuid.UUID]:
    return change.version, change.at, change.id


@functools.cache
def _by_id(tables: Tables, kind: str) -> sa.Select[Any]:
    """One record of ``kind`` by tenant and id, deleted or not (bound per call)."""
    table = tables.table(kind)
    return sa.select(table).where(
        table.c.tenant == sa.bindparam("tenant", type_=table.c.tenant.type),
        table.c.id == sa.bindparam("id", type_=table.c.id.type),
    )


def _one_by_id(query: Query) -> bool:
    """Whether ``query`` asks for one record by its id and nothing else."""
    return (
        query.ids is not None
        and len(query.ids) == 1
        and not query.filters
        and query.after is None
        and (query.limit is None or query.limit >= 1)
    )


@functools.lru_cache(maxsize=1024)
def _visible_one(
    tables: Tables,
    kind: str,
    visible: Condition | None,
    tenant: str,
    deleted: bool | None,
    lock: bool,
) -> sa.Select[Any]:
    """One record of ``kind`` by id (bound per call) if ``visible`` lets it be seen."""
    table = tables.table(kind)
    query = Query(deleted=deleted)
    where = where_clause(
        table, Scope(tenant, {kind: visible} if visible is not None else {}), query, kind
    )
    stmt = sa.select(table).where(where, table.c.id == sa.bindparam("id", type_=table.c.id.type))
    return stmt.with_for_update(of=table) if lock else stmt


@functools.cache
def _children_of(tables: Tables, kind: str, name: str, one: bool) -> sa.Select[Any]:
    """The ``name`` children of one ``kind`` parent, or of a list of them, in order."""
    _, _, parent_key, _ = CHILDREN[(kind, name)]
    table = tables.child(kind, name)
    parent = table.c[parent_key]
    bound = sa.bindparam("parents", expanding=not one, type_=parent.type)
    return (
        sa.select(table)
        .where(
            table.c.tenant == sa.bindparam("tenant", type_=table.c.tenant.type),
            parent == bound if one else parent.in_(bound),
        )
        .order_by(parent, table.c.position)
    )
