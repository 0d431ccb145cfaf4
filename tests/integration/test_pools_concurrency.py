"""Public pools under concurrent writers, in threads and in processes, on SQLite and
PostgreSQL: one pooled customer claimed by 8 reps at once has one owner and one claim move;
a rep with a cap of 2 claiming 8 customers at once ends with 2; two recycle runs at once move
each due customer once. And the SQL recycle agrees with the record-store recycle (the memory
backend) on which customers move and who is reminded.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest

import pycrm
from pycrm import SYSTEM_USER, RecycleReason, RecycleRule

WRITERS = 8
START = dt.datetime(2026, 1, 15, 9, 0, tzinfo=dt.UTC)
SETTINGS = pycrm.Settings(auto_migrate=True)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest) -> str:
    # SQLite: a copy of the session's migrated database; PostgreSQL: the session's database,
    # shared (each test has a tenant of its own).
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(name))


def _connect(url: str, at: dt.datetime = START) -> pycrm.CRM:
    return pycrm.CRM.connect(
        url, settings=SETTINGS, clock=pycrm.FixedClock(at), load_entry_points=False
    )


def _team(url: str, tenant: str, reps: int, **pool: Any) -> list[uuid.UUID]:
    """A department of ``reps`` peer reps (none sees another's customers) with the pool
    ``east`` of ``pool``'s options; the reps' ids."""
    with _connect(url) as crm, crm.unit_of_work(tenant=tenant, user=SYSTEM_USER) as uow:
        east = uow.departments.create(name="East")
        ids = [uow.users.create(name=f"Rep {i}", department_id=east.id).id for i in range(reps)]
        uow.configuration.set_pool(pycrm.Pool(key="east", name="East", **pool))
        return ids


def _pooled(url: str, tenant: str, count: int) -> list[uuid.UUID]:
    """``count`` customers in the pool ``east`` (created for a leaver, released)."""
    with _connect(url) as crm, crm.unit_of_work(tenant=tenant, user=SYSTEM_USER) as uow:
        leaver = uow.users.create(name="Leaver")
        ids = []
        for i in range(count):
            made = uow.customers.create(name=f"Pooled {i}", owner_id=leaver.id)
            ids.append(uow.pools.release(made.id, reason="left the company").id)
        return ids


def _moves(url: str, tenant: str, customers: list[uuid.UUID]) -> list[pycrm.PoolMove]:
    with _connect(url) as crm:
        pools = crm.as_user(SYSTEM_USER, tenant=tenant).pools
        return [move for customer in customers for move in pools.moves(customer)]


# -- what each writer does (module level, so processes can run them) ----------------------
# Each connects and reads first, then waits at ``start`` for the others: the writes begin
# together, in processes as in threads.
def claim(start: Any, url: str, tenant: str, rep: uuid.UUID, customer: uuid.UUID) -> str:
    with _connect(url) as crm:
        api = crm.as_user(rep, tenant=tenant)
        api.customers.count()
        start.wait()
        try:
            api.pools.claim(customer)
        except pycrm.CRMError as error:
            return type(error).__name__
    return "ok"


def recycle(start: Any, url: str, tenant: str, at: dt.datetime) -> str:
    with _connect(url, at) as crm:
        api = crm.as_user(SYSTEM_USER, tenant=tenant)
        api.customers.count()
        start.wait()
        try:
            run = api.pools.recycle()
        except pycrm.CRMError as error:
            return type(error).__name__
    return f"ok {run.recycled['east']} {run.reminded}"


class _Now:
    """A start that does not wait (one writer alone)."""

    def wait(self) -> None:
        pass


def _run(how: str, work: Callable[..., str], calls: list[tuple[Any, ...]]) -> list[str]:
    """Every call of ``work`` at once, in threads or in processes; the outcomes in the
    order of ``calls``."""
    if how == "processes":
        context = multiprocessing.get_context("spawn")
        with context.Manager() as manager, context.Pool(len(calls)) as pool:
            start = manager.Barrier(len(calls), timeout=120)
            return pool.starmap(work, [(start, *args) for args in calls], chunksize=1)
    results: list[str] = [""] * len(calls)
    barrier = threading.Barrier(len(calls), timeout=120)

    def one(i: int) -> None:
        results[i] = work(barrier, *calls[i])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


HOW = pytest.mark.parametrize("how", ["threads", "processes"])


# -- claims ---------------------------------------------------------------------------------
def _race(url: str, tenant: str, how: str) -> tuple[list[str], list[uuid.UUID], uuid.UUID]:
    """8 member reps claim one pooled customer at once: the outcomes in rep order."""
    reps = _team(url, tenant, WRITERS)
    [customer] = _pooled(url, tenant, 1)
    outcomes = _run(how, claim, [(url, tenant, rep, customer) for rep in reps])
    return outcomes, reps, customer


@HOW
def test_one_of_8_reps_claiming_one_customer_at_once_gets_it(
    url: str, tenant: str, how: str
) -> None:
    outcomes, reps, customer = _race(url, tenant, how)
    assert outcomes.count("ok") == 1, outcomes
    # The others lost the race, and are told so.
    assert sorted(outcomes) == ["ConflictError"] * 7 + ["ok"], outcomes
    winner = reps[outcomes.index("ok")]
    with _connect(url) as crm:
        root = crm.as_user(SYSTEM_USER, tenant=tenant)
        stored = root.customers.get(customer)
        assert (stored.owner_id, stored.pool) == (winner, None)
        assert root.customers.count({"owner_id__in": reps}) == 1
    claims = [m for m in _moves(url, tenant, [customer]) if m.action is pycrm.PoolMoveAction.CLAIM]
    assert [(m.owner_id, m.acted_by) for m in claims] == [(winner, winner)]


def test_the_7_reps_who_lose_the_race_get_a_conflict(url: str, tenant: str) -> None:
    # Threads only: the outcome does not depend on how the writers run (the test above runs
    # both), and processes cost seconds.
    outcomes, _, _ = _race(url, tenant, "threads")
    assert sorted(outcomes) == ["ConflictError"] * (WRITERS - 1) + ["ok"], outcomes


def test_a_rep_with_a_cap_of_2_claiming_8_customers_at_once_ends_with_2(
    url: str, tenant: str
) -> None:
    [rep] = _team(url, tenant, 1, max_customers=2)
    customers = _pooled(url, tenant, WRITERS)
    outcomes = _run("threads", claim, [(url, tenant, rep, c) for c in customers])
    assert sorted(outcomes) == ["RuleViolation"] * (WRITERS - 2) + ["ok"] * 2, outcomes
    with _connect(url) as crm:
        root = crm.as_user(SYSTEM_USER, tenant=tenant)
        assert root.customers.count({"owner_id": rep}) == 2
        assert root.customers.count({"pool": "east"}) == WRITERS - 2
    claims = [m for m in _moves(url, tenant, customers) if m.action is pycrm.PoolMoveAction.CLAIM]
    assert len(claims) == 2 and {m.owner_id for m in claims} == {rep}


# -- recycling --------------------------------------------------------------------------------
def test_two_recycle_runs_at_once_move_each_due_customer_once(url: str, tenant: str) -> None:
    rule = RecycleRule(reason=RecycleReason.NO_FOLLOW_UP, days=30)
    reps = _team(url, tenant, 3, recycle=[rule], remind_days_before=3)
    with _connect(url) as crm, crm.unit_of_work(tenant=tenant, user=SYSTEM_USER) as uow:
        due = [uow.customers.create(name=f"Due {i}", owner_id=reps[i % 3]).id for i in range(6)]
    with _connect(url, START + dt.timedelta(days=3)) as crm:
        api = crm.as_user(SYSTEM_USER, tenant=tenant)
        soon = [api.customers.create(name=f"Soon {i}", owner_id=reps[i]).id for i in range(3)]
        kept = api.customers.create(name="Kept", owner_id=reps[0]).id
        api.orders.create(customer_id=kept, currency="CNY")  # an open order keeps it
    at = START + dt.timedelta(days=30)  # the 6 are due; the 3 due in 3 days are reminded
    outcomes = _run("threads", recycle, [(url, tenant, at)] * 2)
    # Both runs succeed, one after the other: the second finds nothing left to remind of.
    # (How many each moved: see test_a_recycle_run_counts_the_customers_it_moved.)
    assert all(o.startswith("ok ") for o in outcomes), outcomes
    assert sorted(o.split()[2] for o in outcomes) == ["0", "3"], outcomes
    with _connect(url, at) as crm:
        root = crm.as_user(SYSTEM_USER, tenant=tenant)
        for customer in due:
            stored = root.customers.get(customer)
            assert (stored.owner_id, stored.pool, stored.version) == (None, "east", 2)
        assert {root.customers.get(c).owner_id for c in (*soon, kept)} <= set(reps)
    moves = _moves(url, tenant, [*due, *soon, kept])
    recycled = [m.customer_id for m in moves if m.action is pycrm.PoolMoveAction.RECYCLE]
    reminded = [m.customer_id for m in moves if m.action is pycrm.PoolMoveAction.REMIND]
    assert sorted(recycled) == sorted(due) and sorted(reminded) == sorted(soon)
    # Again, later: nothing more.
    recycle(_Now(), url, tenant, at + dt.timedelta(hours=1))
    assert len(_moves(url, tenant, [*due, *soon, kept])) == len(moves)


def test_a_recycle_run_counts_the_customers_it_moved(url: str, tenant: str) -> None:
    rule = RecycleRule(reason=RecycleReason.NO_FOLLOW_UP, days=30)
    [rep] = _team(url, tenant, 1, recycle=[rule])
    with _connect(url) as crm, crm.unit_of_work(tenant=tenant, user=SYSTEM_USER) as uow:
        for i in range(3):
            uow.customers.create(name=f"Due {i}", owner_id=rep)
    assert recycle(_Now(), url, tenant, START + dt.timedelta(days=29)) == "ok 0 0"
    assert recycle(_Now(), url, tenant, START + dt.timedelta(days=30)) == "ok 3 0"
    assert recycle(_Now(), url, tenant, START + dt.timedelta(days=30)) == "ok 0 0"


# -- the SQL recycle and the record-store recycle agree ---------------------------------------
def _levels(**days: int) -> RecycleRule:
    return RecycleRule(reason=RecycleReason.NO_FOLLOW_UP, days=30, levels=days)


class Scenario:
    """The same organisation, customers and history on one CRM, step by step."""

    def __init__(self, crm: pycrm.CRM, tenant: str) -> None:
        self.crm, self.tenant = crm, tenant
        self.root = crm.as_user(SYSTEM_USER, tenant=tenant)
        self.ids: dict[str, uuid.UUID] = {}

    def build(self) -> None:
        root, ids = self.root, self.ids
        head = root.departments.create(name="Head office")
        east = root.departments.create(name="East", parent_id=head.id)
        team = root.departments.create(name="East 1", parent_id=east.id)
        west = root.departments.create(name="West", parent_id=head.id)
        for name, department in (("Ann", east), ("Ed", team), ("Bo", west), ("GM", head)):
            ids[name] = root.users.create(name=name, department_id=department.id).id
        ids["Solo"] = root.users.create(name="Solo").id  # in no department
        config = root.configuration
        config.set_pool(
            pycrm.Pool(
                key="east", name="East", owners_from=[east.id], recycle=[_levels(A=60, VIP=0)],
                remind_days_before=3,
            )
        )  # fmt: skip
        config.set_pool(
            pycrm.Pool(
                key="west", name="West", owners_from=[west.id], exempt_open_orders=False,
                recycle=[
                    RecycleRule(reason=RecycleReason.NO_DEAL, days=20),
                    RecycleRule(reason=RecycleReason.NO_WON_DEAL, days=45, levels={"A": 0}),
                ],
                remind_days_before=5,
            )
        )  # fmt: skip
        config.set_pool(
            pycrm.Pool(
                key="general", name="General", remind_days_before=2,
                recycle=[RecycleRule(reason=RecycleReason.NO_FOLLOW_UP, days=15)],
            )
        )  # fmt: skip
        owned = {
            "Ann": ["e plain", "e A", "e VIP", "e called", "e draft", "e confirmed",
                    "e cancelled", "e completed", "e dealt", "e deleted", "e B"],
            "Ed": ["t plain", "t called late"],
            "Bo": ["w plain", "w dealt", "w won", "w draft", "w lost", "w A"],
            "GM": ["g plain", "g called"],
            "Solo": ["s plain"],
        }  # fmt: skip
        for owner, names in owned.items():
            for name in names:
                level = name.split()[-1] if name.split()[-1] in ("A", "B", "VIP") else None
                ids[name] = root.customers.create(name=name, owner_id=ids[owner], level=level).id
        # Being worked on hard until day 33: out of recycling till then.
        hot = START + dt.timedelta(days=33)
        ids["e hot"] = root.customers.create(name="e hot", owner_id=ids["Ann"], hot_until=hot).id
        for name in ("p pooled", "p claimed"):
            made = root.customers.create(name=name, owner_id=ids["GM"])
            ids[name] = root.pools.release(made.id, reason="seed", pool="east").id
        orders = root.orders
        line = {"description": "ad", "quantity": 1, "unit_price": pycrm.Money("10.00", "CNY")}
        orders.create(customer_id=ids["e draft"], currency="CNY")
        orders.create(customer_id=ids["w draft"], currency="CNY")
        confirmed = orders.create(customer_id=ids["e confirmed"], currency="CNY", lines=[line])
        orders.confirm(confirmed.id)
        cancelled = orders.create(customer_id=ids["e cancelled"], currency="CNY")
        orders.cancel(cancelled.id, reason="duplicate")
        completed = orders.create(customer_id=ids["e completed"], currency="CNY", lines=[line])
        orders.confirm(completed.id)
        orders.complete(completed.id)
        root.customers.delete(ids["e deleted"])

    def on_day(self, day: int) -> None:
        """What happens on ``day`` (before that day's recycle run)."""
        root, ids = self.root, self.ids

        def call(name: str) -> None:
            root.activities.create(type="call", subject="call", customer_id=ids[name])

        def deal(name: str) -> uuid.UUID:
            made = root.opportunities.create(customer_id=ids[name], name=name)
            return made.id

        if day == 5:
            self.ids["w won deal"] = deal("w won")
            self.ids["w lost deal"] = deal("w lost")
            deal("e dealt")
        elif day == 8:
            root.opportunities.lose(ids["w lost deal"], reason="price")
        elif day == 10:
            call("e called")
            call("g called")
            deal("w dealt")
        elif day == 12:
            self.crm.as_user(ids["Ann"], tenant=self.tenant).pools.claim(ids["p claimed"])
        elif day == 15:
            root.opportunities.win(ids["w won deal"])
        elif day == 25:
            call("t called late")

    def state(self, run: pycrm.RecycleRun) -> dict[str, Any]:
        """Where every customer is, how many the run reminded, and every reminder so far."""
        customers = self.root.customers.list(limit=500)
        reminded = set()
        for customer in customers:
            for move in self.root.pools.moves(customer.id):
                if move.action is pycrm.PoolMoveAction.REMIND:
                    owner = next(k for k, v in self.ids.items() if v == move.owner_id)
                    reminded.add((customer.name, owner, move.due_on, move.at))
        # (run.recycled is left out: on PostgreSQL it is wrong, see the test above.)
        return {
            "pools": {c.name: c.pool for c in customers},
            "reminded": (run.reminded, sorted(reminded)),
        }


DAYS = (5, 8, 10, 12, 13, 15, 17, 20, 25, 27, 28, 30, 35, 40, 42, 45, 55, 57, 60, 90, 400)


def test_the_sql_recycle_and_the_record_store_recycle_agree(
    url: str, tenant: str, make_crm: Callable[..., pycrm.CRM], clock: pycrm.FixedClock
) -> None:
    sides = [Scenario(make_crm("memory://"), tenant), Scenario(make_crm(url), tenant)]
    for side in sides:
        side.build()
    states: list[list[dict[str, Any]]] = [[], []]
    day = 0
    for next_day in DAYS:
        clock.advance(days=next_day - day)
        day = next_day
        for side, found in zip(sides, states, strict=True):
            side.on_day(day)
            found.append(side.state(side.root.pools.recycle()))
    memory, sql = states
    for day, in_memory, in_sql in zip(DAYS, memory, sql, strict=True):
        assert in_sql == in_memory, f"day {day}"
    # And what they agree on is what the rules say.
    moved: dict[int, list[str]] = {}
    reminded: dict[int, list[str]] = {}
    pools_before = {name: "east" for name in ("p pooled", "p claimed")}
    reminders_before: set[str] = set()
    for day, found in zip(DAYS, memory, strict=True):
        pools = found["pools"]
        names = sorted(n for n, p in pools.items() if p is not None and pools_before.get(n) is None)
        moved.update({day: [f"{n} > {pools[n]}" for n in names]} if names else {})
        now = {r[0] for r in found["reminded"][1]}
        reminded.update({day: sorted(now - reminders_before)} if now - reminders_before else {})
        pools_before, reminders_before = pools, now
    assert moved == EXPECTED_MOVES
    assert reminded == EXPECTED_REMINDERS
    assert memory[-1]["pools"] == EXPECTED_END


#: Customers recycled on each day, and into which pool.
EXPECTED_MOVES = {
    15: ["g plain > general", "s plain > general"],  # catch-all: Head office, no department
    20: ["w A > west", "w draft > west", "w plain > west"],  # no deal; West keeps no orders
    25: ["g called > general", "w lost > west", "w won > west"],
    30: [
        "e B > east",
        "e cancelled > east",
        "e completed > east",
        "e dealt > east",  # a deal is no follow-up
        "e plain > east",
        "t plain > east",  # East 1 is under East
        "w dealt > west",
    ],
    35: ["e hot > east"],  # hot until day 33
    40: ["e called > east"],
    42: ["p claimed > east"],  # claimed on day 12
    55: ["t called late > east"],
    60: ["e A > east"],
}
#: Owners reminded on each day (of customers due within the pool's days).
EXPECTED_REMINDERS = {
    13: ["g plain", "s plain"],
    15: ["w A", "w draft", "w plain"],
    20: ["w lost", "w won"],
    25: ["w dealt"],
    27: ["e B", "e cancelled", "e completed", "e dealt", "e plain", "t plain"],
    30: ["e hot"],  # due on day 33, when it stops being hot
    40: ["p claimed"],
    57: ["e A"],
}
#: Where every customer is after the last run: VIP never recycles, open orders keep.
EXPECTED_END = {
    **{name: "east" for name in ("e A", "e B", "e called", "e cancelled", "e completed")},
    **{name: "east" for name in ("e dealt", "e hot", "e plain", "p claimed", "p pooled")},
    **{name: "east" for name in ("t called late", "t plain")},
    **{name: "general" for name in ("g called", "g plain", "s plain")},
    **{name: "west" for name in ("w A", "w dealt", "w draft", "w lost", "w plain", "w won")},
    **{name: None for name in ("e VIP", "e confirmed", "e draft")},
}


def test_a_deleted_follow_up_counts_the_same_on_sql_and_in_the_record_store(
    url: str, tenant: str, make_crm: Callable[..., pycrm.CRM], clock: pycrm.FixedClock
) -> None:
    moved = []
    for crm in (make_crm("memory://"), make_crm(url)):
        root = crm.as_user(SYSTEM_USER, tenant=tenant)
        rep = root.users.create(name="Rep")
        rule = RecycleRule(reason=RecycleReason.NO_FOLLOW_UP, days=30)
        root.configuration.set_pool(pycrm.Pool(key="p", name="P", recycle=[rule]))
        customer = root.customers.create(name="Customer", owner_id=rep.id)
        clock.advance(days=10)
        call = root.activities.create(type="call", subject="call", customer_id=customer.id)
        root.activities.delete(call.id)  # a call logged by mistake, taken back
        moved.append(root.pools.recycle(now=clock.now() + dt.timedelta(days=20)).recycled)
    memory, sql = moved
    assert memory == {"p": 1}  # no follow-up for 30 days
    assert sql == memory
