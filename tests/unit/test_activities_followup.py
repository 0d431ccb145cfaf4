"""Following up: tasks a manager assigns (``assigned_by``), completing activities with their
result, overdue lists, task completion per rep by day, week and month in the tenant's time
zone (memory and SQLite alike), and each user's agenda for a day.

The organisation: head office (GM) → North (director Bei; reps Ann and Al under her) and
South (director Nan; rep Bo), in a tenant on Shanghai time. Each rep owns a customer and a
deal opened on 20 December 2025 (long enough ago to be stale now). Unless a test moves the
clock it is Wednesday 14 January 2026, 10:00 in Shanghai (02:00 UTC).
"""

from __future__ import annotations

import datetime as dt
import shutil
import uuid
from collections.abc import Iterable, Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import pycrm
from pycrm import SYSTEM_USER, Money

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

TENANT = "t"
SHANGHAI = ZoneInfo("Asia/Shanghai")
D = dt.date
SUN, MON, TUE, WED, THU = (D(2026, 1, day) for day in (11, 12, 13, 14, 15))
NEXT_SUN, NEXT_MON = D(2026, 1, 18), D(2026, 1, 19)


def sh(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    """A moment of ``day`` on Shanghai's clocks."""
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=SHANGHAI)


NOW = sh(WED, 10)
LONG_AGO = sh(D(2025, 12, 20), 10)


class Org:
    """The tenant's organisation: the CRM, its clock and the ids by name."""

    def __init__(self, crm: pycrm.CRM, clock: pycrm.FixedClock) -> None:
        self.crm, self.clock = crm, clock
        self.ids: dict[str, uuid.UUID] = {"root": SYSTEM_USER}

    def __getitem__(self, name: str) -> uuid.UUID:
        return self.ids[name]

    def api(self, who: str = "root") -> pycrm.Services:
        return self.crm.as_user(self.ids[who], tenant=TENANT)

    @property
    def root(self) -> pycrm.Services:
        return self.api()

    def name(self, user_id: uuid.UUID | None) -> str | None:
        return next((n for n, i in self.ids.items() if i == user_id), None)

    def task(
        self,
        owner: str,
        subject: str,
        due: dt.datetime | None = None,
        *,
        by: str | None = None,
        done: bool = False,
        **fields: Any,
    ) -> pycrm.Activity:
        """A task of ``owner``: given by ``by`` (their manager), else made by themself;
        completed now if ``done``."""
        api = self.api(by or owner)
        if due is not None:
            fields["due_at"] = due
        made = api.activities.create(
            type=fields.pop("type", "task"), subject=subject, owner_id=self[owner], **fields
        )
        if done:
            made = self.api(owner).activities.complete(made.id, result="done")
        return made


def make_org(url: str, clock: pycrm.FixedClock) -> Org:
    clock.set(LONG_AGO)
    crm = pycrm.CRM.connect(url, clock=clock, load_entry_points=False)
    org = Org(crm, clock)
    root = org.root
    root.configuration.set_time_zone("Asia/Shanghai")
    head = root.departments.create(name="Head office")
    north = root.departments.create(name="North", parent_id=head.id)
    south = root.departments.create(name="South", parent_id=head.id)
    org.ids.update(head=head.id, north=north.id, south=south.id)
    users = root.users
    gm = users.create(name="GM", roles=["executive"], department_id=head.id)
    bei = users.create(
        name="Bei", roles=["sales_director"], department_id=north.id, manager_id=gm.id
    )
    nan = users.create(
        name="Nan", roles=["sales_director"], department_id=south.id, manager_id=gm.id
    )
    ann = users.create(name="Ann", department_id=north.id, manager_id=bei.id)
    al = users.create(name="Al", department_id=north.id, manager_id=bei.id)
    bo = users.create(name="Bo", department_id=south.id, manager_id=nan.id)
    for user in (gm, bei, nan, ann, al, bo):
        org.ids[user.name] = user.id
    for rep in (ann, al, bo):
        customer = root.customers.create(name=f"{rep.name}'s", owner_id=rep.id)
        org.ids[f"{rep.name}_customer"] = customer.id
        org.ids[f"{rep.name}_deal"] = root.opportunities.create(
            customer_id=customer.id, name=f"{rep.name}'s deal", owner_id=rep.id
        ).id
    clock.set(NOW)
    return org


