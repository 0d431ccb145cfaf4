"""Activities (行动/待办): calls, visits, emails, meetings and to-dos, the tasks managers
assign with the reports back, and each user's agenda for the day."""

from __future__ import annotations

import builtins
import datetime as dt
import uuid
import zoneinfo
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Literal, Unpack

import attrs
from pydantic import BaseModel, ConfigDict, Field

from pycrm.core.access import Action
from pycrm.core.activities import Activity, ActivityKind
from pycrm.core.audit import ChangeAction
from pycrm.core.customers import Contact
from pycrm.core.opportunities import Opportunity
from pycrm.core.records import SYSTEM_USER
from pycrm.core.tickets import DONE_STATUSES, Ticket, TicketStatus
from pycrm.errors import RuleViolation
from pycrm.schemas import ActivityFields, LongText, checked_call
from pycrm.services.auditing import audited
from pycrm.services.base import RecordService, _as_id, _check_version
from pycrm.services.lookups import subtree
from pycrm.services.receivables import DueInstallment
from pycrm.storage.base import AllOf, AnyOf, Condition, Filter, Op, Query, Related, Scope

if TYPE_CHECKING:
    from pycrm.services.unit_of_work import UnitOfWork

__all__ = ["ActivityService", "Agenda", "TaskCompletion"]

Period = Literal["day", "week", "month"]


class TaskCompletion(BaseModel):
    """One rep's tasks due in a period: how many, how many done, how many still open
    past their due time."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    owner_id: uuid.UUID | None
    due: int
    done: int
    overdue: int

    @property
    def rate(self) -> float:
        """The share of the period's tasks done, 0 to 1 (1 with none due)."""
        return self.done / self.due if self.due else 1.0


class Agenda(BaseModel):
    """What one user has to follow up on a day, across records."""

    model_config = ConfigDict(frozen=True, defer_build=True, arbitrary_types_allowed=True)

    user_id: uuid.UUID
    day: dt.date
    tasks: list[Activity]
    tickets: list[Ticket]
    stale_deals: list[Opportunity]
    installments: list[DueInstallment]
    birthdays: list[Contact]


