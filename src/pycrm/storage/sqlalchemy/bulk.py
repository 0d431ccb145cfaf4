"""Bulk inserts: the driver's fastest way in, fed with SQLAlchemy's own bind processing.

``conn.execute(table.insert(), list_of_dicts)`` builds and processes a parameter dict per
row in Python. A :class:`BulkInsert` compiles the INSERT once per table, column list and
dialect, then runs each column's bind processor (the very ones SQLAlchemy would apply:
UUIDs, UTC datetimes, exact decimals) over a whole column at a time, each distinct value
once, and hands the rows to the driver:

- on PostgreSQL through psycopg 3, :data:`COPY_MIN_ROWS` rows or more go in one
  ``COPY ... FROM STDIN`` in text format, the server's fastest way in. The text is made a
  column at a time (a column escaped in one pass, not a value at a time); a column that
  is NULL in every row is left out of the COPY (NULL is what it gets);
- otherwise (SQLite, a few rows, another driver) the driver's ``executemany`` of the one
  prepared INSERT, which is what SQLite does best.

JSON is encoded as ``json.dumps`` encodes it (by the engine's own ``json_serializer`` when
it was given one) without ``json.dumps``'s set-up on every value; COPY keeps characters
beyond ASCII as they are, which JSONB stores the same. What is stored is what
``conn.execute`` stores, on either path. A failing COPY raises what a failing statement
raises (an ``IntegrityError`` for a duplicate key, its parameters the rows, the row the
server names first), so callers translate both alike. COPY runs on the DBAPI connection
itself: the engine's statement events (``before_cursor_execute``) do not see it.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from functools import lru_cache
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import event

from pycrm.core.snapshot import map_distinct
from pycrm.storage.sqlalchemy.conflicts import unique_fields

__all__ = [
    "COPY_MIN_ROWS",
    "BulkInsert",
    "bulk_insert",
    "deferred_copies",
    "finish_copy",
    "json_text",
    "json_text_unicode",
]

#: Rows from which a bulk insert on PostgreSQL (psycopg 3) goes through COPY. A COPY takes
#: two round trips (its start, then its end) where psycopg's executemany of a few rows
#: takes one: measured on the match keys of a new record (3 rows), 0.29 ms by COPY and
#: 0.22 ms by INSERT; from about a dozen rows COPY is ahead (20 rows: 0.43 / 0.57 ms).
COPY_MIN_ROWS = 8


def _json_encoder(ascii_only: bool = True) -> Callable[[Any], str]:
    """``json.dumps`` with its default options (or ``ensure_ascii=False``), minus its set-up
    on every call: the C encoder ``json.dumps`` builds per call, built once (same output,
    value for value)."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # no C accelerator (another interpreter): json.dumps itself
        return functools.partial(json.dumps, ensure_ascii=ascii_only)
    base = json.JSONEncoder()
    encode = make(
        None,  # no circular-reference markers: pycrm's values are plain trees
        base.default,
        json.encoder.encode_basestring_ascii if ascii_only else json.encoder.encode_basestring,
        None,  # indent
        base.key_separator,
        base.item_separator,
        base.sort_keys,
        base.skipkeys,
        base.allow_nan,
    )
    join = "".join

    def dumps(value: Any) -> str:
        return join(encode(value, 0))

    return dumps


#: One value as JSON text, exactly as ``json.dumps(value)`` gives it.
json_text: Callable[[Any], str] = _json_encoder()
#: The same with characters beyond ASCII as they are: the same JSON (JSONB keeps the same
#: either way), shorter, and with nothing to escape in COPY.
json_text_unicode: Callable[[Any], str] = _json_encoder(ascii_only=False)


def _json_processor(dialect: sa.Dialect, unicode: bool = False) -> Callable[[Any], str]:
    serializer = getattr(dialect, "_json_serializer", None)
    if serializer is not None:
        return serializer  # type: ignore[no-any-return]
    return json_text_unicode if unicode else json_text


def _is_json(column: sa.Column[Any], dialect: sa.Dialect) -> bool:
    return isinstance(column.type.dialect_impl(dialect), sa.JSON)


