"""The streaming part of the storage contract: ``stream`` gives the records list pages
give, in the same order, with their children and typed values, and it never leaves a
unit of work open behind it.

Mixed into :class:`pycrm.testing.StorageContract`; it uses that class's ``crm`` and
``tenant`` fixtures. An adapter without the streaming capability
(:mod:`pycrm.storage.capabilities.streaming`) passes through its fallback.
"""

from __future__ import annotations

import datetime as dt
import gc
import uuid
from decimal import Decimal
from typing import Any

import attrs
import pytest

from pycrm.core.customers import Customer
from pycrm.core.money import Money
from pycrm.core.records import SYSTEM_USER
from pycrm.core.snapshot import snapshot
from pycrm.crm import CRM
from pycrm.errors import StorageError, ValidationError
from pycrm.storage.base import Filter, Op, Query, Scope
from pycrm.storage.capabilities.streaming import record_streams

__all__ = ["StreamContract"]

#: Filters and orders a stream is compared with list pages under.
CASES = [
    ({}, ()),
    ({}, "level"),
    ({"level__in": ["A", "B"]}, ["-region", "name"]),
    ({"region__is_null": True}, "-created_at"),
    ({"name__contains": "北京"}, "-level"),
    ({}, "custom.rate"),
    ({"custom.rate__gte": "1"}, "-custom.rate"),
]


def _walked(api: Any, where: Any, order_by: Any, **options: Any) -> list[uuid.UUID]:
    """The ids of every record of ``customers.list`` pages of 5, walked with ``after``."""
    ids, cursor = [], None
    while True:
        page = api.customers.list(where, order_by=order_by, limit=5, after=cursor, **options)
        ids += [c.id for c in page]
        if page.next_cursor is None:
            return ids
        cursor = page.next_cursor


