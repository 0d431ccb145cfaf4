"""A complete pycrm storage adapter on the standard library's ``sqlite3`` module.

It is the worked example of docs/writing-a-storage-adapter.md: small on purpose, and it
passes the whole ``pycrm.testing.StorageContract``. Every record is one JSON document in
one table, ``records(kind, tenant, id, version, deleted_at, doc)``; filters and orders
become ``json_extract(doc, '$.field')`` expressions, so lists run in the database. The
audit trail is a second table, ``changes``.

How values sit in a document (what makes SQL comparisons right):

- money is ``{"minor": 123450, "currency": "CNY"}`` (integer minor units, compared within
  one currency), enums their value, ids text;
- datetimes are UTC ISO text with microseconds, so text order is time order; dates ISO;
- decimals are text, compared after ``CAST(... AS NUMERIC)``;
- ``custom`` is stored as pycrm hands it over (already JSON-ready); ``query.custom_types``
  says how to compare each custom field (see ``pycrm.storage.base``).

Reports and aggregates (``group``, the receivables sums, the pipeline totals) come from
:class:`pycrm.storage.computed.ComputedQueries`, which computes them in Python from
``_table`` (all of a tenant's records of one kind): correct from day one, and the first
thing to replace with native SQL once the data grows.

Use it with ``pycrm.CRM(Sqlite3Backend("crm.db"))``.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import types
import typing
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar

import attrs

from pycrm import Change, ChangeAction, ConflictError, FieldChange, Money, StorageError
from pycrm.core.kinds import kind_of
from pycrm.core.pipeline import StageTransition
from pycrm.core.records import Record
from pycrm.storage.base import UNIQUE_KEYS, Filter, Op, Query, StorageType
from pycrm.storage.computed import ComputedQueries

__all__ = ["Sqlite3Backend"]

R = TypeVar("R", bound=Record)

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL, tenant TEXT NOT NULL, id TEXT NOT NULL,
    version INTEGER NOT NULL, deleted_at TEXT, doc TEXT NOT NULL,
    PRIMARY KEY (kind, tenant, id)
);
CREATE TABLE IF NOT EXISTS changes (
    tenant TEXT NOT NULL, id TEXT NOT NULL, entity TEXT NOT NULL, record_id TEXT NOT NULL,
    version INTEGER NOT NULL, at TEXT NOT NULL, doc TEXT NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX IF NOT EXISTS changes_of_record ON changes (tenant, entity, record_id);
CREATE TABLE IF NOT EXISTS transitions (
    tenant TEXT NOT NULL, id TEXT NOT NULL, opportunity_id TEXT NOT NULL, at TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX IF NOT EXISTS transitions_of_opportunity ON transitions (tenant, opportunity_id);
"""


# -- records <-> JSON documents --------------------------------------------------------------


