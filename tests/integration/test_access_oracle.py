"""Property: for random organisations, roles, exceptions, shares and records, what every
user can view, edit and delete — through get, list, count, a report and the services'
writes — is exactly what a brute-force oracle written here says. Memory, SQLite, and
PostgreSQL when a server is given.

The oracle walks the organisation in Python from the rules as users state them (the
MyCRM default: own records; the direct superior all but delete; further up view only;
directors their department and below), independently of the query conditions pycrm
builds.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pycrm
from pycrm import Money

START = dt.datetime(2026, 1, 15, 9, 0, tzinfo=dt.UTC)
ROLES = ["sales_rep", "sales_director", "executive", "order_assistant", "service_agent", "admin"]
KINDS = ["customer", "opportunity", "contact"]
ACTIONS = ["view", "edit", "delete"]
SCOPES = ["own", "direct_reports", "subordinates", "department", "department_tree", "tenant"]

worlds = st.fixed_dictionaries(
    {
        # department i hangs under one of the departments before it (or is a root)
        "departments": st.lists(st.integers(-1, 3), min_size=1, max_size=4),
        # (department index or -1, manager index or -1 among earlier users, roles)
        "users": st.lists(
            st.tuples(
                st.integers(-1, 3),
                st.integers(-1, 5),
                st.lists(st.sampled_from(ROLES), min_size=1, max_size=2, unique=True),
            ),
            min_size=1,
            max_size=6,
        ),
        # a user's exception: (user, kind, action, scope, allow)
        "rights": st.lists(
            st.tuples(
                st.integers(0, 5),
                st.sampled_from(KINDS),
                st.sampled_from(ACTIONS),
                st.sampled_from(SCOPES),
                st.booleans(),
            ),
            max_size=2,
        ),
        "customers": st.lists(st.integers(-1, 5), min_size=1, max_size=5),  # owners
        "contacts": st.lists(st.integers(0, 4), max_size=3),  # their customer
        "deals": st.lists(st.tuples(st.integers(0, 4), st.integers(-1, 5)), max_size=4),
        # (kind 0/1, record, user or -1, department or -1, edit, expired, deleted)
        "shares": st.lists(
            st.tuples(
                st.integers(0, 1),
                st.integers(0, 4),
                st.integers(-1, 5),
                st.integers(-1, 3),
                st.booleans(),
                st.booleans(),
                st.booleans(),
            ),
            max_size=3,
        ),
        "probes": st.lists(
            st.tuples(st.integers(0, 5), st.integers(0, 12), st.sampled_from(["edit", "delete"])),
            max_size=6,
        ),
    }
)


class World:
    """The generated organisation and records, stored, with what the oracle needs."""

    def __init__(self, crm: pycrm.CRM, tenant: str, spec: dict[str, Any]) -> None:
        self.crm, self.tenant = crm, tenant
        root = crm.as_user(pycrm.SYSTEM_USER, tenant=tenant)
        self.dept_parent: dict[uuid.UUID, uuid.UUID | None] = {}
        depts: list[uuid.UUID] = []
        for i, parent in enumerate(spec["departments"]):
            up = depts[parent] if 0 <= parent < i else None
            depts.append(root.departments.create(name=f"D{i}", parent_id=up).id)
            self.dept_parent[depts[-1]] = up
        self.users: list[pycrm.User] = []
        for i, (dept, manager, roles) in enumerate(spec["users"]):
            self.users.append(
                root.users.create(
                    name=f"U{i}",
                    roles=roles,
                    department_id=depts[dept] if 0 <= dept < len(depts) else None,
                    manager_id=self.users[manager].id if 0 <= manager < i else None,
                )
            )
        for user_i, kind, action, scope, allow in spec["rights"]:
            if user_i < len(self.users):
                user = self.users[user_i]
                right = {"entity": kind, "action": action, "scope": scope, "allow": allow}
                self.users[user_i] = root.users.update(user.id, rights=[*_rights(user), right])
        self.records: list[tuple[str, Any]] = []  # (kind, record)
        customers = []
        for owner in spec["customers"]:
            customers.append(
                root.customers.create(name=f"C{len(customers)}", owner_id=self._user(owner))
            )
            self.records.append(("customer", customers[-1]))
        for parent in spec["contacts"]:
            customer = customers[parent % len(customers)]
            self.records.append(
                ("contact", root.contacts.create(customer_id=customer.id, name="c"))
            )
        deals = []
        for parent, owner in spec["deals"]:
            customer = customers[parent % len(customers)]
            deal = root.opportunities.create(
                customer_id=customer.id, name=f"O{len(deals)}", owner_id=self._user(owner),
                amount=Money("100.00", "CNY"),
            )  # fmt: skip
            deals.append(deal)
            self.records.append(("opportunity", deal))
        self.shares = []
        for kind_i, record_i, user_i, dept_i, edit, expired, deleted in spec["shares"]:
            targets = [customers, deals][kind_i]
            who = self._user(user_i)
            dept = depts[dept_i] if 0 <= dept_i < len(depts) else None
            if not targets or (who is None) == (dept is None):
                continue
            target = targets[record_i % len(targets)]
            expires = START + dt.timedelta(days=-1 if expired else 30)
            share = root.shares.create(
                entity=["customer", "opportunity"][kind_i], record_id=target.id,
                user_id=who, department_id=dept, access="edit" if edit else "view",
                expires_at=expires,
            )  # fmt: skip
            if deleted:
                share = root.shares.delete(share.id)
            self.shares.append(share)
        self.customers = {c.id: c for c in customers}

    def _user(self, index: int) -> uuid.UUID | None:
        return self.users[index].id if 0 <= index < len(self.users) else None

    # -- the oracle -----------------------------------------------------------------------
    def may(self, user: pycrm.User, kind: str, record: Any, action: str) -> bool:
        if self._revoked(user, kind, action):
            return False
        if kind == "contact":
            if not self._grants(user, kind, action):
                return False
            parent_action = "view" if action == "view" else "edit"
            return self.may(user, "customer", self.customers[record.customer_id], parent_action)
        scopes = self._grants(user, kind, action)
        if any(self._reaches(user, scope, record.owner_id) for scope in scopes):
            return True
        return self._shared(user, kind, record, action)

    def _revoked(self, user: pycrm.User, kind: str, action: str) -> bool:
        return any(not r.allow and r.entity in ("*", kind) and r.action in ("*", action)
                   for r in user.rights)  # fmt: skip

    def _grants(self, user: pycrm.User, kind: str, action: str) -> set[str]:
        grants = [g for key in user.roles for g in self.crm.roles[key].grants]
        found = {
            g.scope.value for g in grants if g.entity in ("*", kind) and g.action in ("*", action)
        }
        found |= {r.scope.value for r in user.rights if r.allow and r.entity in ("*", kind)
                  and r.action in ("*", action)}  # fmt: skip
        return found

    def _reaches(self, user: pycrm.User, scope: str, owner: uuid.UUID | None) -> bool:
        if scope == "tenant":
            return True
        if owner is None:
            return False
        if owner == user.id:
            return True
        them = next(u for u in self.users if u.id == owner)
        if scope == "direct_reports":
            return them.manager_id == user.id
        if scope == "subordinates":
            return user.id in self._managers(them)
        if scope in ("department", "department_tree") and user.department_id is not None:
            if scope == "department":
                return them.department_id == user.department_id
            return user.department_id in self._departments_up(them.department_id)
        return False

    def _managers(self, user: pycrm.User) -> list[uuid.UUID]:
        found, at = [], user.manager_id
        while at is not None:
            found.append(at)
            at = next(u for u in self.users if u.id == at).manager_id
        return found

    def _departments_up(self, dept: uuid.UUID | None) -> list[uuid.UUID]:
        found = []
        while dept is not None:
            found.append(dept)
            dept = self.dept_parent[dept]
        return found

    def _shared(self, user: pycrm.User, kind: str, record: Any, action: str) -> bool:
        if action == "delete":
            return False
        mine = set(self._departments_up(user.department_id))
        return any(
            s.entity == kind and s.record_id == record.id
            and (s.user_id == user.id or s.department_id in mine)
            and (action == "view" or s.access.value == "edit")
            and (s.expires_at is None or s.expires_at > START)
            and not s.deleted
            for s in self.shares
        )  # fmt: skip


def _rights(user: pycrm.User) -> list[dict[str, Any]]:
    return [{"entity": r.entity, "action": r.action, "scope": r.scope.value, "allow": r.allow}
            for r in user.rights]  # fmt: skip


SERVICES = {"customer": "customers", "contact": "contacts", "opportunity": "opportunities"}


def _check_views(world: World, user: pycrm.User) -> None:
    api = world.crm.as_user(user.id, tenant=world.tenant)
    for kind, service_name in SERVICES.items():
        expected = {r.id for k, r in world.records if k == kind and world.may(user, k, r, "view")}
        service = getattr(api, service_name)
        listed = {r.id for r in service.list(limit=1000)}
        assert listed == expected, (user.name, kind)
        assert service.count() == len(expected)
        for k, record in world.records:
            if k != kind:
                continue
            if record.id in expected:
                assert service.get(record.id).id == record.id
            else:
                with pytest.raises(pycrm.NotFound):
                    service.get(record.id)
    open_deals = [r for k, r in world.records if k == "opportunity" and r.id in
                  {d.id for d in api.opportunities.list(limit=1000)}]  # fmt: skip
    assert api.reports.weighted_pipeline(by=()).count == len(open_deals)


def _check_reach(world: World, user: pycrm.User) -> None:
    """For each action, the records the user's conditions reach, in one query per kind."""
    from pycrm.core.kinds import kind_of
    from pycrm.storage.base import Query

    with world.crm.unit_of_work(tenant=world.tenant, user=user.id) as uow:
        for action in ("edit", "delete"):
            scope = uow.access.scope(action)
            for kind in SERVICES:
                found = {r.id for r in uow.tx.find(kind_of(kind), scope, Query(deleted=None))}
                expected = {
                    r.id for k, r in world.records if k == kind and world.may(user, k, r, action)
                }
                assert found == expected, (user.name, kind, action)


