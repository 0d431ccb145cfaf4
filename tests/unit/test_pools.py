"""Public customer pools (客户公海) on the memory backend: caps and cooldown of a claim,
the recycle rules and their reminders, who sees and claims pooled customers, release and
assign, events, the audit trail and the moves log, the report, removing a pool, and the
assignment rules for new customers and leads. (One test also runs on SQLite: the events
of pool moves go through its outbox.)

The organisation: Head office (GM, executive) → East (director Dee; reps Ann and Al; the
team East 1 under it with rep Ed) and West (director Wes; rep Bo). Pooled customers are
seeded by the system: created for the GM and released into a pool.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import pycrm
from pycrm import SYSTEM_USER, PoolMoveAction, RecycleReason, RecycleRule

TENANT = "t"
START = dt.datetime(2026, 1, 15, 9, 0, tzinfo=dt.UTC)


class Listener:
    """Keeps every event of the CRM."""

    name = "pool-listener"

    def __init__(self) -> None:
        self.events: list[pycrm.Event] = []

    @pycrm.hookimpl
    def pycrm_on_event(self, event: pycrm.Event) -> None:
        self.events.append(event)

    def pool_events(self) -> list[pycrm.Event]:
        return [e for e in self.events if e.name.startswith("pool.")]


@pytest.fixture
def listener() -> Listener:
    return Listener()


@pytest.fixture
def crm(clock: pycrm.FixedClock, listener: Listener) -> Iterator[pycrm.CRM]:
    # The memory CRM of tests/conftest.py, with a plugin that sees the events.
    crm = pycrm.CRM.connect("memory://", clock=clock, plugins=[listener], load_entry_points=False)
    yield crm
    crm.close()


class Org:
    """The organisation of one test: ids by name, and the services acting as anyone."""

    def __init__(self, crm: pycrm.CRM) -> None:
        self.crm = crm
        self.ids: dict[str, uuid.UUID] = {}

    def __getitem__(self, name: str) -> uuid.UUID:
        return self.ids[name]

    def api(self, who: str) -> pycrm.Services:
        return self.crm.as_user(self.ids[who], tenant=TENANT)

    @property
    def root(self) -> pycrm.Services:
        return self.crm.as_user(SYSTEM_USER, tenant=TENANT)

    def pool(self, key: str = "east", **options: Any) -> pycrm.Pool:
        return self.root.configuration.set_pool(pycrm.Pool(key=key, name=key.title(), **options))

    def pooled(self, name: str, pool: str = "east", **fields: Any) -> pycrm.Customer:
        """A customer in ``pool``: created for the GM and released by the system."""
        made = self.root.customers.create(name=name, owner_id=self["GM"], **fields)
        return self.root.pools.release(made.id, reason="seed", pool=pool)

    def owned(self, name: str, owner: str, **fields: Any) -> pycrm.Customer:
        return self.root.customers.create(name=name, owner_id=self[owner], **fields)

    def customer(self, customer_id: uuid.UUID) -> pycrm.Customer:
        return self.root.customers.get(customer_id)

    def moves(self, customer_id: uuid.UUID) -> list[pycrm.PoolMove]:
        return self.root.pools.moves(customer_id)

    def recycle(self) -> pycrm.RecycleRun:
        return self.root.pools.recycle()


@pytest.fixture
def org(crm: pycrm.CRM) -> Org:
    found = Org(crm)
    with crm.unit_of_work(tenant=TENANT, user=SYSTEM_USER) as uow:
        head = uow.departments.create(name="Head office")
        east = uow.departments.create(name="East", parent_id=head.id)
        team = uow.departments.create(name="East 1", parent_id=east.id)
        west = uow.departments.create(name="West", parent_id=head.id)
        found.ids.update(head=head.id, east=east.id, team=team.id, west=west.id)
        gm = uow.users.create(name="GM", roles=["executive"], department_id=head.id)
        dee = uow.users.create(
            name="Dee", roles=["sales_director"], department_id=east.id, manager_id=gm.id
        )
        wes = uow.users.create(
            name="Wes", roles=["sales_director"], department_id=west.id, manager_id=gm.id
        )
        people = [gm, dee, wes]
        for name, department, manager in (
            ("Ann", east, dee),
            ("Al", east, dee),
            ("Ed", team, dee),
            ("Bo", west, wes),
        ):
            people.append(
                uow.users.create(name=name, department_id=department.id, manager_id=manager.id)
            )
        found.ids.update({user.name: user.id for user in people})
    return found


def no_follow_up(days: int = 30, **levels: int) -> RecycleRule:
    return RecycleRule(reason=RecycleReason.NO_FOLLOW_UP, days=days, levels=levels)


def names(page: Any) -> list[str]:
    return sorted(record.name for record in page)


def actions(moves: list[pycrm.PoolMove]) -> list[str]:
    return [m.action.value for m in moves]


def text(value: Any) -> str | None:
    """An id or a day as text, as the history keeps it."""
    if value is None:
        return None
    return value.isoformat() if isinstance(value, dt.date) else str(value)


# -- caps ---------------------------------------------------------------------------------
def test_past_the_cap_a_claim_is_refused_and_changes_nothing(org: Org, listener: Listener) -> None:
    org.pool(max_customers=2)
    org.owned("A1", "Ann")
    org.owned("A2", "Ann")
    third = org.pooled("Third")
    before, moves, seen = org.customer(third.id), org.moves(third.id), len(listener.events)
    with pytest.raises(pycrm.RuleViolation) as refused:
        org.api("Ann").pools.claim(third.id)
    assert refused.value.rule == "pool.cap"
    after = org.customer(third.id)
    assert (after.owner_id, after.pool, after.version) == (None, "east", before.version)
    assert after == before
    assert org.moves(third.id) == moves and actions(moves) == ["release"]
    assert listener.events[seen:] == []
    assert org.root.customers.count({"owner_id": org["Ann"]}) == 2
    # Another rep under the cap takes it.
    assert org.api("Al").pools.claim(third.id).owner_id == org["Al"]


def test_the_cap_frees_up_when_the_rep_holds_fewer(org: Org) -> None:
    org.pool(max_customers=1)
    mine = org.owned("Mine", "Ann")
    other = org.pooled("Other")
    with pytest.raises(pycrm.RuleViolation, match="holds 1 customers"):
        org.api("Ann").pools.claim(other.id)
    org.api("Ann").pools.release(mine.id, reason="no budget")
    assert org.api("Ann").pools.claim(other.id).owner_id == org["Ann"]


def test_a_per_level_cap_counts_only_customers_of_that_level(org: Org) -> None:
    org.pool(max_per_level={"A": 1}, max_customers=10)
    org.owned("Big", "Ann", level="A")
    org.owned("Small", "Ann", level="C")
    another_a = org.pooled("Another A", level="A")
    a_b = org.pooled("A B", level="B")
    no_level = org.pooled("No level")
    ann = org.api("Ann").pools
    with pytest.raises(pycrm.RuleViolation) as refused:
        ann.claim(another_a.id)
    assert refused.value.rule == "pool.level_cap"
    assert org.customer(another_a.id).pool == "east"
    assert ann.claim(a_b.id).owner_id == org["Ann"]
    assert ann.claim(no_level.id).owner_id == org["Ann"]
    # Al holds no level A customer: the cap is per rep.
    assert org.api("Al").pools.claim(another_a.id).owner_id == org["Al"]


def test_claims_per_day_count_the_day_in_the_tenant_time_zone(
    org: Org, clock: pycrm.FixedClock
) -> None:
    org.root.configuration.set_time_zone("Asia/Shanghai")
    org.pool(max_claims_per_day=2)
    pooled = [org.pooled(f"P{i}") for i in range(6)]
    ann = org.api("Ann").pools
    # 09:00 UTC is 17:00 in Shanghai.
    ann.claim(pooled[0].id)
    ann.claim(pooled[1].id)
    with pytest.raises(pycrm.RuleViolation) as refused:
        ann.claim(pooled[2].id)
    assert refused.value.rule == "pool.claims_per_day"
    # Releasing one does not give a claim back.
    ann.release(pooled[0].id, reason="wrong customer")
    clock.advance(hours=6, minutes=59)  # 23:59 in Shanghai, still the same day
    with pytest.raises(pycrm.RuleViolation, match="claims today"):
        ann.claim(pooled[2].id)
    clock.advance(minutes=1)  # 16:00 UTC (the same UTC day) is midnight in Shanghai
    assert clock.now().date() == START.date()
    ann.claim(pooled[2].id)
    ann.claim(pooled[3].id)
    with pytest.raises(pycrm.RuleViolation):
        ann.claim(pooled[4].id)
    # The cap is per rep; assignments by a manager are not claims.
    org.api("Al").pools.claim(pooled[4].id)
    assert org.api("Dee").pools.assign(pooled[5].id, to=org["Ann"]).owner_id == org["Ann"]


# -- recycling ----------------------------------------------------------------------------
def test_a_customer_without_follow_up_returns_on_day_30_and_not_on_day_29(
    org: Org, clock: pycrm.FixedClock, listener: Listener
) -> None:
    org.pool(recycle=[no_follow_up(30)])
    cold = org.owned("Cold", "Ann")
    clock.advance(days=29, hours=23, minutes=59)
    assert org.recycle().recycled == {"east": 0}
    assert org.customer(cold.id).owner_id == org["Ann"]
    clock.advance(minutes=1)
    run = org.recycle()
    assert run.recycled == {"east": 1} and run.at == START + dt.timedelta(days=30)
    back = org.customer(cold.id)
    assert (back.owner_id, back.pool, back.version) == (None, "east", cold.version + 1)
    assert back.owned_since == run.at
    [move] = org.moves(cold.id)
    assert move.action is PoolMoveAction.RECYCLE and move.pool == "east"
    assert (move.owner_id, move.acted_by, move.at) == (org["Ann"], SYSTEM_USER, run.at)
    [event] = listener.pool_events()
    assert event.name == "pool.recycled" and event.record_id == cold.id
    assert event.data["owner_id"] == str(org["Ann"]) and event.data["pool"] == "east"
    # Ann still sees it, now as a customer of a pool she is a member of.
    assert org.api("Ann").customers.get(cold.id).owner_id is None


def test_an_activity_logged_on_the_customer_restarts_the_clock(
    org: Org, clock: pycrm.FixedClock
) -> None:
    org.pool(recycle=[no_follow_up(30)])
    followed = org.owned("Followed", "Ann")
    other = org.owned("Other", "Ann")
    clock.advance(days=20)
    org.api("Ann").activities.create(type="call", subject="called", customer_id=followed.id)
    clock.advance(days=10)
    assert org.recycle().recycled == {"east": 1}
    assert org.customer(other.id).pool == "east"
    assert org.customer(followed.id).owner_id == org["Ann"]
    clock.advance(days=19, hours=23)
    assert org.recycle().recycled == {"east": 0}
    clock.advance(hours=1)  # 30 days after the call
    assert org.recycle().recycled == {"east": 1}
    assert org.customer(followed.id).pool == "east"


def test_a_fresh_claim_starts_the_clock_again(org: Org, clock: pycrm.FixedClock) -> None:
    org.pool(recycle=[no_follow_up(30)])
    pooled = org.pooled("Pooled")  # in the pool since START
    clock.advance(days=40)
    org.api("Ann").pools.claim(pooled.id)
    assert org.recycle().recycled == {"east": 0}
    clock.advance(days=29)
    assert org.recycle().recycled == {"east": 0}
    clock.advance(days=1)
    assert org.recycle().recycled == {"east": 1}


def test_no_deal_counts_from_the_last_deal_opened(org: Org, clock: pycrm.FixedClock) -> None:
    org.pool(recycle=[RecycleRule(reason=RecycleReason.NO_DEAL, days=30)])
    quiet = org.owned("Quiet", "Ann")
    dealing = org.owned("Dealing", "Ann")
    clock.advance(days=20)
    deal = org.api("Ann").opportunities.create(
        customer_id=dealing.id, name="Deal", owner_id=org["Ann"]
    )
    org.api("Ann").opportunities.lose(deal.id, reason="price")  # opened all the same
    clock.advance(days=10)
    assert org.recycle().recycled == {"east": 1}
    assert org.customer(quiet.id).pool == "east"
    clock.advance(days=19, hours=23)
    assert org.recycle().recycled == {"east": 0}
    clock.advance(hours=1)  # 30 days after the deal was opened
    assert org.recycle().recycled == {"east": 1}
    assert org.customer(dealing.id).pool == "east"


def test_no_won_deal_counts_from_the_last_deal_won(org: Org, clock: pycrm.FixedClock) -> None:
    org.pool(recycle=[RecycleRule(reason=RecycleReason.NO_WON_DEAL, days=60)])
    opened, lost, winning = (org.owned(n, "Ann") for n in ("Opened", "Lost", "Winning"))
    ann = org.api("Ann").opportunities
    clock.advance(days=10)
    ann.create(customer_id=opened.id, name="Open deal", owner_id=org["Ann"])
    losing = ann.create(customer_id=lost.id, name="Lost deal", owner_id=org["Ann"])
    won = ann.create(customer_id=winning.id, name="Won deal", owner_id=org["Ann"])
    clock.advance(days=30)
    ann.lose(losing.id, reason="price")
    ann.win(won.id)  # day 40
    clock.advance(days=20)  # day 60: open or lost deals are no won deal
    assert org.recycle().recycled == {"east": 2}
    assert {org.customer(c.id).pool for c in (opened, lost)} == {"east"}
    assert org.customer(winning.id).owner_id == org["Ann"]
    clock.advance(days=39, hours=23)
    assert org.recycle().recycled == {"east": 0}
    clock.advance(hours=1)  # 60 days after the win
    assert org.recycle().recycled == {"east": 1}
    assert org.customer(winning.id).pool == "east"


def test_a_deal_opened_restarts_the_no_deal_clock_only(org: Org, clock: pycrm.FixedClock) -> None:
    org.pool(recycle=[RecycleRule(reason=RecycleReason.NO_DEAL, days=30)])
    customer = org.owned("Customer", "Ann")
    clock.advance(days=10)
    org.api("Ann").activities.create(type="call", subject="called", customer_id=customer.id)
    clock.advance(days=20)  # a call is no deal
    assert org.recycle().recycled == {"east": 1}


def test_levels_have_their_own_days_and_level_0_never_recycles(
    org: Org, clock: pycrm.FixedClock
) -> None:
    org.pool(recycle=[no_follow_up(30, A=60, VIP=0)])
    plain = org.owned("Plain", "Ann")
    b = org.owned("B", "Ann", level="B")
    a = org.owned("A", "Ann", level="A")
    vip = org.owned("VIP", "Ann", level="VIP")
    clock.advance(days=30)
    assert org.recycle().recycled == {"east": 2}
    assert {org.customer(c.id).pool for c in (plain, b)} == {"east"}
    clock.advance(days=29)
    assert org.recycle().recycled == {"east": 0}
    clock.advance(days=1)
    assert org.recycle().recycled == {"east": 1}
    assert org.customer(a.id).pool == "east"
    clock.advance(days=3650)
    assert org.recycle().recycled == {"east": 0}
    assert org.customer(vip.id).owner_id == org["Ann"]


@pytest.mark.parametrize("exempt", [True, False])
def test_open_orders_keep_a_customer_unless_the_pool_says_otherwise(
    org: Org, clock: pycrm.FixedClock, exempt: bool
) -> None:
    org.pool(recycle=[no_follow_up(30)], exempt_open_orders=exempt)
    draft, confirmed, cancelled, none = (
        org.owned(name, "Ann") for name in ("Draft", "Confirmed", "Cancelled", "None")
    )
    root = org.root
    root.orders.create(customer_id=draft.id, currency="CNY")
    confirm = root.orders.create(
        customer_id=confirmed.id,
        currency="CNY",
        lines=[{"description": "ad", "quantity": 1, "unit_price": pycrm.Money("100.00", "CNY")}],
    )
    root.orders.confirm(confirm.id)
    cancel = root.orders.create(customer_id=cancelled.id, currency="CNY")
    root.orders.cancel(cancel.id, reason="duplicate")
    clock.advance(days=30)
    run = org.recycle()
    moved = {c.name for c in (draft, confirmed, cancelled, none) if org.customer(c.id).pool}
    if exempt:
        assert moved == {"Cancelled", "None"} and run.recycled == {"east": 2}
    else:
        assert moved == {"Draft", "Confirmed", "Cancelled", "None"}
        assert run.recycled == {"east": 4}


def test_recycled_customers_go_to_the_pool_of_their_owner_s_department(
    org: Org, clock: pycrm.FixedClock
) -> None:
    org.pool("east", owners_from=[org["east"]], recycle=[no_follow_up(30)])
    org.pool("general", recycle=[no_follow_up(60)])
    ed = org.owned("Ed's", "Ed")  # East 1 is under East
    bo = org.owned("Bo's", "Bo")
    clock.advance(days=30)
    assert org.recycle().recycled == {"east": 1, "general": 0}
    assert org.customer(ed.id).pool == "east" and org.customer(bo.id).pool is None
    clock.advance(days=30)
    assert org.recycle().recycled == {"east": 0, "general": 1}
    assert org.customer(bo.id).pool == "general"


def test_running_the_rules_again_changes_nothing(org: Org, clock: pycrm.FixedClock) -> None:
    org.pool(recycle=[no_follow_up(30)], remind_days_before=3)
    due = [org.owned(f"Due {i}", "Ann") for i in range(3)]
    clock.advance(days=10)
    soon = org.owned("Soon", "Al")
    clock.advance(days=20)
    first = org.recycle()
    assert first.recycled == {"east": 3} and first.reminded == 0
    clock.advance(days=7)  # Soon is due in 3 days
    assert org.recycle().reminded == 1
    state = [org.customer(c.id) for c in (*due, soon)]
    moves = [org.moves(c.id) for c in (*due, soon)]
    again = org.recycle()
    assert again.recycled == {"east": 0} and again.reminded == 0
    assert [org.customer(c.id) for c in (*due, soon)] == state
    assert [org.moves(c.id) for c in (*due, soon)] == moves


def test_the_former_owner_waits_out_the_cooldown_after_a_recycle(
    org: Org, clock: pycrm.FixedClock
) -> None:
    org.pool(recycle=[no_follow_up(30)], cooldown_days=7)
    cold = org.owned("Cold", "Ann")
    clock.advance(days=30)
    org.recycle()
    ann = org.api("Ann").pools
    for _ in range(7):
        with pytest.raises(pycrm.RuleViolation) as refused:
            ann.claim(cold.id)
        assert refused.value.rule == "pool.cooldown"
        clock.advance(days=1)
    # Day 8 after the recycle.
    clock.advance(hours=1)
    assert ann.claim(cold.id).owner_id == org["Ann"]


def test_the_former_owner_waits_out_the_cooldown_after_a_release(
    org: Org, clock: pycrm.FixedClock
) -> None:
    org.pool(cooldown_days=7)
    mine = org.owned("Mine", "Ann")
    other = org.owned("Other", "Al")
    ann = org.api("Ann").pools
    ann.release(mine.id, reason="no budget")
    org.api("Al").pools.release(other.id, reason="moving on")
    clock.advance(days=6, hours=23)
    with pytest.raises(pycrm.RuleViolation, match="may claim it again from") as refused:
        ann.claim(mine.id)
    assert refused.value.rule == "pool.cooldown"
    assert org.customer(mine.id).pool == "east"
    # The cooldown is the former owner's: Ann may claim Al's customer at once.
    assert ann.claim(other.id).owner_id == org["Ann"]
    clock.advance(days=1, hours=1)  # day 8
    assert ann.claim(mine.id).owner_id == org["Ann"]


# -- reminders ----------------------------------------------------------------------------
def test_the_owner_is_reminded_exactly_3_days_before_once(
    org: Org, clock: pycrm.FixedClock, listener: Listener
) -> None:
    org.pool(recycle=[no_follow_up(30)], remind_days_before=3)
    first = org.owned("First", "Ann")
    second = org.owned("Second", "Ann")
    als = org.owned("Al's", "Al")
    clock.advance(days=26, hours=23, minutes=59)
    assert org.recycle().reminded == 0 and listener.pool_events() == []
    clock.advance(minutes=1)  # day 27: due in exactly 3 days
    run = org.recycle()
    assert run.reminded == 3 and run.recycled == {"east": 0}
    reminders = listener.pool_events()
    assert [e.name for e in reminders] == ["pool.reminder"] * 3
    due_on = (START + dt.timedelta(days=30)).date()
    assert {(e.record_id, e.data["owner_id"], e.data["due_on"]) for e in reminders} == {
        (first.id, str(org["Ann"]), due_on.isoformat()),
        (second.id, str(org["Ann"]), due_on.isoformat()),
        (als.id, str(org["Al"]), due_on.isoformat()),
    }
    assert all(e.user_id == SYSTEM_USER and e.data["pool"] == "east" for e in reminders)
    [move] = org.moves(first.id)
    assert move.action is PoolMoveAction.REMIND and move.due_on == due_on
    assert (move.owner_id, move.acted_by, move.at) == (org["Ann"], SYSTEM_USER, run.at)
    # Not again: neither on the same day nor on the next runs.
    assert org.recycle().reminded == 0
    clock.advance(days=1)
    assert org.recycle().reminded == 0
    clock.advance(days=2)  # day 30: recycled, no reminder
    run = org.recycle()
    assert run.recycled == {"east": 3} and run.reminded == 0
    assert [e.name for e in listener.pool_events()] == ["pool.reminder"] * 3 + ["pool.recycled"] * 3
    assert actions(org.moves(first.id)) == ["remind", "recycle"]


def test_a_customer_followed_up_is_not_reminded_and_a_new_owner_is(
    org: Org, clock: pycrm.FixedClock, listener: Listener
) -> None:
    org.pool(recycle=[no_follow_up(30)], remind_days_before=3)
    followed = org.owned("Followed", "Ann")
    cold = org.owned("Cold", "Ann")
    clock.advance(days=26)
    org.api("Ann").activities.create(type="call", subject="called", customer_id=followed.id)
    clock.advance(days=1)
    assert org.recycle().reminded == 1
    assert [e.record_id for e in listener.pool_events()] == [cold.id]
    clock.advance(days=3)
    assert org.recycle().recycled == {"east": 1}
    # Al claims it: he is reminded in his turn, 27 days on.
    org.api("Al").pools.claim(cold.id)
    clock.advance(days=27)
    assert org.recycle().reminded == 1
    last = listener.pool_events()[-1]
    assert (last.name, last.record_id) == ("pool.reminder", cold.id)
    assert last.data["owner_id"] == str(org["Al"])


def test_the_owner_is_reminded_again_before_the_next_recycle_after_a_follow_up(
    org: Org, clock: pycrm.FixedClock, listener: Listener
) -> None:
    org.pool(recycle=[no_follow_up(30)], remind_days_before=3)
    customer = org.owned("Customer", "Ann")
    clock.advance(days=27)
    assert org.recycle().reminded == 1
    clock.advance(days=1)  # day 28: Ann follows up, as the reminder asked
    org.api("Ann").activities.create(type="call", subject="called", customer_id=customer.id)
    clock.advance(days=27)  # day 55: due on day 58 — "3 days before a rule would recycle"
    assert org.recycle().reminded == 1


# -- who sees and claims --------------------------------------------------------------------
MEMBERSHIPS = {
    "users": ({"users": ["Ann", "Bo"]}, {"Ann", "Bo"}),
    "department tree": ({"departments": ["east"]}, {"Ann", "Al", "Ed", "Dee"}),
    "a team": ({"departments": ["team"]}, {"Ed"}),
    "users and departments": ({"users": ["Bo"], "departments": ["team"]}, {"Ed", "Bo"}),
    "everyone": ({}, {"GM", "Dee", "Wes", "Ann", "Al", "Ed", "Bo"}),
}


@pytest.mark.parametrize("members", MEMBERSHIPS.values(), ids=MEMBERSHIPS.keys())
def test_members_see_pooled_customers_and_claim_them_others_neither(
    org: Org, members: tuple[dict[str, list[str]], set[str]]
) -> None:
    spec, expected = members
    org.pool(**{k: [org[name] for name in names] for k, names in spec.items()})
    pooled = org.pooled("Pooled")
    owned = org.owned("Bo's own", "Bo")
    reps = ("Ann", "Al", "Ed", "Bo")
    for who in reps:
        api = org.api(who)
        listed = names(api.customers.list())
        own = ["Bo's own"] if who == "Bo" else []
        if who in expected:
            assert listed == sorted(["Pooled", *own]), who
            assert api.customers.count({"pool": "east"}) == 1, who
            assert api.customers.get(pooled.id).pool == "east"
        else:
            assert listed == own, who
            assert api.customers.count({"pool": "east"}) == 0, who
            with pytest.raises(pycrm.NotFound):
                api.customers.get(pooled.id)
            with pytest.raises(pycrm.PermissionDenied, match="not a member"):
                api.pools.claim(pooled.id)
    assert org.customer(pooled.id).pool == "east"
    claimer = sorted(set(reps) & expected)[0]
    assert org.api(claimer).pools.claim(pooled.id).owner_id == org[claimer]
    # Claimed, it is the claimer's like any other customer: the other reps lose sight of it.
    for who in set(reps) - {claimer}:
        assert "Pooled" not in names(org.api(who).customers.list()), who
    assert owned.pool is None


def test_the_system_user_cannot_claim(org: Org) -> None:
    org.pool()
    pooled = org.pooled("Pooled")
    with pytest.raises(pycrm.ValidationError, match="SYSTEM_USER"):
        org.root.pools.claim(pooled.id)
    assert org.customer(pooled.id).pool == "east"
    assert actions(org.moves(pooled.id)) == ["release"]


def test_a_claim_of_a_customer_claimed_first_is_a_conflict_for_who_sees_it(org: Org) -> None:
    org.pool()
    pooled = org.pooled("Pooled")
    org.api("Ann").pools.claim(pooled.id)
    for who in ("Ann", "Dee"):  # she and her director still see it
        with pytest.raises(pycrm.ConflictError, match="not in a pool any more"):
            org.api(who).pools.claim(pooled.id)
    assert actions(org.moves(pooled.id)) == ["release", "claim"]


def test_a_peer_who_claims_a_customer_claimed_first_gets_a_conflict(org: Org) -> None:
    org.pool()
    pooled = org.pooled("Pooled")
    org.api("Ann").pools.claim(pooled.id)
    with pytest.raises(pycrm.ConflictError):
        org.api("Al").pools.claim(pooled.id)  # Al saw it in the pool a moment ago


# -- release and assign ---------------------------------------------------------------------
def test_release_needs_a_reason(org: Org) -> None:
    org.pool()
    mine = org.owned("Mine", "Ann")
    ann = org.api("Ann").pools
    for reason in ("", "   ", "x" * 501):
        with pytest.raises(pycrm.ValidationError):
            ann.release(mine.id, reason=reason)
    with pytest.raises((pycrm.ValidationError, TypeError)):
        ann.release(mine.id)  # type: ignore[call-arg]
    stored = org.customer(mine.id)
    assert (stored.owner_id, stored.pool, stored.version) == (org["Ann"], None, mine.version)
    assert org.moves(mine.id) == []


def test_release_goes_to_the_pool_of_the_owner_s_department_or_the_catch_all(
    org: Org, listener: Listener
) -> None:
    org.pool("general")
    org.pool("east", owners_from=[org["east"]])
    org.pool("west", owners_from=[org["west"]])
    released = {}
    for rep in ("Ann", "Ed", "Bo", "GM"):
        mine = org.owned(f"{rep}'s", rep)
        released[rep] = org.api(rep).pools.release(mine.id, reason=f"{rep} lets go")
    assert {rep: c.pool for rep, c in released.items()} == {
        "Ann": "east",
        "Ed": "east",  # East 1 is under East
        "Bo": "west",
        "GM": "general",  # Head office returns to no named pool
    }
    assert all(c.owner_id is None for c in released.values())
    [move] = org.moves(released["Ann"].id)
    assert move.action is PoolMoveAction.RELEASE and move.reason == "Ann lets go"
    assert (move.owner_id, move.acted_by, move.pool) == (org["Ann"], org["Ann"], "east")
    # A named pool wins.
    named = org.api("Ann").pools.release(org.owned("Named", "Ann").id, reason="x", pool="west")
    assert named.pool == "west"
    with pytest.raises(pycrm.ValidationError):
        org.api("Ann").pools.release(org.owned("Nowhere", "Ann").id, reason="x", pool="nope")
    events = [e for e in listener.pool_events() if e.record_id == released["Ann"].id]
    assert [(e.name, e.data["reason"]) for e in events] == [("pool.released", "Ann lets go")]


def test_a_rep_releases_only_what_they_may_transfer(org: Org) -> None:
    org.pool()
    anns = org.owned("Ann's", "Ann")
    with pytest.raises(pycrm.NotFound):
        org.api("Bo").pools.release(anns.id, reason="not mine")  # Bo does not see it
    assert org.customer(anns.id).owner_id == org["Ann"]
    # Her director may.
    assert org.api("Dee").pools.release(anns.id, reason="reorganised").pool == "east"
    with pytest.raises(pycrm.ConflictError):
        org.api("Dee").pools.release(anns.id, reason="again")


def test_a_director_assigns_within_their_department_tree_only(org: Org) -> None:
    org.pool()
    first, second, third = (org.pooled(n) for n in ("First", "Second", "Third"))
    dee = org.api("Dee").pools
    assert dee.assign(first.id, to=org["Ann"]).owner_id == org["Ann"]
    assert dee.assign(second.id, to=org["Ed"]).owner_id == org["Ed"]  # East 1 is under East
    with pytest.raises(pycrm.PermissionDenied, match="beyond their reach"):
        dee.assign(third.id, to=org["Bo"])
    with pytest.raises(pycrm.PermissionDenied):
        org.api("Ann").pools.assign(third.id, to=org["Al"])  # a rep may not assign
    assert org.customer(third.id).pool == "east"
    # The executive reaches everyone.
    assert org.api("GM").pools.assign(third.id, to=org["Bo"]).owner_id == org["Bo"]


def test_caps_hold_for_assignments_unless_overridden_by_who_may(org: Org) -> None:
    org.pool(max_customers=1, max_per_level={"A": 0})
    org.owned("Mine", "Ann")
    pooled = org.pooled("Pooled")
    level_a = org.pooled("Level A", level="A")
    dee = org.api("Dee").pools
    with pytest.raises(pycrm.RuleViolation) as refused:
        dee.assign(pooled.id, to=org["Ann"])
    assert refused.value.rule == "pool.cap"
    with pytest.raises(pycrm.PermissionDenied, match="override_caps"):
        dee.assign(pooled.id, to=org["Ann"], override_caps=True)
    with pytest.raises(pycrm.RuleViolation) as refused:
        dee.assign(level_a.id, to=org["Al"])
    assert refused.value.rule == "pool.level_cap"
    assert org.customer(pooled.id).pool == "east"
    gm = org.api("GM").pools
    with pytest.raises(pycrm.RuleViolation):
        gm.assign(pooled.id, to=org["Ann"])
    assert gm.assign(pooled.id, to=org["Ann"], override_caps=True).owner_id == org["Ann"]
    assert gm.assign(level_a.id, to=org["Al"], override_caps=True).owner_id == org["Al"]
    assert org.root.customers.count({"owner_id": org["Ann"]}) == 2


def test_assign_to_an_unknown_or_inactive_user_is_refused(org: Org) -> None:
    org.pool()
    pooled = org.pooled("Pooled")
    org.root.users.update(org["Al"], active=False)
    gm = org.api("GM").pools
    for to in (org["Al"], pycrm.new_id()):
        with pytest.raises(pycrm.ValidationError):
            gm.assign(pooled.id, to=to)
    assert org.customer(pooled.id).pool == "east"


# -- events, audit, moves, report ------------------------------------------------------------
def test_each_move_reaches_the_plugins_as_an_event(
    org: Org, clock: pycrm.FixedClock, listener: Listener
) -> None:
    org.pool(recycle=[no_follow_up(30)])
    customer = org.owned("Customer", "Ann")
    org.api("Ann").pools.release(customer.id, reason="no budget")
    org.api("Al").pools.claim(customer.id)
    org.api("Al").pools.release(customer.id, reason="moving on")
    org.api("Dee").pools.assign(customer.id, to=org["Ed"])
    clock.advance(days=30)
    org.recycle()
    seen = [
        (e.name, e.record_id, e.user_id, e.data["owner_id"], e.data["pool"])
        for e in listener.pool_events()
    ]
    assert seen == [
        ("pool.released", customer.id, org["Ann"], str(org["Ann"]), "east"),
        ("pool.claimed", customer.id, org["Al"], str(org["Al"]), "east"),
        ("pool.released", customer.id, org["Al"], str(org["Al"]), "east"),
        ("pool.assigned", customer.id, org["Dee"], str(org["Ed"]), "east"),
        ("pool.recycled", customer.id, SYSTEM_USER, str(org["Ed"]), "east"),
    ]
    reasons = [e.data["reason"] for e in listener.pool_events()]
    assert reasons == ["no budget", None, "moving on", None, None]
    assert all(isinstance(e, pycrm.PoolMoved) for e in listener.pool_events())
    assert {e.entity for e in listener.pool_events()} == {"customer"}
    # The customer's own update events come with every move a user made.
    updates = [e for e in listener.events if e.name == "customer.updated"]
    owners = [e.changes["owner_id"][1] for e in updates]
    assert owners == [None, str(org["Al"]), None, str(org["Ed"])]
    assert [e.changes["pool"][1] for e in updates] == ["east", None, "east", None]


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_pool_moves_work_with_an_event_handler_on_every_backend(
    backend: str, clock: pycrm.FixedClock, request: pytest.FixtureRequest
) -> None:
    url = "memory://" if backend == "memory" else request.getfixturevalue("sqlite_url")
    listener = Listener()
    with pycrm.CRM.connect(url, clock=clock, plugins=[listener], load_entry_points=False) as crm:
        root = crm.as_user(SYSTEM_USER, tenant=TENANT)
        rep = root.users.create(name="Rep")
        root.configuration.set_pool(
            pycrm.Pool(key="p", name="P", recycle=[no_follow_up(30)], remind_days_before=3)
        )
        customer = root.customers.create(name="Customer", owner_id=rep.id)
        crm.as_user(rep.id, tenant=TENANT).pools.release(customer.id, reason="no budget")
        clock.advance(days=1)
        crm.as_user(rep.id, tenant=TENANT).pools.claim(customer.id)
        clock.advance(days=27)
        root.pools.recycle()
        clock.advance(days=3)
        root.pools.recycle()
        assert root.customers.get(customer.id).pool == "p"
    assert [e.name for e in listener.pool_events()] == [
        "pool.released", "pool.claimed", "pool.reminder", "pool.recycled"
    ]  # fmt: skip
    assert {e.data["owner_id"] for e in listener.pool_events()} == {str(rep.id)}
    # JSON-ready, as the outbox of a SQL backend stores it (a UUID there once failed the move).
    for event in listener.pool_events():
        assert json.loads(json.dumps(event.data)) == event.data


def test_only_a_job_or_who_may_runs_the_recycle_rules(org: Org, clock: pycrm.FixedClock) -> None:
    org.pool(recycle=[no_follow_up(30)])
    cold = org.owned("Cold", "Ann")
    clock.advance(days=30)
    for who in ("Ann", "Dee"):
        with pytest.raises(pycrm.PermissionDenied):
            org.api(who).pools.recycle()
    assert org.customer(cold.id).owner_id == org["Ann"]
    assert org.api("GM").pools.recycle().recycled == {"east": 1}
    [move] = org.moves(cold.id)
    assert move.acted_by == SYSTEM_USER  # the rules' work, whoever ran them


def test_every_move_is_audited_and_listed(org: Org, clock: pycrm.FixedClock) -> None:
    org.pool(recycle=[no_follow_up(30)])
    customer = org.owned("Customer", "Ann")
    org.api("Ann").pools.release(customer.id, reason="no budget")
    clock.advance(days=1)
    org.api("Al").pools.claim(customer.id)
    org.api("Al").pools.release(customer.id, reason="moving on")
    org.api("Dee").pools.assign(customer.id, to=org["Ann"])
    clock.advance(days=30)
    org.recycle()
    history = org.root.customers.history(customer.id)
    owners = [
        (c.user_id, f.old, f.new)
        for c in history
        for f in c.fields
        if f.field == "owner_id" and c.action is not pycrm.ChangeAction.CREATE
    ]

    assert [(u, text(o), text(n)) for u, o, n in owners] == [
        (org["Ann"], str(org["Ann"]), None),
        (org["Al"], None, str(org["Al"])),
        (org["Al"], str(org["Al"]), None),
        (org["Dee"], None, str(org["Ann"])),
    ]
    moves = org.moves(customer.id)
    assert [(m.action.value, m.acted_by, m.owner_id, m.pool) for m in moves] == [
        ("release", org["Ann"], org["Ann"], "east"),
        ("claim", org["Al"], org["Al"], "east"),
        ("release", org["Al"], org["Al"], "east"),
        ("assign", org["Dee"], org["Ann"], "east"),
        ("recycle", SYSTEM_USER, org["Ann"], "east"),
    ]
    assert [m.reason for m in moves] == ["no budget", None, "moving on", None, None]
    assert [m.at for m in moves] == sorted(m.at for m in moves)
    # A member reads the moves of a customer they see in the pool.
    assert org.api("Al").pools.moves(customer.id) == moves


def test_the_report_counts_pools_by_age_and_moves_per_rep_and_period(
    org: Org, clock: pycrm.FixedClock
) -> None:
    org.pool("east", owners_from=[org["east"]])
    org.pool("general")
    ann, al, dee = (org.api(who).pools for who in ("Ann", "Al", "Dee"))
    oldest = org.pooled("Oldest")  # day 0
    clock.advance(days=5)
    claimed = org.pooled("Claimed")
    ann.claim(claimed.id)  # day 5: claimed, so out of the pool
    clock.advance(days=5)
    middle = org.pooled("Middle")  # day 10
    ann.claim(middle.id)
    ann.release(middle.id, reason="again")  # back in the pool on day 10
    clock.advance(days=40)
    org.pooled("Month")  # day 50
    clock.advance(days=30)
    org.pooled("Fortnight")  # day 80
    clock.advance(days=13)
    al.claim(org.pooled("Late claim").id)  # day 93
    org.pooled("Fresh")  # day 93
    org.pooled("Elsewhere", pool="general")  # day 93
    dee.assign(org.pooled("Given").id, to=org["Ed"])  # day 93
    report = org.root.pools.report()  # day 93
    assert report.at == clock.now() and report.period is None
    sizes = {p.pool: p for p in report.pools}
    assert (sizes["east"].customers, sizes["general"].customers) == (5, 1)
    # Oldest 93 days, Middle 83, Month 43, Fortnight 13, Fresh 0.
    assert sizes["east"].by_age == {"0-7": 1, "8-30": 1, "31-90": 2, "91+": 1}
    assert sizes["east"].oldest_days == 93 and oldest.pool == "east"
    assert sizes["general"].by_age == {"0-7": 1, "8-30": 0, "31-90": 0, "91+": 0}
    assert sizes["general"].oldest_days == 0
    assert report.moves["claim"] == {org["Ann"]: 2, org["Al"]: 1}
    assert report.moves["release"][org["Ann"]] == 1
    assert report.moves["assign"] == {org["Ed"]: 1}
    day = START.date()
    early = org.root.pools.report(period=(day, day + dt.timedelta(days=5)))
    assert early.moves["claim"] == {org["Ann"]: 1}
    assert "assign" not in early.moves and org["Ann"] not in early.moves["release"]
    late = org.root.pools.report(period=(day + dt.timedelta(days=90), clock.now().date()))
    assert late.moves["claim"] == {org["Al"]: 1} and late.moves["assign"] == {org["Ed"]: 1}
    assert late.pools == report.pools  # sizes are of now whatever the period
    clock.advance(days=100)
    aged = {p.pool: p for p in org.root.pools.report().pools}
    assert aged["east"].by_age == {"0-7": 0, "8-30": 0, "31-90": 0, "91+": 5}


def test_the_report_s_periods_are_whole_days_in_utc(org: Org, clock: pycrm.FixedClock) -> None:
    # As every report counts them, whatever the tenant's time zone.
    org.root.configuration.set_time_zone("Asia/Shanghai")
    org.pool()
    first, second = org.pooled("First"), org.pooled("Second")
    clock.advance(hours=14, minutes=59)  # 23:59 UTC (07:59 on the 16th in Shanghai)
    org.api("Ann").pools.claim(first.id)
    clock.advance(minutes=1)  # midnight UTC
    org.api("Al").pools.claim(second.id)
    day = START.date()
    on_15th = org.root.pools.report(period=(day, day))
    on_16th = org.root.pools.report(period=(day + dt.timedelta(days=1),) * 2)
    assert on_15th.moves["claim"] == {org["Ann"]: 1}
    assert on_16th.moves == {"claim": {org["Al"]: 1}}


def test_an_empty_pool_reports_nothing(org: Org) -> None:
    org.pool()
    [size] = org.root.pools.report().pools
    assert (size.pool, size.customers, size.oldest_days) == ("east", 0, None)
    assert set(size.by_age.values()) == {0}


# -- configuration ----------------------------------------------------------------------------
def test_a_pool_with_customers_in_it_cannot_be_removed(org: Org) -> None:
    org.pool("east")
    org.pool("spare")
    pooled = org.pooled("Pooled")
    with pytest.raises(pycrm.RuleViolation) as refused:
        org.root.configuration.remove_pool("east")
    assert refused.value.rule == "configuration.in_use"
    assert set(org.root.configuration.current().pools) == {"east", "spare"}
    org.root.configuration.remove_pool("spare")
    org.api("GM").pools.assign(pooled.id, to=org["Ann"])
    org.root.configuration.remove_pool("east")
    assert org.root.configuration.current().pools == {}
    with pytest.raises(pycrm.ValidationError):
        org.root.configuration.remove_pool("east")


# -- assignment rules -------------------------------------------------------------------------
def rule(entity: str = "customer", **target: Any) -> pycrm.AssignmentRule:
    return pycrm.AssignmentRule(entity=entity, **target)


def test_a_customer_a_job_creates_goes_to_the_matching_rule_s_user(org: Org) -> None:
    org.pool("east")
    org.root.configuration.set_assignment(
        "customer",
        [
            rule(when={"region": "east", "level": "A"}, user=org["Dee"]),
            rule(when={"region": "east"}, user=org["Ann"]),
            rule(when={"region": "west"}, pool="east"),
        ],
    )
    root = org.root.customers
    assert root.create(name="East", region="east").owner_id == org["Ann"]
    assert root.create(name="East A", region="east", level="A").owner_id == org["Dee"]
    west = root.create(name="West", region="west")
    assert (west.owner_id, west.pool) == (None, "east")
    assert names(org.api("Al").customers.list({"pool": "east"})) == ["West"]
    assert org.api("Al").pools.claim(west.id).owner_id == org["Al"]
    nowhere = root.create(name="Nowhere", region="north")
    assert (nowhere.owner_id, nowhere.pool) == (SYSTEM_USER, None)
    many = root.create_many([{"name": "M1", "region": "east"}, {"name": "M2", "region": "west"}])
    assert [(c.owner_id, c.pool) for c in many] == [(org["Ann"], None), (None, "east")]
    # Stored as the rules said.
    assert org.customer(many[0].id).owner_id == org["Ann"]
    assert org.customer(many[1].id).pool == "east"


def test_records_a_user_creates_or_a_job_gives_an_owner_keep_their_owner(org: Org) -> None:
    org.root.configuration.set_assignment("customer", [rule(user=org["Dee"])])
    org.root.configuration.set_assignment("lead", [rule("lead", user=org["Dee"])])
    assert org.api("Ann").customers.create(name="Ann's", region="east").owner_id == org["Ann"]
    assert org.api("Ann").leads.create(name="Ann's lead").owner_id == org["Ann"]
    given = org.root.customers.create(name="Given", owner_id=org["Al"])
    assert given.owner_id == org["Al"]
    assert org.root.customers.create(name="Job's").owner_id == org["Dee"]
    assert org.root.leads.create(name="Job's lead").owner_id == org["Dee"]


def test_round_robin_deals_new_customers_to_the_department_s_active_users_in_turn(
    org: Org,
) -> None:
    with org.crm.unit_of_work(tenant=TENANT, user=SYSTEM_USER) as uow:
        sales = uow.departments.create(name="Inside sales", parent_id=org["head"])
        team = [uow.users.create(name=f"S{i}", department_id=sales.id) for i in range(3)]
        gone = uow.users.create(name="Gone", department_id=sales.id)
        uow.users.update(gone.id, active=False)
        uow.departments.create(name="Under", parent_id=sales.id)
    order = sorted(user.id for user in team)  # the department's active users by id
    org.root.configuration.set_assignment("customer", [rule(department=sales.id)])
    root = org.root.customers
    one_by_one = [root.create(name=f"C{i}").owner_id for i in range(4)]
    batch = [c.owner_id for c in root.create_many([{"name": f"B{i}"} for i in range(5)])]
    after = root.create(name="After").owner_id
    dealt = [*one_by_one, *batch, after]
    assert dealt == [order[i % 3] for i in range(10)]
    assert gone.id not in dealt
    stored = [c.owner_id for c in sorted(root.list(limit=100), key=lambda c: c.created_at)]
    assert sorted(map(str, stored)) == sorted(map(str, dealt))


def test_round_robin_into_a_department_without_active_users_is_refused(org: Org) -> None:
    with org.crm.unit_of_work(tenant=TENANT, user=SYSTEM_USER) as uow:
        empty = uow.departments.create(name="Empty", parent_id=org["head"])
    org.root.configuration.set_assignment("customer", [rule(department=empty.id)])
    with pytest.raises(pycrm.RuleViolation) as refused:
        org.root.customers.create(name="Orphan")
    assert refused.value.rule == "assignment.empty_team"
    assert org.root.customers.count() == 0


def test_leads_a_job_creates_go_by_their_source(org: Org) -> None:
    org.root.configuration.set_assignment(
        "lead",
        [
            rule("lead", when={"source": "web"}, user=org["Ann"]),
            rule("lead", when={"source": "campaign"}, user=org["Bo"]),
        ],
    )
    root = org.root.leads
    assert root.create(name="Web", source="web").owner_id == org["Ann"]
    assert root.create(name="Campaign", source="campaign").owner_id == org["Bo"]
    assert root.create(name="Visit", source="visit").owner_id == SYSTEM_USER
    assert root.create(name="Unknown").owner_id == SYSTEM_USER
    made = root.create_many([{"name": "W2", "source": "web"}, {"name": "V2", "source": "visit"}])
    assert [lead.owner_id for lead in made] == [org["Ann"], SYSTEM_USER]
    with pytest.raises(pycrm.ConfigurationError):
        pycrm.AssignmentRule(entity="lead", when={"source": "web"}, pool="east")
    with pytest.raises(pycrm.ConfigurationError):
        pycrm.AssignmentRule(entity="lead", when={"region": "east"}, user=org["Ann"])


def test_an_assignment_rule_takes_ids_as_uuids_or_text(org: Org) -> None:
    # Its converter once turned a uuid.UUID into None (and the rule was refused).
    for ann in (org["Ann"], str(org["Ann"])):
        assert pycrm.AssignmentRule(entity="customer", user=ann).user == org["Ann"]
    for east in (org["east"], str(org["east"])):
        assert pycrm.AssignmentRule(entity="lead", department=east).department == org["east"]
    with pytest.raises((pycrm.ConfigurationError, ValueError)):
        pycrm.AssignmentRule(entity="customer", user="not an id")
    with pytest.raises(pycrm.ConfigurationError):
        pycrm.AssignmentRule(entity="customer", user=org["Ann"], pool="east")


def test_an_assignment_rule_never_gives_a_record_to_someone_not_in_the_tenant(org: Org) -> None:
    ghost = pycrm.new_id()
    with pytest.raises(pycrm.ValidationError):
        org.root.customers.create(name="Direct", owner_id=ghost)
    with pytest.raises(pycrm.ValidationError):
        org.root.configuration.set_assignment("customer", [rule(user=ghost)])
        org.root.customers.create(name="For a ghost")
