"""Payment plans (收款计划): an order's receivable split into installments, and payments."""

import calendar
import datetime as dt
import uuid
from collections.abc import Sequence
from decimal import Decimal
from enum import StrEnum
from typing import ClassVar, Literal, TypeVar

from attrs import define, field

from pycrm.core import messages as msg
from pycrm.core.events import InstallmentSettled
from pycrm.core.ids import new_id
from pycrm.core.limits import MAX_INSTALLMENTS
from pycrm.core.money import Money
from pycrm.core.records import Record
from pycrm.core.snapshot import plain
from pycrm.errors import CurrencyMismatch, ValidationError

__all__ = [
    "Every",
    "Installment",
    "InstallmentState",
    "Payment",
    "PaymentPlan",
    "SplitBy",
    "schedule",
    "split_amount",
]

T = TypeVar("T")
SplitBy = Literal["percent", "amount", "equal"]
Every = Literal["monthly", "quarterly"]


class InstallmentState(StrEnum):
    """An installment as seen on a given date."""

    PENDING = "pending"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    OVERDUE = "overdue"

    @property
    def label(self) -> str:
        """The English text of the state (a message id of the translation catalogues)."""
        return _STATE_LABELS[self]


_STATE_LABELS = {
    InstallmentState.PENDING: msg.STATE_PENDING,
    InstallmentState.PARTIALLY_PAID: msg.STATE_PARTIALLY_PAID,
    InstallmentState.PAID: msg.STATE_PAID,
    InstallmentState.OVERDUE: msg.STATE_OVERDUE,
}


@define(kw_only=True)
class Installment:
    """One part of a plan, due on a date; ``paid`` grows as payments are recorded.

    ``order_id``, ``customer_id`` and ``owner_id`` are copies of the plan's, kept in step on
    every write so lists of due installments need no joins.
    """

    due_on: dt.date
    amount: Money
    paid: Money | None = None
    id: uuid.UUID = field(factory=new_id)
    order_id: uuid.UUID | None = None
    customer_id: uuid.UUID | None = None
    owner_id: uuid.UUID | None = None

    def __attrs_post_init__(self) -> None:
        if self.paid is None:
            self.paid = Money.zero(self.amount.currency)

    @property
    def outstanding(self) -> Money:
        """What is left to collect on this installment."""
        assert self.paid is not None
        return self.amount - self.paid

    def take(self, amount: Money) -> None:
        """Count money received against this installment (never more than is left)."""
        assert self.paid is not None
        if amount.currency != self.amount.currency:
            raise CurrencyMismatch(self.amount.currency, amount.currency)
        if self.paid + amount > self.amount:
            raise msg.violation(
                msg.PAYMENT_OVERPAID,
                rule="payment.overpaid",
                amount=amount,
                installment=self.id,
                left=self.outstanding,
            )
        self.paid = self.paid + amount

    def give_back(self, amount: Money) -> None:
        """Take back money counted by :meth:`take` (a cancelled payment)."""
        assert self.paid is not None
        if amount.currency != self.amount.currency:
            raise CurrencyMismatch(self.amount.currency, amount.currency)
        self.paid = self.paid - amount

    def state(self, on: dt.date) -> InstallmentState:
        """The installment's state as seen on a given date."""
        assert self.paid is not None
        if self.paid >= self.amount:
            return InstallmentState.PAID
        if on > self.due_on:
            return InstallmentState.OVERDUE
        if self.paid.is_positive():
            return InstallmentState.PARTIALLY_PAID
        return InstallmentState.PENDING

    def problems(self) -> list[tuple[str, str]]:
        """Broken invariants: amount positive, paid from zero to the amount, one currency."""
        assert self.paid is not None
        if not self.amount.is_positive():
            return [("amount", "must be positive")]
        if self.paid.currency != self.amount.currency:
            return [("paid", "must be in the installment's currency")]
        if self.paid.is_negative() or self.paid > self.amount:
            return [("paid", "must be between zero and the installment's amount")]
        return []


