"""Every pipeline report on a small dataset whose numbers are worked out by hand below.

Reporting currency CNY, 1 USD = 7 CNY. The ``b2b`` stages: qualification 10 %,
needs_analysis 25 %, proposal 50 % (best case), negotiation 75 % (commit). Every deal is
created on 2026-01-15 09:00 (day 0); the table says what happened on which day.

| deal | owner | amount    | expected   | history                                              |
|------|-------|-----------|------------|------------------------------------------------------|
| d1   | A     | 1000 CNY  | 2026-02-10 | stays in qualification                               |
| d2   | A     | 2000 CNY  | 2026-02-20 | day 1 → proposal                                     |
| d3   | B     | 100 USD   | 2026-02-05 | day 1 → proposal, day 3 → negotiation                |
| d4   | B     | 3000 CNY  | 2026-04-01 | day 1 → proposal                                     |
| d5   | A     | 500 CNY   |            | day 1 → needs_analysis, day 20 won                   |
| d6   | B     | 800 CNY   |            | day 10 lost (price)                                  |
| d7   | B     | 100 USD   |            | day 30 lost (competitor)                             |
| d8   | A     | 200 CNY   |            | day 20 lost (price)                                  |
| d9   | B     | 400 CNY   |            | day 30 won                                           |

A is in department D1, B in D2. Day 20 is 2026-02-04, day 30 is 2026-02-14.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest

import pycrm
from pycrm import Money

FEB = (dt.date(2026, 2, 1), dt.date(2026, 2, 28))
JAN_FEB = (dt.date(2026, 1, 1), dt.date(2026, 2, 28))


def _reports(data: Any) -> pycrm.Reports:
    crm: pycrm.CRM = data["crm"]
    return crm.as_user(pycrm.SYSTEM_USER, tenant=data["tenant"]).reports


def cny(amount: str) -> Money:
    return Money(amount, "CNY")


@pytest.fixture
def data(any_crm: pycrm.CRM, tenant: str, admin: uuid.UUID, clock: pycrm.FixedClock) -> Any:
    crm = any_crm
    with crm.unit_of_work(tenant=tenant, user=admin) as uow:
        d1, d2 = uow.departments.create(name="D1"), uow.departments.create(name="D2")
        a = uow.users.create(name="A", department_id=d1.id)
        b = uow.users.create(name="B", department_id=d2.id)
        customer = uow.customers.create(name="联成")

        def deal(owner: Any, amount: Money, close: dt.date | None = None) -> uuid.UUID:
            created = uow.opportunities.create(
                customer_id=customer.id,
                name="deal",
                owner_id=owner.id,
                amount=amount,
                expected_close=close,
            )
            return created.id

        usd = Money("100.00", "USD")
        ids = [
            deal(a, cny("1000.00"), dt.date(2026, 2, 10)),
            deal(a, cny("2000.00"), dt.date(2026, 2, 20)),
            deal(b, usd, dt.date(2026, 2, 5)),
            deal(b, cny("3000.00"), dt.date(2026, 4, 1)),
            deal(a, cny("500.00")),
            deal(b, cny("800.00")),
            deal(b, usd),
            deal(a, cny("200.00")),
            deal(b, cny("400.00")),
        ]
    flow = crm.as_user(admin, tenant=tenant).opportunities
    _1, d2_, d3, d4, d5, d6, d7, d8, d9 = ids
    clock.advance(days=1)
    for deal_id in (d2_, d3, d4):
        flow.move(deal_id, to="proposal")
    flow.move(d5, to="needs_analysis")
    clock.advance(days=2)
    flow.move(d3, to="negotiation")
    clock.advance(days=7)
    flow.lose(d6, reason="price")
    clock.advance(days=10)
    flow.win(d5)
    flow.lose(d8, reason="price")
    clock.advance(days=10)
    flow.lose(d7, reason="competitor")
    flow.win(d9)
    return {"crm": crm, "tenant": tenant, "A": a.id, "B": b.id, "D1": d1.id, "D2": d2.id}


def test_weighted_pipeline_by_owner(data: Any) -> None:
    report = _reports(data).weighted_pipeline(by=("owner",))
    # A: d1 1000 x 10 % + d2 2000 x 50 % = 1100; B: d3 700 x 75 % + d4 3000 x 50 % = 2025.
    assert [(r.owner_id, r.count, r.amount, r.weighted) for r in report.rows] == sorted(
        [
            (data["A"], 2, cny("3000.00"), cny("1100.00")),
            (data["B"], 2, cny("3700.00"), cny("2025.00")),
        ],
        key=lambda row: str(row[0]),
    )
    assert (report.count, report.total, report.weighted) == (4, cny("6700.00"), cny("3125.00"))
    assert report.on == dt.date(2026, 2, 14)


def test_weighted_pipeline_for_a_period_by_department(data: Any) -> None:
    report = _reports(data).weighted_pipeline(by=("department",), period=FEB)
    # d4 is expected in April: outside February.
    got = {r.department_id: (r.count, r.amount, r.weighted) for r in report.rows}
    assert got == {
        data["D1"]: (2, cny("3000.00"), cny("1100.00")),
        data["D2"]: (1, cny("700.00"), cny("525.00")),
    }
    assert report.weighted == cny("1625.00")


def test_weighted_pipeline_by_forecast_category_and_stage(data: Any) -> None:
    crm, tenant = data["crm"], data["tenant"]
    by_category = crm.as_user(pycrm.SYSTEM_USER, tenant=tenant).reports.weighted_pipeline(
        by=("forecast",)
    )
    assert [(r.forecast, r.count, r.amount, r.weighted) for r in by_category.rows] == [
        ("best_case", 2, cny("5000.00"), cny("2500.00")),
        ("commit", 1, cny("700.00"), cny("525.00")),
        ("pipeline", 1, cny("1000.00"), cny("100.00")),
    ]
    by_stage = crm.as_user(pycrm.SYSTEM_USER, tenant=tenant).reports.weighted_pipeline(
        by=("stage",)
    )
    assert [(r.stage, r.count) for r in by_stage.rows] == [
        ("negotiation", 1),
        ("proposal", 2),
        ("qualification", 1),
    ]


def test_forecast_for_february(data: Any) -> None:
    report = _reports(data).forecast(period=FEB, by=("owner",))
    rows = {r.owner_id: r for r in report.rows}
    a, b = rows[data["A"]], rows[data["B"]]
    # A won d5 (500) on 4 Feb; d2 (proposal) is best case, d1 (qualification) pipeline.
    assert (a.closed, a.commit, a.best_case, a.pipeline_amount, a.weighted) == (
        cny("500.00"),
        cny("0.00"),
        cny("2000.00"),
        cny("1000.00"),
        cny("1100.00"),
    )
    # B won d9 (400) on 14 Feb; d3 (negotiation, 700) is commit; d4 closes in April.
    assert (b.closed, b.commit, b.best_case, b.pipeline_amount, b.weighted) == (
        cny("400.00"),
        cny("700.00"),
        cny("0.00"),
        cny("0.00"),
        cny("525.00"),
    )
    total = report.total
    assert (total.closed, total.commit, total.best_case, total.pipeline_amount) == (
        cny("900.00"),
        cny("700.00"),
        cny("2000.00"),
        cny("1000.00"),
    )


def test_funnel(data: Any) -> None:
    report = _reports(data).funnel()
    # Furthest stage ever entered: d1 d6 d7 d8 qualification; d2 d4 proposal;
    # d3 negotiation; d5 d9 won. Reached = this stage or later: 9, 5, 5, 3, 2.
    assert [
        (s.stage, s.open_count, s.open_amount, s.reached, s.conversion) for s in report.stages
    ] == [
        ("qualification", 1, cny("1000.00"), 9, Decimal("0.5556")),
        ("needs_analysis", 0, cny("0.00"), 5, Decimal("1.0000")),
        ("proposal", 2, cny("5000.00"), 5, Decimal("0.6000")),
        ("negotiation", 1, cny("700.00"), 3, Decimal("0.6667")),
        ("won", 0, cny("0.00"), 2, None),
    ]


def test_funnel_for_deals_created_in_a_period(data: Any) -> None:
    report = _reports(data).funnel(period=FEB)
    assert [s.reached for s in report.stages] == [0, 0, 0, 0, 0]
    assert report.stages[0].conversion is None


def test_win_rate_and_sales_cycle(data: Any) -> None:
    report = _reports(data).win_rate(period=JAN_FEB)
    rows = {r.owner_id: r for r in report.rows}
    a, b = rows[data["A"]], rows[data["B"]]
    # A: d5 won after 20 days, d8 lost. B: d9 won after 30 days, d6 and d7 lost.
    assert (a.won, a.lost, a.win_rate, a.average_cycle_days) == (
        1,
        1,
        Decimal("0.5000"),
        Decimal("20.00"),
    )
    assert (b.won, b.lost, b.win_rate, b.average_cycle_days) == (
        1,
        2,
        Decimal("0.3333"),
        Decimal("30.00"),
    )
    t = report.total
    assert (t.won, t.lost, t.win_rate, t.average_cycle_days) == (
        2,
        3,
        Decimal("0.4000"),
        Decimal("25.00"),
    )
    february = _reports(data).win_rate(period=FEB, by=())
    assert (february.rows[0].won, february.rows[0].lost) == (2, 2)  # d6 was lost in January


def test_lost_reasons(data: Any) -> None:
    crm, tenant = data["crm"], data["tenant"]
    report = crm.as_user(pycrm.SYSTEM_USER, tenant=tenant).reports.lost_reasons()
    assert [(r.reason, r.count, r.amount, r.share) for r in report.rows] == [
        ("price", 2, cny("1000.00"), Decimal("0.6667")),
        ("competitor", 1, cny("700.00"), Decimal("0.3333")),
    ]
    february = crm.as_user(pycrm.SYSTEM_USER, tenant=tenant).reports.lost_reasons(period=FEB)
    assert [(r.reason, r.count, r.share) for r in february.rows] == [
        ("competitor", 1, Decimal("0.5000")),
        ("price", 1, Decimal("0.5000")),
    ]


def test_dwell_times_per_stage_and_owner(data: Any) -> None:
    crm, tenant = data["crm"], data["tenant"]
    report = crm.as_user(pycrm.SYSTEM_USER, tenant=tenant).reports.dwell_times()
    # Stays that ended in qualification: d2 d3 d4 d5 after 1 day, d6 10, d8 20, d7 30,
    # d9 30: 94 days / 8. needs_analysis: d5 from day 1 to 20. proposal: d3 days 1 to 3.
    # Open now (day 30): d1 in qualification since day 0, d2 and d4 in proposal since
    # day 1, d3 in negotiation since day 3.
    assert [
        (r.stage, r.stays, r.standard_days, r.actual_days, r.over_days, r.open_stays, r.open_days)
        for r in report.rows
    ] == [
        ("qualification", 8, 14, Decimal("11.75"), Decimal("-2.25"), 1, Decimal("30.00")),
        ("needs_analysis", 1, 14, Decimal("19.00"), Decimal("5.00"), 0, None),
        ("proposal", 1, 21, Decimal("2.00"), Decimal("-19.00"), 2, Decimal("29.00")),
        ("negotiation", 0, 14, None, None, 1, Decimal("27.00")),
    ]
    by_owner = crm.as_user(pycrm.SYSTEM_USER, tenant=tenant).reports.dwell_times(
        by=("stage", "owner")
    )
    got = {(r.stage, r.owner_id): (r.stays, r.actual_days) for r in by_owner.rows}
    assert got == {
        ("qualification", data["A"]): (3, Decimal("7.33")),  # 1 + 1 + 20 days
        ("qualification", data["B"]): (5, Decimal("14.40")),  # 1 + 1 + 10 + 30 + 30
        ("needs_analysis", data["A"]): (1, Decimal("19.00")),
        ("proposal", data["A"]): (0, None),  # d2 is still there
        ("proposal", data["B"]): (1, Decimal("2.00")),
        ("negotiation", data["B"]): (0, None),
    }


def test_reports_serialise_to_json(data: Any) -> None:
    report = _reports(data).weighted_pipeline(by=())
    assert report.model_dump(mode="json")["rows"] == [
        {
            "owner_id": None,
            "department_id": None,
            "pipeline": None,
            "stage": None,
            "forecast": None,
            "count": 4,
            "amount": {"amount": "6700.00", "currency": "CNY"},
            "weighted": {"amount": "3125.00", "currency": "CNY"},
        }
    ]


def test_a_missing_exchange_rate_names_the_pair(
    any_crm: pycrm.CRM, tenant: str, admin: uuid.UUID
) -> None:
    with any_crm.unit_of_work(tenant=tenant, user=admin) as uow:
        customer = uow.customers.create(name="Europa")
        uow.opportunities.create(customer_id=customer.id, name="d", amount=Money("5.00", "EUR"))
    with pytest.raises(pycrm.ExchangeRateMissing, match="EUR/CNY"):
        any_crm.as_user(pycrm.SYSTEM_USER, tenant=tenant).reports.weighted_pipeline()


def test_bad_report_arguments(any_crm: pycrm.CRM, tenant: str) -> None:
    with pytest.raises(pycrm.ValidationError, match="cannot group by"):
        any_crm.as_user(pycrm.SYSTEM_USER, tenant=tenant).reports.weighted_pipeline(by=("colour",))
    with pytest.raises(pycrm.ValidationError, match="period"):
        any_crm.as_user(pycrm.SYSTEM_USER, tenant=tenant).reports.win_rate(
            period=(dt.date(2026, 2, 1), dt.date(2026, 1, 1))
        )
    with pytest.raises(pycrm.ValidationError, match="pipeline"):
        any_crm.as_user(pycrm.SYSTEM_USER, tenant=tenant).reports.funnel(pipeline="nope")