# -- bind processing, a column at a time ---------------------------------------------------
#: Turns a column's values into what the driver is given.
ColumnProcessor = Callable[[Sequence[Any]], Sequence[Any]]


def _each(process: Callable[[Any], Any]) -> ColumnProcessor:
    """``process`` on each value (values mostly distinct: JSON documents)."""
    return lambda values: list(map(process, values))


def _hex_texts(values: Sequence[Any]) -> list[str | None]:
    """UUIDs as SQLAlchemy stores them without a native type: 32 hex digits (``.hex``)."""
    if len(set(map(id, values))) == 1:  # one object all along (a batch's user, None)
        first = values[0]
        return [None if first is None else f"{first.int:032x}"] * len(values)
    return [None if u is None else f"{u.int:032x}" for u in values]


def _column_processor(column: sa.Column[Any], dialect: sa.Dialect) -> ColumnProcessor | None:
    """What SQLAlchemy's bind processor of ``column`` does, over a whole column: each
    distinct value once, and the commonest conversions without a call per value."""
    impl = column.type.dialect_impl(dialect)
    if isinstance(impl, sa.JSON) and dialect.name != "postgresql":
        # What SQLAlchemy's JSON processor gives on SQLite (None as 'null' too).
        return _each(_json_processor(dialect))
    if (
        isinstance(impl, sa.Uuid)
        and impl.as_uuid
        and not (impl.native_uuid and dialect.supports_native_uuid)
        and type(impl).bind_processor is sa.Uuid.bind_processor
    ):
        return _hex_texts
    process = impl.bind_processor(dialect)
    return None if process is None else functools.partial(map_distinct, process)


# -- COPY's text format -----------------------------------------------------------------
#: A column's values turned into their texts in COPY's text format.
Formatter = Callable[[Sequence[Any]], list[str]]

_NULL = "\\N"


def _escaped(values: Sequence[str | None]) -> list[str]:
    """Texts escaped for COPY (backslash, tab, newline, carriage return), None as NULL;
    one pass over the whole column for each character that occurs at all."""
    nulls = None in values
    strings = ["" if v is None else v for v in values] if nulls else cast(Sequence[str], values)
    joined = "\x00".join(strings)  # no PostgreSQL text holds NUL (the server refuses it)
    if "\\" in joined or "\t" in joined or "\n" in joined or "\r" in joined:
        escaped = (
            joined.replace("\\", "\\\\")
            .replace("\t", "\\t")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
            .split("\x00")
        )
        if len(escaped) != len(values):  # a value held a NUL: the server will say so
            escaped = [
                s.replace("\\", "\\\\")
                .replace("\t", "\\t")
                .replace("\n", "\\n")
                .replace("\r", "\\r")
                for s in strings
            ]
    else:
        escaped = list(strings)
    if nulls:
        return [_NULL if v is None else s for v, s in zip(values, escaped, strict=True)]
    return escaped


def _uuid_texts(values: Sequence[Any]) -> list[str]:
    """UUIDs as 32 hex digits (PostgreSQL reads them so), None as NULL."""
    if len(set(map(id, values))) == 1:  # one object all along (a batch's user, None)
        first = values[0]
        return [_NULL if first is None else f"{first.int:032x}"] * len(values)
    return [_NULL if u is None else f"{u.int:032x}" for u in values]


def _str_of(value: Any) -> str | None:
    return None if value is None else str(value)


def _plain_texts(values: Sequence[Any]) -> list[str]:
    """Numbers, booleans ("True"), dates and times as ``str`` gives them (PostgreSQL reads
    each so), each distinct value once, escaped, None as NULL."""
    return _escaped(map_distinct(_str_of, values))


def _formatter(column: sa.Column[Any], dialect: sa.Dialect) -> Formatter:
    """How one column's values (after its bind processor) become COPY text."""
    impl = column.type.dialect_impl(dialect)
    if isinstance(impl, sa.TypeDecorator):
        impl = impl.impl_instance  # what its bind processor gives is of this type
    if isinstance(impl, sa.JSON):
        return _escaped
    if isinstance(impl, sa.Uuid) and impl.as_uuid:
        return _uuid_texts
    if isinstance(impl, sa.String):
        return _escaped
    return _plain_texts


