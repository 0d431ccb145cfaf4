"""Demo data: a realistic multi-branch sales team, generated reproducibly with Faker (zh_CN).

Used by ``pycrm demo``; needs the ``cli`` extra (Faker). Dates are relative to the CRM's
clock, so installments fall due "this month" whenever the demo runs.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pycrm.core.money import Money
from pycrm.core.org import Role, User
from pycrm.core.records import SYSTEM_USER
from pycrm.crm import CRM
from pycrm.schemas import OrderLineFields
from pycrm.services.unit_of_work import UnitOfWork

__all__ = ["DemoCompany", "seed_demo"]

BRANCHES = (("华北分公司", "北京"), ("华东分公司", "上海"), ("华南分公司", "广州"))
INDUSTRIES = ("广告传媒", "食品饮料", "软件", "制造", "零售", "金融", "教育", "游艇")
SOURCES = ("visit", "campaign", "referral", "assigned", "self_developed", "web")
DEAL_NAMES = ("年度投放", "展会合作", "品牌升级", "会员续约")
PRODUCTS = (
    ("首页横幅广告（月）", "AD-BANNER", Decimal("12000.00")),
    ("杂志整版广告", "AD-PAGE", Decimal("36000.00")),
    ("行业展会展位", "EXPO-BOOTH", Decimal("58000.00")),
    ("短视频推广套餐", "VIDEO-PACK", Decimal("8800.00")),
    ("年度会员服务", "MEMBER-YEAR", Decimal("19800.00")),
    ("定制调研报告", "REPORT", Decimal("45000.00")),
)


@dataclass
class DemoCompany:
    """What the demo created: ids of the people and how many records of each kind."""

    tenant: str
    executive: uuid.UUID
    reps: list[uuid.UUID] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def _faker(seed: int) -> Any:
    from faker import Faker

    Faker.seed(seed)
    return Faker("zh_CN")


def _organisation(uow: UnitOfWork, fake: Any) -> tuple[User, list[User]]:
    head = uow.departments.create(name="总部")
    ceo = uow.users.create(name=fake.name(), roles=[Role.EXECUTIVE], department_id=head.id)
    reps: list[User] = []
    for branch, _city in BRANCHES:
        dept = uow.departments.create(name=branch, parent_id=head.id, manager_id=None)
        director = uow.users.create(
            name=fake.name(), roles=[Role.SALES_DIRECTOR], department_id=dept.id, manager_id=ceo.id
        )
        uow.departments.update(dept.id, manager_id=director.id)
        uow.users.create(
            name=fake.name(),
            roles=[Role.ORDER_ASSISTANT],
            department_id=dept.id,
            manager_id=director.id,
        )
        for team_name in ("销售一组", "销售二组"):
            team = uow.departments.create(name=f"{branch}{team_name}", parent_id=dept.id)
            reps += [
                uow.users.create(
                    name=fake.name(),
                    roles=[Role.SALES_REP],
                    department_id=team.id,
                    manager_id=director.id,
                    email=fake.company_email(),
                )
                for _ in range(2)
            ]
    return ceo, reps


def _customers(rng: random.Random, fake: Any, reps: list[User], n: int) -> list[dict[str, Any]]:
    rows = []
    for _ in range(n):
        owner = rng.choice(reps)
        branch = (reps.index(owner) // 4) % len(BRANCHES)
        rows.append(
            {
                "name": fake.company(),
                "industry": rng.choice(INDUSTRIES),
                "source": rng.choice(SOURCES),
                "level": rng.choices(("A", "B", "C"), weights=(2, 3, 5))[0],
                "type": rng.choice(("existing", "target", "potential")),
                "region": BRANCHES[branch][1],
                "phone": fake.phone_number(),
                "website": f"https://www.{fake.domain_word()}.cn",
                "address": fake.address(),
                "owner_id": owner.id,
                "tags": rng.sample(["重点", "续约", "新客", "大客户", "渠道"], k=rng.randint(0, 2)),
            }
        )
    return rows


def seed_demo(
    crm: CRM, *, tenant: str = "demo", customers: int = 300, seed: int = 7
) -> DemoCompany:
    """Fill ``tenant`` with a sales company: branches, reps, customers, deals, orders, plans."""
    rng = random.Random(seed)
    fake = _faker(seed)
    today = crm.clock.now().date()
    with crm.unit_of_work(tenant=tenant, user=SYSTEM_USER) as uow:  # seeding acts for no one
        ceo, reps = _organisation(uow, fake)
        company = DemoCompany(tenant=tenant, executive=ceo.id, reps=[r.id for r in reps])
        made = uow.customers.create_many(_customers(rng, fake, reps, customers))
        uow.contacts.create_many(
            {
                "customer_id": c.id,
                "name": fake.name(),
                "title": fake.job()[:40],
                "mobile": fake.phone_number(),
                "owner_id": c.owner_id,
                "role": rng.choice(("key_contact", "decision_maker", "influencer")),
                "birthday": fake.date_of_birth(minimum_age=25, maximum_age=60),
            }
            for c in made
            for _ in range(rng.randint(1, 3))
        )
        products = [
            uow.products.create(name=name, code=code, prices=[Money(price, "CNY")], category="广告")
            for name, code, price in PRODUCTS
        ]
        deals = _opportunities(uow, rng, made, today)
        orders = _orders(uow, rng, made, products, today)
        company.counts = {"customers": len(made), "opportunities": deals, "orders": orders}
    return company


def _opportunities(
    uow: UnitOfWork, rng: random.Random, customers: list[Any], today: dt.date
) -> int:
    stages = uow.config.pipelines.default.stages
    rows = []
    for customer in rng.sample(customers, k=len(customers) * 3 // 5):
        stage = rng.choice(stages)
        currency = rng.choices(("CNY", "USD"), weights=(9, 1))[0]
        amount = Decimal(rng.randrange(10_000, 500_000, 500))
        rows.append(
            {
                "customer_id": customer.id,
                "owner_id": customer.owner_id,
                "name": f"{customer.name[:8]} {rng.choice(DEAL_NAMES)}",
                "stage": stage.key,  # the stage's win probability comes with it
                "amount": Money(amount, currency),
                "expected_close": today + dt.timedelta(days=rng.randint(7, 180)),
            }
        )
    return len(uow.opportunities.create_many(rows))


def _orders(
    uow: UnitOfWork, rng: random.Random, customers: list[Any], products: list[Any], today: dt.date
) -> int:
    count = 0
    first_of_month = today.replace(day=1)
    for customer in rng.sample(customers, k=len(customers) * 3 // 10):
        lines: list[OrderLineFields] = [
            {
                "description": p.name,
                "product_id": p.id,
                "quantity": rng.randint(1, 6),
                "discount": rng.choice(("0", "0.05", "0.1")),
            }
            for p in rng.sample(products, k=rng.randint(1, 3))
        ]
        signed = first_of_month - dt.timedelta(days=rng.randint(0, 150))
        order = uow.orders.create(
            customer_id=customer.id,
            owner_id=customer.owner_id,
            currency="CNY",
            signed_on=signed,
            lines=lines,
            number=f"SO-{signed:%Y%m}-{count + 1:04d}",
        )
        uow.orders.confirm(order.id)
        plan = uow.payment_plans.plan_for_order(
            order.id, by="equal", parts=rng.choice((2, 3, 4)), first_due=_add_months(signed, 1)
        )
        for part in plan.installments:
            if part.due_on < today and rng.random() < 0.7:
                uow.payments.record(
                    plan.id, part.amount, installment_id=part.id, received_on=part.due_on
                )
        count += 1
    return count


def _add_months(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return day.replace(year=year, month=month, day=min(day.day, 28))
