"""The everyday calls, as a sales director, against hand-written SQL in the same run.

The organisation and the data are those of ``bench_access.py`` (a 4-level organisation,
``--rows`` customers and as many deals owned by ``--reps`` reps; the director sees about
40 % of them). Measured through ``crm.as_user(director)`` — one unit of work per call, the
way a web request uses pycrm — each against the same answer from hand-written SQL on a
plain DBAPI connection, restricted to the same owners (``owner_id IN (…)``):

- ``get``: one customer by id;
- ``first page``: ``customers.list(order_by="name", limit=50)``;
- ``deep page``: the page 100,000 rows deep (``after=`` the cursor of the row before);
- ``contains``: ``customers.list({"name__contains": …}, order_by="name", limit=50)``;
- ``history``: ``customers.history(id)`` of a customer with 1,000 changes;
- ``update``: 200 ``customers.update`` calls by a rep of their own customers in one unit
  of work, against an ORM
  ``update`` + ``flush`` of the same rows in one session.

Three baselines are printed for reads: ``raw`` (the DBAPI's tuples, nothing decoded),
``decoded`` (the same rows with their ids, times and JSON decoded into Python values, what
any application does before using them) and ``Core`` (SQLAlchemy Core with pycrm's table
definitions, a pooled connection and a transaction per call, as a web request would run
it: what any library built on SQLAlchemy pays before doing anything of its own; ``Core/raw``
shows that floor against the raw DBAPI). Ratios are pycrm / baseline; medians of
``--repeat`` interleaved runs.

    python benchmarks/bench_everyday.py --rows 1000000 \
        [--postgres postgresql+psycopg://postgres@127.0.0.1:55432/postgres]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_access as base
from databases import fresh_databases

import pycrm
from pycrm.core.ids import new_ids
from pycrm.storage.sqlalchemy.tables import table_for

DEPTH = 100_000
CHANGES = 1000
UPDATES = 200


def _decoded(rows: list[Any], uuids: Sequence[int], times: Sequence[int]) -> list[list[Any]]:
    """Rows with their uuid and time columns made Python values (JSON decoded too)."""
    out = []
    for row in rows:
        values = list(row)
        for i in uuids:
            v = values[i]
            if isinstance(v, str):
                values[i] = uuid.UUID(v)
        for i in times:
            v = values[i]
            if isinstance(v, str):
                values[i] = dt.datetime.fromisoformat(v)
        values = [json.loads(v) if isinstance(v, str) and v[:1] in "[{" else v for v in values]
        out.append(values)
    return out


class Hand:
    """The hand-written side: SQL on a DBAPI connection of its own."""

    def __init__(self, url: str, org: base.Org) -> None:
        self.access = base.Hand(url, org)
        self.dialect = self.access.dialect
        self.p = "?" if self.dialect == "sqlite" else "%s"
        self.owners = self.access.params[1:]
        self.listed = ", ".join([self.p] * len(self.owners))
        table = table_for("customer")
        self.table = table.name
        names = [c.name for c in table.columns]
        self.uuids = [i for i, c in enumerate(table.columns) if isinstance(c.type, sa.Uuid)]
        self.times = [i for i, n in enumerate(names) if n.endswith("_at")]
        self.changes = table_for("change").name if _has_kind("change") else _changes_name()

    def rows(self, sql: str, params: Sequence[Any]) -> list[Any]:
        return self.access._rows(sql, list(params))

    def _id(self, value: uuid.UUID) -> Any:
        return value.hex if self.dialect == "sqlite" else value

    def _visible(self) -> str:
        return f"tenant = {self.p} AND deleted_at IS NULL AND owner_id IN ({self.listed})"

    def get(self, cid: uuid.UUID, decode: bool) -> uuid.UUID:
        sql = f"SELECT * FROM {self.table} WHERE {self._visible()} AND id = {self.p}"
        rows = self.rows(sql, [base.TENANT, *self.owners, self._id(cid)])
        row = _decoded(rows, self.uuids, self.times)[0] if decode else rows[0]
        return row[0] if isinstance(row[0], uuid.UUID) else uuid.UUID(str(row[0]))

    def page(self, decode: bool, after: tuple[str, uuid.UUID] | None = None) -> list[uuid.UUID]:
        seek = ""
        params: list[Any] = [base.TENANT, *self.owners]
        if after is not None:
            seek = f" AND (name, id) > ({self.p}, {self.p})"
            params += [after[0], self._id(after[1])]
        sql = f"SELECT * FROM {self.table} WHERE {self._visible()}{seek} ORDER BY name, id LIMIT 50"
        rows = self.rows(sql, params)
        got = _decoded(rows, self.uuids, self.times) if decode else rows
        return [r[0] if isinstance(r[0], uuid.UUID) else uuid.UUID(str(r[0])) for r in got]

    def contains(self, text: str, decode: bool) -> list[uuid.UUID]:
        sql = (
            f"SELECT * FROM {self.table} WHERE {self._visible()} AND name LIKE {self.p} "
            "ORDER BY name, id LIMIT 50"
        )
        rows = self.rows(sql, [base.TENANT, *self.owners, f"%{text}%"])
        got = _decoded(rows, self.uuids, self.times) if decode else rows
        return [r[0] if isinstance(r[0], uuid.UUID) else uuid.UUID(str(r[0])) for r in got]

    def history(self, cid: uuid.UUID, decode: bool) -> int:
        sql = (
            f"SELECT * FROM {self.changes} WHERE tenant = {self.p} AND entity = 'customer' "
            f"AND record_id = {self.p} ORDER BY version, at, id"
        )
        rows = self.rows(sql, [base.TENANT, self._id(cid)])
        return len(_decoded(rows, (1, 3, 5), (6,)) if decode else rows)

    def close(self) -> None:
        self.access.close()


class Core:
    """The least a library on SQLAlchemy pays per call: a pooled connection and a
    transaction per call, one statement built once (pycrm's own table definitions, so ids,
    times and JSON come back typed), and its rows; no rights, no entities."""

    def __init__(self, url: str, hand: Hand) -> None:
        self.engine = sa.create_engine(url)
        from pycrm.storage.sqlalchemy.tables import changes

        customers = table_for("customer")
        bound = sa.bindparam("owners", expanding=True)
        visible = sa.and_(
            customers.c.tenant == base.TENANT,
            customers.c.deleted_at.is_(None),
            customers.c.owner_id.in_(bound),
        )
        self.owners = [uuid.UUID(str(o)) if not isinstance(o, uuid.UUID) else o
                       for o in hand.owners]  # fmt: skip
        by_name = (customers.c.name, customers.c.id)
        self.get_sql = sa.select(customers).where(visible, customers.c.id == sa.bindparam("i"))
        self.page_sql = sa.select(customers).where(visible).order_by(*by_name).limit(50)
        self.after_sql = (
            sa.select(customers)
            .where(
                visible,
                sa.tuple_(*by_name)
                > sa.tuple_(
                    sa.bindparam("n", type_=customers.c.name.type),
                    sa.bindparam("a", type_=customers.c.id.type),
                ),
            )
            .order_by(*by_name)
            .limit(50)
        )
        self.contains_sql = (
            sa.select(customers)
            .where(visible, customers.c.name.like(sa.bindparam("w")))
            .order_by(*by_name)
            .limit(50)
        )
        self.history_sql = (
            sa.select(changes)
            .where(
                changes.c.tenant == base.TENANT,
                changes.c.entity == "customer",
                changes.c.record_id == sa.bindparam("r"),
            )
            .order_by(changes.c.version, changes.c.at, changes.c.id)
        )

    def _rows(self, stmt: Any, **params: Any) -> list[Any]:
        with self.engine.begin() as conn:
            return list(conn.execute(stmt, {"owners": self.owners, **params}).all())

    def get(self, cid: uuid.UUID) -> uuid.UUID:
        return uuid.UUID(str(self._rows(self.get_sql, i=cid)[0].id))

    def page(self, after: tuple[str, uuid.UUID] | None = None) -> list[uuid.UUID]:
        if after is None:
            return [r.id for r in self._rows(self.page_sql)]
        return [r.id for r in self._rows(self.after_sql, n=after[0], a=after[1])]

    def contains(self, text: str) -> list[uuid.UUID]:
        return [r.id for r in self._rows(self.contains_sql, w=f"%{text}%")]

    def history(self, cid: uuid.UUID) -> int:
        return len(self._rows(self.history_sql, r=cid))

    def close(self) -> None:
        self.engine.dispose()


def _has_kind(kind: str) -> bool:
    try:
        table_for(kind)
    except KeyError:
        return False
    return True


def _changes_name() -> str:
    from pycrm.storage.sqlalchemy import tables

    return str(tables.changes.name)


def _with_history(url: str, cid: uuid.UUID, user: uuid.UUID) -> None:
    """``CHANGES`` audit rows for one customer, written with Core."""
    from pycrm.storage.sqlalchemy import tables

    now = pycrm.SystemClock().now()
    rows = [
        {
            "tenant": base.TENANT,
            "id": change_id,
            "entity": "customer",
            "record_id": cid,
            "action": "update",
            "user_id": user,
            "at": now + dt.timedelta(seconds=i),
            "version": i + 2,
            "fields": {"level": ["A", "B"], "phone": [None, f"1380000{i:04d}"]},
        }
        for i, change_id in enumerate(new_ids(CHANGES))
    ]
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(tables.changes.insert(), rows)
    engine.dispose()


def _timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def _pair(ours: Callable[[], Any], raw: Callable[[], Any], decoded: Callable[[], Any],
          repeat: int, core: Callable[[], Any]) -> dict[str, float]:  # fmt: skip
    got, expected = ours(), raw()
    assert got == expected == decoded(), f"pycrm {got!r} != hand-written SQL {expected!r}"
    assert core() == expected, f"SQLAlchemy Core {core()!r} != hand-written SQL {expected!r}"
    times: tuple[list[float], ...] = ([], [], [], [])
    for _ in range(repeat):
        for spent, call in zip(times, (ours, raw, decoded, core), strict=True):
            spent.append(_timed(call))
    ours_s, raw_s, dec_s, core_s = (statistics.median(t) for t in times)
    return {"pycrm": ours_s, "raw": raw_s, "decoded": dec_s, "core": core_s}


def measure(
    crm: pycrm.CRM, hand: Hand, core: Core, org: base.Org, url: str, repeat: int
) -> dict[str, Any]:
    api = crm.as_user(org.director, tenant=base.TENANT)
    first = api.customers.list(order_by="name", limit=50)
    cid = first.items[0].id
    # The row just before the page DEPTH rows deep, found by the hand-written side.
    sql = (
        f"SELECT name, id FROM {hand.table} WHERE {hand._visible()} "
        f"ORDER BY name, id LIMIT 1 OFFSET {DEPTH - 1}"
    )
    name, raw_id = hand.rows(sql, [base.TENANT, *hand.owners])[0]
    before = (name, raw_id if isinstance(raw_id, uuid.UUID) else uuid.UUID(str(raw_id)))
    cursor = _cursor_before(api, before)
    word = first.items[0].name[2:4]
    _with_history(url, cid, org.director)

    def history() -> int:
        return len(api.customers.history(cid))

    results = {
        "get": _pair(
            lambda: api.customers.get(cid).id,
            lambda: hand.get(cid, False),
            lambda: hand.get(cid, True),
            repeat,
            lambda: core.get(cid),
        ),
        "first page": _pair(
            lambda: [c.id for c in api.customers.list(order_by="name", limit=50)],
            lambda: hand.page(False),
            lambda: hand.page(True),
            repeat,
            core.page,
        ),
        f"page {DEPTH:,} deep": _pair(
            lambda: [c.id for c in api.customers.list(order_by="name", limit=50, after=cursor)],
            lambda: hand.page(False, before),
            lambda: hand.page(True, before),
            repeat,
            lambda: core.page(before),
        ),
        "name contains": _pair(
            lambda: [
                c.id
                for c in api.customers.list({"name__contains": word}, order_by="name", limit=50)
            ],
            lambda: hand.contains(word, False),
            lambda: hand.contains(word, True),
            repeat,
            lambda: core.contains(word),
        ),
        f"history ({CHANGES:,} changes)": _pair(
            history,
            lambda: hand.history(cid, False),
            lambda: hand.history(cid, True),
            repeat,
            lambda: core.history(cid),
        ),
    }
    # Updates by a rep of their own customers (a director edits only direct reports' ones).
    rep = first.items[0].owner_id
    own = crm.as_user(rep, tenant=base.TENANT).customers.list(limit=50)
    results["update (per call)"] = _updates(crm, rep, url, [c.id for c in own.items])
    return results


def _cursor_before(api: Any, row: tuple[str, uuid.UUID]) -> str:
    """pycrm's cursor for the position right after ``row`` (as its own pages make it)."""
    from pycrm.services.listing import build_query, next_cursor

    query = build_query(pycrm.Customer, None, "name", 50, None, False)
    record = api.customers.get(row[1])
    return next_cursor(record, query)


