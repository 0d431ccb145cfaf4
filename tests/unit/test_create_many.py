"""create_many on the memory backend: the collector is paused per batch, never left off."""

from __future__ import annotations

import gc
import uuid
from collections.abc import Iterator

import pytest

import pycrm


def _rows(count: int) -> Iterator[dict[str, object]]:
    for i in range(count):
        # The collector is back on whenever the caller's iterator is asked for a row.
        assert gc.isenabled()
        yield {"name": f"客户 {i}", "level": "AB"[i % 2]}


def test_collector_is_back_on_after_the_batches(crm: pycrm.CRM, admin: uuid.UUID) -> None:
    with crm.unit_of_work(user=admin) as uow:
        created = uow.customers.create_many(_rows(4500))
    assert gc.isenabled() and len(created) == 4500


def test_collector_is_back_on_after_a_bad_batch(crm: pycrm.CRM, admin: uuid.UUID) -> None:
    with pytest.raises(pycrm.ValidationError), crm.unit_of_work(user=admin) as uow:
        uow.customers.create_many([{"name": "好"}, {"name": ""}])
    assert gc.isenabled()


def test_collector_the_host_turned_off_stays_off(crm: pycrm.CRM, admin: uuid.UUID) -> None:
    gc.disable()
    try:
        with crm.unit_of_work(user=admin) as uow:
            uow.customers.create_many([{"name": "好"}])
        assert not gc.isenabled()
    finally:
        gc.enable()


# -- the audit of a bulk create ------------------------------------------------------------


def test_bulk_creates_are_audited_as_single_creates_are(crm: pycrm.CRM, admin: uuid.UUID) -> None:
    """The create change of a record made by create_many lists what a single create's
    lists (custom values included), whether the store keeps a batch in one piece or not."""
    crm.fields.define("customer", "tier", "integer", label="Tier")
    crm.fields.define("customer", "budget", "money", label="Budget")
    row = {
        "name": "北京联成",
        "level": "A",
        "tags": ["重点客户"],
        "custom": {"tier": 0, "budget": {"amount": "12.50", "currency": "CNY"}},
    }
    with crm.unit_of_work(user=admin, tenant="t") as uow:
        one = uow.customers.create(**row)
        bulk = uow.customers.create_many([row, {"name": "空"}, row])
        histories = [uow.customers.history(r.id) for r in (one, *bulk)]
    fields = [[(f.field, f.old, f.new) for f in h[0].fields] for h in histories]
    assert fields[1] == fields[0] == fields[3]
    assert ("custom.tier", None, 0) in fields[1]
    assert [f for f, _, _ in fields[2]] == ["owner_id", "name", "type", "status"]
    changes = [h[0] for h in histories]
    assert len({c.id for c in changes}) == 4 and all(len(h) == 1 for h in histories)
    assert [c.record_id for c in changes] == [r.id for r in (one, *bulk)]


def test_events_of_a_bulk_create_carry_each_record_s_fields(clock: pycrm.FixedClock) -> None:
    seen: list[pycrm.Event] = []

    class Listener:
        @pycrm.hookimpl
        def pycrm_on_event(self, event: pycrm.Event, crm: object) -> None:
            seen.append(event)

    crm = pycrm.CRM.connect("memory://", clock=clock, plugins=[Listener()], load_entry_points=False)
    with crm.unit_of_work(user=pycrm.SYSTEM_USER, tenant="t") as uow:
        created = uow.customers.create_many([{"name": "甲"}, {"name": "乙", "level": "B"}])
    assert [e.record_id for e in seen] == [c.id for c in created]
    assert [e.changes["name"] for e in seen] == [(None, "甲"), (None, "乙")]
    assert "level" not in seen[0].changes and seen[1].changes["level"] == (None, "B")
    crm.close()
