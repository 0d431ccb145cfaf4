"""Access control inside every query: what a sales director sees, against hand-written SQL.

One tenant, a 4-level organisation (a general manager; 4 branch directors, each with a
branch department; 2-3 team leads per branch, each with a team department; ``--reps``
sales reps under the team leads, 500 by default) and ``--rows`` customers and as many
opportunities (80 % open) owned by the reps at random. The first director has about 200
people below them, in the reporting line and in their department subtree alike, so they
see about 40 % of the records. Measured as that director (``crm.as_user(director)``):

1. the first page of customers: ``customers.list(order_by="name", limit=50)``;
2. their weighted pipeline: ``reports.weighted_pipeline(by=("owner", "stage"))``;

each against a hand-written SQL query giving the same answer on the same database, its
filter written on the indexed owner column: ``owner_id IN (<the director and everyone
below, looked up beforehand>)``. Printed: the median of ``--repeat`` runs of each, the
ratio pycrm / hand SQL (target: at most 1.5), pycrm's peak Python memory (tracemalloc)
at a tenth of ``--rows`` and at ``--rows`` (it must stay flat), and the query plan of the
SQL pycrm actually runs for the first page (captured with a ``before_cursor_execute``
listener) with the index it reads customers through.

    python benchmarks/bench_access.py --rows 1000000 \
        [--postgres postgresql+psycopg://postgres@127.0.0.1:55432/postgres]

SQLite runs on a temporary file; PostgreSQL (skipped without ``--postgres``) in a database
of its own created on that server and dropped at the end. The organisation is created
through the services (which keep ``Department.path`` and ``User.manager_path``); the
customers and deals are written with SQLAlchemy Core executemany in batches: first a tenth
of ``--rows``, measured, then the rest, measured again. Both sizes are ANALYZEd.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from databases import fresh_databases

import pycrm
from pycrm.core.ids import new_ids
from pycrm.storage.sqlalchemy.tables import table_for

TENANT = "bench"
BATCH = 20_000
STAGES = ("qualification", "needs_analysis", "proposal", "negotiation")
PROBABILITY = {"qualification": 10, "needs_analysis": 25, "proposal": 50, "negotiation": 75}
SETTINGS = pycrm.Settings(
    reporting_currency="CNY", exchange_rates={"USD/CNY": Decimal("7.1")}, auto_migrate=True
)
#: Branches: (city, team leads, reps of every 500). The first one's director is measured:
#: 3 team leads and 197 reps below them.
BRANCHES = (("北京", 3, 197), ("上海", 3, 120), ("广州", 2, 93), ("深圳", 2, 90))
TARGET = 1.5


def _words(text: str) -> tuple[str, ...]:
    """Two-character words run together: ``"北京上海"`` -> ``("北京", "上海")``."""
    return tuple(text[i : i + 2] for i in range(0, len(text), 2))


_CITIES = _words("北京上海广州深圳杭州南京成都武汉西安苏州天津重庆青岛厦门长沙合肥")
_TRADE = _words("联成华信天成恒通中科金桥东方博远瑞丰新锐汇通宏达润泽鼎盛远航星辰")
_INDUSTRY = _words("软件科技贸易物流医药电子机械食品建材教育传媒能源")
_FORM = ("有限公司", "股份有限公司", "集团有限公司")

HAND_PAGE = """
SELECT * FROM pycrm_customers
WHERE tenant = {p} AND deleted_at IS NULL AND owner_id IN ({owners})
ORDER BY name, id
LIMIT 50
"""
HAND_PIPELINE = """
SELECT owner_id, stage, amount_currency, count(*), sum(coalesce(amount_minor, 0)),
       sum(coalesce(amount_minor, 0) * coalesce(probability, 0))
