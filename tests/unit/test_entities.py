"""Invariants each entity keeps by itself."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from pycrm import (
    Customer,
    Installment,
    InstallmentState,
    Money,
    Opportunity,
    OpportunityStatus,
    Order,
    OrderLine,
    Payment,
    PaymentPlan,
    new_id,
)


def cny(x: str) -> Money:
    return Money(x, "CNY")


def test_order_total_is_the_sum_of_discounted_lines_rounded_per_line():
    order = Order(
        tenant="t",
        customer_id=new_id(),
        currency="CNY",
        lines=[
            OrderLine(description="a", quantity=Decimal(3), unit_price=cny("12000.00")),
            # 1 x 36000 x 0.9 = 32400.00
            OrderLine(
                description="b",
                quantity=Decimal(1),
                unit_price=cny("36000.00"),
                discount=Decimal("0.1"),
            ),
            # 0.333 x 10.00 = 3.33
            OrderLine(description="c", quantity=Decimal("0.333"), unit_price=cny("10.00")),
        ],
    )
    assert order.total == cny("68403.33")
    assert order.problems() == []


def test_order_reports_bad_lines_and_a_typed_in_total():
    order = Order(
        tenant="t",
        customer_id=new_id(),
        currency="CNY",
        lines=[
            OrderLine(
                description="a",
                quantity=Decimal(0),
                unit_price=Money("1.00", "USD"),
                discount=Decimal("1.5"),
            )
        ],
    )
    paths = [p for p, _ in order.problems()]
    assert paths == ["lines.0.quantity", "lines.0.discount", "lines.0.unit_price"]
    ok = Order(tenant="t", customer_id=new_id(), currency="CNY", total=cny("5.00"))
    assert ok.problems() == [("total", "must equal the sum of the lines")]


def test_installments_must_add_up_to_the_plan_total():
    parts = [Installment(due_on=dt.date(2026, m, 1), amount=cny("100.00")) for m in (1, 2)]
    plan = PaymentPlan(
        tenant="t", order_id=new_id(), customer_id=new_id(), total=cny("250.00"), installments=parts
    )
    [(path, reason)] = plan.problems()
    assert path == "installments" and "200.00 CNY" in reason and "250.00 CNY" in reason
    plan.total = cny("200.00")
    assert plan.problems() == []


def test_installment_state_on_a_date():
    part = Installment(due_on=dt.date(2026, 3, 1), amount=cny("100.00"))
    assert part.state(dt.date(2026, 3, 1)) is InstallmentState.PENDING
    assert part.state(dt.date(2026, 3, 2)) is InstallmentState.OVERDUE
    part.paid = cny("40.00")
    assert part.state(dt.date(2026, 2, 1)) is InstallmentState.PARTIALLY_PAID
    assert part.outstanding == cny("60.00")
    part.paid = cny("100.00")
    assert part.state(dt.date(2026, 9, 1)) is InstallmentState.PAID
    part.paid = cny("100.01")
    assert part.problems()


def test_a_payment_is_positive():
    payment = Payment(
        tenant="t",
        plan_id=new_id(),
        installment_id=new_id(),
        amount=cny("0.00"),
        received_on=dt.date(2026, 1, 1),
    )
    assert payment.problems() == [("amount", "a payment must be positive")]


def test_a_lost_opportunity_needs_a_reason_and_probability_is_a_percentage():
    deal = Opportunity(
        tenant="t", customer_id=new_id(), name="x", probability=101, status=OpportunityStatus.LOST
    )
    assert [p for p, _ in deal.problems()] == ["probability", "lost_reason"]


def test_entities_compare_by_identity_not_by_value():
    a = Customer(tenant="t", name="same")
    b = Customer(tenant="t", name="same")
    assert a != b and a == Customer(tenant="t", name="other", id=a.id)
    assert len({a, b}) == 2


def test_ids_are_time_ordered_uuid7():
    ids = [new_id() for _ in range(10_000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert {i.version for i in ids} == {7}


@pytest.mark.parametrize("field", ["parent_id"])
def test_a_customer_cannot_be_its_own_parent(field):
    customer = Customer(tenant="t", name="x")
    setattr(customer, field, customer.id)
    assert customer.problems()
