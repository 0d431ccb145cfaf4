"""Dunning settings and events, dated exchange rates from a plugin, reports converting by date."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest

import pycrm
from pycrm import DatedRates, ExchangeRateMissing, Money

D = dt.date


def plan_two(uow: Any, currency: str = "CNY") -> pycrm.PaymentPlan:
    rep = uow.users.create(name="Ann")
    customer = uow.customers.create(name="Alpha")
    total = Money("200.00", currency)
    order = uow.orders.create(
        customer_id=customer.id,
        owner_id=rep.id,
        currency=currency,
        lines=[{"description": "slot", "quantity": 1, "unit_price": total}],
    )
    # Due 10 January (overdue on the 15th) and 20 January (five days ahead).
    return uow.payment_plans.plan_for_order(order.id, due_dates=[D(2026, 1, 10), D(2026, 1, 20)])


class Events:
    def __init__(self) -> None:
        self.seen: list[pycrm.Event] = []

    @pycrm.hookimpl
    def pycrm_on_event(self, event: pycrm.Event) -> None:
        self.seen.append(event)


def test_dunning_emits_installment_overdue_after_commit(clock: pycrm.FixedClock) -> None:
    events = Events()
    crm = pycrm.CRM.connect("memory://", clock=clock, plugins=[events], load_entry_points=False)
    with crm.unit_of_work(user=pycrm.SYSTEM_USER) as uow:
        plan = plan_two(uow)
        tasks = uow.receivables.run_dunning()
        assert not [e for e in events.seen if e.name == "installment.overdue"]
    overdue = [e for e in events.seen if e.name == "installment.overdue"]
    assert [(e.record_id, e.changes["days_overdue"][1]) for e in overdue] == [
        (plan.installments[0].id, 5)
    ]
    (task,) = tasks
    assert task.subject == "向Alpha催收¥100.00（2026-01-10到期）"  # the company locale, zh_CN
    assert (task.owner_id, task.order_id, task.customer_id) == (
        plan.owner_id,
        plan.order_id,
        plan.customer_id,
    )


def test_dunning_days_ahead_adds_installments_falling_due_soon(clock: pycrm.FixedClock) -> None:
    settings = pycrm.Settings(dunning_days_ahead=6, locale="en_US")
    crm = pycrm.CRM.connect("memory://", clock=clock, settings=settings, load_entry_points=False)
    with crm.unit_of_work(user=pycrm.SYSTEM_USER) as uow:
        plan_two(uow)
        # Today (15th) counts as the first of 6 days: up to the 20th.
        tasks = uow.receivables.run_dunning()
    assert sorted(t.dunning_due_on for t in tasks) == [D(2026, 1, 10), D(2026, 1, 20)]
    assert sorted(t.subject for t in tasks)[0] == "Collect CN¥100.00 from Alpha (due 2026-01-10)"


def test_paid_and_cancelled_installments_are_not_dunned(crm: pycrm.CRM, admin: uuid.UUID) -> None:
    with crm.unit_of_work(user=admin) as uow:
        plan = plan_two(uow)
        uow.payments.record(plan.id, "100.00 CNY")
        assert uow.receivables.run_dunning() == []
        other = plan_two(uow)
        uow.orders.cancel(other.order_id)
        assert uow.receivables.run_dunning(on=D(2026, 3, 1))[0].dunning_due_on == D(2026, 1, 20)


# -- exchange rates ---------------------------------------------------------------------------
def test_dated_rates_are_valid_from_their_date_until_the_next() -> None:
    rates = DatedRates({"USD/CNY": [(D(2026, 2, 1), "7.20"), (D(2026, 1, 1), Decimal("7.10"))]})
    assert rates.rate("USD", "CNY", D(2026, 1, 31)) == Decimal("7.10")
    assert rates.rate("USD", "CNY", D(2026, 2, 1)) == Decimal("7.20")
    assert rates.rate("CNY", "USD", D(2026, 2, 1)) == Decimal(1) / Decimal("7.20")
    assert rates.rate("JPY", "JPY", D(2000, 1, 1)) == 1
    with pytest.raises(ExchangeRateMissing, match=r"USD/CNY on 2025-12-31"):
        rates.rate("USD", "CNY", D(2025, 12, 31))
    with pytest.raises(pycrm.ValidationError, match="same date"):
        DatedRates({"USD/CNY": [(D(2026, 1, 1), "7"), (D(2026, 1, 1), "8")]})


class BankFeed:
    """A plugin supplying dated rates (as a bank feed would)."""

    @pycrm.hookimpl
    def pycrm_make_exchange_rates(self, settings: pycrm.Settings) -> pycrm.ExchangeRates:
        return DatedRates({"USD/CNY": [(D(2025, 1, 1), "7.00"), (D(2026, 1, 1), "7.50")]})


def test_a_plugin_providing_dated_rates_converts_each_payment_at_its_date(
    clock: pycrm.FixedClock,
) -> None:
    crm = pycrm.CRM.connect("memory://", clock=clock, plugins=[BankFeed()], load_entry_points=False)
    assert isinstance(crm.exchange_rates, DatedRates)
    with crm.unit_of_work(user=pycrm.SYSTEM_USER) as uow:
        plan = plan_two(uow, "USD")
        uow.payments.record(plan.id, "10.00 USD", received_on=D(2025, 12, 31))
        uow.payments.record(plan.id, "10.00 USD", received_on=D(2026, 1, 2))
        report = uow.reports.collected(D(2025, 12, 1), D(2026, 1, 31))
    # 10.00 × 7.00 = 70.00 in December; 10.00 × 7.50 = 75.00 in January.
    assert [(r.period, str(r.amount)) for r in report.rows] == [
        ("2025-12", "70.00 CNY"),
        ("2026-01", "75.00 CNY"),
    ]
    assert report.total == Money("145.00", "CNY")


def test_minor_units_of_the_reporting_currency_are_respected(clock: pycrm.FixedClock) -> None:
    settings = pycrm.Settings(reporting_currency="JPY", exchange_rates={"CNY/JPY": "21.37"})
    crm = pycrm.CRM.connect("memory://", clock=clock, settings=settings, load_entry_points=False)
    with crm.unit_of_work(user=pycrm.SYSTEM_USER) as uow:
        plan_two(uow)
        report = uow.reports.aging(on=D(2026, 1, 15))
    # 100.00 CNY × 21.37 = 2137 JPY in each bucket; JPY has no minor unit.
    assert [str(b) for b in report.totals.buckets[:2]] == ["2137 JPY", "2137 JPY"]