class ActivityService(RecordService[Activity]):
    """Activities: calls, visits, emails and to-dos; assigned tasks; the agenda."""

    entity = Activity
    fields = ActivityFields
    required = ("type", "subject")

    def create(self, **fields: Unpack[ActivityFields]) -> Activity:
        """Create an activity; see :class:`pycrm.schemas.ActivityFields` for the fields.
        One created for another user (``owner_id``) is a task assigned by the acting user
        (``assigned_by``)."""
        return self._create(fields)

    def update(
        self,
        record_id: uuid.UUID | str,
        *,
        version: int | None = None,
        **changes: Unpack[ActivityFields],
    ) -> Activity:
        """Change some fields; pass ``version`` to refuse if someone changed it since."""
        return self._update(record_id, version, changes)

    @checked_call
    def complete(
        self,
        record_id: uuid.UUID | str,
        *,
        result: LongText | None = None,
        version: int | None = None,
    ) -> Activity:
        """Mark an activity done now, with its result (the report back on an assigned
        task). RuleViolation if it is done already."""
        with self._step() as uow:
            record = self._load(uow, _as_id(record_id), for_update=True)
            _check_version(record, version)
            uow.access.require(Activity.kind, Action.EDIT, record)
            if record.done:
                raise RuleViolation(f"activity {record.id} is done already", rule="activity.done")
            before, old = audited(record), _copy(record)
            record.done, record.done_at, record.result = True, uow.now(), result
            self._before_write(uow, record, old)
            return self._shown(uow, self._save(uow, record, before, ChangeAction.UPDATE))

    @checked_call
    def overdue(
        self,
        *,
        owner_id: uuid.UUID | None = None,
        limit: Annotated[int, Field(ge=1, le=10_000)] = 1000,
    ) -> builtins.list[Activity]:
        """Open activities past their due time, oldest due first (of one owner if given);
        at most ``limit`` (1 to 10,000)."""
        with self._step(read_only=True) as uow:
            filters = [Filter("done", Op.EQ, False), Filter("due_at", Op.LT, uow.now())]
            if owner_id is not None:
                filters.append(Filter("owner_id", Op.EQ, owner_id))
            query = Query(filters=tuple(filters), order=(("due_at", False),), limit=limit)
            return self._shown_all(uow, uow.tx.find(Activity, uow.scope, query))

    @checked_call
    def completion(
        self,
        period: Period,
        *,
        on: dt.date | None = None,
        department_id: uuid.UUID | None = None,
        assigned_only: bool = False,
    ) -> builtins.list[TaskCompletion]:
        """Per rep, the tasks due in the ``"day"``, ``"week"`` (Monday to Sunday) or
        ``"month"`` around ``on`` (default today, in the tenant's time zone): how many,
        how many done, how many open past their due time; of the reps of one department
        and those under it if given; only tasks a manager assigned if ``assigned_only``.
        Counted in the database; by owner."""
        with self._step(read_only=True) as uow:
            start, end = _bounds(uow, period, on or uow.today())
            scope = _of_department(uow, uow.scope, department_id)
            base: list[Condition] = [
                Filter("type", Op.EQ, ActivityKind.TASK.value),
                Filter("due_at", Op.GTE, start),
                Filter("due_at", Op.LT, end),
            ]
            if assigned_only:  # by a person: not the sweep's or dunning's to-dos
                base.append(Filter("assigned_by", Op.IS_NULL, False))
                base.append(Filter("assigned_by", Op.NE, SYSTEM_USER))
            late = [Filter("done", Op.EQ, False), Filter("due_at", Op.LT, uow.now())]
            due = _per_owner(uow, scope, base)
            done = _per_owner(uow, scope, [*base, Filter("done", Op.EQ, True)])
            overdue = _per_owner(uow, scope, [*base, *late])
        return [
            TaskCompletion(
                owner_id=owner,
                due=count,
                done=done.get(owner, 0),
                overdue=overdue.get(owner, 0),
            )
            for owner, count in sorted(due.items(), key=lambda kv: str(kv[0]))
        ]

    @checked_call
    def agenda(self, *, user_id: uuid.UUID | None = None, on: dt.date | None = None) -> Agenda:
        """Everything ``user_id`` (default the acting user) has to follow up on ``on``
        (default today): open tasks due by the end of the day (overdue ones too), open
        tickets assigned to them whose deadline or warning falls by then, their stale
        deals, installments of their orders due by then, and birthdays of their
        customers' contacts. Only records the acting user may see."""
        with self._step(read_only=True) as uow:
            who = user_id or uow.user
            day = on or uow.today()
            _, end = _bounds(uow, "day", day)
            tasks = self._agenda_tasks(uow, who, end)
            tickets = _agenda_tickets(uow, who, end)
            deals = [d for d in uow.opportunities.stale() if d.owner_id == who]
            dues = uow.receivables.due("today", on=day, owner_id=who)
            dues = uow.receivables.due("overdue", on=day, owner_id=who) + dues
            birthdays = _birthdays(uow, who, day)
        return Agenda(
            user_id=who,
            day=day,
            tasks=tasks,
            tickets=tickets,
            stale_deals=deals,
            installments=dues,
            birthdays=birthdays,
        )

    def _agenda_tasks(
        self, uow: UnitOfWork, who: uuid.UUID, end: dt.datetime
    ) -> builtins.list[Activity]:
        filters = (
            Filter("owner_id", Op.EQ, who),
            Filter("done", Op.EQ, False),
            Filter("due_at", Op.LT, end),
        )
        query = Query(filters=filters, order=(("due_at", False),), limit=1000)
        return self._shown_all(uow, uow.tx.find(Activity, uow.scope, query))

    # -- writing ------------------------------------------------------------------------
    def _before_insert(self, uow: UnitOfWork, records: Sequence[Activity]) -> None:
        for record in records:
            if record.owner_id is not None and record.owner_id != uow.user:
                record.assigned_by = record.assigned_by or uow.user
            if record.done and record.done_at is None:
                record.done_at = uow.now()  # logged as done: done when logged

    def _before_write(self, uow: UnitOfWork, record: Activity, old: Activity | None) -> None:
        """An activity about a deal marked done is contact with it now."""
        if old is not None and record.opportunity_id is not None and record.done and not old.done:
            uow.opportunities.record_contact(record.opportunity_id, at=uow.now())
        if old is not None and record.done and not old.done and record.done_at is None:
            record.done_at = uow.now()

    def _after_insert(self, uow: UnitOfWork, records: Sequence[Activity]) -> None:
        """New activities about deals are contact with them now: one update per deal, however
        many activities a bulk import brings."""
        for deal in dict.fromkeys(r.opportunity_id for r in records if r.opportunity_id):
            uow.opportunities.record_contact(deal, at=uow.now())


