"""Service tickets: SLA deadlines on the tenant's business calendar (the acceptance case of
the issue, on the memory backend and on SQLite), the workflow and its refusals, the moves
log, the reopen window, first responses and resolution times, re-prioritising, the
assignment rules for tickets, and the satisfaction survey.

The desk: the tenant's ``default`` calendar is Monday to Friday 09:00–18:00 in
Asia/Shanghai; policy ``vip`` (first response 4h, resolution 2d) covers high-priority
complaints, policy ``std`` (8h, 3d) normal-priority tickets of any type; nothing covers
low or urgent tickets. Service agents: Ann and Al in Support, Bo in Field, and Gone
(deactivated) in Support. The customer ACME is owned by Bo; Pooled is in the public pool
(no owner). Friday 2026-03-13 is the day the tickets of most tests are opened.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import pycrm
from pycrm import SYSTEM_USER, TicketStatus

TENANT = "t"
SHANGHAI = ZoneInfo("Asia/Shanghai")

NEW = TicketStatus.NEW
ASSIGNED = TicketStatus.ASSIGNED
IN_PROGRESS = TicketStatus.IN_PROGRESS
WAITING = TicketStatus.WAITING
RESOLVED = TicketStatus.RESOLVED
CLOSED = TicketStatus.CLOSED


def sh(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """A moment of March 2026, Shanghai time (the 13th is a Friday)."""
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=SHANGHAI)


FRIDAY_5PM = sh(13, 17)


class Desk:
    """One tenant's service desk: the services acting as the system, the clock, the ids."""

    def __init__(self, crm: pycrm.CRM, clock: pycrm.FixedClock) -> None:
        self.crm, self.clock = crm, clock
        self.api = crm.as_user(SYSTEM_USER, tenant=TENANT)
        self.ids: dict[str, uuid.UUID] = {}

    def __getitem__(self, name: str) -> uuid.UUID:
        return self.ids[name]

    @property
    def tickets(self) -> pycrm.TicketService:
        return self.api.tickets

    def at(self, when: dt.datetime) -> None:
        self.clock.set(when)

    def calendar(self, **options: Any) -> None:
        calendar = pycrm.BusinessCalendar(key="default", time_zone="Asia/Shanghai", **options)
        self.api.configuration.set_calendar(calendar)

    def open(self, **fields: Any) -> pycrm.Ticket:
        fields.setdefault("customer_id", self["ACME"])
        fields.setdefault("subject", "The printer smokes")
        return self.tickets.create(**fields)

    def get(self, ticket_id: uuid.UUID) -> pycrm.Ticket:
        return self.tickets.get(ticket_id)

    def moves(self, ticket_id: uuid.UUID) -> list[tuple[str | None, str]]:
        return [(m.from_status, m.to_status) for m in self.tickets.moves(ticket_id)]


def make_desk(crm: pycrm.CRM, clock: pycrm.FixedClock) -> Desk:
    desk = Desk(crm, clock)
    desk.at(sh(2, 9))  # set up the month before the tickets
    api = desk.api
    desk.calendar()
    api.configuration.set_sla_policy(
        pycrm.SlaPolicy(
            key="vip",
            first_response="4h",
            resolution="2d",
            types=["complaint"],
            priorities=["high"],
            rank=10,
        )
    )
    api.configuration.set_sla_policy(
        pycrm.SlaPolicy(key="std", first_response="8h", resolution="3d", priorities=["normal"])
    )
    support = api.departments.create(name="Support")
    field = api.departments.create(name="Field")
    desk.ids.update(support=support.id, field=field.id)
    for name, department in (("Ann", support), ("Al", support), ("Bo", field)):
        desk.ids[name] = api.users.create(
            name=name, department_id=department.id, roles=["service_agent"]
        ).id
    desk.ids["Gone"] = api.users.create(
        name="Gone", department_id=support.id, roles=["service_agent"], active=False
    ).id
    desk.ids["ACME"] = api.customers.create(name="ACME", owner_id=desk["Bo"]).id
    # A customer nobody owns: one in the public pool.
    api.configuration.set_pool(pycrm.Pool(key="pool", name="Pool"))
    pooled = api.customers.create(name="Pooled")
    desk.ids["Pooled"] = api.pools.release(pooled.id, reason="seed", pool="pool").id
    return desk


@pytest.fixture
def desk(crm: pycrm.CRM, clock: pycrm.FixedClock) -> Desk:
    return make_desk(crm, clock)


@pytest.fixture(params=["memory", "sqlite"])
def any_desk(request: pytest.FixtureRequest, clock: pycrm.FixedClock) -> Iterator[Desk]:
    url = "memory://" if request.param == "memory" else request.getfixturevalue("sqlite_url")
    settings = pycrm.Settings(auto_migrate=True)
    crm = pycrm.CRM.connect(url, clock=clock, settings=settings, load_entry_points=False)
    yield make_desk(crm, clock)
    crm.close()


