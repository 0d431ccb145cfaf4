"""Receivables for the order assistant: lists of installments due, and dunning.

Due lists ask the storage's receivables capability for open installments
(:mod:`pycrm.storage.capabilities.receivables`: SQL on the SQL backend, a fallback on the
record store elsewhere), within the unit of work's scope, narrowed to one rep or one
department subtree when asked.
"""

from __future__ import annotations

import calendar
import datetime as dt
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict

from pycrm.core import messages as msg
from pycrm.core.access import Action
from pycrm.core.activities import Activity, ActivityKind
from pycrm.core.customers import Customer
from pycrm.core.events import InstallmentOverdue
from pycrm.core.money import Money
from pycrm.core.payments import Installment, InstallmentState
from pycrm.core.snapshot import plain
from pycrm.errors import PermissionDenied, ValidationError
from pycrm.schemas import MoneyValue, checked_call
from pycrm.services.auditing import creations
from pycrm.services.batching import chunks
from pycrm.services.lookups import names, subtree
from pycrm.storage.base import Filter, Op, Query, Related, Scope
from pycrm.storage.capabilities.receivables import OpenInstallment, receivables_queries

if TYPE_CHECKING:
    from pycrm.services.unit_of_work import Step, UnitOfWork

__all__ = ["DueInstallment", "ReceivablesService"]

Window = Literal["today", "week", "month", "overdue"]


class DueInstallment(BaseModel):
    """One installment with money left, as the order assistant's lists show it."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    installment_id: uuid.UUID
    plan_id: uuid.UUID
    order_id: uuid.UUID | None
    customer_id: uuid.UUID | None
    customer_name: str | None
    owner_id: uuid.UUID | None
    department_id: uuid.UUID | None
    due_on: dt.date
    amount: MoneyValue
    paid: MoneyValue
    left: MoneyValue
    state: InstallmentState
    days_overdue: int


class ReceivablesService:
    """``uow.receivables``: due lists and dunning (the reports are ``uow.reports``)."""

    def __init__(self, step: Step) -> None:
        self._step = step

    # -- lists ----------------------------------------------------------------------------
    @checked_call
    def due(
        self,
        window: Window,
        *,
        on: dt.date | None = None,
        owner_id: uuid.UUID | None = None,
        department_id: uuid.UUID | None = None,
    ) -> list[DueInstallment]:
        """Installments with money left due ``"today"``, this ``"week"`` (Monday to
        Sunday), this ``"month"``, or ``"overdue"`` (due before today), seen on ``on``
        (default today), optionally of one rep or of the reps of one department and the
        departments under it (a branch and its teams); by due date, then customer name."""
        with self._step(read_only=True) as uow:
            day = on or uow.today()
            start, end = _window(window, day)
            scope = _narrowed(uow, owner_id, department_id)
            found = receivables_queries(uow.tx).open_installments(scope, due_from=start, due_to=end)
            customers = names(uow, Customer, (row.customer_id for row in found))
        rows = [_due(row, day, customers.get(row.customer_id)) for row in found]
        return sorted(rows, key=lambda r: (r.due_on, r.customer_name or "", r.installment_id))

    # -- dunning --------------------------------------------------------------------------
    @checked_call
    def run_dunning(self, *, on: dt.date | None = None) -> list[Activity]:
        """Create one dunning to-do (催款) per installment overdue on ``on`` (default today)
        or due within ``Settings.dunning_days_ahead`` days (today counting as the first;
        0 means overdue ones only), for the order's owner, linked
        to the order and customer. An installment gets one to-do per due date, never two
        (a unique key in storage), so running this daily is safe. Emits
        ``installment.overdue`` for each overdue installment a to-do was created for.
        Returns the to-dos created by this run."""
        with self._step() as uow:
            day = on or uow.today()
            # N days ahead counts today as the first: 0 = overdue only, 1 = also due today.
            due_from, due_to = _dunning_window(day, uow.crm.settings.dunning_days_ahead)
            reach = uow.access.scope(Action.RUN_DUNNING)
            if not uow.access.scopes("payment_plan", Action.RUN_DUNNING):
                raise PermissionDenied(f"user {uow.user} may not run dunning")
            rows = receivables_queries(uow.tx).open_installments(
                reach, due_from=due_from, due_to=due_to
            )
            done = _dunned(uow, [r.installment_id for r in rows])
            fresh = [r for r in rows if (r.installment_id, r.due_on) not in done]
            customers = names(uow, Customer, (row.customer_id for row in fresh))
            tasks = [_dunning_task(uow, row, day, customers.get(row.customer_id)) for row in fresh]
            if tasks:
                uow.tx.insert(tasks)
                uow.activities._audit(uow, creations(tasks))
            if uow.wants_events:
                for row in fresh:
                    if row.due_on < day:
                        uow.emit(_overdue_event(uow, row, day))
            return tasks


#: A window no date is in: what falls due before the calendar's first day.
_NO_DAYS = (dt.date.max, dt.date.min)


def _window(window: Window, day: dt.date) -> tuple[dt.date | None, dt.date | None]:
    if window == "today":
        return day, day
    if window == "week":
        # The week of 9999-12-31 ends in a year no date has: it ends on the last day.
        monday = _moved(day, -day.weekday()) or dt.date.min
        return monday, _moved(monday, 6) or dt.date.max
    if window == "month":
        last = calendar.monthrange(day.year, day.month)[1]
        return day.replace(day=1), day.replace(day=last)
    if window == "overdue":
        before = _moved(day, -1)
        return _NO_DAYS if before is None else (None, before)
    raise ValidationError.single("window", f"{window!r} is not one of: today, week, month, overdue")


def _dunning_window(day: dt.date, days_ahead: int) -> tuple[dt.date | None, dt.date]:
    """Due dates dunned on ``day``: overdue ones, and those due within ``days_ahead``
    days (today counting as the first), within the calendar's dates."""
    last = _moved(day, days_ahead - 1)
    if last is None:
        return _NO_DAYS if days_ahead < 1 else (None, dt.date.max)
    return None, last