@pytest.fixture
def org(clock: pycrm.FixedClock) -> Iterator[Org]:
    """The organisation on the memory backend."""
    made = make_org("memory://", clock)
    yield made
    made.crm.close()


@pytest.fixture(params=["memory", "sqlite"])
def both(request: pytest.FixtureRequest, clock: pycrm.FixedClock) -> Iterator[Org]:
    """The organisation on the memory backend and on a migrated SQLite database."""
    url = "memory://" if request.param == "memory" else request.getfixturevalue("sqlite_url")
    made = make_org(url, clock)
    yield made
    made.crm.close()


def subjects(activities: Iterable[pycrm.Activity]) -> list[str]:
    return [a.subject for a in activities]


def table(org: Org, rows: list[pycrm.TaskCompletion]) -> list[tuple[str | None, int, int, int]]:
    """Completion rows as (owner's name, due, done, overdue), by name."""
    named = [(org.name(r.owner_id), r.due, r.done, r.overdue) for r in rows]
    return sorted(named, key=lambda row: row[0] or "")


# -- tasks a manager assigns ------------------------------------------------------------------
def test_a_task_a_manager_creates_for_a_rep_is_assigned_by_the_manager(org: Org) -> None:
    bei, ann = org.api("Bei"), org.api("Ann")
    given = bei.activities.create(type="task", subject="visit ACME", owner_id=org["Ann"])
    assert (given.owner_id, given.assigned_by) == (org["Ann"], org["Bei"])
    assert ann.activities.get(given.id).assigned_by == org["Bei"]  # stored; the rep sees who
    [batch] = bei.activities.create_many(
        [{"type": "task", "subject": "call Al's lead", "owner_id": org["Al"]}]
    )
    assert batch.assigned_by == org["Bei"]
    # The rep's edits and report back keep who gave it.
    assert ann.activities.update(given.id, notes="on Friday").assigned_by == org["Bei"]
    assert ann.activities.complete(given.id, result="visited").assigned_by == org["Bei"]


def test_a_task_someone_makes_for_themself_is_assigned_by_nobody(org: Org) -> None:
    ann, bei = org.api("Ann"), org.api("Bei")
    implied = ann.activities.create(type="task", subject="call back")
    named = ann.activities.create(type="task", subject="mail", owner_id=org["Ann"])
    managers = bei.activities.create(type="task", subject="plan", owner_id=org["Bei"])
    assert [a.owner_id for a in (implied, named, managers)] == [org["Ann"], org["Ann"], org["Bei"]]
    assert [a.assigned_by for a in (implied, named, managers)] == [None, None, None]
    assert ann.activities.get(implied.id).assigned_by is None


def test_assigned_by_cannot_be_given_as_input(org: Org) -> None:
    ann, bei = org.api("Ann"), org.api("Bei")
    forged: dict[str, Any] = {"assigned_by": org["GM"]}
    with pytest.raises(pycrm.ValidationError, match="assigned_by: unknown field") as caught:
        ann.activities.create(type="task", subject="looks official", **forged)
    assert [path for path, _ in caught.value.errors] == ["assigned_by"]
    with pytest.raises(pycrm.ValidationError, match="assigned_by"):
        bei.activities.create(type="task", subject="x", owner_id=org["Ann"], **forged)
    with pytest.raises(pycrm.ValidationError, match=r"0\.assigned_by"):
        bei.activities.create_many([{"type": "task", "subject": "x", **forged}])
    mine = ann.activities.create(type="task", subject="mine")
    with pytest.raises(pycrm.ValidationError, match="assigned_by"):
        ann.activities.update(mine.id, **forged)
    given = bei.activities.create(type="task", subject="given", owner_id=org["Ann"])
    with pytest.raises(pycrm.ValidationError, match="assigned_by"):
        ann.activities.update(given.id, assigned_by=None, notes="not from Bei")  # type: ignore[call-arg]
    assert ann.activities.get(mine.id).assigned_by is None
    assert ann.activities.get(given.id).assigned_by == org["Bei"]
    assert ann.activities.get(given.id).notes is None  # the refused update wrote nothing
    assert sorted(subjects(org.root.activities.list())) == ["given", "mine"]


