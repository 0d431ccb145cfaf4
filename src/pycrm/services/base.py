"""The shared shape of every record service: create, get, update, delete, restore, list."""

from __future__ import annotations

import builtins
import datetime as dt
import uuid
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import attrs

from pycrm.core.access import Action
from pycrm.core.audit import Change, ChangeAction, FieldChange
from pycrm.core.events import (
    Event,
    RecordCreated,
    RecordDeleted,
    RecordRestored,
    RecordUpdated,
    StatusChanged,
)
from pycrm.core.ids import new_id, new_id_run, new_ids
from pycrm.core.introspect import child_types
from pycrm.core.kinds import REFERENCES, kind_of
from pycrm.core.limits import MAX_INT64, MIN_INT64
from pycrm.core.money import Money
from pycrm.core.records import SYSTEM_USER, Record
from pycrm.core.snapshot import diff
from pycrm.errors import ConflictError, NotFound, PermissionDenied, ValidationError, shown
from pycrm.schemas import Validator, checked_call
from pycrm.services.auditing import AuditItem, audited, created_together, creations
from pycrm.services.batching import (
    batches,
    chunks,
    collector_paused,
    collector_resumed,
    shift_rows,
)
from pycrm.services.listing import (
    MAX_STREAM_BATCH,
    STREAM_BATCH,
    Page,
    Stream,
    Subtotal,
    build_query,
    check_fields,
    check_money_field,
    next_cursor,
)
from pycrm.storage.base import Filter, Query
from pycrm.storage.capabilities.audit import creation_audit
from pycrm.storage.capabilities.bulk import bulk_writes
from pycrm.storage.capabilities.organisation import ORGANISATION_KINDS, raise_version
from pycrm.storage.capabilities.streaming import record_streams

if TYPE_CHECKING:
    from pycrm.services.unit_of_work import Step, UnitOfWork

__all__ = ["RecordService"]

E = TypeVar("E", bound=Record)


