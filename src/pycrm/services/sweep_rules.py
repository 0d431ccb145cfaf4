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
from pycrm.core.org import User
from pycrm.core.records import SYSTEM_USER
from pycrm.core.tickets import Ticket
from pycrm.i18n import translations
from pycrm.services.auditing import audited, creations
from pycrm.services.opportunities import stale_deals
from pycrm.services.sweep import fresh_alerts, new_alert, raise_alerts
from pycrm.storage.base import Filter, Op, Query
from pycrm.storage.capabilities import each
from pycrm.storage.capabilities.churn import ChurnCheck, churn_queries
from pycrm.storage.capabilities.sweeping import (
    DueDeadline,
    DueReminder,
    Stage,
    alert_writes,
    sweep_queries,
)

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
        since = now - LATE_REMINDERS
        writes = alert_writes(uow.tx)
        if writes is not None and not uow.wants_events:  # nothing needs them read
            return writes.raise_reminders(uow.tenant, self.key, since, now)
        due = sweep_queries(uow.tx).due_reminders(uow.tenant, self.key, since, now)
        count = 0
        for page in _pages(due):
            count += len(raise_alerts(uow, [_reminder(uow, r) for r in page]))
        return count


def _reminder(uow: UnitOfWork, due: DueReminder) -> Alert:
    details: dict[str, object] = {"subject": due.subject, "due_at": due.due_at}
    return new_alert(
        uow,
        AlertRule.REMINDER,
        due.activity_id,
        due.remind_at.isoformat(),
        due.owner_id,
        kind=Activity.kind,
        details=details,
        moment=due.remind_at,
    )


class SlaAlerts:
    """``ticket.sla_warning`` when a running ticket's warning time has come, and
    ``ticket.sla_breached`` with ``ticket.escalated`` (a to-do for the assignee's
    superior, or the policy's ``escalate_to``) when its deadline has passed: for the first
    response and for the resolution, each once per deadline. A deadline passes after its
    minute, not at it: a response at the deadline is on time. (Whether a response or a
    resolution was late is kept on the ticket when it happens.)"""

    key = "ticket.sla"

    def run(self, uow: UnitOfWork, now: dt.datetime) -> int:
        rules: dict[Stage, str] = {
            "warning": AlertRule.SLA_WARNING,
            "breach": AlertRule.SLA_BREACHED,
        }
        managers: dict[uuid.UUID, uuid.UUID | None] = {}
        count = 0
        writes = alert_writes(uow.tx)
        if writes is not None and not uow.wants_events:
            # Warnings are written without reading them; breaches are read, as their
            # escalations need the agents' superiors.
            count += writes.raise_deadlines(
                uow.tenant, {"warning": rules["warning"]}, now, SYSTEM_USER
            )
            rules = {"breach": rules["breach"]}
        due = sweep_queries(uow.tx).due_deadlines(uow.tenant, rules, now)
        for page in _pages(due):
            alerts = [_sla_alert(uow, rules[d.stage], d) for d in page]
            count += len(raise_alerts(uow, alerts))
            breaches = [d for d in page if d.stage == "breach"]
            count += _escalate(uow, breaches, managers)
        return count


def _sla_alert(uow: UnitOfWork, rule: str, due: DueDeadline) -> Alert:
    details: dict[str, object] = {
        "target": due.target,
        "deadline": due.deadline,
        "subject": due.subject,
    }
    recipient = due.assignee_id or due.owner_id
    if recipient == SYSTEM_USER:
        recipient = None  # opened by a job and given to nobody yet
    occasion = f"{due.target}:{due.deadline.isoformat()}"
    return new_alert(
        uow,
        rule,
        due.ticket_id,
        occasion,
        recipient,
        kind=Ticket.kind,
        details=details,
        moment=due.deadline,
    )


def _escalate(
    uow: UnitOfWork, breaches: list[DueDeadline], managers: dict[uuid.UUID, uuid.UUID | None]
) -> int:
    """A to-do and an alert for the superior of each breached ticket's agent (or the
    policy's ``escalate_to``); the superiors of a page looked up at once."""
    _superiors(uow, {b.assignee_id or b.owner_id for b in breaches}, managers)
    escalations, tasks = [], []
    for due in breaches:
        targets = uow.config.service.policy(due.sla_policy)
        boss = targets.escalate_to if targets and targets.escalate_to else None
        agent = due.assignee_id or due.owner_id
        boss = boss or (managers.get(agent) if agent is not None else None)
        if boss is None:
            continue
        task = _escalation_task(uow, due, boss)
        tasks.append(task)
        escalated = _sla_alert(uow, AlertRule.ESCALATED, due)
        escalated.recipient, escalated.task = boss, task.id
        escalations.append(escalated)
    _insert_tasks(uow, tasks)
    return len(raise_alerts(uow, escalations))


def _superiors(
    uow: UnitOfWork, users: set[uuid.UUID | None], managers: dict[uuid.UUID, uuid.UUID | None]
) -> None:
    wanted = frozenset(u for u in users if u is not None and u not in managers)
    if wanted:
        found = {u.id: u.manager_id for u in uow.tx.find(User, uow.everything, Query(ids=wanted))}
        managers.update({u: found.get(u) for u in wanted})


def _escalation_task(uow: UnitOfWork, due: DueDeadline, boss: uuid.UUID) -> Activity:
    locale = uow.config.locale
    target = msg.SLA_RESPONSE if due.target == "response" else msg.SLA_RESOLUTION
    subject = translate(
        msg.ESCALATION_SUBJECT,
        locale,
        subject=due.subject,
        target=translate(target, locale),
        deadline=_local(uow, due.deadline).strftime("%Y-%m-%d %H:%M"),
    )
    return _task(uow, boss, subject, ticket_id=due.ticket_id, customer_id=due.customer_id)


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


def translate(message: str, locale: str, **params: object) -> str:
    """A message of the catalogue in the tenant's (already checked) locale: what
    :func:`pycrm.i18n.translate` gives, without checking its arguments a to-do at a time."""
    return translations(locale).gettext(message).format(**params)


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
