"""The built-in sweep rules (registered by :mod:`pycrm.plugins.default_sweep`).

Each finds what is due with indexed queries (reminder times, SLA deadlines and warning
times of running tickets, birthdays by month and day), drops what was raised before
(:func:`pycrm.services.sweep.fresh_alerts`) and raises the rest, a page at a time.
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TYPE_CHECKING, TypeVar

from pycrm.core import messages as msg
from pycrm.core.activities import Activity, ActivityKind
from pycrm.core.alerts import Alert, AlertRule
from pycrm.core.audit import ChangeAction
from pycrm.core.customers import ChurnState, Contact, Customer
from pycrm.core.records import SYSTEM_USER
from pycrm.core.tickets import Ticket
from pycrm.i18n import translate
from pycrm.services.activities import RUNNING
from pycrm.services.auditing import audited, creations
from pycrm.services.lookups import manager_of
from pycrm.services.opportunities import stale_deals
from pycrm.services.sweep import fresh_alerts, new_alert, raise_alerts
from pycrm.storage.base import Condition, Filter, Op, Query
from pycrm.storage.capabilities import each
from pycrm.storage.capabilities.churn import ChurnCheck, churn_queries

if TYPE_CHECKING:
    from pycrm.services.sweep import SweepRule
    from pycrm.services.unit_of_work import UnitOfWork

__all__ = ["BUILT_IN_RULES"]

T = TypeVar("T")

#: Reminders more than this late (the sweep did not run) are no longer raised.
LATE_REMINDERS = dt.timedelta(days=7)
#: Records a rule handles at once.
PAGE = 1000


def _pages(items: Iterable[T], size: int = PAGE) -> Iterator[list[T]]:
    it = iter(items)
    while page := list(islice(it, size)):
        yield page


class Reminders:
    """``activity.reminder``: open activities whose ``remind_at`` has come (up to a week
    late), to their owner."""

    key = AlertRule.REMINDER

    def run(self, uow: UnitOfWork, now: dt.datetime) -> int:
        query = Query(
            filters=(
                Filter("remind_at", Op.GTE, now - LATE_REMINDERS),
                Filter("remind_at", Op.LTE, now),
                Filter("done", Op.EQ, False),
            ),
            order=(("remind_at", False),),
        )
        count = 0
        for page in _pages(each(uow.tx, Activity, uow.everything, query)):
            found = [_reminder(uow, a) for a in page if a.remind_at is not None]
            count += len(raise_alerts(uow, fresh_alerts(uow, found)))
        return count


def _reminder(uow: UnitOfWork, activity: Activity) -> Alert:
    assert activity.remind_at is not None
    details: dict[str, object] = {"subject": activity.subject, "due_at": activity.due_at}
    occasion = activity.remind_at.isoformat()
    return new_alert(
        uow, AlertRule.REMINDER, activity, occasion, activity.owner_id, details=details
    )


class SlaAlerts:
    """``ticket.sla_warning`` when a running ticket's warning time has come, and
    ``ticket.sla_breached`` with ``ticket.escalated`` (a to-do for the assignee's
    superior, or the policy's ``escalate_to``) when its deadline has passed: for the first
    response and for the resolution, each once per deadline."""

    key = "ticket.sla"

    def run(self, uow: UnitOfWork, now: dt.datetime) -> int:
        count = 0
        for target, deadline, warning in _TARGETS:
            base: tuple[Condition, ...] = (Filter("status", Op.IN, frozenset(RUNNING)),)
            if target == "response":
                base += (Filter("responded_at", Op.IS_NULL, True),)
            # Past the deadline, not at it: a response at the deadline is on time.
            late = Query(filters=(*base, Filter(deadline, Op.LT, now)))
            for page in _pages(each(uow.tx, Ticket, uow.everything, late)):
                count += _breached(uow, page, target, deadline)
            soon = (Filter(warning, Op.LTE, now), Filter(deadline, Op.GTE, now))
            for page in _pages(each(uow.tx, Ticket, uow.everything, Query(filters=base + soon))):
                found = [_sla_alert(uow, AlertRule.SLA_WARNING, t, target, deadline) for t in page]
                count += len(raise_alerts(uow, fresh_alerts(uow, found)))
        return count


#: (target, deadline field, warning field) of the SLA clock.
_TARGETS = (
    ("response", "respond_by", "response_warn_at"),
    ("resolution", "due_at", "resolution_warn_at"),
)


def _sla_alert(uow: UnitOfWork, rule: str, ticket: Ticket, target: str, deadline: str) -> Alert:
    when: dt.datetime = getattr(ticket, deadline)
    details: dict[str, object] = {"target": target, "deadline": when, "subject": ticket.subject}
    occasion = f"{target}:{when.isoformat()}"
    return new_alert(
        uow, rule, ticket, occasion, ticket.assignee_id or ticket.owner_id, details=details
    )


def _breached(uow: UnitOfWork, tickets: list[Ticket], target: str, deadline: str) -> int:
    """Raise the breaches not raised before: mark each ticket, escalate each."""
    found = fresh_alerts(
        uow, [_sla_alert(uow, AlertRule.SLA_BREACHED, t, target, deadline) for t in tickets]
    )
    if not found:
        return 0
    by_id = {t.id: t for t in tickets}
    managers: dict[uuid.UUID, uuid.UUID | None] = {}
    escalations: list[Alert] = []
    tasks: list[Activity] = []
    for item in found:
        ticket = by_id[item.subject]
        before = audited(ticket)
        setattr(ticket, f"{target}_breached", True)
        uow.tickets._save(uow, ticket, before, ChangeAction.UPDATE)
        targets = uow.config.service.policy(ticket.sla_policy)
        boss = targets.escalate_to if targets and targets.escalate_to else None
        boss = boss or manager_of(uow, ticket.assignee_id or ticket.owner_id, managers)
        if boss is None:
            continue
        task = _escalation_task(uow, ticket, target, getattr(ticket, deadline), boss)
        tasks.append(task)
        escalated = _sla_alert(uow, AlertRule.ESCALATED, ticket, target, deadline)
        escalated.recipient, escalated.task = boss, task.id
        escalations.append(escalated)
    _insert_tasks(uow, tasks)
    raise_alerts(uow, found)
    raise_alerts(uow, escalations)
    return len(found) + len(escalations)


def _escalation_task(
    uow: UnitOfWork, ticket: Ticket, target: str, deadline: dt.datetime, boss: uuid.UUID
) -> Activity:
    locale = uow.config.locale
    what = translate(msg.SLA_RESPONSE if target == "response" else msg.SLA_RESOLUTION, locale)
    subject = translate(
        msg.ESCALATION_SUBJECT,
        locale,
        subject=ticket.subject,
        target=what,
        deadline=_local(uow, deadline).strftime("%Y-%m-%d %H:%M"),
    )
    return _task(uow, boss, subject, ticket_id=ticket.id, customer_id=ticket.customer_id)


def _task(
    uow: UnitOfWork,
    owner: uuid.UUID,
    subject: str,
    *,
    customer_id: uuid.UUID | None = None,
    ticket_id: uuid.UUID | None = None,
) -> Activity:
    task = Activity(
        tenant=uow.tenant,
        owner_id=owner,
        type=ActivityKind.TASK,
        subject=subject[:200],
        due_at=uow.now(),
        assigned_by=SYSTEM_USER,
        customer_id=customer_id,
        ticket_id=ticket_id,
    )
    task.stamp(uow.user, uow.now(), created=True)
    return task


def _insert_tasks(uow: UnitOfWork, tasks: list[Activity]) -> None:
    if tasks:
        uow.tx.insert(tasks)
        uow.activities._audit(uow, creations(tasks))


class Dunning:
    """``dunning``: the receivables' dunning run for the day (its to-dos keep a unique
    key of their own: one per installment and due date)."""

    key = "dunning"

    def run(self, uow: UnitOfWork, now: dt.datetime) -> int:
        return len(uow.receivables.run_dunning(on=_day(uow, now)))


class StaleDeals:
    """``opportunity.stale``: open deals without contact for their stage's stale days
    (or longer in their stage than its dwell days), to their owner, once per spell."""

    key = AlertRule.STALE_DEAL

    def run(self, uow: UnitOfWork, now: dt.datetime) -> int:
        count = 0
        for page in _pages(stale_deals(uow, now)):
            found = []
            for deal in page:
                quiet = deal.last_contact_at or deal.created_at
                entered = deal.stage_entered_at or deal.created_at
                occasion = f"{quiet.isoformat()}|{entered.isoformat()}"
                details: dict[str, object] = {"name": deal.name, "stage": deal.stage}
                found.append(
                    new_alert(uow, self.key, deal, occasion, deal.owner_id, details=details)
                )
            count += len(raise_alerts(uow, fresh_alerts(uow, found)))
        return count


class Birthdays:
    """``contact.birthday``: a to-do for the rep of each contact born on today's date
    (in the tenant's time zone; 29 February ones on 28 February in other years)."""

    key = AlertRule.BIRTHDAY

    def run(self, uow: UnitOfWork, now: dt.datetime) -> int:
        day = _day(uow, now)
        keys = {day.strftime("%m-%d")}
        if (day.month, day.day) == (2, 28) and (day + dt.timedelta(days=1)).month == 3:
            keys.add("02-29")
        query = Query(filters=(Filter("birth_month_day", Op.IN, frozenset(keys)),))
        count = 0
        for page in _pages(each(uow.tx, Contact, uow.everything, query)):
            count += _birthdays(uow, page, day)
        return count


def _birthdays(uow: UnitOfWork, contacts: list[Contact], day: dt.date) -> int:
    customers = {
        c.id: c
        for c in uow.tx.find(
            Customer, uow.everything, Query(ids=frozenset(c.customer_id for c in contacts))
        )
    }
    candidates = []
    for contact in contacts:
        customer = customers.get(contact.customer_id)
        if customer is None:
            continue  # the customer was deleted
        # The contact's own rep, else the customer's; a job's records have none.
        reps = (contact.owner_id, customer.owner_id)
        rep = next((r for r in reps if r is not None and r != SYSTEM_USER), None)
        details: dict[str, object] = {"name": contact.name}
        candidates.append(
            new_alert(uow, AlertRule.BIRTHDAY, contact, str(day.year), rep, details=details)
        )
    found = fresh_alerts(uow, candidates)
    tasks = []
    by_id = {c.id: c for c in contacts}
    locale = uow.config.locale
    for item in found:
        contact = by_id[item.subject]
        customer = customers.get(contact.customer_id)
        if item.recipient is None:
            continue
        subject = translate(
            msg.BIRTHDAY_SUBJECT,
            locale,
            name=contact.name,
            customer=customer.name if customer else "?",
        )
        task = _task(uow, item.recipient, subject, customer_id=contact.customer_id)
        task.contact_id = contact.id
        item.task = task.id
        tasks.append(task)
    _insert_tasks(uow, tasks)
    return len(raise_alerts(uow, found))


class CareDays:
    """``care_day``: on each of the tenant's care days, one to-do for every rep who owns
    customers, to greet them."""

    key = AlertRule.CARE_DAY

    def run(self, uow: UnitOfWork, now: dt.datetime) -> int:
        day = _day(uow, now)
        days = [d for d in uow.config.service.care_days if d.falls_on(day)]
        if not days:
            return 0
        owned = Query(filters=(Filter("owner_id", Op.IS_NULL, False),))
        reps = [g.key[0] for g in uow.tx.group(Customer, uow.everything, owned, ("owner_id",))]
        reps = [r for r in reps if r is not None and r != SYSTEM_USER]
        candidates = [
            new_alert(uow, self.key, rep, f"{day.isoformat()}:{care.name}", rep, kind="user")
            for care in days
            for rep in reps
        ]
        found = fresh_alerts(uow, candidates)
        tasks = []
        locale = uow.config.locale
        for item in found:
            name = item.occasion.split(":", 1)[1]
            task = _task(uow, item.subject, translate(msg.CARE_DAY_SUBJECT, locale, name=name))
            item.task = task.id
            tasks.append(task)
        _insert_tasks(uow, tasks)
        return len(raise_alerts(uow, found))


class ChurnWarnings:
    """``customer.churn``: customers the tenant's churn rules flag get a warning
    (``churn_state`` "warning", with the reasons), audited, and their rep an alert."""

    key = AlertRule.CHURN

    def run(self, uow: UnitOfWork, now: dt.datetime) -> int:
        rules = uow.config.churn
        if not rules.any:
            return 0
        check = ChurnCheck(rules=rules, now=now, today=_day(uow, now))
        flagged = churn_queries(uow.tx).churn_candidates(uow.tenant, check)
        count = 0
        for page in _pages(flagged):
            ids = frozenset(customer for customer, _, _ in page)
            found = {c.id: c for c in uow.tx.find(Customer, uow.everything, Query(ids=ids))}
            alerts = []
            for customer_id, owner, reasons in page:
                customer = found[customer_id]
                before = audited(customer)
                customer.churn_state, customer.churn_reasons = ChurnState.WARNING, reasons
                customer.churn_flagged_at, customer.churn_action = now, None
                customer.churn_until = None
                uow.customers._save(uow, customer, before, ChangeAction.UPDATE)
                details: dict[str, object] = {"name": customer.name, "reasons": reasons}
                occasion = now.isoformat()
                alerts.append(new_alert(uow, self.key, customer, occasion, owner, details=details))
            count += len(raise_alerts(uow, fresh_alerts(uow, alerts)))
        return count


class PoolRecycling:
    """``pool.recycle``: every public pool's recycle rules and reminders
    (:meth:`pycrm.services.pools.PoolService.recycle`)."""

    key = "pool.recycle"

    def run(self, uow: UnitOfWork, now: dt.datetime) -> int:
        run = uow.pools.recycle(now=now)
        return sum(run.recycled.values()) + run.reminded


def _local(uow: UnitOfWork, moment: dt.datetime) -> dt.datetime:
    """``moment`` in the tenant's time zone."""
    return moment.astimezone(zoneinfo.ZoneInfo(uow.config.time_zone))


def _day(uow: UnitOfWork, now: dt.datetime) -> dt.date:
    """``now``'s date in the tenant's time zone."""
    return _local(uow, now).date()


#: The rules :mod:`pycrm.plugins.default_sweep` registers, in the order they run.
BUILT_IN_RULES: tuple[SweepRule, ...] = (
    Reminders(),
    SlaAlerts(),
    Dunning(),
    StaleDeals(),
    Birthdays(),
    CareDays(),
    ChurnWarnings(),
    PoolRecycling(),
)