@define(eq=False, kw_only=True)
class PaymentPlan(Record):
    """How an order's total is collected; the installments always add up to ``total``."""

    kind: ClassVar[str] = "payment_plan"

    order_id: uuid.UUID
    customer_id: uuid.UUID
    total: Money
    installments: list[Installment] = field(factory=list)

    def derive(self) -> None:
        """Copy the plan's order, customer and owner onto every installment."""
        for part in self.installments:
            part.order_id, part.customer_id = self.order_id, self.customer_id
            part.owner_id = self.owner_id

    @property
    def paid(self) -> Money:
        """Everything received so far."""
        return Money.total((p.paid for p in self.installments if p.paid), self.total.currency)

    @property
    def outstanding(self) -> Money:
        """What is left to collect."""
        return self.total - self.paid

    def installment(self, installment_id: uuid.UUID) -> Installment | None:
        """The installment with this id, or None."""
        return next((p for p in self.installments if p.id == installment_id), None)

    def take(
        self, payment: "Payment", *, at: dt.datetime, by: uuid.UUID
    ) -> InstallmentSettled | None:
        """Count ``payment`` against its installment; returns :class:`InstallmentSettled`
        when the payment completes the installment."""
        part = self._part_of(payment)
        part.take(payment.amount)
        if part.outstanding.is_positive():
            return None
        return InstallmentSettled(
            record_id=self.id,
            tenant=self.tenant,
            user_id=by,
            at=at,
            data={"installment_id": str(part.id), "amount": plain(part.amount)},
        )

    def give_back(self, payment: "Payment") -> None:
        """Stop counting ``payment`` (cancelled) against its installment."""
        self._part_of(payment).give_back(payment.amount)

    def _part_of(self, payment: "Payment") -> Installment:
        part = self.installment(payment.installment_id)
        if part is None:
            raise ValidationError.single(
                "installment_id", f"plan {self.id} has no installment {payment.installment_id}"
            )
        return part

    def replan(self, amounts: Sequence[Money], dates: Sequence[dt.date]) -> None:
        """Replace what is unpaid by new installments; what was paid stays as it is.

        A paid installment is kept; a partly paid one is kept with its amount cut down to
        what was paid (so payments still point at it); unpaid ones are dropped. ``amounts``
        must add up to what was outstanding.
        """
        kept = []
        for part in self.installments:
            assert part.paid is not None
            if part.paid.is_positive():
                part.amount = part.paid
                kept.append(part)
        new = [Installment(due_on=d, amount=a) for a, d in zip(amounts, dates, strict=True)]
        self.installments = kept + new
        self.derive()

    def problems(self) -> list[tuple[str, str]]:
        """Broken invariants: valid installments in the plan's currency adding up to the total."""
        found: list[tuple[str, str]] = []
        for i, part in enumerate(self.installments):
            found += [(f"installments.{i}.{path}", why) for path, why in part.problems()]
            if part.amount.currency != self.total.currency:
                found.append((f"installments.{i}.amount", "must be in the plan's currency"))
        if not found and self.installments:
            planned = Money.total((p.amount for p in self.installments), self.total.currency)
            if planned != self.total:
                found.append(
                    ("installments", f"add up to {planned}, but the plan's total is {self.total}")
                )
        return found


@define(eq=False, kw_only=True)
class Payment(Record):
    """Money received (回款) against one installment of a plan."""

    kind: ClassVar[str] = "payment"

    plan_id: uuid.UUID
    installment_id: uuid.UUID
    amount: Money
    received_on: dt.date
    method: str | None = None
    reference: str | None = None

    def problems(self) -> list[tuple[str, str]]:
        """Broken invariants: a payment is a positive amount."""
        if not self.amount.is_positive():
            return [("amount", "a payment must be positive")]
        return []


