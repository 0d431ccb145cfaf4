"""Exporting any list to CSV or Excel, streamed: ``uow.exports.run("customer", "out.csv",
where={"level": "vip"})``.

The records are those the list would show with the same filters and order, of the ones
the acting user may *export* (the ``export`` right, which can reach less than ``view``),
read on one database cursor a batch at a time and written as they come, so memory stays
flat whatever their number. Fields hidden from the user are left out; money is written
as ``"12000.00 CNY"``, lists joined with ``;``, custom fields as ``custom.<key>`` columns.
The CSV is UTF-8 with a byte-order mark, which Excel needs to read Chinese and Japanese.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from enum import Enum
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

import attrs

from pycrm.core.access import Action
from pycrm.core.money import Money
from pycrm.errors import ValidationError
from pycrm.schemas import checked_call
from pycrm.services.base import _check_readable, _hidden
from pycrm.services.listing import STREAM_BATCH, build_query
from pycrm.storage.capabilities.streaming import record_streams

if TYPE_CHECKING:
    from pycrm.core.records import Record
    from pycrm.services.unit_of_work import Step, UnitOfWork

__all__ = ["EXPORTABLE", "ExportService"]

#: The lists that can be exported.
EXPORTABLE = (
    "customer",
    "contact",
    "lead",
    "opportunity",
    "product",
    "order",
    "payment_plan",
    "payment",
    "ticket",
    "activity",
)
#: Columns every export starts with.
_FIRST = ("id", "owner_id", "created_at", "updated_at")

Format = Literal["csv", "xlsx"]


class ExportService:
    """``uow.exports``: write any list to a CSV or Excel file."""

    def __init__(self, step: Step) -> None:
        self._step = step

    @checked_call
    def run(
        self,
        entity: str,
        target: Any,
        *,
        where: Mapping[str, Any] | None = None,
        order_by: str | Sequence[str] = (),
        format: Format | None = None,
        columns: Sequence[str] | None = None,
        on_progress: Any = None,
    ) -> int:
        """Write the records of ``entity`` matching ``where`` (as in ``list``) to
        ``target`` (a path, or an open file: text for CSV, binary for Excel), one row per
        record under a header of field names; ``columns`` picks and orders them (default:
        id, owner, times, then every field). Returns how many records were written;
        ``on_progress`` is called with that count after each batch."""
        if entity not in EXPORTABLE:
            raise ValidationError.single("entity", f"give one of {list(EXPORTABLE)}")
        if not isinstance(target, str | Path) and not hasattr(target, "write"):
            raise ValidationError.single("target", "give a path or an open file")
        if on_progress is not None and not callable(on_progress):
            raise ValidationError.single("on_progress", "give a function of the row count")
        kind = format or _format_of(target)
        if kind == "xlsx" and isinstance(target, io.TextIOBase):
            raise ValidationError.single("target", "an Excel file is binary: open it with 'wb'")
        with self._step(read_only=True) as uow:
            service = uow.service_of(entity)
            cls = service.entity
            query = build_query(cls, where, order_by, None, None, False, fields=uow.config.fields)
            _check_readable(uow, entity, query)
            names = _columns(uow, service, columns)
            batches = record_streams(uow.tx).stream(
                cls, uow.access.scope(Action.EXPORT), query, STREAM_BATCH
            )
            rows = _rows(uow, entity, batches, names, on_progress)
            return _write(target, kind, names, rows)


def _columns(uow: UnitOfWork, service: Any, wanted: Sequence[str] | None) -> list[str]:
    kind = service.entity.kind
    names = [f.name for f in attrs.fields(service.entity) if f.name != "custom"]
    custom = [f"custom.{d.key}" for d in uow.config.fields.of(kind)]
    every = [*_FIRST, *(n for n in names if n not in _FIRST and n != "tenant"), *custom]
    hidden = _hidden(uow, kind)
    shown = [n for n in every if n not in hidden and n.removeprefix("custom.") not in hidden]
    if wanted is None:
        return shown
    if unknown := [n for n in wanted if n not in shown]:
        raise ValidationError([(n, "no such column (or hidden from you)") for n in unknown])
    return list(wanted)


def _rows(
    uow: UnitOfWork,
    kind: str,
    batches: Iterator[list[Record]],
    names: list[str],
    on_progress: Callable[[int], None] | None,
) -> Iterator[list[Any]]:
    fields, count = uow.config.fields, 0
    for batch in batches:
        for record in batch:
            custom = fields.load(kind, record.custom) if record.custom else {}
            yield [
                _cell(custom.get(n[7:]) if n.startswith("custom.") else getattr(record, n, None))
                for n in names
            ]
        count += len(batch)
        if on_progress is not None:
            on_progress(count)


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, Money):
        return f"{value.amount} {value.currency}"
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple | set | frozenset):
        return ";".join(str(_cell(v)) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return value
    if attrs.has(type(value)):
        return str(attrs.asdict(value))
    return str(value)


def _format_of(target: Any) -> Format:
    name = str(target) if isinstance(target, str | Path) else str(getattr(target, "name", ""))
    return "xlsx" if name.lower().endswith(".xlsx") else "csv"


def _write(target: Any, kind: Format, names: list[str], rows: Iterator[list[Any]]) -> int:
    if kind == "xlsx":
        return _write_xlsx(target, names, rows)
    if isinstance(target, str | Path):
        with open(target, "w", encoding="utf-8-sig", newline="") as file:
            return _write_csv(file, names, rows)
    return _write_csv(typing.cast(IO[str], target), names, rows)


def _write_csv(file: IO[str], names: list[str], rows: Iterator[list[Any]]) -> int:
    writer = csv.writer(file)
    writer.writerow(names)
    count = 0
    for row in rows:
        writer.writerow(row)
        count += 1
    return count


def _write_xlsx(target: Any, names: list[str], rows: Iterator[list[Any]]) -> int:
    try:
        import openpyxl
    except ImportError:
        raise ValidationError.single(
            "format", 'Excel files need openpyxl: pip install "pycrm-embedded[excel]"'
        ) from None
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(names)
    count = 0
    for row in rows:
        sheet.append(row)
        count += 1
    book.save(target)
    return count
