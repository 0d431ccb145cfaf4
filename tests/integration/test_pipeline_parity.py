"""The memory and SQL backends give identical pipeline answers on the same generated data."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import pycrm
from pycrm import Money

SETTINGS = pycrm.Settings(reporting_currency="CNY", exchange_rates={"USD/CNY": Decimal("7.1")})

START = dt.datetime(2026, 1, 15, 9, 0, tzinfo=dt.UTC)
PERIOD = (dt.date(2026, 1, 1), dt.date(2026, 3, 31))
OWNERS = ("A", "B", "C")


def script(seed: int, deals: int = 40, steps: int = 160) -> list[tuple[Any, ...]]:
    """A random but reproducible list of actions on ``deals`` opportunities."""
    rnd = random.Random(seed)
    actions: list[tuple[Any, ...]] = []
    for i in range(deals):
        pipeline = rnd.choice(("b2b", "eight_step"))
        amount = None
        if rnd.random() < 0.9:
            amount = Money(
                f"{rnd.randint(1, 500_000)}.{rnd.randint(0, 99):02d}", rnd.choice(("CNY", "USD"))
            )
        close = dt.date(2026, 1, 1) + dt.timedelta(days=rnd.randint(0, 120))
        actions.append(("create", f"d{i}", rnd.choice(OWNERS), pipeline, amount, close))
    for _ in range(steps):
        name = f"d{rnd.randrange(deals)}"
        roll = rnd.random()
        if roll < 0.15:
            actions.append(("advance", rnd.randint(1, 5 * 24 * 60)))
        elif roll < 0.6:
            stage = rnd.choice(
                ("qualification", "needs_analysis", "proposal", "negotiation", "visit", "sign")
            )
            actions.append(("move", name, stage))
        elif roll < 0.7:
            actions.append(("win", name))
        elif roll < 0.8:
            actions.append(("lose", name, rnd.choice(("price", "competitor", "timing", "bad"))))
        elif roll < 0.88:
            actions.append(("reopen", name))
        else:
            actions.append(("contact", name))
    return actions


def build(crm: pycrm.CRM, clock: pycrm.FixedClock, actions: list[tuple[Any, ...]]) -> list[str]:
    """Run the actions; returns what happened to each, so refusals are compared too."""
    admin = uuid.UUID("01900000-0000-7000-8000-000000000001")
    with crm.unit_of_work(user=admin) as uow:
        boss = uow.users.create(name="boss")
        depts = [uow.departments.create(name=f"dept-{i}") for i in range(2)]
        users = {
            name: uow.users.create(name=name, department_id=depts[i % 2].id, manager_id=boss.id)
            for i, name in enumerate(OWNERS)
        }
        customer = uow.customers.create(name="联成")
    ids: dict[str, uuid.UUID] = {}
    outcomes = []
    service = crm.as_user(admin).opportunities
    for action in actions:
        kind, *args = action
        try:
            if kind == "create":
                name, owner, pipeline, amount, close = args
                ids[name] = service.create(
                    customer_id=customer.id,
                    name=name,
                    owner_id=users[owner].id,
                    pipeline=pipeline,
                    amount=amount,
                    expected_close=close,
                ).id
            elif kind == "advance":
                clock.advance(minutes=args[0])
            elif kind == "move":
                service.move(ids[args[0]], to=args[1])
            elif kind == "win":
                service.win(ids[args[0]])
            elif kind == "lose":
                service.lose(ids[args[0]], reason=args[1])
            elif kind == "reopen":
                service.reopen(ids[args[0]])
            elif kind == "contact":
                crm.as_user(admin).activities.create(
                    type="call", subject="follow up", opportunity_id=ids[args[0]]
                )
            outcomes.append("ok")
        except (pycrm.RuleViolation, pycrm.ValidationError) as error:
            outcomes.append(f"{type(error).__name__}: {getattr(error, 'rule', None)}")
    return outcomes


def answers(crm: pycrm.CRM) -> dict[str, Any]:
    """Every report, with ids replaced by names so two databases compare equal."""
    admin = uuid.UUID("01900000-0000-7000-8000-000000000001")
    with crm.unit_of_work(user=admin) as uow:
        names = {str(u.id): u.name for u in uow.users.list(limit=100)}
        names |= {str(d.id): d.name for d in uow.departments.list(limit=100)}
    reports = crm.reports
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
    service = crm.as_user(admin).opportunities
    dumped["stale"] = sorted(o.name for o in service.stale())
    dumped["reassigned"] = sorted(
        (o.name, names[str(o.owner_id)]) for o in service.reassign_stale()
    )
    return dumped


def _rename(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _rename(v, names) for k, v in value.items()}
    if isinstance(value, list):
        items = [_rename(v, names) for v in value]
        # Rows are ordered by id; ids differ between the databases, names do not.
        return sorted(items, key=repr) if items and isinstance(items[0], dict) else items
    return names.get(value, value) if isinstance(value, str) else value


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'parity.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.mark.parametrize("seed", [1, 2])
def test_memory_and_sql_agree(sql_url: str, seed: int, make_crm: Callable[..., pycrm.CRM]) -> None:
    actions = script(seed)
    results = []
    tenant = f"t-{uuid.uuid4().hex[:12]}"
    settings = SETTINGS.model_copy(update={"default_tenant": tenant})
    for url in ("memory://", sql_url):
        clock = pycrm.FixedClock(START)
        crm = make_crm(url, settings=settings, clock=clock)
        outcomes = build(crm, clock, actions)
        results.append((outcomes, answers(crm)))
    (mem_outcomes, mem), (sql_outcomes, sql) = results
    assert mem_outcomes == sql_outcomes
    assert "ok" in mem_outcomes and any(o != "ok" for o in mem_outcomes)
    for key in mem:
        assert mem[key] == sql[key], key
    assert mem["stale"], "the generated data should have some stale deals"
