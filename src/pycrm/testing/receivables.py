"""The receivables part of the storage contract: lists, dunning key and report queries.

Every number expected here is worked out by hand in the comments of
:func:`make_receivables_world`, so an adapter that passes answers exactly like the
memory and SQL backends.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest

from pycrm.core.activities import Activity, ActivityKind
from pycrm.core.clock import FixedClock
from pycrm.core.money import Money
from pycrm.core.records import SYSTEM_USER
from pycrm.crm import CRM
from pycrm.errors import ConflictError, ExchangeRateMissing
from pycrm.settings import Settings
from pycrm.storage.base import StorageBackend

__all__ = ["ReceivablesContract", "make_receivables_world"]

ACTOR = SYSTEM_USER  # the contract is about storage, not about rights
ON = dt.date(2026, 1, 15)  # a Thursday: this week runs from 12 to 18 January
RATES = {"USD/CNY": Decimal("7.00")}


def _at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(9), tzinfo=dt.UTC)


def cny(amount: str) -> Money:
    return Money(amount, "CNY")


def make_receivables_world(crm: CRM, tenant: str, clock: FixedClock) -> dict[str, Any]:
    """Two reps in two departments, two customers, orders with plans and payments.

    Seen on 2026-01-15 with USD/CNY at 7.00:

    - O1 (Alpha, rep Ann in North), 12000.00 CNY, confirmed 2025-11-10, four equal
      installments of 3000.00 due 2025-09-01 (paid in full on 2025-09-05), 2025-11-20
      (1000.00 paid on 2025-12-01: 2000.00 left, 56 days overdue), 2025-12-20 (26 days
      overdue) and 2026-02-01 (current).
    - O2 (Beta, rep Bo in South), 1000.00 USD, confirmed 2025-12-05, 50 % due 2025-10-01
      (200.00 USD paid on 2026-01-10: 300.00 USD = 2100.00 CNY left, 106 days overdue) and
      50 % due 2026-01-15 (3500.00 CNY, current: due today).
    - O3 (Alpha, Bo), a draft without a plan; O4 (Beta, Ann), confirmed on 2026-01-05 and
      cancelled with its plan: neither counts anywhere.
    """
    with crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
        north = uow.departments.create(name="North")
        south = uow.departments.create(name="South")
        ann = uow.users.create(name="Ann", department_id=north.id)
        bo = uow.users.create(name="Bo", department_id=south.id)
        alpha = uow.customers.create(name="Alpha")
        beta = uow.customers.create(name="Beta")

        def order(customer: Any, owner: Any, price: Money, quantity: int) -> Any:
            line = {"description": "ad slot", "quantity": quantity, "unit_price": price}
            return uow.orders._create(
                {
                    "customer_id": customer.id,
                    "owner_id": owner.id,
                    "currency": price.currency,
                    "lines": [line],
                }
            )

        o1 = order(alpha, ann, cny("12000.00"), 1)
        o2 = order(beta, bo, Money("500.00", "USD"), 2)
        o3 = order(alpha, bo, cny("3000.00"), 1)
        o4 = order(beta, ann, cny("5000.00"), 1)
        p1 = uow.payment_plans.plan_for_order(
            o1.id,
            by="equal",
            due_dates=[
                dt.date(2025, 9, 1),
                dt.date(2025, 11, 20),
                dt.date(2025, 12, 20),
                dt.date(2026, 2, 1),
            ],
        )
        p2 = uow.payment_plans.plan_for_order(
            o2.id, by="percent", percents=[50, 50], due_dates=[dt.date(2025, 10, 1), ON]
        )
        uow.payment_plans.plan_for_order(o4.id, by="equal", parts=1, first_due=ON)
    for when, order_id in ((dt.date(2025, 11, 10), o1.id), (dt.date(2025, 12, 5), o2.id)):
        clock.set(_at(when))
        crm.as_user(ACTOR, tenant=tenant).orders.confirm(order_id)
    clock.set(_at(dt.date(2026, 1, 5)))
    with crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
        uow.orders.confirm(o4.id)
        uow.orders.cancel(o4.id, reason="client withdrew")
    clock.set(_at(ON))
    with crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
        parts = p1.installments
        uow.payments.record(
            p1.id, "3000.00 CNY", installment_id=parts[0].id, received_on=dt.date(2025, 9, 5)
        )
        uow.payments.record(
            p1.id, "1000.00 CNY", installment_id=parts[1].id, received_on=dt.date(2025, 12, 1)
        )
        uow.payments.record(
            p2.id,
            "200.00 USD",
            installment_id=p2.installments[0].id,
            received_on=dt.date(2026, 1, 10),
        )
    return {
        "north": north,
        "south": south,
        "ann": ann,
        "bo": bo,
        "alpha": alpha,
        "beta": beta,
        "o1": o1,
        "o2": o2,
        "o3": o3,
        "o4": o4,
        "p1": p1,
        "p2": p2,
    }


class ReceivablesContract:
    """Receivables queries of a backend; mixed into :class:`pycrm.testing.StorageContract`."""

    @pytest.fixture
    def money_crm(self, backend: StorageBackend, clock: FixedClock) -> CRM:
        # The same backend as ``crm``, with the company's USD/CNY rate; ``crm`` closes it.
        settings = Settings(reporting_currency="CNY", exchange_rates=RATES)
        return CRM(backend, clock=clock, settings=settings, load_entry_points=False)

    @pytest.fixture
    def books(self, money_crm: CRM, tenant: str, clock: FixedClock) -> dict[str, Any]:
        return make_receivables_world(money_crm, tenant, clock)

    def test_aging_per_customer_matches_the_hand_computed_buckets(
        self, money_crm: CRM, tenant: str, books: dict[str, Any]
    ) -> None:
        report = money_crm.as_user(ACTOR, tenant=tenant).reports.aging(on=ON)
        got = [
            (r.name, [str(b.amount) for b in r.buckets], str(r.total.amount)) for r in report.rows
        ]
        assert got == [
            ("Alpha", ["3000.00", "3000.00", "2000.00", "0.00", "0.00"], "8000.00"),
            ("Beta", ["3500.00", "0.00", "0.00", "0.00", "2100.00"], "5600.00"),
        ]
        totals = [str(b.amount) for b in report.totals.buckets]
        assert totals == ["6500.00", "3000.00", "2000.00", "0.00", "2100.00"]
        assert report.totals.total == Money("13600.00", "CNY")

    def test_aging_per_rep(self, money_crm: CRM, tenant: str, books: dict[str, Any]) -> None:
        report = money_crm.as_user(ACTOR, tenant=tenant).reports.aging(on=ON, by="owner")
        assert [(r.key, r.name, str(r.total.amount)) for r in report.rows] == [
            (books["ann"].id, "Ann", "8000.00"),
            (books["bo"].id, "Bo", "5600.00"),
        ]

    def test_sales_collected_and_outstanding_by_month_department_and_rep(
        self, money_crm: CRM, tenant: str, books: dict[str, Any]
    ) -> None:
        desk = money_crm.as_user(ACTOR, tenant=tenant).reports
        ann, bo = books["ann"].id, books["bo"].id
        north, south = books["north"].id, books["south"].id

        def rows(report: Any) -> list[tuple[str, Any, Any, str]]:
            return [
                (r.period, r.department_id, r.owner_id, str(r.amount.amount)) for r in report.rows
            ]

        sales = desk.sales(dt.date(2025, 9, 1), dt.date(2026, 1, 31))
        assert rows(sales) == [
            ("2025-11", north, ann, "12000.00"),
            ("2025-12", south, bo, "7000.00"),  # 1000.00 USD at 7.00
        ]
        assert sales.total == cny("19000.00")
        collected = desk.collected(dt.date(2025, 9, 1), dt.date(2026, 1, 31))
        assert rows(collected) == [
            ("2025-09", north, ann, "3000.00"),
            ("2025-12", north, ann, "1000.00"),
            ("2026-01", south, bo, "1400.00"),
        ]
        outstanding = desk.outstanding(dt.date(2025, 1, 1), dt.date(2026, 12, 31), period="quarter")
        assert (
            rows(outstanding)
            == [
                ("2025-Q4", north, ann, "5000.00"),
                ("2025-Q4", south, bo, "2100.00"),
                ("2026-Q1", north, ann, "3000.00"),
                ("2026-Q1", south, bo, "3500.00"),
            ]
            if str(north) < str(south)
            else [
                ("2025-Q4", south, bo, "2100.00"),
                ("2025-Q4", north, ann, "5000.00"),
                ("2026-Q1", south, bo, "3500.00"),
                ("2026-Q1", north, ann, "3000.00"),
            ]
        )
        assert outstanding.total == cny("13600.00")

    def test_due_lists_today_week_month_and_overdue(
        self, money_crm: CRM, tenant: str, books: dict[str, Any]
    ) -> None:
        desk = money_crm.as_user(ACTOR, tenant=tenant).receivables

        def due(window: Any, **where: Any) -> list[tuple[str, str | None, str]]:
            found = desk.due(window, on=ON, **where)
            return [(r.due_on.isoformat(), r.customer_name, str(r.left)) for r in found]

        today = [("2026-01-15", "Beta", "500.00 USD")]
        assert due("today") == due("week") == due("month") == today
        assert due("overdue") == [
            ("2025-10-01", "Beta", "300.00 USD"),
            ("2025-11-20", "Alpha", "2000.00 CNY"),
            ("2025-12-20", "Alpha", "3000.00 CNY"),
        ]
        assert due("overdue", owner_id=books["ann"].id) == due("overdue")[1:]
        assert due("overdue", department_id=books["south"].id) == due("overdue")[:1]
        org = money_crm.as_user(ACTOR, tenant=tenant).departments
        head = org.create(name="Head office")
        for branch in (books["north"], books["south"]):
            org.update(branch.id, parent_id=head.id)
        assert due("overdue", department_id=head.id) == due("overdue")  # branches included
        late = desk.due("overdue", on=ON)[1]
        assert (late.state.value, late.days_overdue, late.paid) == ("overdue", 56, cny("1000.00"))

    def test_dunning_creates_one_task_per_installment_and_due_date(
        self, money_crm: CRM, tenant: str, books: dict[str, Any], clock: FixedClock
    ) -> None:
        with money_crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
            tasks = uow.receivables.run_dunning(on=ON)
        assert sorted((t.dunning_due_on, t.owner_id) for t in tasks) == [
            (dt.date(2025, 10, 1), books["bo"].id),
            (dt.date(2025, 11, 20), books["ann"].id),
            (dt.date(2025, 12, 20), books["ann"].id),
        ]
        assert all(t.type is ActivityKind.TASK and t.order_id for t in tasks)
        with money_crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
            assert uow.receivables.run_dunning(on=ON) == []
            later = uow.receivables.run_dunning(on=ON + dt.timedelta(days=1))
        assert [t.dunning_due_on for t in later] == [ON]

    def test_storage_refuses_a_second_dunning_task_for_the_same_installment_and_date(
        self, crm: CRM, tenant: str
    ) -> None:
        part = uuid.uuid4()

        def task() -> Activity:
            return Activity(
                tenant=tenant,
                type=ActivityKind.TASK,
                subject="collect",
                dunning_installment_id=part,
                dunning_due_on=ON,
            )

        tx = crm.storage.begin()
        try:
            tx.insert([task()])
            with pytest.raises(ConflictError):
                tx.insert([task()])
        finally:
            tx.rollback()

    def test_a_missing_rate_names_the_pair_and_the_date(
        self, crm: CRM, tenant: str, books: dict[str, Any]
    ) -> None:
        with pytest.raises(ExchangeRateMissing) as caught:
            crm.as_user(ACTOR, tenant=tenant).reports.sales(
                dt.date(2025, 12, 1), dt.date(2025, 12, 31)
            )
        error = caught.value
        assert (error.base, error.quote, error.on) == ("USD", "CNY", dt.date(2025, 12, 5))
        assert "USD/CNY on 2025-12-05" in str(error)