def local(moment: dt.datetime | None) -> dt.datetime | None:
    return None if moment is None else moment.astimezone(SHANGHAI)


# -- the acceptance case of the issue ------------------------------------------------------
def test_a_friday_evening_complaint_is_due_on_monday_and_tuesday(any_desk: Desk) -> None:
    any_desk.at(FRIDAY_5PM)
    ticket = any_desk.open(type="complaint", priority="high", channel="phone")
    assert ticket.sla_policy == "vip"
    assert local(ticket.respond_by) == sh(16, 12)  # Fri 17–18 + Mon 09–12
    assert local(ticket.due_at) == sh(17, 17)  # 2 × 9h: Fri 1h, Mon 9h, Tue 8h
    stored = any_desk.get(ticket.id)  # and so it is stored
    assert (stored.respond_by, stored.due_at) == (ticket.respond_by, ticket.due_at)


def test_a_holiday_on_monday_moves_both_deadlines_a_day_on(any_desk: Desk) -> None:
    any_desk.calendar(holidays=["2026-03-16"])
    any_desk.at(FRIDAY_5PM)
    ticket = any_desk.open(type="complaint", priority="high")
    assert local(ticket.respond_by) == sh(17, 12)
    assert local(ticket.due_at) == sh(18, 17)


def test_waiting_on_the_customer_moves_the_deadlines_by_the_business_time_waited(
    any_desk: Desk,
) -> None:
    any_desk.at(FRIDAY_5PM)
    ticket = any_desk.open(type="complaint", priority="high")
    any_desk.tickets.assign(ticket.id, to=any_desk["Ann"])
    any_desk.tickets.start(ticket.id)
    any_desk.at(sh(16, 9))
    waiting = any_desk.tickets.wait(ticket.id, note="need the serial number")
    assert waiting.status == WAITING
    # While it waits the deadlines stay where they were; they move when it resumes.
    assert local(waiting.respond_by) == sh(16, 12)
    any_desk.at(sh(16, 12))
    resumed = any_desk.tickets.resume(ticket.id)
    assert resumed.status == IN_PROGRESS
    assert resumed.paused_minutes == 180
    assert local(resumed.respond_by) == sh(16, 15)
    assert local(resumed.due_at) == sh(18, 11)  # Tue 17:00 + 3h: Tue 17–18, Wed 09–11
    stored = any_desk.get(ticket.id)
    assert (local(stored.respond_by), local(stored.due_at)) == (sh(16, 15), sh(18, 11))


def test_waiting_over_a_weekend_costs_only_the_business_time(desk: Desk) -> None:
    desk.at(sh(13, 10))
    ticket = desk.open(type="complaint", priority="high", assignee_id=desk["Ann"])
    desk.tickets.start(ticket.id)
    desk.at(sh(13, 17))
    desk.tickets.wait(ticket.id)
    desk.at(sh(16, 10))  # Friday 17–18 and Monday 09–10: 2 business hours
    resumed = desk.tickets.resume(ticket.id)
    assert resumed.paused_minutes == 120
    # The first-response deadline had passed before the wait began: it stays passed.
    assert local(resumed.respond_by) == sh(13, 14)
    assert local(resumed.due_at) == sh(17, 12)  # Fri 10:00 + 18h = Tue 10:00, + 2h


# -- the workflow --------------------------------------------------------------------------
#: Where each workflow call may be made, and the status it leads to.
LEGAL: dict[TicketStatus, dict[str, TicketStatus]] = {
    NEW: {"assign": ASSIGNED},
    ASSIGNED: {"assign": ASSIGNED, "start": IN_PROGRESS},
    IN_PROGRESS: {"assign": IN_PROGRESS, "wait": WAITING, "resolve": RESOLVED},
    WAITING: {"assign": WAITING, "resume": IN_PROGRESS, "resolve": RESOLVED},
    RESOLVED: {"close": CLOSED, "reopen": IN_PROGRESS},
    CLOSED: {"reopen": IN_PROGRESS},
}
#: The statuses a refusal names as the ones the ticket may move to.
ALLOWED: dict[TicketStatus, set[str]] = {
    NEW: {"assigned"},
    ASSIGNED: {"in_progress"},
    IN_PROGRESS: {"waiting", "resolved"},
    WAITING: {"in_progress", "resolved"},
    RESOLVED: {"closed", "in_progress"},
    CLOSED: {"in_progress"},
}
CALLS: dict[str, Callable[[Desk, uuid.UUID], pycrm.Ticket]] = {
    "assign": lambda desk, tid: desk.tickets.assign(tid, to=desk["Al"]),
    "start": lambda desk, tid: desk.tickets.start(tid),
    "wait": lambda desk, tid: desk.tickets.wait(tid, note="waiting for photos"),
    "resume": lambda desk, tid: desk.tickets.resume(tid),
    "resolve": lambda desk, tid: desk.tickets.resolve(tid, resolution="replaced the fuser"),
    "close": lambda desk, tid: desk.tickets.close(tid),
    "reopen": lambda desk, tid: desk.tickets.reopen(tid, reason="smokes again"),
}
#: How to bring a new ticket to each status.
PATH: dict[TicketStatus, list[str]] = {
    NEW: [],
    ASSIGNED: ["assign"],
    IN_PROGRESS: ["assign", "start"],
    WAITING: ["assign", "start", "wait"],
    RESOLVED: ["assign", "start", "resolve"],
    CLOSED: ["assign", "start", "resolve", "close"],
}


