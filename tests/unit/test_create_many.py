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
