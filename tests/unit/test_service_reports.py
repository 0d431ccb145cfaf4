"""The service desk's report (``uow.tickets.report``) and the tickets' subtotals: the same
tickets give the same rows on the memory backend and on SQLite, per agent, per team and
for all; one hand-computed week; and a property test of random ticket histories.

The desk: ``default`` calendar Monday to Friday 09:00–18:00 in Asia/Shanghai; policy
``fast`` (first response 1h, resolution 4h) covers every high or urgent ticket, policy
``std`` (2h, 1d) normal ones; nothing covers low ones. Agents Ann and Al in East, Bo in
West. Rows are compared by the names of their agents or teams, as ids differ between
the two databases.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import pycrm
from pycrm import SYSTEM_USER

SHANGHAI = ZoneInfo("Asia/Shanghai")
AGENTS = ("Ann", "Al", "Bo")
TEAMS = {"Ann": "East", "Al": "East", "Bo": "West"}
BACKENDS = ("memory", "sqlite")
By = Literal["agent", "team", "all"]


def sh(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """A moment of March 2026, Shanghai time (the 16th is a Monday)."""
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=SHANGHAI)


WEEK = (sh(16, 0), sh(21, 0))  # Monday to Saturday


class Desk:
    """One tenant of one CRM, with its agents and teams by name."""

    def __init__(self, crm: pycrm.CRM, clock: pycrm.FixedClock, tenant: str) -> None:
        self.crm, self.clock, self.tenant = crm, clock, tenant
        self.api = crm.as_user(SYSTEM_USER, tenant=tenant)
        self.ids: dict[str, uuid.UUID] = {}
        self.tickets: dict[str, uuid.UUID] = {}  # by subject
        clock.set(sh(2, 9))
        config = self.api.configuration
        config.set_calendar(pycrm.BusinessCalendar(key="default", time_zone="Asia/Shanghai"))
        config.set_sla_policy(
            pycrm.SlaPolicy(
                key="fast", first_response="1h", resolution="4h", priorities=["high", "urgent"]
            )
        )
        config.set_sla_policy(
            pycrm.SlaPolicy(key="std", first_response="2h", resolution="1d", priorities=["normal"])
        )
        for team in ("East", "West"):
            self.ids[team] = self.api.departments.create(name=team).id
        for agent in AGENTS:
            self.ids[agent] = self.api.users.create(
                name=agent, department_id=self.ids[TEAMS[agent]], roles=["service_agent"]
            ).id
        self.ids["ACME"] = self.api.customers.create(name="ACME").id
        self.names = {v: k for k, v in self.ids.items()}

    def open(self, subject: str, agent: str, **fields: Any) -> None:
        ticket = self.api.tickets.create(
            customer_id=self.ids["ACME"], subject=subject, assignee_id=self.ids[agent], **fields
        )
        self.tickets[subject] = ticket.id

    def do(self, subject: str, action: str, score: int = 5) -> None:
        tickets, tid = self.api.tickets, self.tickets[subject]
        calls: dict[str, Callable[[], object]] = {
            "start": lambda: tickets.start(tid),
            "respond": lambda: tickets.respond(tid, note="called back"),
            "wait": lambda: tickets.wait(tid),
            "resume": lambda: tickets.resume(tid),
            "resolve": lambda: tickets.resolve(tid, resolution="fixed"),
            "close": lambda: tickets.close(tid),
            "reopen": lambda: tickets.reopen(tid),
            "survey": lambda: tickets.survey(tid, score=score),
        }
        calls[action]()

    def report(self, by: By, start: dt.datetime = WEEK[0], end: dt.datetime = WEEK[1]) -> Any:
        """The report's rows as plain data, keyed by agent or team name."""
        report = self.api.tickets.report(start=start, end=end, by=by)
        assert (report.start, report.end, report.by) == (start, end, by)
        rows = {}
        for row in report.rows:
            name = None if row.key is None else self.names[row.key]
            rows[name] = row.model_dump(exclude={"key"})
        assert len(rows) == len(report.rows)
        return rows

    def subtotals(self) -> list[tuple[tuple[tuple[str, Any], ...], int]]:
        groups = self.api.tickets.subtotals(["type", "channel", "priority"])
        return sorted((tuple(sorted(g.key.items())), g.count) for g in groups)

    def states(self) -> list[tuple[Any, ...]]:
        """What each ticket ended as, by subject."""
        found = []
        for subject, tid in sorted(self.tickets.items()):
            t = self.api.tickets.get(tid)
            found.append(
                (
                    subject,
                    t.status,
                    None if t.assignee_id is None else self.names[t.assignee_id],
                    t.respond_by,
                    t.due_at,
                    t.responded_at,
                    t.response_minutes,
                    t.response_breached,
                    t.resolved_at,
                    t.resolution_minutes,
                    t.resolution_breached,
                    t.paused_minutes,
                    t.satisfaction,
                )
            )
        return found