FROM pycrm_opportunities
WHERE tenant = {p} AND deleted_at IS NULL AND status = 'open' AND owner_id IN ({owners})
GROUP BY owner_id, stage, amount_currency
"""


@attrs.frozen
class Org:
    """The organisation written through the services."""

    director: uuid.UUID
    #: The director and everyone below them (looked up in the database by manager path).
    visible: tuple[uuid.UUID, ...]
    reps: tuple[uuid.UUID, ...]
    users: int


# -- data ---------------------------------------------------------------------------------
def _split(reps: int) -> list[int]:
    """Reps per branch in the proportions of :data:`BRANCHES` (at least one each)."""
    counts = [max(1, round(reps * share / 500)) for _, _, share in BRANCHES]
    counts[0] += reps - sum(counts)
    return counts


def build_org(crm: pycrm.CRM, reps: int) -> Org:
    """The general manager, the branches, team leads and reps, through the services."""
    admin = crm.as_user(pycrm.SYSTEM_USER, tenant=TENANT)
    head = admin.departments.create(name="总部")
    gm = admin.users.create(name="总经理", roles=["executive"], department_id=head.id)
    directors, all_reps, users = [], [], 1
    for (city, leads, _), count in zip(BRANCHES, _split(reps), strict=True):
        branch = admin.departments.create(name=f"{city}分公司", parent_id=head.id)
        director = admin.users.create(
            name=f"{city}总监", roles=["sales_director"], department_id=branch.id, manager_id=gm.id
        )
        directors.append(director)
        users += 1
        for t in range(leads):
            team = admin.departments.create(name=f"{city}销售{t + 1}组", parent_id=branch.id)
            lead = admin.users.create(
                name=f"{city}{t + 1}组组长",
                roles=["sales_rep"],
                department_id=team.id,
                manager_id=director.id,
            )
            users += 1
            for r in range(t, count, leads):  # the branch's reps dealt out to its teams
                rep = admin.users.create(
                    name=f"{city}{t + 1}组销售{r + 1:03d}",
                    roles=["sales_rep"],
                    department_id=team.id,
                    manager_id=lead.id,
                )
                all_reps.append(rep.id)
                users += 1
    director = directors[0]
    visible = _below(crm.storage.engine, director.manager_path or "")  # type: ignore[attr-defined]
    assert director.id in visible and len(visible) == 1 + BRANCHES[0][1] + _split(reps)[0]
    return Org(director=director.id, visible=visible, reps=tuple(all_reps), users=users)


def _below(engine: sa.Engine, path: str) -> tuple[uuid.UUID, ...]:
    """The user at ``path`` and everyone below them in the reporting line, checked to be
    the users of their department and the departments under it."""
    users, departments = table_for("user"), table_for("department")
    with engine.connect() as conn:
        line = conn.execute(
            sa.select(users.c.id, users.c.department_id).where(
                users.c.tenant == TENANT, users.c.manager_path.startswith(path)
            )
        ).all()
        home = conn.execute(
            sa.select(departments.c.path).where(
                departments.c.tenant == TENANT, departments.c.id == line[0].department_id
            )
        ).scalar_one()
        tree = set(
            conn.execute(
                sa.select(users.c.id)
                .join(
                    departments,
                    sa.and_(
                        departments.c.tenant == users.c.tenant,
                        departments.c.id == users.c.department_id,
                    ),
                )
                .where(users.c.tenant == TENANT, departments.c.path.startswith(home))
            ).scalars()
        )
    ids = tuple(sorted(row.id for row in line))
    assert set(ids) == tree, "the reporting line and the department subtree differ"
    return ids


def _batches(org: Org, start: int, stop: int) -> Iterator[tuple[list[dict[str, Any]], ...]]:
    """Customers ``start``..``stop`` and as many deals (on customers of the same batch)."""
    rnd = random.Random(start)
    now = pycrm.SystemClock().now()
    common = {"tenant": TENANT, "created_at": now, "updated_at": now, "version": 1, "custom": {}}
    reps = org.reps
    for first in range(start, stop, BATCH):
        n = min(BATCH, stop - first)
        customers = []
        for i, cid in enumerate(new_ids(n), first):
            owner = rnd.choice(reps)
            name = (
                rnd.choice(_CITIES) + rnd.choice(_TRADE) + rnd.choice(_INDUSTRY)
                + rnd.choice(_FORM) + f"（{i}）"
            )  # fmt: skip
            customers.append(
                {
                    **common,
                    "id": cid,
                    "owner_id": owner,
                    "created_by": owner,
                    "updated_by": owner,
                    "name": name,
                    "level": rnd.choice(("VIP", "A", "B", "C")),
                    "type": "target",
                    "status": "active",
                    "tags": [],
                }
            )
        deals = []
        for oid in new_ids(n):
            owner = rnd.choice(reps)
            stage = rnd.choice(STAGES)
            roll = rnd.random()
            deals.append(
                {
                    **common,
                    "id": oid,
                    "owner_id": owner,
                    "created_by": owner,
                    "updated_by": owner,
                    "customer_id": rnd.choice(customers)["id"],
                    "name": "CRM 项目",
                    "pipeline": "b2b",
                    "stage": stage,
                    "amount_minor": rnd.randint(100, 100_000_000),
                    "amount_currency": "USD" if rnd.random() < 0.1 else "CNY",
                    "probability": PROBABILITY[stage],
                    "status": "open" if roll < 0.8 else ("won" if roll < 0.9 else "lost"),
                    "stage_entered_at": now,
                }
            )
        yield customers, deals


def load(url: str, org: Org, start: int, stop: int) -> float:
    """Write customers and deals ``start``..``stop`` with Core executemany; ANALYZE."""
    started = time.perf_counter()
    engine = sa.create_engine(url)
    customers, deals = table_for("customer"), table_for("opportunity")
    folded = "name_folded" in customers.c  # the searched copy pycrm writes with a record
    if folded:
        from pycrm.core.text import fold
    with engine.begin() as conn:
        for customer_rows, deal_rows in _batches(org, start, stop):
            for row in (*customer_rows, *deal_rows) if folded else ():
                row["name_folded"] = fold(row["name"])
            conn.execute(customers.insert(), customer_rows)
            conn.execute(deals.insert(), deal_rows)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    return time.perf_counter() - started


# -- the hand-written side ----------------------------------------------------------------
class Hand:
    """The hand-written queries on a plain DBAPI connection of their own."""

    def __init__(self, url: str, org: Org) -> None:
        parsed = sa.make_url(url)
        self.dialect = parsed.get_backend_name()
        owners: list[Any]
        if self.dialect == "sqlite":
            self.conn: Any = sqlite3.connect(parsed.database or "")
            marker, owners = "?", [u.hex for u in org.visible]  # CHAR(32) hex on SQLite
        else:
            import psycopg

            conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
            self.conn = psycopg.connect(conninfo, autocommit=True)
            marker, owners = "%s", list(org.visible)  # native uuid on PostgreSQL
        listed = ", ".join([marker] * len(owners))
        self.page_sql = HAND_PAGE.format(p=marker, owners=listed)
        self.pipeline_sql = HAND_PIPELINE.format(p=marker, owners=listed)
        self.params = [TENANT, *owners]
        self.rates = pycrm.FixedRates(dict(SETTINGS.exchange_rates))

    def _rows(self, sql: str, params: Any = None) -> list[Any]:
        cur = self.conn.cursor()
        try:
            cur.execute(sql, self.params if params is None else params)
            return list(cur.fetchall())
        finally:
            cur.close()

    def first_page(self) -> list[uuid.UUID]:
        rows = self._rows(self.page_sql)
        return [r[0] if isinstance(r[0], uuid.UUID) else uuid.UUID(r[0]) for r in rows]

    def weighted_pipeline(self) -> tuple[int, Decimal]:
        """The aggregation in plain SQL, converted the way the report does it."""
        on = pycrm.SystemClock().now().date()
        count, weighted = 0, pycrm.Money.zero("CNY")
        for _owner, _stage, currency, n, _amount, units in self._rows(self.pipeline_sql):
            count += n
            exact = Decimal(units).scaleb(-4)  # minor units x percent -> major units
            weighted += pycrm.Money.rounded(exact, currency).convert("CNY", self.rates, on)
        return count, weighted.amount

    def plan(self, sql: str, params: Any) -> list[str]:
        """The database's plan of ``sql``: EXPLAIN QUERY PLAN (SQLite), EXPLAIN (PostgreSQL)."""
        if self.dialect == "sqlite":
            rows = self._rows("EXPLAIN QUERY PLAN " + sql, params)
            depth: dict[int, int] = {0: -1}
            lines = []
            for node, parent, _, detail in rows:
                depth[node] = depth.get(parent, -1) + 1
                lines.append("  " * depth[node] + detail)
            return lines
        return [row[0] for row in self._rows("EXPLAIN " + sql, params)]

    def close(self) -> None:
        self.conn.close()


