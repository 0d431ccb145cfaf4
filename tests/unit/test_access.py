"""Who may see and do what: the MyCRM organisation (a general manager, two branch
directors, reps, an order assistant) through every route — get, list, count, reports,
child records, shares, sharing rules, exceptions, field security, people leaving."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

import pycrm
from pycrm import Money
from pycrm.storage.base import Filter, Op

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(params=["memory", "sqlite"])
def org(request: pytest.FixtureRequest, clock: pycrm.FixedClock) -> dict[str, Any]:
    """Head office (GM) → North (director Bei, reps Ann and Al under her) and South
    (director Nan, rep Bo); an order assistant Oa in North; each rep owns one customer
    with a contact, a deal and an order."""
    url = "memory://" if request.param == "memory" else request.getfixturevalue("sqlite_url")
    crm = pycrm.CRM.connect(url, clock=clock, load_entry_points=False)
    with crm.unit_of_work(tenant="t", user=pycrm.SYSTEM_USER) as uow:
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
        oa = uow.users.create(name="Oa", roles=["order_assistant"], department_id=north.id)
        found: dict[str, Any] = {"crm": crm, "north": north.id, "south": south.id}
        for user in (gm, bei, nan, ann, al, bo, oa):
            found[user.name] = user.id
        for rep in (ann, al, bo):
            customer = uow.customers.create(name=f"{rep.name}'s", owner_id=rep.id, phone="1")
            found[f"{rep.name}_customer"] = customer.id
            found[f"{rep.name}_contact"] = uow.contacts.create(
                customer_id=customer.id, name=f"{rep.name}'s contact"
            ).id
            found[f"{rep.name}_deal"] = uow.opportunities.create(
                customer_id=customer.id,
                name=f"{rep.name}'s deal",
                owner_id=rep.id,
                amount=Money("1000.00", "CNY"),
            ).id
    return found


def api(org: dict[str, Any], who: str) -> pycrm.Services:
    crm: pycrm.CRM = org["crm"]
    return crm.as_user(org[who], tenant="t")


def names(page: Any) -> list[str]:
    return sorted(record.name for record in page)


def test_an_unknown_or_deactivated_acting_user_is_refused(org: dict[str, Any]) -> None:
    crm: pycrm.CRM = org["crm"]
    with pytest.raises(pycrm.PermissionDenied, match="unknown"):
        crm.as_user(pycrm.new_id(), tenant="t").customers.list()
    org["crm"].as_user(pycrm.SYSTEM_USER, tenant="t").users.update(org["Al"], active=False)
    with pytest.raises(pycrm.PermissionDenied, match="deactivated"):
        api(org, "Al").customers.list()
    assert len(crm.as_user(pycrm.SYSTEM_USER, tenant="t").customers.list()) == 3


def test_a_rep_sees_only_their_own_records_by_every_route(org: dict[str, Any]) -> None:
    ann = api(org, "Ann")
    assert names(ann.customers.list()) == ["Ann's"]
    assert ann.customers.count() == 1
    assert [g.count for g in ann.customers.subtotals(["level"])] == [1]
    with pytest.raises(pycrm.NotFound):
        ann.customers.get(org["Al_customer"])  # a peer's: not found, not forbidden
    with pytest.raises(pycrm.NotFound):
        ann.contacts.get(org["Al_contact"])  # a child follows its customer
    with pytest.raises(pycrm.NotFound):
        ann.customers.history(org["Al_customer"])
    with pytest.raises(pycrm.NotFound):
        ann.customers.update(org["Al_customer"], name="mine now")
    with pytest.raises(pycrm.NotFound):
        ann.opportunities.move(org["Al_deal"], to="needs_analysis")
    assert names(ann.contacts.list()) == ["Ann's contact"]
    assert ann.reports.weighted_pipeline(by=()).total == Money("1000.00", "CNY")


def test_a_rep_cannot_give_a_record_to_a_peer_or_create_one_for_them(
    org: dict[str, Any],
) -> None:
    ann = api(org, "Ann")
    with pytest.raises(pycrm.PermissionDenied, match="create customer"):
        ann.customers.create(name="for Al", owner_id=org["Al"])
    with pytest.raises(pycrm.ValidationError, match="no customer"):
        ann.contacts.create(customer_id=org["Al_customer"], name="x")  # not even seen
    assert api(org, "GM").customers.count() == 3


def test_the_direct_superior_may_do_all_but_delete_and_above_may_only_view(
    org: dict[str, Any],
) -> None:
    bei, gm = api(org, "Bei"), api(org, "GM")
    assert names(bei.customers.list()) == ["Al's", "Ann's"]
    bei.customers.update(org["Ann_customer"], level="A")
    bei.opportunities.move(org["Ann_deal"], to="needs_analysis")
    with pytest.raises(pycrm.PermissionDenied, match="may delete customer records only"):
        bei.customers.delete(org["Ann_customer"])
    assert names(gm.customers.list()) == ["Al's", "Ann's", "Bo's"]  # the GM sees all
    with pytest.raises(pycrm.PermissionDenied, match="edit"):
        gm.customers.update(org["Ann_customer"], level="B")  # an indirect superior
    ann = api(org, "Ann")
    ann.customers.delete(org["Ann_customer"])  # her own
    assert ann.customers.count() == 0


def test_a_director_sees_their_department_and_below_not_the_other_branch(
    org: dict[str, Any],
) -> None:
    nan = api(org, "Nan")
    assert names(nan.customers.list()) == ["Bo's"]
    assert names(nan.opportunities.list()) == ["Bo's deal"]
    with pytest.raises(pycrm.NotFound):
        nan.customers.get(org["Ann_customer"])


def test_a_share_opens_one_record_until_it_expires_or_is_deleted(
    org: dict[str, Any], clock: pycrm.FixedClock
) -> None:
    ann, bo = api(org, "Ann"), api(org, "Bo")
    share = ann.shares.create(
        entity="customer",
        record_id=org["Ann_customer"],
        user_id=org["Bo"],
        expires_at=clock.now() + dt.timedelta(days=7),
    )
    assert names(bo.customers.list()) == ["Ann's", "Bo's"]
    assert bo.contacts.get(org["Ann_contact"]).name == "Ann's contact"  # children follow
    with pytest.raises(pycrm.PermissionDenied):
        bo.customers.update(org["Ann_customer"], level="C")  # shared to view only
    ann.shares.update(share.id, access="edit")
    bo.customers.update(org["Ann_customer"], level="C")
    clock.advance(days=8)
    assert names(bo.customers.list()) == ["Bo's"]  # expired
    ann.shares.delete(share.id)
    assert [c.action.value for c in ann.shares.history(share.id)] == [
        "create",
        "update",
        "delete",
    ]
    with pytest.raises(pycrm.NotFound):  # no longer shared with him: not even seen
        bo.shares.create(entity="customer", record_id=org["Ann_customer"], user_id=org["Bo"])


def test_a_share_with_a_department_reaches_its_users_and_those_below(
    org: dict[str, Any],
) -> None:
    api(org, "Bo").shares.create(
        entity="opportunity", record_id=org["Bo_deal"], department_id=org["north"]
    )
    assert "Bo's deal" in names(api(org, "Ann").opportunities.list())
    assert "Bo's deal" in names(api(org, "Bei").opportunities.list())


def test_an_order_assistant_sees_the_customers_whose_orders_they_entered(
    org: dict[str, Any],
) -> None:
    oa = api(org, "Oa")
    assert names(oa.customers.list()) == ["Al's", "Ann's"]  # their branch's, by their role
    with pytest.raises(pycrm.ValidationError, match="no customer"):  # not South's
        oa.orders.create(customer_id=org["Bo_customer"], currency="CNY", owner_id=org["Oa"])
    crm: pycrm.CRM = org["crm"]
    with crm.unit_of_work(tenant="t", user=pycrm.SYSTEM_USER) as uow:
        order = uow.orders.create(customer_id=org["Bo_customer"], currency="CNY")
        uow.tx.update(_entered_by(order, org["Oa"]), order.version)
    assert names(oa.customers.list()) == ["Al's", "Ann's", "Bo's"]
    assert api(org, "Ann").customers.count() == 1  # nothing changes for anyone else


def _entered_by(order: pycrm.Order, user: Any) -> pycrm.Order:
    import attrs

    return attrs.evolve(order, created_by=user, version=order.version + 1)


def test_a_users_own_exceptions_add_and_take_away_rights(org: dict[str, Any]) -> None:
    gm = api(org, "GM")
    gm_admin = org["crm"].as_user(pycrm.SYSTEM_USER, tenant="t")
    gm_admin.users.update(
        org["Al"],
        rights=[
            {"entity": "customer", "action": "view", "scope": "department"},
            {"entity": "opportunity", "action": "view", "allow": False},
        ],
    )
    al = api(org, "Al")
    assert names(al.customers.list()) == ["Al's", "Ann's"]  # his department's
    assert al.opportunities.count() == 0  # taken away entirely
    with pytest.raises(pycrm.NotFound):
        al.opportunities.get(org["Al_deal"])
    assert gm.opportunities.count() == 3


class Discreet:
    """A role that hides customers' phones and makes their level read-only, and a
    territory rule: its holders only reach customers in 华北."""

    name = "discreet"

    @pycrm.hookimpl
    def pycrm_register_roles(self) -> list[pycrm.RoleDefinition]:
        return [
            pycrm.RoleDefinition(
                key="junior",
                name="Junior rep",
                grants=(pycrm.Grant("*", "*", pycrm.DataScope.OWN),),
                fields=(
                    pycrm.FieldRule("customer", "phone"),
                    pycrm.FieldRule("customer", "level", pycrm.FieldAccess.READ_ONLY),
                ),
            )
        ]

    @pycrm.hookimpl
    def pycrm_narrow_scope(self, roles: tuple[str, ...], entity: str) -> Any:
        if "junior" in roles and entity == "customer":
            return Filter("region", Op.EQ, "华北")
        return None

    @pycrm.hookimpl
    def pycrm_check_permission(self, action: str, record: Any) -> str | None:
        if action == "delete" and getattr(record, "level", None) == "A":
            return "A-level customers are never deleted"
        return None


@pytest.fixture
def junior(clock: pycrm.FixedClock) -> tuple[pycrm.CRM, Any]:
    crm = pycrm.CRM.connect("memory://", plugins=[Discreet()], clock=clock, load_entry_points=False)
    root = crm.as_user(pycrm.SYSTEM_USER, tenant="t")
    kid = root.users.create(name="Kid", roles=["junior"])
    for region in ("华北", "华东"):
        root.customers.create(name=region, owner_id=kid.id, region=region, phone="139")
    return crm, kid.id


def test_fields_a_role_hides_are_absent_and_read_only_ones_refused(
    junior: tuple[pycrm.CRM, Any],
) -> None:
    crm, kid = junior
    me = crm.as_user(kid, tenant="t")
    [customer] = me.customers.list()
    assert customer.name == "华北" and customer.phone is None
    assert customer.phone is None and me.customers.get(customer.id).phone is None
    history = me.customers.history(customer.id)
    assert "phone" not in {f.field for f in history[0].fields}
    with pytest.raises(pycrm.PermissionDenied, match="level"):
        me.customers.update(customer.id, level="B")
    me.customers.update(customer.id, name="华北 (new)")
    with pytest.raises(pycrm.PermissionDenied, match="phone"):
        me.customers.list({"phone": "139"})  # a filter would tell what it holds
    root = crm.as_user(pycrm.SYSTEM_USER, tenant="t")
    assert root.customers.get(customer.id).phone == "139"  # the stored value is kept


def test_hook_pycrm_register_roles(junior: tuple[pycrm.CRM, Any]) -> None:
    crm, _ = junior
    assert "junior" in crm.roles and "sales_rep" in crm.roles
    with pytest.raises(pycrm.ValidationError, match="no role 'king'"):
        crm.as_user(pycrm.SYSTEM_USER, tenant="t").users.create(name="K", roles=["king"])


def test_hook_pycrm_narrow_scope(junior: tuple[pycrm.CRM, Any]) -> None:
    crm, kid = junior
    assert names(crm.as_user(kid, tenant="t").customers.list()) == ["华北"]
    assert crm.as_user(pycrm.SYSTEM_USER, tenant="t").customers.count() == 2


def test_hook_pycrm_check_permission(junior: tuple[pycrm.CRM, Any]) -> None:
    crm, kid = junior
    root = crm.as_user(pycrm.SYSTEM_USER, tenant="t")
    [north] = crm.as_user(kid, tenant="t").customers.list()
    root.customers.update(north.id, level="A")
    with pytest.raises(pycrm.PermissionDenied, match="never deleted"):
        crm.as_user(kid, tenant="t").customers.delete(north.id)


def test_hook_pycrm_register_sharing_rules(clock: pycrm.FixedClock) -> None:
    class VipDesk:
        name = "vip-desk"

        @pycrm.hookimpl
        def pycrm_register_sharing_rules(self) -> list[pycrm.SharingRule]:
            return [
                pycrm.SharingRule(
                    entity="customer",
                    roles=("service_agent",),
                    condition=Filter("level", Op.EQ, "VIP"),
                    access=pycrm.ShareAccess.EDIT,
                )
            ]

    crm = pycrm.CRM.connect("memory://", plugins=[VipDesk()], clock=clock, load_entry_points=False)
    root = crm.as_user(pycrm.SYSTEM_USER, tenant="t")
    agent = root.users.create(name="Desk", roles=["sales_rep"])
    vip = root.customers.create(name="VIP Co", level="VIP")
    root.customers.create(name="Plain Co")
    assert crm.as_user(agent.id, tenant="t").customers.count() == 0  # not their role
    root.users.update(agent.id, roles=["sales_rep", "service_agent"])
    desk = crm.as_user(agent.id, tenant="t")
    desk.customers.update(vip.id, region="华南")  # edit access through the rule
    assert desk.customers.get(vip.id).region == "华南"


def test_a_leaving_user_is_deactivated_and_their_records_handed_over(
    org: dict[str, Any],
) -> None:
    admin = org["crm"].as_user(pycrm.SYSTEM_USER, tenant="t")
    admin.activities.create(type="task", subject="call back", owner_id=org["Ann"])
    done = admin.activities.create(type="call", subject="called", owner_id=org["Ann"])
    admin.activities.update(done.id, done=True)
    moved = admin.users.deactivate(org["Ann"], transfer_to=org["Al"])
    assert moved.moved["customers"] == 1 and moved.moved["opportunities"] == 1
    assert moved.moved["activities"] == 1  # the open one only
    assert not admin.users.get(org["Ann"]).active
    assert names(api(org, "Al").customers.list()) == ["Al's", "Ann's"]
    assert admin.customers.history(org["Ann_customer"])[-1].fields[0].field == "owner_id"
    with pytest.raises(pycrm.PermissionDenied):
        api(org, "Bo").users.deactivate(org["Al"], transfer_to=org["Bo"])


@pytest.fixture
def peers(org: dict[str, Any]) -> dict[str, Any]:
    """Al's records of every kind, made by the system; Ann is his peer."""
    crm: pycrm.CRM = org["crm"]
    root = crm.as_user(pycrm.SYSTEM_USER, tenant="t")
    al, customer = org["Al"], org["Al_customer"]
    price = Money("300.00", "CNY")
    order = root.orders.create(
        customer_id=customer,
        owner_id=al,
        currency="CNY",
        lines=[{"description": "slot", "quantity": 1, "unit_price": price}],
    )
    root.orders.confirm(order.id)
    plan = root.payment_plans.plan_for_order(order.id, parts=1, first_due=dt.date(2026, 1, 1))
    [payment] = root.payments.record(plan.id, Money("100.00", "CNY"))
    return {
        **org,
        "customers": customer,
        "contacts": org["Al_contact"],
        "opportunities": org["Al_deal"],
        "leads": root.leads.create(name="Al's lead", owner_id=al).id,
        "orders": order.id,
        "payment_plans": plan.id,
        "payments": payment.id,
        "tickets": root.tickets.create(customer_id=customer, subject="help", owner_id=al).id,
        "activities": root.activities.create(type="call", subject="call", owner_id=al).id,
        "shares": root.shares.create(entity="customer", record_id=customer, user_id=org["Bo"]).id,
    }


