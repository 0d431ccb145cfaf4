"""The parity part of the storage contract: the adapter under test gives the same answers
as the memory backend (pycrm's reference semantics) on generated data.

Mixed into :class:`pycrm.testing.StorageContract`. Property tests (hypothesis) build the
same records in both and compare lists page by page (and streamed), counts, custom-field
filters and orders, every pipeline report and every receivables list and report. Ids
differ between the two stores, so answers are compared by names and amounts. Each example
uses a tenant of its own, so one database serves them all.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pycrm.core.clock import FixedClock
from pycrm.core.money import Money
from pycrm.core.records import SYSTEM_USER
from pycrm.crm import CRM
from pycrm.errors import RuleViolation, ValidationError
from pycrm.settings import Settings
from pycrm.storage.base import StorageBackend
from pycrm.storage.memory import MemoryBackend

__all__ = ["ParityContract"]

START = dt.datetime(2026, 1, 15, 9, 0, tzinfo=dt.UTC)
DAY = START.date()
SETTINGS = Settings(
    reporting_currency="CNY", exchange_rates={"USD/CNY": "7.13", "JPY/CNY": "0.0477"}
)
#: Examples share the adapter's fixture (one store, a tenant per example).
SHARED = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.differing_executors,  # every adapter's subclass runs these tests
    ],
)

# -- lists ------------------------------------------------------------------------------------
NAMES = st.sampled_from(["Alpha", "alpha co", "北京阿尔法", "Beta_1", "100% Ads", "Ωmega", "é"])
RATES = st.one_of(st.none(), st.decimals(-1000, 1000, places=2, allow_nan=False))
customers = st.lists(
    st.fixed_dictionaries(
        {
            "name": NAMES,
            "level": st.sampled_from(["A", "B", "C", None]),
            "region": st.sampled_from(["华北", "华东", None]),
            "rate": RATES,
        }
    ),
    max_size=20,
)
wheres = st.dictionaries(
    st.sampled_from(
        [
            "level",
            "level__ne",
            "level__in",
            "level__is_null",
            "level__gte",
            "name__contains",
            "region",
            "region__is_null",
            "custom.rate__lt",
            "custom.rate__ne",
            "custom.rate",
        ]
    ),
    st.sampled_from(["A", "B", None, True, False, ["A", "C"], "alpha", "阿尔", "%", "_", "0.5"]),
    max_size=2,
)
orders = st.lists(
    st.sampled_from(
        ["level", "-level", "name", "-name", "region", "-created_at", "custom.rate", "-custom.rate"]
    ),
    max_size=2,
    unique=True,
)


# -- receivables ------------------------------------------------------------------------------
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


class ParityContract:
    """The adapter under test and the memory backend agree on generated data."""

    @pytest.fixture
    def pair(self, backend: StorageBackend) -> Iterator[Callable[[], tuple[CRM, CRM, str]]]:
        """Builds, per example, the reference CRM, the adapter's CRM and a fresh tenant."""
        made: list[CRM] = []

        def make() -> tuple[CRM, CRM, str]:
            crms = []
            for store in (MemoryBackend(), backend):
                crm = CRM(
                    store, clock=FixedClock(START), settings=SETTINGS, load_entry_points=False
                )
                crm.fields.define("customer", "rate", "decimal", label="Rate")
                crms.append(crm)
            made.append(crms[0])
            return crms[0], crms[1], f"t-{uuid.uuid4().hex[:12]}"

        yield make
        for crm in made:
            crm.close()  # only the reference ones: the adapter's fixture closes its own

    @SHARED
    @given(rows=customers, where=wheres, order=orders)
    def test_lists_pages_and_counts_agree(
        self, pair: Any, rows: Any, where: Any, order: Any
    ) -> None:
        reference, tested, tenant = pair()
        answers = [_list_answers(crm, tenant, rows, where, order) for crm in (reference, tested)]
        assert answers[0] == answers[1]

    @settings(SHARED, max_examples=15)
    @given(spec=plans)
    def test_receivables_lists_and_reports_agree(self, pair: Any, spec: Any) -> None:
        reference, tested, tenant = pair()
        for crm in (reference, tested):
            _build_receivables(crm, tenant, spec)
        assert _receivables_answers(reference, tenant) == _receivables_answers(tested, tenant)

    @pytest.mark.parametrize("seed", [1, 2])
    def test_pipeline_reports_agree(self, pair: Any, seed: int) -> None:
        reference, tested, tenant = pair()
        results = []
        for crm in (reference, tested):
            assert isinstance(crm.clock, FixedClock)
            outcomes = _build_pipeline(crm, crm.clock, tenant, _script(seed))
            results.append((outcomes, _pipeline_answers(crm, tenant)))
        (outcomes, expected), (tested_outcomes, got) = results
        assert outcomes == tested_outcomes
        assert "ok" in outcomes and any(o != "ok" for o in outcomes)
        for key in expected:
            assert got[key] == expected[key], key
        assert expected["stale"], "the generated data should have some stale deals"