class StreamContract:
    """What every backend streams."""

    @pytest.fixture
    def stream_customers(self, crm: CRM, tenant: str) -> list[Customer]:
        """23 customers with repeated and empty levels and regions, a custom ``rate`` on
        most; the last two are deleted."""
        crm.fields.define("customer", "rate", "decimal", label="Rate")
        rows: list[dict[str, Any]] = [
            {
                "name": f"{'北京' if i % 4 == 0 else '上海'}客户 {i:02d}",
                "level": [None, "A", "B", "C", "A"][i % 5],
                "region": [None, "华北", "华东"][i % 3],
                "custom": {} if i % 6 == 0 else {"rate": str(Decimal(i % 7) / 2)},
            }
            for i in range(23)
        ]
        with crm.unit_of_work(tenant=tenant, user=SYSTEM_USER) as uow:
            made = uow.customers.create_many(rows)
            for customer in made[-2:]:
                uow.customers.delete(customer.id)
        return made

    @pytest.mark.parametrize(("where", "order_by"), CASES)
    def test_a_stream_gives_what_list_pages_give_in_the_same_order(
        self, crm: CRM, tenant: str, stream_customers: Any, where: Any, order_by: Any
    ) -> None:
        api = crm.as_user(SYSTEM_USER, tenant=tenant)
        expected = _walked(api, where, order_by)
        assert expected, "the case should find some records"
        for batch_size in (1, 4, 1000):
            streamed = [
                c.id for c in api.customers.stream(where, order_by=order_by, batch_size=batch_size)
            ]
            assert streamed == expected, batch_size

    @pytest.mark.parametrize("deleted", [True, None])
    def test_a_stream_finds_deleted_records_as_list_does(
        self, crm: CRM, tenant: str, stream_customers: Any, deleted: Any
    ) -> None:
        api = crm.as_user(SYSTEM_USER, tenant=tenant)
        streamed = [
            c.id for c in api.customers.stream(order_by="name", deleted=deleted, batch_size=3)
        ]
        assert streamed == _walked(api, None, "name", deleted=deleted)
        assert len(streamed) == (2 if deleted else 23)

    def test_the_store_streams_batches_in_the_order_find_gives(
        self, crm: CRM, tenant: str, stream_customers: Any
    ) -> None:
        scope = Scope(tenant, {"customer": Filter("level", Op.IN, ("A", "B"))})
        query = Query(order=(("region", True), ("name", False)), deleted=None)
        with crm.unit_of_work(tenant=tenant, user=SYSTEM_USER) as uow:
            tx = uow.tx
            whole = tx.find(Customer, scope, query)
            batches = list(record_streams(tx).stream(Customer, scope, query, 3))
            last = whole[4]
            after = attrs.evolve(query, after=(last.region, last.name, last.id))
            rest = [c for b in record_streams(tx).stream(Customer, scope, after, 3) for c in b]
        assert [len(b) for b in batches] == [3] * (len(whole) // 3) + (
            [len(whole) % 3] if len(whole) % 3 else []
        )
        assert [c.id for b in batches for c in b] == [c.id for c in whole]
        assert [c.id for c in rest] == [c.id for c in whole[5:]]
        assert len(whole) == 14 and {c.level for c in whole} == {"A", "B"}

    def test_streamed_records_come_with_their_children_and_typed_values(
        self, crm: CRM, tenant: str, stream_customers: Any
    ) -> None:
        api = crm.as_user(SYSTEM_USER, tenant=tenant)
        buyer = stream_customers[1]
        for n in range(1, 6):
            price = Money(f"{n}.50", "CNY")
            lines: list[Any] = [
                {"description": f"第 {i} 项", "quantity": i, "unit_price": price}
                for i in range(1, n + 1)
            ]
            order = api.orders.create(customer_id=buyer.id, currency="CNY", lines=lines)
            api.payment_plans.plan_for_order(order.id, parts=n, first_due=dt.date(2026, 2, 1))
        for service in ("orders", "payment_plans", "customers"):
            streamed = list(getattr(api, service).stream(batch_size=2))
            got = [getattr(api, service).get(r.id) for r in streamed]
            assert [snapshot(r) for r in streamed] == [snapshot(r) for r in got], service
        orders = list(api.orders.stream(order_by="total", batch_size=2))
        assert [len(o.lines) for o in orders] == [1, 2, 3, 4, 5]
        assert orders[-1].total == Money("82.50", "CNY")
        rates = {c.name: c.custom.get("rate") for c in api.customers.stream()}
        assert rates["上海客户 01"] == Decimal("0.5") and rates["北京客户 00"] is None

    def test_a_stream_of_its_own_ends_its_unit_of_work_when_exhausted_closed_or_dropped(
        self, crm: CRM, tenant: str, stream_customers: Any
    ) -> None:
        api = crm.as_user(SYSTEM_USER, tenant=tenant)
        assert sum(1 for _ in api.customers.stream(batch_size=5)) == 21
        assert api.customers.count() == 21  # exhausted: a new unit of work opens
        rows = api.customers.stream(batch_size=2)
        next(rows)
        with pytest.raises(StorageError, match="already open"):
            api.customers.count()  # the stream's unit of work is still open in this thread
        rows.close()
        assert list(rows) == []
        assert api.customers.count() == 21  # closed early
        with api.customers.stream(batch_size=2) as rows:
            next(rows)
        assert api.customers.count() == 21  # left the block early
        rows = api.customers.stream(batch_size=2)
        next(rows)
        del rows
        gc.collect()
        assert api.customers.count() == 21  # dropped unfinished

    def test_a_stream_inside_a_unit_of_work_reads_in_it(
        self, crm: CRM, tenant: str, stream_customers: Any
    ) -> None:
        with crm.unit_of_work(tenant=tenant, user=SYSTEM_USER) as uow:
            new = uow.customers.create(name="北京新客户", level="A")
            streamed = []
            for customer in uow.customers.stream({"level": "A"}, batch_size=2):
                streamed.append(customer.id)
                uow.contacts.create(customer_id=customer.id, name=f"{customer.name} 联系人")
            assert new.id in streamed and len(streamed) == 9
            rows = uow.customers.stream(batch_size=2)
            next(rows)  # left open: the unit of work still commits
            assert uow.contacts.count() == 9
        api = crm.as_user(SYSTEM_USER, tenant=tenant)
        assert api.contacts.count() == 9 and api.customers.count({"level": "A"}) == 9
        with pytest.raises(StorageError, match="ended"):
            list(rows)  # its unit of work has ended

    def test_bad_stream_arguments_are_all_reported_at_the_call(self, crm: CRM, tenant: str) -> None:
        api = crm.as_user(SYSTEM_USER, tenant=tenant)
        with pytest.raises(ValidationError) as caught:
            api.customers.stream(
                {"colour": "red", "level__near": "A"}, order_by="size", batch_size=0
            )
        paths = [p for p, _ in caught.value.errors]
        assert paths == ["where.colour", "where.level__near", "order_by", "batch_size"]
        assert api.customers.count() == 0  # nothing was left open
