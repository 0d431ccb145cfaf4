"""Importing customers, contacts, leads, products and opportunities from CSV or Excel.

``uow.imports.run("customer", "customers.csv")`` reads the file a batch at a time (memory
stays flat whatever its size), maps its columns to fields by header (field names, or
their Chinese, English and Japanese names: :data:`ALIASES`), turns the text into values,
and creates the records on the bulk path (COPY on PostgreSQL). A row whose
``external_id`` names a live record updates that record instead (upsert, for ERP and lead
platform sync); ``customer_external_id`` (or ``contact_external_id``) names the customer
(or contact) a row belongs to by its external id.

Every bad row is reported with its row number (the header is row 1), column and reason.
``mode="all"`` (the default) writes nothing if any row is bad: the whole file is checked
and every bad row reported in one :class:`pycrm.ValidationError` (paths
``"<row>.<column>"``). ``mode="skip"`` imports the good rows and reports the bad ones in
the :class:`ImportReport`. Either way the import is one unit of work: stopped half-way,
it leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import json
import re
import types
import typing
import unicodedata
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

import attrs
from pydantic import BaseModel, ConfigDict

from pycrm.core.access import Action
from pycrm.core.fields import FieldType
from pycrm.core.kinds import kind_of
from pycrm.errors import ConflictError, CRMError, PermissionDenied, ValidationError
from pycrm.schemas import checked_call
from pycrm.services.batching import collector_paused
from pycrm.storage.capabilities.bulk import bulk_writes
from pycrm.storage.capabilities.lookups import key_lookups, refresh_statistics
from pycrm.storage.capabilities.seen import value_set

if TYPE_CHECKING:
    from pycrm.services.base import RecordService
    from pycrm.services.unit_of_work import Step, UnitOfWork

__all__ = ["ALIASES", "IMPORTABLE", "ImportReport", "ImportService", "RowError"]

#: The kinds of record a file can bring in.
IMPORTABLE = ("customer", "contact", "lead", "product", "opportunity")
#: Rows checked and written at a time.
BATCH = 1000
#: Rows validated together (a bad row has its part checked again without it).
_CHECKED = 100
#: Bad rows listed at most (they are all counted).
MAX_LISTED = 10_000
#: Rows read after which the database's statistics are refreshed (the records an import
#: writes are invisible to them until it commits: the planner would take them for none).
_RECOUNT_AT = frozenset(2 * BATCH * 10**i for i in range(5))

#: Header names (besides the field's own) that map to a field, in Chinese, English and
#: Japanese; compared case-folded, without spaces, ``_`` or ``-``.
ALIASES: dict[str, tuple[str, ...]] = {
    "name": ("名称", "客户名称", "姓名", "联系人", "名前", "会社名", "氏名", "顧客名", "商品名"),
    "external_id": ("外部编号", "外部id", "外部コード", "erpid", "externalid", "外部番号"),
    "customer_external_id": ("客户外部编号", "顧客外部コード", "customerexternalid"),
    "contact_external_id": ("联系人外部编号", "担当者外部コード", "contactexternalid"),
    "phone": ("电话", "電話", "電話番号", "telephone", "tel"),
    "mobile": ("手机", "手机号", "携帯", "携帯電話", "cell"),
    "email": ("邮箱", "电子邮件", "邮件", "メール", "メールアドレス", "e-mail"),
    "website": ("网址", "网站", "ウェブサイト", "url", "web"),
    "address": ("地址", "住所"),
    "industry": ("行业", "業種"),
    "level": ("级别", "等级", "客户级别", "ランク"),
    "source": ("来源", "客户来源", "ソース"),
    "region": ("地区", "区域", "地域"),
    "type": ("类型", "客户类型", "種別"),
    "status": ("状态", "ステータス"),
    "tags": ("标签", "タグ"),
    "title": ("职位", "职务", "役職"),
    "department": ("部门", "部署"),
    "birthday": ("生日", "誕生日"),
    "company": ("公司", "单位", "会社"),
    "notes": ("备注", "メモ", "備考"),
    "code": ("编码", "产品编码", "コード", "商品コード"),
    "category": ("类别", "分类", "カテゴリ"),
    "unit": ("单位", "単位"),
    "price": ("价格", "单价", "価格", "単価"),
    "amount": ("金额", "金額"),
    "stage": ("阶段", "ステージ"),
    "pipeline": ("管道", "销售流程", "パイプライン"),
    "expected_close": ("预计成交日期", "预计签约日期", "受注予定日"),
    "probability": ("赢率", "成交概率", "確度"),
    "owner_id": ("负责人", "担当者"),
}

Mode = Literal["all", "skip"]
Format = Literal["csv", "xlsx"]


class RowError(BaseModel):
    """One bad row: its number in the file (the header is row 1), the column, and why."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    row: int
    column: str
    reason: str