def _copy_processor(column: sa.Column[Any], dialect: sa.Dialect) -> ColumnProcessor | None:
    """A column's bind processing before COPY: SQLAlchemy's (UTC times, exact decimals),
    but JSON as text."""
    if _is_json(column, dialect):
        return _each(_json_processor(dialect, unicode=True))
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    return None if process is None else functools.partial(map_distinct, process)


#: psycopg's COPY error context: "COPY table, line 3, column name: ..." (1-based data line).
_COPY_LINE = re.compile(r"COPY [^,]+, line (\d+)")


class BulkInsert:
    """An INSERT of some columns of one table, compiled for one dialect."""

    def __init__(self, table: sa.Table, columns: Sequence[str], dialect: sa.Dialect) -> None:
        compiled = table.insert().compile(dialect=dialect, column_keys=list(columns))
        self.sql = compiled.string
        self.table = table
        self.columns = tuple(columns)
        self._processors = [_column_processor(table.c[name], dialect) for name in columns]
        # Positional drivers (sqlite3: "?") take tuples in the statement's order; named
        # ones (psycopg: "%(name)s") take dicts.
        self._order: list[int] | None = None
        if dialect.positional:
            self._order = [self.columns.index(name) for name in compiled.positiontup or ()]
        #: Whether rows go through COPY (PostgreSQL through psycopg 3).
        self.copies = dialect.name == "postgresql" and dialect.driver == "psycopg"
        self._quote = dialect.identifier_preparer
        self._copy_sql: dict[tuple[int, ...], str] = {}
        self._copy_processors: list[ColumnProcessor | None] = []
        self._formatters: list[Formatter] = []
        #: Columns left out of a COPY when all its values are None (None is their default).
        self._omissible: list[bool] = []
        if self.copies:
            for name in columns:
                column = table.c[name]
                self._copy_processors.append(_copy_processor(column, dialect))
                self._formatters.append(_formatter(column, dialect))
                self._omissible.append(
                    column.server_default is None and not _is_json(column, dialect)
                )

    def copy_sql(self, kept: tuple[int, ...]) -> str:
        """``COPY table (the kept columns) FROM STDIN``."""
        sql = self._copy_sql.get(kept)
        if sql is None:
            names = ", ".join(self._quote.quote(self.columns[i]) for i in kept)
            sql = f"COPY {self._quote.format_table(self.table)} ({names}) FROM STDIN"
            self._copy_sql[kept] = sql
        return sql

    def parameters(self, values: Sequence[Sequence[Any]]) -> list[Any]:
        """Driver parameters from column values (one sequence per column, in order)."""
        processed = _processed(values, self._processors)
        if self._order is not None:
            return list(zip(*[processed[i] for i in self._order], strict=True))
        return [dict(zip(self.columns, row, strict=True)) for row in zip(*processed, strict=True)]

    def execute(
        self,
        conn: sa.Connection,
        values: Sequence[Sequence[Any]],
        copy_from: int = COPY_MIN_ROWS,
        what: str | None = None,
    ) -> None:
        """Insert the rows whose column values are given (nothing when there are none)."""
        rows = len(values[0]) if values else 0
        if self.copies and rows >= max(copy_from, 1):
            self.copy(conn, values, what)
            return
        params = self.parameters(values)
        if params:
            finish_copy(conn)  # a COPY left open in a stretch of bulk writes ends first
            conn.exec_driver_sql(self.sql, params)

    def copy(
        self, conn: sa.Connection, values: Sequence[Sequence[Any]], what: str | None = None
    ) -> None:
        """Insert the rows through one ``COPY ... FROM STDIN`` (psycopg 3 only).

        In a stretch of :func:`deferred_copies` the COPY is left open once every row is
        sent, so that the server works on them while the caller goes on; anywhere else it
        ends here. Either way a failure is a :class:`~pycrm.ConflictError` (a duplicate
        key) or a :class:`~pycrm.StorageError` that begins with ``what``.
        """
        kept = tuple(
            i for i, column in enumerate(values) if not (self._omissible[i] and _all_none(column))
        )
        processed = [
            values[i] if (process := self._copy_processors[i]) is None else process(values[i])
            for i in kept
        ]
        texts = [self._formatters[i](column) for i, column in zip(kept, processed, strict=True)]
        data = "\n".join(map("\t".join, zip(*texts, strict=True)))
        sql = self.copy_sql(kept)
        finish_copy(conn)  # one COPY at a time on a connection
        opened = _OpenCopy(
            conn,
            sql,
            what or f"cannot insert into {self.table.name}",
            lambda: list(zip(*processed, strict=True)),
        )
        opened.write(data + "\n", deferred=bool(conn.info.get(_DEFER)))
        if conn.info.get(_DEFER):
            conn.info[_OPEN] = opened
        else:
            opened.finish()