# -- completing -------------------------------------------------------------------------------
def test_complete_marks_an_activity_done_now_with_its_result_once(org: Org) -> None:
    ann = org.api("Ann")
    task = org.task("Ann", "visit", sh(THU, 18), by="Bei")
    org.clock.set(sh(WED, 16, 20))
    done = ann.activities.complete(task.id, result="visited; delivery end of June")
    expected = (True, sh(WED, 16, 20), "visited; delivery end of June")
    assert (done.done, done.done_at, done.result) == expected
    stored = org.api("Bei").activities.get(task.id)  # the manager reads the report back
    assert (stored.done, stored.done_at, stored.result) == expected
    assert stored.version == task.version + 1
    org.clock.advance(hours=1)
    with pytest.raises(pycrm.RuleViolation, match="done already") as caught:
        ann.activities.complete(task.id, result="again")
    assert caught.value.rule == "activity.done"
    again = org.root.activities.get(task.id)
    assert (again.done, again.done_at, again.result, again.version) == (*expected, stored.version)


def test_completing_an_activity_about_a_deal_is_contact_with_the_deal(org: Org) -> None:
    ann, deal = org.api("Ann"), org["Ann_deal"]
    assert ann.opportunities.get(deal).last_contact_at is None
    org.clock.set(sh(MON, 9))
    call = ann.activities.create(
        type="call", subject="quote", opportunity_id=deal, due_at=sh(WED, 15)
    )
    other = ann.activities.create(type="call", subject="hello", customer_id=org["Ann_customer"])
    assert ann.opportunities.get(deal).last_contact_at == sh(MON, 9)  # logged: contact
    org.clock.set(sh(WED, 15, 20))
    ann.activities.complete(call.id, result="agreed")
    assert ann.opportunities.get(deal).last_contact_at == sh(WED, 15, 20)
    org.clock.set(sh(THU, 9))
    ann.activities.complete(other.id)  # about no deal: the deal is left alone
    assert ann.opportunities.get(deal).last_contact_at == sh(WED, 15, 20)


def test_a_rep_cannot_complete_an_activity_of_a_colleague(org: Org) -> None:
    als = org.task("Al", "Al's call", sh(WED, 9))
    with pytest.raises(pycrm.NotFound):
        org.api("Ann").activities.complete(als.id, result="mine now")  # not even seen
    with pytest.raises(pycrm.NotFound):
        org.api("Nan").activities.complete(als.id)  # the other branch's director
    with pytest.raises(pycrm.PermissionDenied):
        org.api("GM").activities.complete(als.id)  # above his superior: may only view
    stored = org.root.activities.get(als.id)
    assert (stored.done, stored.done_at, stored.result) == (False, None, None)
    # His direct superior may do everything but delete.
    assert org.api("Bei").activities.complete(als.id, result="done for him").done


def test_update_done_sets_the_done_time_too(org: Org) -> None:
    ann, deal = org.api("Ann"), org["Ann_deal"]
    call = ann.activities.create(type="call", subject="called", opportunity_id=deal)
    org.clock.set(sh(WED, 11, 5))
    updated = ann.activities.update(call.id, done=True, result="ok")
    assert (updated.done, updated.done_at, updated.result) == (True, sh(WED, 11, 5), "ok")
    assert ann.activities.get(call.id).done_at == sh(WED, 11, 5)
    assert ann.opportunities.get(deal).last_contact_at == sh(WED, 11, 5)
    org.clock.advance(hours=2)
    assert ann.activities.update(call.id, notes="more").done_at == sh(WED, 11, 5)
    assert ann.activities.update(call.id, done=True).done_at == sh(WED, 11, 5)  # done once
    with pytest.raises(pycrm.RuleViolation, match="done already"):
        ann.activities.complete(call.id)


def test_update_done_false_reopens_a_done_activity(org: Org) -> None:
    ann = org.api("Ann")
    task = org.task("Ann", "by mistake", sh(TUE, 9))
    ann.activities.complete(task.id)
    reopened = ann.activities.update(task.id, done=False)
    assert (reopened.done, reopened.done_at) == (False, None)
    assert subjects(ann.activities.overdue()) == ["by mistake"]