def _encode(value: Any) -> Any:
    """A field value as JSON data (see the module docstring)."""
    if isinstance(value, Money):
        return {"minor": value.minor_units, "currency": value.currency}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat(timespec="microseconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    if attrs.has(type(value)):
        return {f.name: _encode(getattr(value, f.name)) for f in attrs.fields(type(value))}
    return value  # str, int, bool, None, and ``custom`` (already JSON-ready)


def _decode(tp: Any, value: Any) -> Any:
    """JSON data back into a value of the annotated type ``tp``."""
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        tp = next(a for a in typing.get_args(tp) if a is not type(None))
    if value is None:
        return None
    if tp is Money:
        return Money.from_minor(value["minor"], value["currency"])
    if tp in (uuid.UUID, Decimal):
        return tp(value)
    if tp is dt.datetime:
        return dt.datetime.fromisoformat(value)
    if tp is dt.date:
        return dt.date.fromisoformat(value)
    if isinstance(tp, type) and issubclass(tp, Enum):
        return tp(value)
    if typing.get_origin(tp) is list:
        (item,) = typing.get_args(tp)
        return [_decode(item, v) for v in value]
    if attrs.has(tp):
        hints = typing.get_type_hints(tp)  # resolves postponed (string) annotations
        return tp(**{f.name: _decode(hints[f.name], value.get(f.name)) for f in attrs.fields(tp)})
    return value


def _field_type(kind: type[Record], name: str) -> Any:
    tp = attrs.fields_dict(kind)[name].type
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    return args[0] if args and typing.get_origin(tp) in (typing.Union, types.UnionType) else tp


# -- queries as SQL ----------------------------------------------------------------------------


def _path(name: str, part: str | None = None) -> str:
    """The JSON path of a field: ``$."level"``, ``$."custom"."tier"``, ``$."amount"."minor"``."""
    steps = [f'"{step}"' for step in name.split(".")] + ([f'"{part}"'] if part else [])
    return "$." + ".".join(steps)


class _Sql:
    """Builds WHERE and ORDER BY text with its parameters for one kind and query."""

    def __init__(self, kind: type[Record], query: Query) -> None:
        self.kind, self.query = kind, query

    def _storage(self, name: str) -> StorageType | None:
        if name.startswith("custom."):
            return StorageType(self.query.custom_types.get(name, StorageType.TEXT))
        return None

    def expr(self, name: str) -> tuple[str, list[Any]]:
        """The value a field compares and sorts by, as SQL."""
        storage = self._storage(name)
        if storage is StorageType.MONEY:
            return "CAST(json_extract(doc, ?) AS NUMERIC)", [_path(name, "amount")]
        if storage is StorageType.DECIMAL:
            return "CAST(json_extract(doc, ?) AS NUMERIC)", [_path(name)]
        if storage is None and _field_type(self.kind, name) is Money:
            return "json_extract(doc, ?)", [_path(name, "minor")]
        if storage is None and _field_type(self.kind, name) is Decimal:
            return "CAST(json_extract(doc, ?) AS NUMERIC)", [_path(name)]
        return "json_extract(doc, ?)", [_path(name)]

    def condition(self, flt: Filter) -> tuple[str, list[Any]]:
        expr, params = self.expr(flt.field)
        value = flt.value
        if flt.op is Op.IS_NULL:
            return f"{expr} IS {'' if value else 'NOT '}NULL", params
        if isinstance(value, Money):
            return self._money(flt, expr, params, value)
        if flt.op is Op.IN:
            marks = ", ".join("?" for _ in value) or "NULL"
            return f"{expr} IN ({marks})", params + [self._param(v) for v in value]
        if flt.op is Op.CONTAINS:
            escaped = str(value).lower().replace("\\", "\\\\").replace("%", "\\%")
            pattern = "%" + escaped.replace("_", "\\_") + "%"
            return f"lower({expr}) LIKE ? ESCAPE '\\'", [*params, pattern]
        if flt.op is Op.NE:
            return f"({expr} != ? OR {expr} IS NULL)", [*params, self._param(value), *params]
        return f"{expr} {_OPS[flt.op]} ?", [*params, self._param(value)]

    def _money(
        self, flt: Filter, expr: str, params: list[Any], value: Money
    ) -> tuple[str, list[Any]]:
        custom = flt.field.startswith("custom.")
        amount: Any = str(value.amount) if custom else value.minor_units
        currency = ("json_extract(doc, ?)", [_path(flt.field, "currency")])
        if flt.op is Op.NE:
            sql = f"({expr} IS NULL OR {currency[0]} != ? OR {expr} != ?)"
            return sql, [*params, *currency[1], value.currency, *params, amount]
        sql = f"({currency[0]} = ? AND {expr} {_OPS[flt.op]} ?)"
        return sql, [*currency[1], value.currency, *params, amount]

    @staticmethod
    def _param(value: Any) -> Any:
        if isinstance(value, Decimal):
            return str(value)  # compared with a NUMERIC expression: exact, no float
        return _encode(value)

    def where(self, tenant: str) -> tuple[str, list[Any]]:
        parts, params = ["kind = ?", "tenant = ?"], [self.kind.kind, tenant]
        if self.query.deleted is not None:
            parts.append(f"deleted_at IS {'NOT ' if self.query.deleted else ''}NULL")
        if self.query.ids is not None:
            parts.append(f"id IN ({', '.join('?' for _ in self.query.ids) or 'NULL'})")
            params += [str(i) for i in self.query.ids]
        for flt in self.query.filters:
            sql, more = self.condition(flt)
            parts.append(sql)
            params += more
        if self.query.after is not None:
            sql, more = self.after()
            parts.append(sql)
            params += more
        return " AND ".join(parts), params

    def _sort(self) -> list[tuple[str, list[Any], bool]]:
        columns = [(*self.expr(name), desc) for name, desc in self.query.order]
        return [*columns, ("id", [], False)]

    def order_by(self) -> tuple[str, list[Any]]:
        """Empty values first ascending, last descending; the id breaks ties."""
        parts, params = [], []
        for expr, more, desc in self._sort():
            parts.append(f"{expr} {'DESC NULLS LAST' if desc else 'ASC NULLS FIRST'}")
            params += more
        return ", ".join(parts), params

    def after(self) -> tuple[str, list[Any]]:
        """Rows strictly after the keyset position ``query.after``."""
        assert self.query.after is not None
        branches, params = [], []
        columns = self._sort()
        for i, (expr, more, desc) in enumerate(columns):
            value = self._param(self.query.after[i])
            if value is None and desc:
                continue  # nothing sorts after an empty value in descending order
            equal, equal_params = [], []
            for (e, m, _), v in zip(columns[:i], self.query.after[:i], strict=True):
                v = self._param(v)
                equal.append(f"{e} IS NULL" if v is None else f"{e} = ?")
                equal_params += m if v is None else [*m, v]
            if value is None:
                beyond, beyond_params = f"{expr} IS NOT NULL", more
            elif desc:
                beyond, beyond_params = f"({expr} < ? OR {expr} IS NULL)", [*more, value, *more]
            else:
                beyond, beyond_params = f"{expr} > ?", [*more, value]
            branches.append("(" + " AND ".join([*equal, beyond]) + ")")
            params += equal_params + beyond_params
        return "(" + (" OR ".join(branches) or "0") + ")", params


_OPS = {Op.EQ: "=", Op.LT: "<", Op.LTE: "<=", Op.GT: ">", Op.GTE: ">="}


# -- the backend ----------------------------------------------------------------------------


class Sqlite3Backend:
    """Keeps pycrm's records in one SQLite file, through the ``sqlite3`` module."""

    name = "sqlite3"

    def __init__(self, path: str) -> None:
        self.path = path
        self._closed = False
        self.migrate()

    def _connect(self) -> sqlite3.Connection:
        if self._closed:
            raise StorageError("the sqlite3 backend is closed")
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves.
            return sqlite3.connect(self.path, isolation_level=None, timeout=5)
        except sqlite3.Error as error:
            raise StorageError(f"cannot open {self.path}: {error}") from error

    def begin(self) -> Sqlite3Transaction:
        conn = self._connect()
        conn.execute("BEGIN")
        return Sqlite3Transaction(conn)

    def migrate(self) -> None:
        conn = self._connect()
        try:
            conn.executescript(SCHEMA)
        finally:
            conn.close()

    def close(self) -> None:
        self._closed = True


class Sqlite3Transaction(ComputedQueries):
    """One connection with an open transaction; every method translates driver errors."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def _run(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        try:
            return self.conn.execute(sql, params)
        except sqlite3.IntegrityError as error:
            raise ConflictError(f"{error}") from error
        except sqlite3.Error as error:
            raise StorageError(f"sqlite3: {error}") from error

    # -- reads --------------------------------------------------------------------------
    def get(self, kind: type[R], tenant: str, record_id: uuid.UUID) -> R | None:
        found = self.find(kind, tenant, Query(ids=frozenset([record_id]), deleted=None))
        return found[0] if found else None

    def find(self, kind: type[R], tenant: str, query: Query) -> list[R]:
        sql = _Sql(kind, query)
        where, params = sql.where(tenant)
        order, order_params = sql.order_by()
        limit = "" if query.limit is None else f" LIMIT {int(query.limit)}"
        rows = self._run(
            f"SELECT doc FROM records WHERE {where} ORDER BY {order}{limit}",
            [*params, *order_params],
        )
        return [_decode(kind, json.loads(doc)) for (doc,) in rows]

    def count(self, kind: type[Record], tenant: str, query: Query) -> int:
        unordered = attrs.evolve(query, order=(), after=None, limit=None)
        where, params = _Sql(kind, unordered).where(tenant)
        (number,) = self._run(f"SELECT count(*) FROM records WHERE {where}", params).fetchone()
        return int(number)

    def _table(self, kind: str, tenant: str) -> dict[uuid.UUID, Record]:
        """Every record of one kind in one tenant (what ComputedQueries works from)."""
        cls = kind_of(kind)
        rows = self._run("SELECT doc FROM records WHERE kind = ? AND tenant = ?", (kind, tenant))
        records = (_decode(cls, json.loads(doc)) for (doc,) in rows)
        return {r.id: r for r in records}

    # -- writes -------------------------------------------------------------------------
    def insert(self, records: Sequence[Record]) -> None:
        for record in records:
            self._check_unique(record)
        rows = [
            (r.kind, r.tenant, str(r.id), r.version, _encode(r.deleted_at),
             json.dumps(_encode(r)))
            for r in records
        ]  # fmt: skip
        try:
            self.conn.executemany("INSERT INTO records VALUES (?, ?, ?, ?, ?, ?)", rows)
        except sqlite3.IntegrityError as error:
            raise ConflictError(f"a record with this id already exists: {error}") from error
        except sqlite3.Error as error:
            raise StorageError(f"sqlite3: {error}") from error

    def _check_unique(self, record: Record) -> None:
        """Unique keys besides the id (``pycrm.storage.base.UNIQUE_KEYS``)."""
        for key in UNIQUE_KEYS.get(record.kind, ()):
            values = [_encode(getattr(record, name)) for name in key]
            if any(v is None for v in values):
                continue
            same = " AND ".join("json_extract(doc, ?) = ?" for _ in key)
            params: list[Any] = [record.kind, record.tenant, str(record.id)]
            for name, value in zip(key, values, strict=True):
                params += [_path(name), value]
            clash = self._run(
                f"SELECT id FROM records WHERE kind = ? AND tenant = ? AND id != ? AND {same}",
                params,
            ).fetchone()
            if clash:
                raise ConflictError(f"{record.kind} {clash[0]} already has {', '.join(key)}")

    def update(self, record: Record, expected_version: int) -> None:
        self._check_unique(record)
        done = self._run(
            "UPDATE records SET version = ?, deleted_at = ?, doc = ? "
            "WHERE kind = ? AND tenant = ? AND id = ? AND version = ?",
            (record.version, _encode(record.deleted_at), json.dumps(_encode(record)),
             record.kind, record.tenant, str(record.id), expected_version),
        )  # fmt: skip
        if done.rowcount != 1:
            raise ConflictError(
                f"{record.kind} {record.id} was changed by someone else (expected version "
                f"{expected_version}); read it again and retry"
            )

    # -- audit --------------------------------------------------------------------------
    def record_changes(self, changes: Sequence[Change]) -> None:
        for c in changes:
            doc = {
                "action": c.action.value,
                "user_id": str(c.user_id),
                "fields": [[f.field, f.old, f.new] for f in c.fields],
            }
            self._run(
                "INSERT INTO changes VALUES (?, ?, ?, ?, ?, ?, ?)",
                (c.tenant, str(c.id), c.entity, str(c.record_id), c.version,
                 _encode(c.at), json.dumps(doc)),
            )  # fmt: skip

    def changes(self, tenant: str, entity: str, record_id: uuid.UUID) -> list[Change]:
        rows = self._run(
            "SELECT id, version, at, doc FROM changes WHERE tenant = ? AND entity = ? "
            "AND record_id = ? ORDER BY version, at, id",
            (tenant, entity, str(record_id)),
        )
        found = []
        for change_id, version, at, doc in rows:
            data = json.loads(doc)
            found.append(
                Change(
                    id=uuid.UUID(change_id),
                    tenant=tenant,
                    entity=entity,
                    record_id=record_id,
                    action=ChangeAction(data["action"]),
                    user_id=uuid.UUID(data["user_id"]),
                    at=dt.datetime.fromisoformat(at),
                    version=version,
                    fields=tuple(FieldChange(*f) for f in data["fields"]),
                )
            )
        return found

    # -- stage transitions ------------------------------------------------------------
    def add_transitions(self, transitions: Sequence[StageTransition]) -> None:
        for t in transitions:
            found = self._run(
                "SELECT 1 FROM records WHERE kind = 'opportunity' AND tenant = ? AND id = ?",
                (t.tenant, str(t.opportunity_id)),
            ).fetchone()
            if found is None:
                raise ConflictError(f"no opportunity {t.opportunity_id} in {t.tenant!r}")
            self._run(
                "INSERT INTO transitions VALUES (?, ?, ?, ?, ?)",
                (t.tenant, str(t.id), str(t.opportunity_id), _encode(t.at),
                 json.dumps(_encode(t))),
            )  # fmt: skip

    def transitions(self, tenant: str, opportunity_id: uuid.UUID) -> list[StageTransition]:
        rows = self._run(
            "SELECT doc FROM transitions WHERE tenant = ? AND opportunity_id = ? ORDER BY at, id",
            (tenant, str(opportunity_id)),
        )
        return [_decode(StageTransition, json.loads(doc)) for (doc,) in rows]

    def _stored_transitions(self, tenant: str) -> list[StageTransition]:
        rows = self._run("SELECT doc FROM transitions WHERE tenant = ?", (tenant,))
        return [_decode(StageTransition, json.loads(doc)) for (doc,) in rows]

    # -- ending -------------------------------------------------------------------------
    @contextmanager
    def savepoint(self) -> Iterator[None]:
        name = f"sp_{uuid.uuid4().hex}"
        self._run(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            self._run(f"ROLLBACK TO {name}")
            self._run(f"RELEASE {name}")
            raise
        self._run(f"RELEASE {name}")

    def commit(self) -> None:
        try:
            self._run("COMMIT")
        finally:
            self.conn.close()

    def rollback(self) -> None:
        try:
            if self.conn.in_transaction:
                self._run("ROLLBACK")
        finally:
            self.conn.close()
