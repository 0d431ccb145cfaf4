"""Realistic volumes of data for benchmarks and load tests: :func:`generate`.

At ``scale=1.0`` :func:`generate` fills a tenant with what a 500-rep company builds up in
ten years: 1,000,000 customers, 3,000,000 contacts, 5,000,000 opportunities, 10,000,000
activities and 5,000,000 installments, with the orders, payment plans and payments that go
with the won deals. ``scale`` multiplies the record counts (``0.001``: 1,000 customers).

The organisation (a head office, branches, teams; an executive, sales directors, team
leads and reps) is created through the services, so department paths and reporting lines
are kept. The records are written with SQLAlchemy Core ``executemany``, a batch of
customers with everything that belongs to them per transaction, so memory holds one batch
whatever the volume. Every row is one pycrm reads back: the same seed gives the same
records (their ids are derived from the seed and the tenant). The audit trail and the
stage transitions of the generated records are not written. SQL backends only.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from pycrm.core.money import Money
from pycrm.core.org import Role
from pycrm.core.pipeline import Pipeline
from pycrm.core.records import SYSTEM_USER
from pycrm.core.text import fold
from pycrm.crm import CRM
from pycrm.errors import ConfigurationError, ValidationError
from pycrm.storage.sqlalchemy.tables import Tables

__all__ = ["FIGURES", "Progress", "VolumeReport", "generate"]

#: Records of each kind at ``scale=1.0`` (a 500-rep company over ten years).
FIGURES: dict[str, int] = {
    "customer": 1_000_000,
    "contact": 3_000_000,
    "opportunity": 5_000_000,
    "activity": 10_000_000,
    "installment": 5_000_000,
}

#: Called after every batch with the kind, the records of that kind written so far and the
#: number that will be written (the kinds of :data:`FIGURES`).
Progress = Callable[[str, int, int], None]

#: Customers per batch (and transaction): with their contacts, deals, activities, orders
#: and installments about 25,000 rows, a few thousand per table.
BATCH = 1_000
#: Deals this much older than now are closed 60 % of the time; younger ones 10 %.
OLD = dt.timedelta(days=180)
#: At most this many installments in one payment plan.
MOST_PARTS = 24


@dataclass(frozen=True)
class VolumeReport:
    """What :func:`generate` wrote."""

    tenant: str
    scale: float
    years: int
    seed: int
    #: Rows written per kind: ``department``, ``user`` (through the services), then
    #: ``customer``, ``contact``, ``opportunity``, ``activity``, ``order``, ``order_line``,
    #: ``payment_plan``, ``installment`` and ``payment``.
    counts: dict[str, int]
    #: Seconds the whole generation took, the organisation included.
    seconds: float
    #: The executive (sees everything), the sales directors and the reps.
    executive: uuid.UUID
    directors: tuple[uuid.UUID, ...] = field(default=())
    reps: tuple[uuid.UUID, ...] = field(default=())

    @property
    def rows(self) -> int:
        """All rows written."""
        return sum(self.counts.values())

    @property
    def rows_per_second(self) -> float:
        """Rows written per second over the whole run."""
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def generate(
    crm: CRM,
    *,
    tenant: str,
    scale: float = 1.0,
    years: int = 10,
    reps: int = 500,
    seed: int = 7,
    progress: Progress | None = None,
) -> VolumeReport:
    """Fill ``tenant`` with a sales company's records of ``years`` years, ending now.

    ``scale`` multiplies the record counts of :data:`FIGURES`; ``reps`` sales reps own the
    records; the same ``seed`` gives the same records. ``progress`` is called after every
    batch (see :data:`Progress`).

    Raises :class:`pycrm.ValidationError` (before anything is written) for ``scale`` not
    above zero, ``years`` or ``reps`` below one or an empty tenant, and
    :class:`pycrm.ConfigurationError` when the CRM does not store in an SQL database.
    """
    from pycrm.storage.sqlalchemy.backend import SqlBackend

    storage = crm.storage
    if not isinstance(storage, SqlBackend):
        raise ConfigurationError(
            f"pycrm.volumes.generate writes with SQL and needs an SQL database (SQLite or "
            f"PostgreSQL); this CRM stores in {storage.name!r}"
        )
    problems = []
    if not isinstance(scale, int | float) or not math.isfinite(scale) or scale <= 0:
        problems.append(("scale", "must be a number above zero"))
    if not isinstance(years, int) or years < 1:
        problems.append(("years", "must be a whole number of at least 1"))
    if not isinstance(reps, int) or reps < 1:
        problems.append(("reps", "must be a whole number of at least 1"))
    if not isinstance(tenant, str) or not tenant:
        problems.append(("tenant", "must not be empty"))
    if problems:
        raise ValidationError(problems)
    started = time.perf_counter()
    totals = {kind: max(1, round(n * scale)) for kind, n in FIGURES.items()}
    org = _organisation(crm, tenant, reps)
    writer = _Writer(crm, storage.engine, storage.tables, tenant, years, seed, org.reps, totals)
    counts = {"department": org.departments, "user": org.users}
    counts.update(writer.run(progress))
    return VolumeReport(
        tenant=tenant,
        scale=float(scale),
        years=years,
        seed=seed,
        counts=counts,
        seconds=time.perf_counter() - started,
        executive=org.executive,
        directors=org.directors,
        reps=org.reps,
    )


# -- the organisation, through the services ------------------------------------------------
def _words(text: str) -> tuple[str, ...]:
    """Two-character words run together: ``"北京上海"`` -> ``("北京", "上海")``."""
    return tuple(text[i : i + 2] for i in range(0, len(text), 2))


_CITIES = _words("北京上海广州深圳杭州南京成都武汉西安苏州天津重庆青岛厦门长沙合肥")
_TRADE = _words("联成华信天成恒通中科金桥东方博远瑞丰新锐汇通宏达润泽鼎盛远航星辰")
_INDUSTRY = _words("软件科技贸易物流医药电子机械食品建材教育传媒能源")
_FORM = ("有限公司", "股份有限公司", "集团有限公司")
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
_GIVEN = _words("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀英华") + tuple("伟芳娜敏静丽强磊军洋")
_TITLES = ("总经理", "副总经理", "采购经理", "技术总监", "财务总监", "市场经理", "IT主管")
_DEALS = ("年度采购", "系统升级", "新项目", "续约", "扩容", "咨询服务", "设备更新")
_SOURCES = ("visit", "campaign", "referral", "assigned", "self_developed", "web", "other")
_ROLES = ("key_contact", "decision_maker", "influencer", "user", "other")
#: Activity types with their weights and subjects.
_ACTIVITIES = (
    ("call", 40, ("电话沟通", "电话回访", "确认需求")),
    ("visit", 25, ("上门拜访", "现场演示", "商务洽谈")),
    ("task", 25, ("准备报价", "发送方案", "跟进合同")),
    ("email", 5, ("邮件跟进",)),
    ("meeting", 5, ("项目会议",)),
)
_LEVELS = (("VIP", "A", "B", "C"), (5, 15, 35, 45))
_VERSION_VARIANT = (0x7 << 76) | (0x2 << 62)


@dataclass
class _Org:
    executive: uuid.UUID
    directors: tuple[uuid.UUID, ...]
    reps: tuple[uuid.UUID, ...]
    departments: int
    users: int


def _organisation(crm: CRM, tenant: str, reps: int) -> _Org:
    """Head office → branches → teams, with their people, in one unit of work."""
    branches = min(len(_CITIES), max(1, math.ceil(reps / 125)))
    with crm.unit_of_work(tenant=tenant, user=SYSTEM_USER) as uow:
        head = uow.departments.create(name="总部")
        boss = uow.users.create(name="总经理", roles=[Role.EXECUTIVE], department_id=head.id)
        directors, sellers, departments, users = [], [], 1, 1
        for b in range(branches):
            city = _CITIES[b]
            mine = reps // branches + (b < reps % branches)
            branch = uow.departments.create(name=f"{city}分公司", parent_id=head.id)
            director = uow.users.create(
                name=f"{city}销售总监",
                roles=[Role.SALES_DIRECTOR],
                department_id=branch.id,
                manager_id=boss.id,
            )
            uow.departments.update(branch.id, manager_id=director.id)
            directors.append(director.id)
            departments, users = departments + 1, users + 1
            teams = max(1, math.ceil(mine / 10))
            for t in range(teams):
                team = uow.departments.create(name=f"{city}销售{t + 1}组", parent_id=branch.id)
                lead = uow.users.create(
                    name=f"{city}{t + 1}组组长",
                    roles=[Role.SALES_REP],
                    department_id=team.id,
                    manager_id=director.id,
                )
                uow.departments.update(team.id, manager_id=lead.id)
                departments, users = departments + 1, users + 1
                for r in range(t, mine, teams):  # the branch's reps dealt out to its teams
                    rep = uow.users.create(
                        name=f"{city}{t + 1}组销售{r + 1:03d}",
                        roles=[Role.SALES_REP],
                        department_id=team.id,
                        manager_id=lead.id,
                    )
                    sellers.append(rep.id)
                    users += 1
    return _Org(boss.id, tuple(directors), tuple(sellers), departments, users)


# -- the records, with Core executemany ----------------------------------------------------
class _Writer:
    """Generates and writes the records a batch of customers at a time."""

    def __init__(
        self,
        crm: CRM,
        engine: sa.Engine,
        tables: Tables,
        tenant: str,
        years: int,
        seed: int,
        reps: tuple[uuid.UUID, ...],
        totals: dict[str, int],
    ) -> None:
        self.engine, self.tenant, self.reps, self.totals = engine, tenant, reps, totals
        self.now = crm.clock.now()
        self.today = self.now.date()
        self.start = self.now - dt.timedelta(days=365 * years)
        self.span = (self.now - self.start).total_seconds()
        self.currency = crm.settings.reporting_currency
        self.unit = Money(Decimal(1), self.currency).minor_units  # minor units per unit
        pipeline: Pipeline = crm.pipelines.default
        self.pipeline = pipeline.key
        self.stages = [(s.key, s.probability) for s in pipeline.stages]
        self.weights = [len(self.stages) - i for i in range(len(self.stages))]  # early: more
        self.last_stage = self.stages[-1][0]
        self.lost_reasons = tuple(pipeline.lost_reasons) or ("other",)
        self.data = random.Random(seed)
        self.ids = random.Random(f"{tenant}/{seed}")
        self.orders = 0
        self.t = {
            kind: tables.table(kind)
            for kind in (
                "customer",
                "contact",
                "opportunity",
                "activity",
                "order",
                "payment_plan",
                "payment",
            )
        }
        self.t["order_line"] = tables.child("order", "lines")
        self.t["installment"] = tables.child("payment_plan", "installments")

    # -- helpers ----------------------------------------------------------------------
    def _id(self, at: dt.datetime) -> uuid.UUID:
        """A UUIDv7 of the time ``at`` with random bits from the seeded id stream."""
        ms = int(at.timestamp() * 1000)
        bits = self.ids.getrandbits(74)
        value = (ms << 80) | ((bits >> 62) << 64) | _VERSION_VARIANT | (bits & ((1 << 62) - 1))
        return uuid.UUID(int=value)

    def _between(self, first: dt.datetime, last: dt.datetime) -> dt.datetime:
        seconds = max((last - first).total_seconds(), 0.0)
        return first + dt.timedelta(seconds=int(self.data.random() * seconds))

    def _common(self, at: dt.datetime, owner: uuid.UUID) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "owner_id": owner,
            "created_at": at,
            "updated_at": at,
            "created_by": owner,
            "updated_by": owner,
            "version": 1,
            "deleted_at": None,
            "custom": {},
        }

    def _spread(self, quota: int, n: int) -> list[int]:
        """``quota`` things dealt out to ``n`` holders at random, exactly ``quota`` in all."""
        counts = [0] * n
        for i in self.data.choices(range(n), k=quota):
            counts[i] += 1
        return counts

    # -- the run ------------------------------------------------------------------------
    def run(self, progress: Progress | None) -> dict[str, int]:
        customers = self.totals["customer"]
        written = dict.fromkeys(
            (
                "customer",
                "contact",
                "opportunity",
                "activity",
                "order",
                "order_line",
                "payment_plan",
                "installment",
                "payment",
            ),
            0,
        )
        quotas = {kind: 0 for kind in FIGURES if kind != "customer"}
        for first in range(0, customers, BATCH):
            n = min(BATCH, customers - first)
            # Each kind's share of this batch, so the totals come out exact.
            share = {
                kind: (first + n) * self.totals[kind] // customers - quotas[kind] for kind in quotas
            }
            for kind in quotas:
                quotas[kind] += share[kind]
            rows = self._batch(first, n, share)
            with self.engine.begin() as conn:
                for kind, batch in rows.items():
                    if batch:
                        conn.execute(self.t[kind].insert(), batch)
                    written[kind] += len(batch)
            del rows
            if progress is not None:
                for kind, total in self.totals.items():
                    progress(kind, written[kind], total)
        return written

    def _batch(self, first: int, n: int, share: dict[str, int]) -> dict[str, list[dict[str, Any]]]:
        rnd = self.data
        customers = self._customers(first, n)
        contacts: list[list[dict[str, Any]]] = [[] for _ in range(n)]
        for i, k in enumerate(self._spread(share["contact"], n)):
            contacts[i] = [self._contact(customers[i]) for _ in range(k)]
        deals: list[list[dict[str, Any]]] = [[] for _ in range(n)]
        for i, k in enumerate(self._spread(share["opportunity"], n)):
            deals[i] = [self._deal(customers[i]) for _ in range(k)]
        flat = [d for per in deals for d in per]
        won = [d for d in flat if d["status"] == "won"]
        # Enough won deals for the batch's installments (and at least one when any are due).
        need = math.ceil(share["installment"] / MOST_PARTS)
        for deal in flat:
            if len(won) >= need:
                break
            if deal["status"] != "won":
                self._win(deal)
                won.append(deal)
        for i, per in enumerate(deals):
            if any(d["status"] == "won" for d in per):
                customers[i]["type"] = "existing"
        orders, lines, plans, parts, payments = [], [], [], [], []
        if won:
            base, extra = divmod(share["installment"], len(won))
            bonus = set(rnd.sample(range(len(won)), extra))
            for w, deal in enumerate(won):
                order, line, plan, plan_parts, paid = self._order(deal, base + (w in bonus))
                orders.append(order)
                lines.append(line)
                plans.append(plan)
                parts += plan_parts
                payments += paid
        activities = []
        for i, k in enumerate(self._spread(share["activity"], n)):
            activities += [self._activity(customers[i], contacts[i], deals[i]) for _ in range(k)]
        return {
            "customer": customers,
            "contact": [c for per in contacts for c in per],
            "opportunity": flat,
            "order": orders,
            "order_line": lines,
            "payment_plan": plans,
            "installment": parts,
            "payment": payments,
            "activity": activities,
        }

    def _customers(self, first: int, n: int) -> list[dict[str, Any]]:
        rnd, rows = self.data, []
        for i in range(first, first + n):
            at = self._between(self.start, self.now)
            city, industry = rnd.choice(_CITIES), rnd.choice(_INDUSTRY)
            name = f"{city}{rnd.choice(_TRADE)}{industry}{rnd.choice(_FORM)}（{i + 1}）"
            row = self._common(at, rnd.choice(self.reps))
            row.update(
                id=self._id(at),
                name=name,
                name_folded=fold(name),
                industry=industry,
                source=rnd.choice(_SOURCES),
                level=rnd.choices(*_LEVELS)[0],
                type=rnd.choice(("target", "potential")),
                status=rnd.choices(("active", "normal", "archived"), (70, 25, 5))[0],
                credit_rating=None,
                region=city,
                address=None,
                phone=f"0{rnd.randint(10, 999)}-{rnd.randint(2_000_000, 89_999_999)}",
                website=None,
                email=None,
                parent_id=None,
                tags=rnd.sample(["重点", "续约", "新客", "大客户", "渠道"], k=rnd.randint(0, 2)),
            )
            rows.append(row)
        return rows

    def _contact(self, customer: dict[str, Any]) -> dict[str, Any]:
        rnd = self.data
        at = self._between(customer["created_at"], self.now)
        name = rnd.choice(_SURNAMES) + rnd.choice(_GIVEN)
        row = self._common(at, customer["owner_id"])
        row.update(
            id=self._id(at),
            customer_id=customer["id"],
            name=name,
            name_folded=fold(name),
            title=rnd.choice(_TITLES),
            department=None,
            phone=None,
            mobile=f"1{rnd.choice('3456789')}{rnd.randint(0, 999_999_999):09d}",
            email=None,
            birthday=dt.date(rnd.randint(1960, 1998), rnd.randint(1, 12), rnd.randint(1, 28)),
            role=rnd.choice(_ROLES),
            closeness=rnd.randint(1, 5),
            influence=rnd.randint(1, 5),
            preferences=None,
        )
        return row

    def _deal(self, customer: dict[str, Any]) -> dict[str, Any]:
        rnd = self.data
        at = self._between(customer["created_at"], self.now)
        amount = max(1_000, round(rnd.lognormvariate(11.5, 0.9), -2))
        name = f"{customer['name'][:6]}{rnd.choice(_DEALS)}"
        row = self._common(at, customer["owner_id"])
        stage, probability = rnd.choices(self.stages, self.weights)[0]
        closing = rnd.random() < (0.6 if self.now - at > OLD else 0.1)
        row.update(
            id=self._id(at),
            customer_id=customer["id"],
            name=name,
            name_folded=fold(name),
            pipeline=self.pipeline,
            stage=stage,
            amount_minor=int(amount) * self.unit,
            amount_currency=self.currency,
            probability=probability,
            expected_close=self.today + dt.timedelta(days=rnd.randint(7, 180)),
            product_line=None,
            importance=rnd.choice((None, "high", "normal")),
            status="open",
            stage_entered_at=self._between(at, self.now),
            last_contact_at=None,
            closed_at=None,
            lost_reason=None,
        )
        if closing:
            if rnd.random() < 0.4:
                self._win(row)
            else:
                closed = min(at + dt.timedelta(days=rnd.randint(7, 180)), self.now)
                row.update(
                    status="lost",
                    probability=0,
                    closed_at=closed,
                    stage_entered_at=closed,
                    expected_close=closed.date(),
                    lost_reason=rnd.choice(self.lost_reasons),
                    updated_at=closed,
                )
        return row

    def _win(self, deal: dict[str, Any]) -> None:
        closed = min(deal["created_at"] + dt.timedelta(days=self.data.randint(7, 180)), self.now)
        deal.update(
            status="won",
            stage=self.last_stage,
            probability=100,
            closed_at=closed,
            stage_entered_at=closed,
            expected_close=closed.date(),
            lost_reason=None,
            updated_at=closed,
        )

    def _order(
        self, deal: dict[str, Any], parts: int
    ) -> tuple[Any, Any, Any, list[Any], list[Any]]:
        rnd = self.data
        at: dt.datetime = deal["closed_at"]
        signed = at.date()
        ends = signed + dt.timedelta(days=365)
        owner, total = deal["owner_id"], deal["amount_minor"]
        self.orders += 1
        order_id = self._id(at)
        order = self._common(at, owner)
        completed = ends < self.today
        order.update(
            id=order_id,
            customer_id=deal["customer_id"],
            currency=self.currency,
            number=f"SO-{signed:%Y%m}-{self.orders:07d}",
            opportunity_id=deal["id"],
            status="completed" if completed else "confirmed",
            signed_on=signed,
            starts_on=signed,
            ends_on=ends,
            total_minor=total,
            total_currency=self.currency,
            confirmed_on=signed,
            completed_on=ends if completed else None,
            cancelled_on=None,
            cancel_reason=None,
        )
        line = {
            "tenant": self.tenant,
            "order_id": order_id,
            "position": 0,
            "description": deal["name"],
            "quantity": Decimal(1),
            "unit_price_minor": total,
            "unit_price_currency": self.currency,
            "discount": Decimal(0),
            "product_id": None,
        }
        plan_id = self._id(at)
        plan = self._common(at, owner)
        plan.update(
            id=plan_id,
            order_id=order_id,
            customer_id=deal["customer_id"],
            total_minor=total,
            total_currency=self.currency,
        )
        parts = max(1, min(parts, total))  # every installment at least one minor unit
        months = 1 if parts > 4 else 3
        each, left = divmod(total, parts)
        installments, payments = [], []
        for p in range(parts):
            amount = each + (left if p == parts - 1 else 0)
            due = _add_months(signed, months * (p + 1))
            age = (self.today - due).days
            if age < 0:
                paid = 0
            else:
                roll = rnd.random()
                full = 0.97 if age > 365 else 0.8
                paid = amount if roll < full else (amount // 2 if roll < full + 0.05 else 0)
            part_id = self._id(at)
            installments.append(
                {
                    "tenant": self.tenant,
                    "plan_id": plan_id,
                    "position": p,
                    "id": part_id,
                    "due_on": due,
                    "amount_minor": amount,
                    "amount_currency": self.currency,
                    "paid_minor": paid,
                    "paid_currency": self.currency,
                    "order_id": order_id,
                    "customer_id": deal["customer_id"],
                    "owner_id": owner,
                }
            )
            if paid:
                received = min(due + dt.timedelta(days=rnd.randint(0, 20)), self.today)
                when = dt.datetime.combine(received, dt.time(10), tzinfo=dt.UTC)
                payment = self._common(max(when, at), owner)
                payment.update(
                    id=self._id(when),
                    plan_id=plan_id,
                    installment_id=part_id,
                    amount_minor=paid,
                    amount_currency=self.currency,
                    received_on=received,
                    method=rnd.choice(("bank_transfer", "cheque", "online")),
                    reference=None,
                )
                payments.append(payment)
        return order, line, plan, installments, payments

    def _activity(
        self,
        customer: dict[str, Any],
        contacts: list[dict[str, Any]],
        deals: list[dict[str, Any]],
    ) -> dict[str, Any]:
        rnd = self.data
        kind, _, subjects = rnd.choices(_ACTIVITIES, [w for _, w, _ in _ACTIVITIES])[0]
        at = self._between(customer["created_at"], self.now)
        due = at + dt.timedelta(days=rnd.randint(0, 14), hours=rnd.randint(9, 17))
        done = due < self.now and rnd.random() < 0.9
        row = self._common(at, customer["owner_id"])
        row.update(
            id=self._id(at),
            type=kind,
            subject=rnd.choice(subjects),
            notes=None,
            due_at=due,
            done=done,
            done_at=due if done else None,
            result="已完成" if done else None,
            customer_id=customer["id"],
            contact_id=rnd.choice(contacts)["id"] if contacts and rnd.random() < 0.6 else None,
            opportunity_id=rnd.choice(deals)["id"] if deals and rnd.random() < 0.4 else None,
            order_id=None,
            ticket_id=None,
            dunning_installment_id=None,
            dunning_due_on=None,
        )
        return row


def _add_months(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return day.replace(year=year, month=month, day=min(day.day, 28))
