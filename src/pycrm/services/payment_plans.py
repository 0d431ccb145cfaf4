"""Payment plans (收款计划) with their installments, and payments (回款) against them."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Unpack

from pycrm.core import messages as msg
from pycrm.core.access import Action
from pycrm.core.audit import Change, ChangeAction
from pycrm.core.events import Event, PaymentReceived
from pycrm.core.money import Money
from pycrm.core.orders import Order, OrderStatus
from pycrm.core.payments import Every, Payment, PaymentPlan, SplitBy, schedule, split_amount
from pycrm.core.records import Record
from pycrm.core.snapshot import plain
from pycrm.errors import CurrencyMismatch, RuleViolation, ValidationError
from pycrm.schemas import PaymentFields, PaymentPlanFields, checked_call
from pycrm.services.auditing import audited
from pycrm.services.base import RecordService, _as_id, _check_version, _raise_problems
from pycrm.storage.base import Filter, Op, Query

if TYPE_CHECKING:
    from pycrm.services.unit_of_work import UnitOfWork

__all__ = ["PaymentPlanService", "PaymentService", "plans_of"]


class PaymentPlanService(RecordService[PaymentPlan]):
    """Payment plans and their installments.

    A plan follows its order: its owner is the order's owner and its customer the order's
    customer (kept in step when the order changes), and both are copied onto every
    installment. Once money came in, installments change only through :meth:`replan`.
    """

    entity = PaymentPlan
    fields = PaymentPlanFields
    required = ("order_id", "customer_id", "total")

    def create(self, **fields: Unpack[PaymentPlanFields]) -> PaymentPlan:
        """Create a payment plan; see :class:`pycrm.schemas.PaymentPlanFields` for the fields."""
        return self._create(fields)

    def update(
        self,
        record_id: uuid.UUID | str,
        *,
        version: int | None = None,
        **changes: Unpack[PaymentPlanFields],
    ) -> PaymentPlan:
        """Change some fields; pass ``version`` to refuse if someone changed it since."""
        return self._update(record_id, version, changes)

    @checked_call
    def plan_for_order(
        self,
        order_id: uuid.UUID | str,
        *,
        by: SplitBy = "equal",
        percents: Sequence[Decimal | int | str] | None = None,
        amounts: Sequence[Money | str] | None = None,
        parts: int | None = None,
        first_due: dt.date | None = None,
        every: Every = "monthly",
        due_dates: Sequence[dt.date] | None = None,
    ) -> PaymentPlan:
        """A payment plan for the whole order total, in one call.

        ``by="percent"`` with ``percents`` (adding up to 100), ``by="amount"`` with
        ``amounts`` (adding up to the total), or ``by="equal"`` with ``parts`` (or as many
        parts as ``due_dates``). Due dates are ``due_dates`` (custom) or start at
        ``first_due`` and follow ``every`` month or quarter. The installments add up to the
        total exactly: each share is rounded down to the currency's minor units and the
        units left over go one each to the earliest installments (``"equal"``) or to those
        that lost most in rounding (``"percent"``): 100.00 in 3 is 33.34, 33.33, 33.33.
        An order has at most one (undeleted) plan, and a plan
        at most 600 installments (50 years of monthly ones).
        """
        with self._step() as uow:
            order = uow.orders.get(order_id)
            _check_plannable(order)
            assert order.total is not None
            if not order.total.is_positive():
                raise ValidationError.single("order_id", "the order's total is zero: add lines")
            shares = _split(order.total, by, percents, amounts, parts, due_dates)
            dates = schedule(len(shares), first=first_due, every=every, dates=due_dates)
            return uow.payment_plans._create(
                {
                    "order_id": order.id,
                    "customer_id": order.customer_id,
                    "owner_id": order.owner_id,
                    "total": order.total,
                    "installments": [
                        {"due_on": d, "amount": a} for a, d in zip(shares, dates, strict=True)
                    ],
                }
            )

    @checked_call
    def replan(
        self,
        plan_id: uuid.UUID | str,
        *,
        by: SplitBy = "equal",
        percents: Sequence[Decimal | int | str] | None = None,
        amounts: Sequence[Money | str] | None = None,
        parts: int | None = None,
        first_due: dt.date | None = None,
        every: Every = "monthly",
        due_dates: Sequence[dt.date] | None = None,
        version: int | None = None,
    ) -> PaymentPlan:
        """Plan again what is still unpaid, split as :meth:`plan_for_order` splits a total.

        Paid installments stay; a partly paid one keeps what was paid (its amount becomes
        the paid amount) and its payments; unpaid ones are replaced. Audited like any
        update. Refused when nothing is left to pay or the order is cancelled.
        """
        with self._step() as uow:
            plan = self._load(uow, _as_id(plan_id), for_update=True)
            _check_version(plan, version)
            order = uow.orders.get(plan.order_id)
            _check_plannable(order)
            left = plan.outstanding
            if not left.is_positive():
                raise msg.violation(msg.PLAN_NOTHING_LEFT, rule="plan.nothing_left", plan=plan.id)
            shares = _split(left, by, percents, amounts, parts, due_dates)
            dates = schedule(len(shares), first=first_due, every=every, dates=due_dates)
            before = audited(plan)
            plan.replan(shares, dates)
            _raise_problems(plan)
            return self._save(uow, plan, before, ChangeAction.UPDATE)

    # -- rules ----------------------------------------------------------------------------
    def _before_write(self, uow: UnitOfWork, record: PaymentPlan, old: PaymentPlan | None) -> None:
        order = uow.tx.get(Order, uow.everything, record.order_id)
        if order is not None:
            if record.customer_id != order.customer_id:
                raise ValidationError.single(
                    "customer_id", f"must be the order's customer {order.customer_id}"
                )
            record.owner_id = order.owner_id
        record.derive()
        if order is not None:
            _check_due_dates(record, old, order)
        if old is None:
            _check_new_plan(uow, record, order)
            if record.paid.is_positive():
                raise ValidationError.single(
                    "installments", "a new plan has nothing paid: record payments instead"
                )
            return
        if _parts_key(old) != _parts_key(record):
            if old.paid.is_positive():
                raise msg.violation(msg.PLAN_PAID_CHANGED, rule="plan.paid_changed", plan=old.id)
            if record.paid.is_positive():
                raise ValidationError.single(
                    "installments", "paid amounts change only by recording payments"
                )

    def _follow_order(self, uow: UnitOfWork, plan: PaymentPlan, order: Order) -> None:
        """Keep a plan's (and its installments') owner and customer those of its order."""
        before = audited(plan)
        plan.owner_id, plan.customer_id = order.owner_id, order.customer_id
        plan.derive()
        self._save(uow, plan, before, ChangeAction.UPDATE)


def _check_new_plan(uow: UnitOfWork, plan: PaymentPlan, order: Order | None) -> None:
    """What any new plan (made by hand or by :meth:`plan_for_order`) must respect: one
    plan per order, an order that is not cancelled, and the order's total and currency."""
    if order is None or order.deleted:
        return  # the reference check reports the missing order
    _check_plannable(order)
    existing = plans_of(uow, order.id)
    if existing:
        raise msg.violation(
            msg.PLAN_EXISTS, rule="plan.exists", order=order.id, plan=existing[0].id
        )
    if plan.total != order.total:
        raise ValidationError.single(
            "total", f"must be the order's total {order.total}, not {plan.total}"
        )


