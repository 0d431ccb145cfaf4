"""The scope part of the storage contract: every read sees only what its scope allows,
and conditions (``AllOf``, ``AnyOf``, ``Related``) mean the same on every adapter.

Mixed into :class:`pycrm.testing.StorageContract`; it uses that class's ``crm`` and
``tenant`` fixtures.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from pycrm.core.activities import Activity, ActivityKind
from pycrm.core.customers import Customer
from pycrm.core.money import Money
from pycrm.core.records import SYSTEM_USER
from pycrm.crm import CRM
from pycrm.errors import ConflictError
from pycrm.storage.base import NOTHING, AllOf, AnyOf, Filter, Op, Query, Related, Scope
from pycrm.storage.capabilities.pipeline import pipeline_queries
from pycrm.storage.capabilities.receivables import receivables_queries

__all__ = ["ScopeContract"]


class ScopeContract:
    """What every backend does with scopes and conditions."""

    @pytest.fixture
    def org(self, crm: CRM, tenant: str) -> dict[str, Any]:
        """Two departments, a rep in each and one without, each owning a customer with an
        order, a plan and a deal; plus a customer nobody owns."""
        with crm.unit_of_work(tenant=tenant, user=SYSTEM_USER) as uow:
            north = uow.departments.create(name="North")
            south = uow.departments.create(name="South")
            reps = {
                "ann": uow.users.create(name="Ann", department_id=north.id),
                "bo": uow.users.create(name="Bo", department_id=south.id),
                "cy": uow.users.create(name="Cy"),
            }
            found: dict[str, Any] = {"north": north.id, "south": south.id}
            for name, rep in reps.items():
                found[name] = rep.id
                customer = uow.customers.create(name=f"{name}'s", owner_id=rep.id, level="A")
                found[f"{name}_customer"] = customer.id
                price = Money("100.00", "CNY")
                order = uow.orders.create(
                    customer_id=customer.id,
                    owner_id=rep.id,
                    currency="CNY",
                    lines=[{"description": "x", "quantity": 1, "unit_price": price}],
                )
                uow.payment_plans.plan_for_order(order.id, parts=1, first_due=dt.date(2026, 1, 1))
                uow.opportunities.create(
                    customer_id=customer.id, name=name, owner_id=rep.id, amount=price
                )
            found["nobody_customer"] = uow.customers.create(name="nobody's", owner_id=None).id
        return found

    def _read(self, crm: CRM, scope: Scope, *conditions: Any) -> dict[str, Any]:
        query = Query(filters=tuple(conditions))
        with crm.unit_of_work(tenant=scope.tenant, user=SYSTEM_USER) as uow:
            tx = uow.tx
            found = tx.find(Customer, scope, query)
            return {
                "find": sorted(c.name for c in found),
                "count": tx.count(Customer, scope, query),
                "group": [(g.key, g.count) for g in tx.group(Customer, scope, query, ("level",))],
            }

    def test_a_scope_limits_every_read_to_what_it_allows(
        self, crm: CRM, tenant: str, org: dict[str, Any]
    ) -> None:
        mine = Scope(tenant, {"customer": Filter("owner_id", Op.EQ, org["ann"])})
        assert self._read(crm, mine) == {
            "find": ["ann's"],
            "count": 1,
            "group": [(("A",), 1)],
        }
        with crm.unit_of_work(tenant=tenant, user=SYSTEM_USER) as uow:
            assert uow.tx.get(Customer, mine, org["bo_customer"]) is None
            assert uow.tx.get(Customer, mine, org["ann_customer"]) is not None
            assert uow.tx.get(Customer, Scope(f"{tenant}-x"), org["ann_customer"]) is None
        nothing = Scope(tenant, {"customer": NOTHING})
        assert self._read(crm, nothing) == {"find": [], "count": 0, "group": []}

    def test_conditions_combine_and_follow_related_records(
        self, crm: CRM, tenant: str, org: dict[str, Any]
    ) -> None:
        everything = Scope(tenant)
        north = Related("owner_id", "user", Filter("department_id", Op.EQ, org["north"]))
        departments = Related(
            "owner_id", "user", Filter("department_id", Op.IN, (org["north"], org["south"]))
        )
        unowned = Filter("owner_id", Op.IS_NULL, True)
        assert self._read(crm, everything, north)["find"] == ["ann's"]
        assert self._read(crm, everything, departments)["find"] == ["ann's", "bo's"]
        assert self._read(crm, everything, AnyOf((north, unowned)))["find"] == [
            "ann's",
            "nobody's",
        ]
        both = AllOf((departments, Filter("name", Op.NE, "ann's")))
        assert self._read(crm, everything, both)["find"] == ["bo's"]
        assert self._read(crm, everything, AnyOf(()))["count"] == 0
        assert self._read(crm, everything, AllOf(()))["count"] == 4
        # A related condition on the same kind: customers whose parent is ann's.
        with crm.unit_of_work(tenant=tenant, user=SYSTEM_USER) as uow:
            uow.customers.create(name="ann's branch", parent_id=org["ann_customer"])
        child = Related("parent_id", "customer", Filter("owner_id", Op.EQ, org["ann"]))
        assert self._read(crm, everything, child)["find"] == ["ann's branch"]

    def test_a_narrowed_scope_keeps_what_it_had(self, tenant: str, org: dict[str, Any]) -> None:
        base = Scope(tenant, {"customer": Filter("level", Op.EQ, "A")})
        narrowed = base.narrowed("customer", Filter("owner_id", Op.EQ, org["ann"]))
        assert narrowed.condition("customer") == AllOf(
            (Filter("level", Op.EQ, "A"), Filter("owner_id", Op.EQ, org["ann"]))
        )
        assert narrowed.condition("order") is None and base.narrowed("order") is base

    def test_capabilities_answer_within_the_scope(
        self, crm: CRM, tenant: str, org: dict[str, Any]
    ) -> None:
        south = Related("owner_id", "user", Filter("department_id", Op.EQ, org["south"]))
        scope = Scope(tenant, {"payment_plan": south, "opportunity": south, "order": south})
        with crm.unit_of_work(tenant=tenant, user=SYSTEM_USER) as uow:
            due = receivables_queries(uow.tx).open_installments(scope, due_from=None, due_to=None)
            aging = receivables_queries(uow.tx).aging_sums(scope, dt.date(2026, 1, 15), "owner")
            totals = pipeline_queries(uow.tx).opportunity_totals(scope, Query(), ["owner_id"])
        assert [row.owner_id for row in due] == [org["bo"]]
        assert [(row.key, row.minor) for row in aging] == [(org["bo"], 10_000)]
        assert [(t.keys, t.count) for t in totals] == [((org["bo"],), 1)]

    def test_the_store_holds_one_plan_per_order(
        self, crm: CRM, tenant: str, org: dict[str, Any]
    ) -> None:
        with crm.unit_of_work(tenant=tenant, user=SYSTEM_USER) as uow:
            [plan] = uow.payment_plans.list({"customer_id": org["ann_customer"]})
        twin = type(plan)(
            id=uuid.uuid4(),
            tenant=tenant,
            order_id=plan.order_id,
            customer_id=plan.customer_id,
            total=plan.total,
        )
        tx = crm.storage.begin()
        try:
            with pytest.raises(ConflictError):
                tx.insert([twin])
        finally:
            tx.rollback()
        with crm.unit_of_work(tenant=tenant, user=SYSTEM_USER) as uow:
            uow.payment_plans.delete(plan.id)  # a deleted plan makes room for a new one
            uow.tx.insert([twin])
            with pytest.raises(ConflictError):
                uow.payment_plans.restore(plan.id)

    def test_the_store_holds_one_dunning_task_per_installment_and_date(
        self, crm: CRM, tenant: str, org: dict[str, Any]
    ) -> None:
        with crm.unit_of_work(tenant=tenant, user=SYSTEM_USER) as uow:
            [plan] = uow.payment_plans.list({"customer_id": org["ann_customer"]})
        part, due = plan.installments[0].id, dt.date(2026, 2, 1)

        def task(on: dt.date, installment: uuid.UUID | None = part) -> Activity:
            return Activity(
                id=uuid.uuid4(),
                tenant=tenant,
                type=ActivityKind.TASK,
                subject="dunning",
                dunning_installment_id=installment,
                dunning_due_on=on,
            )

        with crm.unit_of_work(tenant=tenant, user=SYSTEM_USER) as uow:
            uow.tx.insert([task(due), task(due + dt.timedelta(days=1)), task(due, None)])
            uow.tx.insert([task(due, None)])  # an empty field exempts a record, as in SQL
        tx = crm.storage.begin()
        try:
            with pytest.raises(ConflictError):
                tx.insert([task(due)])
        finally:
            tx.rollback()