def _copy(record: Activity) -> Activity:
    return attrs.evolve(record, custom=dict(record.custom))


def _bounds(uow: UnitOfWork, period: Period, day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The period around ``day`` as instants: midnight to midnight in the tenant's zone
    (the calendar's first and last days reach as far as the calendar goes)."""
    if period == "day":
        first, last = day, day
    elif period == "week":
        first = _moved(day, -day.weekday())
        last = _moved(first, 6)
    else:
        first = day.replace(day=1)
        following = _moved(first, 32)
        last = _moved(following.replace(day=1), -1) if following < dt.date.max else following
    zone = zoneinfo.ZoneInfo(uow.config.time_zone)

    def midnight(d: dt.date) -> dt.datetime:
        try:
            return dt.datetime.combine(d, dt.time(), tzinfo=zone).astimezone(dt.UTC)
        except OverflowError:
            return (
                dt.datetime.max.replace(tzinfo=dt.UTC)
                if d.year > 1
                else dt.datetime.min.replace(tzinfo=dt.UTC)
            )

    end = (
        midnight(_moved(last, 1)) if last < dt.date.max else dt.datetime.max.replace(tzinfo=dt.UTC)
    )
    return midnight(first), end


def _moved(day: dt.date, days: int) -> dt.date:
    """``day`` moved by ``days``, held at the calendar's first and last days."""
    try:
        return day + dt.timedelta(days=days)
    except OverflowError:
        return dt.date.max if days > 0 else dt.date.min


def _of_department(uow: UnitOfWork, scope: Scope, department: uuid.UUID | None) -> Scope:
    if department is None:
        return scope
    members = Filter("department_id", Op.IN, subtree(uow, department))
    return scope.narrowed(Activity.kind, Related("owner_id", "user", members))


def _per_owner(
    uow: UnitOfWork, scope: Scope, filters: Sequence[Condition]
) -> dict[uuid.UUID | None, int]:
    groups = uow.tx.group(Activity, scope, Query(filters=tuple(filters)), ("owner_id",))
    return {g.key[0]: g.count for g in groups}


#: Ticket statuses whose clock runs (waiting tickets are paused).
RUNNING = tuple(s.value for s in TicketStatus if s not in DONE_STATUSES and s != "waiting")


def _agenda_tickets(uow: UnitOfWork, who: uuid.UUID, end: dt.datetime) -> list[Ticket]:
    unanswered = AllOf(
        (
            Filter("responded_at", Op.IS_NULL, True),
            AnyOf((Filter("response_warn_at", Op.LT, end), Filter("respond_by", Op.LT, end))),
        )
    )
    soon = AnyOf(
        (
            unanswered,
            Filter("resolution_warn_at", Op.LT, end),
            Filter("due_at", Op.LT, end),
        )
    )
    filters = (
        Filter("assignee_id", Op.EQ, who),
        Filter("status", Op.IN, frozenset(RUNNING)),
        soon,
    )
    query = Query(filters=filters, order=(("due_at", False),), limit=1000)
    return uow.tickets._shown_all(uow, uow.tx.find(Ticket, uow.scope, query))


def _birthdays(uow: UnitOfWork, who: uuid.UUID, day: dt.date) -> list[Contact]:
    """Contacts of the user's customers (or their own contacts) born on ``day``'s date
    (29 February ones on 28 February in other years)."""
    keys = {day.strftime("%m-%d")}
    if day.month == 2 and day.day == 28 and not _leap(day.year):
        keys.add("02-29")
    owned = Related("customer_id", "customer", Filter("owner_id", Op.EQ, who))
    filters = (
        Filter("birth_month_day", Op.IN, frozenset(keys)),
        AnyOf((Filter("owner_id", Op.EQ, who), owned)),
    )
    query = Query(filters=filters, order=(("name", False),), limit=1000)
    return uow.contacts._shown_all(uow, uow.tx.find(Contact, uow.scope, query))


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
