"""Orders: workflow, draft-only edits, catalogue prices, orders from won opportunities."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

import pycrm
from pycrm import Money, OrderStatus, RuleViolation, ValidationError


def cny(amount: str) -> Money:
    return Money(amount, "CNY")


@pytest.fixture
def uow(crm: pycrm.CRM, admin: uuid.UUID) -> Any:
    with crm.unit_of_work(user=admin) as uow:
        yield uow


@pytest.fixture
def customer(uow: Any) -> pycrm.Customer:
    return uow.customers.create(name="北京联成")


@pytest.fixture
def banner(uow: Any) -> pycrm.Product:
    return uow.products.create(
        name="Banner", category="ads", prices=[cny("1000.00"), Money("150.00", "USD")]
    )


def draft(uow: Any, customer: pycrm.Customer, **more: Any) -> pycrm.Order:
    line = {"description": "slot", "quantity": 2, "unit_price": cny("1500.00")}
    return uow.orders.create(customer_id=customer.id, currency="CNY", lines=[line], **more)


def win(uow: Any, deal: pycrm.Opportunity) -> None:
    uow.opportunities.win(deal.id)


def test_total_is_derived_from_the_lines(uow: Any, customer: pycrm.Customer) -> None:
    order = uow.orders.create(
        customer_id=customer.id,
        currency="CNY",
        lines=[
            {"description": "a", "quantity": 3, "unit_price": cny("100.00"), "discount": "0.1"},
            {"description": "b", "quantity": "1.5", "unit_price": cny("10.01")},
        ],
    )
    # 3 × 100.00 × 0.9 = 270.00; 1.5 × 10.01 = 15.015 → 15.02 (half up); sum 285.02
    assert order.total == cny("285.02")
    assert order.status is OrderStatus.DRAFT


def test_a_line_with_a_product_takes_the_catalogue_price_in_the_order_currency(
    uow: Any, customer: pycrm.Customer, banner: pycrm.Product
) -> None:
    cn = uow.orders.create(
        customer_id=customer.id, currency="CNY", lines=[{"product_id": banner.id, "quantity": 2}]
    )
    us = uow.orders.create(
        customer_id=customer.id, currency="USD", lines=[{"product_id": banner.id, "quantity": 2}]
    )
    assert (cn.lines[0].unit_price, cn.lines[0].description, cn.total) == (
        cny("1000.00"),
        "Banner",
        cny("2000.00"),
    )
    assert us.total == Money("300.00", "USD")


def test_no_catalogue_price_in_that_currency_is_a_clear_error(
    uow: Any, customer: pycrm.Customer, banner: pycrm.Product
) -> None:
    with pytest.raises(RuleViolation, match="has no catalogue price in JPY") as caught:
        uow.orders.create(
            customer_id=customer.id,
            currency="JPY",
            lines=[{"product_id": banner.id, "quantity": 1}],
        )
    assert caught.value.rule == "order.no_catalogue_price"
    assert caught.value.params == {"product": "Banner", "currency": "JPY"}


def test_an_inactive_product_cannot_be_ordered_at_its_catalogue_price(
    uow: Any, customer: pycrm.Customer, banner: pycrm.Product
) -> None:
    uow.products.update(banner.id, active=False)
    with pytest.raises(RuleViolation, match="inactive"):
        uow.orders.create(
            customer_id=customer.id,
            currency="CNY",
            lines=[{"product_id": banner.id, "quantity": 1}],
        )


def test_a_line_without_price_or_product_names_the_missing_fields(
    uow: Any, customer: pycrm.Customer
) -> None:
    with pytest.raises(ValidationError) as caught:
        uow.orders.create(customer_id=customer.id, currency="CNY", lines=[{"quantity": 1}])
    assert caught.value.errors == [
        ("lines.0.description", "required"),
        ("lines.0.unit_price", "required"),
    ]


def test_a_price_list_has_one_price_per_currency(uow: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        uow.products.create(name="x", prices=[cny("1.00"), cny("2.00")])
    assert caught.value.errors == [("prices.1", "a second price in CNY")]


def test_workflow_confirm_complete(
    uow: Any, customer: pycrm.Customer, clock: pycrm.FixedClock
) -> None:
    order = draft(uow, customer)
    confirmed = uow.orders.confirm(order.id)
    assert (confirmed.status, confirmed.confirmed_on) == (
        OrderStatus.CONFIRMED,
        dt.date(2026, 1, 15),
    )
    clock.advance(days=10)
    done = uow.orders.complete(order.id)
    assert (done.status, done.completed_on) == (OrderStatus.COMPLETED, dt.date(2026, 1, 25))
    with pytest.raises(RuleViolation, match="is completed and cannot be cancelled"):
        uow.orders.cancel(order.id)
    statuses = [c.fields for c in uow.orders.history(order.id)]
    assert [dict((f.field, f.new) for f in fs).get("status") for fs in statuses] == [
        "draft",
        "confirmed",
        "completed",
    ]


def test_an_empty_order_cannot_be_confirmed(uow: Any, customer: pycrm.Customer) -> None:
    order = uow.orders.create(customer_id=customer.id, currency="CNY")
    with pytest.raises(RuleViolation, match="has no lines"):
        uow.orders.confirm(order.id)


def test_complete_needs_a_confirmed_order(uow: Any, customer: pycrm.Customer) -> None:
    order = draft(uow, customer)
    with pytest.raises(RuleViolation) as caught:
        uow.orders.complete(order.id)
    assert caught.value.rule == "order.transition"


def test_status_changes_only_through_the_workflow_methods(
    uow: Any, customer: pycrm.Customer
) -> None:
    order = draft(uow, customer)
    with pytest.raises(RuleViolation, match="only through confirm, complete and cancel"):
        uow.orders.update(order.id, status="confirmed")
    with pytest.raises(RuleViolation, match="starts as a draft"):
        draft(uow, customer, status="completed")


def test_only_drafts_change_lines_currency_or_customer(uow: Any, customer: pycrm.Customer) -> None:
    order = draft(uow, customer)
    uow.orders.update(
        order.id, lines=[{"description": "x", "quantity": 1, "unit_price": cny("9.00")}]
    )
    uow.orders.confirm(order.id)
    other = uow.customers.create(name="Other")
    for change in (
        {"lines": []},
        {"currency": "USD"},
        {"customer_id": other.id},
    ):
        with pytest.raises(RuleViolation) as caught:
            uow.orders.update(order.id, **change)
        assert caught.value.rule == "order.not_draft"
        assert f"its {next(iter(change))} can only change while it is a draft" in str(caught.value)
    # Other fields stay editable.
    assert uow.orders.update(order.id, number="SO-1").number == "SO-1"
    assert uow.orders.get(order.id).total == cny("9.00")


def test_confirming_freezes_prices(
    uow: Any, customer: pycrm.Customer, banner: pycrm.Product
) -> None:
    order = uow.orders.create(
        customer_id=customer.id, currency="CNY", lines=[{"product_id": banner.id, "quantity": 1}]
    )
    uow.orders.confirm(order.id)
    uow.products.update(banner.id, prices=[cny("1200.00")])
    assert uow.orders.get(order.id).total == cny("1000.00")


def test_cancelling_an_order_with_payments_is_refused(uow: Any, customer: pycrm.Customer) -> None:
    order = uow.orders.confirm(draft(uow, customer).id)
    plan = uow.payment_plans.plan_for_order(
        order.id, by="equal", parts=2, first_due=dt.date(2026, 2, 1)
    )
    payment = uow.payments.record(plan.id, "100.00 CNY")[0]
    with pytest.raises(RuleViolation, match=r"100\.00 CNY has already been received") as caught:
        uow.orders.cancel(order.id)
    assert caught.value.rule == "order.has_payments"
    uow.payments.delete(payment.id)
    cancelled = uow.orders.cancel(order.id, reason="budget cut")
    assert (cancelled.status, cancelled.cancel_reason) == (OrderStatus.CANCELLED, "budget cut")
    assert uow.payment_plans.count() == 0  # the plan went with the order


def test_order_from_a_won_opportunity_carries_customer_currency_and_owner(
    uow: Any, customer: pycrm.Customer, banner: pycrm.Product
) -> None:
    rep = uow.users.create(name="Wang")
    deal = uow.opportunities.create(
        customer_id=customer.id,
        name="Spring campaign",
        amount=Money("900.00", "USD"),
        owner_id=rep.id,
    )
    with pytest.raises(RuleViolation, match="only a won opportunity"):
        uow.orders.create_from_opportunity(deal.id)
    win(uow, deal)
    whole = uow.orders.create_from_opportunity(deal.id)
    assert (whole.customer_id, whole.currency, whole.owner_id, whole.opportunity_id) == (
        customer.id,
        "USD",
        rep.id,
        deal.id,
    )
    assert [(x.description, x.total) for x in whole.lines] == [
        ("Spring campaign", Money("900.00", "USD"))
    ]
    lined = uow.orders.create_from_opportunity(
        deal.id, lines=[{"product_id": banner.id, "quantity": 2}]
    )
    assert lined.total == Money("300.00", "USD")


def test_order_events_are_emitted_after_commit(crm: pycrm.CRM, admin: uuid.UUID) -> None:
    seen: list[str] = []

    class Listener:
        @pycrm.hookimpl
        def pycrm_on_event(self, event: pycrm.Event) -> None:
            seen.append(event.name)

    crm._pm.register(Listener())
    with crm.unit_of_work(user=admin) as uow:
        customer = uow.customers.create(name="c")
        order = draft(uow, customer)
        uow.orders.confirm(order.id)
    assert "order.confirmed" in seen and seen.index("order.created") < seen.index("order.confirmed")


def test_an_order_is_confirmed_on_the_business_day_given_and_shows_its_balance(crm):
    settings = pycrm.Settings(reporting_currency="CNY", exchange_rates={"USD/CNY": "7.10"})
    crm = pycrm.CRM.connect("memory://", settings=settings, load_entry_points=False)
    api = crm.as_user(pycrm.SYSTEM_USER, tenant="t")
    customer = api.customers.create(name="ACME")
    order = api.orders.create(
        customer_id=customer.id,
        currency="USD",
        lines=[{"description": "slot", "quantity": 2, "unit_price": "100.00 USD"}],
    )
    unplanned = api.orders.balance(order.id)
    assert (unplanned.outstanding, unplanned.planned) == (pycrm.Money("200.00", "USD"), False)
    confirmed = api.orders.confirm(order.id, on=dt.date(2026, 1, 5))  # agreed last week
    assert confirmed.confirmed_on == dt.date(2026, 1, 5)
    plan = api.payment_plans.plan_for_order(order.id, parts=2, first_due=dt.date(2026, 2, 1))
    api.payments.record(plan.id, pycrm.Money("50.00", "USD"))
    balance = api.orders.balance(order.id)
    assert (balance.paid, balance.outstanding) == (
        pycrm.Money("50.00", "USD"),
        pycrm.Money("150.00", "USD"),
    )
    assert balance.total_reporting == pycrm.Money("1420.00", "CNY") and balance.on == dt.date(
        2026, 1, 5
    )
    sales = api.reports.sales(dt.date(2026, 1, 1), dt.date(2026, 1, 31))
    assert sales.total == pycrm.Money("1420.00", "CNY")  # counted on the day given


def test_every_problem_of_the_lines_is_reported_at_once(uow: Any, customer: pycrm.Customer) -> None:
    """An unreadable or unknown-currency price never hides a bad quantity or discount."""
    cases = [
        ({"quantity": "-1", "unit_price": "10 XXQ", "discount": "5"}, "CNY"),
        ({"quantity": "x", "unit_price": "abc", "discount": "5"}, "CNY"),
        ({"quantity": "-1", "unit_price": "-5.00 CNY", "discount": "5"}, "cny"),
    ]
    for line, currency in cases:
        with pytest.raises(ValidationError) as caught:
            uow.orders.create(customer_id=customer.id, currency=currency, lines=[line])
        paths = {path for path, _ in caught.value.errors}
        assert {"lines.0.quantity", "lines.0.unit_price", "lines.0.discount"} <= paths, line
    assert "currency" in paths  # the order's own currency, named as itself
    assert dict(caught.value.errors)["currency"] == "'cny' is not a three-letter ISO 4217 code"
    assert uow.orders.count() == 0


def test_a_missing_description_does_not_hide_the_other_lines_problems(
    uow: Any, customer: pycrm.Customer
) -> None:
    lines = [
        {"quantity": 1, "unit_price": cny("10.00")},  # no description, no product
        {"description": "b", "quantity": 0, "unit_price": Money("5.00", "USD")},
    ]
    with pytest.raises(ValidationError) as caught:
        uow.orders.create(customer_id=customer.id, currency="CNY", lines=lines)
    assert caught.value.errors == [
        ("lines.0.description", "required"),
        ("lines.1.quantity", "must be positive"),
        ("lines.1.unit_price", "must be in the order's currency CNY"),
    ]