def connect(backend: str, clock: pycrm.FixedClock, sqlite_url: Callable[[], str]) -> pycrm.CRM:
    url = "memory://" if backend == "memory" else sqlite_url()
    settings = pycrm.Settings(auto_migrate=True)
    return pycrm.CRM.connect(url, clock=clock, settings=settings, load_entry_points=False)


@contextlib.contextmanager
def scratch(fallback: Path) -> Iterator[Path]:
    """A directory for SQLite files: in RAM (/dev/shm) where there is one, as disk syncs
    would make up most of these tests' time; else ``fallback``."""
    shm = Path("/dev/shm")
    if not shm.is_dir():
        yield fallback
        return
    path = Path(tempfile.mkdtemp(prefix="pycrm-test-", dir=shm))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def copy_of(template: Path, directory: Path) -> Callable[[], str]:
    """The URL of a fresh copy of the migrated template database, in ``directory``."""

    def sqlite_url() -> str:
        path = directory / "crm.db"
        shutil.copyfile(template, path)
        return f"sqlite:///{path}"

    return sqlite_url


@pytest.fixture
def desks(
    clock: pycrm.FixedClock, sqlite_template: Path, tmp_path: Path
) -> Iterator[dict[str, Desk]]:
    """The same desk on each backend (tenant "t")."""
    with scratch(tmp_path) as directory:
        crms = {b: connect(b, clock, copy_of(sqlite_template, directory)) for b in BACKENDS}
        yield {backend: Desk(crm, clock, "t") for backend, crm in crms.items()}
        for crm in crms.values():
            crm.close()


# -- one hand-computed week ----------------------------------------------------------------
#: Every ticket is opened on Monday 2026-03-16 at 09:00, for an agent; then, in time order:
WEEK_STEPS: list[tuple[dt.datetime, str, str, int]] = [
    (sh(16, 9), "T1", "start", 0),
    (sh(16, 9), "T2", "start", 0),
    (sh(16, 9), "T3", "start", 0),
    (sh(16, 9), "T4", "start", 0),
    (sh(16, 9, 10), "T4", "respond", 0),  # Bo: 10 minutes, met (fast: 10:00)
    (sh(16, 9, 30), "T1", "respond", 0),  # Ann: 30 minutes, met (fast: 10:00)
    (sh(16, 9, 45), "T3", "respond", 0),  # Al: 45 minutes, met (std: 11:00)
    (sh(16, 10), "T3", "wait", 0),
    (sh(16, 10, 30), "T2", "respond", 0),  # Ann: 90 minutes, breached (fast: 10:00)
    (sh(16, 11), "T1", "resolve", 0),  # Ann: 120 minutes, met (13:00)
    (sh(16, 12), "T3", "resume", 0),  # Al waited 2h: due Tue 09:00 + 2h = Tue 11:00
    (sh(16, 14), "T2", "resolve", 0),  # Ann: 300 minutes, breached (13:00)
    (sh(16, 14, 30), "T3", "resolve", 0),  # Al: 330 − 120 = 210 minutes, met
    (sh(16, 15), "T1", "survey", 5),
    (sh(16, 15), "T2", "survey", 3),
    (sh(16, 15), "T3", "survey", 4),
]
#: subject: (agent, type, channel, priority)
WEEK_TICKETS = {
    "T1": ("Ann", "complaint", "phone", "high"),
    "T2": ("Ann", "support", "email", "urgent"),
    "T3": ("Al", "consultation", "chat", "normal"),
    "T4": ("Bo", "complaint", "web", "high"),
    "T5": ("Bo", "suggestion", "phone", "normal"),  # never responded to
}


def the_week(desk: Desk) -> Desk:
    desk.clock.set(sh(16, 9))
    for subject, (agent, type_, channel, priority) in WEEK_TICKETS.items():
        desk.open(subject, agent, type=type_, channel=channel, priority=priority)
    for when, subject, action, score in WEEK_STEPS:
        desk.clock.set(when)
        desk.do(subject, action, score)
    return desk


def row(**values: Any) -> dict[str, Any]:
    base: dict[str, Any] = dict.fromkeys(
        (
            "responded",
            "response_met",
            "response_minutes",
            "resolved",
            "resolution_met",
            "resolution_minutes",
            "surveyed",
            "satisfaction_points",
        ),
        0,
    )
    base["scores"] = {}
    # Every ticket of the week has an SLA policy: each response and resolution had a target.
    base["response_targets"] = values.get("responded", 0)
    base["resolution_targets"] = values.get("resolved", 0)
    return base | values