class ImportReport(BaseModel):
    """What an import did: records created and updated, bad rows skipped (and the first
    :data:`MAX_LISTED` of them, with their reasons)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    entity: str
    rows: int
    created: int
    updated: int
    skipped: int
    errors: list[RowError]

    @property
    def ok(self) -> bool:
        """Whether every row was imported."""
        return self.skipped == 0


Source = str | Path | IO[str] | IO[bytes]
Progress = Callable[[int], None]


class ImportService:
    """``uow.imports``: bring records in from CSV or Excel files."""

    def __init__(self, step: Step) -> None:
        self._step = step

    @checked_call
    def run(
        self,
        entity: str,
        source: Any,
        *,
        format: Format | None = None,
        columns: Mapping[str, str] | None = None,
        mode: Mode = "all",
        on_progress: Any = None,
    ) -> ImportReport:
        """Import the rows of ``source`` (a path, or an open text or binary file) as
        records of ``entity``; see the module documentation. ``format`` is taken from the
        file name when not given (CSV otherwise); ``columns`` maps headers to fields where
        the header alone does not say (``{"客户全称": "name"}``); ``on_progress`` is called
        with the number of rows read so far after each batch."""
        if entity not in IMPORTABLE:
            raise ValidationError.single("entity", f"give one of {list(IMPORTABLE)}")
        if on_progress is not None and not callable(on_progress):
            raise ValidationError.single("on_progress", "give a function of the row count")
        if not isinstance(source, str | Path) and not hasattr(source, "read"):
            raise ValidationError.single("source", "give a path or an open file")
        kind = format or _format_of(source)
        with self._step() as uow:
            if not uow.access.scopes(entity, Action.CREATE):
                raise PermissionDenied(f"user {uow.user} may not create {entity} records")
            reader = _rows(source, kind)
            header = next(reader, None)
            if header is None:
                raise ValidationError.single("source", "the file is empty: no header row")
            mapping = _mapping(uow, entity, header, columns or {})
            run = _Run(uow, uow.service_of(entity), mapping, mode, on_progress)
            # Every write is in a batch's savepoint, which ends the batch's last COPY: the
            # server stores a batch's rows while its next rows are made ready, and nothing
            # is pending by the time the file or the progress callback runs.
            with bulk_writes(uow.tx):
                try:
                    report = run.go(reader)
                except BaseException:
                    # A transaction the failure broke cannot drop it: its end will.
                    with contextlib.suppress(CRMError):
                        run.seen_ids.close()
                    raise
            run.seen_ids.close()
            return report


class _Run:
    """One import: batches of rows converted, checked, created or updated."""

    def __init__(
        self,
        uow: UnitOfWork,
        service: RecordService[Any],
        mapping: list[tuple[int, str, str]],
        mode: Mode,
        on_progress: Progress | None,
    ) -> None:
        self.uow, self.service, self.mapping, self.mode = uow, service, mapping, mode
        self.on_progress = on_progress
        self.kind = service.entity.kind
        hints = typing.get_type_hints(service.fields)
        custom = {d.key: d for d in uow.config.fields.of(self.kind)}
        #: Each mapped column: where it is, its header, its field, how its text is read
        #: (None: the text as it is), whether the field is a custom one.
        self.columns = [
            (position, header, name.removeprefix("custom."), *_reader(name, hints, custom))
            for position, header, name in mapping
        ]
        self.rows = self.created = self.updated = self.skipped = 0
        self.errors: list[RowError] = []
        self.failed = False
        #: Whether validating a row reads other records (a custom reference field must
        #: name one): then the batch before is written first, so that what the database
        #: says of it is not taken for the next batch's (see :meth:`go`).
        self.validation_reads = any(d.target is not None for d in custom.values())
        #: The external ids of the rows read so far.
        self.seen_ids = value_set(uow.tx)
        #: The batch written last, its savepoint still open: its rows, how many records
        #: it creates, the savepoint (see :meth:`_settle`).
        self._pending: _Pending | None = None
        #: The file's header of each field (errors name columns as the file does).
        self.headers = {name: header for _, header, name in mapping}

    def go(self, reader: Iterator[list[str]]) -> ImportReport:
        # One batch ahead: while the store writes a batch's new records, the next batch
        # (read and looked up before that write) is validated. Records a batch creates
        # are not among the next batch's lookups: a repeated external id is caught as
        # its row is read (``seen_ids``), and rows refer to records of other kinds. A
        # batch's bad rows are reported when its turn comes, so that the batches before
        # it are written (or probed, once the file is refused) as if it were not read yet.
        batches = _batches(reader)
        try:
            ready = self._read(batches)
            while ready is not None:
                if self.validation_reads:
                    self._settle()
                with collector_paused():  # as in create_many; it collects between batches
                    self._validate(ready)
                self._settle()
                following = self._read(batches)
                for number, problems in ready.bad:
                    self._bad(number, problems)
                with collector_paused():
                    self._write(ready)
                    if ready.updates:  # after the batch's new records, as they are written
                        self._settle(tell=False)
                        self._update(ready.updates, ready.existing)
                if self._pending is None:  # the batch is written: its progress is told
                    self._tell(ready.rows)
                ready = following
            self._settle()
        except BaseException as error:
            self._abandon(error)
            raise
        self.errors.sort(key=lambda e: e.row)
        if self.failed:
            listed = [(f"{e.row}.{e.column}", e.reason) for e in self.errors]
            raise ValidationError(listed, entity=self.kind)
        return ImportReport(
            entity=self.kind,
            rows=self.rows,
            created=self.created,
            updated=self.updated,
            skipped=self.skipped,
            errors=self.errors,
        )

    # -- one batch ----------------------------------------------------------------------
    def _read(self, batches: Iterator[list[tuple[int, list[str]]]]) -> _Ready | None:
        """The next batch's rows as values, told apart into creates and updates, its bad
        rows kept for its turn. Runs with nothing pending (it reads the file and looks
        things up)."""
        batch = next(batches, None)
        if batch is None:
            return None
        self.rows += len(batch)
        ready = _Ready(rows=self.rows)
        converted = [(number, *self._convert(cells)) for number, cells in batch]
        self._repeats(converted)
        values: list[tuple[int, dict[str, Any]]] = []
        for number, row, problems in converted:
            if problems:
                ready.bad.append((number, problems))
            else:
                values.append((number, row))
        values = self._resolve_references(values, ready)
        ready.existing = self._existing(values)
        ready.creates = [(n, r) for n, r in values if r.get("external_id") not in ready.existing]
        ready.updates = [(n, r) for n, r in values if r.get("external_id") in ready.existing]
        return ready

    def _validate(self, ready: _Ready) -> None:
        """The batch's new records by their own values (no look-ups: the store may still
        be writing the batch before); rows refused are kept for the batch's turn."""
        kept: list[tuple[int, dict[str, Any]]] = []
        made: list[Any] = []
        now = self.uow.now()  # one batch, one instant
        # A part with a bad row is checked again without it: parts of a batch (not the
        # whole) keep that second pass small.
        for start in range(0, len(ready.creates), _CHECKED):
            rows = ready.creates[start : start + _CHECKED]
            while rows:
                try:
                    values = [r for _, r in rows]
                    made += self.service._validated_batch(self.uow, 0, values, now)
                    kept += rows
                    break
                except ValidationError as error:
                    bad = self._blame(rows, error.errors, ready.bad.append)
                    rows = [row for i, row in enumerate(rows) if i not in bad]
        ready.creates, ready.made = kept, made

    def _write(self, ready: _Ready) -> None:
        """Create a validated batch in a savepoint left open (:meth:`_settle` ends it);
        anything refused is sorted out row by row at once (:meth:`_create`)."""
        rows, made = ready.creates, ready.made
        if not rows:
            return
        if self.failed:  # rows are only probed from now on
            self._create(rows)
            return
        try:
            self.service._allowed_batch(self.uow, 0, made)
        except ValidationError as error:
            bad = self._blame(rows, error.errors)
            self._create([row for i, row in enumerate(rows) if i not in bad])
            return
        savepoint = self.uow.tx.savepoint()
        savepoint.__enter__()
        try:
            self.service._write_batch(self.uow, made)
        except (ValidationError, ConflictError) as error:
            savepoint.__exit__(type(error), error, error.__traceback__)
            self._create(self._retried(rows, error))
            return
        except BaseException as error:
            savepoint.__exit__(type(error), error, error.__traceback__)
            raise
        self._pending = _Pending(rows, len(made), ready.rows, savepoint)

    def _abandon(self, error: BaseException) -> None:
        """An import given up: the savepoint still open is rolled back (the unit of work
        ends with a rollback anyway; a host's transaction must be left usable)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            with contextlib.suppress(CRMError):
                pending.savepoint.__exit__(type(error), error, error.__traceback__)

    def _tell(self, rows: int) -> None:
        """The rows up to ``rows`` are written: progress is told, and the planner's
        statistics refreshed at some counts (the planner learns the new records exist)."""
        if rows in _RECOUNT_AT:
            refresh_statistics(self.uow.tx, self.service.entity)
        if self.on_progress is not None:
            self.on_progress(rows)

    def _settle(self, *, tell: bool = True) -> None:
        """End the savepoint of the batch written last: the store has its rows then, or
        says what it refused (the batch is then undone and sorted out row by row); then
        tell progress (unless ``tell`` is false: the batch's updates come next)."""
        if self._pending is None:
            return
        pending, self._pending = self._pending, None
        try:
            pending.savepoint.__exit__(None, None, None)
        except (ValidationError, ConflictError) as error:
            self._create(self._retried(pending.rows, error))
        else:
            self.created += pending.made
        if tell:
            self._tell(pending.read)

    def _retried(
        self, rows: list[tuple[int, dict[str, Any]]], error: ValidationError | ConflictError
    ) -> list[tuple[int, dict[str, Any]]]:
        """What is left to try of rows whose write was refused: the rows an error names
        are reported; for a duplicate, each row is tried alone to find the culprits (when
        the rows only clash with each other, they are created one by one now)."""
        if isinstance(error, ValidationError):
            bad = self._blame(rows, error.errors)
        else:
            bad = self._culprits(rows)
            if not bad:
                self._one_by_one(rows)
                return []
        return [row for i, row in enumerate(rows) if i not in bad]

    def _convert(self, cells: Sequence[str]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        row: dict[str, Any] = {}
        custom: dict[str, Any] = {}
        problems = []
        width = len(cells)
        for position, header, name, read, is_custom in self.columns:
            text = cells[position].strip() if position < width else ""
            if not text:
                continue
            try:
                value = text if read is None else read(text)
            except ValueError as error:
                problems.append((header, str(error) or "not a value of this column"))
                continue
            (custom if is_custom else row)[name] = value
        if custom:
            row["custom"] = custom
        return row, problems

    def _repeats(self, rows: list[tuple[int, dict[str, Any], list[tuple[str, str]]]]) -> None:
        """A row whose external id is on an earlier row of the file is refused (the ids
        seen are kept by the store: :mod:`pycrm.storage.capabilities.seen`)."""
        keys = [row.get("external_id") for _, row, _ in rows]
        earlier = self.seen_ids.add({key for key in keys if key is not None})
        for (_, _, problems), key in zip(rows, keys, strict=True):
            if key is None:
                continue
            if key in earlier:
                problems.append(("external_id", f"{key!r} is on an earlier row of the file"))
            earlier.add(key)  # a second row of this batch is a repeat too

    def _resolve_references(
        self, values: list[tuple[int, dict[str, Any]]], ready: _Ready
    ) -> list[tuple[int, dict[str, Any]]]:
        """Rows naming their customer or contact by external id get its id (a row naming
        none is kept for the batch's turn as a bad row)."""
        for field, kind in (
            ("customer_external_id", "customer"),
            ("contact_external_id", "contact"),
        ):
            wanted = {r[field] for _, r in values if field in r}
            if not wanted:
                continue
            lookups = key_lookups(self.uow.tx)
            records = lookups.find_by(kind_of(kind), self.uow.scope, "external_id", wanted)
            found = {getattr(r, "external_id", None): r.id for r in records}
            kept = []
            for number, row in values:
                key = row.pop(field, None)
                if key is None:
                    kept.append((number, row))
                elif key in found:
                    row[f"{kind}_id"] = found[key]
                    kept.append((number, row))
                else:
                    ready.bad.append((number, [(field, f"no {kind} has external id {key!r}")]))
            values = kept
        return values

    def _existing(self, values: list[tuple[int, dict[str, Any]]]) -> dict[str, Any]:
        ids = {r["external_id"] for _, r in values if "external_id" in r}
        lookups = key_lookups(self.uow.tx)
        found = lookups.find_by(self.service.entity, self.uow.everything, "external_id", ids)
        return {str(getattr(r, "external_id", "")): r for r in found}

    def _create(self, rows: list[tuple[int, dict[str, Any]]]) -> None:
        """Create rows at once, each try in a savepoint; a bad row is reported and the rest
        tried again. Once the file is refused (``mode="all"``) each batch is still
        written, to find its bad rows, and rolled back."""
        while rows:
            # Checked before the savepoint: a savepoint rolled back late in a long
            # transaction costs SQLite time and memory, and a bad row writes nothing.
            try:
                made = self.service._checked_batch(self.uow, 0, [r for _, r in rows])
            except ValidationError as error:
                bad = self._blame(rows, error.errors)
                rows = [row for i, row in enumerate(rows) if i not in bad]
                continue
            try:
                with self.uow.tx.savepoint():
                    self.service._write_batch(self.uow, made)
                    if self.failed:
                        raise _Probe
                self.created += len(made)
                return
            except _Probe:
                return
            except (ValidationError, ConflictError) as error:
                rows = self._retried(rows, error)

    def _update(self, rows: list[tuple[int, dict[str, Any]]], existing: Mapping[str, Any]) -> None:
        for number, row in rows:
            record = existing[row["external_id"]]
            changes = {k: v for k, v in row.items() if k != "external_id"}
            try:
                with self.uow.tx.savepoint():
                    clean = self.service._clean(self.uow, changes, partial=True)
                    self.service._apply_update(self.uow, record.id, None, clean)
                    if self.failed:
                        raise _Probe
                self.updated += 1
            except _Probe:
                continue
            except ValidationError as error:
                self._bad(
                    number, [(p.partition(".")[2] or p or "?", why) for p, why in error.errors]
                )
            except CRMError as error:  # a duplicate (its rule's field), a right refused
                self._bad(number, [(self._column_of(error), str(error))])

    def _blame(
        self,
        rows: list[tuple[int, dict[str, Any]]],
        errors: Sequence[tuple[str, str]],
        report: Callable[[tuple[int, list[tuple[str, str]]]], None] | None = None,
    ) -> set[int]:
        """Report the rows a batch's errors name (paths ``"<index>.<field>"``)."""
        bad: dict[int, list[tuple[str, str]]] = {}
        for path, why in errors:
            head, _, field = path.partition(".")
            if head.isdigit() and int(head) < len(rows):
                bad.setdefault(int(head), []).append((field or "?", why))
        if not bad:  # an error of the whole batch: every row carries it
            bad = {i: [("?", why) for _, why in errors] for i in range(len(rows))}
        for position, problems in bad.items():
            if report is None:
                self._bad(rows[position][0], problems)
            else:
                report((rows[position][0], problems))
        return set(bad)

    def _culprits(self, rows: list[tuple[int, dict[str, Any]]]) -> set[int]:
        """A batch refused as a whole (a duplicate): find its rows one by one."""
        bad = set()
        for index, (number, row) in enumerate(rows):
            try:
                with self.uow.tx.savepoint():
                    self.service._create_batch(self.uow, 0, [row])
                    raise _Probe
            except _Probe:
                continue
            except CRMError as error:
                bad.add(index)
                self._bad(number, [(self._column_of(error), str(error))])
        return bad

    def _one_by_one(self, rows: list[tuple[int, dict[str, Any]]]) -> None:
        """Create rows one at a time: a row refused by the ones before it is reported."""
        for number, row in rows:
            try:
                with self.uow.tx.savepoint():
                    self.service._create_batch(self.uow, 0, [row])
                    if self.failed:
                        raise _Probe
                self.created += 1
            except _Probe:
                continue
            except CRMError as error:
                self._bad(number, [(self._column_of(error), str(error))])

    def _column_of(self, error: CRMError) -> str:
        """The field a refused row is reported under: the first of the error's fields
        (a duplicate rule's) the file has, else its first, else ``?``."""
        fields = getattr(error, "fields", ())
        return next((f for f in fields if f in self.headers), fields[0] if fields else "?")

    def _bad(self, number: int, problems: Sequence[tuple[str, str]]) -> None:
        """Report a bad row, each problem under the file's own header for its field."""
        self.skipped += 1
        if self.mode == "all":
            self.failed = True
        for field, reason in problems:
            column = self.headers.get(field, field)
            if len(self.errors) < MAX_LISTED:
                self.errors.append(RowError(row=number, column=column, reason=reason))


@attrs.define
class _Ready:
    """A batch read: the rows read up to its end, its rows to create and to update (by row
    number), the records the updates change (by external id), its bad rows (reported on
    its turn), and once validated the records it creates (one per row of ``creates``)."""

    rows: int
    creates: list[tuple[int, dict[str, Any]]] = attrs.Factory(list)
    updates: list[tuple[int, dict[str, Any]]] = attrs.Factory(list)
    existing: dict[str, Any] = attrs.Factory(dict)
    bad: list[tuple[int, list[tuple[str, str]]]] = attrs.Factory(list)
    made: list[Any] = attrs.Factory(list)


@attrs.define
class _Pending:
    """A batch written in a savepoint still open: its rows, how many records it creates,
    the rows read up to its end, the savepoint (see :meth:`_Run._settle`)."""

    rows: list[tuple[int, dict[str, Any]]]
    made: int
    read: int
    savepoint: Any


def _batches(reader: Iterator[list[str]]) -> Iterator[list[tuple[int, list[str]]]]:
    """The file's rows by :data:`BATCH`, with their numbers (the header is row 1); blank
    lines are not rows."""
    batch: list[tuple[int, list[str]]] = []
    for number, cells in enumerate(reader, start=2):
        if not "".join(cells).strip():
            continue
        batch.append((number, cells))
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


class _Probe(Exception):
    """Rolls back a row created only to see whether it can be."""


# -- reading files ----------------------------------------------------------------------
def _format_of(source: Any) -> Format:
    name = str(source) if isinstance(source, str | Path) else str(getattr(source, "name", ""))
    return "xlsx" if name.lower().endswith((".xlsx", ".xlsm")) else "csv"


def _rows(source: Any, kind: Format) -> Iterator[list[str]]:
    """The file's rows as text, whatever goes wrong reading it a ValidationError."""
    rows = _xlsx_rows(source) if kind == "xlsx" else _csv_rows(source)
    try:
        yield from rows
    except ValidationError:
        raise
    except (OSError, UnicodeError, csv.Error, ValueError, KeyError, zipfile.BadZipFile) as error:
        raise ValidationError.single("source", f"cannot read the file: {error}") from None


def _csv_rows(source: Any) -> Iterator[list[str]]:
    if isinstance(source, str | Path):
        with open(source, encoding="utf-8-sig", newline="") as file:
            yield from csv.reader(file)
        return
    text = (
        source
        if isinstance(source, io.TextIOBase)
        else io.TextIOWrapper(source, "utf-8-sig", newline="")
    )
    yield from csv.reader(text)


def _xlsx_rows(source: Any) -> Iterator[list[str]]:
    try:
        import openpyxl
    except ImportError:
        raise ValidationError.single(
            "format", 'Excel files need openpyxl: pip install "pycrm-embedded[excel]"'
        ) from None
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = openpyxl.load_workbook(source, read_only=True, data_only=True)
    except InvalidFileException as error:
        raise ValidationError.single("source", f"not an Excel workbook: {error}") from None
    try:
        for values in book.worksheets[0].iter_rows(values_only=True):
            yield ["" if v is None else _cell_text(v) for v in values]
    finally:
        book.close()


def _cell_text(value: Any) -> str:
    if hasattr(value, "isoformat"):
        text: str = value.isoformat()
        return text.removesuffix("T00:00:00")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# -- columns and values -----------------------------------------------------------------
def _folded(header: str) -> str:
    return re.sub(r"[\s_\-]", "", unicodedata.normalize("NFKC", header).casefold())


def _mapping(
    uow: UnitOfWork, entity: str, header: Sequence[str], given: Mapping[str, str]
) -> list[tuple[int, str, str]]:
    """``(position, header, field)`` of each column a field takes; unknown columns are a
    ValidationError naming them (map them with ``columns``, or leave them out)."""
    service = uow.service_of(entity)
    fields = set(typing.get_type_hints(service.fields)) - {"custom"}
    fields |= {f"custom.{d.key}" for d in uow.config.fields.of(entity)}
    refs = {"customer_external_id", "contact_external_id"} & {
        f"{k}_external_id" for k in ("customer", "contact") if f"{k}_id" in fields
    }
    known = {_folded(f): f for f in (*fields, *refs)}
    for field, aliases in ALIASES.items():
        if field in fields or field in refs:
            known.update({_folded(a): field for a in aliases})
    for d in uow.config.fields.of(entity):
        known.update({_folded(text): f"custom.{d.key}" for _, text in d.label})
    # What an export writes but no import sets (ids, times, versions): left alone, so an
    # exported file imports as it is.
    kept = {f.name for f in attrs.fields(service.entity)} - fields
    mapping: list[tuple[int, str, str]] = []
    unknown: list[str] = []
    taken: set[str] = set()
    for position, title in enumerate(header):
        name: str | None = given.get(title) or known.get(_folded(title))
        if name is None or (name not in fields and name not in refs):
            if title.strip() and title.strip() not in kept:
                unknown.append(title)
            continue
        if name in taken:
            raise ValidationError.single(title, f"a second column for {name}")
        taken.add(name)
        mapping.append((position, title, name))
    if unknown:
        raise ValidationError(
            [(title, "no field of this name: map it with columns={...}") for title in unknown],
            entity=entity,
        )
    return mapping


_LIST = re.compile(r"[;,，；、|]")


def _reader(
    name: str, hints: Mapping[str, Any], custom: Mapping[str, Any]
) -> tuple[Callable[[str], Any] | None, bool]:
    """How a column's text becomes its field's value, worked out once per import, and
    whether the field is a custom one."""
    if name.startswith("custom."):
        return functools.partial(_custom_value, custom[name[7:]].type), True
    return _value_reader(hints.get(name)), False


def _value_reader(hint: Any) -> Callable[[str], Any] | None:
    """Lists split on ``;`` ``,`` ``、``, JSON objects parsed; everything else (None) is
    left as text for the field's own validation, which reads numbers, dates, times, ids,
    money (``"12000.00 CNY"``) and choices from text."""
    origin = typing.get_origin(_bare(hint))
    if origin is list:
        return _listed
    if origin is dict:
        return _json_object
    return None


def _listed(text: str) -> list[str]:
    return [part.strip() for part in _LIST.split(text) if part.strip()]


def _json_object(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise ValueError("give a JSON object") from None


def _bare(hint: Any) -> Any:
    while typing.get_origin(hint) in (typing.Annotated, typing.Required, typing.NotRequired):
        hint = typing.get_args(hint)[0]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and len(args) == 1:
        return _bare(args[0])
    return hint


def _custom_value(kind: FieldType, text: str) -> Any:
    """A custom field's value from text, by its type."""
    if kind in (FieldType.INTEGER,):
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a whole number") from None
    if kind is FieldType.BOOLEAN:
        folded = text.casefold()
        if folded in ("1", "true", "yes", "y", "是", "はい", "t"):
            return True
        if folded in ("0", "false", "no", "n", "否", "いいえ", "f"):
            return False
        raise ValueError("give yes or no")
    if kind is FieldType.MULTI_CHOICE:
        return _listed(text)
    return text
