"""Recycle runs repeated with the same time, and pool set-ups copied between tenants."""

from __future__ import annotations

from collections.abc import Callable

import pycrm
from pycrm import SYSTEM_USER


def test_a_retried_run_with_the_same_time_leaves_a_claim_made_since_alone(
    backend_url: str, tenant: str, make_crm: Callable[..., pycrm.CRM], clock: pycrm.FixedClock
) -> None:
    crm = make_crm(backend_url)
    with crm.unit_of_work(tenant=tenant, user=SYSTEM_USER) as uow:
        rule = pycrm.RecycleRule(reason="no_follow_up", days=30)
        uow.configuration.set_pool(pycrm.Pool(key="east", name="East", recycle=[rule]))
        ann = uow.users.create(name="Ann").id
        bo = uow.users.create(name="Bo").id
        cold = uow.customers.create(name="Cold", owner_id=ann).id
    clock.advance(days=31)
    midnight = clock.now()
    system = crm.as_user(SYSTEM_USER, tenant=tenant)
    assert system.pools.recycle(now=midnight).recycled == {"east": 1}
    crm.as_user(bo, tenant=tenant).pools.claim(cold)
    assert system.pools.recycle(now=midnight).recycled == {"east": 0}
    back = system.customers.get(cold)
    assert (back.owner_id, back.pool) == (bo, None)
    # One recycle and the claim (at the same instant on a fixed clock): nothing more.
    assert sorted(m.action.value for m in system.pools.moves(cold)) == ["claim", "recycle"]


def test_an_export_with_assignment_to_a_pool_loads_into_another_tenant(
    crm: pycrm.CRM, tenant: str
) -> None:
    with crm.unit_of_work(tenant=tenant, user=SYSTEM_USER) as uow:
        uow.configuration.set_pool(pycrm.Pool(key="east", name="East"))
        rule = pycrm.AssignmentRule(entity="customer", when={"region": "east"}, pool="east")
        uow.configuration.set_assignment("customer", [rule])
        document = uow.configuration.export()
    with crm.unit_of_work(tenant=f"{tenant}-copy", user=SYSTEM_USER) as uow:
        assert uow.configuration.load(document) == 2
        new = uow.customers.create(name="New", region="east")
    assert (new.owner_id, new.pool) == (None, "east")
