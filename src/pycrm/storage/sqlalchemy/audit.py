"""The audit trail of bulk creates on SQL: one row per batch, one index row per record.

A batch of created records (:class:`~pycrm.storage.capabilities.audit.Creations`) is one
row of ``change_batches`` holding two JSON texts (characters beyond ASCII as they are)::

    fields:  {"names": [field, ..., "custom"],   # the audited fields, then custom values
              "same": {field: value, ...}}       # fields of one value in the whole batch
    records: [[value, ...], ...]                 # per record, the other fields' values

and one row per record of ``change_batch_records`` (tenant, entity, record id, batch id,
position in the batch), whose key is what the changes of one record are looked up by.
One record's change is read back with its own values only: the database takes them out of
``records`` (``json_extract`` on SQLite, ``json_extract_path_text`` on PostgreSQL).
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from pycrm.core.audit import Change, ChangeAction
from pycrm.core.ids import id_in_run
from pycrm.storage.capabilities.audit import Creations, created_fields
from pycrm.storage.sqlalchemy.bulk import bulk_insert, json_text_unicode
from pycrm.storage.sqlalchemy.tables import Tables

__all__ = ["BATCH_COLUMNS", "INDEX_COLUMNS", "created_changes", "payload", "write_creations"]

#: Columns of ``change_batches`` and ``change_batch_records``, in the order written.
BATCH_COLUMNS = (
    "tenant",
    "id",
    "entity",
    "action",
    "user_id",
    "at",
    "version",
    "fields",
    "records",
)
INDEX_COLUMNS = ("tenant", "entity", "record_id", "batch_id", "position")


def payload(
    creations: Creations, start: int = 0, stop: int | None = None
) -> tuple[dict[str, Any], list[Sequence[Any]]]:
    """The ``fields`` and ``records`` of the batch of records ``start`` to ``stop``."""
    names = [*creations.fields, "custom"]
    columns = [*creations.columns, creations.custom]
    same: dict[str, Any] = {}
    varying: list[Sequence[Any]] = []
    for name, column in zip(names, columns, strict=True):
        part = column[start:stop]
        if len(set(map(id, part))) == 1:  # one object all along: written once
            same[name] = part[0]
        else:
            varying.append(part)
    count = len(creations.record_ids[start:stop])
    records: list[Sequence[Any]] = list(zip(*varying, strict=True)) if varying else [()] * count
    return {"names": names, "same": same}, records


def write_creations(
    conn: sa.Connection, tables: Tables, creations: Creations, batch_rows: int, what: str
) -> None:
    """Store ``creations``: a batch row per ``batch_rows`` records, an index row per record.

    The batch that starts at record ``start`` has the id of that record's change (the
    ``start``-th of the run), so the change of the record at ``position`` in it is the
    ``position``-th id from the batch's.
    """
    total = len(creations)
    for start in range(0, total, batch_rows):
        stop = min(start + batch_rows, total)
        count = stop - start
        batch_id = id_in_run(creations.id, start)
        fields, records = payload(creations, start, stop)
        batch: list[Sequence[Any]] = [
            [creations.tenant],
            [batch_id],
            [creations.entity],
            [ChangeAction.CREATE.value],
            [creations.user_id],
            [creations.at],
            [creations.version],
            [json_text_unicode(fields)],
            [json_text_unicode(records)],
        ]
        bulk_insert(conn, tables.change_batches, BATCH_COLUMNS, batch, copy_from=1, what=what)
        index: list[Sequence[Any]] = [
            [creations.tenant] * count,
            [creations.entity] * count,
            creations.record_ids[start:stop],
            [batch_id] * count,
            range(count),
        ]
        bulk_insert(conn, tables.change_batch_records, INDEX_COLUMNS, index, what=what)


def created_changes(
    conn: sa.Connection, tables: Tables, tenant: str, entity: str, record_id: uuid.UUID
) -> list[Change]:
    """The create changes of one record written by :func:`write_creations` (at most one,
    unless a host wrote more)."""
    params = {"tenant": tenant, "entity": entity, "record_id": record_id}
    found = []
    for row in conn.execute(_created_query(tables, conn.dialect.name), params):
        fields = json.loads(row.fields)
        names, same = fields["names"], fields["same"]
        values = iter(json.loads(row.record))
        plain = [same[name] if name in same else next(values) for name in names]
        found.append(
            Change(
                id=id_in_run(row.id, row.position),
                tenant=tenant,
                entity=entity,
                record_id=record_id,
                action=ChangeAction(row.action),
                user_id=row.user_id,
                at=row.at,
                version=row.version,
                fields=created_fields(names[:-1], plain[:-1], plain[-1]),
            )
        )
    return found


@functools.cache
def _created_query(tables: Tables, dialect: str) -> sa.Select[Any]:
    """A record's batch rows with the record's own values, which the database takes out of
    the batch's ``records`` (JSON text)."""
    batch, index = tables.change_batches, tables.change_batch_records
    if dialect == "postgresql":
        record = sa.func.json_extract_path_text(
            sa.cast(batch.c.records, sa.JSON), sa.cast(index.c.position, sa.String)
        )
    else:
        record = sa.func.json_extract(batch.c.records, sa.func.printf("$[%d]", index.c.position))
    joined = index.join(
        batch, sa.and_(batch.c.tenant == index.c.tenant, batch.c.id == index.c.batch_id)
    )
    return (
        sa.select(
            batch.c.id,
            batch.c.action,
            batch.c.user_id,
            batch.c.at,
            batch.c.version,
            index.c.position,
            batch.c.fields,
            sa.type_coerce(record, sa.String).label("record"),
        )
        .select_from(joined)
        .where(
            index.c.tenant == sa.bindparam("tenant", type_=index.c.tenant.type),
            index.c.entity == sa.bindparam("entity", type_=index.c.entity.type),
            index.c.record_id == sa.bindparam("record_id", type_=index.c.record_id.type),
        )
        .order_by(batch.c.at, batch.c.id)
    )
