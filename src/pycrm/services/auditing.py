"""What the audit trail records of a write: the fields it changed, from what, to what."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pycrm.core.audit import ChangeAction, FieldChange
from pycrm.core.records import Record
from pycrm.core.snapshot import map_distinct, plain, snapshot, snapshot_columns

__all__ = ["UNAUDITED", "AuditItem", "audited", "creations"]

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