ANN = row(
    responded=2,
    response_met=1,
    response_minutes=120,
    resolved=2,
    resolution_met=1,
    resolution_minutes=420,
    surveyed=2,
    satisfaction_points=8,
    scores={"3": 1, "5": 1},
)
AL = row(
    responded=1,
    response_met=1,
    response_minutes=45,
    resolved=1,
    resolution_met=1,
    resolution_minutes=210,
    surveyed=1,
    satisfaction_points=4,
    scores={"4": 1},
)
BO = row(responded=1, response_met=1, response_minutes=10)
EAST = row(
    responded=3,
    response_met=2,
    response_minutes=165,
    resolved=3,
    resolution_met=2,
    resolution_minutes=630,
    surveyed=3,
    satisfaction_points=12,
    scores={"3": 1, "4": 1, "5": 1},
)
ALL = row(
    responded=4,
    response_met=3,
    response_minutes=175,
    resolved=3,
    resolution_met=2,
    resolution_minutes=630,
    surveyed=3,
    satisfaction_points=12,
    scores={"3": 1, "4": 1, "5": 1},
)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_week_in_numbers(desks: dict[str, Desk], backend: str) -> None:
    desk = the_week(desks[backend])
    assert desk.report("agent") == {"Ann": ANN, "Al": AL, "Bo": BO}
    assert desk.report("team") == {"East": EAST, "West": BO}
    assert desk.report("all") == {None: ALL}


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_averages_and_shares_of_a_row(desks: dict[str, Desk], backend: str) -> None:
    desk = the_week(desks[backend])
    report = desk.api.tickets.report(start=WEEK[0], end=WEEK[1], by="all")
    (everyone,) = report.rows
    assert everyone.key is None
    assert everyone.response_attainment == 3 / 4
    assert everyone.resolution_attainment == 2 / 3
    assert everyone.average_response_minutes == 175 / 4
    assert everyone.average_resolution_minutes == 630 / 3
    assert everyone.average_satisfaction == 4
    rows = {r.key: r for r in desk.api.tickets.report(start=WEEK[0], end=WEEK[1]).rows}
    ann, bo = rows[desk.ids["Ann"]], rows[desk.ids["Bo"]]
    assert (ann.response_attainment, ann.average_satisfaction) == (0.5, 4)
    assert (bo.resolution_attainment, bo.average_satisfaction) == (None, None)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_period_counts_what_happened_in_it(desks: dict[str, Desk], backend: str) -> None:
    desk = the_week(desks[backend])
    # Before 09:45: the first responses of T4 and T1 (T3's, at the end, is not included).
    morning = desk.report("all", sh(16, 0), sh(16, 9, 45))
    assert morning == {None: row(responded=2, response_met=2, response_minutes=40)}
    # From 11:00 to 14:00: T1's resolution; T2's (14:00) is not in it.
    midday = desk.report("agent", sh(16, 11), sh(16, 14))
    assert midday == {"Ann": row(resolved=1, resolution_met=1, resolution_minutes=120)}
    # From 14:00: T2's and T3's resolutions, and the surveys.
    afternoon = desk.report("team", sh(16, 14), sh(16, 16))
    assert afternoon == {
        "East": row(
            resolved=2,
            resolution_met=1,
            resolution_minutes=510,
            surveyed=3,
            satisfaction_points=12,
            scores={"3": 1, "4": 1, "5": 1},
        )
    }
    # A week later nothing happened.
    assert desk.report("agent", sh(23, 0), sh(28, 0)) == {}


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_reopened_ticket_leaves_the_resolutions(desks: dict[str, Desk], backend: str) -> None:
    desk = the_week(desks[backend])
    desk.clock.set(sh(17, 9))
    desk.do("T1", "reopen")
    ann = desk.report("agent")["Ann"]
    assert (ann["resolved"], ann["resolution_minutes"]) == (1, 300)


@pytest.mark.parametrize("by", ["agent", "team", "all"])
def test_both_backends_give_the_same_report(desks: dict[str, Desk], by: By) -> None:
    reports = {backend: the_week(desk).report(by) for backend, desk in desks.items()}
    assert reports["memory"] == reports["sqlite"]
    assert reports["memory"]  # not vacuously


