"""Payment plans (收款计划): an order's receivable split into installments, and payments."""

import datetime as dt
import uuid
from enum import StrEnum
from typing import ClassVar

from attrs import define, field

from pycrm.core.ids import new_id
from pycrm.core.money import Money
from pycrm.core.records import Record

__all__ = ["Installment", "InstallmentState", "Payment", "PaymentPlan"]


class InstallmentState(StrEnum):
    """An installment as seen on a given date."""

    PENDING = "pending"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    OVERDUE = "overdue"


@define(kw_only=True)
class Installment:
    """One part of a plan, due on a date; ``paid`` grows as payments are recorded."""

    due_on: dt.date
    amount: Money
    paid: Money | None = None
    id: uuid.UUID = field(factory=new_id)

    def __attrs_post_init__(self) -> None:
        if self.paid is None:
            self.paid = Money.zero(self.amount.currency)

    @property
    def outstanding(self) -> Money:
        assert self.paid is not None
        return self.amount - self.paid

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

    def problems(self) -> list[tuple[str, str]]:
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
        if not self.amount.is_positive():
            return [("amount", "a payment must be positive")]
        return []