def read_through(plan: Sequence[str], table: str = "pycrm_customers") -> str:
    """How the plan reads ``table``: the index it goes through, or a full scan."""
    for line in plan:
        # SQLite: "SCAN customers USING INDEX ix_…" / "SEARCH customers USING INDEX ix_…"
        found = re.search(rf"(SCAN|SEARCH) {table}\b(?: USING (?:COVERING )?INDEX (\S+))?", line)
        if found:
            return f"index {found.group(2)}" if found.group(2) else "full table scan, no index"
        # PostgreSQL: "Index Scan using ix_… on customers" / "Seq Scan on customers"
        found = re.search(r"(Index Only Scan|Index Scan|Seq Scan)(?: Backward)?"
                          rf"(?: using (\S+))? on {table}\b", line)  # fmt: skip
        if found:
            return f"index {found.group(2)}" if found.group(2) else "full table scan, no index"
        found = re.search(rf"Bitmap Index Scan on (ix_{table}\S*)", line)
        if found:
            return f"index {found.group(1)} (bitmap)"
    return "not found in the plan"


# -- measuring ----------------------------------------------------------------------------
def _timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def _peak_kib(call: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1] // 1024
    finally:
        tracemalloc.stop()


def _captured(engine: sa.Engine, call: Callable[[], object]) -> list[tuple[str, Any]]:
    """The statements (and parameters) ``call`` sends to the database."""
    seen: list[tuple[str, Any]] = []

    def listen(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", listen)
    try:
        call()
    finally:
        sa.event.remove(engine, "before_cursor_execute", listen)
    return seen


def measure(crm: pycrm.CRM, hand: Hand, org: Org, repeat: int) -> dict[str, Any]:
    """Both pairs at the current size: medians, ratios, pycrm's peak memory, the plan."""
    api = crm.as_user(org.director, tenant=TENANT)
    load_before = os.getloadavg()[0]

    def page() -> list[uuid.UUID]:
        return [c.id for c in api.customers.list(order_by="name", limit=50)]

    def pipeline() -> tuple[int, Decimal]:
        report = api.reports.weighted_pipeline(by=("owner", "stage"))
        return report.count, report.weighted.amount

    # The same page read again and again in one open unit of work: the rights are
    # resolved once, so this is the query itself (and the customers it builds).
    unit: list[pycrm.UnitOfWork] = []

    def page_in_unit() -> list[uuid.UUID]:
        return [c.id for c in unit[0].customers.list(order_by="name", limit=50)]

    pairs = {
        "first page": (page, hand.first_page),
        "page, open unit": (page_in_unit, hand.first_page),
        "weighted pipeline": (pipeline, hand.weighted_pipeline),
    }
    results: dict[str, Any] = {}
    for name, (ours, theirs) in pairs.items():
        with contextlib.ExitStack() as stack:
            if ours is page_in_unit:
                unit[:] = [stack.enter_context(crm.unit_of_work(tenant=TENANT, user=org.director))]
            results[name] = _pair(ours, theirs, repeat)
        results[name]["answer"] = (
            len(results[name]["got"]) if "page" in name else results[name]["got"][0]
        )
    engine = crm.storage.engine  # type: ignore[attr-defined]
    sql, params = _statement(engine, page, "FROM pycrm_customers", "LIMIT")
    results["page_sql"] = sql
    results["page_plan"] = hand.plan(sql, params)
    results["hand_plan"] = hand.plan(hand.page_sql, hand.params)
    sql, params = _statement(engine, pipeline, "FROM pycrm_opportunities", "GROUP BY")
    results["pipeline_plan"] = hand.plan(sql, params)
    results["hand_pipeline_plan"] = hand.plan(hand.pipeline_sql, hand.params)
    results["visible_customers"] = _count(hand)
    results["load"] = (load_before, os.getloadavg()[0])
    return results


def _pair(ours: Callable[[], Any], theirs: Callable[[], Any], repeat: int) -> dict[str, Any]:
    """Medians of ``repeat`` interleaved runs of both, their ratio, pycrm's peak memory."""
    got, expected = ours(), theirs()  # also warms the caches of both
    assert got == expected, f"pycrm {got!r} != hand-written SQL {expected!r}"
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeat):  # interleaved, so a burst of load hits both alike
        times[0].append(_timed(ours))
        times[1].append(_timed(theirs))
    pycrm_s, hand_s = statistics.median(times[0]), statistics.median(times[1])
    return {
        "got": got,
        "pycrm_s": pycrm_s,
        "hand_s": hand_s,
        "ratio": pycrm_s / hand_s,
        "peak_kib": _peak_kib(ours),
    }