def test_both_backends_give_the_same_subtotals(desks: dict[str, Desk]) -> None:
    subtotals = {backend: the_week(desk).subtotals() for backend, desk in desks.items()}
    assert subtotals["memory"] == subtotals["sqlite"]
    key = (("channel", "phone"), ("priority", "high"), ("type", "complaint"))
    assert (key, 1) in subtotals["memory"]
    assert sum(count for _, count in subtotals["memory"]) == len(WEEK_TICKETS)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_period_must_end_after_it_starts(desks: dict[str, Desk], backend: str) -> None:
    with pytest.raises(pycrm.ValidationError):
        desks[backend].api.tickets.report(start=WEEK[1], end=WEEK[0])
    with pytest.raises(pycrm.ValidationError):
        desks[backend].api.tickets.report(start=WEEK[0], end=WEEK[0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_responses_without_a_deadline_do_not_count_as_met(
    desks: dict[str, Desk], backend: str
) -> None:
    desk = desks[backend]
    desk.clock.set(sh(16, 9))
    desk.open("no policy", "Ann", priority="low")
    desk.do("no policy", "start")
    desk.clock.set(sh(16, 10))
    desk.do("no policy", "resolve")
    (everyone,) = desk.api.tickets.report(start=WEEK[0], end=WEEK[1], by="all").rows
    assert everyone.responded == everyone.resolved == 1  # they count for the averages
    assert everyone.response_attainment is None
    assert everyone.resolution_attainment is None


# -- random histories ----------------------------------------------------------------------
ACTIONS = ("start", "respond", "wait", "resume", "resolve", "close", "reopen", "survey")
#: What a history mostly does next in each status (else any action, which may be refused).
LIKELY = {
    "assigned": ("start", "respond"),
    "in_progress": ("respond", "wait", "resolve", "resolve"),
    "waiting": ("resume", "resolve", "respond"),
    "resolved": ("survey", "close", "reopen"),
    "closed": ("survey", "reopen"),
}

tickets_strategy = st.lists(
    st.tuples(
        st.sampled_from(AGENTS),
        st.sampled_from(["consultation", "complaint", "support", "suggestion"]),
        st.sampled_from(["phone", "email", "chat"]),
        st.sampled_from(["low", "normal", "high"]),
    ),
    min_size=1,
    max_size=4,
)
steps_strategy = st.lists(
    st.tuples(
        st.integers(0, 3),  # which ticket (modulo how many)
        st.integers(0, 99),  # < 80: a likely action, else any action
        st.integers(0, 2 * 24 * 60).map(lambda m: m - m % 15),  # minutes later
        st.integers(1, 5),  # a survey's score
    ),
    max_size=16,
)


def memory_status(desk: Desk, subject: str) -> str:
    return str(desk.api.tickets.get(desk.tickets[subject]).status)


@pytest.fixture(scope="module")
def pair(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[pycrm.FixedClock, dict[str, pycrm.CRM]]]:
    """One CRM per backend for the whole property test; each example uses a new tenant."""
    clock = pycrm.FixedClock(sh(2, 9))
    with scratch(tmp_path_factory.mktemp("service")) as directory:
        crms = {b: connect(b, clock, copy_of(sqlite_template, directory)) for b in BACKENDS}
        yield clock, crms
        for crm in crms.values():
            crm.close()


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(tickets=tickets_strategy, steps=steps_strategy, split=st.integers(0, 100))
def test_random_histories_give_the_same_report_on_every_backend(
    pair: tuple[pycrm.FixedClock, dict[str, pycrm.CRM]],
    tickets: list[tuple[str, str, str, str]],
    steps: list[tuple[int, int, int, int]],
    split: int,
) -> None:
    clock, crms = pair
    tenant = f"h{uuid.uuid4().hex[:12]}"
    desks = {backend: Desk(crm, clock, tenant) for backend, crm in crms.items()}
    opened = sh(13, 16)  # a Friday afternoon: histories run over the weekend
    clock.set(opened)
    for number, (agent, type_, channel, priority) in enumerate(tickets):
        for desk in desks.values():
            desk.open(f"T{number}", agent, type=type_, channel=channel, priority=priority)
    for which, choice, later, score in steps:
        clock.advance(minutes=later)
        subject = f"T{which % len(tickets)}"
        status = memory_status(desks["memory"], subject)
        likely = LIKELY[status] if choice < 80 else ACTIONS
        action = likely[choice % len(likely)]
        outcomes: list[str | None] = []
        for desk in desks.values():
            try:
                desk.do(subject, action, score)
                outcomes.append("done")
            except pycrm.RuleViolation as refused:
                outcomes.append(refused.rule)
        assert outcomes[0] == outcomes[1], (action, outcomes)
    memory, sqlite = desks["memory"], desks["sqlite"]
    assert memory.states() == sqlite.states()
    end = clock.now() + dt.timedelta(minutes=1)
    middle = opened + (end - opened) * split / 100
    for start, finish in ((opened, end), (middle, end + dt.timedelta(days=1))):
        bys: tuple[By, ...] = ("agent", "team", "all")
        for by in bys:
            assert memory.report(by, start, finish) == sqlite.report(by, start, finish), by
    assert memory.subtotals() == sqlite.subtotals()
    (everyone,) = memory.report("all", opened, end).values() or [{}]
    for counted in ("responded", "resolved", "surveyed"):
        event(f"{counted}: {bool(everyone.get(counted))}")
