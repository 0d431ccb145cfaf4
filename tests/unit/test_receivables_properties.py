"""Invariants of plans, payments and aging, for any currency, split and payment sequence."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pycrm
from pycrm import Money, RuleViolation
from pycrm.core.money import minor_digits
from pycrm.core.payments import split_amount
from pycrm.storage.capabilities.receivables import aging_bucket

CURRENCIES = ["CNY", "JPY", "USD", "KWD", "EUR"]
START = dt.datetime(2026, 1, 15, 9, tzinfo=dt.UTC)
DAY = START.date()

currencies = st.sampled_from(CURRENCIES)


@st.composite
def percents(draw: st.DrawFn) -> list[int]:
    cuts = draw(st.lists(st.integers(1, 99), max_size=11, unique=True))
    points = [0, *sorted(cuts), 100]
    return [b - a for a, b in itertools.pairwise(points)]


@given(currencies, st.integers(min_value=60, max_value=10**12), st.integers(1, 60))
def test_equal_parts_always_add_up_and_differ_by_at_most_one_unit(
    currency: str, units: int, parts: int
) -> None:
    total = Money.from_minor(units, currency)
    shares = split_amount(total, by="equal", parts=parts)
    assert Money.total(shares, currency) == total
    minors = [s.minor_units for s in shares]
    assert max(minors) - min(minors) <= 1 and minors == sorted(minors, reverse=True)


@given(currencies, st.integers(min_value=100, max_value=10**12), percents())
def test_percent_splits_always_add_up_within_one_unit_of_the_exact_share(
    currency: str, units: int, weights: list[int]
) -> None:
    total = Money.from_minor(units, currency)
    shares = split_amount(total, by="percent", percents=weights)
    assert Money.total(shares, currency) == total
    for share, weight in zip(shares, weights, strict=True):
        assert abs(share.minor_units * 100 - units * weight) < 100
    assert all(s.amount.as_tuple().exponent >= -minor_digits(currency) for s in shares)


def _crm() -> pycrm.CRM:
    return pycrm.CRM.connect("memory://", clock=pycrm.FixedClock(START), load_entry_points=False)


def _plan(uow: Any, total: Money, due: list[dt.date]) -> pycrm.PaymentPlan:
    customer = uow.customers.create(name="c")
    line = {"description": "x", "quantity": 1, "unit_price": total}
    order = uow.orders.create(customer_id=customer.id, currency=total.currency, lines=[line])
    return uow.payment_plans.plan_for_order(order.id, by="equal", due_dates=sorted(due))


payment_attempts = st.lists(
    st.tuples(st.integers(1, 5000), st.integers(0, 5), st.booleans()), max_size=12
)
due_days = st.lists(st.integers(-200, 60), min_size=1, max_size=6)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(currencies, st.integers(100, 10**6), due_days, payment_attempts)
def test_payments_never_make_a_balance_negative(
    currency: str, units: int, offsets: list[int], attempts: list[tuple[int, int, bool]]
) -> None:
    crm = _crm()
    with crm.unit_of_work(user=pycrm.SYSTEM_USER) as uow:
        due = [DAY + dt.timedelta(days=d) for d in offsets]
        plan = _plan(uow, Money.from_minor(units, currency), due)
    desk = crm.as_user(pycrm.SYSTEM_USER)
    for minor, index, spread in attempts:
        part = plan.installments[index % len(plan.installments)]
        with contextlib.suppress(RuleViolation):
            desk.payments.record(
                plan.id,
                Money.from_minor(minor, currency),
                installment_id=part.id,
                apply_excess=spread,
            )
        stored = desk.payment_plans.get(plan.id)
        for p in stored.installments:
            assert p.paid is not None and not p.paid.is_negative() and p.paid <= p.amount
        received = Money.total((x.amount for x in desk.payments.list(limit=1000)), currency)
        assert received == stored.paid and not stored.outstanding.is_negative()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.integers(100, 10**7), due_days, st.integers(0, 10**7)), min_size=1, max_size=5
    ),
    st.integers(-30, 200),
)
def test_aging_buckets_partition_the_outstanding_amount_exactly(
    plans: list[tuple[int, list[int], int]], shift: int
) -> None:
    crm = _crm()
    on = DAY + dt.timedelta(days=shift)
    expected_buckets = [0] * 5
    with crm.unit_of_work(user=pycrm.SYSTEM_USER) as uow:
        for units, offsets, paid in plans:
            plan = _plan(
                uow, Money.from_minor(units, "CNY"), [DAY + dt.timedelta(days=d) for d in offsets]
            )
            paid = min(paid, units)
            if paid:
                uow.payments.record(plan.id, Money.from_minor(paid, "CNY"), apply_excess=True)
            for part in uow.payment_plans.get(plan.id).installments:
                expected_buckets[aging_bucket(part.due_on, on)] += part.outstanding.minor_units
        report = uow.reports.aging(on=on)
    assert [b.minor_units for b in report.totals.buckets] == expected_buckets
    assert report.totals.total.minor_units == sum(expected_buckets)
    for row in report.rows:
        assert Money.total(row.buckets, "CNY") == row.total
    assert Money.total((r.total for r in report.rows), "CNY") == report.totals.total