def _updates(crm: pycrm.CRM, rep: Any, url: str, ids: list[uuid.UUID]) -> dict[str, float]:
    """``UPDATES`` updates in one unit of work against an ORM session's update + flush."""
    targets = (ids * (UPDATES // len(ids) + 1))[:UPDATES]
    customers = table_for("customer")

    class Base(orm.DeclarativeBase):
        pass

    class Customer(Base):
        __table__ = customers

    engine = sa.create_engine(url)

    def ours() -> None:
        with crm.unit_of_work(tenant=base.TENANT, user=rep) as uow:
            for i, cid in enumerate(targets):
                uow.customers.update(cid, phone=f"1390000{i:04d}")

    def theirs() -> None:
        with orm.Session(engine) as session, session.begin():
            for i, cid in enumerate(targets):
                row = session.get(Customer, (base.TENANT, cid))
                row.phone = f"1370000{i:04d}"  # type: ignore[union-attr]
                row.version += 1  # type: ignore[union-attr]
                session.flush()

    ours_s, theirs_s = [], []
    for _ in range(3):
        ours_s.append(_timed(ours) / UPDATES)
        theirs_s.append(_timed(theirs) / UPDATES)
    engine.dispose()
    return {"pycrm": statistics.median(ours_s), "orm": statistics.median(theirs_s)}


def run_one(label: str, url: str, rows: int, reps: int, repeat: int) -> dict[str, Any]:
    crm = pycrm.CRM.connect(url, settings=base.SETTINGS, load_entry_points=False)
    org = base.build_org(crm, reps)
    seconds = base.load(url, org, 0, rows)
    print(f"{label}: {rows:,} customers and deals written in {seconds:.1f} s")
    hand = Hand(url, org)
    core = Core(url, hand)
    try:
        results = measure(crm, hand, core, org, url, repeat)
    finally:
        hand.close()
        core.close()
        crm.close()
    _print(label, results)
    return results


def _print(label: str, results: dict[str, Any]) -> None:
    print(f"\n{label}, as the director (pycrm / hand-written SQL)")
    print(
        f"  {'call':<24} {'pycrm ms':>9} {'raw ms':>8} {'ratio':>6} {'decoded ms':>11} {'ratio':>6}"
        f" {'Core ms':>8} {'ratio':>6} {'Core/raw':>8}"
    )
    for name, r in results.items():
        if "raw" in r:
            print(
                f"  {name:<24} {r['pycrm'] * 1e3:9.3f} {r['raw'] * 1e3:8.3f} "
                f"{r['pycrm'] / r['raw']:6.2f} {r['decoded'] * 1e3:11.3f} "
                f"{r['pycrm'] / r['decoded']:6.2f} {r['core'] * 1e3:8.3f} "
                f"{r['pycrm'] / r['core']:6.2f} {r['core'] / r['raw']:8.2f}"
            )
        else:
            print(
                f"  {name:<24} {r['pycrm'] * 1e3:9.3f} {'ORM':>8} "
                f"{r['pycrm'] / r['orm']:6.2f} {r['orm'] * 1e3:11.3f}"
            )


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="customers and deals")
    parser.add_argument("--reps", type=int, default=500, help="sales reps")
    parser.add_argument("--repeat", type=int, default=7, help="timed runs of each call")
    parser.add_argument("--postgres", help="PostgreSQL server URL (skipped when not given)")
    args = parser.parse_args(argv)
    global DEPTH
    DEPTH = min(DEPTH, max(args.rows // 5, 60))
    print(f"{dt.datetime.now():%Y-%m-%d %H:%M}, {args.rows:,} rows, {args.reps} reps")
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench_everyday.db'}"
        report["sqlite"] = run_one("SQLite", url, args.rows, args.reps, args.repeat)
    if args.postgres:
        with fresh_databases(args.postgres, "bench_everyday") as (url,):
            report["postgresql"] = run_one("PostgreSQL", url, args.rows, args.reps, args.repeat)
    return report


if __name__ == "__main__":
    main()
