"""Match keys in SQL (:mod:`pycrm.storage.capabilities.matching`): replaced per record,
looked up by ``(tenant, entity, key)`` on its index, shared keys grouped with ``HAVING``."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import attrs
import sqlalchemy as sa

from pycrm.core.matching import MatchKey
from pycrm.storage.sqlalchemy.bulk import bulk_insert
from pycrm.storage.sqlalchemy.tables import Tables

__all__ = ["find_keys", "replace_keys", "search_keys", "shared_keys"]

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
    if keys:
        columns = [[getattr(key, name) for key in keys] for name in _KEY_COLUMNS]
        bulk_insert(conn, table, _KEY_COLUMNS, columns)


def find_keys(
    conn: sa.Connection, tables: Tables, tenant: str, entity: str, keys: Sequence[str]
) -> list[MatchKey]:
    table = tables.table("match_key")
    found: list[MatchKey] = []
    wanted = sorted(set(keys))
    for start in range(0, len(wanted), CHUNK):
        query = sa.select(table).where(
            table.c.tenant == tenant,
            table.c.entity == entity,
            table.c.key.in_(wanted[start : start + CHUNK]),
        )
        found += [MatchKey(**row._mapping) for row in conn.execute(query)]
    return found


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
