"""Merging likely duplicates into one record: ``uow.customers.merge(survivor, [others])``.

In one unit of work: every field of the survivor is chosen by the survivor rules (the
value ``prefer`` names, else the survivor's own, else the first other record's that has
one; tags are joined; custom values likewise per key); every record that points at a
merged one (its contacts, deals, orders, payment plans, tickets, activities, sub-customers,
leads, shares...) is moved to the survivor, each move audited; the merged records are
soft-deleted with ``merged_into`` naming the survivor, and the survivor's history shows
theirs too. ``<kind>.merged`` is emitted with what moved.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from pycrm.core.access import Action, Share
from pycrm.core.audit import ChangeAction
from pycrm.core.events import RecordsMerged
from pycrm.core.kinds import ENTITY_TYPES, REFERENCES
from pycrm.core.records import Record
from pycrm.errors import ValidationError
from pycrm.services.auditing import audited
from pycrm.storage.base import Filter, Op, Query
from pycrm.storage.capabilities import each

if TYPE_CHECKING:
    from pycrm.services.base import RecordService
    from pycrm.services.unit_of_work import UnitOfWork

__all__ = ["MAX_MERGED", "merge", "pointers_to"]

#: The most records merged into one at a time.
MAX_MERGED = 50

#: Fields a merge never takes from another record.
_KEPT = frozenset({"owner_id", "pool", "owned_since", "external_id", "status", "type"})


def pointers_to(kind: str) -> list[tuple[type[Record], str]]:
    """``(entity class, field)`` of every reference to records of ``kind`` (a customer's
    contacts, deals, orders...; a parent customer's sub-customers)."""
    found = []
    for cls in ENTITY_TYPES:
        for field in attrs.fields(cls):
            if REFERENCES.get(field.name) == kind or (
                field.name == "parent_id" and cls.kind == kind
            ):
                found.append((cls, field.name))
    return found


def merge(
    service: RecordService[Any],
    uow: UnitOfWork,
    survivor_id: uuid.UUID,
    others: Sequence[uuid.UUID],
    prefer: Mapping[str, uuid.UUID],
) -> tuple[Record, dict[str, int]]:
    """Merge ``others`` into ``survivor_id``; the survivor and how many records of each
    kind moved to it."""
    kind = service.entity.kind
    _check_ids(survivor_id, others, prefer)
    survivor = service._load(uow, survivor_id, for_update=True)
    uow.access.require(kind, Action.EDIT, survivor)
    merged = [service._load(uow, rid, for_update=True) for rid in others]
    for record in merged:
        uow.access.require(kind, Action.DELETE, record)
    before = audited(survivor)
    _take_fields(survivor, merged, prefer)
    _keep_parent(survivor, merged)
    survivor.derive()
    moved = _move_pointers(uow, kind, survivor.id, [r.id for r in merged])
    for record in merged:
        old = audited(record)
        record.merged_into = survivor.id
        record.deleted_at = uow.now()
        service._save(uow, record, old, ChangeAction.DELETE)
        service._after_delete(uow, record)
    changed = audited(survivor) != before
    saved = service._save(uow, survivor, before, ChangeAction.UPDATE) if changed else survivor
    if uow.wants_events:
        uow.emit(_event(uow, saved, [r.id for r in merged], moved))
    return saved, moved


def _keep_parent(survivor: Record, merged: Sequence[Record]) -> None:
    """A survivor whose parent is merged into it takes that parent's parent (none when
    that is in the merge too): a record is never its own parent."""
    parent = getattr(survivor, "parent_id", None)
    inside = {r.id: r for r in merged}
    seen = {survivor.id}
    while parent is not None and parent in inside and parent not in seen:
        seen.add(parent)
        parent = getattr(inside[parent], "parent_id", None)
    if hasattr(survivor, "parent_id"):
        survivor.parent_id = None if parent in seen or parent in inside else parent


def _check_ids(
    survivor: uuid.UUID, others: Sequence[uuid.UUID], prefer: Mapping[str, uuid.UUID]
) -> None:
    problems = []
    if not others:
        problems.append(("others", "name at least one record to merge into the survivor"))
    if len(others) > MAX_MERGED:
        problems.append(("others", f"merge at most {MAX_MERGED} records at once"))
    if survivor in others or len(set(others)) != len(others):
        problems.append(("others", "name each record once, and not the survivor"))
    every = {survivor, *others}
    problems += [
        (f"prefer.{name}", "name the survivor or one of the merged records")
        for name, rid in prefer.items()
        if rid not in every
    ]
    if problems:
        raise ValidationError(problems)


def _take_fields(
    survivor: Record, merged: Sequence[Record], prefer: Mapping[str, uuid.UUID]
) -> None:
    """The survivor rules: a preferred record's value, else the survivor's own, else the
    first merged record's that has one; lists joined; custom values per key."""
    by_id = {r.id: r for r in (survivor, *merged)}
    names = [f.name for f in attrs.fields(type(survivor))]
    editable = [n for n in names if n not in survivor.system_fields and n not in _KEPT]
    if unknown := sorted(
        set(prefer) - set(editable) - {f"custom.{k}" for k in _custom_keys(by_id.values())}
    ):
        raise ValidationError([(f"prefer.{n}", "not a field a merge chooses") for n in unknown])
    for name in editable:
        if name == "custom":
            continue
        if name in prefer:
            setattr(survivor, name, getattr(by_id[prefer[name]], name))
            continue
        value = getattr(survivor, name)
        if isinstance(value, list):
            joined = list(dict.fromkeys([*value, *(v for r in merged for v in getattr(r, name))]))
            setattr(survivor, name, joined)
        elif _empty(value):
            found = next((getattr(r, name) for r in merged if not _empty(getattr(r, name))), None)
            if found is not None:
                setattr(survivor, name, found)
    custom = dict(survivor.custom)
    for key in _custom_keys(by_id.values()):
        preferred = prefer.get(f"custom.{key}")
        if preferred is not None:
            custom[key] = by_id[preferred].custom.get(key)
        elif _empty(custom.get(key)):
            custom[key] = next(
                (r.custom[key] for r in merged if not _empty(r.custom.get(key))), None
            )
    survivor.custom = {k: v for k, v in custom.items() if v is not None}


def _custom_keys(records: Iterable[Record]) -> list[str]:
    return sorted({k for r in records for k in r.custom})


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def _move_pointers(
    uow: UnitOfWork, kind: str, survivor: uuid.UUID, merged: list[uuid.UUID]
) -> dict[str, int]:
    """Point every record that points at a merged one at the survivor, each audited."""
    moved: dict[str, int] = {}
    targets = frozenset(merged)
    # The merged records and the survivor themselves are saved by the merge.
    skip = targets | {survivor}
    for cls, field in pointers_to(kind):
        query = Query(filters=(Filter(field, Op.IN, targets),), deleted=None)
        count = _repoint(uow, cls, query, field, survivor, skip)
        moved[cls.kind] = moved.get(cls.kind, 0) + count
    shares = Query(
        filters=(Filter("entity", Op.EQ, kind), Filter("record_id", Op.IN, targets)), deleted=None
    )
    moved["share"] = _repoint(uow, Share, shares, "record_id", survivor, skip)
    return {k: v for k, v in moved.items() if v}


def _repoint(
    uow: UnitOfWork,
    cls: type[Record],
    query: Query,
    field: str,
    target: uuid.UUID,
    skip: frozenset[uuid.UUID],
) -> int:
    service = uow.service_of(cls.kind)
    found = each(uow.tx, cls, uow.everything, query)
    records = [r for r in found if r.id not in skip]
    for record in records:
        before = audited(record)
        setattr(record, field, target)
        record.derive()
        service._save(uow, record, before, ChangeAction.UPDATE)
    return len(records)


def _event(
    uow: UnitOfWork, survivor: Record, merged: list[uuid.UUID], moved: dict[str, int]
) -> RecordsMerged:
    return RecordsMerged(
        name=f"{survivor.kind}.merged",
        entity=survivor.kind,
        record_id=survivor.id,
        tenant=uow.tenant,
        user_id=uow.user,
        at=uow.now(),
        data={"merged": [str(i) for i in merged], "moved": dict(moved)},
    )