# -- overdue ----------------------------------------------------------------------------------
def test_overdue_lists_open_visible_activities_past_due_oldest_first(org: Org) -> None:
    org.task("Ann", "Tue task", sh(TUE, 9))
    org.task("Ann", "Mon call", sh(MON, 16), type="call")
    org.task("Ann", "done Mon", sh(MON, 8), done=True)
    org.task("Ann", "later today", sh(WED, 15))
    org.task("Ann", "due now", NOW)  # due this very moment: not past it
    org.task("Ann", "undated")
    org.task("Al", "Al Sun", sh(SUN, 9))
    org.task("Bo", "Bo Sat", sh(D(2026, 1, 10), 9))
    ann, bei = org.api("Ann"), org.api("Bei")
    assert subjects(ann.activities.overdue()) == ["Mon call", "Tue task"]
    assert subjects(bei.activities.overdue()) == ["Al Sun", "Mon call", "Tue task"]
    assert subjects(org.api("Nan").activities.overdue()) == ["Bo Sat"]
    assert subjects(org.root.activities.overdue()) == ["Bo Sat", "Al Sun", "Mon call", "Tue task"]
    assert subjects(bei.activities.overdue(owner_id=org["Al"])) == ["Al Sun"]
    assert subjects(bei.activities.overdue(owner_id=org["Bo"])) == []  # not hers to see
    assert subjects(ann.activities.overdue(owner_id=org["Al"])) == []
    assert subjects(bei.activities.overdue(limit=1)) == ["Al Sun"]
    org.clock.set(sh(WED, 15, 1))
    assert subjects(ann.activities.overdue()) == ["Mon call", "Tue task", "due now", "later today"]


# -- completion -------------------------------------------------------------------------------
def test_completion_counts_a_day_in_the_tenants_time_zone(both: Org) -> None:
    org = both
    org.task("Ann", "Mon 23:30", sh(MON, 23, 30))  # 15:30 UTC: still Monday in Shanghai
    org.task("Ann", "Mon 00:00", sh(MON, 0, 0))  # 16:00 UTC on Sunday
    org.task("Ann", "Tue 00:30", sh(TUE, 0, 30))  # 16:30 UTC on Monday
    org.task("Ann", "Sun 23:59", sh(SUN, 23, 59))
    completion = org.root.activities.completion
    assert table(org, completion("day", on=MON)) == [("Ann", 2, 0, 2)]
    assert table(org, completion("day", on=TUE)) == [("Ann", 1, 0, 1)]
    assert table(org, completion("day", on=SUN)) == [("Ann", 1, 0, 1)]
    assert completion("day", on=WED) == []


def test_completion_counts_tasks_due_done_and_overdue_per_rep(both: Org) -> None:
    org = both
    org.task("Ann", "08:00 done", sh(WED, 8), by="Bei", done=True)
    org.task("Ann", "09:00 open", sh(WED, 9), by="Bei")  # past due at 10:00
    org.task("Ann", "15:00 open", sh(WED, 15))  # not yet
    org.task("Ann", "23:30 done", sh(WED, 23, 30), done=True)  # done early
    org.task("Ann", "call", sh(WED, 9, 30), type="call")  # not a task: not counted
    org.task("Ann", "meeting", sh(WED, 8), type="meeting", done=True)
    org.task("Ann", "visit", sh(WED, 8), type="visit")
    org.task("Al", "Al's", sh(WED, 12), done=True)
    org.task("Bo", "Bo's Thursday", sh(THU, 9))
    rows = org.root.activities.completion("day", on=WED)
    assert table(org, rows) == [("Al", 1, 1, 0), ("Ann", 4, 2, 1)]
    assert [str(r.owner_id) for r in rows] == sorted(str(r.owner_id) for r in rows)
    rates = {org.name(r.owner_id): r.rate for r in rows}
    assert rates == {"Ann": 0.5, "Al": 1.0}
    # Only what the acting user sees counts.
    assert table(org, org.api("Ann").activities.completion("day", on=WED)) == [("Ann", 4, 2, 1)]
    assert org.api("Nan").activities.completion("day", on=WED) == []
    # Today, by default, is the tenant's: 00:30 on Wednesday in Shanghai is Tuesday in UTC.
    org.clock.set(sh(WED, 0, 30))
    assert table(org, org.root.activities.completion("day")) == [
        ("Al", 1, 1, 0),
        ("Ann", 4, 2, 0),
    ]