def in_status(desk: Desk, status: TicketStatus) -> pycrm.Ticket:
    desk.at(sh(16, 9))
    ticket = desk.open(type="support", priority="normal")
    for step in PATH[status]:
        desk.clock.advance(minutes=10)
        ticket = CALLS[step](desk, ticket.id)
    assert ticket.status == status
    desk.clock.advance(minutes=10)
    return ticket


def illegal_pairs() -> list[Any]:
    pairs = []
    for status, legal in LEGAL.items():
        for call in CALLS:
            if call in legal:
                continue
            pairs.append(pytest.param(status, call, id=f"{call}-{status.value}"))
    return pairs


@pytest.mark.parametrize(("status", "call"), illegal_pairs())
def test_an_illegal_move_is_refused_naming_the_allowed_statuses(
    desk: Desk, status: TicketStatus, call: str
) -> None:
    ticket = in_status(desk, status)
    moves = desk.tickets.moves(ticket.id)
    with pytest.raises(pycrm.RuleViolation) as refused:
        CALLS[call](desk, ticket.id)
    assert refused.value.rule == "ticket.workflow"
    for allowed in ALLOWED[status]:
        assert allowed in str(refused.value)
    after = desk.get(ticket.id)
    assert (after.status, after.version, after.assignee_id) == (
        status,
        ticket.version,
        ticket.assignee_id,
    )
    assert (after.respond_by, after.due_at, after.paused_minutes) == (
        ticket.respond_by,
        ticket.due_at,
        ticket.paused_minutes,
    )
    assert desk.tickets.moves(ticket.id) == moves


@pytest.mark.parametrize("call", ["start", "resume"])
def test_a_done_ticket_cannot_be_brought_back_after_the_reopen_window(
    desk: Desk, call: str
) -> None:
    ticket = in_status(desk, RESOLVED)
    desk.clock.advance(days=30)
    with pytest.raises(pycrm.RuleViolation):
        CALLS[call](desk, ticket.id)
    assert desk.get(ticket.id).status == RESOLVED


@pytest.mark.parametrize(
    ("status", "call"),
    [
        pytest.param(status, call, id=f"{call}-{status.value}")
        for status, legal in LEGAL.items()
        for call in legal
    ],
)
def test_a_legal_move_is_made_and_recorded(desk: Desk, status: TicketStatus, call: str) -> None:
    ticket = in_status(desk, status)
    before = desk.tickets.moves(ticket.id)
    moved = CALLS[call](desk, ticket.id)
    assert moved.status == LEGAL[status][call]
    assert moved.version == ticket.version + 1
    after = desk.tickets.moves(ticket.id)
    assert after[: len(before)] == before
    assert [(m.from_status, m.to_status) for m in after[len(before) :]] == [
        (status.value, LEGAL[status][call].value)
    ]
    assert after[-1].at == desk.clock.now()