# -- COPYs left open -----------------------------------------------------------------------
#: ``conn.info`` keys: the COPY left open on a connection; whether COPYs may stay open.
_OPEN = "pycrm_open_copy"
_DEFER = "pycrm_copies_deferred"


class _Discarded(Exception):
    """What a COPY that is given up ends with (the server drops its rows)."""


class _OpenCopy:
    """One COPY on a connection: its rows sent, its end (and the server's answer) to come."""

    def __init__(
        self, conn: sa.Connection, sql: str, what: str, rows: Callable[[], list[tuple[Any, ...]]]
    ) -> None:
        self._dbapi = conn.dialect.loaded_dbapi
        self._cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        self._sql, self._what, self._rows = sql, what, rows
        self._context: Any = None

    def write(self, data: str, *, deferred: bool) -> None:
        from psycopg.copy import LibpqWriter

        try:
            # Left open, every byte must reach the server now (not wait in the driver's
            # buffer), or the server could not work while the caller goes on.
            writer = LibpqWriter(self._cursor, flush_threshold=0) if deferred else None
            self._context = self._cursor.copy(self._sql, writer=writer)
            copy = self._context.__enter__()
            copy.write(data)
        except BaseException as error:
            with suppress(self._dbapi.Error):
                self._end(discard=True)
            if isinstance(error, self._dbapi.Error):
                raise self._failure(error) from error
            raise

    def finish(self, *, discard: bool = False) -> None:
        """Send the end of the rows and wait for the server; raise what it says, unless
        ``discard`` (the rows are given up: a rollback follows)."""
        try:
            self._end(discard=discard)
        except self._dbapi.Error as error:
            if not discard:
                raise self._failure(error) from error

    def _end(self, *, discard: bool) -> None:
        try:
            if self._context is not None:
                if discard:
                    self._context.__exit__(_Discarded, _Discarded("given up"), None)
                else:
                    self._context.__exit__(None, None, None)
        finally:
            self._context = None
            self._cursor.close()

    def _failure(self, error: Exception) -> Exception:
        from pycrm.errors import ConflictError, StorageError

        text = f"{self._what}: {_without_values(error, _failed_first(self._rows(), error))}"
        if isinstance(error, self._dbapi.IntegrityError):
            return ConflictError(text, fields=unique_fields(error))
        return StorageError(text)


def finish_copy(conn: sa.Connection, *, discard: bool = False) -> None:
    """End the COPY left open on ``conn`` if there is one (see :meth:`_OpenCopy.finish`)."""
    opened = conn.info.pop(_OPEN, None) if _OPEN in conn.info else None
    if opened is not None:
        opened.finish(discard=discard)


@contextmanager
def deferred_copies(conn: sa.Connection) -> Iterator[Callable[[], None]]:
    """A stretch of bulk writes on ``conn`` in which a COPY is left open when its call
    returns: the database works on its rows while Python prepares the next batch.

    Anything else that uses the connection ends it first: SQLAlchemy statements, commits,
    rollbacks and savepoints (listeners on the engine), the next bulk insert, and the
    function this yields, which a caller runs before code of its own (the input of an
    import) may use the connection. The stretch ends its last COPY on the way out. Outside
    such a stretch, and on SQLite, nothing is left open.
    """
    if conn.dialect.name != "postgresql":
        yield lambda: None
        return
    _listen(conn.engine)
    before = conn.info.get(_DEFER)
    conn.info[_DEFER] = True
    try:
        yield functools.partial(finish_copy, conn)
    except BaseException:
        _restore(conn, before)
        finish_copy(conn, discard=True)
        raise
    _restore(conn, before)
    finish_copy(conn)


