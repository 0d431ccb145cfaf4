"""What the audit trail records of a write: the fields it changed, from what, to what."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import Any

from pycrm.core.audit import ChangeAction, FieldChange
from pycrm.core.records import Record
from pycrm.core.snapshot import map_distinct, plain, snapshot, snapshot_columns
from pycrm.storage.capabilities.audit import Creations

__all__ = ["UNAUDITED", "AuditItem", "audited", "created_together", "creations"]

#: What one write tells the audit trail: the record, what was done, each field changed.
AuditItem = tuple[Record, ChangeAction, tuple[FieldChange, ...]]

#: Fields an audit record never lists: they change on every write, or (the organisation
#: trees' paths) follow from fields that are audited.
UNAUDITED = frozenset(
    {
        "id",
        "tenant",
        "version",
        "updated_at",
        "updated_by",
        "created_at",
        "created_by",
        "path",
        "manager_path",
        # Derived from the moves that are audited themselves (owner, pool).
        "owned_since",
    }
)


def audited(record: Record) -> dict[str, Any]:
    """A record's audited fields; each custom value is its own ``custom.<key>`` entry."""
    values = snapshot(record, skip=UNAUDITED | {"custom"})
    values.update({f"custom.{k}": plain(v) for k, v in sorted(record.custom.items())})
    return values


def creations(records: Sequence[Record]) -> list[AuditItem]:
    """New records' audit entries: every field that has a value.

    Worked out a field at a time over the batch; equal values of one field share one
    (immutable) FieldChange.
    """
    names, columns = snapshot_columns(records, skip=UNAUDITED | {"custom"})
    changes = [
        map_distinct(_created_field(name), column)
        for name, column in zip(names, columns, strict=True)
    ]
    return [
        (record, ChangeAction.CREATE, (*filter(None, fields), *_custom_created(record)))
        for record, fields in zip(records, zip(*changes, strict=True), strict=True)
    ]


def created_together(
    records: Sequence[Record],
    *,
    change_id: uuid.UUID,
    tenant: str,
    user: uuid.UUID,
    at: dt.datetime,
) -> Creations:
    """New records' create changes in one piece (the same entries as :func:`creations`),
    for :mod:`pycrm.storage.capabilities.audit`; ``change_id`` starts a run of as many ids
    as there are records (:func:`pycrm.core.ids.new_id_run`)."""
    names, columns = snapshot_columns(records, skip=UNAUDITED | {"custom"})
    (version, *others) = set(map(attrgetter("version"), records)) or {1}
    if others:
        raise ValueError("records created together start at the same version")
    return Creations(
        id=change_id,
        tenant=tenant,
        entity=records[0].kind if records else "",
        user_id=user,
        at=at,
        version=version,
        record_ids=[record.id for record in records],
        fields=tuple(names),
        columns=columns,
        custom=[_plain_custom(c) if c else _NO_CUSTOM for c in map(_custom_of, records)],
    )


#: What a record without custom values shows in :class:`Creations` (one object for all).
_NO_CUSTOM: dict[str, Any] = {}
_custom_of = attrgetter("custom")


def _plain_custom(custom: dict[str, Any]) -> dict[str, Any]:
    return {k: plain(v) for k, v in custom.items()} if custom else _NO_CUSTOM


def _custom_created(record: Record) -> tuple[FieldChange, ...]:
    """A new record's custom values, one ``custom.<key>`` audit entry each."""
    return tuple(
        FieldChange(f"custom.{key}", None, plain(value))
        for key, value in sorted(record.custom.items())
        if value not in _EMPTY
    )


def _created_field(name: str) -> Callable[[Any], FieldChange | None]:
    def change(value: Any) -> FieldChange | None:
        return None if value in _EMPTY else FieldChange(name, None, value)

    return change


#: Values a creation's audit entry leaves out.
_EMPTY: tuple[object, ...] = (None, [], {})