def _check_due_dates(plan: PaymentPlan, old: PaymentPlan | None, order: Order) -> None:
    """No money falls due before the order was signed (a typo in a year, most often);
    installments already stored with such a date are left as they are."""
    signed = order.signed_on
    if signed is None:
        return
    stored = {p.id: p.due_on for p in old.installments} if old is not None else {}
    early = [
        (f"installments.{i}.due_on", f"{part.due_on} is before the order was signed ({signed})")
        for i, part in enumerate(plan.installments)
        if part.due_on < signed and stored.get(part.id) != part.due_on
    ]
    if early:
        raise ValidationError(early, entity="payment_plan")


def _parts_key(plan: PaymentPlan) -> list[tuple[Any, ...]]:
    return [(p.id, p.due_on, p.amount, p.paid) for p in plan.installments]


def _check_plannable(order: Order) -> None:
    if order.status is OrderStatus.CANCELLED:
        raise msg.violation(
            msg.PLAN_ORDER_CLOSED, rule="plan.order_closed", order=order.id, status=order.status
        )


def _split(
    total: Money,
    by: SplitBy,
    percents: Sequence[Decimal | int | str] | None,
    amounts: Sequence[Money | str] | None,
    parts: int | None,
    due_dates: Sequence[dt.date] | None,
) -> list[Money]:
    if by == "equal" and parts is None and due_dates is not None:
        parts = len(due_dates)
    money = (
        None if amounts is None else [_as_money(a, f"amounts.{i}") for i, a in enumerate(amounts)]
    )
    return split_amount(total, by=by, percents=percents, amounts=money, parts=parts)