def test_completion_weeks_run_monday_to_sunday(both: Org) -> None:
    org = both
    org.task("Ann", "last Sunday night", sh(SUN, 23, 59))
    org.task("Ann", "Monday midnight", sh(MON, 0, 0))
    org.task("Ann", "Sunday night", sh(NEXT_SUN, 23, 59), done=True)
    org.task("Ann", "next Monday", sh(NEXT_MON, 0, 0))
    completion = org.root.activities.completion
    for day in (MON, WED, NEXT_SUN):
        assert table(org, completion("week", on=day)) == [("Ann", 2, 1, 1)], day
    assert table(org, completion("week", on=SUN)) == [("Ann", 1, 0, 1)]
    assert table(org, completion("week", on=NEXT_MON)) == [("Ann", 1, 0, 0)]


def test_completion_months_run_from_the_first_to_the_last_day(both: Org) -> None:
    org = both
    org.task("Ann", "New Year's Eve", sh(D(2025, 12, 31), 23, 59))
    org.task("Ann", "New Year", sh(D(2026, 1, 1), 0, 0))
    org.task("Ann", "end of January", sh(D(2026, 1, 31), 23, 30))
    org.task("Ann", "February", sh(D(2026, 2, 1), 0, 0))
    completion = org.root.activities.completion
    assert table(org, completion("month", on=WED)) == [("Ann", 2, 0, 1)]
    assert table(org, completion("month", on=D(2026, 1, 31))) == [("Ann", 2, 0, 1)]
    assert table(org, completion("month", on=D(2025, 12, 1))) == [("Ann", 1, 0, 1)]
    assert table(org, completion("month", on=D(2026, 2, 28))) == [("Ann", 1, 0, 0)]


def test_completion_of_a_department_counts_its_reps_and_those_below(both: Org) -> None:
    org = both
    for rep in ("GM", "Bei", "Ann", "Al", "Bo"):
        org.task(rep, f"{rep}'s", sh(WED, 9))
    completion = org.root.activities.completion
    north = [("Al", 1, 0, 1), ("Ann", 1, 0, 1), ("Bei", 1, 0, 1)]
    assert table(org, completion("day", on=WED, department_id=org["north"])) == north
    assert table(org, completion("day", on=WED, department_id=org["south"])) == [("Bo", 1, 0, 1)]
    everyone = table(org, completion("day", on=WED, department_id=org["head"]))
    assert everyone == sorted([*north, ("Bo", 1, 0, 1), ("GM", 1, 0, 1)])
    assert everyone == table(org, completion("day", on=WED))
    bei = org.api("Bei").activities
    assert table(org, bei.completion("day", on=WED)) == north
    assert bei.completion("day", on=WED, department_id=org["south"]) == []  # not hers to see


def test_completion_assigned_only_counts_tasks_a_manager_gave(both: Org) -> None:
    org = both
    org.task("Ann", "from Bei, done", sh(WED, 8), by="Bei", done=True)
    org.task("Ann", "from Bei", sh(WED, 9), by="Bei")
    org.task("Ann", "own, done", sh(WED, 8, 30), done=True)
    org.task("Ann", "own", sh(WED, 9, 30))
    org.task("Al", "from Bei", sh(WED, 16), by="Bei")
    org.task("Al", "from the system", sh(WED, 16, 30), by="root")  # a sweep's to-do, say
    org.task("Al", "own", sh(WED, 17))
    completion = org.root.activities.completion
    assert table(org, completion("day", on=WED)) == [("Al", 3, 0, 0), ("Ann", 4, 2, 2)]
    assigned = completion("day", on=WED, assigned_only=True)
    assert table(org, assigned) == [("Al", 1, 0, 0), ("Ann", 2, 1, 1)]
    bei = org.api("Bei").activities
    assert table(org, bei.completion("week", on=WED, assigned_only=True)) == table(org, assigned)


def test_task_completion_rate() -> None:
    none_due = pycrm.TaskCompletion(owner_id=None, due=0, done=0, overdue=0)
    assert none_due.rate == 1.0
    assert pycrm.TaskCompletion(owner_id=None, due=4, done=3, overdue=1).rate == 0.75
    assert pycrm.TaskCompletion(owner_id=None, due=3, done=0, overdue=3).rate == 0.0


