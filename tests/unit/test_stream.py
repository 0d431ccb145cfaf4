"""``stream``: every record ``list`` would give, one by one, as the acting user may see it,
in one unit of work that never outlives the stream (memory backend; the storage contract
runs the same on every backend, and tests/integration/test_stream_databases.py checks the
databases' cursors)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import pycrm
from pycrm.services.catalogue import Services
from pycrm.storage.capabilities.streaming import PagedStreams, record_streams
from pycrm.storage.memory import MemoryBackend
from pycrm.testing import make_world


class Discreet:
    """An ``intern`` role that may not see customers' phone numbers."""

    name = "discreet"

    @pycrm.hookimpl
    def pycrm_register_roles(self) -> list[pycrm.RoleDefinition]:
        return [
            pycrm.RoleDefinition(
                key="intern",
                name="Intern",
                grants=(pycrm.Grant("*", "*", pycrm.DataScope.OWN),),
                fields=(pycrm.FieldRule("customer", "phone"),),
            )
        ]


@pytest.fixture
def org(clock: pycrm.FixedClock) -> Iterator[dict[str, Any]]:
    """North: director Bei, reps Ann and Al under her, intern Ian; South: rep Bo. Ann, Al
    and Bo own 12 customers each (levels A, B, C in turn, each with a phone and a contact),
    Ian owns 3."""
    crm = pycrm.CRM.connect("memory://", plugins=[Discreet()], clock=clock, load_entry_points=False)
    with crm.unit_of_work(tenant="t", user=pycrm.SYSTEM_USER) as uow:
        north = uow.departments.create(name="North")
        south = uow.departments.create(name="South")
        bei = uow.users.create(name="Bei", roles=["sales_director"], department_id=north.id)
        people = {
            "Bei": bei,
            "Ann": uow.users.create(name="Ann", department_id=north.id, manager_id=bei.id),
            "Al": uow.users.create(name="Al", department_id=north.id, manager_id=bei.id),
            "Bo": uow.users.create(name="Bo", department_id=south.id),
            "Ian": uow.users.create(name="Ian", roles=["intern"], department_id=north.id),
        }
        for who, count in (("Ann", 12), ("Al", 12), ("Bo", 12), ("Ian", 3)):
            for i in range(count):
                customer = uow.customers.create(
                    name=f"{who} {i:02d}", level="ABC"[i % 3], phone=f"139{i:08d}",
                    owner_id=people[who].id,
                )  # fmt: skip
                uow.contacts.create(customer_id=customer.id, name=f"{who} {i:02d} 联系人")
    yield {"crm": crm, **{name: user.id for name, user in people.items()}}
    crm.close()


def api(org: dict[str, Any], who: str) -> pycrm.Services:
    crm: pycrm.CRM = org["crm"]
    return crm.as_user(pycrm.SYSTEM_USER if who == "system" else org[who], tenant="t")


def walked(service: Any, where: Any = None, **options: Any) -> list[uuid.UUID]:
    """Ids of every record of ``service.list`` pages of 4, walked with ``after``."""
    ids, cursor = [], None
    while True:
        page = service.list(where, limit=4, after=cursor, **options)
        ids += [r.id for r in page]
        if page.next_cursor is None:
            return ids
        cursor = page.next_cursor


# -- what a stream gives -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("where", "order_by"),
    [
        (None, ()),
        ({"level": "A"}, "-name"),
        ({"level__in": ["B", "C"], "name__contains": "a"}, ["level", "-name"]),
        ({"name__contains": "nobody"}, "name"),
    ],
)
@pytest.mark.parametrize("batch_size", [1, 5, 1000])
def test_a_stream_gives_the_records_of_the_list_pages_in_their_order(
    org: dict[str, Any], where: Any, order_by: Any, batch_size: int
) -> None:
    customers = api(org, "system").customers
    streamed = [c.id for c in customers.stream(where, order_by=order_by, batch_size=batch_size)]
    assert streamed == walked(customers, where, order_by=order_by)


def test_a_stream_is_in_the_order_asked_for_and_filtered() -> None:
    crm = pycrm.CRM.connect("memory://", load_entry_points=False)
    acme = crm.as_user(pycrm.SYSTEM_USER, tenant="acme")
    acme.customers.import_many(
        {"name": f"客户 {i:03d}", "level": "ABC"[i % 3], "region": "华北" if i % 2 else None}
        for i in range(50)
    )
    names = [c.name for c in acme.customers.stream({"level": "A"}, order_by="-name", batch_size=7)]
    assert names == [f"客户 {i:03d}" for i in range(48, -1, -3)]
    regions = [c.region for c in acme.customers.stream(order_by="region", batch_size=7)]
    assert regions == [None] * 25 + ["华北"] * 25  # empty values first, as in a list
    crm.close()