def test_every_move_is_kept_in_order_with_who_had_the_ticket(desk: Desk) -> None:
    desk.at(sh(16, 9))
    ticket = desk.open(type="complaint", priority="high")
    steps: list[tuple[dt.datetime, Callable[[], object]]] = [
        (sh(16, 9, 5), lambda: desk.tickets.assign(ticket.id, to=desk["Ann"])),
        (sh(16, 9, 10), lambda: desk.tickets.assign(ticket.id, to=desk["Al"])),
        (sh(16, 9, 20), lambda: desk.tickets.start(ticket.id)),
        (sh(16, 9, 30), lambda: desk.tickets.respond(ticket.id, note="called back")),
        (sh(16, 10), lambda: desk.tickets.wait(ticket.id, note="need photos")),
        (sh(16, 11), lambda: desk.tickets.resume(ticket.id)),
        (sh(16, 12), lambda: desk.tickets.resolve(ticket.id, resolution="new fuser")),
        (sh(16, 13), lambda: desk.tickets.close(ticket.id)),
        (sh(17, 9), lambda: desk.tickets.reopen(ticket.id, reason="smokes again")),
        (sh(17, 10), lambda: desk.tickets.resolve(ticket.id, resolution="new printer")),
    ]
    for when, step in steps:
        desk.at(when)
        step()
    moves = desk.tickets.moves(ticket.id)
    assert [(m.from_status, m.to_status) for m in moves] == [
        (None, "new"),
        ("new", "assigned"),
        ("assigned", "assigned"),  # changed hands
        ("assigned", "in_progress"),
        ("in_progress", "in_progress"),  # the first response, with what was said
        ("in_progress", "waiting"),
        ("waiting", "in_progress"),
        ("in_progress", "resolved"),
        ("resolved", "closed"),
        ("closed", "in_progress"),
        ("in_progress", "resolved"),
    ]
    assert [local(m.at) for m in moves] == [sh(16, 9)] + [when for when, _ in steps]
    assert [m.assignee_id for m in moves] == [None, desk["Ann"]] + [desk["Al"]] * 9
    assert [m.note for m in moves][4:] == [
        "called back",
        "need photos",
        None,
        "new fuser",
        None,
        "smokes again",
        "new printer",
    ]
    assert all(m.ticket_id == ticket.id and m.moved_by == SYSTEM_USER for m in moves)


def test_a_ticket_opened_for_an_agent_starts_assigned(desk: Desk) -> None:
    ticket = desk.open(assignee_id=desk["Ann"])
    assert ticket.status == ASSIGNED
    assert desk.moves(ticket.id) == [(None, "new"), ("new", "assigned")]


def test_moves_made_by_an_agent_name_them(desk: Desk) -> None:
    ticket = desk.open(assignee_id=desk["Ann"])
    desk.crm.as_user(desk["Ann"], tenant=TENANT).tickets.start(ticket.id)
    assert desk.tickets.moves(ticket.id)[-1].moved_by == desk["Ann"]


@pytest.mark.parametrize(
    "changes",
    [{"status": "resolved"}, {"status": "new"}, {"assignee_id": "Al"}, {"status": "closed"}],
    ids=["status-resolved", "status-new", "assignee", "status-closed"],
)
def test_update_cannot_bypass_the_workflow(desk: Desk, changes: dict[str, str]) -> None:
    ticket = desk.open(assignee_id=desk["Ann"])
    values: dict[str, Any] = {k: desk[v] if k == "assignee_id" else v for k, v in changes.items()}
    with pytest.raises(pycrm.RuleViolation) as refused:
        desk.tickets.update(ticket.id, **values)
    assert refused.value.rule == "ticket.use_workflow"
    after = desk.get(ticket.id)
    assert (after.status, after.assignee_id, after.version) == (ASSIGNED, desk["Ann"], 1)
    assert desk.moves(ticket.id) == [(None, "new"), ("new", "assigned")]


def test_a_ticket_cannot_be_opened_in_another_status(desk: Desk) -> None:
    with pytest.raises(pycrm.RuleViolation) as refused:
        desk.open(status="resolved")
    assert refused.value.rule == "ticket.use_workflow"
    assert desk.tickets.count() == 0


def test_assigning_to_a_deactivated_agent_is_refused(desk: Desk) -> None:
    ticket = desk.open()
    with pytest.raises(pycrm.RuleViolation) as refused:
        desk.tickets.assign(ticket.id, to=desk["Gone"])
    assert refused.value.rule == "user.inactive"
    assert (desk.get(ticket.id).status, desk.get(ticket.id).assignee_id) == (NEW, None)


# -- reopening -----------------------------------------------------------------------------
def resolved_on_monday(desk: Desk) -> pycrm.Ticket:
    desk.at(sh(16, 9))
    ticket = desk.open(type="complaint", priority="high", assignee_id=desk["Ann"])
    desk.tickets.start(ticket.id)
    desk.at(sh(16, 10))
    return desk.tickets.resolve(ticket.id, resolution="fixed")


@pytest.mark.parametrize(
    "later", [dt.timedelta(hours=1), dt.timedelta(days=6), dt.timedelta(days=7)]
)
def test_a_ticket_reopens_within_seven_days_of_its_resolution(
    desk: Desk, later: dt.timedelta
) -> None:
    ticket = resolved_on_monday(desk)
    desk.at(sh(16, 10) + later)
    reopened = desk.tickets.reopen(ticket.id, reason="again")
    assert reopened.status == IN_PROGRESS
    assert (reopened.resolved_at, reopened.resolution_minutes, reopened.closed_at) == (
        None,
        None,
        None,
    )