def _statement(engine: sa.Engine, call: Callable[[], object], *parts: str) -> tuple[str, Any]:
    """The last statement ``call`` runs that contains every one of ``parts``."""
    statements = _captured(engine, call)
    return next((s, p) for s, p in reversed(statements) if all(x in s for x in parts))


def _count(hand: Hand) -> int:
    sql = hand.page_sql.replace("SELECT *", "SELECT count(*)").split("ORDER BY")[0]
    return int(hand._rows(sql)[0][0])


def run_one(label: str, url: str, rows: int, reps: int, repeat: int) -> dict[str, Any]:
    """Organisation, a tenth of the rows, measure; the rest of the rows, measure."""
    crm = pycrm.CRM.connect(url, settings=SETTINGS, load_entry_points=False)
    started = time.perf_counter()
    org = build_org(crm, reps)
    print(
        f"{label}: {org.users} users created through the services in "
        f"{time.perf_counter() - started:.1f} s; the director and the people below: "
        f"{len(org.visible)}"
    )
    sizes: dict[int, dict[str, Any]] = {}
    done = 0
    hand = Hand(url, org)
    try:
        for size in dict.fromkeys((max(rows // 10, 1), rows)):
            seconds = load(url, org, done, size)
            print(
                f"  {size - done:,} customers and {size - done:,} deals written in {seconds:.1f} s"
            )
            done = size
            sizes[size] = measure(crm, hand, org, repeat)
    finally:
        hand.close()
        crm.close()
    _print(label, sizes)
    return {"org": org, "sizes": sizes}


def _print(label: str, sizes: dict[int, dict[str, Any]]) -> None:
    print(f"\n{label}: as the director (target: ratio at most {TARGET})")
    print(
        f"  {'':<18} {'rows':>10} {'visible':>9} {'pycrm ms':>10} {'hand SQL ms':>12} "
        f"{'ratio':>6} {'pycrm peak KiB':>15}"
    )
    for name in ("first page", "page, open unit", "weighted pipeline"):
        for size, r in sizes.items():
            m = r[name]
            seen = r["visible_customers"] if "page" in name else m["answer"]
            print(
                f"  {name:<18} {size:>10,} {seen:>9,} {m['pycrm_s'] * 1000:>10.2f} "
                f"{m['hand_s'] * 1000:>12.2f} {m['ratio']:>6.2f} {m['peak_kib']:>15,}"
            )
    for size, r in sizes.items():
        print(
            f"  load average (1 min) while measuring {size:,} rows: "
            f"{r['load'][0]:.2f} before, {r['load'][1]:.2f} after"
        )
    largest = sizes[max(sizes)]
    sql = _indent(largest["page_sql"], 4, width=100_000)
    print(f"\n  SQL pycrm runs for the first page:\n{sql}")
    for title, key, table in (
        ("its plan", "page_plan", "pycrm_customers"),
        ("plan of the hand-written first page", "hand_plan", "pycrm_customers"),
        (
            "plan of the SQL pycrm runs for the weighted pipeline",
            "pipeline_plan",
            "pycrm_opportunities",
        ),
        ("plan of the hand-written weighted pipeline", "hand_pipeline_plan", "pycrm_opportunities"),
    ):
        print(f"  {title}:\n{_indent(chr(10).join(largest[key]), 4)}")
        print(f"  {table} read through: {read_through(largest[key], table)}")
    print()


def _indent(text: str, n: int, width: int = 160) -> str:
    """``text`` indented by ``n``, its lines cut at ``width`` (the ids of an IN list)."""
    lines = text.strip().splitlines()
    return "\n".join(" " * n + (s if len(s) <= width else s[: width - 1] + "…") for s in lines)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="customers and deals")
    parser.add_argument("--reps", type=int, default=500, help="sales reps")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each query")
    parser.add_argument("--postgres", help="PostgreSQL server URL (skipped when not given)")
    args = parser.parse_args(argv)
    print(f"{dt.datetime.now():%Y-%m-%d %H:%M}, {args.rows:,} rows, {args.reps} reps")
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench_access.db'}"
        report["sqlite"] = run_one("SQLite", url, args.rows, args.reps, args.repeat)
    if args.postgres:
        with fresh_databases(args.postgres, "bench_access") as (url,):
            report["postgresql"] = run_one("PostgreSQL", url, args.rows, args.reps, args.repeat)
    return report


if __name__ == "__main__":
    main()
