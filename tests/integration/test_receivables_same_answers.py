"""Memory, SQLite and PostgreSQL give identical receivables lists and reports."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pycrm
from pycrm import Money
from pycrm.storage.memory import MemoryBackend
from pycrm.storage.sqlalchemy import SqlBackend

START = dt.datetime(2026, 1, 15, 9, tzinfo=dt.UTC)
DAY = START.date()
RATES = {"USD/CNY": "7.13", "JPY/CNY": "0.0477"}


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def sql_backend(request: pytest.FixtureRequest, tmp_path_factory: Any) -> Iterator[SqlBackend]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('same') / 'crm.db'}"
        backend = SqlBackend(url)
    else:
        backend = SqlBackend(request.getfixturevalue("postgres_url"), auto_migrate=True)
    yield backend
    backend.close()


plans = st.lists(
    st.tuples(
        st.integers(0, 2),  # customer
        st.integers(0, 2),  # rep
        st.sampled_from(["CNY", "USD", "JPY"]),
        st.integers(1000, 10**7),  # total in minor units
        st.lists(st.integers(-150, 60), min_size=1, max_size=4),  # due days from today
        st.integers(0, 10**7),  # paid in minor units (capped at the total)
        st.booleans(),  # confirmed
    ),
    min_size=1,
    max_size=6,
)


def build(crm: pycrm.CRM, tenant: str, spec: list[Any]) -> None:
    with crm.unit_of_work(tenant=tenant) as uow:
        depts = [uow.departments.create(name=f"D{i}") for i in range(2)]
        reps = [uow.users.create(name=f"R{i}", department_id=depts[i % 2].id) for i in range(3)]
        customers = [uow.customers.create(name=f"C{i}") for i in range(3)]
        for who, rep, currency, units, offsets, paid, confirm in spec:
            total = Money.from_minor(units, currency)
            order = uow.orders.create(
                customer_id=customers[who].id,
                owner_id=reps[rep].id,
                currency=currency,
                lines=[{"description": "x", "quantity": 1, "unit_price": total}],
            )
            if confirm:
                uow.orders.confirm(order.id)
            due = sorted(DAY + dt.timedelta(days=d) for d in offsets)
            plan = uow.payment_plans.plan_for_order(order.id, by="equal", due_dates=due)
            if min(paid, units):
                uow.payments.record(
                    plan.id,
                    Money.from_minor(min(paid, units), currency),
                    apply_excess=True,
                    received_on=DAY - dt.timedelta(days=paid % 90),
                )


def answers(crm: pycrm.CRM, tenant: str) -> dict[str, Any]:
    desk = crm.as_user(pycrm.SYSTEM_USER, tenant=tenant).receivables
    start, end = DAY - dt.timedelta(days=200), DAY + dt.timedelta(days=100)
    # Ids differ between the two worlds: compare by names and amounts.
    return {
        "aging": [(r.name, [str(b) for b in r.buckets]) for r in desk.aging(on=DAY).rows],
        "aging_by_rep": [(r.name, str(r.total)) for r in desk.aging(on=DAY, by="owner").rows],
        "due": {
            w: sorted(
                (r.due_on, r.customer_name, str(r.left), r.state) for r in desk.due(w, on=DAY)
            )
            for w in ("today", "week", "month", "overdue")
        },
        "sales": _amounts(desk.sales(start, end)),
        "collected": _amounts(desk.collected(start, end, period="quarter")),
        "outstanding": _amounts(desk.outstanding(start, end, period="year")),
    }


def _amounts(report: Any) -> list[tuple[str, str]]:
    return [*sorted((r.period, str(r.amount)) for r in report.rows), ("total", str(report.total))]


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(spec=plans)
def test_memory_and_sql_give_the_same_answers(sql_backend: SqlBackend, spec: list[Any]) -> None:
    config = pycrm.Settings(exchange_rates=RATES)
    tenant = f"t-{uuid.uuid4().hex[:12]}"
    results = []
    for backend in (MemoryBackend(), sql_backend):
        crm = pycrm.CRM(
            backend, clock=pycrm.FixedClock(START), settings=config, load_entry_points=False
        )
        build(crm, tenant, spec)
        results.append(answers(crm, tenant))
    assert results[0] == results[1]
