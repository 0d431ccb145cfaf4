"""Importing a CSV of customers, ``uow.imports.run("customer", path, mode="skip")``, against
a hand-written executemany (SQLite) and COPY (PostgreSQL) of the same rows.

    python benchmarks/bench_csv_import.py [--rows 1000000] [--kill-rows 20000] \
        [--profile 20000] [--postgres postgresql+psycopg://user@host/db]

The file: ``--rows`` customers (name, phone, email, external_id, level, region; Chinese
company names, numbered so that none repeats), one row in a hundred bad, in turn: an empty
name, an e-mail address without ``@``, the external id of the row before it, a level of
501 characters. Each bad row has one problem, so the report must list exactly those rows,
with their numbers (the header is row 1) and columns.

Measured, at two sizes (``--rows`` and a tenth of it), on a fresh database each:

- **pycrm**: ``crm.as_user(SYSTEM_USER, tenant=...).imports.run("customer", path,
  mode="skip")`` in a fresh process (so that its memory is the import's own); checked: the
  report lists every bad row and nothing else, and the database holds every good row;
- **hand-written**: the same file read with ``csv.reader``, the bad rows left out (by their
  known numbers: no checking), each good row given an id, its folded name and the columns
  pycrm fills (owner, times, version, type, status, JSON defaults), and written in one
  transaction: ``cursor.executemany`` of one INSERT per 1,000 rows on SQLite, one psycopg
  ``COPY ... FROM STDIN`` on PostgreSQL. No match keys, no audit trail: the least a
  database must do to hold the rows.

``ratio = pycrm rows/s / hand-written rows/s`` (targets: at least 0.5 of executemany on
SQLite, 0.3 of COPY on PostgreSQL). At the smaller size, pycrm also imports the file with
the built-in matching plugin disabled (no match keys kept), to show what the keys cost.

Each pycrm import also times two kinds of its statements: its lookups of a batch's external
ids (the SELECT that tells creates from updates, one per batch of 1,000 rows), with the plan
of the last one (EXPLAIN QUERY PLAN on SQLite, EXPLAIN ANALYZE on PostgreSQL, run after the
import, the statistics as the import left them), and its rollbacks to a savepoint (a batch
whose write the database refused, a duplicate, is undone to its savepoint before it is
tried again; rows that validation refuses are left out before the savepoint).

Memory: the import's child process resets its peak resident set (``/proc/self/clear_refs``)
just before the import and reads it after (``VmHWM``); flat memory is the same peak at both
sizes. Kill check: a child imports ``--kill-rows`` rows and stops after its second batch
(it waits, with its transaction open) until it is killed with SIGKILL; then the database
must hold no customer, match key or audit row of the tenant. ``--profile ROWS`` imports
that many rows once more under cProfile and prints where the time goes.

PostgreSQL (skipped without ``--postgres``): each run on a database of its own created on
that server and dropped at the end. (``bench_import.py`` is another benchmark: the time
``import pycrm`` takes.)
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import json
import os
import random
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from databases import fresh_databases

import pycrm
from pycrm.core.ids import new_ids
from pycrm.core.text import fold
from pycrm.services import importing
from pycrm.storage.sqlalchemy.tables import table_for

TENANT = "bench"
COLUMNS = ("name", "phone", "email", "external_id", "level", "region")
#: One row in this many is bad.
BAD_EVERY = 100
#: What makes a bad row bad, in turn: the column the report must name.
BAD_KINDS = ("name", "email", "external_id", "level")
#: Rows per executemany of the hand-written SQLite import (pycrm's batch too).
HAND_BATCH = importing.BATCH
MATCHING_PLUGIN = "pycrm.plugins.default_matching"
#: Targets: pycrm's rows per second as a fraction of the hand-written import's.
TARGETS = {"sqlite": 0.5, "postgresql": 0.3}

_CITIES = ("北京", "上海", "广州", "深圳", "杭州", "南京", "成都", "武汉", "西安", "苏州")
_TRADE = ("联成", "华信", "恒通", "鼎盛", "新元", "东方", "博远", "金桥", "瑞丰", "天宇")
_INDUSTRY = ("软件技术", "文化传媒", "机械制造", "商贸", "食品", "投资管理", "教育科技", "物流")
_FORMS = ("有限公司", "股份有限公司", "集团有限公司")
_PREFIXES = ("010", "021", "020", "0755", "0571", "025", "028", "027")
_DOMAINS = ("example.cn", "example.com.cn", "mail.example.com", "corp.example.net")
_LEVELS = ("VIP", "A", "B", "C")
_REGIONS = ("华北", "华东", "华南", "华中", "西南", "西北", "东北")


# -- the file -------------------------------------------------------------------------------
def customer_values(i: int, rnd: random.Random) -> dict[str, str]:
    """The ``i``-th customer of a file (numbered: no two names, e-mails or external ids
    alike)."""
    name = (
        f"{rnd.choice(_CITIES)}{rnd.choice(_TRADE)}{rnd.choice(_TRADE)}"
        f"{rnd.choice(_INDUSTRY)}{rnd.choice(_FORMS)}（{i}）"
    )
    return {
        "name": name,
        "phone": f"{rnd.choice(_PREFIXES)}-{rnd.randrange(10_000_000, 99_999_999)}",
        "email": f"contact{i}@{rnd.choice(_DOMAINS)}",
        "external_id": f"ERP{i:08d}",
        "level": rnd.choice(_LEVELS),
        "region": rnd.choice(_REGIONS),
    }


def is_bad(i: int) -> bool:
    return i % BAD_EVERY == BAD_EVERY - 1


def row_number(i: int) -> int:
    """The file row of the ``i``-th customer (the header is row 1)."""
    return i + 2


def write_csv(path: Path, rows: int, seed: int = 7) -> dict[int, str]:
    """Write the file; the bad rows' numbers, each with the column the report must name."""
    rnd = random.Random(seed)
    bad: dict[int, str] = {}
    previous = ""
    with open(path, "w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(COLUMNS)
        for i in range(rows):
            values = customer_values(i, rnd)
            if is_bad(i):
                column = BAD_KINDS[(i // BAD_EVERY) % len(BAD_KINDS)]
                values[column] = {
                    "name": "",
                    "email": f"contact{i}.example.cn",
                    "external_id": previous,
                    "level": "L" * 501,
                }[column]
                bad[row_number(i)] = column
            previous = values["external_id"]
            writer.writerow([values[c] for c in COLUMNS])
    return bad


def good_rows(path: Path, bad: dict[int, str]) -> Iterator[list[str]]:
    """The file's cells, row by row, without the header and the known bad rows."""
    with open(path, encoding="utf-8", newline="") as file:
        reader = csv.reader(file)
        next(reader)
        for number, cells in enumerate(reader, start=2):
            if number not in bad:
                yield cells


# -- pycrm, in a child process --------------------------------------------------------------
def _status_kib(field: str) -> int | None:
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    found = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    return int(found.group(1)) if found else None


def _reset_peak() -> bool:
    """Make the peak resident set the current one (Linux); whether it could."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _peak_mib() -> float:
    hwm = _status_kib("VmHWM")
    if hwm is not None:
        return hwm / 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _settings(matching: bool) -> pycrm.Settings:
    return pycrm.Settings(disabled_plugins=frozenset() if matching else {MATCHING_PLUGIN})


_AREAS = (
    ("read the CSV", "importing.py", "_csv_rows"),
    ("cells to values (_convert)", "importing.py", "_convert"),
    ("external ids looked up (_existing)", "importing.py", "_existing"),
    ("validation (_clean_many)", "base.py", "_clean_many"),
    ("records built (_build_many)", "base.py", "_build_many"),
    ("match keys computed (keys_of)", "duplicates.py", "keys_of"),
    ("match keys written (replace_keys)", "matching.py", "replace_keys"),
    ("customers written (tx.insert)", "backend.py", "insert"),
    ("audit written (_audit_created)", "base.py", "_audit_created"),
)


def _areas(profile: Any, total: float) -> dict[str, float]:
    """Cumulative seconds of the import's parts (they do not nest), from a profile."""
    import pstats

    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    found: dict[str, float] = {}
    for label, file, function in _AREAS:
        found[label] = sum(
            cumulative
            for (path, _, name), (_, _, _, cumulative, _) in stats.items()
            if name == function and path.endswith(os.sep + file)
        )
    found["everything else"] = total - sum(found.values())
    return found


def child(argv: Sequence[str]) -> None:
    """The import in this process: ``url csv matching kill_after profile``; prints progress
    lines and, at the end, one line of JSON."""
    url, path, matching, kill_after, profile = argv
    crm = pycrm.CRM.connect(
        url, settings=_settings(matching == "1"), load_entry_points=False, migrate=True
    )
    service = crm.as_user(pycrm.SYSTEM_USER, tenant=TENANT).imports
    stop = int(kill_after)
    watched = Watched(crm.storage.engine)  # type: ignore[attr-defined]

    def progress(rows: int) -> None:
        if stop and rows >= stop:
            print(f"waiting {rows}", flush=True)  # its transaction open, until killed
            sys.stdin.readline()
            raise SystemExit(3)

    profiler = None
    if profile == "1":
        import cProfile

        profiler = cProfile.Profile()
    rss_start = (_status_kib("VmRSS") or 0) / 1024
    peak_reset = _reset_peak()
    started = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    report = service.run("customer", Path(path), mode="skip", on_progress=progress)
    if profiler is not None:
        profiler.disable()
    seconds = time.perf_counter() - started
    peak = _peak_mib()
    result = {
        "seconds": seconds,
        "rows": report.rows,
        "created": report.created,
        "updated": report.updated,
        "skipped": report.skipped,
        "errors": [[e.row, e.column, e.reason] for e in report.errors],
        "rss_start_mib": rss_start,
        "peak_mib": peak,
        "peak_reset": peak_reset,
        "watched": watched.summary(),
    }
    if profiler is not None:
        result["areas"] = _areas(profiler, seconds)
    crm.close()
    print(json.dumps(result), flush=True)


class Watched:
    """Two kinds of the import's statements, timed (a cursor-execute listener): its lookups
    of a batch's external ids (with the plan of the last one), and its rollbacks to a
    savepoint (a batch whose write the database refused is undone that way; rows refused
    by validation are left out before their batch's savepoint, and roll nothing back)."""

    KINDS = ("lookups", "rollbacks")

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.seconds: dict[str, list[float]] = {kind: [] for kind in self.KINDS}
        self.last: tuple[str, Any] | None = None
        self._started = 0.0
        sa.event.listen(engine, "before_cursor_execute", self._before)
        sa.event.listen(engine, "after_cursor_execute", self._after)

    @staticmethod
    def _kind(statement: str) -> str | None:
        if statement.startswith("SELECT") and ".external_id IN (" in statement:
            return "lookups"
        return "rollbacks" if statement.startswith("ROLLBACK TO SAVEPOINT") else None

    def _before(self, conn: Any, cursor: Any, statement: str, parameters: Any, *a: Any) -> None:
        if self._kind(statement):
            self._started = time.perf_counter()

    def _after(self, conn: Any, cursor: Any, statement: str, parameters: Any, *a: Any) -> None:
        if kind := self._kind(statement):
            self.seconds[kind].append(time.perf_counter() - self._started)
            if kind == "lookups":
                self.last = (statement, parameters)

    def summary(self) -> dict[str, Any]:
        """Per kind: how many, milliseconds of the first and last ten, seconds of all; the
        plan of the last lookup."""
        found: dict[str, Any] = {}
        for kind, seconds in self.seconds.items():
            if seconds:
                first, last = seconds[:10], seconds[-10:]
                found[kind] = {
                    "count": len(seconds),
                    "first_ms": 1000 * sum(first) / len(first),
                    "last_ms": 1000 * sum(last) / len(last),
                    "total_s": sum(seconds),
                }
        if self.last is not None and "lookups" in found:
            found["lookups"]["plan"] = self.plan(*self.last)
        return found

    def plan(self, statement: str, parameters: Any) -> list[str]:
        """EXPLAIN QUERY PLAN (SQLite) or EXPLAIN ANALYZE (PostgreSQL) of the last lookup,
        after the import (the tables' statistics as the import left them: none)."""
        with self.engine.connect() as conn:
            if self.engine.dialect.name == "sqlite":
                rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
                return [str(row[-1]) for row in rows]
            rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, COSTS OFF) " + statement, parameters)
            return [str(row[0])[:160] for row in rows]


def _command(url: str, path: Path, matching: bool, kill_after: int, profile: bool) -> list[str]:
    flags = ["1" if matching else "0", str(kill_after), "1" if profile else "0"]
    return [sys.executable, str(Path(__file__).resolve()), "--child", url, str(path), *flags]


def through_pycrm(
    url: str, path: Path, *, matching: bool = True, profile: bool = False
) -> dict[str, Any]:
    """The import in a fresh process: its figures and report."""
    done = subprocess.run(
        _command(url, path, matching, 0, profile), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"the import failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def check_report(result: dict[str, Any], rows: int, bad: dict[int, str]) -> None:
    """The report names every bad row, with its number and column, and nothing else."""
    reported = {row: column for row, column, _ in result["errors"]}
    assert len(result["errors"]) == len(reported), "a bad row reported twice"
    assert reported == bad, _difference(reported, bad)
    assert result["rows"] == rows and result["skipped"] == len(bad)
    assert result["created"] == rows - len(bad) and result["updated"] == 0


def _difference(reported: dict[int, str], bad: dict[int, str]) -> str:
    missing = sorted(set(bad) - set(reported))[:5]
    extra = sorted(set(reported) - set(bad))[:5]
    wrong = sorted(n for n in set(bad) & set(reported) if bad[n] != reported[n])[:5]
    return f"report differs: missing rows {missing}, extra rows {extra}, wrong columns {wrong}"


def stored(url: str) -> dict[str, int]:
    """The tenant's customers, match keys and audit rows in the database."""
    engine = sa.create_engine(url)
    counts = {}
    try:
        with engine.connect() as conn:
            names = set(sa.inspect(conn).get_table_names())
            for label, table in (
                ("customers", "pycrm_customers"),
                ("match keys", "pycrm_match_keys"),
                ("audit batches", "pycrm_change_batches"),
                ("audit changes", "pycrm_changes"),
            ):
                if table not in names:
                    counts[label] = 0
                    continue
                sql = f"SELECT count(*) FROM {table} WHERE tenant = :tenant"
                counts[label] = int(conn.execute(sa.text(sql), {"tenant": TENANT}).scalar_one())
    finally:
        engine.dispose()
    return counts


def kill_check(url: str, path: Path, after: int) -> dict[str, Any]:
    """Kill an import (SIGKILL) after its second batch; what the database holds then."""
    with subprocess.Popen(
        _command(url, path, True, after, False),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("waiting"):
            process.kill()
            _, err = process.communicate()
            raise RuntimeError(f"the import to kill did not get going: {line!r}\n{err[-4000:]}")
        read = int(line.split()[1])
        process.send_signal(signal.SIGKILL)
        process.communicate()
    left = stored(url)
    assert process.returncode == -signal.SIGKILL, process.returncode
    return {"rows_read": read, "left": left, "clean": not any(left.values())}


# -- hand-written ---------------------------------------------------------------------------
HAND_COLUMNS = (
    "tenant",
    "id",
    "owner_id",
    "owned_since",
    "created_at",
    "updated_at",
    "created_by",
    "updated_by",
    "version",
    "custom",
    "tags",
    "type",
    "status",
    "name",
    "name_folded",
    "phone",
    "email",
    "external_id",
    "level",
    "region",
)


def _fixed(dialect: sa.Dialect) -> dict[str, Any]:
    """The values every row gets, as the driver takes them (SQLite: ids as 32 hex digits,
    times as text, JSON as text: what the columns' own bind processing gives)."""
    now = dt.datetime.now(dt.UTC)
    values: dict[str, Any] = {
        "tenant": TENANT,
        "owner_id": pycrm.SYSTEM_USER,
        "owned_since": now,
        "created_at": now,
        "updated_at": now,
        "created_by": pycrm.SYSTEM_USER,
        "updated_by": pycrm.SYSTEM_USER,
        "version": 1,
        "custom": {},
        "tags": [],
        "type": "potential",
        "status": "active",
    }
    if dialect.name == "postgresql":
        return values | {"custom": "{}", "tags": "[]"}  # COPY text: the server parses it
    table = table_for("customer")
    for name, value in values.items():
        process: Callable[[Any], Any] | None
        process = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        values[name] = process(value) if process else value
    return values


def _hand_rows(path: Path, bad: dict[int, str], dialect: sa.Dialect) -> Iterator[tuple[Any, ...]]:
    """The good rows of the file as tuples of :data:`HAND_COLUMNS`."""
    fixed = _fixed(dialect)
    head = [fixed[c] for c in HAND_COLUMNS[:1]]
    tail = [fixed[c] for c in HAND_COLUMNS[2:13]]
    hex_ids = dialect.name == "sqlite"  # 32 hex digits there; psycopg takes UUIDs
    fresh: list[Any] = []
    for name, phone, email, external_id, level, region in good_rows(path, bad):
        if not fresh:
            fresh = new_ids(HAND_BATCH)[::-1]
        yield (
            *head,
            fresh.pop().hex if hex_ids else fresh.pop(),
            *tail,
            name,
            fold(name),
            phone,
            email,
            external_id,
            level,
            region,
        )


def hand_executemany(engine: sa.Engine, path: Path, bad: dict[int, str]) -> float:
    """Seconds to read the file and write its good rows with ``executemany``, 1,000 rows a
    call, in one transaction (SQLite)."""
    table = table_for("customer")
    sql = (
        f"INSERT INTO {table.name} ({', '.join(HAND_COLUMNS)}) "
        f"VALUES ({', '.join('?' for _ in HAND_COLUMNS)})"
    )
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        started = time.perf_counter()
        cursor.execute("BEGIN")  # pycrm's connections leave transactions to the caller
        batch: list[tuple[Any, ...]] = []
        for row in _hand_rows(path, bad, engine.dialect):
            batch.append(row)
            if len(batch) == HAND_BATCH:
                cursor.executemany(sql, batch)
                batch = []
        if batch:
            cursor.executemany(sql, batch)
        cursor.execute("COMMIT")
        seconds = time.perf_counter() - started
        cursor.close()
    finally:
        raw.close()
    return seconds


def hand_copy(engine: sa.Engine, path: Path, bad: dict[int, str]) -> float:
    """Seconds to read the file and write its good rows with one psycopg ``COPY ... FROM
    STDIN``, in one transaction (PostgreSQL)."""
    table = table_for("customer")
    sql = f"COPY {table.name} ({', '.join(HAND_COLUMNS)}) FROM STDIN"
    raw = engine.raw_connection()
    try:
        started = time.perf_counter()
        with raw.cursor() as cursor, cursor.copy(sql) as copy:  # type: ignore[attr-defined]
            for row in _hand_rows(path, bad, engine.dialect):
                copy.write_row(row)
        raw.commit()
        seconds = time.perf_counter() - started
    finally:
        raw.close()
    return seconds


def through_hand(url: str, path: Path, bad: dict[int, str], rows: int) -> float:
    """The hand-written import into a database migrated by pycrm; checked through pycrm."""
    crm = pycrm.CRM.connect(url, load_entry_points=False, migrate=True)
    try:
        engine: sa.Engine = crm.storage.engine  # type: ignore[attr-defined]
        if engine.dialect.name == "postgresql":
            seconds = hand_copy(engine, path, bad)
        else:
            seconds = hand_executemany(engine, path, bad)
        service = crm.as_user(pycrm.SYSTEM_USER, tenant=TENANT).customers
        assert service.count() == rows - len(bad)
        (first,) = service.list({"external_id": "ERP00000000"}).items
        assert first.owner_id == pycrm.SYSTEM_USER and first.name.endswith("（0）")
    finally:
        crm.close()
    return seconds


# -- running --------------------------------------------------------------------------------
def run_database(
    label: str,
    urls: Iterator[str],
    files: dict[int, tuple[Path, dict[int, str]]],
    sizes: Sequence[int],
    kill_rows: int,
    profile_rows: int,
) -> dict[str, Any]:
    """The sizes, the import without match keys (at the smallest), the kill check and the
    profile, on databases of one kind (a fresh one each, from ``urls``); ``files`` by rows."""
    results: dict[str, Any] = {"sizes": {}}
    smallest = min(sizes)
    for rows in sorted(sizes):
        path, bad = files[rows]
        ours = through_pycrm(next(urls), path)
        check_report(ours, rows, bad)
        hand = through_hand(next(urls), path, bad, rows)
        measured: dict[str, Any] = {
            "pycrm_s": ours["seconds"],
            "hand_s": hand,
            "pycrm_rows_per_s": rows / ours["seconds"],
            "hand_rows_per_s": rows / hand,
            "ratio": hand / ours["seconds"],
            "rss_start_mib": ours["rss_start_mib"],
            "peak_mib": ours["peak_mib"],
            "peak_growth_mib": ours["peak_mib"] - ours["rss_start_mib"],
            "bad_rows": len(bad),
            "reported": len(ours["errors"]),
            "watched": ours["watched"],
        }
        if rows == smallest:
            plain = through_pycrm(next(urls), path, matching=False)
            check_report(plain, rows, bad)
            measured["no_keys_s"] = plain["seconds"]
            measured["no_keys_ratio"] = hand / plain["seconds"]
        results["sizes"][rows] = measured
        _print_size(label, rows, measured)
    kill_path, _ = files[kill_rows]
    results["kill"] = kill_check(next(urls), kill_path, 2 * importing.BATCH)
    _print_kill(label, kill_rows, results["kill"])
    if profile_rows:
        path, bad = files[profile_rows]
        profiled = through_pycrm(next(urls), path, profile=True)
        check_report(profiled, profile_rows, bad)
        results["profile"] = profiled["areas"]
        _print_profile(label, profile_rows, profiled["seconds"], profiled["areas"])
    return results


def _print_size(label: str, rows: int, m: dict[str, Any]) -> None:
    hand = "executemany" if label == "SQLite" else "COPY"
    target = TARGETS["sqlite" if label == "SQLite" else "postgresql"]
    verdict = "meets" if m["ratio"] >= target else "misses"
    print(f"{label}, {rows:,} rows ({m['bad_rows']:,} bad, {m['reported']:,} reported):")
    ours, theirs = m["pycrm_rows_per_s"], m["hand_rows_per_s"]
    print(f"  pycrm imports.run(mode='skip'): {m['pycrm_s']:>8.2f} s {ours:>9,.0f} rows/s")
    print(f"  hand-written {hand:<17} {m['hand_s']:>8.2f} s {theirs:>9,.0f} rows/s")
    print(f"  ratio pycrm / hand: {m['ratio']:.3f} ({verdict} the {target} target)")
    if "no_keys_s" in m:
        print(
            f"  pycrm without match keys:       {m['no_keys_s']:>8.2f} s "
            f"{rows / m['no_keys_s']:>9,.0f} rows/s (ratio {m['no_keys_ratio']:.3f})"
        )
    names = {
        "lookups": "lookups of a batch's external ids",
        "rollbacks": "rollbacks to a savepoint",
    }
    for kind, w in m.get("watched", {}).items():
        print(
            f"  its {w['count']:,} {names[kind]}: {w['first_ms']:.1f} ms each at first, "
            f"{w['last_ms']:.1f} ms at the end, {w['total_s']:.1f} s in all"
        )
        for line in w.get("plan", []):
            print(f"    {line}")
    print(
        f"  import's peak memory (RSS): {m['peak_mib']:,.1f} MiB, "
        f"{m['peak_growth_mib']:+,.1f} MiB over its start ({m['rss_start_mib']:,.1f} MiB)"
    )


def _print_kill(label: str, rows: int, kill: dict[str, Any]) -> None:
    left = ", ".join(f"{n:,} {what}" for what, n in kill["left"].items())
    verdict = "nothing half-imported" if kill["clean"] else "HALF-IMPORTED"
    print(f"{label}, kill check ({rows:,} rows): SIGKILL after {kill['rows_read']:,} rows read")
    print(f"  left in the database: {left} ({verdict})")


def _print_profile(label: str, rows: int, seconds: float, areas: dict[str, float]) -> None:
    print(f"{label}, where an import of {rows:,} rows goes (cProfile: {seconds:.2f} s in all)")
    for name, part in areas.items():
        print(f"  {name:<38} {part:>8.2f} s {part / seconds:>6.1%}")


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--child"]:
        child(argv[1:])
        return {}
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the larger file")
    parser.add_argument(
        "--small", type=int, default=None, help="rows of the smaller file (default: a tenth)"
    )
    parser.add_argument("--kill-rows", type=int, default=20_000, help="rows of the killed import")
    parser.add_argument(
        "--profile", type=int, default=0, help="rows of a profiled import (0: none)"
    )
    parser.add_argument("--postgres", help="PostgreSQL server URL (skipped when not given)")
    args = parser.parse_args(argv)
    small = args.small if args.small is not None else max(args.rows // 10, BAD_EVERY)
    if args.kill_rows <= 2 * importing.BATCH:
        parser.error(f"--kill-rows must be over {2 * importing.BATCH}")
    print(
        f"{dt.datetime.now():%Y-%m-%d %H:%M}: files of {small:,} and {args.rows:,} rows, "
        f"1 in {BAD_EVERY} bad; load average {os.getloadavg()[0]:.2f}"
    )
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="pycrm-bench-import-") as folder:
        files: dict[int, tuple[Path, dict[int, str]]] = {}
        for rows in {small, args.rows, args.kill_rows, args.profile} - {0}:
            path = Path(folder) / f"customers-{rows}.csv"
            files[rows] = (path, write_csv(path, rows))
        sizes = sorted({small, args.rows})
        sqlite_urls = (f"sqlite:///{Path(folder) / f'import-{n}.db'}" for n in range(1000))
        report["sqlite"] = run_database(
            "SQLite", sqlite_urls, files, sizes, args.kill_rows, args.profile
        )
        if args.postgres:
            count = 2 * len(sizes) + 2 + (1 if args.profile else 0)
            with fresh_databases(args.postgres, "bench_import", count) as urls:
                report["postgresql"] = run_database(
                    "PostgreSQL", iter(urls), files, sizes, args.kill_rows, args.profile
                )
        else:
            print("PostgreSQL skipped: give --postgres URL")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    return report


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        main()
