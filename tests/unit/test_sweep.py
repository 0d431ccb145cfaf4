"""The sweep (``CRM.sweep``) on the memory backend with a fixed clock: every built-in rule
raises what is due once (a second sweep at the same time raises nothing, a later one only
what fell due since); reminders, SLA warnings, breaches and escalations, birthdays and
care days in detail; plugin rules, failing rules, duplicate keys and bad times.

The clock starts on Thursday 15 January 2026, 09:00 UTC; the tenant's time zone is UTC
unless a test sets one, so its default business calendar is Monday to Friday 09:00-18:00
UTC. Under the SLA policy ``p`` (first response 4h, resolution 2d, warned 1h before), a
ticket opened at the start is warned at 12:00 and due a response at 13:00 the same day,
warned about its resolution on Friday at 17:00 and due resolved on Friday at 18:00.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import pycrm
from pycrm import SYSTEM_USER, Money
from pycrm.storage.base import Query

D = dt.date
START = dt.datetime(2026, 1, 15, 9, 0, tzinfo=dt.UTC)
BUILT_IN = [
    "activity.reminder",
    "ticket.sla",
    "dunning",
    "opportunity.stale",
    "contact.birthday",
    "care_day",
    "customer.churn",
    "pool.recycle",
]
#: The built-in rules that record an alert for everything they raise.
ALERTING = [k for k in BUILT_IN if k not in ("dunning", "pool.recycle")]
POLICY = pycrm.SlaPolicy(key="p", first_response="4h", resolution="2d")
FOLLOW_UP = pycrm.Pipeline(
    key="follow_up",
    name="Follow-up",
    stages=[pycrm.Stage("call", stale_days=1), pycrm.Stage("close")],
    stale_days=20,
)


def at(day: dt.date, hour: int = 9, minute: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=dt.UTC)


class Events:
    """A plugin keeping the alerts the sweep raised (``pycrm.AlertRaised``)."""

    name = "alert-listener"

    def __init__(self) -> None:
        self.seen: list[pycrm.AlertRaised] = []

    @pycrm.hookimpl
    def pycrm_on_event(self, event: pycrm.Event, crm: pycrm.CRM) -> None:
        if isinstance(event, pycrm.AlertRaised):
            self.seen.append(event)

    def named(self, name: str) -> list[pycrm.AlertRaised]:
        return [e for e in self.seen if e.name == name]


@pytest.fixture
def clock() -> pycrm.FixedClock:
    return pycrm.FixedClock(START)


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture
def crm(clock: pycrm.FixedClock, events: Events) -> Iterator[pycrm.CRM]:
    crm = pycrm.CRM.connect("memory://", clock=clock, plugins=[events], load_entry_points=False)
    yield crm
    crm.close()


def alerts(crm: pycrm.CRM, tenant: str | None = None) -> list[pycrm.Alert]:
    with crm.unit_of_work(user=SYSTEM_USER, tenant=tenant) as uow:
        return list(uow.tx.find(pycrm.Alert, uow.everything, Query()))


def activities(crm: pycrm.CRM, **where: Any) -> list[pycrm.Activity]:
    page = crm.as_user(SYSTEM_USER).activities.list(where or None, limit=1000)
    return list(page.items)


def nothing(run: pycrm.SweepRun) -> bool:
    return run.ok and set(run.raised.values()) == {0}


def sweep(crm: pycrm.CRM, when: dt.datetime) -> pycrm.SweepRun:
    run = crm.sweep(when)
    assert run.ok, run.failed
    return run


# -- every built-in rule, once --------------------------------------------------------------
def test_every_built_in_rule_raises_what_is_due_once(clock: pycrm.FixedClock) -> None:
    """One thing due for each rule on Thursday at 12:30 (T1) and another by Friday 12:30
    (T2): the first sweep raises the first ones, a second at T1 nothing, one at T2 only
    the second ones, and another at T2 nothing."""
    early = START - dt.timedelta(days=2)
    t1 = START.replace(hour=12, minute=30)
    t2 = t1 + dt.timedelta(days=1)

    class FollowUp:
        @pycrm.hookimpl
        def pycrm_register_pipelines(self) -> list[pycrm.Pipeline]:
            return [FOLLOW_UP]

    clock.set(early)
    settings = pycrm.Settings(default_pipeline="follow_up")
    crm = pycrm.CRM.connect(
        "memory://", clock=clock, settings=settings, plugins=[FollowUp()], load_entry_points=False
    )
    recycle = pycrm.RecycleRule(reason=pycrm.RecycleReason.NO_FOLLOW_UP, days=1, levels={"VIP": 0})
    with crm.unit_of_work(user=SYSTEM_USER) as uow:
        boss = uow.users.create(name="Boss")
        ann = uow.users.create(name="Ann", manager_id=boss.id)
        bo = uow.users.create(name="Bo", manager_id=boss.id)
        # VIP customers never return to the pool; the cold ones do after a day.
        acme = uow.customers.create(name="ACME", owner_id=ann.id, level="VIP")
        beta = uow.customers.create(name="Beta", owner_id=bo.id, level="VIP")
        uow.customers.create(name="Cold 1", owner_id=ann.id)  # returns by T1
        uow.configuration.set_pool(pycrm.Pool(key="east", name="East", recycle=[recycle]))
        uow.opportunities.create(customer_id=acme.id, name="Old deal", stage="call")  # stale by T1
    clock.set(START)
    with crm.unit_of_work(user=SYSTEM_USER) as uow:
        uow.customers.create(name="Cold 2", owner_id=bo.id)  # returns by T2
        uow.opportunities.create(customer_id=beta.id, name="New deal", stage="call")  # by T2
        for subject, remind in (("r1", START.replace(hour=10)), ("r2", START + dt.timedelta(1))):
            uow.activities.create(type="call", subject=subject, remind_at=remind, owner_id=ann.id)
        uow.configuration.set_sla_policy(POLICY)
        # Warned about its response by T1; breached and escalated by T2.
        uow.tickets.create(customer_id=acme.id, subject="Broken", assignee_id=ann.id)
        uow.contacts.create(customer_id=acme.id, name="Li", birthday=D(1990, 1, 15))
        uow.contacts.create(customer_id=beta.id, name="Wang", birthday=D(1985, 1, 16))
        days = [pycrm.CareDay(on="01-15", name="A"), pycrm.CareDay(on="01-16", name="B")]
        uow.configuration.set_care_days(days)
        price = Money("200.00", "CNY")
        order = uow.orders.create(
            customer_id=acme.id,
            owner_id=ann.id,
            currency="CNY",
            lines=[{"description": "slot", "quantity": 1, "unit_price": price}],
        )
        uow.orders.confirm(order.id)
        # Overdue on the 15th, and on the 16th.
        uow.payment_plans.plan_for_order(order.id, due_dates=[D(2026, 1, 10), D(2026, 1, 15)])

    assert [rule.key for rule in crm.sweep_rules] == BUILT_IN
    # Ann and Bo own customers; the tenant set no churn rules.
    once = dict.fromkeys(BUILT_IN, 1) | {"care_day": 2, "customer.churn": 0}
    runs = [sweep(crm, t1), sweep(crm, t1), sweep(crm, t2), sweep(crm, t2)]
    assert [run.raised for run in runs] == [
        once,
        dict.fromkeys(BUILT_IN, 0),
        once | {"ticket.sla": 2},  # the breach and its escalation
        dict.fromkeys(BUILT_IN, 0),
    ]
    assert runs[0].at == t1 and runs[0].tenant == "default"
    stored = alerts(crm)
    assert len(stored) == sum(run.raised[k] for run in runs for k in ALERTING)
    assert len({(a.rule, a.subject, a.occasion) for a in stored}) == len(stored)
    tasks = activities(crm, type="task")
    assert len(tasks) == 2 + 1 + 2 + 4  # dunning, an escalation, birthdays, care days
    crm.close()


def test_a_dunning_task_is_created_once_per_installment_and_due_date(crm: pycrm.CRM) -> None:
    with crm.unit_of_work(user=SYSTEM_USER) as uow:
        rep = uow.users.create(name="Ann")
        customer = uow.customers.create(name="Alpha", owner_id=rep.id)
        order = uow.orders.create(
            customer_id=customer.id,
            owner_id=rep.id,
            currency="CNY",
            lines=[{"description": "slot", "quantity": 1, "unit_price": Money("200.00", "CNY")}],
        )
        uow.orders.confirm(order.id)
        plan = uow.payment_plans.plan_for_order(
            order.id, due_dates=[D(2026, 1, 10), D(2026, 1, 20)]
        )
    assert sweep(crm, START).raised["dunning"] == 1
    assert nothing(crm.sweep(START))
    assert sweep(crm, at(D(2026, 1, 21))).raised["dunning"] == 1
    assert nothing(crm.sweep(at(D(2026, 1, 22))))
    tasks = activities(crm)
    assert sorted((t.dunning_installment_id, t.dunning_due_on) for t in tasks) == sorted(
        (part.id, part.due_on) for part in plan.installments
    )
    assert {t.owner_id for t in tasks} == {rep.id}


# -- reminders -----------------------------------------------------------------------------
def test_a_due_reminder_is_one_alert_to_the_owner(crm: pycrm.CRM, events: Events) -> None:
    with crm.unit_of_work(user=SYSTEM_USER) as uow:
        rep = uow.users.create(name="Ann")
        due = START + dt.timedelta(hours=1)
        call = uow.activities.create(
            type="call", subject="Call back", remind_at=due, due_at=due, owner_id=rep.id
        )
    assert nothing(crm.sweep(due - dt.timedelta(seconds=1)))
    assert sweep(crm, due).raised["activity.reminder"] == 1
    assert sweep(crm, due).raised["activity.reminder"] == 0
    assert sweep(crm, due + dt.timedelta(hours=1)).raised["activity.reminder"] == 0
    (event,) = events.seen
    assert (event.name, event.entity, event.record_id, event.tenant) == (
        "activity.reminder",
        "activity",
        call.id,
        "default",
    )
    assert event.data["recipient"] == str(rep.id)
    assert event.data["occasion"] == due.isoformat()
    assert event.data["subject"] == "Call back"
    (alert,) = alerts(crm)
    assert (alert.rule, alert.subject, alert.recipient) == ("activity.reminder", call.id, rep.id)


def test_done_deleted_future_and_week_late_activities_are_not_reminded(
    crm: pycrm.CRM, events: Events
) -> None:
    week = dt.timedelta(days=7)
    with crm.unit_of_work(user=SYSTEM_USER) as uow:
        rep = uow.users.create(name="Ann")

        def call(subject: str, remind_at: dt.datetime, **fields: Any) -> pycrm.Activity:
            return uow.activities.create(
                type="call", subject=subject, remind_at=remind_at, owner_id=rep.id, **fields
            )

        call("done", START - dt.timedelta(hours=1), done=True)
        uow.activities.delete(call("deleted", START - dt.timedelta(hours=1)).id)
        call("future", START + dt.timedelta(seconds=1))
        call("too late", START - week - dt.timedelta(seconds=1))
        late = call("six days late", START - dt.timedelta(days=6))
        now = call("now", START)
    sweep(crm, START)
    assert sorted(e.record_id for e in events.seen) == sorted([late.id, now.id])


def test_a_reminder_exactly_a_week_late_is_still_raised(crm: pycrm.CRM, events: Events) -> None:
    with crm.unit_of_work(user=SYSTEM_USER) as uow:
        rep = uow.users.create(name="Ann")
        week_late = START - dt.timedelta(days=7)
        uow.activities.create(type="call", subject="x", remind_at=week_late, owner_id=rep.id)
    assert sweep(crm, START).raised["activity.reminder"] == 1


def test_a_moved_reminder_is_raised_again_at_its_new_time(crm: pycrm.CRM, events: Events) -> None:
    with crm.unit_of_work(user=SYSTEM_USER) as uow:
        rep = uow.users.create(name="Ann")
        call = uow.activities.create(type="call", subject="x", remind_at=START, owner_id=rep.id)
    assert sweep(crm, START).raised["activity.reminder"] == 1
    later = START + dt.timedelta(days=1)
    crm.as_user(SYSTEM_USER).activities.update(call.id, remind_at=later)
    assert sweep(crm, later - dt.timedelta(minutes=1)).raised["activity.reminder"] == 0
    assert sweep(crm, later).raised["activity.reminder"] == 1
    assert sweep(crm, later).raised["activity.reminder"] == 0
    assert [e.data["occasion"] for e in events.seen] == [START.isoformat(), later.isoformat()]


# -- SLA -----------------------------------------------------------------------------------
class Desk:
    """A service desk under policy ``p``: agent Ann (whose superior is Boss), her
    customer ACME, and the tickets opened."""

    def __init__(self, crm: pycrm.CRM, policy: pycrm.SlaPolicy = POLICY, **agent: Any) -> None:
        self.crm = crm
        with crm.unit_of_work(user=SYSTEM_USER) as uow:
            self.boss = uow.users.create(name="Boss").id
            agent.setdefault("manager_id", self.boss)
            self.ann = uow.users.create(name="Ann", **agent).id
            self.customer = uow.customers.create(name="ACME", owner_id=self.ann).id
            uow.configuration.set_sla_policy(policy)

    @property
    def api(self) -> pycrm.Services:
        return self.crm.as_user(SYSTEM_USER)

    def open(self, subject: str = "Broken") -> pycrm.Ticket:
        return self.api.tickets.create(
            customer_id=self.customer, subject=subject, assignee_id=self.ann
        )

    def ticket(self, ticket_id: uuid.UUID) -> pycrm.Ticket:
        return self.api.tickets.get(ticket_id)

    def escalations(self) -> list[pycrm.Activity]:
        return [a for a in activities(self.crm) if a.ticket_id is not None]


def test_a_ticket_is_warned_then_breached_and_escalated_to_the_agents_superior(
    crm: pycrm.CRM, events: Events
) -> None:
    desk = Desk(crm)
    ticket = desk.open()
    assert ticket.response_warn_at == START.replace(hour=12)
    assert ticket.respond_by == START.replace(hour=13)

    assert sweep(crm, START.replace(hour=11, minute=59)).raised["ticket.sla"] == 0
    assert sweep(crm, START.replace(hour=12)).raised["ticket.sla"] == 1  # at the warning time
    assert sweep(crm, START.replace(hour=12, minute=30)).raised["ticket.sla"] == 0
    (warning,) = events.seen
    assert (warning.name, warning.record_id) == ("ticket.sla_warning", ticket.id)
    assert warning.data["recipient"] == str(desk.ann)
    assert warning.data["target"] == "response"
    assert not desk.ticket(ticket.id).response_breached and desk.escalations() == []

    late = START.replace(hour=13, minute=1)
    assert sweep(crm, late).raised["ticket.sla"] == 2  # the breach and the escalation
    assert nothing(crm.sweep(late))
    assert sweep(crm, late + dt.timedelta(hours=1)).raised["ticket.sla"] == 0
    # The sweep raises the breach; the ticket records it when the response comes.
    stored = desk.ticket(ticket.id)
    assert stored.response_breached is None and stored.resolution_breached is None
    (task,) = desk.escalations()
    assert (task.type, task.owner_id, task.ticket_id, task.customer_id) == (
        pycrm.ActivityKind.TASK,
        desk.boss,
        ticket.id,
        desk.customer,
    )
    assert task.assigned_by == SYSTEM_USER and not task.done
    breached, escalated = events.seen[1:]
    assert (breached.name, breached.record_id) == ("ticket.sla_breached", ticket.id)
    assert breached.data["recipient"] == str(desk.ann)
    assert (escalated.name, escalated.record_id) == ("ticket.escalated", ticket.id)
    assert escalated.data["recipient"] == str(desk.boss)
    assert escalated.data["task"] == str(task.id)
    assert {a.occasion for a in alerts(crm)} == {f"response:{ticket.respond_by.isoformat()}"}

    # The resolution: warned on Friday at 17:00, breached after 18:00, escalated again.
    friday = START + dt.timedelta(days=1)
    assert sweep(crm, friday.replace(hour=17)).raised["ticket.sla"] == 1
    assert sweep(crm, friday.replace(hour=18, minute=1)).raised["ticket.sla"] == 2
    assert nothing(crm.sweep(friday.replace(hour=18, minute=1)))
    assert desk.ticket(ticket.id).resolution_breached is None  # decided when it is resolved
    assert len(desk.escalations()) == 2
    assert [e.name for e in events.seen[3:]] == [
        "ticket.sla_warning",
        "ticket.sla_breached",
        "ticket.escalated",
    ]


def test_a_ticket_responded_to_in_time_gets_no_response_alerts(crm: pycrm.CRM) -> None:
    desk = Desk(crm)
    ticket = desk.open()
    desk.api.tickets.respond(ticket.id)
    assert sweep(crm, START.replace(hour=14)).raised["ticket.sla"] == 0
    assert not desk.ticket(ticket.id).response_breached


def test_a_waiting_ticket_raises_nothing_and_a_new_deadline_raises_again(
    crm: pycrm.CRM, clock: pycrm.FixedClock, events: Events
) -> None:
    desk = Desk(crm)
    ticket = desk.open()
    desk.api.tickets.start(ticket.id)
    assert sweep(crm, START.replace(hour=12, minute=5)).raised["ticket.sla"] == 1  # warned
    clock.set(START.replace(hour=12, minute=10))
    desk.api.tickets.wait(ticket.id)
    # Waiting on the customer: its deadlines pass, and nothing is raised.
    assert nothing(crm.sweep(START.replace(hour=13, minute=30)))
    assert nothing(crm.sweep(START + dt.timedelta(days=1)))
    # Resumed on Friday at 12:10 after 9 business hours: everything moves on by a day.
    friday = START + dt.timedelta(days=1)
    clock.set(friday.replace(hour=12, minute=10))
    resumed = desk.api.tickets.resume(ticket.id)
    assert resumed.respond_by == friday.replace(hour=13)
    assert sweep(crm, friday.replace(hour=12, minute=10)).raised["ticket.sla"] == 1
    assert sweep(crm, friday.replace(hour=12, minute=20)).raised["ticket.sla"] == 0
    assert sweep(crm, friday.replace(hour=13, minute=1)).raised["ticket.sla"] == 2
    assert nothing(crm.sweep(friday.replace(hour=13, minute=1)))
    occasions = [(e.name, e.data["occasion"]) for e in events.seen]
    first, second = START.replace(hour=13).isoformat(), resumed.respond_by.isoformat()
    assert occasions == [
        ("ticket.sla_warning", f"response:{first}"),
        ("ticket.sla_warning", f"response:{second}"),
        ("ticket.sla_breached", f"response:{second}"),
        ("ticket.escalated", f"response:{second}"),
    ]


def test_a_policy_escalate_to_takes_the_escalation(crm: pycrm.CRM) -> None:
    with crm.unit_of_work(user=SYSTEM_USER) as uow:
        director = uow.users.create(name="Dee").id
    desk = Desk(
        crm, pycrm.SlaPolicy(key="p", first_response="4h", resolution="2d", escalate_to=director)
    )
    ticket = desk.open()
    assert sweep(crm, START.replace(hour=13, minute=1)).raised["ticket.sla"] == 2
    (task,) = desk.escalations()
    assert (task.owner_id, task.ticket_id) == (director, ticket.id)


def test_without_a_superior_a_breach_is_raised_but_not_escalated(
    crm: pycrm.CRM, events: Events
) -> None:
    desk = Desk(crm, manager_id=None)
    desk.open()
    assert sweep(crm, START.replace(hour=13, minute=1)).raised["ticket.sla"] == 1
    assert desk.escalations() == []
    assert [e.name for e in events.seen] == ["ticket.sla_breached"]
    assert nothing(crm.sweep(START.replace(hour=13, minute=1)))


def test_a_response_at_the_deadline_is_judged_the_same_with_or_without_a_sweep(
    crm: pycrm.CRM, clock: pycrm.FixedClock
) -> None:
    with pycrm.CRM.connect("memory://", clock=clock, load_entry_points=False) as unswept:
        desk, control_desk = Desk(crm), Desk(unswept)
        swept, control = desk.open(), control_desk.open()
        deadline = swept.respond_by
        assert deadline is not None and deadline == control.respond_by
        crm.sweep(deadline)  # the other CRM is not swept
        clock.set(deadline)
        desk.api.tickets.respond(swept.id)
        control_desk.api.tickets.respond(control.id)
        judged = control_desk.ticket(control.id).response_breached
    assert desk.ticket(swept.id).response_breached == judged


# -- birthdays and care days ---------------------------------------------------------------
def test_a_birthday_gives_the_customers_owner_a_task_on_the_day(crm: pycrm.CRM) -> None:
    with crm.unit_of_work(user=SYSTEM_USER) as uow:
        rep = uow.users.create(name="Ann").id
        customer = uow.customers.create(name="ACME", owner_id=rep).id
        li = uow.contacts.create(customer_id=customer, name="Li", birthday=D(1990, 3, 16)).id
        uow.contacts.create(customer_id=customer, name="Wang", birthday=D(1990, 3, 17))
        uow.contacts.create(customer_id=customer, name="Zhao")
    assert sweep(crm, at(D(2026, 3, 15), 23, 59)).raised["contact.birthday"] == 0
    assert sweep(crm, at(D(2026, 3, 16), 0, 0)).raised["contact.birthday"] == 1
    assert sweep(crm, at(D(2026, 3, 16), 18)).raised["contact.birthday"] == 0
    (task,) = activities(crm)
    assert (task.type, task.owner_id, task.contact_id, task.customer_id) == (
        pycrm.ActivityKind.TASK,
        rep,
        li,
        customer,
    )
    assert "Li" in task.subject and "ACME" in task.subject
    (alert,) = alerts(crm)
    assert (alert.rule, alert.subject, alert.occasion, alert.task) == (
        "contact.birthday",
        li,
        "2026",
        task.id,
    )
    assert sweep(crm, at(D(2027, 3, 16))).raised["contact.birthday"] == 1  # a year later


def test_a_contacts_own_rep_is_given_the_birthday(crm: pycrm.CRM) -> None:
    with crm.unit_of_work(user=SYSTEM_USER) as uow:
        ann, bo = uow.users.create(name="Ann").id, uow.users.create(name="Bo").id
        customer = uow.customers.create(name="ACME", owner_id=ann).id
        uow.contacts.create(customer_id=customer, name="Li", birthday=D(1990, 3, 16), owner_id=bo)
    sweep(crm, at(D(2026, 3, 16)))
    assert [t.owner_id for t in activities(crm)] == [bo]


def test_a_29_february_birthday_is_greeted_on_28_february_in_other_years(crm: pycrm.CRM) -> None:
    with crm.unit_of_work(user=SYSTEM_USER) as uow:
        rep = uow.users.create(name="Ann").id
        customer = uow.customers.create(name="ACME", owner_id=rep).id
        uow.contacts.create(customer_id=customer, name="Leap", birthday=D(2000, 2, 29))
    assert sweep(crm, at(D(2027, 2, 27))).raised["contact.birthday"] == 0
    assert sweep(crm, at(D(2027, 2, 28))).raised["contact.birthday"] == 1
    assert sweep(crm, at(D(2027, 3, 1))).raised["contact.birthday"] == 0
    assert sweep(crm, at(D(2028, 2, 28))).raised["contact.birthday"] == 0  # a leap year
    assert sweep(crm, at(D(2028, 2, 29))).raised["contact.birthday"] == 1
    assert [a.occasion for a in sorted(alerts(crm), key=lambda a: a.occasion)] == ["2027", "2028"]


def test_birthdays_fall_on_the_day_in_the_tenants_time_zone(crm: pycrm.CRM) -> None:
    with crm.unit_of_work(user=SYSTEM_USER) as uow:
        uow.configuration.set_time_zone("Asia/Shanghai")
        rep = uow.users.create(name="Ann").id
        customer = uow.customers.create(name="ACME", owner_id=rep).id
        uow.contacts.create(customer_id=customer, name="Li", birthday=D(1990, 3, 16))
    # 15 March 23:00 UTC is 16 March 07:00 in Shanghai; 16 March 17:00 UTC is the 17th.
    assert sweep(crm, at(D(2026, 3, 15), 15, 59)).raised["contact.birthday"] == 0
    assert sweep(crm, at(D(2026, 3, 15), 23)).raised["contact.birthday"] == 1
    assert sweep(crm, at(D(2026, 3, 16), 17)).raised["contact.birthday"] == 0


def test_a_birthday_of_a_customer_without_a_rep_gives_nobody_a_task(crm: pycrm.CRM) -> None:
    with crm.unit_of_work(user=SYSTEM_USER) as uow:
        customer = uow.customers.create(name="Nobody's")  # owned by the system
        uow.contacts.create(customer_id=customer.id, name="Li", birthday=D(1990, 3, 16))
    sweep(crm, at(D(2026, 3, 16)))
    assert [t.owner_id for t in activities(crm)] == []


def test_a_care_day_gives_each_rep_owning_customers_one_task(crm: pycrm.CRM) -> None:
    with crm.unit_of_work(user=SYSTEM_USER) as uow:
        ann, bo = uow.users.create(name="Ann").id, uow.users.create(name="Bo").id
        uow.users.create(name="Cy")  # owns no customer
        for name, owner in (("A1", ann), ("A2", ann), ("B1", bo)):
            uow.customers.create(name=name, owner_id=owner)
        uow.customers.create(name="Nobody's")  # the system's
        uow.configuration.set_care_days([pycrm.CareDay(on="09-25", name="中秋")])
    assert sweep(crm, at(D(2026, 9, 24), 23, 59)).raised["care_day"] == 0
    assert sweep(crm, at(D(2026, 9, 25))).raised["care_day"] == 2
    assert sweep(crm, at(D(2026, 9, 25), 17)).raised["care_day"] == 0
    tasks = activities(crm)
    assert sorted(map(str, (t.owner_id for t in tasks))) == sorted(map(str, (ann, bo)))
    assert all(t.type == pycrm.ActivityKind.TASK and "中秋" in t.subject for t in tasks)
    assert {(a.subject_kind, a.occasion) for a in alerts(crm)} == {("user", "2026-09-25:中秋")}
    assert sweep(crm, at(D(2027, 9, 25))).raised["care_day"] == 2  # every year


def test_two_care_days_on_one_day_and_a_dated_one_once(crm: pycrm.CRM) -> None:
    with crm.unit_of_work(user=SYSTEM_USER) as uow:
        ann = uow.users.create(name="Ann").id
        uow.customers.create(name="A1", owner_id=ann)
        days = [
            pycrm.CareDay(on="10-01", name="国庆"),
            pycrm.CareDay(on="2026-10-01", name="周年"),
        ]
        uow.configuration.set_care_days(days)
    assert sweep(crm, at(D(2026, 10, 1))).raised["care_day"] == 2
    assert sweep(crm, at(D(2026, 10, 1))).raised["care_day"] == 0
    assert sweep(crm, at(D(2027, 10, 1))).raised["care_day"] == 1  # the dated one is over
    assert len(activities(crm, owner_id=ann)) == 3


# -- plugin rules and the sweep itself ------------------------------------------------------
class Ping:
    """Raises one alert per customer per day."""

    key = "custom.ping"

    def __init__(self, log: list[str] | None = None) -> None:
        self.log = log if log is not None else []

    def run(self, uow: Any, now: dt.datetime) -> int:
        self.log.append(self.key)
        customers = uow.customers.list(limit=100).items
        found = [
            pycrm.new_alert(uow, self.key, c, now.date().isoformat(), c.owner_id) for c in customers
        ]
        return len(pycrm.raise_alerts(uow, pycrm.fresh_alerts(uow, found)))


class Boom:
    """Writes, raises an alert, then fails."""

    key = "custom.boom"

    def run(self, uow: Any, now: dt.datetime) -> int:
        customer = uow.customers.create(name="Half-done")
        pycrm.raise_alerts(uow, [pycrm.new_alert(uow, self.key, customer, "x", None)])
        raise RuntimeError("boom")


class OwnDunning(Ping):
    """A plugin's rule under a built-in rule's key."""

    key = "dunning"


class Rules:
    """A plugin registering sweep rules."""

    name = "rules"

    def __init__(self, *rules: Any) -> None:
        self.rules = list(rules)

    @pycrm.hookimpl
    def pycrm_register_sweep_rules(self) -> list[Any]:
        return self.rules


def test_a_plugin_rule_runs_after_the_built_in_ones_and_raises_once(
    clock: pycrm.FixedClock, events: Events
) -> None:
    log: list[str] = []
    crm = pycrm.CRM.connect(
        "memory://", clock=clock, plugins=[Rules(Ping(log)), events], load_entry_points=False
    )
    assert [rule.key for rule in crm.sweep_rules] == [*BUILT_IN, "custom.ping"]
    customer = crm.as_user(SYSTEM_USER).customers.create(name="ACME")
    run = sweep(crm, START)
    assert list(run.raised) == [*BUILT_IN, "custom.ping"] and run.raised["custom.ping"] == 1
    assert [(e.name, e.record_id) for e in events.seen] == [("custom.ping", customer.id)]
    assert sweep(crm, START).raised["custom.ping"] == 0
    assert sweep(crm, START + dt.timedelta(days=1)).raised["custom.ping"] == 1
    assert log == ["custom.ping"] * 3


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_a_failing_rule_is_reported_undone_and_the_others_still_run(
    clock: pycrm.FixedClock, events: Events, backend: str, tmp_path: Path
) -> None:
    url = "memory://" if backend == "memory" else f"sqlite:///{tmp_path / 'crm.db'}"
    crm = pycrm.CRM.connect(
        url, clock=clock, plugins=[Rules(Boom(), Ping()), events], load_entry_points=False
    )
    crm.as_user(SYSTEM_USER).customers.create(name="ACME")
    run = crm.sweep(START)
    assert not run.ok
    assert run.failed == {"custom.boom": "RuntimeError: boom"}
    assert list(run.raised) == [*BUILT_IN, "custom.ping"] and run.raised["custom.ping"] == 1
    # Its unit of work rolled back: neither its customer nor its alert was kept.
    names = [c.name for c in crm.as_user(SYSTEM_USER).customers.list(limit=10).items]
    assert names == ["ACME"]
    assert [a.rule for a in alerts(crm)] == ["custom.ping"]
    assert [e.name for e in events.seen] == ["custom.ping"]
    assert crm.sweep(START).failed == {"custom.boom": "RuntimeError: boom"}


@pytest.mark.parametrize(
    "plugin",
    [Rules(Ping(), Ping()), Rules(OwnDunning())],
    ids=["one plugin twice", "a plugin and a built-in"],
)
def test_two_rules_with_one_key_are_refused_when_the_crm_is_built(plugin: Rules) -> None:
    with pytest.raises(pycrm.PluginError, match="registered twice"):
        pycrm.CRM.connect("memory://", plugins=[plugin], load_entry_points=False)


def test_a_plugin_may_register_only_sweep_rules() -> None:
    with pytest.raises(pycrm.PluginError, match=r"not a pycrm\.SweepRule"):
        pycrm.CRM.connect("memory://", plugins=[Rules("ping")], load_entry_points=False)


def test_without_the_built_in_plugin_only_the_plugins_rules_run(clock: pycrm.FixedClock) -> None:
    settings = pycrm.Settings(disabled_plugins=["pycrm.plugins.default_sweep"])
    crm = pycrm.CRM.connect(
        "memory://",
        clock=clock,
        settings=settings,
        plugins=[Rules(Ping())],
        load_entry_points=False,
    )
    assert list(sweep(crm, START).raised) == ["custom.ping"]


@pytest.mark.parametrize(
    "when",
    [dt.datetime(2026, 1, 15, 9, 0), dt.date(2026, 1, 15), "2026-01-15T09:00:00+00:00"],
    ids=["naive", "date", "text"],
)
def test_a_sweep_needs_a_timezone_aware_time(crm: pycrm.CRM, when: Any) -> None:
    with pytest.raises(pycrm.ValidationError):
        crm.sweep(when)


def test_a_sweep_runs_at_the_clocks_time_in_utc_for_one_tenant(
    crm: pycrm.CRM, clock: pycrm.FixedClock
) -> None:
    for tenant in ("a", "b"):
        with crm.unit_of_work(user=SYSTEM_USER, tenant=tenant) as uow:
            rep = uow.users.create(name="Ann")
            uow.activities.create(type="call", subject="x", remind_at=START, owner_id=rep.id)
    run = crm.sweep(tenant="a")
    assert (run.tenant, run.at, run.raised["activity.reminder"]) == ("a", START, 1)
    assert alerts(crm, "b") == []
    beijing = dt.timezone(dt.timedelta(hours=8))
    run = crm.sweep(START.astimezone(beijing), tenant="b")
    assert run.at == START and run.at.utcoffset() == dt.timedelta(0)
    assert run.raised["activity.reminder"] == 1 and len(alerts(crm, "b")) == 1
    with pytest.raises(pycrm.ValidationError):
        crm.sweep(START, tenant="")