def _check_write(world: World, user: pycrm.User, kind: str, record: Any, action: str) -> None:
    api = world.crm.as_user(user.id, tenant=world.tenant)
    service = getattr(api, SERVICES[kind])
    allowed = world.may(user, kind, record, action)
    seen = world.may(user, kind, record, "view")
    try:
        with world.crm.unit_of_work(tenant=world.tenant, user=user.id) as uow:
            mine = getattr(uow, SERVICES[kind])
            if action == "edit":
                mine.update(record.id, name=f"{record.name}!")
            else:
                mine.delete(record.id)
            uow.rollback()  # the probe changes nothing
    except pycrm.NotFound:
        assert not seen, (user.name, kind, action)
    except pycrm.PermissionDenied:
        assert seen and not allowed, (user.name, kind, action)
    else:
        assert allowed, (user.name, kind, action)
    del service


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(spec=worlds)
def test_what_each_user_reaches_is_what_the_oracle_says(
    make_crm: Any, backend_url: str, clock: pycrm.FixedClock, spec: dict[str, Any]
) -> None:
    clock.set(START)
    crm = make_crm(backend_url)
    world = World(crm, f"t-{uuid.uuid4().hex[:12]}", spec)
    for user in world.users:
        _check_views(world, user)
        _check_reach(world, user)
    for user_i, record_i, action in spec["probes"]:
        if user_i < len(world.users):
            kind, record = world.records[record_i % len(world.records)]
            _check_write(world, world.users[user_i], kind, record, action)
