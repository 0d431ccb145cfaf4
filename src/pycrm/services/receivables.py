"""Services for payment plans and payments."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from typing_extensions import Unpack

from pycrm.core.audit import ChangeAction
from pycrm.core.payments import Payment, PaymentPlan
from pycrm.core.records import Record
from pycrm.core.snapshot import plain, snapshot
from pycrm.errors import CurrencyMismatch, RuleViolation, ValidationError
from pycrm.schemas import PaymentFields, PaymentPlanFields
from pycrm.services.base import RecordService, _as_id

if TYPE_CHECKING:
    from pycrm.services.unit_of_work import UnitOfWork

__all__ = ["PaymentPlanService", "PaymentService"]


class PaymentPlanService(RecordService[PaymentPlan]):
    """Payment plans and their installments."""

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


class PaymentService(RecordService[Payment]):
    """Payments received against installments."""

    entity = Payment
    fields = PaymentFields
    required = ("plan_id", "installment_id", "amount", "received_on")

    def create(self, **fields: Unpack[PaymentFields]) -> Payment:
        """Create a payment; see :class:`pycrm.schemas.PaymentFields` for the fields."""
        return self._create(fields)

    def update(
        self,
        record_id: uuid.UUID | str,
        *,
        version: int | None = None,
        **changes: Unpack[PaymentFields],
    ) -> Payment:
        """Change some fields; pass ``version`` to refuse if someone changed it since."""
        return self._update(record_id, version, changes)

    def _domain_events(
        self, record: Record, action: ChangeAction, changes: Mapping[str, tuple[Any, Any]]
    ) -> list[tuple[str, dict[str, Any]]]:
        """A new payment is also ``payment.received``."""
        events = super()._domain_events(record, action, changes)
        if action is ChangeAction.CREATE:
            assert isinstance(record, Payment)
            events.append(("payment.received", _payment_data(record)))
        return events

    def _before_write(self, uow: UnitOfWork, record: Payment, old: Payment | None) -> None:
        if old is not None:
            moved = {"plan_id", "installment_id", "amount"} & {
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
            return super().delete(record_id, version=version)

    def restore(self, record_id: uuid.UUID | str) -> Payment:
        with self._step() as uow:
            self._apply(uow, self._load(uow, _as_id(record_id), include_deleted=True), +1)
            return super().restore(record_id)

    def _apply(self, uow: UnitOfWork, payment: Payment, sign: int) -> None:
        """Add (or take back) the payment on its installment, in the same unit of work."""
        plans = PaymentPlanService(self._step)
        plan = plans._load(uow, payment.plan_id)
        part = next((p for p in plan.installments if p.id == payment.installment_id), None)
        if part is None:
            raise ValidationError.single(
                "installment_id", f"plan {plan.id} has no installment {payment.installment_id}"
            )
        if payment.amount.currency != part.amount.currency:
            raise CurrencyMismatch(part.amount.currency, payment.amount.currency)
        assert part.paid is not None
        paid = part.paid + payment.amount if sign > 0 else part.paid - payment.amount
        if paid > part.amount:
            raise RuleViolation(
                f"payment of {payment.amount} exceeds what is left on installment {part.id} "
                f"({part.outstanding})",
                rule="payment.overpaid",
            )
        before = snapshot(plan, skip=frozenset({"version", "updated_at", "updated_by"}))
        part.paid = paid
        plans._save(uow, plan, before, ChangeAction.UPDATE)
        if sign > 0 and paid == part.amount and uow.wants_events:
            data = {"installment_id": str(part.id), "amount": plain(part.amount)}
            uow.emit(plans._event(uow, "installment.settled", plan, data=data))


def _payment_data(payment: Payment) -> dict[str, Any]:
    return {
        "plan_id": str(payment.plan_id),
        "installment_id": str(payment.installment_id),
        "amount": plain(payment.amount),
        "received_on": payment.received_on.isoformat(),
    }