@pytest.mark.parametrize("close_first", [False, True], ids=["resolved", "closed"])
def test_after_the_window_a_reopen_is_refused(desk: Desk, close_first: bool) -> None:
    ticket = resolved_on_monday(desk)
    if close_first:
        desk.at(sh(20, 10))  # the window runs from the resolution, not the closing
        ticket = desk.tickets.close(ticket.id)
    desk.at(sh(16, 10) + dt.timedelta(days=7, minutes=1))
    with pytest.raises(pycrm.RuleViolation) as refused:
        desk.tickets.reopen(ticket.id, reason="too late")
    assert refused.value.rule == "ticket.reopen_window"
    after = desk.get(ticket.id)
    assert (after.status, after.version) == (ticket.status, ticket.version)
    assert after.resolved_at == ticket.resolved_at
    assert desk.moves(ticket.id)[-1][1] == ticket.status.value


def test_the_tenant_sets_the_reopen_window(desk: Desk) -> None:
    desk.api.configuration.set_reopen_days(2)
    first, second = resolved_on_monday(desk), resolved_on_monday(desk)
    desk.at(sh(18, 10))  # two days: still in
    assert desk.tickets.reopen(first.id).status == IN_PROGRESS
    desk.at(sh(18, 10, 1))
    with pytest.raises(pycrm.RuleViolation) as refused:
        desk.tickets.reopen(second.id)
    assert refused.value.rule == "ticket.reopen_window"
    assert desk.get(second.id).status == RESOLVED


def test_a_reopen_window_of_zero_days_never_reopens(desk: Desk) -> None:
    desk.api.configuration.set_reopen_days(0)
    ticket = resolved_on_monday(desk)  # the fixed clock stands at the resolution
    with pytest.raises(pycrm.RuleViolation):
        desk.tickets.reopen(ticket.id)


def test_a_reopened_ticket_resumes_its_resolution_clock(desk: Desk) -> None:
    ticket = resolved_on_monday(desk)  # opened Mon 09:00, resolved 10:00: 60 minutes
    assert ticket.resolution_minutes == 60
    desk.at(sh(17, 9))  # resolved for Mon 10–18: 8 business hours
    reopened = desk.tickets.reopen(ticket.id, reason="again")
    assert reopened.paused_minutes == 480
    desk.at(sh(17, 11))
    again = desk.tickets.resolve(reopened.id, resolution="fixed for real")
    assert again.resolution_minutes == 180
    assert again.resolution_breached is False


def test_a_reopened_ticket_gets_its_resolution_deadline_moved_on(desk: Desk) -> None:
    ticket = resolved_on_monday(desk)  # opened Mon 09:00, due Tue 18:00, resolved Mon 10:00
    desk.at(sh(17, 9))  # resolved for Mon 10–18: 8 business hours
    reopened = desk.tickets.reopen(ticket.id, reason="again")
    assert local(reopened.due_at) == sh(18, 17)  # 17h to go from Tue 09:00: Tue 9h, Wed 8h
    assert local(reopened.resolution_warn_at) == sh(18, 16)


# -- first response and resolution times ---------------------------------------------------
def test_the_first_response_meets_its_deadline(desk: Desk) -> None:
    desk.at(FRIDAY_5PM)
    ticket = desk.open(type="complaint", priority="high", assignee_id=desk["Ann"])
    assert local(ticket.response_warn_at) == sh(16, 11)  # an hour before
    desk.at(sh(16, 11, 30))
    answered = desk.tickets.respond(ticket.id, note="called back")
    assert answered.responded_at == desk.clock.now()
    assert answered.response_minutes == 60 + 150  # Fri 17–18, Mon 09:00–11:30
    assert answered.response_breached is False
    assert answered.response_warn_at is None
    assert answered.status == ASSIGNED  # a response keeps the status
    assert desk.moves(ticket.id) == [(None, "new"), ("new", "assigned"), ("assigned", "assigned")]
    # Later responses change nothing but are kept with what was said.
    desk.at(sh(16, 15))
    later = desk.tickets.respond(ticket.id, note="and again")
    assert (later.responded_at, later.response_minutes, later.response_breached) == (
        answered.responded_at,
        210,
        False,
    )


def test_a_late_first_response_is_breached(desk: Desk) -> None:
    desk.at(FRIDAY_5PM)
    ticket = desk.open(type="complaint", priority="high", assignee_id=desk["Ann"])
    desk.at(sh(16, 12, 1))
    answered = desk.tickets.respond(ticket.id)
    assert answered.response_breached is True
    assert answered.response_minutes == 241
    assert desk.get(ticket.id).response_breached is True


