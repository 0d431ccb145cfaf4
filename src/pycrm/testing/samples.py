"""Valid and invalid sample input for every kind of record, for contract and unit tests."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from attrs import frozen

from pycrm.core.money import Money
from pycrm.services.unit_of_work import UnitOfWork

__all__ = ["SAMPLES", "Sample", "make_world"]

Deps = dict[str, Any]


@frozen
class Sample:
    """How to create, change and break one kind of record."""

    service: str
    kind: str
    valid: Callable[[Deps], dict[str, Any]]
    change: dict[str, Any]
    bad: Callable[[Deps], dict[str, Any]]
    #: Field paths the bad input must be reported for.
    bad_fields: tuple[str, ...]
    #: A second valid input, for kinds where two records may not share everything (one
    #: payment plan per order), and the fields in which it differs from ``valid``.
    another: Callable[[Deps], dict[str, Any]] | None = None
    differs_in: tuple[str, ...] = ()

    def valid_again(self, world: Deps) -> dict[str, Any]:
        """A valid input for a second record of the kind (``another``, else ``valid``)."""
        return (self.another or self.valid)(world)


def make_world(uow: UnitOfWork) -> Deps:
    """One record of each kind the samples refer to, created in ``uow``."""
    dept = uow.departments.create(name="华北区")
    rep = uow.users.create(name="王芳", department_id=dept.id, roles=["sales_rep"])
    customer = uow.customers.create(name="北京联成互动软件技术有限公司", level="A")
    contact = uow.contacts.create(customer_id=customer.id, name="李雷")
    deal = uow.opportunities.create(customer_id=customer.id, name="CRM 升级")
    product = uow.products.create(name="年度广告位", price=Money("1000.00", "CNY"))
    order = uow.orders.create(
        customer_id=customer.id,
        currency="CNY",
        lines=[
            {"description": "广告位", "quantity": Decimal(3), "unit_price": Money("1000.00", "CNY")}
        ],
    )
    plan = uow.payment_plans.create(
        order_id=order.id,
        customer_id=customer.id,
        total=Money("3000.00", "CNY"),
        installments=[
            {"due_on": dt.date(2026, 2, 1), "amount": Money("1500.00", "CNY")},
            {"due_on": dt.date(2026, 3, 1), "amount": Money("1500.00", "CNY")},
        ],
    )
    unplanned = [
        uow.orders.create(
            customer_id=customer.id,
            currency="CNY",
            lines=[{"description": "横幅", "quantity": 1, "unit_price": Money("300.00", "CNY")}],
        )
        for _ in range(2)
    ]
    ticket = uow.tickets.create(customer_id=customer.id, subject="发票问题")
    return {
        "department": dept,
        "user": rep,
        "customer": customer,
        "contact": contact,
        "opportunity": deal,
        "product": product,
        "order": order,
        "plan": plan,
        "unplanned_orders": unplanned,
        "ticket": ticket,
    }


def _plan_input(d: Deps, which: int = 0) -> dict[str, Any]:
    return {
        "order_id": d["unplanned_orders"][which].id,
        "customer_id": d["customer"].id,
        "total": "300.00 CNY",
        "installments": [
            {"due_on": dt.date(2026, 4, 1), "amount": "100.00 CNY"},
            {"due_on": dt.date(2026, 5, 1), "amount": "200.00 CNY"},
        ],
    }


#: One sample per kind of record: the inputs the contract's per-kind tests run with.
SAMPLES: tuple[Sample, ...] = (
    Sample(
        "departments",
        "department",
        lambda d: {"name": "上海分公司", "parent_id": d["department"].id},
        {"name": "上海分公司（浦东）"},
        lambda d: {"name": "", "parent_id": "not-an-id"},
        ("name", "parent_id"),
    ),
    Sample(
        "users",
        "user",
        lambda d: {"name": "张伟", "email": "zhang.wei@example.cn", "roles": ["sales_director"]},
        {"active": False},
        lambda d: {"name": "张伟", "email": "nope", "roles": ["King of sales"]},
        ("email", "roles.0"),
    ),
    Sample(
        "customers",
        "customer",
        lambda d: {
            "name": "上海新世纪广告有限公司",
            "industry": "advertising",
            "source": "referral",
            "level": "VIP",
            "tags": ["media"],
            "parent_id": d["customer"].id,
        },
        {"level": "B", "status": "archived"},
        lambda d: {"name": "  ", "source": "rumour", "tags": "media"},
        ("name", "source", "tags"),
    ),
    Sample(
        "contacts",
        "contact",
        lambda d: {
            "customer_id": d["customer"].id,
            "name": "韩梅梅",
            "role": "decision_maker",
            "birthday": dt.date(1985, 3, 8),
            "closeness": 4,
        },
        {"title": "采购总监"},
        lambda d: {
            "customer_id": d["customer"].id,
            "name": "韩梅梅",
            "closeness": 9,
            "birthday": "yesterday",
        },
        ("closeness", "birthday"),
    ),
    Sample(
        "leads",
        "lead",
        lambda d: {"name": "赵敏", "company": "杭州西湖食品", "source": "web"},
        {"status": "contacted"},
        lambda d: {"company": "杭州西湖食品", "status": "hot"},
        ("name", "status"),
    ),
    Sample(
        "opportunities",
        "opportunity",
        lambda d: {
            "customer_id": d["customer"].id,
            "name": "2027 广告投放",
            "amount": Money("250000.00", "CNY"),
            "probability": 40,
            "expected_close": dt.date(2026, 6, 30),
        },
        {"probability": 60},
        lambda d: {
            "customer_id": d["customer"].id,
            "name": "x",
            "amount": 250000.0,
            "probability": 140,
        },
        ("amount", "probability"),
    ),
    Sample(
        "products",
        "product",
        lambda d: {"name": "首页横幅", "code": "AD-01", "price": Money("5000.00", "CNY")},
        {"active": False},
        lambda d: {"name": "首页横幅", "price": "12.345 CNY"},
        ("price",),
    ),
    Sample(
        "orders",
        "order",
        lambda d: {
            "customer_id": d["customer"].id,
            "currency": "CNY",
            "opportunity_id": d["opportunity"].id,
            "lines": [
                {
                    "description": "横幅",
                    "quantity": "2",
                    "discount": "0.1",
                    "unit_price": Money("5000.00", "CNY"),
                    "product_id": d["product"].id,
                }
            ],
        },
        {"number": "SO-2026-001"},
        lambda d: {
            "customer_id": d["customer"].id,
            "currency": "CNY",
            "lines": [{"description": "横幅", "quantity": -1, "unit_price": Money("1.00", "CNY")}],
        },
        ("lines.0.quantity",),
        # Each new order takes the next number of the tenant's order sequence.
        differs_in=("number",),
    ),
    Sample(
        "payment_plans",
        "payment_plan",
        _plan_input,
        {"installments": [{"due_on": dt.date(2026, 4, 1), "amount": "300.00 CNY"}]},
        lambda d: {**_plan_input(d), "total": "999.00 CNY"},
        ("installments",),
        another=lambda d: _plan_input(d, 1),
        differs_in=("order_id",),
    ),
    Sample(
        "payments",
        "payment",
        lambda d: {
            "plan_id": d["plan"].id,
            "installment_id": d["plan"].installments[0].id,
            "amount": "500.00 CNY",
            "received_on": dt.date(2026, 1, 20),
        },
        {"reference": "BANK-778"},
        lambda d: {
            "plan_id": d["plan"].id,
            "installment_id": d["plan"].installments[0].id,
            "amount": "-5.00 CNY",
            "received_on": dt.date(2026, 1, 20),
        },
        ("amount",),
    ),
    Sample(
        "tickets",
        "ticket",
        lambda d: {
            "customer_id": d["customer"].id,
            "subject": "广告未上线",
            "type": "complaint",
            "channel": "email",
            "priority": "high",
            "fee": Money("0.00", "CNY"),
        },
        {"status": "in_progress"},
        lambda d: {
            "customer_id": d["customer"].id,
            "subject": "x",
            "satisfaction": 0,
            "channel": "pigeon",
        },
        ("satisfaction", "channel"),
    ),
    Sample(
        "activities",
        "activity",
        lambda d: {
            "type": "call",
            "subject": "回访",
            "customer_id": d["customer"].id,
            "ticket_id": d["ticket"].id,
            "due_at": dt.datetime(2026, 1, 20, 9, 0, tzinfo=dt.UTC),
        },
        {"done": True, "result": "客户满意"},
        lambda d: {"type": "fax", "subject": "回访", "customer_id": uuid.uuid4()},
        ("type",),
    ),
)