class RecordService(Generic[E]):
    """Use cases for one kind of record, run inside a unit of work.

    Subclasses name the entity class, the input TypedDict and the required fields, and
    expose typed ``create``/``update`` methods that call :meth:`_create`/:meth:`_update`.
    """

    entity: ClassVar[type[Record]]
    fields: ClassVar[type[Any]]
    required: ClassVar[tuple[str, ...]] = ()
    _validators: ClassVar[dict[type[Any], Validator]] = {}

    def __init__(self, step: Step) -> None:
        self._step = step

    @property
    def _kind(self) -> type[E]:
        return self.entity  # type: ignore[return-value]

    @property
    def validator(self) -> Validator:
        cls = type(self)
        if cls not in RecordService._validators:
            RecordService._validators[cls] = Validator(cls.fields, cls.required, cls.entity.kind)
        return RecordService._validators[cls]

    # -- reading ------------------------------------------------------------------------
    def get(self, record_id: uuid.UUID | str, *, include_deleted: bool = False) -> E:
        """The record with this id; :class:`NotFound` if absent (or deleted)."""
        with self._step(read_only=True) as uow:
            found = self._load(uow, _as_id(record_id), include_deleted=include_deleted)
            return self._shown(uow, found)

    @checked_call
    def list(
        self,
        where: Mapping[str, Any] | None = None,
        *,
        order_by: str | Sequence[str] = (),
        limit: int = 50,
        after: str | None = None,
        deleted: bool | None = False,
    ) -> Page[E]:
        """One page of records matching ``where``.

        ``where`` maps a field to a value (equality) or ``field__op`` to a value with
        ``op`` one of ``ne lt lte gt gte in contains is_null``. ``order_by`` names fields,
        ``-field`` for descending. ``after`` is the previous page's ``next_cursor``.
        ``deleted=True`` lists only deleted records, ``None`` lists all.

        Values are checked as every backend stores them: an ``__in`` list has at most
        1,000 values, whole numbers fit 64 bits, text has no NUL, times have a UTC offset;
        ``order_by`` names at most 20 fields and ``limit`` is 1 to 1,000.
        """
        with self._step(read_only=True) as uow:
            query = build_query(
                self.entity, where, order_by, limit, after, deleted, fields=uow.config.fields
            )
            _check_readable(uow, self.entity.kind, query)
            items: builtins.list[E] = uow.tx.find(self._kind, uow.scope, query)
            more = len(items) == limit
            cursor = next_cursor(items[-1], query) if more and items else None
            shown = self._shown_all(uow, [self._typed(uow, item) for item in items])  # type: ignore[misc]
        return Page(shown, cursor)

    @checked_call
    def stream(
        self,
        where: Mapping[str, Any] | None = None,
        *,
        order_by: str | Sequence[str] = (),
        batch_size: int = STREAM_BATCH,
        deleted: bool | None = False,
    ) -> Stream[E]:
        """Every record matching ``where``, one by one, in the order of ``order_by``: the
        records :meth:`list` gives page after page, read ``batch_size`` at a time (1 to
        10,000) on a database cursor, so memory holds about one batch however many
        records there are.

        ``where``, ``order_by`` and ``deleted`` are those of :meth:`list`, checked now,
        not at the first record. Inside a unit of work the stream reads in its
        transaction. Through :meth:`pycrm.CRM.as_user` it opens one read-only unit of
        work for the whole stream, which ends when the stream is exhausted or closed
        (``close()``, ``with ….stream() as rows:``, :func:`contextlib.closing`); until
        then it holds a database connection, and no other unit of work of the CRM can
        open in this thread.
        """
        batches = self._streamed(where, order_by, batch_size, deleted)
        next(batches)  # checks the arguments and starts the read, or raises
        return Stream(batches)

    def _streamed(
        self,
        where: Mapping[str, Any] | None,
        order_by: str | Sequence[str],
        batch_size: int,
        deleted: bool | None,
    ) -> Generator[builtins.list[E], None, None]:
        """The batches of :meth:`stream`, after an empty one once the arguments are checked
        and the unit of work is open."""
        kind = self.entity.kind
        errors = []
        if isinstance(batch_size, bool) or not 1 <= batch_size <= MAX_STREAM_BATCH:
            errors.append(("batch_size", f"must be between 1 and {MAX_STREAM_BATCH:,}"))
        with _held(self._step) as uow:
            with uow.step(read_only=True):
                try:
                    query = build_query(
                        self.entity, where, order_by, None, None, deleted, fields=uow.config.fields
                    )
                except ValidationError as error:
                    raise ValidationError(error.errors + errors, entity=kind) from None
                if errors:
                    raise ValidationError(errors, entity=kind)
                _check_readable(uow, kind, query)
                scope, hidden = uow.scope, _hidden(uow, kind)
                scope.condition(kind)  # what the user may see, worked out now
                streams = record_streams(uow.tx)
            yield []
            fields = uow.config.fields
            batches = streams.stream(self._kind, scope, query, batch_size)
            try:
                while True:
                    # A batch's records are alive together: collecting meanwhile would only
                    # promote them (as on the bulk paths). Never paused across the yield.
                    with collector_paused():
                        batch = next(batches, None)
                        if batch is None:
                            return
                        for record in batch:
                            if record.custom:
                                record.custom = fields.load(kind, record.custom)
                        if hidden:
                            batch = [_hide(record, hidden) for record in batch]
                    yield batch
                    uow.tx  # noqa: B018 (raises StorageError once the unit of work has ended)
            finally:
                close = getattr(batches, "close", None)
                if close is not None:
                    close()  # the adapter's cursor, before the unit of work ends

    @checked_call
    def count(self, where: Mapping[str, Any] | None = None, *, deleted: bool | None = False) -> int:
        """How many records match ``where`` (same keys as :meth:`list`)."""
        with self._step(read_only=True) as uow:
            query = build_query(
                self.entity, where, (), None, None, deleted, fields=uow.config.fields
            )
            _check_readable(uow, self.entity.kind, query)
            return uow.tx.count(self.entity, uow.scope, query)

    @checked_call
    def subtotals(
        self,
        by: Sequence[str],
        *,
        where: Mapping[str, Any] | None = None,
        total: str | None = None,
        locale: str | None = None,
    ) -> builtins.list[Subtotal]:
        """Count records per value of the ``by`` fields, and total a money field per group.

        Computed by the storage backend (GROUP BY in SQL). Totals are kept per currency:
        a group with amounts in two currencies appears twice. Groups are keyed by the
        stored value; fields bound to a picklist also get their key's label in ``locale``
        (the tenant's locale unless given) in ``labels``.
        """
        check_fields(self.entity, by, "by")
        if total is not None:
            check_money_field(self.entity, total)
        with self._step(read_only=True) as uow:
            query = build_query(self.entity, where, (), None, None, False, fields=uow.config.fields)
            _check_readable(uow, self.entity.kind, query, (*by, *([total] if total else [])))
            groups = uow.tx.group(self.entity, uow.scope, query, tuple(by), total)
            config = uow.config
        kind, reader = self.entity.kind, locale or config.locale
        labelled = [name for name in by if config.picklist_of(kind, name) is not None]
        return [
            Subtotal(
                dict(zip(by, g.key, strict=True)),
                g.count,
                None
                if g.currency is None or g.total is None
                else Money.from_minor(g.total, g.currency),
                {
                    name: config.label(kind, name, _plain_key(g.key[by.index(name)]), reader)
                    for name in labelled
                },
            )
            for g in groups
        ]

    def history(self, record_id: uuid.UUID | str) -> builtins.list[Change]:
        """Every recorded change of one record, oldest first."""
        rid = _as_id(record_id)
        with self._step(read_only=True) as uow:
            self._load(uow, rid, include_deleted=True)
            found = uow.tx.changes(uow.scope, self.entity.kind, rid)
            hidden = _hidden(uow, self.entity.kind)
            if not hidden:
                return found
            return [
                attrs.evolve(c, fields=tuple(f for f in c.fields if f.field not in hidden))
                for c in found
            ]

    # -- writing ------------------------------------------------------------------------
    def _create(self, fields: Mapping[str, Any], *, allow_duplicates: bool = False) -> E:
        with self._step() as uow, _allowing(uow, allow_duplicates):
            clean = self._clean(uow, fields)
            _check_writable(uow, self.entity.kind, clean)
            record = self._build(uow, self._prepare(uow, clean, None), new_id(), uow.now())
            self._check_references(uow, [record])
            uow.access.require(self.entity.kind, Action.CREATE, record, stored=False)
            self._before_insert(uow, [record])
            self._before_write(uow, record, None)
            uow.tx.insert([self._stored(uow, record)])
            self._after_insert(uow, [record])
            self._audit(uow, creations([record]))
            return self._shown(uow, record)

    def create_many(self, rows: Iterable[Mapping[str, Any]]) -> builtins.list[E]:
        """Validate and create many records in one unit of work, batch by batch, and
        return them.

        Errors name the row by its position (``"3.name"``); if any row is bad, nothing
        of the whole call is written. For inputs too large to hold, use :meth:`import_many`.
        """
        created: builtins.list[E] = []
        with self._step() as uow:
            for batch in self._created_batches(uow, rows):
                created += batch
        return created

    def import_many(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Like :meth:`create_many`, but keeps nothing: rows are read, validated and written
        a batch at a time, so memory stays bounded whatever the input size (a generator
        reading a file streams through). Returns how many records were created; one bad
        row and nothing is written."""
        with self._step() as uow:
            return sum(len(batch) for batch in self._created_batches(uow, rows))

    def _created_batches(
        self, uow: UnitOfWork, rows: Iterable[Mapping[str, Any]]
    ) -> Iterator[builtins.list[E]]:
        if not isinstance(rows, Iterable) or isinstance(rows, str | bytes | Mapping):
            raise ValidationError.single("rows", "expected an iterable of rows (mappings)")
        upcoming = batches(rows, uow.crm.settings.batch_size)
        # The store may still be writing a batch while the next one is prepared
        # (pycrm.storage.capabilities.bulk); the caller's rows are read only once it is done,
        # with the collector on. Each batch reads the next one's rows before it writes.
        with bulk_writes(uow.tx) as finish:
            ahead: builtins.list[tuple[int, builtins.list[Mapping[str, Any]]] | None] = [
                next(upcoming, None)
            ]

            def read_ahead() -> None:
                finish()
                with collector_resumed():
                    ahead.append(next(upcoming, None))

            while (current := ahead.pop()) is not None:
                with collector_paused():
                    created = self._create_batch(uow, *current, before_writes=read_ahead)
                if not ahead:
                    read_ahead()
                yield created

    def _create_batch(
        self,
        uow: UnitOfWork,
        offset: int,
        batch: Sequence[Mapping[str, Any]],
        *,
        before_writes: Callable[[], None] = lambda: None,
    ) -> builtins.list[E]:
        records = self._checked_batch(uow, offset, batch)
        self._write_batch(uow, records, before_writes=before_writes)
        return records

    def _checked_batch(
        self, uow: UnitOfWork, offset: int, batch: Sequence[Mapping[str, Any]]
    ) -> builtins.list[E]:
        """The records a batch creates, validated and allowed, nothing written yet (a
        ValidationError names rows from ``offset``)."""
        records = self._validated_batch(uow, offset, batch)
        self._allowed_batch(uow, offset, records)
        return records

    def _validated_batch(
        self,
        uow: UnitOfWork,
        offset: int,
        batch: Sequence[Mapping[str, Any]],
        now: dt.datetime | None = None,
    ) -> builtins.list[E]:
        """The records a batch creates, by their own values: what :meth:`_checked_batch`
        checks without looking at other records, except those custom reference fields
        name (an import does it while the store is still writing the batch before). They
        are created at ``now`` (by default, now)."""
        try:
            clean = self._clean_many(uow, batch)
            clean = [self._prepare(uow, row, None) for row in clean]
            for row in clean:
                _check_writable(uow, self.entity.kind, row)
            return self._build_many(uow, clean, now)
        except ValidationError as error:
            raise shift_rows(error, offset) from None

    def _allowed_batch(self, uow: UnitOfWork, offset: int, records: builtins.list[E]) -> None:
        """The rest of :meth:`_checked_batch`: the records referred to exist, and the user
        may create these records."""
        try:
            self._check_references(uow, records, numbered=True)
        except ValidationError as error:
            raise shift_rows(error, offset) from None
        uow.access.require_all(self.entity.kind, Action.CREATE, records)

    def _write_batch(
        self,
        uow: UnitOfWork,
        records: builtins.list[E],
        *,
        before_writes: Callable[[], None] = lambda: None,
    ) -> None:
        """Write checked records (:meth:`_checked_batch`) with their audit trail."""
        self._before_insert(uow, records)
        for record in records:
            self._before_write(uow, record, None)
        before_writes()
        # The audit first: the records' own rows are the batch's last write, which the
        # store may go on with while the next batch is prepared.
        changes = self._audit_created(uow, records)
        uow.tx.insert([self._stored(uow, r) for r in records])
        self._after_insert(uow, records)
        self._audited(uow, records, changes)

    def _update(
        self,
        record_id: uuid.UUID | str,
        version: int | None,
        changes: Mapping[str, Any],
        *,
        allow_duplicates: bool = False,
    ) -> E:
        with self._step() as uow, _allowing(uow, allow_duplicates):
            clean = self._clean(uow, changes, partial=True)
            return _last_writer_wins(
                uow, version, lambda: self._apply_update(uow, _as_id(record_id), version, clean)
            )

    def _apply_update(
        self, uow: UnitOfWork, record_id: uuid.UUID, version: int | None, clean: dict[str, Any]
    ) -> E:
        record = self._load(uow, record_id, for_update=True)
        _check_version(record, version)
        uow.access.require(self.entity.kind, Action.EDIT, record)
        _check_writable(uow, self.entity.kind, clean)
        if "owner_id" in clean and clean["owner_id"] != record.owner_id:
            uow.access.require(self.entity.kind, Action.TRANSFER, record)
        # A picklist key the tenant retired may stay on a record, not be newly set.
        changed = {k: v for k, v in clean.items() if getattr(record, k, None) != v}
        if problems := uow.config.picklist_problems(self.entity.kind, changed):
            raise ValidationError(problems, entity=self.entity.kind)
        clean = self._prepare(uow, clean, record)
        before = audited(record)
        old = attrs.evolve(record, custom=dict(record.custom))
        for name, value in self._values(clean).items():
            if name == "custom":
                value = {k: v for k, v in {**record.custom, **value}.items() if v is not None}
            setattr(record, name, value)
        record.derive()
        _raise_problems(record)
        self._check_references(uow, [record], only=set(clean))
        self._before_write(uow, record, old)
        return self._shown(uow, self._save(uow, record, before, ChangeAction.UPDATE))

    def delete(self, record_id: uuid.UUID | str, *, version: int | None = None) -> E:
        """Soft-delete: the record disappears from lists and can be restored."""
        with self._step() as uow:
            return _last_writer_wins(uow, version, lambda: self._delete(uow, record_id, version))

    def _delete(self, uow: UnitOfWork, record_id: uuid.UUID | str, version: int | None) -> E:
        record = self._load(uow, _as_id(record_id), for_update=True)
        _check_version(record, version)
        uow.access.require(self.entity.kind, Action.DELETE, record)
        before = audited(record)
        record.deleted_at = uow.now()
        saved = self._save(uow, record, before, ChangeAction.DELETE)
        self._after_delete(uow, saved)
        return saved

    def restore(self, record_id: uuid.UUID | str) -> E:
        """Bring a soft-deleted record back."""
        with self._step() as uow:
            record = self._load(uow, _as_id(record_id), include_deleted=True, for_update=True)
            if not record.deleted:
                raise ConflictError(f"{self.entity.kind} {record.id} is not deleted")
            uow.access.require(self.entity.kind, Action.DELETE, record)
            before = audited(record)
            record.deleted_at = None
            saved = self._save(uow, record, before, ChangeAction.RESTORE)
            self._after_restore(uow, saved)
            return saved

    # -- shared steps --------------------------------------------------------------------
    def _prepare(self, uow: UnitOfWork, clean: dict[str, Any], record: E | None) -> dict[str, Any]:
        """Complete validated input from stored data before it is applied (``record`` is
        the stored record on update, None on create); the default changes nothing."""
        return clean

    def _before_insert(self, uow: UnitOfWork, records: Sequence[E]) -> None:
        """What a subclass completes on new records once they may be created (numbers
        from a sequence), a batch at a time."""

    def _before_write(self, uow: UnitOfWork, record: E, old: E | None) -> None:
        """Rules a subclass adds before a record is written (``old`` is None on create)."""

    def _after_insert(self, uow: UnitOfWork, records: Sequence[E]) -> None:
        """What a subclass writes once new records are stored (rows that refer to them)."""

    def _after_delete(self, uow: UnitOfWork, record: E) -> None:
        """What a subclass undoes once a record is (soft-)deleted."""

    def _after_restore(self, uow: UnitOfWork, record: E) -> None:
        """What a subclass redoes once a deleted record is back."""

    def _load(
        self,
        uow: UnitOfWork,
        rid: uuid.UUID,
        *,
        include_deleted: bool = False,
        for_update: bool = False,
    ) -> E:
        """The record, typed; ``for_update`` locks it until the unit of work ends (where
        the database has row locks), so a concurrent writer waits instead of conflicting."""
        if for_update:
            query = Query(ids=frozenset([rid]), deleted=None, lock=True)
            found = uow.tx.find(self.entity, uow.scope, query)
            record = found[0] if found else None
        else:
            record = uow.tx.get(self.entity, uow.scope, rid)
        if record is None or (record.deleted and not include_deleted):
            raise NotFound(self.entity.kind, rid)
        return self._typed(uow, record)  # type: ignore[return-value]

    # -- custom fields -------------------------------------------------------------------
    def _typed(self, uow: UnitOfWork, record: Record) -> Record:
        """Give a stored record typed custom values (``Decimal``, ``date``, ``Money``...)."""
        record.custom = uow.config.fields.load(record.kind, record.custom)
        return record

    def _shown_all(self, uow: UnitOfWork, records: builtins.list[E]) -> builtins.list[E]:
        """:meth:`_shown` of many records of this service's kind."""
        hidden = _hidden(uow, self.entity.kind)
        return [_hide(r, hidden) for r in records] if hidden else records

    def _shown(self, uow: UnitOfWork, record: E) -> E:
        """The record as the acting user may see it: fields hidden from them are emptied
        (a copy; the stored record is untouched)."""
        hidden = _hidden(uow, record.kind)
        if not hidden:
            return record
        return _hide(record, hidden)

    def _stored(self, uow: UnitOfWork, record: E) -> E:
        """A copy of ``record`` whose custom values are JSON-ready, for the backend."""
        if not record.custom:
            return record  # nothing to convert (and bulk paths skip a copy per record)
        return attrs.evolve(record, custom=uow.config.fields.dump(record.kind, record.custom))

    def _clean(
        self, uow: UnitOfWork, fields: Mapping[str, Any], *, partial: bool = False
    ) -> dict[str, Any]:
        """Validated input: built-in fields by the schema, ``custom`` by its definitions.

        Every problem of both is reported in one :class:`ValidationError`.
        """
        values = dict(fields)
        custom = values.pop("custom", None)
        errors: list[tuple[str, str]] = []
        clean: dict[str, Any] = {}
        try:
            clean = self.validator.one(values, partial=partial)
        except ValidationError as error:
            errors += error.errors
        if not partial:  # an update is checked against what the record holds
            errors += uow.config.picklist_problems(self.entity.kind, clean)
        typed, problems = self._custom(uow, custom, new=not partial)
        if errors or problems:
            raise ValidationError(errors + problems, entity=self.entity.kind)
        if custom is not None or not partial:
            clean["custom"] = typed
        return clean

    def _clean_many(
        self, uow: UnitOfWork, rows: Sequence[Mapping[str, Any]]
    ) -> builtins.list[dict[str, Any]]:
        errors: list[tuple[str, str]] = [
            (str(i), "expected a mapping of field names to values")
            for i, row in enumerate(rows)
            if not isinstance(row, Mapping)
        ]
        if errors:
            raise ValidationError(errors, entity=self.entity.kind)
        values = [dict(row) for row in rows]
        customs = [row.pop("custom", None) for row in values]
        clean: builtins.list[dict[str, Any]] = []
        try:
            clean = self.validator.many(values)
        except ValidationError as error:
            errors += error.errors
        refused = uow.config.picklist_problems_of(self.entity.kind, clean)
        errors += [(f"{i}.{field}", why) for i, field, why in refused]
        typed = []
        absent: tuple[dict[str, Any], builtins.list[tuple[str, str]]] | None = None
        for i, custom in enumerate(customs):
            if custom is None:  # no custom input: every such row of the batch ends alike
                if absent is None:
                    absent = self._custom(uow, None, new=True)
                values_i, problems = dict(absent[0]), absent[1]
            else:
                values_i, problems = self._custom(uow, custom, new=True)
            typed.append(values_i)
            errors += [(f"{i}.{path}", why) for path, why in problems]
        if errors:
            errors.sort(key=lambda e: int(e[0].partition(".")[0]) if e[0][:1].isdigit() else -1)
            raise ValidationError(errors, entity=self.entity.kind)
        for row, custom_values in zip(clean, typed, strict=True):
            row["custom"] = custom_values
        return clean

    def _custom(
        self, uow: UnitOfWork, custom: Any, *, new: bool
    ) -> tuple[dict[str, Any], builtins.list[tuple[str, str]]]:
        if custom is None:
            custom = {}
        if not isinstance(custom, Mapping):
            return {}, [("custom", "expected a mapping of custom field keys to values")]
        typed, problems = uow.config.fields.validate(self.entity.kind, custom, new=new)
        if not problems:
            problems = self._custom_references(uow, typed)
        if new:
            typed = {k: v for k, v in typed.items() if v is not None}
        return typed, problems

    def _custom_references(
        self, uow: UnitOfWork, typed: Mapping[str, Any]
    ) -> builtins.list[tuple[str, str]]:
        """Custom reference values must name an undeleted record of the same tenant."""
        problems = []
        for key, value in typed.items():
            definition = uow.config.fields.get(self.entity.kind, key)
            if value is None or definition is None or definition.target is None:
                continue
            found = uow.tx.get(kind_of(definition.target), uow.scope, value)
            if found is None or found.deleted:
                problems.append((definition.path, f"no {definition.target} {value} in this tenant"))
        return problems

    def _values(self, clean: Mapping[str, Any]) -> dict[str, Any]:
        """Validated input as entity field values (child dicts become child objects)."""
        children = child_types(self.entity)
        if not children:  # most kinds: the values as they are (a copy), no look-up per field
            return dict(clean)
        return {
            name: [children[name](**item) for item in value] if name in children else value
            for name, value in clean.items()
        }

    def _build(
        self, uow: UnitOfWork, clean: Mapping[str, Any], record_id: uuid.UUID, now: dt.datetime
    ) -> E:
        values = self._values(clean)
        values.setdefault("owner_id", uow.user)
        record: E = self.entity(id=record_id, tenant=uow.tenant, **values)  # type: ignore[assignment]
        record.derive()
        record.stamp(uow.user, now, created=True)
        _raise_problems(record)
        return record

    def _build_many(
        self, uow: UnitOfWork, rows: Sequence[Mapping[str, Any]], now: dt.datetime | None = None
    ) -> builtins.list[E]:
        records, errors = [], []
        now = now or uow.now()  # one batch, one instant
        for i, (row, record_id) in enumerate(zip(rows, new_ids(len(rows)), strict=True)):
            try:
                records.append(self._build(uow, row, record_id, now))
            except ValidationError as error:
                errors += [(f"{i}.{path}", why) for path, why in error.errors]
        if errors:
            raise ValidationError(errors, entity=self.entity.kind)
        return records

    def _save(self, uow: UnitOfWork, record: E, before: dict[str, Any], action: ChangeAction) -> E:
        expected = record.version
        record.stamp(uow.user, uow.now())
        uow.tx.update(self._stored(uow, record), expected)
        if isinstance(before.get("custom"), dict):
            # A plain snapshot keeps custom values as one dict; the trail lists each key.
            custom = before["custom"]
            before = {k: v for k, v in before.items() if k != "custom"}
            before |= {f"custom.{k}": v for k, v in custom.items()}
        changed = diff(before, audited(record))
        fields = tuple(FieldChange(k, old, new) for k, (old, new) in changed.items())
        self._audit(uow, [(record, action, fields)])
        return record

    def _check_references(
        self,
        uow: UnitOfWork,
        records: Sequence[Record],
        only: set[str] | None = None,
        *,
        numbered: bool = False,
    ) -> None:
        """Every referenced record must exist, undeleted, in the same tenant.

        Records being created in the same batch count as existing (a parent customer and
        its subsidiaries may be imported together).
        """
        wanted: dict[tuple[str, str], dict[uuid.UUID, builtins.list[int]]] = {}
        # The acting user needs no user record (the host application authenticates
        # people); anyone else named as owner, manager or assignee must be a user here.
        trusted = {None, uow.user, SYSTEM_USER}
        for i, record in enumerate(records):
            for name in _reference_fields(type(record)):
                value = getattr(record, name)
                if only is not None and name not in only:
                    continue
                if name in USER_REFERENCES:
                    if value not in trusted:
                        wanted.setdefault((name, "user"), {}).setdefault(value, []).append(i)
                elif value is not None:
                    target = record.kind if name == "parent_id" else REFERENCES[name]
                    wanted.setdefault((name, target), {}).setdefault(value, []).append(i)
        batch = {r.id for r in records}
        errors = []
        for (name, target), rows_by_id in wanted.items():
            ids = sorted(rows_by_id.keys() - batch if target == records[0].kind else rows_by_id)
            for chunk in chunks(ids, 500):
                # Grouping by id asks only which ids exist (no records, no child rows).
                query = Query(ids=frozenset(chunk))
                found = uow.tx.group(kind_of(target), uow.scope, query, ("id",))
                for missing in sorted(set(chunk) - {g.key[0] for g in found}):
                    for i in rows_by_id[missing]:
                        path = f"{i}.{name}" if numbered else name
                        errors.append((path, f"no {target} {missing} in this tenant"))
        if errors:
            raise ValidationError(errors, entity=self.entity.kind)

    def _audit(self, uow: UnitOfWork, items: Sequence[AuditItem]) -> None:
        now = uow.now()
        changes = [
            Change(
                id=change_id,
                tenant=uow.tenant,
                entity=record.kind,
                record_id=record.id,
                action=action,
                user_id=uow.user,
                at=now,
                version=record.version,
                fields=fields,
            )
            for change_id, (record, action, fields) in zip(new_ids(len(items)), items, strict=True)
        ]
        uow.tx.record_changes(changes)
        self._audited(uow, [record for record, _, _ in items], lambda: changes)

    def _audit_created(
        self, uow: UnitOfWork, records: Sequence[E]
    ) -> Callable[[], Sequence[Change]]:
        """Write the audit of a batch of new records: their create changes go to the store
        in one piece (:mod:`pycrm.storage.capabilities.audit`). Returns how to list them one
        by one, which only events need (:meth:`_audited`)."""
        created = created_together(
            records,
            change_id=new_id_run(len(records)),
            tenant=uow.tenant,
            user=uow.user,
            at=uow.now(),
        )
        creation_audit(uow.tx).record_creations(created)
        return created.changes

    def _audited(
        self, uow: UnitOfWork, records: Sequence[Record], changes: Callable[[], Sequence[Change]]
    ) -> None:
        """What follows the audit of a write of ``records`` (``changes`` gives their
        changes, in the same order)."""
        if self.entity.kind in ORGANISATION_KINDS:
            raise_version(uow.tx, uow.tenant)  # rights cached by any process are stale now
            uow.organisation_changed()
        if uow.wants_events:
            for change, record in zip(changes(), records, strict=True):
                for event in self._events(uow, record, change):
                    uow.emit(event)

    def _events(self, uow: UnitOfWork, record: Record, change: Change) -> builtins.list[Event]:
        """The events one audited write means: ``<kind>.created`` (or updated, deleted,
        restored), then ``<kind>.status_changed`` when the status changed; subclasses add
        their own (a new payment is also ``payment.received``)."""
        fields = {f.field: (f.old, f.new) for f in change.fields}
        how: dict[str, Any] = {
            "entity": record.kind,
            "record_id": record.id,
            "tenant": uow.tenant,
            "user_id": uow.user,
            "at": change.at,
        }
        past, cls = _PAST[change.action]
        events: builtins.list[Event] = [cls(name=f"{record.kind}.{past}", changes=fields, **how)]
        if change.action is ChangeAction.UPDATE and "status" in fields:
            old, new = fields["status"]
            data = {"from": old, "to": new}
            events.append(StatusChanged(name=f"{record.kind}.status_changed", data=data, **how))
        return events


_PAST: dict[ChangeAction, tuple[str, type[Event]]] = {
    ChangeAction.CREATE: ("created", RecordCreated),
    ChangeAction.UPDATE: ("updated", RecordUpdated),
    ChangeAction.DELETE: ("deleted", RecordDeleted),
    ChangeAction.RESTORE: ("restored", RecordRestored),
}


@contextmanager
def _allowing(uow: UnitOfWork, duplicates: bool) -> Iterator[None]:
    """Let this call save likely duplicates a ``block`` rule refuses (the caller asked,
    and its right is checked where the rule applies)."""
    if not isinstance(duplicates, bool):
        raise ValidationError.single("allow_duplicates", "give True or False")
    before, uow.allow_duplicates = uow.allow_duplicates, duplicates
    try:
        yield
    finally:
        uow.allow_duplicates = before


def _plain_key(value: Any) -> Any:
    """A grouped value as a picklist key (an enum as its value)."""
    return value.value if isinstance(value, Enum) else value


def _as_id(value: uuid.UUID | str) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise ValidationError.single("id", f"{shown(value)} is not a record id") from None


#: How often a write without a version is tried again after someone else's write won.
RETRIES = 3
T = TypeVar("T")


def _last_writer_wins(uow: UnitOfWork, version: int | None, write: Callable[[], T]) -> T:
    """Run ``write`` (read, change, save). Without a ``version`` the caller asked for no
    check, so when another writer saved the record in between, it is read again and the
    change applied again: the last writer wins. With a version, a conflict is reported.

    Only a retry needs a savepoint of its own (the call's undoes a failure): none is taken
    with a version, nor where writers take turns (no one else can have written anything
    the write reads: the record, or the records it saves with it, such as an order's
    payment plan or a moved user's subordinates)."""
    if version is not None or getattr(uow.tx, "writers_take_turns", False):
        return write()
    for attempt in range(RETRIES):
        try:
            with uow.tx.savepoint():
                return write()
        except ConflictError:
            if version is not None or attempt == RETRIES - 1:
                raise
    raise AssertionError("unreachable")


def _check_version(record: Record, version: int | None) -> None:
    if version is not None and (
        isinstance(version, bool)
        or not isinstance(version, int)
        or not MIN_INT64 <= version <= MAX_INT64
    ):
        raise ValidationError.single("version", f"{shown(version)} is not a version number")
    if version is not None and version != record.version:
        raise ConflictError(
            f"{record.kind} {record.id} is at version {record.version}, not {version}: "
            "someone changed it since you read it; read it again and retry"
        )


def _raise_problems(record: Record) -> None:
    if problems := record.problems():
        raise ValidationError(problems, entity=record.kind)


def _reference_fields(cls: type[Record]) -> tuple[str, ...]:
    if cls not in _REFERENCE_FIELDS:
        names = {f.name for f in attrs.fields(cls)}
        _REFERENCE_FIELDS[cls] = tuple(
            n for n in sorted(names) if n in REFERENCES or n in USER_REFERENCES or n == "parent_id"
        )
    return _REFERENCE_FIELDS[cls]


_REFERENCE_FIELDS: dict[type[Record], tuple[str, ...]] = {}

#: Fields naming a user of the tenant.
USER_REFERENCES = frozenset({"owner_id", "manager_id", "assignee_id"})


def _hidden(uow: UnitOfWork, kind: str) -> frozenset[str]:
    return uow.access.hidden(kind)


def _hide(record: E, hidden: frozenset[str]) -> E:
    """A copy of ``record`` with the ``hidden`` fields emptied."""
    shown = attrs.evolve(record)
    shown.custom = {k: v for k, v in record.custom.items() if f"custom.{k}" not in hidden}
    for name in hidden:
        if not name.startswith("custom.") and hasattr(shown, name):
            setattr(shown, name, _EMPTY_VALUE.get(name))
    return shown


@contextmanager
def _held(step: Step) -> Iterator[UnitOfWork]:
    """The unit of work a stream reads in, for as long as it lasts: the caller's own when
    ``step`` runs calls inside one (then nothing of a call, such as a savepoint, stays open
    while records are handed out), else a read-only one of its own that ends with the
    block."""
    from pycrm.services.unit_of_work import UnitOfWork

    caller = getattr(step, "__self__", None)
    if isinstance(caller, UnitOfWork):
        yield caller
        return
    with step(read_only=True) as uow:
        yield uow


def _check_readable(uow: UnitOfWork, kind: str, query: Query, extra: Sequence[str] = ()) -> None:
    """Refuse to filter, order or group by a field hidden from the acting user (the answer
    would tell what the field holds)."""
    hidden = _hidden(uow, kind)
    if not hidden:
        return
    named = {f.field for f in query.filters if isinstance(f, Filter)}
    named |= {name for name, _ in query.order} | set(extra)
    if refused := sorted(named & hidden):
        raise PermissionDenied(
            f"user {uow.user} may not filter, order or group {kind} records by "
            f"{', '.join(refused)} (hidden for their roles)"
        )


def _check_writable(uow: UnitOfWork, kind: str, clean: Mapping[str, Any]) -> None:
    """Refuse a write to a field restricted for the acting user (hidden or read-only)."""
    rules = uow.access.restricted(kind)
    if not rules:
        return
    given = set(clean) | {f"custom.{k}" for k in clean.get("custom") or {}}
    if refused := sorted(given & set(rules)):
        raise PermissionDenied(
            f"user {uow.user} may not write {', '.join(refused)} of {kind} records "
            "(read-only or hidden for their roles)"
        )


#: What a hidden field shows instead of its value (None unless listed).
_EMPTY_VALUE: dict[str, Any] = {"tags": []}