def test_a_response_right_at_the_deadline_is_in_time(desk: Desk) -> None:
    desk.at(FRIDAY_5PM)
    ticket = desk.open(type="complaint", priority="high", assignee_id=desk["Ann"])
    desk.at(sh(16, 12))
    assert desk.tickets.respond(ticket.id).response_breached is False


def test_a_new_ticket_cannot_be_responded_to(desk: Desk) -> None:
    ticket = desk.open(type="complaint", priority="high")
    with pytest.raises(pycrm.RuleViolation) as refused:
        desk.tickets.respond(ticket.id)
    assert refused.value.rule == "ticket.workflow"
    assert desk.get(ticket.id).responded_at is None


def test_a_ticket_without_a_policy_has_no_deadlines_and_is_never_breached(desk: Desk) -> None:
    desk.at(sh(16, 9))
    ticket = desk.open(type="support", priority="low", assignee_id=desk["Ann"])
    assert (ticket.sla_policy, ticket.respond_by, ticket.due_at) == (None, None, None)
    desk.tickets.start(ticket.id)
    desk.at(sh(20, 17))
    done = desk.tickets.resolve(ticket.id, resolution="done")
    assert (done.response_breached, done.resolution_breached) == (None, None)
    assert done.response_minutes == done.resolution_minutes == 5 * 540 - 60


def test_resolution_time_excludes_waiting_and_the_resolution_counts_as_a_response(
    desk: Desk,
) -> None:
    desk.at(sh(16, 9))
    ticket = desk.open(type="complaint", priority="high", assignee_id=desk["Ann"])
    desk.tickets.start(ticket.id)
    desk.at(sh(16, 10))
    desk.tickets.wait(ticket.id)
    desk.at(sh(17, 10))  # a whole business day waiting
    desk.tickets.resume(ticket.id)
    desk.at(sh(17, 12))
    done = desk.tickets.resolve(ticket.id, resolution="fixed")
    assert done.paused_minutes == 540
    assert done.resolution_minutes == 60 + 120
    assert done.resolution_breached is False
    assert done.resolved_at == desk.clock.now() and done.resolution == "fixed"
    # Never responded to: the resolution is the first response.
    assert done.responded_at == desk.clock.now()
    assert done.response_minutes == 180
    assert done.response_breached is False  # 4h moved on by the 9h waited


def test_resolving_while_waiting_ends_the_pause(desk: Desk) -> None:
    desk.at(sh(16, 9))
    ticket = desk.open(type="complaint", priority="high", assignee_id=desk["Ann"])
    desk.tickets.start(ticket.id)
    desk.at(sh(16, 10))
    desk.tickets.wait(ticket.id)
    desk.at(sh(18, 17))  # past the due time, but two business days of it were waiting
    done = desk.tickets.resolve(ticket.id, resolution="customer fixed it")
    assert done.paused_minutes == 8 * 60 + 9 * 60 + 8 * 60
    assert done.resolution_minutes == 60
    assert done.resolution_breached is False
    assert done.waiting_since is None


def test_a_late_resolution_is_breached(desk: Desk) -> None:
    desk.at(FRIDAY_5PM)
    ticket = desk.open(type="complaint", priority="high", assignee_id=desk["Ann"])
    desk.tickets.start(ticket.id)
    desk.at(sh(17, 17, 1))
    done = desk.tickets.resolve(ticket.id, resolution="late")
    assert done.resolution_breached is True
    assert done.resolution_minutes == 2 * 540 + 1
    assert done.response_breached is True  # resolved without a response in time


def test_a_response_while_waiting_does_not_count_the_wait(desk: Desk) -> None:
    desk.at(sh(16, 9))
    ticket = desk.open(type="complaint", priority="high", assignee_id=desk["Ann"])
    desk.tickets.start(ticket.id)
    desk.at(sh(16, 10))
    desk.tickets.wait(ticket.id)  # 1h of the 4h used
    desk.at(sh(16, 15))
    answered = desk.tickets.respond(ticket.id, note="sent the form")
    assert answered.response_minutes == 60
    assert answered.response_breached is False


# -- re-prioritising -----------------------------------------------------------------------
def test_a_new_priority_retargets_the_deadlines_from_the_opening(desk: Desk) -> None:
    desk.at(FRIDAY_5PM)
    ticket = desk.open(type="complaint", priority="normal", assignee_id=desk["Ann"])
    assert ticket.sla_policy == "std"
    assert local(ticket.respond_by) == sh(16, 16)  # Fri 1h + Mon 7h
    assert local(ticket.due_at) == sh(18, 17)  # 27h: Fri 1, Mon 9, Tue 9, Wed 8
    desk.at(sh(16, 10))
    raised = desk.tickets.update(ticket.id, priority="high")
    assert raised.sla_policy == "vip"
    assert local(raised.respond_by) == sh(16, 12)  # from Friday 17:00, not from now
    assert local(raised.due_at) == sh(17, 17)
    assert local(raised.response_warn_at) == sh(16, 11)
    assert local(raised.resolution_warn_at) == sh(17, 16)
    stored = desk.get(ticket.id)
    assert (stored.sla_policy, local(stored.due_at)) == ("vip", sh(17, 17))
    # Another type is no longer a vip complaint: back to the standard policy.
    lowered = desk.tickets.update(ticket.id, type="support", priority="normal")
    assert lowered.sla_policy == "std"
    assert (local(lowered.respond_by), local(lowered.due_at)) == (sh(16, 16), sh(18, 17))


