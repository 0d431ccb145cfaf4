"""A customer's lifecycle and the views around it, on the memory backend and on SQLite
(where the answer comes from storage, both must give the same one): churn warnings raised
by the sweep and answered by the rep (postpone, confirm, clear), hot customers, customer
value (Pareto / ABC, trends, new customers per rep), the customer 360 overview (with a
fixed number of SQL statements) and the search box.

The clock starts on Thursday 15 January 2026, 09:00 UTC (``T``); each test works in a
tenant of its own (on one CRM per backend), whose time zone is UTC unless the test sets
one. USD is worth 7 CNY (the settings' rate); CNY is the reporting currency. Bugs found are
pinned with ``xfail(strict=True)``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import pycrm
from pycrm import SYSTEM_USER, Money

D = dt.date
T = dt.datetime(2026, 1, 15, 9, 0, tzinfo=dt.UTC)
TODAY = T.date()
SETTINGS = pycrm.Settings(reporting_currency="CNY", exchange_rates={"USD/CNY": Decimal("7")})
RULES = pycrm.ChurnRules(no_order_days=90, no_contact_days=60, falling_percent=50, period_days=90)
NO_ORDER, NO_CONTACT, FALLING = "no_order", "no_contact", "falling_orders"


def ago(days: float) -> dt.datetime:
    return T - dt.timedelta(days=days)


def later(days: float) -> dt.datetime:
    return T + dt.timedelta(days=days)


class Events:
    """A plugin keeping every event of the CRM."""

    name = "lifecycle-listener"

    def __init__(self) -> None:
        self.seen: list[pycrm.Event] = []

    @pycrm.hookimpl
    def pycrm_on_event(self, event: pycrm.Event) -> None:
        self.seen.append(event)

    def alerts(self, name: str = "customer.churn") -> list[pycrm.AlertRaised]:
        return [e for e in self.seen if isinstance(e, pycrm.AlertRaised) and e.name == name]


# One CRM per backend for the whole module (connecting to SQLite reads the migrations);
# each test works in a tenant of its own, with the clock set back to T.
@pytest.fixture(scope="module")
def clock() -> pycrm.FixedClock:
    return pycrm.FixedClock(T)


@pytest.fixture(scope="module")
def events() -> Events:
    return Events()


@pytest.fixture(scope="module", params=["memory", "sqlite"])
def crm(
    request: pytest.FixtureRequest,
    clock: pycrm.FixedClock,
    events: Events,
    sqlite_template: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[pycrm.CRM]:
    url = "memory://"
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("lifecycle") / "crm.db"
        shutil.copyfile(sqlite_template, path)  # a migrated database (tests/conftest.py)
        url = f"sqlite:///{path}"
    crm = pycrm.CRM.connect(
        url, clock=clock, settings=SETTINGS, plugins=[events], load_entry_points=False
    )
    yield crm
    crm.close()


#: For tests whose answer does not come from storage (argument checks, workflow rules).
MEMORY_ONLY = pytest.mark.parametrize("crm", ["memory"], indirect=True)
SQLITE_ONLY = pytest.mark.parametrize("crm", ["sqlite"], indirect=True)


class World:
    """One tenant's organisation and helpers acting as anyone.

    Head office (GM) → North (director Bei; reps Ann and Al) and South (director Nan;
    rep Bo)."""

    def __init__(self, crm: pycrm.CRM, clock: pycrm.FixedClock) -> None:
        self.crm, self.clock = crm, clock
        self.tenant = f"t{uuid.uuid4().hex[:10]}"
        self.ids: dict[str, uuid.UUID] = {}
        self._batch: pycrm.Services | None = None

    def __getitem__(self, name: str) -> uuid.UUID:
        return self.ids[name]

    def api(self, who: str) -> pycrm.Services:
        return self.crm.as_user(self.ids[who], tenant=self.tenant)

    @property
    def root(self) -> pycrm.Services:
        """The system's services (those of the open batch, if any)."""
        if self._batch is not None:
            return self._batch
        return self.crm.as_user(SYSTEM_USER, tenant=self.tenant)

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Set up as the system in one unit of work (faster; the clock may move in it)."""
        with self.crm.unit_of_work(tenant=self.tenant, user=SYSTEM_USER) as uow:
            self._batch = uow
            try:
                yield
            finally:
                self._batch = None

    def at(self, when: dt.datetime) -> World:
        self.clock.set(when)
        return self

    def customer(self, name: str, owner: str = "Ann", **fields: Any) -> pycrm.Customer:
        return self.root.customers.create(name=name, owner_id=self[owner], **fields)

    def get(self, customer: pycrm.Customer | uuid.UUID) -> pycrm.Customer:
        return self.root.customers.get(
            customer.id if isinstance(customer, pycrm.Customer) else customer
        )

    def order(
        self,
        customer: pycrm.Customer,
        amount: str = "100.00",
        currency: str = "CNY",
        *,
        status: str = "confirmed",
        owner: str | None = None,
        signed_on: dt.date | None = None,
        confirmed_on: dt.date | None = None,
    ) -> pycrm.Order:
        """An order of one line, taken to ``status`` (draft, confirmed — on
        ``confirmed_on``, default today —, completed, or cancelled once confirmed)."""
        orders = self.root.orders
        made = orders.create(
            customer_id=customer.id,
            owner_id=self[owner] if owner else customer.owner_id,
            currency=currency,
            signed_on=signed_on,
            lines=[{"description": "slot", "quantity": 1, "unit_price": Money(amount, currency)}],
        )
        if status != "draft":
            made = orders.confirm(made.id, on=confirmed_on)
        if status == "completed":
            made = orders.complete(made.id)
        if status == "cancelled":
            made = orders.cancel(made.id, reason="changed their mind")
        assert made.status == status
        return made

    def activity(self, customer: pycrm.Customer, subject: str = "call") -> pycrm.Activity:
        return self.root.activities.create(
            type="call", subject=subject, customer_id=customer.id, owner_id=customer.owner_id
        )

    def sweep(self, when: dt.datetime) -> int:
        """Sweep at ``when`` (the clock moved there too): the churn warnings raised."""
        self.clock.set(when)
        run = self.crm.sweep(when, tenant=self.tenant)
        assert run.ok, run.failed
        return run.raised["customer.churn"]

    def flagged(self) -> dict[str, list[str]]:
        """Each customer under a churn warning by name, with its reasons."""
        page = self.root.customers.list({"churn_state": "warning"}, limit=1000)
        return {c.name: list(c.churn_reasons or []) for c in page}


@pytest.fixture
def world(crm: pycrm.CRM, clock: pycrm.FixedClock, events: Events) -> World:
    clock.set(T)
    events.seen.clear()
    found = World(crm, clock)
    with crm.unit_of_work(tenant=found.tenant, user=SYSTEM_USER) as uow:
        head = uow.departments.create(name="Head office")
        north = uow.departments.create(name="North", parent_id=head.id)
        south = uow.departments.create(name="South", parent_id=head.id)
        gm = uow.users.create(name="GM", roles=["executive"], department_id=head.id)
        bei = uow.users.create(
            name="Bei", roles=["sales_director"], department_id=north.id, manager_id=gm.id
        )
        nan = uow.users.create(
            name="Nan", roles=["sales_director"], department_id=south.id, manager_id=gm.id
        )
        ann = uow.users.create(name="Ann", department_id=north.id, manager_id=bei.id)
        al = uow.users.create(name="Al", department_id=north.id, manager_id=bei.id)
        bo = uow.users.create(name="Bo", department_id=south.id, manager_id=nan.id)
        for user in (gm, bei, nan, ann, al, bo):
            found.ids[user.name] = user.id
        found.ids.update(north=north.id, south=south.id)
    return found


def names(page: Any) -> list[str]:
    return sorted(record.name for record in page)


# -- churn warnings ------------------------------------------------------------------------
@pytest.fixture
def churning(world: World) -> World:
    """Customers made 300 days before ``T`` (unless said otherwise) with orders and
    activities at chosen times; the churn rules are set."""
    world.root.configuration.set_churn_rules(RULES)
    world.root.configuration.set_pool(pycrm.Pool(key="east", name="East"))
    with world.batch():
        world.at(ago(300))
        made = {
            name: world.customer(name)
            for name in (
                "Quiet",
                "Fine",
                "No order",
                "No contact",
                "Falling",
                "Steady",
                "Cancelled",
                "Cancelled falling",
                "Deleted order",
                "Deleted call",
                "Normal",
                "Pooled",
                "Archived",
                "Deleted",
            )
        }
        world.root.customers.update(made["Normal"].id, status="normal")
        world.root.customers.update(made["Archived"].id, status="archived")
        world.root.pools.release(made["Pooled"].id, reason="no budget", pool="east")
        world.root.customers.delete(made["Deleted"].id)
        world.at(ago(75))
        made["Middling"] = world.customer("Middling")  # old enough for the contact rule only
        world.at(ago(30))
        made["Young"] = world.customer("Young")  # too young for either
        # (customer, days before T, status) of each order; the activities' days before T.
        orders = [
            ("Fine", 100, "confirmed"),
            ("Fine", 10, "completed"),
            ("No order", 200, "confirmed"),  # before both periods of the falling rule
            ("No contact", 10, "confirmed"),
            *(("Falling", d, "confirmed") for d in (170, 150, 120, 100, 50, 20)),  # 4 → 2
            *(("Steady", d, "confirmed") for d in (170, 150, 120, 100, 50, 20, 5)),  # 4 → 3
            ("Cancelled", 10, "cancelled"),
            *(("Cancelled falling", d, "confirmed") for d in (120, 100, 20)),  # 2 → 1
            ("Cancelled falling", 10, "cancelled"),
            ("Deleted call", 10, "confirmed"),
        ]
        activities = [
            ("Fine", 10),
            ("No order", 5),
            ("No contact", 61),
            ("Falling", 5),
            ("Steady", 5),
            ("Cancelled", 5),
            ("Cancelled falling", 5),
            ("Deleted order", 5),
        ]
        for name, days, status in orders:
            world.at(ago(days)).order(made[name], status=status)
        for name, days in activities:
            world.at(ago(days)).activity(made[name])
        # A deleted order or call does not count either.
        world.root.orders.delete(world.at(ago(10)).order(made["Deleted order"]).id)
        world.root.activities.delete(world.at(ago(5)).activity(made["Deleted call"]).id)
    world.at(T)
    world.ids.update({f"c:{name}": c.id for name, c in made.items()})
    return world


EXPECTED = {
    "Quiet": [NO_ORDER, NO_CONTACT],
    "No order": [NO_ORDER],
    "No contact": [NO_CONTACT],
    "Falling": [FALLING],
    "Cancelled": [NO_ORDER],
    "Cancelled falling": [FALLING],
    "Deleted order": [NO_ORDER],
    "Deleted call": [NO_CONTACT],
    "Normal": [NO_ORDER, NO_CONTACT],
    "Middling": [NO_CONTACT],
}


def test_the_sweep_flags_the_customers_each_rule_holds_for_with_its_reasons(
    churning: World,
) -> None:
    assert churning.sweep(T) == len(EXPECTED)
    assert churning.flagged() == EXPECTED
    # Fine, steady, young, pooled, archived and deleted customers are left alone.
    for name in ("Fine", "Steady", "Young", "Pooled", "Archived"):
        customer = churning.get(churning[f"c:{name}"])
        assert (customer.churn_state, customer.churn_reasons) == (None, None), name
    quiet = churning.get(churning["c:Quiet"])
    assert quiet.churn_flagged_at == T and quiet.churn_action is None
    assert quiet.churn_until is None
    # A second sweep, now or a day later, raises nothing and changes nothing.
    versions = {c.id: c.version for c in churning.root.customers.list(limit=1000)}
    assert churning.sweep(T) == 0
    assert churning.sweep(later(1)) == 0
    assert {c.id: c.version for c in churning.root.customers.list(limit=1000)} == versions
    assert churning.flagged() == EXPECTED


@pytest.fixture
def warned(world: World) -> World:
    """Ann's customers Quiet (nothing for 300 days: flagged at ``T``) and Fine (an order
    and a call 10 days before ``T``), swept at ``T``."""
    world.root.configuration.set_churn_rules(RULES)
    world.at(ago(300))
    quiet, fine = world.customer("Quiet"), world.customer("Fine")
    world.at(ago(10)).order(fine)
    world.activity(fine)
    world.ids.update({"c:Quiet": quiet.id, "c:Fine": fine.id})
    assert world.sweep(T) == 1
    return world


def test_a_flag_is_audited_and_its_alert_reaches_the_plugins(warned: World, events: Events) -> None:
    quiet = warned["c:Quiet"]
    last = warned.root.customers.history(quiet)[-1]
    assert last.action == pycrm.ChangeAction.UPDATE and last.at == T
    changed = {f.field: (f.old, f.new) for f in last.fields}
    assert changed["churn_state"] == (None, "warning")
    assert changed["churn_reasons"] == (None, [NO_ORDER, NO_CONTACT])
    [alert] = events.alerts()
    assert (alert.entity, alert.record_id, alert.tenant) == ("customer", quiet, warned.tenant)
    assert alert.data["recipient"] == str(warned["Ann"])
    assert warned.sweep(T) == 0
    assert warned.sweep(later(1)) == 0
    assert len(events.alerts()) == 1  # nothing raised again


def test_a_customer_old_enough_for_a_rule_only_at_its_window_is_flagged_then(
    world: World,
) -> None:
    world.root.configuration.set_churn_rules(pycrm.ChurnRules(no_order_days=90))
    world.at(ago(89))
    young = world.customer("Young")
    assert world.sweep(T) == 0
    assert world.sweep(later(2)) == 1
    assert world.flagged() == {"Young": [NO_ORDER]}
    assert world.get(young).churn_flagged_at == later(2)


def test_a_recent_order_keeps_a_customer_until_it_is_old(world: World) -> None:
    world.root.configuration.set_churn_rules(pycrm.ChurnRules(no_order_days=90))
    world.at(ago(300))
    customer = world.customer("Buyer")
    world.at(ago(80)).order(customer, status="draft")  # a draft counts as an order
    assert world.sweep(T) == 0
    assert world.sweep(later(9)) == 0
    assert world.sweep(later(11)) == 1
    assert world.flagged() == {"Buyer": [NO_ORDER]}


def test_a_postponed_warning_is_left_alone_until_its_date_has_passed(
    warned: World, events: Events
) -> None:
    quiet = warned["c:Quiet"]
    until = TODAY + dt.timedelta(days=10)
    postponed = warned.api("Ann").customers.postpone_churn(
        quiet, action="visit them with the new price list", until=until
    )
    assert postponed.churn_state == "postponed"
    assert (postponed.churn_action, postponed.churn_until) == (
        "visit them with the new price list",
        until,
    )
    assert postponed.churn_reasons == [NO_ORDER, NO_CONTACT]
    assert warned.root.customers.history(quiet)[-1].user_id == warned["Ann"]
    assert warned.sweep(later(5)) == 0
    assert warned.sweep(later(10)) == 0  # on the day itself: not passed yet
    assert warned.get(quiet).churn_state == "postponed"
    assert warned.sweep(later(11)) == 1
    again = warned.get(quiet)
    assert again.churn_state == "warning" and again.churn_flagged_at == later(11)
    assert (again.churn_action, again.churn_until) == (None, None)
    assert [a.record_id for a in events.alerts()] == [quiet, quiet]


def test_a_confirmed_churn_makes_the_customer_churned_and_it_is_never_flagged_again(
    warned: World, events: Events
) -> None:
    quiet = warned["c:Quiet"]
    confirmed = warned.api("Ann").customers.confirm_churn(quiet, reason="went to a rival")
    assert (confirmed.status, confirmed.churn_state) == ("churned", "confirmed")
    assert confirmed.churn_action == "went to a rival"
    for days in (1, 100, 400):
        warned.sweep(later(days))
        customer = warned.get(quiet)
        assert (customer.status, customer.churn_state) == ("churned", "confirmed")
    assert [a.record_id for a in events.alerts()].count(quiet) == 1
    with pytest.raises(pycrm.RuleViolation) as refused:
        warned.api("Ann").customers.postpone_churn(
            quiet, action="x", until=warned.clock.now().date() + dt.timedelta(days=5)
        )
    assert refused.value.rule == "churn.not_warned"


@MEMORY_ONLY
def test_a_postponed_warning_may_still_be_confirmed_or_postponed_again(warned: World) -> None:
    ann = warned.api("Ann").customers
    quiet = warned["c:Quiet"]
    ann.postpone_churn(quiet, action="call", until=TODAY + dt.timedelta(days=3))
    again = ann.postpone_churn(quiet, action="visit", until=TODAY + dt.timedelta(days=20))
    assert (again.churn_action, again.churn_until) == ("visit", TODAY + dt.timedelta(days=20))
    assert ann.confirm_churn(quiet).status == "churned"


def test_clearing_a_warning_takes_it_all_away(warned: World) -> None:
    quiet = warned["c:Quiet"]
    ann = warned.api("Ann").customers
    cleared = ann.clear_churn(quiet)
    assert (cleared.churn_state, cleared.churn_reasons, cleared.churn_flagged_at) == (
        None,
        None,
        None,
    )
    assert (cleared.churn_action, cleared.churn_until, cleared.status) == (None, None, "active")
    assert warned.flagged() == {}
    # A confirmed one cleared is a customer worked on again.
    assert warned.sweep(later(1)) == 1
    assert ann.confirm_churn(quiet).status == "churned"
    back = ann.clear_churn(quiet)
    assert (back.status, back.churn_state) == ("active", None)


@MEMORY_ONLY
def test_answering_a_customer_without_a_warning_is_refused(warned: World) -> None:
    ann = warned.api("Ann").customers
    fine = warned["c:Fine"]
    until = TODAY + dt.timedelta(days=5)
    version = warned.get(fine).version
    answers: list[Callable[[], object]] = [
        lambda: ann.postpone_churn(fine, action="call", until=until),
        lambda: ann.confirm_churn(fine),
    ]
    for answer in answers:
        with pytest.raises(pycrm.RuleViolation) as refused:
            answer()
        assert refused.value.rule == "churn.not_warned"
    with pytest.raises(pycrm.RuleViolation) as refused:
        ann.clear_churn(fine)
    assert refused.value.rule == "churn.none"
    customer = warned.get(fine)
    assert (customer.churn_state, customer.status, customer.version) == (None, "active", version)


@MEMORY_ONLY
def test_postponing_to_today_or_earlier_is_a_validation_error(warned: World) -> None:
    quiet = warned["c:Quiet"]
    for days in (0, -1, -30):
        with pytest.raises(pycrm.ValidationError):
            warned.api("Ann").customers.postpone_churn(
                quiet, action="call", until=TODAY + dt.timedelta(days=days)
            )
    with pytest.raises(pycrm.ValidationError):
        warned.api("Ann").customers.postpone_churn(
            quiet, action="", until=TODAY + dt.timedelta(days=1)
        )
    assert warned.get(quiet).churn_state == "warning"


def test_postponement_dates_are_days_in_the_tenant_s_time_zone(warned: World) -> None:
    warned.root.configuration.set_time_zone("Asia/Shanghai")
    quiet = warned["c:Quiet"]
    ann = warned.api("Ann").customers
    warned.at(T.replace(hour=16, minute=30))  # already the 16th in Shanghai
    with pytest.raises(pycrm.ValidationError):
        ann.postpone_churn(quiet, action="call", until=D(2026, 1, 16))
    ann.postpone_churn(quiet, action="call", until=D(2026, 1, 20))
    assert warned.sweep(dt.datetime(2026, 1, 20, 15, 59, tzinfo=dt.UTC)) == 0  # 23:59 there
    assert warned.get(quiet).churn_state == "postponed"
    assert warned.sweep(dt.datetime(2026, 1, 20, 16, 0, tzinfo=dt.UTC)) == 1  # the 21st
    assert warned.get(quiet).churn_state == "warning"


def test_a_rep_cannot_answer_the_warning_of_a_customer_they_cannot_see(warned: World) -> None:
    quiet = warned["c:Quiet"]
    bo = warned.api("Bo").customers
    with pytest.raises(pycrm.NotFound):
        bo.confirm_churn(quiet)
    with pytest.raises(pycrm.NotFound):
        bo.postpone_churn(quiet, action="call", until=TODAY + dt.timedelta(days=3))
    assert warned.get(quiet).churn_state == "warning"


def test_with_the_rules_off_nothing_is_flagged(world: World, events: Events) -> None:
    world.root.configuration.set_churn_rules(RULES)
    world.root.configuration.set_churn_rules(None)
    world.at(ago(300))
    world.customer("Quiet")
    assert world.sweep(T) == 0
    assert world.sweep(later(200)) == 0
    world.root.configuration.set_churn_rules(pycrm.ChurnRules())  # every rule off
    assert world.sweep(later(201)) == 0
    assert world.flagged() == {}
    assert events.alerts() == []
    world.root.configuration.set_churn_rules(RULES)  # and on again
    assert world.sweep(later(202)) == 1


@pytest.mark.parametrize(
    "bad",
    [
        {"no_order_days": 0},
        {"no_contact_days": 3651},
        {"falling_percent": 0},
        {"falling_percent": 101},
        {"period_days": 0},
        {"no_order_days": True},
        {"no_order_days": 1.5},
    ],
)
def test_churn_rules_out_of_range_are_a_configuration_error(bad: dict[str, Any]) -> None:
    with pytest.raises(pycrm.ConfigurationError):
        pycrm.ChurnRules(**bad)


# -- hot customers -------------------------------------------------------------------------
def test_a_hot_customer_is_hot_for_its_days_then_no_more(world: World) -> None:
    hot, cold = world.customer("Hot"), world.customer("Cold")
    marked = world.api("Ann").customers.mark_hot(hot.id, days=30)
    assert marked.hot_until == later(30)
    assert world.get(hot).hot_until == later(30)

    def hot_ones() -> list[str]:
        now = world.clock.now()
        return names(world.api("Ann").customers.list({"hot_until__gt": now}))

    assert hot_ones() == ["Hot"]
    world.at(later(29))
    assert hot_ones() == ["Hot"]
    world.at(later(30))  # no job needed: the time passing ends it
    assert hot_ones() == []
    assert world.get(cold).hot_until is None


def test_unmarking_ends_hotness_now(world: World) -> None:
    hot = world.customer("Hot")
    ann = world.api("Ann").customers
    ann.mark_hot(hot.id, days=7)
    assert ann.unmark_hot(hot.id).hot_until is None
    assert ann.list({"hot_until__gt": T}).items == []
    history = world.root.customers.history(hot.id)
    assert [f.field for f in history[-1].fields] == ["hot_until"]


def test_a_rep_cannot_mark_hot_a_customer_they_cannot_see(world: World) -> None:
    theirs = world.customer("Bo's", owner="Bo")
    with pytest.raises(pycrm.NotFound):
        world.api("Ann").customers.mark_hot(theirs.id, days=30)
    with pytest.raises(pycrm.NotFound):
        world.api("Ann").customers.unmark_hot(theirs.id)
    assert world.get(theirs).hot_until is None
    # Bo's director may.
    assert world.api("Nan").customers.mark_hot(theirs.id, days=3).hot_until == later(3)


@MEMORY_ONLY
def test_mark_hot_wants_1_to_3650_days(world: World) -> None:
    hot = world.customer("Hot")
    for days in (0, -1, 3651):
        with pytest.raises(pycrm.ValidationError):
            world.api("Ann").customers.mark_hot(hot.id, days=days)
    assert world.get(hot).hot_until is None


def test_a_hot_customer_stays_out_of_pool_recycling_until_it_cools(world: World) -> None:
    rule = pycrm.RecycleRule(reason=pycrm.RecycleReason.NO_FOLLOW_UP, days=30)
    world.root.configuration.set_pool(pycrm.Pool(key="east", name="East", recycle=[rule]))
    hot, cold = world.customer("Hot"), world.customer("Cold")
    world.api("Ann").customers.mark_hot(hot.id, days=60)
    world.at(later(40))
    world.root.pools.recycle()
    assert world.get(cold).pool == "east" and world.get(cold).owner_id is None
    assert world.get(hot).owner_id == world["Ann"]
    world.at(later(61))
    world.root.pools.recycle()
    assert world.get(hot).pool == "east"


# -- customer value ------------------------------------------------------------------------
Q1: dict[str, Any] = {"start": D(2026, 1, 1), "end": D(2026, 3, 31)}


def cny(amount: str) -> Money:
    return Money(amount, "CNY")


@pytest.fixture
def booked(world: World) -> World:
    """Revenue signed in Q1 2026: Alpha (Ann) 5,000 CNY, Beta (Al) 3,000, Gamma (Bo) 1,500
    (an order without a signing date, confirmed in February), Delta (Bo) 500 — 50%, 30%,
    15% and 5% of 10,000 — in CNY, USD (7) and EUR (8 from 1 January, 9 from 1 April);
    Epsilon (Al) has only a draft. Orders not counted: drafts, cancelled ones, ones signed
    outside the quarter (though confirmed in it), an unsigned one confirmed before it."""
    world.root.configuration.set_rate("EUR", "CNY", D(2026, 1, 1), "8")
    world.root.configuration.set_rate("EUR", "CNY", D(2026, 4, 1), "9")  # after the quarter
    with world.batch():
        alpha, beta = world.customer("Alpha", "Ann"), world.customer("Beta", "Al")
        gamma, delta = world.customer("Gamma", "Bo"), world.customer("Delta", "Bo")
        epsilon = world.customer("Epsilon", "Al")
        order = world.order
        order(alpha, "500.00", "USD", signed_on=D(2026, 1, 10))  # 3,500 CNY
        order(alpha, "1500.00", status="completed", signed_on=D(2026, 3, 31))
        order(beta, "250.00", "EUR", signed_on=D(2026, 2, 1))  # 2,000 CNY
        order(beta, "1000.00", signed_on=D(2026, 1, 1))
        order(gamma, "1500.00", confirmed_on=D(2026, 2, 14))  # unsigned: when confirmed
        order(delta, "500.00", status="completed", signed_on=D(2026, 3, 1))
        # Not counted.
        order(delta, "9999.00", status="draft", signed_on=D(2026, 2, 1))
        order(gamma, "8000.00", status="cancelled", signed_on=D(2026, 2, 1))
        order(alpha, "7000.00", signed_on=D(2025, 12, 31))
        order(alpha, "7000.00", "USD", signed_on=D(2026, 4, 1))
        order(beta, "6000.00", "EUR", confirmed_on=D(2025, 12, 20))  # unsigned
        order(epsilon, "400.00", status="draft", signed_on=D(2026, 2, 1))
    world.ids.update({c.name: c.id for c in (alpha, beta, gamma, delta, epsilon)})
    return world


def rows(report: Any) -> list[tuple[str, Money, str, str, str]]:
    return [(r.name, r.revenue, str(r.share), str(r.cumulative), r.abc) for r in report.rows]


def test_customer_value_ranks_revenue_with_shares_and_abc_classes(booked: World) -> None:
    report = booked.root.reports.customer_value(**Q1)
    assert (report.start, report.end, report.currency) == (Q1["start"], Q1["end"], "CNY")
    assert report.total == cny("10000.00")
    assert rows(report) == [
        ("Alpha", cny("5000.00"), "0.5000", "0.5000", "A"),
        ("Beta", cny("3000.00"), "0.3000", "0.8000", "A"),  # A until 80%
        ("Gamma", cny("1500.00"), "0.1500", "0.9500", "B"),  # B until 95%
        ("Delta", cny("500.00"), "0.0500", "1.0000", "C"),
    ]
    assert [r.customer_id for r in report.rows] == [
        booked[n] for n in ("Alpha", "Beta", "Gamma", "Delta")
    ]
    assert report.share_of_customers("A") == Decimal("0.5")
    assert report.share_of_customers("C") == Decimal("0.25")
    # Other thresholds: A until 50%, B until 80%.
    other = booked.root.reports.customer_value(**Q1, a=Decimal("0.5"), b=Decimal("0.8"))
    assert [r.abc for r in other.rows] == ["A", "B", "C", "C"]


def test_customer_value_of_another_period_counts_the_orders_signed_then(booked: World) -> None:
    february = booked.root.reports.customer_value(start=D(2026, 2, 1), end=D(2026, 2, 28))
    assert february.total == cny("3500.00")
    assert [(r.name, r.revenue) for r in february.rows] == [
        ("Beta", cny("2000.00")),
        ("Gamma", cny("1500.00")),
    ]
    # The rate of the period's last day: EUR at 9 from April.
    april = booked.root.reports.customer_value(start=D(2026, 1, 1), end=D(2026, 4, 30))
    revenue = {r.name: r.revenue for r in april.rows}
    assert revenue["Beta"] == cny("3250.00")  # 250 EUR at 9 + 1,000 CNY
    assert revenue["Alpha"] == cny("54000.00")  # 7,500 USD at 7 + 1,500 CNY
    empty = booked.root.reports.customer_value(start=D(2025, 1, 1), end=D(2025, 12, 19))
    assert (empty.total, empty.rows) == (cny("0.00"), [])


def test_customer_value_covers_only_what_the_user_may_see(booked: World) -> None:
    ann = booked.api("Ann").reports.customer_value(**Q1)
    assert ann.total == cny("5000.00")
    assert rows(ann) == [("Alpha", cny("5000.00"), "1.0000", "1.0000", "A")]
    bei = booked.api("Bei").reports.customer_value(**Q1)  # North: Ann and Al
    assert bei.total == cny("8000.00")
    assert rows(bei) == [
        ("Alpha", cny("5000.00"), "0.6250", "0.6250", "A"),
        ("Beta", cny("3000.00"), "0.3750", "1.0000", "A"),
    ]
    assert booked.api("GM").reports.customer_value(**Q1).total == cny("10000.00")


@MEMORY_ONLY
def test_customer_reports_refuse_a_period_ending_before_it_starts(world: World) -> None:
    reports = world.root.reports
    backwards: dict[str, Any] = {"start": D(2026, 2, 1), "end": D(2026, 1, 31)}
    for report in (reports.customer_value, reports.customer_trends, reports.new_customers):
        with pytest.raises(pycrm.ValidationError):
            report(**backwards)
    for a, b in (("0", "0.9"), ("0.9", "0.8"), ("0.8", "1.1")):
        with pytest.raises(pycrm.ValidationError):
            reports.customer_value(**Q1, a=Decimal(a), b=Decimal(b))
    with pytest.raises(pycrm.ValidationError):
        reports.customer_trends(**Q1, limit=0)


@pytest.fixture
def trending(world: World) -> World:
    """February 2026 against the 28 days before it (4 to 31 January): Alpha (Ann) 1,000 →
    3,000 CNY, Beta (Al) 2,000 → 500, Gamma (Bo) 700 → 0, Delta (Bo) 0 → 200 USD
    (1,400 CNY), Epsilon (Al) 400 → 400."""
    with world.batch():
        alpha, beta = world.customer("Alpha", "Ann"), world.customer("Beta", "Al")
        gamma, delta = world.customer("Gamma", "Bo"), world.customer("Delta", "Bo")
        epsilon = world.customer("Epsilon", "Al")
        order = world.order
        order(alpha, "1000.00", signed_on=D(2026, 1, 4))
        order(alpha, "3000.00", signed_on=D(2026, 2, 1))
        order(beta, "2000.00", status="completed", signed_on=D(2026, 1, 31))
        order(beta, "500.00", signed_on=D(2026, 2, 28))
        order(gamma, "700.00", signed_on=D(2026, 1, 10))
        order(delta, "200.00", "USD", signed_on=D(2026, 2, 10))
        order(epsilon, "400.00", signed_on=D(2026, 1, 20))
        order(epsilon, "400.00", signed_on=D(2026, 2, 20))
        # Not counted: outside both periods, cancelled, draft.
        order(alpha, "10000.00", signed_on=D(2026, 1, 3))
        order(alpha, "10000.00", signed_on=D(2026, 3, 1))
        order(gamma, "5000.00", status="cancelled", signed_on=D(2026, 2, 5))
        order(beta, "5000.00", status="draft", signed_on=D(2026, 2, 5))
    return world


FEBRUARY: dict[str, Any] = {"start": D(2026, 2, 1), "end": D(2026, 2, 28)}


def trends(report: dict[str, list[Any]]) -> dict[str, list[tuple[str, Money, Money, Money]]]:
    return {
        way: [(t.name, t.revenue, t.before, t.change) for t in found]
        for way, found in report.items()
    }


def test_customer_trends_compare_with_the_period_of_equal_length_before(
    trending: World,
) -> None:
    report = trending.root.reports.customer_trends(**FEBRUARY)
    assert trends(report) == {
        "rising": [
            ("Alpha", cny("3000.00"), cny("1000.00"), cny("2000.00")),
            ("Delta", cny("1400.00"), cny("0.00"), cny("1400.00")),
        ],
        "falling": [
            ("Beta", cny("500.00"), cny("2000.00"), cny("-1500.00")),
            ("Gamma", cny("0.00"), cny("700.00"), cny("-700.00")),
        ],
    }
    top = trending.root.reports.customer_trends(**FEBRUARY, limit=1)
    assert [t.name for t in top["rising"]] == ["Alpha"]
    assert [t.name for t in top["falling"]] == ["Beta"]


def test_customer_trends_cover_only_what_the_user_may_see(trending: World) -> None:
    ann = trends(trending.api("Ann").reports.customer_trends(**FEBRUARY))
    assert ann == {
        "rising": [("Alpha", cny("3000.00"), cny("1000.00"), cny("2000.00"))],
        "falling": [],
    }
    bei = trending.api("Bei").reports.customer_trends(**FEBRUARY)
    assert [t.name for t in bei["rising"]] == ["Alpha"]
    assert [t.name for t in bei["falling"]] == ["Beta"]


def test_new_customers_are_counted_per_owner_and_month(world: World) -> None:
    made = [
        ("Ann", dt.datetime(2026, 1, 14, 23, 59, tzinfo=dt.UTC)),  # before the period
        ("Ann", dt.datetime(2026, 1, 15, 0, 0, tzinfo=dt.UTC)),
        ("Ann", dt.datetime(2026, 1, 31, 23, 59, 59, tzinfo=dt.UTC)),
        ("Ann", dt.datetime(2026, 2, 1, 0, 0, tzinfo=dt.UTC)),
        ("Al", dt.datetime(2026, 2, 20, 12, 0, tzinfo=dt.UTC)),
        ("Bo", dt.datetime(2026, 3, 10, 23, 0, tzinfo=dt.UTC)),
        ("Bo", dt.datetime(2026, 3, 11, 0, 0, tzinfo=dt.UTC)),  # after it
    ]
    world.root.configuration.set_pool(pycrm.Pool(key="east", name="East", users=[world["Ann"]]))
    with world.batch():
        for i, (owner, when) in enumerate(made):
            world.at(when).customer(f"C{i}", owner)
        gone = world.at(dt.datetime(2026, 2, 3, tzinfo=dt.UTC)).customer("Gone", "Ann")
        world.root.customers.delete(gone.id)
        pooled = world.at(dt.datetime(2026, 2, 4, tzinfo=dt.UTC)).customer("Pooled", "Al")
        world.root.pools.release(pooled.id, reason="no budget", pool="east")
    period: dict[str, Any] = {"start": D(2026, 1, 15), "end": D(2026, 3, 10)}
    report = world.root.reports.new_customers(**period)
    assert (report.start, report.end) == (period["start"], period["end"])
    assert report.counts == {
        world["Ann"]: {"2026-01": 2, "2026-02": 1},
        world["Al"]: {"2026-02": 1},
        world["Bo"]: {"2026-03": 1},
        None: {"2026-02": 1},  # back in a pool
    }
    assert world.api("Ann").reports.new_customers(**period).counts == {
        world["Ann"]: {"2026-01": 2, "2026-02": 1},
        None: {"2026-02": 1},  # she is a member of the pool
    }
    assert world.api("Bei").reports.new_customers(**period).counts == {
        world["Ann"]: {"2026-01": 2, "2026-02": 1},
        world["Al"]: {"2026-02": 1},
    }
    assert world.api("Nan").reports.new_customers(**period).counts == {world["Bo"]: {"2026-03": 1}}


def test_new_customers_are_counted_in_the_tenant_s_months(world: World) -> None:
    world.root.configuration.set_time_zone("Asia/Shanghai")  # UTC+8
    with world.batch():
        for i, when in enumerate(
            (
                dt.datetime(2026, 1, 14, 15, 59, tzinfo=dt.UTC),  # the 14th there: before
                dt.datetime(2026, 1, 14, 16, 0, tzinfo=dt.UTC),  # the 15th there
                dt.datetime(2026, 1, 31, 15, 59, tzinfo=dt.UTC),  # the 31st there
                dt.datetime(2026, 1, 31, 16, 0, tzinfo=dt.UTC),  # 1 February there
                dt.datetime(2026, 2, 28, 16, 0, tzinfo=dt.UTC),  # 1 March there: after
            )
        ):
            world.at(when).customer(f"C{i}")
    report = world.root.reports.new_customers(start=D(2026, 1, 15), end=D(2026, 2, 28))
    assert report.counts == {world["Ann"]: {"2026-01": 2, "2026-02": 1}}


# -- customer 360 --------------------------------------------------------------------------
def minute(n: int) -> dt.datetime:
    return T + dt.timedelta(minutes=n)


@pytest.fixture
def account(world: World) -> World:
    """Ann's customer Acme and what hangs off it, each thing at its own minute after
    ``T``; Al's deal, order, ticket and call on Acme (which Ann does not see); and Bo's
    customer Other with a contact, deal, order, ticket and call of its own."""
    ids = world.ids

    def root() -> pycrm.Services:
        return world.root  # the batch's services

    with world.batch():
        acme = world.customer("Acme", "Ann")
        other = world.customer("Other", "Bo")
        ids["acme"], ids["other"] = acme.id, other.id
        world.at(minute(1))
        ids["Zhang"] = root().contacts.create(customer_id=acme.id, name="Zhang").id
        ids["Li"] = root().contacts.create(customer_id=acme.id, name="Li").id
        root().contacts.create(customer_id=other.id, name="Someone else")
        for name, at, close in (("Open", 2, None), ("Won", 4, "win"), ("Lost", 6, "lose")):
            world.at(minute(at))
            deal = root().opportunities.create(
                customer_id=acme.id, name=name, owner_id=world["Ann"]
            )
            ids[name] = deal.id
            world.at(minute(at + 1))
            if close == "win":
                root().opportunities.win(deal.id)
            elif close == "lose":
                root().opportunities.lose(deal.id, reason="price")
            else:
                root().opportunities.move(deal.id, to="needs_analysis")
        # Orders: 300 CNY with 50 paid, 100 USD unpaid, a draft, one paid in full, one
        # cancelled: 250 CNY and 100 USD are outstanding.
        world.at(minute(8))
        first = world.order(acme, "300.00")
        plan = root().payment_plans.plan_for_order(first.id, parts=3, first_due=D(2026, 2, 1))
        root().payments.record(plan.id, cny("50.00"))
        world.at(minute(9))
        usd = world.order(acme, "100.00", "USD")
        root().payment_plans.plan_for_order(usd.id, parts=1, first_due=D(2026, 2, 1))
        world.at(minute(10))
        draft = world.order(acme, "200.00", status="draft")
        world.at(minute(11))
        paid = world.order(acme, "1000.00")
        plan = root().payment_plans.plan_for_order(paid.id, parts=1, first_due=D(2026, 2, 1))
        root().payments.record(plan.id, cny("1000.00"))
        world.at(minute(12))
        cancelled = world.order(acme, "400.00", status="cancelled")
        ids.update(o8=first.id, o9=usd.id, o10=draft.id, o11=paid.id, o12=cancelled.id)
        world.at(minute(13))
        ids["open ticket"] = (
            root().tickets.create(customer_id=acme.id, subject="Broken", owner_id=world["Ann"]).id
        )
        for name, at in (("resolved ticket", 14), ("closed ticket", 16)):
            world.at(minute(at))
            ticket = root().tickets.create(customer_id=acme.id, subject=name, owner_id=world["Ann"])
            root().tickets.assign(ticket.id, to=world["Ann"])
            root().tickets.start(ticket.id)
            world.at(minute(at + 1))
            root().tickets.resolve(ticket.id, resolution="fixed")
            if name == "closed ticket":
                root().tickets.close(ticket.id)
            ids[name] = ticket.id
        world.at(minute(18))
        ids["call"] = world.activity(acme, "call").id
        world.at(minute(19))
        ids["visit"] = world.activity(acme, "visit").id
        world.at(minute(25))
        root().activities.complete(ids["visit"], result="went well")  # done last
        # Al's records on Acme, and Bo's on Other.
        world.at(minute(30))
        ids["Al's deal"] = (
            root()
            .opportunities.create(customer_id=acme.id, name="Al's deal", owner_id=world["Al"])
            .id
        )
        al_order = world.order(acme, "500.00", owner="Al")
        root().payment_plans.plan_for_order(al_order.id, parts=1, first_due=D(2026, 2, 1))
        ids["Al's order"] = al_order.id
        ids["Al's ticket"] = (
            root().tickets.create(customer_id=acme.id, subject="Al's", owner_id=world["Al"]).id
        )
        ids["Al's call"] = (
            root()
            .activities.create(
                type="call", subject="Al's call", customer_id=acme.id, owner_id=world["Al"]
            )
            .id
        )
        root().opportunities.create(customer_id=other.id, name="Bo's deal", owner_id=world["Bo"])
        bo_order = world.order(other, "777.00")
        root().payment_plans.plan_for_order(bo_order.id, parts=1, first_due=D(2026, 2, 1))
        root().tickets.create(customer_id=other.id, subject="Bo's", owner_id=world["Bo"])
        world.activity(other, "Bo's call")
    world.at(minute(60))
    return world


def ids_of(records: Any) -> list[uuid.UUID]:
    return [r.id for r in records]


def test_the_overview_of_a_customer_holds_what_hangs_off_it(account: World) -> None:
    ann = account.api("Ann").customers.overview(account["acme"])
    a = account.ids
    assert ann.customer.id == a["acme"] and ann.customer.name == "Acme"
    assert [c.name for c in ann.contacts] == ["Li", "Zhang"]
    assert ids_of(ann.open_deals) == [a["Open"]]  # not won, not lost
    assert ids_of(ann.orders) == [a[f"o{n}"] for n in (12, 11, 10, 9, 8)]  # newest first
    assert sorted(ann.outstanding, key=lambda m: m.currency) == [
        cny("250.00"),
        Money("100.00", "USD"),
    ]
    assert ids_of(ann.open_tickets) == [a["open ticket"]]
    assert ids_of(ann.activities) == [a["visit"], a["call"]]
    # The timeline: newest first (a done activity when it was done).
    done_tickets = {a["resolved ticket"], a["closed ticket"]}
    timeline = [
        (e.at, e.kind, e.record_id) for e in ann.timeline if e.record_id not in done_tickets
    ]
    assert timeline == [
        (minute(25), "activity", a["visit"]),
        (minute(18), "activity", a["call"]),
        (minute(13), "ticket", a["open ticket"]),
        *((minute(n), "order", a[f"o{n}"]) for n in (12, 11, 10, 9, 8)),
        (minute(7), "opportunity", a["Lost"]),  # lost
        (minute(6), "opportunity", a["Lost"]),  # created
        (minute(5), "opportunity", a["Won"]),
        (minute(4), "opportunity", a["Won"]),
        (minute(3), "opportunity", a["Open"]),  # moved
        (minute(2), "opportunity", a["Open"]),
    ]
    assert [e.at for e in ann.timeline] == sorted((e.at for e in ann.timeline), reverse=True)
    moved = next(e for e in ann.timeline if e.at == minute(3))
    assert "needs_analysis" in moved.summary and "Open" in moved.summary


def test_the_overview_keeps_only_the_recent_orders_activities_and_timeline(
    account: World,
) -> None:
    a = account.ids
    view = account.api("Ann").customers.overview(a["acme"], recent=3)
    assert ids_of(view.orders) == [a["o12"], a["o11"], a["o10"]]
    assert ids_of(view.activities) == [a["visit"], a["call"]]
    # The three newest things: two activities, then a ticket (open or resolved alike).
    timeline = view.timeline
    assert [e.record_id for e in timeline[:2]] == [a["visit"], a["call"]]
    assert len(timeline) == 3 and timeline[2].kind == "ticket"
    assert len(view.contacts) == 2 and len(view.open_deals) == 1
    for bad in (0, 101):
        with pytest.raises(pycrm.ValidationError):
            account.api("Ann").customers.overview(a["acme"], recent=bad)


def test_the_overview_shows_only_what_the_user_may_see(account: World) -> None:
    a = account.ids
    with pytest.raises(pycrm.NotFound):
        account.api("Bo").customers.overview(a["acme"])
    with pytest.raises(pycrm.NotFound):
        account.api("Ann").customers.overview(a["other"])
    with pytest.raises(pycrm.NotFound):
        account.api("Ann").customers.overview(pycrm.new_id())
    ann = account.api("Ann").customers.overview(a["acme"])
    theirs = {a["Al's deal"], a["Al's order"], a["Al's ticket"], a["Al's call"]}
    seen = {
        *ids_of(ann.open_deals),
        *ids_of(ann.orders),
        *ids_of(ann.open_tickets),
        *ids_of(ann.activities),
        *(e.record_id for e in ann.timeline),
    }
    assert not seen & theirs
    # Al's director (North) sees them, and the money Al's order still has to collect.
    bei = account.api("Bei").customers.overview(a["acme"])
    assert ids_of(bei.open_deals) == [a["Al's deal"], a["Open"]]
    assert ids_of(bei.orders)[0] == a["Al's order"]
    assert ids_of(bei.open_tickets) == [a["Al's ticket"], a["open ticket"]]
    assert ids_of(bei.activities) == [a["Al's call"], a["visit"], a["call"]]
    assert sorted(bei.outstanding, key=lambda m: m.currency) == [
        cny("750.00"),
        Money("100.00", "USD"),
    ]


def fill(world: World, customer: pycrm.Customer, count: int) -> None:
    """``count`` children of each kind on ``customer``: contacts, deals moved once,
    orders with a plan and a payment, tickets and activities."""
    root, owner = world.root, customer.owner_id
    for i in range(count):
        world.clock.set(minute(i))
        root.contacts.create(customer_id=customer.id, name=f"Contact {i}")
        deal = root.opportunities.create(customer_id=customer.id, name=f"Deal {i}", owner_id=owner)
        root.opportunities.move(deal.id, to="needs_analysis")
        order = world.order(customer, "300.00")
        plan = root.payment_plans.plan_for_order(order.id, parts=2, first_due=D(2026, 2, 1))
        root.payments.record(plan.id, cny("50.00"))
        root.tickets.create(customer_id=customer.id, subject=f"Ticket {i}", owner_id=owner)
        world.activity(customer, f"Call {i}")


@SQLITE_ONLY
def test_the_overview_issues_as_many_statements_whatever_hangs_off_the_customer(
    world: World, crm: pycrm.CRM
) -> None:
    with world.batch():
        small, big = world.customer("Small"), world.customer("Big")
        fill(world, small, 1)
        fill(world, big, 20)
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = crm.storage.engine  # type: ignore[attr-defined]
    counted: dict[str, list[int]] = {}
    for who in ("GM", "Ann"):
        services = world.api(who).customers
        services.overview(small.id)  # the user's rights are read once, then kept
        for customer in (small, big, small):
            sa.event.listen(engine, "before_cursor_execute", count)
            try:
                view = services.overview(customer.id)
            finally:
                sa.event.remove(engine, "before_cursor_execute", count)
            counted.setdefault(who, []).append(len(statements))
            statements.clear()
            n = 20 if customer is big else 1
            assert len(view.contacts) == len(view.open_deals) == len(view.open_tickets) == n
            assert len(view.orders) == len(view.activities) == n
            assert view.outstanding == [cny(f"{250 * n}.00")]
    for who, numbers in counted.items():
        assert numbers[0] > 0, who
        assert len(set(numbers)) == 1, (who, numbers)


@MEMORY_ONLY
def test_the_overview_lists_an_open_deal_behind_many_closed_ones(world: World) -> None:
    with world.batch():
        acme = world.customer("Acme")
        old = world.root.opportunities.create(customer_id=acme.id, name="Still open")
        for i in range(100):
            world.at(minute(i + 1))
            deal = world.root.opportunities.create(customer_id=acme.id, name=f"Won {i}")
            world.root.opportunities.win(deal.id)
    view = world.root.customers.overview(acme.id)
    assert ids_of(view.open_deals) == [old.id]


# -- search --------------------------------------------------------------------------------
@pytest.fixture
def directory(world: World) -> World:
    """Ann's: customers 北京联成科技有限公司 (phone, e-mail) and ＡＣＭＥ Trading (full-width),
    contact 王联成 (mobile, e-mail), lead 李雷 of 上海联成贸易 (phone), deal 联成 ERP 项目.
    Bo's: customer 广州联成物流 (phone, e-mail) with contact 陈联成, deal 联成 CRM, lead
    联成 Bo."""
    ids = world.ids
    with world.batch():
        root = world.root
        lc = world.customer(
            "北京联成科技有限公司", phone="+86 138-0013-8000", email="sales@lianchengtech.cn"
        )
        ids["lc"] = lc.id
        ids["acme"] = world.customer("ＡＣＭＥ Trading").id
        ids["wang"] = root.contacts.create(
            customer_id=lc.id, name="王联成", mobile="139 1234 5678", email="Wang.LC@example.com"
        ).id
        ids["lead"] = root.leads.create(
            name="李雷", company="上海联成贸易", phone="021-5555-0000", owner_id=world["Ann"]
        ).id
        ids["deal"] = root.opportunities.create(
            customer_id=lc.id, name="联成 ERP 项目", owner_id=world["Ann"]
        ).id
        gz = world.customer("广州联成物流", "Bo", phone="+86 137-0013-7000", email="info@gzlc.cn")
        ids["gz"] = gz.id
        ids["chen"] = root.contacts.create(customer_id=gz.id, name="陈联成").id
        ids["bo deal"] = root.opportunities.create(
            customer_id=gz.id, name="联成 CRM", owner_id=world["Bo"]
        ).id
        ids["bo lead"] = root.leads.create(name="联成 Bo", owner_id=world["Bo"]).id
    return world


def hits(found: list[Any]) -> list[tuple[str, uuid.UUID, str]]:
    return [(h.kind, h.record_id, h.matched) for h in found]


def test_search_finds_every_kind_by_part_of_its_name(directory: World) -> None:
    d = directory.ids
    found = directory.root.search.find("联成")
    assert hits(found) == [  # by kind, then name
        ("customer", d["lc"], "name"),
        ("customer", d["gz"], "name"),
        ("contact", d["wang"], "name"),
        ("contact", d["chen"], "name"),
        ("lead", d["lead"], "name"),  # by its company
        ("lead", d["bo lead"], "name"),
        ("opportunity", d["bo deal"], "name"),
        ("opportunity", d["deal"], "name"),
    ]
    assert [h.name for h in found if h.kind == "lead"] == ["李雷", "联成 Bo"]
    assert hits(directory.root.search.find("科技")) == [("customer", d["lc"], "name")]


def test_search_folds_case_and_width_of_latin_names(directory: World) -> None:
    for typed in ("acme", "ACME TRADING", "Ａｃｍｅ", "me tr"):
        found = directory.root.search.find(typed)
        assert hits(found) == [("customer", directory["acme"], "name")], typed


PHONES = [
    ("13800138000", "customer", "lc"),
    ("+86 138 0013 8000", "customer", "lc"),
    ("138-0013-8000", "customer", "lc"),
    ("0013 8000", "customer", "lc"),
    ("13912345678", "contact", "wang"),
    ("1234 5678", "contact", "wang"),
    ("5555-0000", "lead", "lead"),
]
E_MAILS = [
    ("sales@", "customer", "lc"),
    ("@lianchengtech.cn", "customer", "lc"),
    ("SALES@LIANCHENGTECH.CN", "customer", "lc"),
    ("wang.lc", "contact", "wang"),
    ("example.com", "contact", "wang"),
    ("info@gzlc", "customer", "gz"),
]


def test_search_finds_phones_by_their_digits_in_any_format(directory: World) -> None:
    for typed, kind, key in PHONES:
        assert hits(directory.root.search.find(typed)) == [(kind, directory[key], "phone")], typed


def test_search_finds_e_mails_by_a_part(directory: World) -> None:
    for typed, kind, key in E_MAILS:
        assert hits(directory.root.search.find(typed)) == [(kind, directory[key], "email")], typed


def test_search_kinds_narrow_it_and_the_limit_is_per_kind(directory: World) -> None:
    d = directory.ids
    search = directory.root.search
    assert hits(search.find("联成", kinds=["lead", "opportunity"])) == [
        ("lead", d["lead"], "name"),
        ("lead", d["bo lead"], "name"),
        ("opportunity", d["bo deal"], "name"),
        ("opportunity", d["deal"], "name"),
    ]
    assert hits(search.find("联成", kinds=["contact"])) == [
        ("contact", d["wang"], "name"),
        ("contact", d["chen"], "name"),
    ]
    assert search.find("13800138000", kinds=["contact", "lead"]) == []
    for i in range(3):
        directory.customer(f"联成 {i}")
    limited = search.find("联成", limit=2)
    per_kind = {k: sum(1 for h in limited if h.kind == k) for k in ("customer", "contact")}
    assert per_kind == {"customer": 2, "contact": 2}
    assert len(limited) == 8
    assert len(search.find("联成", kinds=["customer"], limit=200)) == 5


def test_search_finds_nothing_the_user_may_not_see(directory: World) -> None:
    d = directory.ids
    ann = directory.api("Ann").search
    assert hits(ann.find("联成")) == [
        ("customer", d["lc"], "name"),
        ("contact", d["wang"], "name"),
        ("lead", d["lead"], "name"),
        ("opportunity", d["deal"], "name"),
    ]
    assert ann.find("广州") == []
    assert ann.find("13700137000") == []
    assert ann.find("info@gzlc") == []
    bo = directory.api("Bo").search
    assert {h.record_id for h in bo.find("联成")} == {
        d["gz"],
        d["chen"],
        d["bo deal"],
        d["bo lead"],
    }
    assert bo.find("13800138000") == [] and bo.find("sales@") == []


@MEMORY_ONLY
def test_search_wants_something_to_look_for(world: World) -> None:
    search = world.root.search
    for bad in ("", "   ", "x" * 201):
        with pytest.raises(pycrm.ValidationError):
            search.find(bad)
    with pytest.raises(pycrm.ValidationError):
        search.find("联成", kinds=["product"])
    for limit in (0, 201):
        with pytest.raises(pycrm.ValidationError):
            search.find("联成", limit=limit)


def test_search_by_phone_finds_the_users_own_record_behind_others(world: World) -> None:
    with world.batch():
        for i in range(3):
            world.customer(f"Bo {i}", "Bo", phone=f"1370013700{i}", email=f"a{i}@same.cn")
        mine = world.customer("Ann's", "Ann", phone="13700137009", email="ann@same.cn")
    ann = world.api("Ann").search
    assert hits(ann.find("1370013700", limit=3)) == [("customer", mine.id, "phone")]
    assert hits(ann.find("@same.cn", limit=3)) == [("customer", mine.id, "email")]


@MEMORY_ONLY  # how the text typed is read: the same on every backend
def test_search_finds_a_landline_written_the_usual_way(world: World) -> None:
    acme = world.customer("Acme", phone="010 6552 1234")
    assert hits(world.root.search.find("65521234")) == [("customer", acme.id, "phone")]
    for typed in ("010 6552 1234", "010-65521234", "(010) 6552-1234"):
        assert hits(world.root.search.find(typed)) == [("customer", acme.id, "phone")], typed


@MEMORY_ONLY
def test_search_finds_a_phone_typed_in_full_width_digits(directory: World) -> None:
    assert hits(directory.root.search.find("１３８００１３８０００")) == [
        ("customer", directory["lc"], "phone")
    ]


@MEMORY_ONLY
def test_search_finds_an_e_mail_by_a_part_without_at_or_dot(directory: World) -> None:
    assert hits(directory.root.search.find("lianchengtech")) == [
        ("customer", directory["lc"], "email")
    ]