# -- lists ------------------------------------------------------------------------------------
def _list_answers(crm: CRM, tenant: str, rows: Any, where: Any, order: Any) -> Any:
    acme = crm.as_user(SYSTEM_USER, tenant=tenant)
    made = acme.customers.create_many(
        [
            {
                **{k: v for k, v in r.items() if k != "rate"},
                "custom": {} if r["rate"] is None else {"rate": r["rate"]},
            }
            for r in rows
        ]
    )
    labels = {c.id: f"#{i}" for i, c in enumerate(made)}
    try:
        seen, cursor = [], None
        while True:
            page = acme.customers.list(where, order_by=order, limit=4, after=cursor)
            seen += [labels[c.id] for c in page]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    except ValidationError as error:
        return "invalid", sorted(path for path, _ in error.errors)
    streamed = [labels[c.id] for c in acme.customers.stream(where, order_by=order, batch_size=3)]
    assert streamed == seen, "a stream gives what list pages give"
    return seen, acme.customers.count(where)


# -- receivables ------------------------------------------------------------------------------
def _build_receivables(crm: CRM, tenant: str, spec: Any) -> None:
    with crm.unit_of_work(tenant=tenant, user=SYSTEM_USER) as uow:
        depts = [uow.departments.create(name=f"D{i}") for i in range(2)]
        reps = [uow.users.create(name=f"R{i}", department_id=depts[i % 2].id) for i in range(3)]
        buyers = [uow.customers.create(name=f"C{i}") for i in range(3)]
        for who, rep, currency, units, offsets, paid, confirm in spec:
            total = Money.from_minor(units, currency)
            order = uow.orders.create(
                customer_id=buyers[who].id,
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


def _receivables_answers(crm: CRM, tenant: str) -> dict[str, Any]:
    api = crm.as_user(SYSTEM_USER, tenant=tenant)
    reports, desk = api.reports, api.receivables
    start, end = DAY - dt.timedelta(days=200), DAY + dt.timedelta(days=100)
    return {
        "aging": [(r.name, [str(b) for b in r.buckets]) for r in reports.aging(on=DAY).rows],
        "aging_by_rep": [(r.name, str(r.total)) for r in reports.aging(on=DAY, by="owner").rows],
        "due": {
            w: sorted(
                (r.due_on, r.customer_name, str(r.left), r.state) for r in desk.due(w, on=DAY)
            )
            for w in ("today", "week", "month", "overdue")
        },
        "sales": _amounts(reports.sales(start, end)),
        "collected": _amounts(reports.collected(start, end, period="quarter")),
        "outstanding": _amounts(reports.outstanding(start, end, period="year")),
    }


def _amounts(report: Any) -> list[tuple[str, str]]:
    return [*sorted((r.period, str(r.amount)) for r in report.rows), ("total", str(report.total))]


# -- pipelines --------------------------------------------------------------------------------
OWNERS = ("A", "B", "C")
PERIOD = (dt.date(2026, 1, 1), dt.date(2026, 3, 31))


def _script(seed: int, deals: int = 40, steps: int = 160) -> list[tuple[Any, ...]]:
    """A random but reproducible list of actions on ``deals`` opportunities."""
    rnd = random.Random(seed)
    actions: list[tuple[Any, ...]] = []
    for i in range(deals):
        amount = None
        if rnd.random() < 0.9:
            units = f"{rnd.randint(1, 500_000)}.{rnd.randint(0, 99):02d}"
            amount = Money(units, rnd.choice(("CNY", "USD")))
        close = dt.date(2026, 1, 1) + dt.timedelta(days=rnd.randint(0, 120))
        pipeline = rnd.choice(("b2b", "eight_step"))
        actions.append(("create", f"d{i}", rnd.choice(OWNERS), pipeline, amount, close))
    stages = ("qualification", "needs_analysis", "proposal", "negotiation", "visit", "sign")
    for _ in range(steps):
        name, roll = f"d{rnd.randrange(deals)}", rnd.random()
        if roll < 0.15:
            actions.append(("advance", rnd.randint(1, 5 * 24 * 60)))
        elif roll < 0.6:
            actions.append(("move", name, rnd.choice(stages)))
        elif roll < 0.7:
            actions.append(("win", name))
        elif roll < 0.8:
            actions.append(("lose", name, rnd.choice(("price", "competitor", "timing", "bad"))))
        elif roll < 0.88:
            actions.append(("reopen", name))
        else:
            actions.append(("contact", name))
    return actions


def _build_pipeline(
    crm: CRM, clock: FixedClock, tenant: str, actions: list[tuple[Any, ...]]
) -> list[str]:
    """Run the actions; returns what happened to each, so refusals are compared too."""
    with crm.unit_of_work(tenant=tenant, user=SYSTEM_USER) as uow:
        boss = uow.users.create(name="boss")
        depts = [uow.departments.create(name=f"dept-{i}") for i in range(2)]
        users = {
            name: uow.users.create(name=name, department_id=depts[i % 2].id, manager_id=boss.id)
            for i, name in enumerate(OWNERS)
        }
        customer = uow.customers.create(name="联成")
    api = crm.as_user(SYSTEM_USER, tenant=tenant)
    deals, ids, outcomes = api.opportunities, {}, []
    for kind, *args in actions:
        try:
            if kind == "create":
                name, owner, pipeline, amount, close = args
                ids[name] = deals.create(
                    customer_id=customer.id, name=name, owner_id=users[owner].id,
                    pipeline=pipeline, amount=amount, expected_close=close,
                ).id  # fmt: skip
            elif kind == "advance":
                clock.advance(minutes=args[0])
            elif kind == "move":
                deals.move(ids[args[0]], to=args[1])
            elif kind == "win":
                deals.win(ids[args[0]])
            elif kind == "lose":
                deals.lose(ids[args[0]], reason=args[1])
            elif kind == "reopen":
                deals.reopen(ids[args[0]])
            else:
                api.activities.create(type="call", subject="follow up", opportunity_id=ids[args[0]])
            outcomes.append("ok")
        except (RuleViolation, ValidationError) as error:
            outcomes.append(f"{type(error).__name__}: {getattr(error, 'rule', None)}")
    return outcomes


def _pipeline_answers(crm: CRM, tenant: str) -> dict[str, Any]:
    """Every pipeline report, with ids replaced by names so two stores compare equal."""
    api = crm.as_user(SYSTEM_USER, tenant=tenant)
    names = {str(u.id): u.name for u in api.users.list(limit=100)}
    names |= {str(d.id): d.name for d in api.departments.list(limit=100)}
    reports = api.reports
    found = {
        "weighted_owner_stage": reports.weighted_pipeline(by=("owner", "stage")),
        "weighted_department_forecast": reports.weighted_pipeline(
            by=("department", "forecast"), period=PERIOD
        ),
        "weighted_company": reports.weighted_pipeline(by=(), pipeline="eight_step"),
        "forecast": reports.forecast(period=PERIOD, by=("department",)),
        "funnel_b2b": reports.funnel(),
        "funnel_eight": reports.funnel(pipeline="eight_step", period=PERIOD),
        "win_rate": reports.win_rate(period=PERIOD),
        "lost_reasons": reports.lost_reasons(),
        "dwell": reports.dwell_times(by=("stage", "owner")),
        "dwell_eight": reports.dwell_times(pipeline="eight_step", period=PERIOD),
    }
    dumped = {key: _rename(value.model_dump(mode="json"), names) for key, value in found.items()}
    dumped["stale"] = sorted(o.name for o in api.opportunities.stale())
    moved = api.opportunities.reassign_stale()
    dumped["reassigned"] = sorted((o.name, names[str(o.owner_id)]) for o in moved)
    return dumped


def _rename(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _rename(v, names) for k, v in value.items()}
    if isinstance(value, list):
        items = [_rename(v, names) for v in value]
        # Rows are ordered by id; ids differ between the stores, names do not.
        return sorted(items, key=repr) if items and isinstance(items[0], dict) else items
    return names.get(value, value) if isinstance(value, str) else value
