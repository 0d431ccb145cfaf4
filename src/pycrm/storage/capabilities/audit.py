"""The bulk audit capability: the creation of many records audited in one piece.

A bulk create (``create_many``, ``import_many``) audits each record it creates with a
*create* change listing every field that has a value. Written as one
:class:`~pycrm.core.audit.Change` per record, the audit trail costs about as much as the
records themselves. :class:`Creations` holds the same information for a whole batch, a
field at a time; a transaction that implements :class:`CreationAudit` stores it in one
piece (the SQL backend: one row per batch plus one small index row per record), and any
other gets :class:`ChangesPerRecord`, which writes the very same changes one per record
through :meth:`~pycrm.storage.base.Transaction.record_changes`. Either way
:meth:`~pycrm.storage.base.Transaction.changes` must answer for each record with the
change :meth:`Creations.change` gives.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from attrs import frozen

from pycrm.core.audit import Change, ChangeAction, FieldChange
from pycrm.core.ids import id_in_run
from pycrm.storage.base import Transaction
from pycrm.storage.capabilities import capability

__all__ = [
    "EMPTY_VALUES",
    "ChangesPerRecord",
    "CreationAudit",
    "Creations",
    "created_fields",
    "creation_audit",
]

#: Values a creation's audit entry leaves out (a field "without a value").
EMPTY_VALUES: tuple[object, ...] = (None, [], {})


@frozen(kw_only=True)
class Creations:
    """The *create* changes of records of one kind created together by one user.

    ``fields`` names the audited fields; ``columns`` holds, per field, one JSON-ready value
    per record (``None``, ``[]`` or ``{}`` when the record has none); ``custom`` holds
    each record's JSON-ready custom values by key. The change of the ``i``-th record is
    :meth:`change`; its id is the ``i``-th of the id run that starts at ``id``
    (:func:`pycrm.core.ids.id_in_run`).
    """

    id: uuid.UUID
    tenant: str
    entity: str
    user_id: uuid.UUID
    at: dt.datetime
    version: int
    record_ids: Sequence[uuid.UUID]
    fields: tuple[str, ...]
    columns: Sequence[Sequence[Any]]
    custom: Sequence[Mapping[str, Any]]

    def __len__(self) -> int:
        return len(self.record_ids)

    def change(self, i: int) -> Change:
        """The create change of the ``i``-th record."""
        values = [column[i] for column in self.columns]
        return self.change_of(i, created_fields(self.fields, values, self.custom[i]))

    def change_of(self, i: int, fields: tuple[FieldChange, ...]) -> Change:
        """The create change of the ``i``-th record, listing ``fields``."""
        return Change(
            id=id_in_run(self.id, i),
            tenant=self.tenant,
            entity=self.entity,
            record_id=self.record_ids[i],
            action=ChangeAction.CREATE,
            user_id=self.user_id,
            at=self.at,
            version=self.version,
            fields=fields,
        )

    def changes(self) -> list[Change]:
        """Every record's create change, in order."""
        return [self.change(i) for i in range(len(self))]


def created_fields(
    names: Sequence[str], values: Sequence[Any], custom: Mapping[str, Any]
) -> tuple[FieldChange, ...]:
    """A new record's audit entries: each field with a value, in ``names`` order, then each
    custom value with a value as ``custom.<key>``, by key."""
    return (
        *(
            FieldChange(n, None, v)
            for n, v in zip(names, values, strict=True)
            if v not in EMPTY_VALUES
        ),
        *(
            FieldChange(f"custom.{key}", None, custom[key])
            for key in sorted(custom)
            if custom[key] not in EMPTY_VALUES
        ),
    )


class CreationAudit(Protocol):
    """A transaction that stores the creations of a batch in one piece."""

    def record_creations(self, creations: Creations) -> None:
        """Append the create changes of ``creations`` to the audit trail, in this
        transaction; :meth:`~pycrm.storage.base.Transaction.changes` then lists the
        ``i``-th record's as :meth:`Creations.change` gives it."""
        ...


class ChangesPerRecord:
    """:class:`CreationAudit` on any record store (the fallback): one change per record
    through :meth:`~pycrm.storage.base.Transaction.record_changes`."""

    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    def record_creations(self, creations: Creations) -> None:
        """Append every record's create change, one by one."""
        self._tx.record_changes(creations.changes())


def creation_audit(tx: Transaction) -> CreationAudit:
    """The transaction's own :class:`CreationAudit`, or :class:`ChangesPerRecord`."""
    return capability(tx, CreationAudit, ChangesPerRecord)