def _restore(conn: sa.Connection, before: Any) -> None:
    if before is None:
        conn.info.pop(_DEFER, None)
    else:
        conn.info[_DEFER] = before


def _listen(engine: sa.Engine) -> None:
    """Make every other use of an engine's connections end their open COPY first."""
    if event.contains(engine, "before_cursor_execute", _before_statement):
        return
    event.listen(engine, "before_cursor_execute", _before_statement)
    event.listen(engine, "commit", _before_commit)
    event.listen(engine, "rollback", _before_rollback)
    event.listen(engine, "rollback_savepoint", _before_rollback_to_savepoint)
    event.listen(engine, "reset", _before_reset)


def _before_statement(conn: sa.Connection, *args: Any) -> None:
    finish_copy(conn)


def _before_commit(conn: sa.Connection) -> None:
    finish_copy(conn)


def _before_rollback(conn: sa.Connection) -> None:
    finish_copy(conn, discard=True)


def _before_rollback_to_savepoint(conn: sa.Connection, *args: Any) -> None:
    finish_copy(conn, discard=True)


def _before_reset(dbapi_connection: Any, connection_record: Any, reset_state: Any) -> None:
    record = connection_record
    opened = record.info.pop(_OPEN, None) if record is not None else None
    if opened is not None:
        opened.finish(discard=True)


def _without_values(error: Exception, rows: list[tuple[Any, ...]], most: int = 10_000) -> str:
    """The driver's first line about a failure, without the values of the rows written (a
    driver may quote one)."""
    text = str(error).split("\n")[0].strip() or type(error).__name__
    seen = 0
    for row in rows:
        for value in row:
            shown = str(value) if value is not None else ""
            if len(shown) >= 3:  # shorter values would blank out ordinary words
                text = text.replace(shown, "…")
        seen += len(row)
        if seen >= most:
            break
    return text


def _all_none(column: Sequence[Any]) -> bool:
    return bool(column) and column[0] is None and len(set(map(id, column))) == 1


def _processed(
    values: Sequence[Sequence[Any]], processors: Sequence[ColumnProcessor | None]
) -> list[Sequence[Any]]:
    return [
        column if process is None else process(column)
        for column, process in zip(values, processors, strict=True)
    ]


def _failed_first(rows: list[tuple[Any, ...]], error: Exception) -> list[tuple[Any, ...]]:
    """The rows of a failed COPY, the one the server names first (so that whoever hides
    the values of an error message sees that row's before any limit)."""
    context = getattr(getattr(error, "diag", None), "context", None) or ""
    found = _COPY_LINE.search(context)
    if found is None or not 1 <= int(found.group(1)) <= len(rows):
        return rows
    line = int(found.group(1)) - 1
    return [rows[line], *rows[:line], *rows[line + 1 :]]


@lru_cache(maxsize=256)
def _compiled(table: sa.Table, columns: tuple[str, ...], dialect: sa.Dialect) -> BulkInsert:
    return BulkInsert(table, columns, dialect)


def bulk_insert(
    conn: sa.Connection,
    table: sa.Table,
    columns: Sequence[str],
    values: Sequence[Sequence[Any]],
    *,
    copy_from: int = COPY_MIN_ROWS,
    what: str | None = None,
) -> None:
    """Insert rows given column-wise into ``table`` on ``conn`` (compiled once, cached),
    through COPY (where there is COPY) from ``copy_from`` rows: 1 for rows of big texts,
    which COPY hands over faster than a statement's parameters. ``what`` begins the
    message of a failed COPY."""
    _compiled(table, tuple(columns), conn.dialect).execute(conn, values, copy_from, what)