def test_every_service_with_a_list_streams(crm: pycrm.CRM) -> None:
    with crm.unit_of_work(tenant="t", user=pycrm.SYSTEM_USER) as uow:
        make_world(uow)
        services = [n for n, s in vars(uow).items() if callable(getattr(s, "list", None))]
        assert len(services) == 13
        for name in services:
            service = getattr(uow, name)
            assert "batch_size" in inspect.signature(service.stream).parameters, name
            assert [r.id for r in service.stream(batch_size=2)] == walked(service), name


# -- what the acting user may see ----------------------------------------------------------
def test_a_rep_streams_only_what_they_may_see(org: dict[str, Any]) -> None:
    ann = api(org, "Ann")
    assert sorted(c.name for c in ann.customers.stream()) == [f"Ann {i:02d}" for i in range(12)]
    assert {c.name for c in ann.contacts.stream(batch_size=5)} == {
        f"Ann {i:02d} 联系人" for i in range(12)
    }  # contacts follow their customer
    assert [c.id for c in ann.customers.stream({"level": "A"}, batch_size=2)] == walked(
        ann.customers, {"level": "A"}
    )
    bei = {c.name.split()[0] for c in api(org, "Bei").customers.stream(batch_size=5)}
    assert bei == {"Ann", "Al", "Ian"}  # her department's, not the South's
    assert sum(1 for _ in api(org, "system").customers.stream()) == 39


def test_hidden_fields_are_empty_in_a_stream_and_cannot_be_filtered_or_ordered_by(
    org: dict[str, Any],
) -> None:
    ian = api(org, "Ian")
    streamed = list(ian.customers.stream(batch_size=2))
    assert [c.name for c in streamed] == ["Ian 00", "Ian 01", "Ian 02"]
    assert [c.phone for c in streamed] == [None, None, None]
    assert [c.phone for c in api(org, "system").customers.stream({"name__contains": "Ian"})] == [
        "13900000000",
        "13900000001",
        "13900000002",
    ]
    for where, order_by in (({"phone": "13900000000"}, ()), (None, "phone")):
        with pytest.raises(pycrm.PermissionDenied, match="phone"):
            ian.customers.stream(where, order_by=order_by)
    assert ian.customers.count() == 3  # the refused stream left nothing open


# -- its unit of work ----------------------------------------------------------------------
def test_closing_a_stream_early_ends_its_unit_of_work_in_this_thread(
    org: dict[str, Any],
) -> None:
    crm: pycrm.CRM = org["crm"]
    ann = api(org, "Ann")
    rows = ann.customers.stream(batch_size=2)
    first = next(rows)
    with pytest.raises(pycrm.StorageError, match="already open"):
        crm.unit_of_work(tenant="t", user=org["Ann"]).customers.count()
    rows.close()
    with crm.unit_of_work(tenant="t", user=org["Ann"]) as uow:  # opens, and may write
        uow.customers.update(first.id, level="VIP")
    assert list(rows) == []
    with ann.customers.stream(batch_size=2) as rows:
        for customer in rows:
            if customer.level == "VIP":
                break
    assert ann.customers.count({"level": "VIP"}) == 1
    with contextlib.closing(ann.customers.stream(batch_size=2)) as rows:
        next(rows)
    assert ann.customers.count() == 12


def test_an_error_in_the_loop_inside_with_ends_the_stream(org: dict[str, Any]) -> None:
    ann = api(org, "Ann")
    with pytest.raises(ZeroDivisionError), ann.customers.stream(batch_size=2) as rows:
        for _ in rows:
            1 / 0  # noqa: B018
    assert ann.customers.count() == 12


def test_a_dropped_stream_ends_its_unit_of_work(org: dict[str, Any]) -> None:
    ann = api(org, "Ann")
    next(ann.customers.stream(batch_size=2))  # never closed, never exhausted
    gc.collect()
    assert ann.customers.count() == 12
    storage = org["crm"].storage
    assert isinstance(storage, MemoryBackend) and storage._holder is None


def test_an_exhausted_stream_has_ended_its_unit_of_work(org: dict[str, Any]) -> None:
    ann = api(org, "Ann")
    rows = ann.customers.stream(batch_size=5)
    assert len(list(rows)) == 12
    assert ann.customers.count() == 12 and list(rows) == []


def test_a_stream_of_its_own_is_refused_inside_an_open_unit_of_work(org: dict[str, Any]) -> None:
    crm: pycrm.CRM = org["crm"]
    with crm.unit_of_work(tenant="t", user=org["Ann"]) as uow:
        assert uow.customers.count() == 12  # the unit of work is open in this thread now
        with pytest.raises(pycrm.StorageError, match="already open"):
            api(org, "Ann").customers.stream()
        assert sum(1 for _ in uow.customers.stream()) == 12  # the unit's own stream reads