def test_retargeting_keeps_the_time_waited(desk: Desk) -> None:
    desk.at(FRIDAY_5PM)
    ticket = desk.open(type="complaint", priority="normal", assignee_id=desk["Ann"])
    desk.tickets.start(ticket.id)
    desk.at(sh(16, 9))
    desk.tickets.wait(ticket.id)
    desk.at(sh(16, 10))
    desk.tickets.resume(ticket.id)  # 1h waited
    raised = desk.tickets.update(ticket.id, priority="high")
    assert (local(raised.respond_by), local(raised.due_at)) == (sh(16, 13), sh(17, 18))


def test_retargeting_keeps_a_response_already_given(desk: Desk) -> None:
    desk.at(FRIDAY_5PM)
    ticket = desk.open(type="complaint", priority="normal", assignee_id=desk["Ann"])
    desk.at(sh(16, 13))
    desk.tickets.respond(ticket.id)  # in time for std (16:00)
    raised = desk.tickets.update(ticket.id, priority="high")
    assert raised.response_breached is False
    assert raised.responded_at == desk.clock.now()
    assert local(raised.due_at) == sh(17, 17)


def test_a_deadline_of_a_policy_cannot_be_moved_by_hand(desk: Desk) -> None:
    ticket = desk.open(type="complaint", priority="high")
    with pytest.raises(pycrm.RuleViolation) as refused:
        desk.tickets.update(ticket.id, due_at=sh(31, 9))
    assert refused.value.rule == "ticket.sla_deadline"
    assert desk.get(ticket.id).due_at == ticket.due_at


def test_a_priority_no_policy_covers_drops_the_deadlines(desk: Desk) -> None:
    desk.at(FRIDAY_5PM)
    ticket = desk.open(type="complaint", priority="high", assignee_id=desk["Ann"])
    lowered = desk.tickets.update(ticket.id, priority="low")
    assert lowered.sla_policy is None
    assert lowered.respond_by is None
    assert lowered.due_at is None


# -- assignment rules ----------------------------------------------------------------------
def complaints_to(desk: Desk, **target: Any) -> None:
    rule = pycrm.AssignmentRule(entity="ticket", when={"type": "complaint"}, **target)
    desk.api.configuration.set_assignment("ticket", [rule])


def test_complaints_go_round_robin_to_the_teams_active_agents(desk: Desk) -> None:
    complaints_to(desk, department=desk["support"])
    tickets = [desk.open(type="complaint", priority="normal") for _ in range(5)]
    agents = [t.assignee_id for t in tickets]
    assert set(agents) == {desk["Ann"], desk["Al"]}  # not Gone (inactive), not Bo (Field)
    assert agents[0] != agents[1]
    assert agents[::2] == [agents[0]] * 3 and agents[1::2] == [agents[1]] * 2
    for ticket in tickets:
        assert ticket.status == ASSIGNED
        assert desk.moves(ticket.id) == [(None, "new"), ("new", "assigned")]
        assert desk.tickets.moves(ticket.id)[-1].assignee_id == ticket.assignee_id
    # Other tickets match no rule: they wait, new, for someone to take them.
    other = desk.open(type="consultation")
    assert (other.status, other.assignee_id) == (NEW, None)


def test_a_batch_of_complaints_is_dealt_round_robin(desk: Desk) -> None:
    complaints_to(desk, department=desk["support"])
    with desk.crm.unit_of_work(user=SYSTEM_USER, tenant=TENANT) as uow:
        tickets = [
            uow.tickets.create(customer_id=desk["ACME"], subject=f"#{n}", type="complaint")
            for n in range(4)
        ]
    agents = [t.assignee_id for t in tickets]
    assert agents.count(desk["Ann"]) == agents.count(desk["Al"]) == 2