def _seed_completion(org: Org) -> None:
    """Tasks across both branches over three weeks, some assigned, some done."""
    days = (SUN, MON, WED, NEXT_SUN, D(2026, 2, 1))
    for rep, manager in (("Ann", "Bei"), ("Al", "Bei"), ("Bo", "Nan")):
        for number, day in enumerate(days):
            org.task(rep, f"{rep} {number}a", sh(day, 23, 30), by=manager, done=number % 2 == 0)
            org.task(rep, f"{rep} {number}b", sh(day, 0, 15), done=number % 3 == 0)
        org.task(rep, f"{rep} call", sh(WED, 12), type="call")  # not a task: never counted


def test_completion_gives_the_same_rows_on_memory_and_sqlite(
    clock: pycrm.FixedClock, sqlite_url: str
) -> None:
    calls: list[tuple[str, dt.date, str | None, bool]] = [
        (period, day, department, assigned)
        for period in ("day", "week", "month")
        for day in (MON, WED, D(2026, 2, 1))
        for department in (None, "north", "south")
        for assigned in (False, True)
    ]
    found = []
    for url in ("memory://", sqlite_url):
        org = make_org(url, clock)
        try:
            _seed_completion(org)
            completion = org.root.activities.completion
            found.append(
                [
                    table(
                        org,
                        completion(
                            period,  # type: ignore[arg-type]
                            on=day,
                            department_id=org[department] if department else None,
                            assigned_only=assigned,
                        ),
                    )
                    for period, day, department, assigned in calls
                ]
            )
        finally:
            org.crm.close()
    memory, sqlite = found
    assert memory == sqlite
    by_call = dict(zip(calls, memory, strict=True))
    assert by_call["day", MON, None, False] == [("Al", 2, 0, 2), ("Ann", 2, 0, 2), ("Bo", 2, 0, 2)]
    assert by_call["day", WED, "south", True] == [("Bo", 1, 1, 0)]
    # Monday, Wednesday and the next Sunday: six tasks each, two done, three open and late.
    assert by_call["week", WED, "north", False] == [("Al", 6, 2, 3), ("Ann", 6, 2, 3)]
    assert by_call["week", WED, "north", True] == [("Al", 3, 1, 1), ("Ann", 3, 1, 1)]
    assert by_call["month", WED, "south", False] == [("Bo", 8, 4, 3)]  # Sunday 11th too
    everyone = [("Al", 1, 1, 0), ("Ann", 1, 1, 0), ("Bo", 1, 1, 0)]
    assert by_call["month", D(2026, 2, 1), None, True] == everyone