def test_a_stream_inside_a_unit_of_work_sees_its_writes_and_can_write(org: dict[str, Any]) -> None:
    crm: pycrm.CRM = org["crm"]
    with crm.unit_of_work(tenant="t", user=org["Ann"]) as uow:
        uow.customers.create(name="Ann new", level="A")
        for customer in uow.customers.stream({"level": "A"}, batch_size=2):
            uow.tickets.create(customer_id=customer.id, subject=f"call {customer.name}")
        with pytest.raises(pycrm.NotFound):
            uow.customers.get(uuid.uuid4())  # a failed call inside the loop's unit of work
    assert api(org, "Ann").tickets.count() == 5


def test_a_failed_stream_rolls_back_only_itself() -> None:
    crm = pycrm.CRM.connect("memory://", load_entry_points=False)
    with crm.unit_of_work(tenant="t", user=pycrm.SYSTEM_USER) as uow:
        uow.customers.create(name="kept")
        with pytest.raises(pycrm.ValidationError):
            uow.customers.stream({"colour": "red"})
    assert crm.as_user(pycrm.SYSTEM_USER, tenant="t").customers.count() == 1
    crm.close()


# -- arguments -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("options", "paths"),
    [
        ({"batch_size": 0}, ["batch_size"]),
        ({"batch_size": 10_001}, ["batch_size"]),
        ({"batch_size": "many"}, ["batch_size"]),
        ({"order_by": "colour", "batch_size": -1}, ["order_by", "batch_size"]),
        ({"deleted": "maybe"}, ["deleted"]),
    ],
)
def test_bad_arguments_are_reported_at_the_call(crm: pycrm.CRM, options: Any, paths: Any) -> None:
    customers = crm.as_user(pycrm.SYSTEM_USER, tenant="t").customers
    with pytest.raises(pycrm.ValidationError) as caught:
        customers.stream(**options)
    assert [p for p, _ in caught.value.errors] == paths
    assert customers.count() == 0


# -- storage without the capability --------------------------------------------------------
class _Plain:
    """A transaction of the memory backend without its ``stream`` (a third-party
    adapter that implements only the record store)."""

    def __init__(self, tx: Any) -> None:
        self._tx = tx

    def __getattr__(self, name: str) -> Any:
        if name == "stream":
            raise AttributeError(name)
        return getattr(self._tx, name)


class _PlainBackend(MemoryBackend):
    def begin(self) -> Any:  # type: ignore[override]
        return _Plain(super().begin())


def test_a_store_without_streaming_streams_through_keyset_pages() -> None:
    crm = pycrm.CRM(_PlainBackend(), load_entry_points=False)
    acme = crm.as_user(pycrm.SYSTEM_USER, tenant="acme")
    acme.customers.import_many({"name": f"c{i:02d}", "level": "AB"[i % 2]} for i in range(11))
    with crm.unit_of_work(tenant="acme", user=pycrm.SYSTEM_USER) as uow:
        assert isinstance(record_streams(uow.tx), PagedStreams)
    tx = MemoryBackend().begin()
    assert not isinstance(record_streams(tx), PagedStreams)  # the memory backend's own
    tx.rollback()
    names = [c.name for c in acme.customers.stream({"level": "A"}, order_by="-name", batch_size=2)]
    assert names == [f"c{i:02d}" for i in range(10, -1, -2)]
    assert [c.id for c in acme.customers.stream(batch_size=3)] == walked(acme.customers)
    crm.close()


def test_services_without_a_unit_of_work_have_streams_too() -> None:
    assert all(
        callable(getattr(service, "stream", None))
        for service in vars(Services(lambda **_: None)).values()  # type: ignore[arg-type,return-value]
        if callable(getattr(service, "list", None))
    )


def test_async_code_streams_on_the_unit_of_works_thread(crm: pycrm.CRM) -> None:
    async def main() -> list[str]:
        acrm = pycrm.AsyncCRM(crm)
        with pytest.raises(AttributeError, match=r"uow\.run"):
            acrm.as_user(pycrm.SYSTEM_USER, tenant="t").customers.stream  # noqa: B018
        async with acrm.unit_of_work(user=pycrm.SYSTEM_USER, tenant="t") as uow:
            await uow.customers.create(name="ACME")
            assert "stream" not in dir(uow.customers) and "list" in dir(uow.customers)
            names = await uow.run(lambda u: [c.name for c in u.customers.stream()])
        await acrm.aclose()
        return names

    assert asyncio.run(main()) == ["ACME"]