def test_complaints_go_to_the_customers_owner(desk: Desk) -> None:
    complaints_to(desk, customer_owner=True)
    ticket = desk.open(type="complaint")
    assert (ticket.assignee_id, ticket.status) == (desk["Bo"], ASSIGNED)
    # A customer without an owner: the ticket stays new, for someone to take it.
    orphan = desk.open(type="complaint", customer_id=desk["Pooled"])
    assert (orphan.assignee_id, orphan.status) == (None, NEW)
    with pytest.raises(pycrm.RuleViolation):
        desk.tickets.assign(orphan.id)
    assert desk.get(orphan.id).version == orphan.version


@pytest.mark.parametrize("owner", ["Gone", "system"])
def test_the_customer_owner_rule_gives_no_ticket_to_someone_who_is_not_an_agent(
    desk: Desk, owner: str
) -> None:
    complaints_to(desk, customer_owner=True)
    if owner == "system":
        customer = desk.api.customers.create(name="Imported")  # owned by the job
    else:
        customer = desk.api.customers.create(name="Left", owner_id=desk[owner])
    ticket = desk.open(type="complaint", customer_id=customer.id)
    assert ticket.assignee_id != customer.owner_id
    assert (ticket.assignee_id, ticket.status) == (None, NEW)


def test_an_agent_given_when_opening_wins_over_the_rules(desk: Desk) -> None:
    complaints_to(desk, customer_owner=True)
    ticket = desk.open(type="complaint", assignee_id=desk["Ann"])
    assert ticket.assignee_id == desk["Ann"]


def test_assign_without_an_agent_follows_the_rules(desk: Desk) -> None:
    ticket = desk.open(type="complaint")
    assert ticket.status == NEW  # no rule yet
    complaints_to(desk, user=desk["Al"])
    assigned = desk.tickets.assign(ticket.id)
    assert (assigned.status, assigned.assignee_id) == (ASSIGNED, desk["Al"])
    assert desk.moves(ticket.id) == [(None, "new"), ("new", "assigned")]


@pytest.mark.parametrize("assigned_already", [False, True], ids=["new", "assigned"])
def test_assign_without_an_agent_and_no_matching_rule_is_refused(
    desk: Desk, assigned_already: bool
) -> None:
    complaints_to(desk, department=desk["support"])
    ticket = desk.open(type="consultation", assignee_id=desk["Bo"] if assigned_already else None)
    moves = desk.tickets.moves(ticket.id)
    with pytest.raises(pycrm.RuleViolation):
        desk.tickets.assign(ticket.id)
    after = desk.get(ticket.id)
    assert (after.status, after.assignee_id, after.version) == (
        ticket.status,
        ticket.assignee_id,
        ticket.version,
    )
    assert desk.tickets.moves(ticket.id) == moves


def test_a_ticket_rule_must_name_one_target(desk: Desk) -> None:
    with pytest.raises(pycrm.ConfigurationError):
        pycrm.AssignmentRule(entity="ticket", when={"type": "complaint"})
    with pytest.raises(pycrm.ConfigurationError):
        pycrm.AssignmentRule(entity="ticket", when={"region": "east"}, user=desk["Ann"])
    with pytest.raises(pycrm.ConfigurationError):
        pycrm.AssignmentRule(entity="customer", customer_owner=True)


# -- the satisfaction survey ---------------------------------------------------------------
@pytest.mark.parametrize("status", [NEW, ASSIGNED, IN_PROGRESS, WAITING])
def test_an_open_ticket_cannot_be_surveyed(desk: Desk, status: TicketStatus) -> None:
    ticket = in_status(desk, status)
    with pytest.raises(pycrm.RuleViolation) as refused:
        desk.tickets.survey(ticket.id, score=5)
    assert refused.value.rule == "ticket.survey_open"
    after = desk.get(ticket.id)
    assert (after.satisfaction, after.surveyed_at, after.version) == (None, None, ticket.version)


@pytest.mark.parametrize("status", [RESOLVED, CLOSED])
@pytest.mark.parametrize("score", [1, 2, 3, 4, 5])
def test_a_done_ticket_takes_a_score_from_one_to_five(
    desk: Desk, status: TicketStatus, score: int
) -> None:
    ticket = in_status(desk, status)
    surveyed = desk.tickets.survey(ticket.id, score=score, comment="thanks")
    assert (surveyed.satisfaction, surveyed.satisfaction_comment) == (score, "thanks")
    assert surveyed.surveyed_at == desk.clock.now()
    assert surveyed.status == status
    assert desk.get(ticket.id).satisfaction == score


@pytest.mark.parametrize("score", [0, 6, -1])
def test_a_score_out_of_range_is_a_validation_error(desk: Desk, score: int) -> None:
    ticket = in_status(desk, RESOLVED)
    with pytest.raises(pycrm.ValidationError):
        desk.tickets.survey(ticket.id, score=score)
    after = desk.get(ticket.id)
    assert (after.satisfaction, after.version) == (None, ticket.version)
