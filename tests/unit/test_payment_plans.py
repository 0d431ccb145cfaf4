"""Payment plans: splitting a total exactly, schedules, payments, excess and re-planning."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

import pycrm
from pycrm import InstallmentState, Money, RuleViolation, ValidationError
from pycrm.core.payments import add_months, schedule, split_amount

D = dt.date


def cny(amount: str) -> Money:
    return Money(amount, "CNY")


@pytest.fixture
def uow(crm: pycrm.CRM, admin: uuid.UUID) -> Any:
    with crm.unit_of_work(user=admin) as uow:
        yield uow


def order_of(uow: Any, total: Money) -> pycrm.Order:
    customer = uow.customers.create(name="Beta")
    line = {"description": "slot", "quantity": 1, "unit_price": total}
    return uow.orders.create(customer_id=customer.id, currency=total.currency, lines=[line])


def amounts(plan: pycrm.PaymentPlan) -> list[str]:
    return [str(p.amount.amount) for p in plan.installments]


# -- splitting ------------------------------------------------------------------------------
def test_equal_parts_give_the_leftover_cents_to_the_earliest_installments() -> None:
    assert [str(m.amount) for m in split_amount(cny("100.00"), by="equal", parts=3)] == [
        "33.34",
        "33.33",
        "33.33",
    ]
    assert [str(m.amount) for m in split_amount(Money("1000", "JPY"), by="equal", parts=3)] == [
        "334",
        "333",
        "333",
    ]
    assert [str(m.amount) for m in split_amount(Money("10.000", "KWD"), by="equal", parts=3)] == [
        "3.334",
        "3.333",
        "3.333",
    ]


def test_percentages_give_the_leftover_to_the_largest_remainders() -> None:
    # 0.10 CNY = 10 fen: 33.3 % → 3.33, 33.3 % → 3.33, 33.4 % → 3.34 fen; floors 3, 3, 3;
    # one fen left goes to the largest remainder, the third share (0.34).
    got = split_amount(cny("0.10"), by="percent", percents=["33.3", "33.3", "33.4"])
    assert [str(m.amount) for m in got] == ["0.03", "0.03", "0.04"]
    with pytest.raises(ValidationError, match="add up to 90, not 100"):
        split_amount(cny("1.00"), by="percent", percents=[30, 60])


def test_fixed_amounts_must_add_up_to_the_total() -> None:
    with pytest.raises(ValidationError, match=r"add up to 90\.00 CNY, not 100\.00 CNY"):
        split_amount(cny("100.00"), by="amount", amounts=[cny("40.00"), cny("50.00")])
    with pytest.raises(ValidationError, match="must all be in CNY"):
        split_amount(cny("100.00"), by="amount", amounts=[Money("100.00", "USD")])


def test_schedules_monthly_quarterly_and_custom() -> None:
    assert schedule(4, first=D(2026, 1, 31)) == [
        D(2026, 1, 31),
        D(2026, 2, 28),
        D(2026, 3, 31),
        D(2026, 4, 30),
    ]
    assert schedule(3, first=D(2026, 11, 30), every="quarterly") == [
        D(2026, 11, 30),
        D(2027, 2, 28),
        D(2027, 5, 30),
    ]
    assert add_months(D(2028, 1, 31), 1) == D(2028, 2, 29)
    with pytest.raises(ValidationError, match="give 2 dates, not 1"):
        schedule(2, dates=[D(2026, 1, 1)])
    with pytest.raises(ValidationError, match="earliest first"):
        schedule(2, dates=[D(2026, 2, 1), D(2026, 1, 1)])


# -- planning an order -----------------------------------------------------------------------
def test_plan_for_order_by_percent(uow: Any) -> None:
    order = order_of(uow, cny("10000.00"))
    plan = uow.payment_plans.plan_for_order(
        order.id, by="percent", percents=[30, 30, 40], first_due=D(2026, 2, 15)
    )
    assert amounts(plan) == ["3000.00", "3000.00", "4000.00"]
    assert [p.due_on for p in plan.installments] == [D(2026, 2, 15), D(2026, 3, 15), D(2026, 4, 15)]
    assert plan.total == order.total and plan.customer_id == order.customer_id
    assert {(p.order_id, p.customer_id, p.owner_id) for p in plan.installments} == {
        (order.id, order.customer_id, order.owner_id)
    }


def test_plan_for_order_by_amount_and_equal(uow: Any) -> None:
    order = order_of(uow, Money("100000", "JPY"))
    by_amount = uow.payment_plans.plan_for_order(
        order.id,
        by="amount",
        amounts=["60000 JPY", Money("40000", "JPY")],
        due_dates=[D(2026, 3, 1), D(2026, 9, 1)],
    )
    assert amounts(by_amount) == ["60000", "40000"]
    with pytest.raises(RuleViolation, match="already has payment plan"):
        uow.payment_plans.plan_for_order(order.id, by="equal", parts=3, first_due=D(2026, 3, 1))
    other = order_of(uow, Money("100000", "JPY"))
    equal = uow.payment_plans.plan_for_order(
        other.id, by="equal", parts=3, first_due=D(2026, 3, 1), every="quarterly"
    )
    assert amounts(equal) == ["33334", "33333", "33333"]


def test_a_cancelled_order_cannot_be_planned(uow: Any) -> None:
    order = order_of(uow, cny("10.00"))
    uow.orders.cancel(order.id)
    with pytest.raises(RuleViolation, match="is cancelled: it cannot be planned"):
        uow.payment_plans.plan_for_order(order.id, parts=1, first_due=D(2026, 3, 1))


def test_a_plan_follows_its_orders_owner(uow: Any) -> None:
    order = order_of(uow, cny("10.00"))
    plan = uow.payment_plans.plan_for_order(order.id, parts=2, first_due=D(2026, 3, 1))
    rep = uow.users.create(name="Li")
    uow.orders.update(order.id, owner_id=rep.id)
    stored = uow.payment_plans.get(plan.id)
    assert stored.owner_id == rep.id and {p.owner_id for p in stored.installments} == {rep.id}


# -- payments -----------------------------------------------------------------------------------
@pytest.fixture
def plan(uow: Any) -> pycrm.PaymentPlan:
    order = order_of(uow, cny("900.00"))
    return uow.payment_plans.plan_for_order(
        order.id, by="equal", parts=3, due_dates=[D(2026, 1, 1), D(2026, 2, 1), D(2026, 3, 1)]
    )


def test_partial_payments_and_states_on_a_date(uow: Any, plan: pycrm.PaymentPlan) -> None:
    first = plan.installments[0]
    uow.payments.record(plan.id, "100.00 CNY", installment_id=first.id, received_on=D(2026, 1, 1))
    part = uow.payment_plans.get(plan.id).installments[0]
    assert part.paid == cny("100.00") and part.outstanding == cny("200.00")
    assert part.state(D(2026, 1, 1)) is InstallmentState.PARTIALLY_PAID
    assert part.state(D(2026, 1, 2)) is InstallmentState.OVERDUE
    assert (
        uow.payment_plans.get(plan.id).installments[1].state(D(2026, 1, 2))
        is InstallmentState.PENDING
    )
    uow.payments.record(plan.id, "200.00 CNY", installment_id=first.id)
    assert (
        uow.payment_plans.get(plan.id).installments[0].state(D(2026, 5, 1)) is InstallmentState.PAID
    )


def test_overpaying_an_installment_is_refused_and_nothing_is_written(
    crm: pycrm.CRM, admin: uuid.UUID, plan: pycrm.PaymentPlan, uow: Any
) -> None:
    uow.commit()
    with pytest.raises(RuleViolation, match="exceeds what is left") as caught:
        crm.as_user(admin).payments.record(
            plan.id, "300.01 CNY", installment_id=plan.installments[0].id
        )
    assert caught.value.rule == "payment.overpaid"
    assert crm.as_user(admin).payments.count() == 0


def test_excess_is_spread_over_the_next_installments_when_asked(
    uow: Any, plan: pycrm.PaymentPlan
) -> None:
    second = plan.installments[1]
    paid = uow.payments.record(
        plan.id, "450.00 CNY", installment_id=second.id, apply_excess=True, reference="B-1"
    )
    assert [(p.installment_id, str(p.amount)) for p in paid] == [
        (second.id, "300.00 CNY"),
        (plan.installments[2].id, "150.00 CNY"),
    ]
    assert {p.reference for p in paid} == {"B-1"}
    stored = uow.payment_plans.get(plan.id)
    assert [str(p.paid.amount) for p in stored.installments] == ["0.00", "300.00", "150.00"]


def test_excess_beyond_the_plan_is_refused_even_when_spreading(
    crm: pycrm.CRM, admin: uuid.UUID, plan: pycrm.PaymentPlan, uow: Any
) -> None:
    uow.commit()
    desk = crm.as_user(admin)
    with pytest.raises(
        RuleViolation, match=r"exceeds what is left on payment plan .* \(600\.00 CNY\)"
    ):
        desk.payments.record(
            plan.id, "600.01 CNY", installment_id=plan.installments[1].id, apply_excess=True
        )
    assert desk.payments.count() == 0
    assert desk.payment_plans.get(plan.id).paid == cny("0.00")


def test_without_an_installment_the_first_unpaid_one_is_paid(
    uow: Any, plan: pycrm.PaymentPlan
) -> None:
    uow.payments.record(plan.id, "300.00 CNY")
    (payment,) = uow.payments.record(plan.id, "10.00 CNY")
    assert payment.installment_id == plan.installments[1].id


def test_a_payment_in_another_currency_is_refused(uow: Any, plan: pycrm.PaymentPlan) -> None:
    with pytest.raises(pycrm.CurrencyMismatch):
        uow.payments.record(plan.id, "10.00 USD")


def test_installments_with_payments_change_only_by_replanning(
    uow: Any, plan: pycrm.PaymentPlan
) -> None:
    uow.payments.record(plan.id, "100.00 CNY")
    with pytest.raises(RuleViolation, match="with replan"):
        uow.payment_plans.update(
            plan.id, installments=[{"due_on": D(2026, 6, 1), "amount": "900.00 CNY"}]
        )


def test_a_new_plan_cannot_claim_paid_money(uow: Any) -> None:
    order = order_of(uow, cny("10.00"))
    with pytest.raises(ValidationError, match="record payments instead"):
        uow.payment_plans.create(
            order_id=order.id,
            customer_id=order.customer_id,
            total=cny("10.00"),
            installments=[{"due_on": D(2026, 1, 1), "amount": "10.00 CNY", "paid": "1.00 CNY"}],
        )


# -- re-planning --------------------------------------------------------------------------------
def test_replanning_keeps_paid_amounts_and_plans_only_the_rest(
    uow: Any, plan: pycrm.PaymentPlan
) -> None:
    first, second, _ = plan.installments
    uow.payments.record(plan.id, "300.00 CNY", installment_id=first.id)
    uow.payments.record(plan.id, "50.00 CNY", installment_id=second.id)
    # 900.00 − 350.00 paid = 550.00 left, in two equal parts from 1 April.
    new = uow.payment_plans.replan(plan.id, by="equal", parts=2, first_due=D(2026, 4, 1))
    assert [(str(p.amount.amount), str(p.paid.amount), p.due_on) for p in new.installments] == [
        ("300.00", "300.00", D(2026, 1, 1)),
        ("50.00", "50.00", D(2026, 2, 1)),
        ("275.00", "0.00", D(2026, 4, 1)),
        ("275.00", "0.00", D(2026, 5, 1)),
    ]
    assert [p.id for p in new.installments[:2]] == [first.id, second.id]
    assert new.total == cny("900.00") and new.outstanding == cny("550.00")
    last = uow.payment_plans.history(plan.id)[-1]
    assert last.action is pycrm.ChangeAction.UPDATE and "installments" in {
        f.field for f in last.fields
    }


def test_replanning_a_fully_paid_plan_is_refused(uow: Any, plan: pycrm.PaymentPlan) -> None:
    uow.payments.record(
        plan.id, "900.00 CNY", installment_id=plan.installments[0].id, apply_excess=True
    )
    with pytest.raises(RuleViolation, match="nothing is left to re-plan"):
        uow.payment_plans.replan(plan.id, parts=1, first_due=D(2026, 4, 1))


def test_more_installments_than_minor_units_is_refused() -> None:
    with pytest.raises(ValidationError, match="leave one empty"):
        split_amount(Money("2", "JPY"), by="equal", parts=3)


# -- rules every plan and payment keeps, whichever method writes them ---------------------------
def test_a_plan_made_by_hand_keeps_the_order_rules(uow: Any, plan: pycrm.PaymentPlan) -> None:
    order = uow.orders.get(plan.order_id)
    parts = [{"due_on": D(2026, 5, 1), "amount": "900.00 CNY"}]
    with pytest.raises(RuleViolation, match="already has payment plan"):
        uow.payment_plans.create(
            order_id=order.id, customer_id=order.customer_id, total="900.00 CNY", installments=parts
        )
    other = order_of(uow, cny("100.00"))
    with pytest.raises(ValidationError, match=r"order's total 100\.00 CNY"):
        uow.payment_plans.create(
            order_id=other.id,
            customer_id=other.customer_id,
            total="999.00 CNY",
            installments=[{"due_on": D(2026, 5, 1), "amount": "999.00 CNY"}],
        )
    assert uow.payment_plans.count({"order_id": other.id}) == 0


@pytest.mark.parametrize("amount", ["0.00 CNY", "-5.00 CNY"])
def test_recording_nothing_or_less_is_refused(uow: Any, plan: pycrm.PaymentPlan, amount) -> None:
    with pytest.raises(ValidationError, match="must be positive"):
        uow.payments.record(plan.id, amount)
    assert uow.payments.count() == 0


def test_restoring_a_payment_that_is_not_deleted_changes_nothing(
    uow: Any, plan: pycrm.PaymentPlan
) -> None:
    (payment,) = uow.payments.record(plan.id, "10.00 CNY")
    with pytest.raises(pycrm.ConflictError):
        uow.payments.restore(payment.id)
    assert uow.payment_plans.get(plan.id).installments[0].paid == cny("10.00")


def test_a_payment_audits_only_what_changed_on_its_plan(uow: Any, plan: pycrm.PaymentPlan) -> None:
    uow.payments.record(plan.id, "10.00 CNY")
    last = uow.payment_plans.history(plan.id)[-1]
    assert {f.field for f in last.fields} == {"installments"}


def test_no_installment_falls_due_before_the_order_was_signed(uow: Any) -> None:
    order = order_of(uow, cny("9000.00"))
    uow.orders.update(order.id, signed_on=D(2026, 3, 1))
    with pytest.raises(ValidationError) as caught:
        uow.payment_plans.plan_for_order(order.id, by="equal", parts=3, first_due=D(2026, 1, 1))
    assert [path for path, _ in caught.value.errors] == [
        "installments.0.due_on",
        "installments.1.due_on",
    ]
    assert "before the order was signed (2026-03-01)" in caught.value.errors[0][1]
    assert uow.payment_plans.count({"order_id": order.id}) == 0
    plan = uow.payment_plans.plan_for_order(order.id, by="equal", parts=3, first_due=D(2026, 3, 1))
    assert plan.installments[0].due_on == D(2026, 3, 1)  # the signing day itself is fine
