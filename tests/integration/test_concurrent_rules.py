"""Uniqueness rules hold under 8 concurrent writers, in threads and in processes, on SQLite
and PostgreSQL: one payment plan per order, one dunning task per installment and due date,
and no installment paid twice over. The database holds each rule, not a read before a write.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest

import pycrm
from pycrm import Money

WRITERS = 8
START = dt.datetime(2026, 1, 15, 9, 0, tzinfo=dt.UTC)
SETTINGS = pycrm.Settings(auto_migrate=True)
ALLOWED = (pycrm.ConflictError, pycrm.RuleViolation)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest) -> str:
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(name))


def _connect(url: str) -> pycrm.CRM:
    return pycrm.CRM.connect(
        url, settings=SETTINGS, clock=pycrm.FixedClock(START), load_entry_points=False
    )


def _orders(url: str, tenant: str, count: int) -> list[uuid.UUID]:
    """``count`` confirmed orders of 3000.00 CNY, each without a plan."""
    with _connect(url) as crm, crm.unit_of_work(tenant=tenant, user=pycrm.SYSTEM_USER) as uow:
        customer = uow.customers.create(name="ACME")
        price = Money("1000.00", "CNY")
        ids = []
        for _ in range(count):
            order = uow.orders.create(
                customer_id=customer.id,
                currency="CNY",
                lines=[{"description": "slot", "quantity": 3, "unit_price": price}],
            )
            uow.orders.confirm(order.id)
            ids.append(order.id)
        return ids


# -- what each writer does (module level, so processes can run them) ----------------------
def plan(url: str, tenant: str, order_id: uuid.UUID) -> str:
    with _connect(url) as crm:
        try:
            crm.as_user(pycrm.SYSTEM_USER, tenant=tenant).payment_plans.plan_for_order(
                order_id, parts=3, first_due=dt.date(2026, 1, 1)
            )
        except ALLOWED as error:
            return type(error).__name__
    return "ok"


def dun(url: str, tenant: str, _: Any) -> str:
    with _connect(url) as crm:
        try:
            tasks = crm.as_user(pycrm.SYSTEM_USER, tenant=tenant).receivables.run_dunning()
        except ALLOWED as error:
            return type(error).__name__
    return f"ok {len(tasks)}"


def pay(url: str, tenant: str, plan_id: uuid.UUID) -> str:
    with _connect(url) as crm:
        try:
            crm.as_user(pycrm.SYSTEM_USER, tenant=tenant).payments.record(
                plan_id, Money("700.00", "CNY")
            )
        except ALLOWED as error:
            return type(error).__name__
    return "ok"


def _run(
    how: str, work: Callable[[str, str, Any], str], url: str, tenant: str, arg: Any
) -> list[str]:
    """``WRITERS`` calls of ``work`` at once, in threads or in processes."""
    if how == "processes":
        with multiprocessing.get_context("spawn").Pool(WRITERS) as pool:
            return pool.starmap(work, [(url, tenant, arg)] * WRITERS)
    results: list[str] = []
    barrier = threading.Barrier(WRITERS)

    def one() -> None:
        barrier.wait()
        results.append(work(url, tenant, arg))

    threads = [threading.Thread(target=one) for _ in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


HOW = pytest.mark.parametrize("how", ["threads", "processes"])


@HOW
def test_one_payment_plan_per_order(url: str, tenant: str, how: str) -> None:
    [order] = _orders(url, tenant, 1)
    outcomes = _run(how, plan, url, tenant, order)
    assert sorted(outcomes).count("ok") == 1, outcomes
    with _connect(url) as crm:
        plans = crm.as_user(pycrm.SYSTEM_USER, tenant=tenant).payment_plans
        assert plans.count({"order_id": order}) == 1


@HOW
def test_one_dunning_task_per_installment_and_due_date(url: str, tenant: str, how: str) -> None:
    orders = _orders(url, tenant, 3)
    with _connect(url) as crm:
        api = crm.as_user(pycrm.SYSTEM_USER, tenant=tenant)
        for order in orders:  # 3 installments each, all overdue on START
            api.payment_plans.plan_for_order(order, parts=3, first_due=dt.date(2025, 9, 1))
    outcomes = _run(how, dun, url, tenant, None)
    created = sum(int(o.split()[1]) for o in outcomes if o.startswith("ok"))
    with _connect(url) as crm:
        tasks = crm.as_user(pycrm.SYSTEM_USER, tenant=tenant).activities.list(limit=100)
    assert created == len(tasks.items) == 9, outcomes
    keys = {(t.dunning_installment_id, t.dunning_due_on) for t in tasks}
    assert len(keys) == 9


@HOW
def test_an_installment_is_never_paid_twice_over(url: str, tenant: str, how: str) -> None:
    [order] = _orders(url, tenant, 1)
    with _connect(url) as crm:
        made = crm.as_user(pycrm.SYSTEM_USER, tenant=tenant).payment_plans.plan_for_order(
            order, parts=3, first_due=dt.date(2026, 1, 1)
        )
    outcomes = _run(how, pay, url, tenant, made.id)  # 8 x 700.00 into 1000.00 installments
    with _connect(url) as crm:
        api = crm.as_user(pycrm.SYSTEM_USER, tenant=tenant)
        stored = api.payment_plans.get(made.id)
        payments = api.payments.list({"plan_id": made.id}, limit=100)
    paid = Money.total((p.amount for p in payments), "CNY")
    assert paid == stored.paid  # every payment counted once, on the installment it names
    assert all(part.paid is not None and part.paid <= part.amount for part in stored.installments)
    assert outcomes.count("ok") == len(payments.items) >= 1, outcomes


def _customer(url: str, tenant: str) -> uuid.UUID:
    with _connect(url) as crm:
        return crm.as_user(pycrm.SYSTEM_USER, tenant=tenant).customers.create(name="ACME").id


def rename(url: str, tenant: str, customer: uuid.UUID, version: int | None = None) -> str:
    with _connect(url) as crm:
        api = crm.as_user(pycrm.SYSTEM_USER, tenant=tenant)
        try:
            for i in range(5 if version is None else 1):
                api.customers.update(customer, version=version, region=f"r{i}")
        except pycrm.CRMError as error:
            return type(error).__name__
    return "ok"


def test_updates_without_a_version_all_land(url: str, tenant: str) -> None:
    customer = _customer(url, tenant)
    outcomes = _run("threads", rename, url, tenant, customer)
    assert outcomes == ["ok"] * WRITERS  # the last writer wins; nobody gets an error
    with _connect(url) as crm:
        stored = crm.as_user(pycrm.SYSTEM_USER, tenant=tenant).customers.get(customer)
    assert stored.version == 1 + 5 * WRITERS


def rename_from_version_1(url: str, tenant: str, customer: uuid.UUID) -> str:
    return rename(url, tenant, customer, version=1)


def test_writers_that_read_the_same_version_one_wins(url: str, tenant: str) -> None:
    customer = _customer(url, tenant)
    outcomes = _run("threads", rename_from_version_1, url, tenant, customer)
    assert sorted(outcomes) == ["ConflictError"] * (WRITERS - 1) + ["ok"]