# -- the agenda -------------------------------------------------------------------------------
def _seed_agenda(org: Org) -> None:
    """What Ann (and, to tell apart, Al) have on around Wednesday."""
    root = org.root
    # Tasks.
    org.task("Ann", "overdue Monday", sh(MON, 9), by="Bei")
    org.task("Ann", "tonight", sh(WED, 23, 30))
    org.task("Ann", "call today", sh(WED, 11), type="call")
    org.task("Ann", "Thursday 00:30", sh(THU, 0, 30))
    org.task("Ann", "done today", sh(WED, 8), done=True)
    org.task("Ann", "undated")
    org.task("Al", "Al's today", sh(WED, 9))
    # Deals: Ann's old one is stale; a new one and a lost one are not.
    org.api("Ann").opportunities.create(customer_id=org["Ann_customer"], name="fresh deal")
    org.clock.set(LONG_AGO)
    lost = root.opportunities.create(
        customer_id=org["Ann_customer"], name="lost deal", owner_id=org["Ann"]
    )
    org.clock.set(NOW)
    root.opportunities.lose(lost.id, reason="price")
    # Installments: Ann's order, 100.00 due on the 6th (paid), 13th, 14th and 15th; Al's
    # order, due on the 14th.
    for rep, due_dates in (("Ann", [D(2026, 1, 6), TUE, WED, THU]), ("Al", [WED])):
        total = Money(f"{100 * len(due_dates)}.00", "CNY")
        order = root.orders.create(
            customer_id=org[f"{rep}_customer"],
            owner_id=org[rep],
            currency="CNY",
            lines=[{"description": "slot", "quantity": 1, "unit_price": total}],
        )
        root.orders.confirm(order.id)
        plan = root.payment_plans.plan_for_order(order.id, due_dates=due_dates)
        if rep == "Ann":
            root.payments.record(plan.id, Money("100.00", "CNY"), received_on=D(2026, 1, 6))
    # Birthdays.
    for name, born in (("Wen", D(1980, 1, 14)), ("Thu", D(1981, 1, 15)), ("Nobody", None)):
        root.contacts.create(customer_id=org["Ann_customer"], name=name, birthday=born)
    root.contacts.create(customer_id=org["Al_customer"], name="Al's Wen", birthday=D(1985, 1, 14))
    # Tickets on a Shanghai business calendar (Monday to Friday, 09:00–18:00): the first
    # response within 4 business hours, the resolution within 2 days (18 hours).
    root.configuration.set_calendar(
        pycrm.BusinessCalendar(key="default", time_zone="Asia/Shanghai")
    )
    root.configuration.set_sla_policy(
        pycrm.SlaPolicy(key="p", first_response="4h", resolution="2d")
    )
    tickets = org.api("Ann").tickets

    def ticket(subject: str, rep: str | None = "Ann") -> pycrm.Ticket:
        """A ticket a rep opens for their customer and takes on (``rep``: None, nobody)."""
        opener = rep or "Ann"
        return org.api(opener).tickets.create(
            customer_id=org[f"{opener}_customer"],
            subject=subject,
            assignee_id=org[rep] if rep else None,
        )

    org.clock.set(sh(MON, 10))
    working = ticket("resolution due Wed 10:00")  # responded Monday; resolution due today
    tickets.start(working.id)
    tickets.respond(working.id, note="on it")
    waiting = ticket("waiting on the customer")
    tickets.start(waiting.id)
    tickets.wait(waiting.id)
    resolved = ticket("resolved")
    tickets.start(resolved.id)
    tickets.resolve(resolved.id, resolution="fixed")
    ticket("Al's ticket", "Al")
    ticket("nobody's ticket", None)
    org.clock.set(NOW)
    ticket("respond by Wed 14:00")
    org.clock.set(sh(WED, 14, 45))
    ticket("warned Wed 17:45")  # to respond by 09:45 on Thursday: only its warning is today
    org.clock.set(sh(WED, 17, 30))
    ticket("respond by Thu 12:30")  # its first warning is at 11:30 on Thursday


@pytest.fixture(scope="module", params=["memory", "sqlite"])
def seeded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Org]:
    """The organisation with :func:`_seed_agenda`'s records, made once per backend for the
    tests that only read agendas (the clock stays at 17:30 on Wednesday)."""
    url = "memory://"
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("agenda") / "crm.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
    made = make_org(url, pycrm.FixedClock(NOW))
    _seed_agenda(made)
    yield made
    made.crm.close()


def _agenda_of(agenda: pycrm.Agenda) -> dict[str, Any]:
    return {
        "tasks": subjects(agenda.tasks),
        "tickets": [t.subject for t in agenda.tickets],
        "stale_deals": [d.name for d in agenda.stale_deals],
        "installments": [i.due_on for i in agenda.installments],
        "birthdays": [c.name for c in agenda.birthdays],
    }


ANNS_WEDNESDAY = {
    "tasks": ["overdue Monday", "call today", "tonight"],
    # By resolution deadline: Wednesday 10:00, Friday 10:00, Friday 14:45.
    "tickets": ["resolution due Wed 10:00", "respond by Wed 14:00", "warned Wed 17:45"],
    "stale_deals": ["Ann's deal"],
    "installments": [TUE, WED],
    "birthdays": ["Wen"],
}


def test_a_reps_agenda_gathers_what_they_have_to_follow_up_that_day(seeded: Org) -> None:
    org = seeded
    wednesday = org.api("Ann").activities.agenda(on=WED)
    assert (wednesday.user_id, wednesday.day) == (org["Ann"], WED)
    assert _agenda_of(wednesday) == ANNS_WEDNESDAY
    [overdue, due] = wednesday.installments
    assert (overdue.days_overdue, overdue.left, due.days_overdue) == (1, Money("100.00", "CNY"), 0)
    assert {i.owner_id for i in wednesday.installments} == {org["Ann"]}


