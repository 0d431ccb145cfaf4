"""Match keys in SQL (:mod:`pycrm.storage.capabilities.matching`): replaced per record,
looked up by ``(tenant, entity, key)`` on its index, shared keys grouped with ``HAVING``."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

from pycrm.core.matching import MatchKey, MatchKeyColumns
from pycrm.storage.sqlalchemy.bulk import bulk_insert
from pycrm.storage.sqlalchemy.tables import Tables

__all__ = [
    "find_and_add_keys",
    "find_keys",
    "lock_find_and_add_keys",
    "replace_keys",
    "search_keys",
    "shared_keys",
]

#: The columns of ``pycrm_match_keys``, in the order they are written.
_KEY_COLUMNS = tuple(f.name for f in attrs.fields(MatchKey))
#: Values per ``IN`` list.
CHUNK = 500


def replace_keys(
    conn: sa.Connection,
    tables: Tables,
    tenant: str,
    record_ids: Sequence[uuid.UUID],
    keys: Sequence[MatchKey],
) -> None:
    table = tables.table("match_key")
    ids = list(record_ids)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        conn.execute(table.delete().where(table.c.tenant == tenant, table.c.record_id.in_(chunk)))
    if not keys:
        return
    # In the table's order: each page of its B-tree is written once per batch.
    columns: list[Sequence[Any]]
    if isinstance(keys, MatchKeyColumns):  # in that order already
        count = len(keys)
        columns = [[keys.tenant] * count, [keys.entity] * count]
        columns += [keys.record_ids, keys.rules, keys.keys]
    else:
        keys = sorted(keys, key=_stored_order)
        columns = [[getattr(key, name) for key in keys] for name in _KEY_COLUMNS]
    bulk_insert(conn, table, _KEY_COLUMNS, columns)


def _stored_order(key: MatchKey) -> tuple[str, str, str, uuid.UUID]:
    return (key.entity, key.key, key.rule, key.record_id)


def find_keys(
    conn: sa.Connection, tables: Tables, tenant: str, entity: str, keys: Sequence[str]
) -> list[MatchKey]:
    query = _find_query(tables.table("match_key"))
    found: list[MatchKey] = []
    wanted = sorted(set(keys))
    for start in range(0, len(wanted), CHUNK):
        params = {"tenant": tenant, "entity": entity, "keys": wanted[start : start + CHUNK]}
        found += [
            MatchKey(**dict(zip(_KEY_COLUMNS, row, strict=True)))
            for row in conn.execute(query, params)
        ]
    return found


def find_and_add_keys(
    conn: sa.Connection,
    tables: Tables,
    tenant: str,
    entity: str,
    keys: Sequence[str],
    added: Sequence[MatchKey],
) -> list[MatchKey]:
    """:func:`find_keys`, then the ``added`` keys (of new records) stored: on PostgreSQL in
    one statement when they are few (a data-modifying CTE, whose rows the lookup of the same
    statement does not see), else as two."""
    wanted = sorted(set(keys))
    rows = len(added)
    if conn.dialect.name != "postgresql" or not (
        0 < rows <= ADD_WITH_LOOKUP and 0 < len(wanted) <= CHUNK
    ):
        found = find_keys(conn, tables, tenant, entity, wanted)
        replace_keys(conn, tables, tenant, [], added)
        return found
    params: dict[str, Any] = {"tenant": tenant, "entity": entity, "keys": wanted}
    for i, key in enumerate(added):
        params.update({f"{name}_{i}": getattr(key, name) for name in _KEY_COLUMNS})
    sql = _find_and_add_sql(tables.table("match_key"), rows, conn.dialect)
    return [
        MatchKey(**dict(zip(_KEY_COLUMNS, row, strict=True)))
        for row in conn.exec_driver_sql(sql, params)
    ]


#: At most this many keys are stored with their lookup (each row is 6 parameters).
ADD_WITH_LOOKUP = 32

#: The PostgreSQL function (migration 0016) that takes a save's locks, looks its keys up
#: and stores the new ones: one round trip where the locks and the lookup would take two.
LOCK_FIND_AND_ADD = "lock_find_and_add_match_keys"


def lock_find_and_add_keys(
    conn: sa.Connection,
    tables: Tables,
    locks: Sequence[str],
    tenant: str,
    entity: str,
    keys: Sequence[str],
    added: Sequence[MatchKey],
) -> list[MatchKey] | None:
    """:func:`find_and_add_keys` after advisory locks on ``locks`` (names as the backend's
    ``hold_locks`` hashes them), in one statement on PostgreSQL: the keys found are those
    equal to one of ``added`` (the ``keys`` looked up are among them; the caller keeps
    the ones it wants). None where that does not apply (another database, keys looked up
    that are not added, more keys than one statement takes), and nothing done."""
    new = {key.key for key in added}
    if conn.dialect.name != "postgresql" or not (
        0 < len(added) <= ADD_WITH_LOOKUP and keys and new.issuperset(keys)
    ):
        return None
    # Arrays as PostgreSQL's own literals: psycopg works out how to send a Python list
    # element by element on every call, which costs more than the text.
    params = {
        "locks": _array(sorted(set(locks))),
        "tenant": tenant,
        "entity": entity,
        "records": "{" + ",".join(str(key.record_id) for key in added) + "}",
        "rules": _array(key.rule for key in added),
        "added": _array(key.key for key in added),
    }
    call = _lock_find_and_add_call(conn.dialect, tables.schema, tables.prefix)
    return [
        MatchKey(tenant=tenant, entity=entity, record_id=record, rule=rule, key=key)
        for record, rule, key in conn.exec_driver_sql(call, params)
    ]


def _array(values: Iterable[str]) -> str:
    """A PostgreSQL array literal of texts: each quoted, its quotes and backslashes escaped."""
    quoted = (v.replace("\\", "\\\\").replace('"', '\\"') for v in values)
    return "{" + ",".join(f'"{v}"' for v in quoted) + "}"


@functools.lru_cache(maxsize=16)
def _lock_find_and_add_call(dialect: sa.Dialect, schema: str | None, prefix: str) -> str:
    # A function of pycrm's: its name carries the tables' prefix, in their schema. The SQL
    # goes to psycopg as it is (named parameters): nothing to compile on each save.
    quote = dialect.identifier_preparer.quote
    name = quote(f"{prefix}{LOCK_FIND_AND_ADD}")
    function = f"{dialect.identifier_preparer.quote_schema(schema)}.{name}" if schema else name
    return (
        f"SELECT found_record, found_rule, found_key FROM {function}("
        "%(locks)s::TEXT[], %(tenant)s, %(entity)s, "
        "%(records)s::UUID[], %(rules)s::TEXT[], %(added)s::TEXT[])"
    )


@functools.lru_cache(maxsize=128)
def _find_and_add_sql(table: sa.Table, rows: int, dialect: sa.Dialect) -> str:
    """``WITH added AS (INSERT ... VALUES <rows>) SELECT <keys found>`` for PostgreSQL
    (psycopg: named parameters, taken as they are), compiled once per table and number of
    rows: SQLAlchemy compiles such a statement afresh on every run."""
    values: list[dict[str, Any]] = [
        {name: sa.bindparam(f"{name}_{i}") for name in _KEY_COLUMNS} for i in range(rows)
    ]
    added = table.insert().values(values).cte("added")
    query = (
        sa.select(*(table.c[name] for name in _KEY_COLUMNS))
        .where(
            table.c.tenant == sa.bindparam("tenant"),
            table.c.entity == sa.bindparam("entity"),
            table.c.key == sa.any_(sa.bindparam("keys", type_=ARRAY(sa.String()))),
        )
        .add_cte(added)
    )
    return query.compile(dialect=dialect).string


@functools.lru_cache(maxsize=64)
def _find_query(table: sa.Table) -> sa.Select[Any]:
    """The lookup of keys, built once per table (a duplicate check runs it on every save of
    a record: building and keying a new statement each time costs more than running it)."""
    return sa.select(*(table.c[name] for name in _KEY_COLUMNS)).where(
        table.c.tenant == sa.bindparam("tenant"),
        table.c.entity == sa.bindparam("entity"),
        table.c.key.in_(sa.bindparam("keys", expanding=True)),
    )


def shared_keys(
    conn: sa.Connection, tables: Tables, tenant: str, entity: str, limit: int
) -> list[tuple[str, str, list[uuid.UUID]]]:
    table = tables.table("match_key")
    records = sa.func.count(sa.distinct(table.c.record_id))
    groups = (
        sa.select(table.c.rule, table.c.key, records.label("records"))
        .where(table.c.tenant == tenant, table.c.entity == entity)
        .group_by(table.c.rule, table.c.key)
        .having(records > 1)
        .order_by(records.desc(), table.c.rule, table.c.key)
        .limit(limit)
        .subquery()
    )
    query = (
        sa.select(groups.c.rule, groups.c.key, groups.c.records, table.c.record_id)
        .join(
            table,
            sa.and_(
                table.c.tenant == tenant,
                table.c.entity == entity,
                table.c.rule == groups.c.rule,
                table.c.key == groups.c.key,
            ),
        )
        .order_by(groups.c.records.desc(), groups.c.rule, groups.c.key, table.c.record_id)
    )
    found: dict[tuple[str, str], list[uuid.UUID]] = {}
    for row in conn.execute(query):
        ids = found.setdefault((row.rule, row.key), [])
        if row.record_id not in ids:
            ids.append(row.record_id)
    return [(rule, key, ids) for (rule, key), ids in found.items()]


def search_keys(
    conn: sa.Connection,
    tables: Tables,
    tenant: str,
    entity: str,
    rules: Sequence[str],
    fragment: str,
    limit: int,
) -> list[uuid.UUID]:
    table = tables.table("match_key")
    query = (
        sa.select(table.c.record_id)
        .where(
            table.c.tenant == tenant,
            table.c.entity == entity,
            table.c.rule.in_(list(rules)),
            table.c.key.contains(fragment, autoescape=True),
        )
        .distinct()
        .limit(limit)
    )
    return [row[0] for row in conn.execute(query)]