def _as_money(value: object, field: str) -> Money:
    try:
        return Money.parse(value)
    except ValidationError as error:
        raise ValidationError.single(field, error.errors[0][1]) from None


def plans_of(uow: UnitOfWork, order_id: uuid.UUID) -> list[PaymentPlan]:
    """The undeleted payment plans of an order (at most one)."""
    query = Query(filters=(Filter("order_id", Op.EQ, order_id),))
    return uow.tx.find(PaymentPlan, uow.everything, query)  # a rule: see every plan


class PaymentService(RecordService[Payment]):
    """Payments received against installments."""

    entity = Payment
    fields = PaymentFields
    required = ("plan_id", "installment_id", "amount", "received_on")

    def create(self, **fields: Unpack[PaymentFields]) -> Payment:
        """Create a payment; see :class:`pycrm.schemas.PaymentFields` for the fields."""
        return self._create(fields)

    @checked_call
    def record(
        self,
        plan_id: uuid.UUID | str,
        amount: Money | str,
        *,
        installment_id: uuid.UUID | str | None = None,
        received_on: dt.date | None = None,
        apply_excess: bool = False,
        method: str | None = None,
        reference: str | None = None,
    ) -> list[Payment]:
        """Record money received for a plan; returns the payments written.

        The money goes to ``installment_id`` (default: the first installment not fully
        paid). More than that installment's outstanding amount is refused, unless
        ``apply_excess=True``: then the excess is spread over the next installments in due
        order, one payment per installment touched, all in one unit of work. More than the
        whole plan has outstanding from there on is always refused. ``received_on``
        defaults to today.
        """
        with self._step() as uow:
            plan = uow.payment_plans.get(plan_id)
            uow.access.require(PaymentPlan.kind, Action.RECORD_PAYMENT, plan)
            money = _as_money(amount, "amount")
            if not money.is_positive():
                raise ValidationError.single("amount", "a payment must be positive")
            if money.currency != plan.total.currency:
                raise CurrencyMismatch(plan.total.currency, money.currency)
            targets = _targets(plan, installment_id, apply_excess)
            left = Money.total((t.outstanding for t in targets), money.currency)
            if apply_excess and money > left:
                raise msg.violation(
                    msg.PAYMENT_EXCEEDS_PLAN,
                    rule="payment.exceeds_plan",
                    amount=money,
                    plan=plan.id,
                    left=left,
                )
            day = received_on or uow.today()
            written: list[Payment] = []
            rest = money
            for part in targets:
                share = rest if not apply_excess else min(rest, part.outstanding, key=_amount)
                if not share.is_positive():
                    break
                extra: dict[str, Any] = {"method": method, "reference": reference}
                written.append(
                    uow.payments._create(
                        {
                            "plan_id": plan.id,
                            "installment_id": part.id,
                            "amount": share,
                            "received_on": day,
                            **{k: v for k, v in extra.items() if v is not None},
                        }
                    )
                )
                rest = rest - share
            return written

    def update(
        self,
        record_id: uuid.UUID | str,
        *,
        version: int | None = None,
        **changes: Unpack[PaymentFields],
    ) -> Payment:
        """Change some fields; pass ``version`` to refuse if someone changed it since."""
        return self._update(record_id, version, changes)

    def _events(self, uow: UnitOfWork, record: Record, change: Change) -> list[Event]:
        """A new payment is also ``payment.received``."""
        events = super()._events(uow, record, change)
        if change.action is ChangeAction.CREATE:
            assert isinstance(record, Payment)
            events.append(
                PaymentReceived(
                    record_id=record.id,
                    tenant=uow.tenant,
                    user_id=uow.user,
                    at=change.at,
                    data=_payment_data(record),
                )
            )
        return events

    def _before_write(self, uow: UnitOfWork, record: Payment, old: Payment | None) -> None:
        if old is not None:
            moved = {
                name
                for name in ("plan_id", "installment_id", "amount")
                if getattr(old, name) != getattr(record, name)
            }
            if moved:
                raise RuleViolation(
                    f"payment {record.id}: {', '.join(sorted(moved))} cannot change once "
                    "recorded; delete the payment and record it again",
                    rule="payment.immutable",
                )
            return
        self._apply(uow, record, +1)

    def delete(self, record_id: uuid.UUID | str, *, version: int | None = None) -> Payment:
        """Cancel a payment: it no longer counts against its installment."""
        with self._step() as uow:
            self._apply(uow, self._load(uow, _as_id(record_id)), -1)
            return RecordService.delete(uow.payments, record_id, version=version)

    def restore(self, record_id: uuid.UUID | str) -> Payment:
        """Bring a cancelled payment back: it counts against its installment again."""
        with self._step() as uow:
            restored = RecordService.restore(uow.payments, record_id)
            self._apply(uow, restored, +1)
            return restored

    def _apply(self, uow: UnitOfWork, payment: Payment, sign: int) -> None:
        """Count (or stop counting) the payment on its installment, in the same unit of
        work; the plan decides whether it may."""
        plans = uow.payment_plans
        plan = plans._load(uow, payment.plan_id, for_update=True)
        before = audited(plan)
        if sign > 0:
            settled = plan.take(payment, at=uow.now(), by=uow.user)
        else:
            plan.give_back(payment)
            settled = None
        plans._save(uow, plan, before, ChangeAction.UPDATE)
        if settled is not None and uow.wants_events:
            uow.emit(settled)


def _amount(money: Money) -> Decimal:
    return money.amount


def _targets(plan: PaymentPlan, installment_id: uuid.UUID | str | None, spread: bool) -> list[Any]:
    """The installment paid first, then (when spreading) the later ones in due order."""
    ordered = sorted(enumerate(plan.installments), key=lambda pair: (pair[1].due_on, pair[0]))
    parts = [part for _, part in ordered]
    if installment_id is None:
        start = next((i for i, p in enumerate(parts) if p.outstanding.is_positive()), None)
        if start is None:
            raise msg.violation(msg.PLAN_NOTHING_LEFT, rule="plan.nothing_left", plan=plan.id)
    else:
        wanted = _as_id(installment_id)
        start = next((i for i, p in enumerate(parts) if p.id == wanted), None)
        if start is None:
            raise ValidationError.single(
                "installment_id", f"plan {plan.id} has no installment {wanted}"
            )
    return parts[start:] if spread else [parts[start]]


def _payment_data(payment: Payment) -> dict[str, Any]:
    return {
        "plan_id": str(payment.plan_id),
        "installment_id": str(payment.installment_id),
        "amount": plain(payment.amount),
        "received_on": payment.received_on.isoformat(),
    }