def split_amount(
    total: Money,
    *,
    by: SplitBy,
    percents: Sequence[Decimal | int | str] | None = None,
    amounts: Sequence[Money] | None = None,
    parts: int | None = None,
) -> list[Money]:
    """Split ``total`` into installment amounts that add up to it exactly.

    ``by="percent"``: ``percents`` must add up to 100; each share is rounded down to minor
    units and the units left over go one each to the shares that lost the most in rounding
    (ties: the earlier share) — the largest-remainder method of :meth:`Money.allocate`.
    ``by="equal"``: ``parts`` equal shares; the leftover units go to the earliest shares.
    ``by="amount"``: ``amounts`` must add up to ``total`` exactly.

    A plan has at most :data:`pycrm.core.limits.MAX_INSTALLMENTS` (600) installments; more
    ``parts``, ``percents`` or ``amounts`` are refused before anything is computed.
    """
    if by == "percent":
        weights = [_percent(p, i) for i, p in enumerate(_need(percents, "percents"))]
        if sum(weights) != 100:
            raise ValidationError.single("percents", f"add up to {sum(weights)}, not 100")
        return _no_empty(total.allocate(weights), "percents")
    if by == "equal":
        if parts is None or parts < 1:
            raise ValidationError.single("parts", "give the number of installments (at least 1)")
        return _no_empty(total.split(_installments(parts, "parts")), "parts")
    if by == "amount":
        given = list(_need(amounts, "amounts"))
        if any(a.currency != total.currency for a in given):
            raise ValidationError.single("amounts", f"must all be in {total.currency}")
        if any(not a.is_positive() for a in given):
            raise ValidationError.single("amounts", "must all be positive")
        planned = Money.total(given, total.currency)
        if planned != total:
            raise ValidationError.single("amounts", f"add up to {planned}, not {total}")
        return given
    raise ValidationError.single("by", f"{by!r} is not one of: percent, amount, equal")


def _no_empty(shares: list[Money], field: str) -> list[Money]:
    if any(not share.is_positive() for share in shares):
        raise ValidationError.single(
            field, f"{len(shares)} installments of {shares[0].currency} leave one empty: use fewer"
        )
    return shares


def _need(values: Sequence[T] | None, name: str) -> Sequence[T]:
    if not values:
        raise ValidationError.single(name, "give at least one")
    _installments(len(values), name)
    return values


def _installments(count: int, field: str) -> int:
    # Checked before splitting: parts=10**6 would otherwise build a million installments
    # (and spend seconds and gigabytes) only to be refused afterwards.
    if count > MAX_INSTALLMENTS:
        raise ValidationError.single(field, f"a plan has at most {MAX_INSTALLMENTS} installments")
    return count


def _percent(value: object, i: int) -> Decimal:
    if isinstance(value, bool | float) or not isinstance(value, Decimal | int | str):
        raise ValidationError.single(f"percents.{i}", "use a Decimal, int or string")
    try:
        result = Decimal(value)
    except ArithmeticError:
        raise ValidationError.single(f"percents.{i}", f"{value!r} is not a number") from None
    if not result.is_finite() or result <= 0:
        raise ValidationError.single(f"percents.{i}", "must be a positive number")
    return result


def add_months(day: dt.date, months: int, anchor: int | None = None) -> dt.date:
    """``day`` moved by whole months, on the anchor day or the month's last day if shorter."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(anchor or day.day, last))


def schedule(
    count: int,
    *,
    first: dt.date | None = None,
    every: Every = "monthly",
    dates: Sequence[dt.date] | None = None,
) -> list[dt.date]:
    """``count`` due dates: the ``dates`` given (custom), or from ``first`` every month or
    quarter (Jan 31 monthly → Feb 28, Mar 31, … : the day of ``first`` is kept when the
    month has it)."""
    _installments(count, "due_dates" if dates is not None else "parts")
    if dates is not None:
        days = list(dates)
        if len(days) != count:
            raise ValidationError.single("due_dates", f"give {count} dates, not {len(days)}")
        if days != sorted(days):
            raise ValidationError.single("due_dates", "must be in order, earliest first")
        return days
    if first is None:
        raise ValidationError.single("first_due", "give the first due date or the due dates")
    step = {"monthly": 1, "quarterly": 3}.get(every)
    if step is None:
        raise ValidationError.single("every", f"{every!r} is not one of: monthly, quarterly")
    try:
        return [add_months(first, i * step, first.day) for i in range(count)]
    except (ValueError, OverflowError):
        raise ValidationError.single("first_due", "the schedule runs past the year 9999") from None