def test_the_agenda_of_another_day_takes_that_days_end(seeded: Org) -> None:
    org = seeded
    thursday = org.api("Ann").activities.agenda(on=THU)
    assert _agenda_of(thursday) == {
        "tasks": ["overdue Monday", "call today", "tonight", "Thursday 00:30"],
        "tickets": [
            "resolution due Wed 10:00",
            "respond by Wed 14:00",
            "warned Wed 17:45",
            "respond by Thu 12:30",
        ],
        "stale_deals": ["Ann's deal"],
        "installments": [TUE, WED, THU],
        "birthdays": ["Thu"],
    }
    tuesday = _agenda_of(org.api("Ann").activities.agenda(on=TUE))
    assert tuesday["tasks"] == ["overdue Monday"]
    assert tuesday["installments"] == [TUE]
    assert tuesday["birthdays"] == []


def test_the_agenda_is_the_acting_users_today_in_the_tenants_time_zone(org: Org) -> None:
    _seed_agenda(org)
    org.clock.set(sh(WED, 0, 30))  # Tuesday 16:30 in UTC
    today = org.api("Ann").activities.agenda()
    assert (today.user_id, today.day) == (org["Ann"], WED)
    assert _agenda_of(today) == ANNS_WEDNESDAY
    assert subjects(org.api("Al").activities.agenda().tasks) == ["Al's today"]


def test_a_manager_sees_a_subordinates_agenda_and_a_colleague_nothing(seeded: Org) -> None:
    org = seeded
    for manager in ("Bei", "GM"):
        seen = org.api(manager).activities.agenda(user_id=org["Ann"], on=WED)
        assert (seen.user_id, seen.day) == (org["Ann"], WED)
        assert _agenda_of(seen) == ANNS_WEDNESDAY, manager
    for outsider in ("Al", "Nan", "Bo"):
        hidden = org.api(outsider).activities.agenda(user_id=org["Ann"], on=WED)
        assert hidden.user_id == org["Ann"]
        assert _agenda_of(hidden) == {part: [] for part in ANNS_WEDNESDAY}, outsider


def test_birthdays_on_29_february_come_on_28_february_in_other_years(org: Org) -> None:
    contacts = org.api("Ann").contacts
    for name, born in (
        ("Leap", D(1992, 2, 29)),
        ("Feb 28", D(1990, 2, 28)),
        ("Mar 1", D(1990, 3, 1)),
    ):
        contacts.create(customer_id=org["Ann_customer"], name=name, birthday=born)

    def born_on(day: dt.date) -> list[str]:
        return [c.name for c in org.api("Ann").activities.agenda(on=day).birthdays]

    assert born_on(D(2027, 2, 28)) == ["Feb 28", "Leap"]
    assert born_on(D(2027, 3, 1)) == ["Mar 1"]
    assert born_on(D(2028, 2, 28)) == ["Feb 28"]
    assert born_on(D(2028, 2, 29)) == ["Leap"]
    assert born_on(D(2028, 3, 1)) == ["Mar 1"]
    assert born_on(D(2100, 2, 28)) == ["Feb 28", "Leap"]  # 2100 is no leap year
    assert born_on(D(2000, 2, 28)) == ["Feb 28"]  # 2000 is one


def test_a_responded_ticket_leaves_the_agenda_until_its_resolution_is_near(org: Org) -> None:
    root = org.root
    root.configuration.set_calendar(
        pycrm.BusinessCalendar(key="default", time_zone="Asia/Shanghai")
    )
    root.configuration.set_sla_policy(
        pycrm.SlaPolicy(key="p", first_response="4h", resolution="5d")
    )
    ticket = root.tickets.create(
        customer_id=org["Ann_customer"], subject="slow printer", assignee_id=org["Ann"]
    )
    assert ticket.respond_by == sh(WED, 14)
    ann = org.api("Ann")
    assert [t.subject for t in ann.activities.agenda(on=WED).tickets] == ["slow printer"]
    org.clock.set(sh(WED, 10, 30))
    ann.tickets.respond(ticket.id, note="called back")
    # Resolution is due next Wednesday (warning at 09:00 that day): nothing due tomorrow.
    assert ann.activities.agenda(on=THU).tickets == []