def _moved(day: dt.date, days: int) -> dt.date | None:
    """``day`` moved by ``days``, or None past 0001-01-01 or 9999-12-31."""
    try:
        return day + dt.timedelta(days=days)
    except OverflowError:
        return None


def _narrowed(
    uow: UnitOfWork, owner_id: uuid.UUID | None, department_id: uuid.UUID | None
) -> Scope:
    """The unit of work's scope, with plans of one rep and/or of the reps of a department
    and the departments under it."""
    scope = uow.scope
    if owner_id is not None:
        scope = scope.narrowed("payment_plan", Filter("owner_id", Op.EQ, owner_id))
    if department_id is not None:
        departments = Filter("department_id", Op.IN, subtree(uow, department_id))
        scope = scope.narrowed("payment_plan", Related("owner_id", "user", departments))
    return scope


def _due(row: OpenInstallment, day: dt.date, customer_name: str | None) -> DueInstallment:
    amount = Money.from_minor(row.amount_minor, row.currency)
    paid = Money.from_minor(row.paid_minor, row.currency)
    # The domain's rule, so the list and Installment.state can never disagree.
    state = Installment(id=row.installment_id, due_on=row.due_on, amount=amount, paid=paid).state(
        day
    )
    return DueInstallment(
        installment_id=row.installment_id,
        plan_id=row.plan_id,
        order_id=row.order_id,
        customer_id=row.customer_id,
        customer_name=customer_name,
        owner_id=row.owner_id,
        department_id=row.department_id,
        due_on=row.due_on,
        amount=amount,
        paid=paid,
        left=amount - paid,
        state=state,
        days_overdue=max(0, (day - row.due_on).days),
    )


def _dunned(uow: UnitOfWork, ids: Sequence[uuid.UUID]) -> set[tuple[uuid.UUID, dt.date]]:
    """(installment, due date) pairs that already have a dunning to-do (even deleted)."""
    found: set[tuple[uuid.UUID, dt.date]] = set()
    for chunk in chunks(sorted(set(ids)), 500):
        where = Filter("dunning_installment_id", Op.IN, frozenset(chunk))
        tasks = uow.tx.find(Activity, uow.everything, Query(filters=(where,), deleted=None))
        for task in tasks:
            if task.dunning_installment_id and task.dunning_due_on:
                found.add((task.dunning_installment_id, task.dunning_due_on))
    return found


def _dunning_task(
    uow: UnitOfWork, row: OpenInstallment, day: dt.date, customer_name: str | None
) -> Activity:
    from pycrm.i18n import translate

    locale = uow.config.locale
    left = Money.from_minor(row.amount_minor - row.paid_minor, row.currency)
    subject = translate(
        msg.DUNNING_SUBJECT,
        locale,
        amount=left.format(locale),
        customer=customer_name or "?",
        due_on=row.due_on.isoformat(),
    )
    task = Activity(
        tenant=uow.tenant,
        owner_id=row.owner_id,
        type=ActivityKind.TASK,
        subject=subject,
        due_at=dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC),
        customer_id=row.customer_id,
        order_id=row.order_id,
        dunning_installment_id=row.installment_id,
        dunning_due_on=row.due_on,
        assigned_by=uow.user if row.owner_id != uow.user else None,
    )
    task.stamp(uow.user, uow.now(), created=True)
    return task


def _overdue_event(uow: UnitOfWork, row: OpenInstallment, day: dt.date) -> InstallmentOverdue:
    left = Money.from_minor(row.amount_minor - row.paid_minor, row.currency)
    return InstallmentOverdue(
        record_id=row.installment_id,
        tenant=uow.tenant,
        user_id=uow.user,
        at=uow.now(),
        changes={
            "due_on": (None, row.due_on.isoformat()),
            "outstanding": (None, plain(left)),
            "days_overdue": (None, (day - row.due_on).days),
            "order_id": (None, plain(row.order_id)),
            "customer_id": (None, plain(row.customer_id)),
        },
    )