REACHABLE = ["customers", "contacts", "opportunities", "leads", "orders", "payment_plans",
             "payments", "tickets", "activities", "shares"]  # fmt: skip


@pytest.mark.parametrize("service", REACHABLE)
def test_a_rep_reaches_no_record_of_a_peer_through_any_service(
    peers: dict[str, Any], service: str
) -> None:
    mine = getattr(api(peers, "Ann"), service)
    theirs = peers[service]
    with pytest.raises(pycrm.NotFound):
        mine.get(theirs)
    with pytest.raises(pycrm.NotFound):
        mine.history(theirs)
    with pytest.raises(pycrm.NotFound):
        mine.delete(theirs)
    assert theirs not in {r.id for r in mine.list(limit=1000)}
    assert mine.count() == len(mine.list(limit=1000))
    # Someone allowed does reach it: Al's superior (a share: the user it opens to).
    allowed = "Bo" if service == "shares" else "Bei"
    assert getattr(api(peers, allowed), service).get(theirs).id == theirs


def test_a_rep_reaches_no_money_of_a_peer_through_lists_and_reports(
    peers: dict[str, Any],
) -> None:
    ann, bei = api(peers, "Ann"), api(peers, "Bei")
    on = dt.date(2026, 1, 15)
    assert ann.receivables.due("overdue", on=on) == []
    assert len(bei.receivables.due("overdue", on=on)) == 1
    assert ann.reports.aging(on=on).totals.total == Money("0.00", "CNY")
    assert bei.reports.aging(on=on).totals.total == Money("200.00", "CNY")
    period = (dt.date(2026, 1, 1), dt.date(2026, 12, 31))
    assert ann.reports.sales(*period).total == Money("0.00", "CNY")
    assert ann.reports.collected(*period).total == Money("0.00", "CNY")
    assert bei.reports.collected(*period).total == Money("100.00", "CNY")
    assert [t.subject for t in ann.receivables.run_dunning(on=on)] == []
    with pytest.raises(pycrm.NotFound):
        ann.payments.record(peers["payment_plans"], Money("1.00", "CNY"))
    with pytest.raises(pycrm.NotFound):
        ann.orders.confirm(peers["orders"])
    with pytest.raises(pycrm.NotFound):
        ann.opportunities.transitions(peers["opportunities"])
