"""The behavioural contract of a storage backend, as a pytest base class."""

# Test methods take pytest fixtures; their parameters are left unannotated like any test's.
# mypy: allow-untyped-defs

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from pycrm.core.audit import Change, ChangeAction, FieldChange
from pycrm.core.clock import FixedClock
from pycrm.core.money import Money
from pycrm.core.records import SYSTEM_USER, Record
from pycrm.core.snapshot import snapshot
from pycrm.crm import CRM
from pycrm.errors import ConflictError, NotFound, RuleViolation, ValidationError
from pycrm.services.base import RecordService
from pycrm.storage.base import Scope, StorageBackend
from pycrm.testing.parity import ParityContract
from pycrm.testing.pipeline_contract import PipelineContract
from pycrm.testing.receivables import ReceivablesContract
from pycrm.testing.samples import SAMPLES, Sample, make_world
from pycrm.testing.scopes import ScopeContract
from pycrm.testing.streams import StreamContract

__all__ = ["StorageContract"]

START = dt.datetime(2026, 1, 15, 9, 0, tzinfo=dt.UTC)
ACTOR = SYSTEM_USER  # the contract is about storage, not about rights
by_kind = pytest.mark.parametrize("sample", SAMPLES, ids=[s.kind for s in SAMPLES])


def _comparable(value: Any, skip: frozenset[str] = frozenset()) -> Any:
    """A plain value without the parts that differ between two creations (ids, times,
    and the ``skip`` fields), at every level."""
    if isinstance(value, dict):
        drop = _PER_RECORD | skip
        return {k: _comparable(v, skip) for k, v in value.items() if k not in drop}
    if isinstance(value, list):
        return [_comparable(v, skip) for v in value]
    return value


_PER_RECORD = frozenset({"id", "created_at", "updated_at", "path", "manager_path"})


def _service(uow: Any, sample: Sample) -> RecordService[Record]:
    service: RecordService[Record] = getattr(uow, sample.service)
    return service


class StorageContract(
    ReceivablesContract, PipelineContract, ScopeContract, StreamContract, ParityContract
):
    """Subclass it and override the ``backend`` fixture to run the whole contract."""

    @pytest.fixture
    def backend(self) -> StorageBackend:
        """The adapter under test: override this fixture to return a fresh backend."""
        raise NotImplementedError("override the `backend` fixture to return your backend")

    @pytest.fixture
    def clock(self) -> FixedClock:
        """The CRM's clock, standing still at a fixed start until a test moves it."""
        return FixedClock(START)

    @pytest.fixture
    def crm(self, backend: StorageBackend, clock: FixedClock) -> Iterator[CRM]:
        """A CRM on the backend, without plugins from installed packages; closed after."""
        crm = CRM(backend, clock=clock, load_entry_points=False)
        yield crm
        crm.close()

    @pytest.fixture
    def tenant(self) -> str:
        """A fresh tenant for each test."""
        # A fresh tenant per test lets every test share one database.
        return f"t-{uuid.uuid4().hex[:12]}"

    @pytest.fixture
    def world(self, crm: CRM, tenant: str) -> dict[str, Any]:
        """One record of each kind the samples refer to (see :func:`make_world`)."""
        with crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
            return make_world(uow)

    def create(self, crm: CRM, tenant: str, sample: Sample, world: dict[str, Any]) -> Record:
        """Create the sample's valid record in its own unit of work and return it."""
        with crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
            return _service(uow, sample)._create(sample.valid(world))

    # -- create and read -----------------------------------------------------------------
    @by_kind
    def test_create_then_get_returns_the_same_fields(
        self, crm: CRM, tenant: str, world: dict[str, Any], sample: Sample, clock: FixedClock
    ) -> None:
        created = self.create(crm, tenant, sample, world)
        with crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
            loaded = _service(uow, sample).get(created.id)
        assert loaded == created and loaded is not created
        for name, value in sample.valid(world).items():
            if not isinstance(value, list | str) or name in ("name", "subject"):
                assert getattr(loaded, name) == getattr(created, name)
        assert (loaded.version, loaded.created_at, loaded.created_by) == (1, START, ACTOR)
        assert loaded.created_at.tzinfo is not None
        assert loaded.tenant == tenant and not loaded.deleted

    @by_kind
    def test_stored_copy_is_independent_of_returned_object(
        self, crm: CRM, tenant: str, world: dict[str, Any], sample: Sample
    ) -> None:
        created = self.create(crm, tenant, sample, world)
        created.custom["scratch"] = "not saved"
        with crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
            assert "scratch" not in _service(uow, sample).get(created.id).custom

    # -- update --------------------------------------------------------------------------
    @by_kind
    def test_update_changes_fields_bumps_version_and_audits(
        self, crm: CRM, tenant: str, world: dict[str, Any], sample: Sample, clock: FixedClock
    ) -> None:
        created = self.create(crm, tenant, sample, world)
        clock.advance(hours=1)
        with crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
            updated = _service(uow, sample)._update(created.id, 1, sample.change)
        with crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
            loaded = _service(uow, sample).get(created.id)
            history = _service(uow, sample).history(created.id)
        assert loaded.version == updated.version == 2
        assert loaded.updated_at == START + dt.timedelta(hours=1)
        assert [c.action for c in history] == [ChangeAction.CREATE, ChangeAction.UPDATE]
        changed = {f.field for f in history[-1].fields}
        # Derived fields change with the fields they follow: an order's total, the time
        # an activity was done.
        assert changed and changed <= set(sample.change) | {"total", "done_at"}
        assert history[-1].user_id == ACTOR and history[-1].at == START + dt.timedelta(hours=1)

    @by_kind
    def test_stale_version_is_a_conflict_and_changes_nothing(
        self, crm: CRM, tenant: str, world: dict[str, Any], sample: Sample
    ) -> None:
        created = self.create(crm, tenant, sample, world)
        with crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
            _service(uow, sample)._update(created.id, 1, sample.change)
        with pytest.raises(ConflictError), crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
            _service(uow, sample)._update(created.id, 1, sample.change)
        with crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
            assert _service(uow, sample).get(created.id).version == 2

    @by_kind
    def test_backend_refuses_a_write_based_on_an_old_version(
        self, crm: CRM, tenant: str, world: dict[str, Any], sample: Sample
    ) -> None:
        created = self.create(crm, tenant, sample, world)
        with crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
            _service(uow, sample)._update(created.id, None, sample.change)
        tx = crm.storage.begin()
        try:
            with pytest.raises(ConflictError):
                tx.update(created, expected_version=1)
        finally:
            tx.rollback()

    # -- bad input -----------------------------------------------------------------------
    @by_kind
    def test_bad_input_names_every_bad_field_and_writes_nothing(
        self, crm: CRM, tenant: str, world: dict[str, Any], sample: Sample
    ) -> None:
        with crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
            before = _service(uow, sample).count(deleted=None)
        with (
            pytest.raises(ValidationError) as caught,
            crm.unit_of_work(tenant=tenant, user=ACTOR) as uow,
        ):
            _service(uow, sample)._create(sample.bad(world))
        reported = {path for path, _ in caught.value.errors}
        assert set(sample.bad_fields) <= reported, caught.value.errors
        assert all(reason for _, reason in caught.value.errors)
        with crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
            assert _service(uow, sample).count(deleted=None) == before

    @by_kind
    def test_unknown_field_is_rejected(
        self, crm: CRM, tenant: str, world: dict[str, Any], sample: Sample
    ) -> None:
        with (
            pytest.raises(ValidationError) as caught,
            crm.unit_of_work(tenant=tenant, user=ACTOR) as uow,
        ):
            _service(uow, sample)._create({**sample.valid(world), "nmae": "typo"})
        assert ("nmae", "unknown field") in caught.value.errors

    # -- delete and restore --------------------------------------------------------------
    @by_kind
    def test_soft_delete_hides_and_restore_brings_back(
        self, crm: CRM, tenant: str, world: dict[str, Any], sample: Sample
    ) -> None:
        created = self.create(crm, tenant, sample, world)
        with crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
            service = _service(uow, sample)
            service.delete(created.id)
            with pytest.raises(NotFound):
                service.get(created.id)
            assert created.id not in {r.id for r in service.list(limit=1000)}
            assert created.id in {r.id for r in service.list(deleted=True)}
            assert service.get(created.id, include_deleted=True).deleted
            service.restore(created.id)
            assert not service.get(created.id).deleted
            actions = [c.action for c in service.history(created.id)]
        assert actions == [ChangeAction.CREATE, ChangeAction.DELETE, ChangeAction.RESTORE]

    # -- tenants -------------------------------------------------------------------------
    @by_kind
    def test_another_tenant_sees_nothing(
        self, crm: CRM, tenant: str, world: dict[str, Any], sample: Sample
    ) -> None:
        created = self.create(crm, tenant, sample, world)
        with crm.unit_of_work(tenant=tenant + "-other", user=ACTOR) as uow:
            service = _service(uow, sample)
            with pytest.raises(NotFound):
                service.get(created.id)
            assert service.count(deleted=None) == 0
            assert len(service.list(deleted=None)) == 0
            with pytest.raises(NotFound):
                service.history(created.id)

    def test_references_never_cross_tenants(
        self, crm: CRM, tenant: str, world: dict[str, Any]
    ) -> None:
        with (
            pytest.raises(ValidationError) as caught,
            crm.unit_of_work(tenant=tenant + "-other", user=ACTOR) as uow,
        ):
            uow.contacts.create(customer_id=world["customer"].id, name="跨租户")
        assert [p for p, _ in caught.value.errors] == ["customer_id"]

    # -- transactions --------------------------------------------------------------------
    def test_an_exception_rolls_back_the_whole_unit_of_work(self, crm: CRM, tenant: str) -> None:
        class Boom(Exception):
            pass

        with pytest.raises(Boom), crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
            customer = uow.customers.create(name="半途而废")
            uow.contacts.create(customer_id=customer.id, name="某人")
            raise Boom
        with crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
            assert uow.customers.count(deleted=None) == 0
            assert uow.contacts.count(deleted=None) == 0
            with pytest.raises(NotFound):
                uow.customers.history(customer.id)

    def test_a_failed_call_inside_a_unit_of_work_leaves_nothing_behind(
        self, crm: CRM, tenant: str
    ) -> None:
        rows = [{"name": f"甲{i}"} for i in range(5)] + [{"name": ""}]
        with crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
            kept = uow.customers.create(name="保留")
            with pytest.raises(ValidationError):
                uow.customers._create_batch(uow, 0, rows[:5])  # a batch written...
                uow.customers.create(name="")  # ...then the call fails
            with pytest.raises(ValidationError):
                uow.customers.create_many(rows)
            after = uow.customers.create(name="之后")
        with crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
            names = {c.name for c in uow.customers.list(deleted=None)}
        assert names == {kept.name, after.name, "甲0", "甲1", "甲2", "甲3", "甲4"}

    def test_savepoint_undoes_only_its_own_block(self, crm: CRM, tenant: str) -> None:
        with crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
            first = uow.customers.create(name="之前")
            with pytest.raises(ZeroDivisionError), uow.tx.savepoint():
                uow.customers._create_batch(uow, 0, [{"name": "块内"}])
                raise ZeroDivisionError
            with uow.tx.savepoint():
                uow.customers._create_batch(uow, 0, [{"name": "保存"}])
        with crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
            names = {c.name for c in uow.customers.list(deleted=None)}
        assert names == {first.name, "保存"}

    def test_a_rule_violation_leaves_data_as_it_was(
        self, crm: CRM, tenant: str, world: dict[str, Any]
    ) -> None:
        plan = world["plan"]
        with pytest.raises(RuleViolation), crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
            uow.payments.create(
                plan_id=plan.id,
                installment_id=plan.installments[0].id,
                amount="1000.00 CNY",
                received_on=dt.date(2026, 1, 16),
            )
            uow.payments.create(
                plan_id=plan.id,
                installment_id=plan.installments[0].id,
                amount="600.00 CNY",
                received_on=dt.date(2026, 1, 17),
            )
        with crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
            stored = uow.payment_plans.get(plan.id)
            assert stored.installments[0].paid == Money("0.00", "CNY")
            assert uow.payments.count() == 0

    def test_payments_update_their_installment_and_deleting_takes_them_back(
        self, crm: CRM, tenant: str, world: dict[str, Any]
    ) -> None:
        plan = world["plan"]
        part = plan.installments[1].id
        with crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
            payment = uow.payments.create(
                plan_id=plan.id,
                installment_id=part,
                amount="400.00 CNY",
                received_on=dt.date(2026, 2, 20),
            )
            assert uow.payment_plans.get(plan.id).installments[1].paid == Money("400.00", "CNY")
            uow.payments.delete(payment.id)
            assert uow.payment_plans.get(plan.id).installments[1].paid == Money("0.00", "CNY")

    # -- lists ---------------------------------------------------------------------------
    @pytest.fixture
    def customers(self, crm: CRM, tenant: str) -> list[Record]:
        """Five customers with various levels, industries and regions, for the list tests."""
        rows: list[dict[str, Any]] = [
            {"name": "Alpha Media", "level": "A", "industry": "media", "region": "华北"},
            {"name": "北京阿尔法", "level": "B", "industry": "food"},
            {"name": "beta foods", "level": None, "industry": "food", "region": "华东"},
            {"name": "Gamma 100%_Ads", "level": "A", "industry": "advertising"},
            {"name": "Delta", "level": "C", "industry": None, "region": "华南"},
        ]
        with crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
            return list(uow.customers.create_many(rows))

    @pytest.mark.parametrize(
        ("where", "expected"),
        [
            ({"level": "A"}, {"Alpha Media", "Gamma 100%_Ads"}),
            ({"level__ne": "A"}, {"北京阿尔法", "beta foods", "Delta"}),
            ({"level__in": ["B", "C"]}, {"北京阿尔法", "Delta"}),
            ({"level__is_null": True}, {"beta foods"}),
            ({"name__contains": "ALPHA"}, {"Alpha Media"}),
            ({"name__contains": "阿尔法"}, {"北京阿尔法"}),
            ({"name__contains": "100%_"}, {"Gamma 100%_Ads"}),
            ({"name__contains": "%"}, {"Gamma 100%_Ads"}),
            ({"level__gte": "B"}, {"北京阿尔法", "Delta"}),
            ({"industry": "food", "region__is_null": False}, {"beta foods"}),
        ],
    )
    def test_filters(
        self,
        crm: CRM,
        tenant: str,
        customers: list[Record],
        where: dict[str, Any],
        expected: set[str],
    ) -> None:
        with crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
            assert {c.name for c in uow.customers.list(where)} == expected
            assert uow.customers.count(where) == len(expected)

    def test_money_and_date_filters(self, crm: CRM, tenant: str, world: dict[str, Any]) -> None:
        with crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
            cid = world["customer"].id
            for amount, close in [("100.00", 1), ("5000.00", 2), ("90000.00", 3)]:
                uow.opportunities.create(
                    customer_id=cid,
                    name=amount,
                    amount=Money(amount, "CNY"),
                    expected_close=dt.date(2026, close, 28),
                )
            uow.opportunities.create(customer_id=cid, name="usd", amount=Money("5000.00", "USD"))
            big = uow.opportunities.list({"amount__gte": Money("5000.00", "CNY")})
            assert {o.name for o in big} == {"5000.00", "90000.00"}
            early = uow.opportunities.list({"expected_close__lt": "2026-03-01"})
            assert {o.name for o in early} == {"100.00", "5000.00"}

    @pytest.mark.parametrize("order_by", ["level", "-level", ["industry", "-name"], "-created_at"])
    def test_keyset_pages_walk_the_whole_ordered_list(
        self, crm: CRM, tenant: str, customers: list[Record], order_by: str | list[str]
    ) -> None:
        with crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
            whole = [c.id for c in uow.customers.list(order_by=order_by, limit=100)]
            walked, cursor = [], None
            while True:
                page = uow.customers.list(order_by=order_by, limit=2, after=cursor)
                walked += [c.id for c in page]
                if page.next_cursor is None:
                    break
                cursor = page.next_cursor
        assert walked == whole and len(whole) == 5

    def test_empty_values_sort_first_ascending_and_last_descending(
        self, crm: CRM, tenant: str, customers: list[Record]
    ) -> None:
        with crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
            up = [c.level for c in uow.customers.list(order_by="level")]
            down = [c.level for c in uow.customers.list(order_by="-level")]
        assert up == [None, "A", "A", "B", "C"]
        assert down == ["C", "B", "A", "A", None]

    def test_bad_list_arguments_are_all_reported(self, crm: CRM, tenant: str) -> None:
        with (
            pytest.raises(ValidationError) as caught,
            crm.unit_of_work(tenant=tenant, user=ACTOR) as uow,
        ):
            uow.customers.list({"colour": "red", "level__near": "A"}, order_by="size", limit=0)
        paths = [p for p, _ in caught.value.errors]
        assert paths == ["where.colour", "where.level__near", "order_by", "limit"]

    def test_subtotals_count_and_total_per_group_and_currency(
        self, crm: CRM, tenant: str, world: dict[str, Any]
    ) -> None:
        rows = [
            ("qualification", "100.00", "CNY"),
            ("qualification", "50.50", "CNY"),
            ("qualification", "7.00", "USD"),
            ("proposal", "1000.00", "CNY"),
            ("proposal", None, None),
        ]
        with crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
            for stage, amount, currency in rows:
                uow.opportunities.create(
                    customer_id=world["customer"].id,
                    name=stage,
                    stage=stage,
                    amount=Money(amount, currency) if amount and currency else None,
                )
            found = uow.opportunities.subtotals(
                ["stage"], total="amount", where={"name__ne": "CRM 升级"}
            )
            by_customer = uow.opportunities.subtotals(["customer_id"])
        assert [(s.key["stage"], s.count, s.total) for s in found] == [
            ("proposal", 1, None),
            ("proposal", 1, Money("1000.00", "CNY")),
            ("qualification", 2, Money("150.50", "CNY")),
            ("qualification", 1, Money("7.00", "USD")),
        ]
        assert [(s.key, s.count) for s in by_customer] == [
            ({"customer_id": world["customer"].id}, 6)
        ]

    # -- bulk ----------------------------------------------------------------------------
    def test_bulk_create_writes_all_rows_across_batches(self, crm: CRM, tenant: str) -> None:
        rows = ({"name": f"客户 {i:05d}", "level": "ABC"[i % 3]} for i in range(4500))
        with crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
            created = uow.customers.create_many(rows)
        with crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
            assert uow.customers.count() == 4500 == len(created)
            assert uow.customers.count({"level": "B"}) == 1500
            assert len(uow.customers.history(created[4321].id)) == 1

    @by_kind
    def test_bulk_create_stores_and_audits_like_create(
        self, crm: CRM, tenant: str, world: dict[str, Any], sample: Sample
    ) -> None:
        one = self.create(crm, tenant, sample, world)
        with crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
            (bulk,) = _service(uow, sample).create_many([sample.valid_again(world)])
        with crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
            service = _service(uow, sample)
            stored = [
                _comparable(snapshot(service.get(r.id)), frozenset(sample.differs_in))
                for r in (one, bulk)
            ]
            audits = [service.history(r.id) for r in (one, bulk)]
        assert stored[0] == stored[1]
        skip = frozenset(sample.differs_in)
        for (change,) in audits:
            assert (change.action, change.version, change.user_id) == (
                ChangeAction.CREATE,
                1,
                ACTOR,
            )
            assert change.at == START
        fields = [
            {f.field: (f.old, _comparable(f.new, skip)) for f in a[0].fields if f.field not in skip}
            for a in audits
        ]
        assert fields[0] == fields[1] and "owner_id" in fields[0]

    def test_bulk_create_with_one_bad_row_writes_nothing(self, crm: CRM, tenant: str) -> None:
        rows = [{"name": f"客户 {i}"} for i in range(4500)]
        rows[4100] = {"name": ""}
        rows[4200] = {"name": "x", "source": "rumour"}
        with (
            pytest.raises(ValidationError) as caught,
            crm.unit_of_work(tenant=tenant, user=ACTOR) as uow,
        ):
            uow.customers.create_many(rows)
        assert [p for p, _ in caught.value.errors] == ["4100.name", "4200.source"]
        with crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
            assert uow.customers.count(deleted=None) == 0

    # -- ids -----------------------------------------------------------------------------
    def test_unknown_and_malformed_ids(self, crm: CRM, tenant: str) -> None:
        with crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
            with pytest.raises(NotFound):
                uow.customers.get(uuid.uuid4())
            with pytest.raises(ValidationError):
                uow.customers.get("42")
            with pytest.raises(NotFound):
                uow.customers.update(uuid.uuid4(), level="A")

    # -- custom fields -------------------------------------------------------------------------
    @pytest.fixture
    def custom(self, crm: CRM, tenant: str) -> dict[str, Record]:
        """Five customers with custom values of every comparable type (D and E have gaps)."""
        define = crm.fields.define
        define("customer", "tier", "integer", label="Tier")
        define("customer", "rate", "decimal", label="Rate")
        define("customer", "capital", "money", label="Registered capital")
        define("customer", "since", "date", label="Customer since")
        define("customer", "seen", "datetime", label="Last seen")
        define("customer", "vip", "boolean", label="VIP")
        define("customer", "segment", "choice", label="Segment", choices=["smb", "gov", "ent"])
        define("customer", "note", "text", label="Note")
        define("customer", "tags", "multi_choice", label="Tags", choices=["x", "y"])
        rows: list[dict[str, Any]] = [
            {"name": "A", "custom": {"tier": 3, "rate": "2.5", "capital": "100.00 CNY",
                                     "since": "2024-01-10", "seen": "2026-01-01T08:00:00+08:00",
                                     "vip": True, "segment": "smb", "note": "Likes 广告",
                                     "tags": ["x"]}},
            {"name": "B", "custom": {"tier": 1, "rate": "10.25", "capital": "2000.00 CNY",
                                     "since": "2023-12-31", "vip": False, "segment": "ent",
                                     "note": "needs follow-up"}},
            {"name": "C", "custom": {"tier": 5, "rate": "-1", "capital": "50.00 USD",
                                     "since": "2024-02-01", "seen": "2025-12-31T23:30:00+00:00",
                                     "vip": True, "segment": "gov"}},
            {"name": "D", "custom": {"rate": "0.75", "segment": "smb"}},
            {"name": "E", "custom": {"tier": 2, "capital": "999.99 CNY", "since": "2024-01-09",
                                     "vip": False}},
        ]  # fmt: skip
        with crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
            return {c.name: c for c in uow.customers.create_many(rows)}

    def test_custom_values_come_back_typed(self, crm, tenant, custom):
        with crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
            a = uow.customers.get(custom["A"].id)
            listed = uow.customers.list({"custom.tier": 3}).items[0]
        assert (
            a.custom
            == listed.custom
            == {
                "tier": 3,
                "rate": Decimal("2.5"),
                "capital": Money("100.00", "CNY"),
                "since": dt.date(2024, 1, 10),
                "seen": dt.datetime(2026, 1, 1, 0, 0, tzinfo=dt.UTC),
                "vip": True,
                "segment": "smb",
                "note": "Likes 广告",
                "tags": ("x",),
            }
        )
        assert custom["D"].custom == {"rate": Decimal("0.75"), "segment": "smb"}

    @pytest.mark.parametrize(
        ("where", "expected"),
        [
            ({"custom.tier__gte": 3}, "AC"),
            ({"custom.tier": "1"}, "B"),
            ({"custom.tier__ne": 3}, "BCDE"),
            ({"custom.tier__in": [1, 2]}, "BE"),
            ({"custom.tier__is_null": True}, "D"),
            ({"custom.rate__lt": "3"}, "ACD"),  # as numbers: "10.25" is not below "3"
            ({"custom.rate__gte": Decimal("10.25")}, "B"),
            ({"custom.capital__gte": "100.00 CNY"}, "ABE"),
            ({"custom.capital__lt": "60 USD"}, "C"),
            ({"custom.capital__ne": "100 CNY"}, "BCDE"),
            ({"custom.since__lt": "2024-01-10"}, "BE"),
            ({"custom.since__gte": dt.date(2024, 1, 10)}, "AC"),
            ({"custom.seen__gt": "2025-12-31T23:45:00+00:00"}, "A"),
            ({"custom.vip": True}, "AC"),
            ({"custom.vip": False}, "BE"),
            ({"custom.segment__in": ["smb", "gov"]}, "ACD"),
            ({"custom.note__contains": "广告"}, "A"),
            ({"custom.note__contains": "FOLLOW"}, "B"),
            ({"custom.tags__is_null": False}, "A"),
            ({"custom.tier__gt": 1, "custom.vip": False}, "E"),
        ],
    )
    def test_custom_field_filters(self, crm, tenant, custom, where, expected):
        with crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
            assert "".join(sorted(c.name for c in uow.customers.list(where))) == expected
            assert uow.customers.count(where) == len(expected)

    @pytest.mark.parametrize(
        ("order_by", "expected"),
        [
            ("custom.tier", "DBEAC"),
            ("-custom.tier", "CAEBD"),
            ("custom.rate", "ECDAB"),  # numeric order, empty first
            ("-custom.capital", "BEACD"),  # by amount, empty last
            ("custom.since", "DBEAC"),
            ("-custom.seen", "ACBDE"),  # ties (empty) by id, in creation order
            (["custom.segment", "-custom.tier"], "EBCAD"),
        ],
    )
    def test_custom_field_order_and_keyset_pages(self, crm, tenant, custom, order_by, expected):
        with crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
            whole = "".join(c.name for c in uow.customers.list(order_by=order_by))
            walked, cursor = "", None
            while True:
                page = uow.customers.list(order_by=order_by, limit=2, after=cursor)
                walked += "".join(c.name for c in page)
                if page.next_cursor is None:
                    break
                cursor = page.next_cursor
        assert whole == walked == expected

    def test_bad_custom_filters_are_reported(self, crm, tenant, custom):
        with (
            pytest.raises(ValidationError) as caught,
            crm.unit_of_work(tenant=tenant, user=ACTOR) as uow,
        ):
            uow.customers.list(
                {"custom.nope": 1, "custom.tier": "many", "custom.tags": "x"},
                order_by="custom.tags",
            )
        paths = [p for p, _ in caught.value.errors]
        assert paths == ["where.custom.nope", "where.custom.tier", "where.custom.tags", "order_by"]

    def test_custom_changes_are_audited_per_key(self, crm, tenant, custom, clock):
        clock.advance(minutes=5)
        with crm.unit_of_work(tenant=tenant, user=ACTOR) as uow:
            uow.customers.update(custom["B"].id, custom={"tier": 4, "note": None})
            history = uow.customers.history(custom["B"].id)
            stored = uow.customers.get(custom["B"].id).custom
        assert stored["tier"] == 4 and "note" not in stored and stored["rate"] == Decimal("10.25")
        created, updated = history
        capital = {"amount": "2000.00", "currency": "CNY"}
        assert FieldChange("custom.capital", None, capital) in created.fields
        assert {(f.field, f.old, f.new) for f in updated.fields} == {
            ("custom.tier", 1, 4),
            ("custom.note", "needs follow-up", None),
        }
        assert updated.at == START + dt.timedelta(minutes=5)

    # -- the audit trail, at the transaction level ------------------------------------------------
    def test_audit_records_are_kept_per_record_and_tenant_oldest_first(self, backend, tenant):
        record_id = uuid.uuid4()

        def change(version: int, tenant_: str, rid: uuid.UUID) -> Change:
            return Change(
                id=uuid.uuid4(),
                tenant=tenant_,
                entity="customer",
                record_id=rid,
                action=ChangeAction.CREATE if version == 1 else ChangeAction.UPDATE,
                user_id=ACTOR,
                at=START + dt.timedelta(minutes=version),
                version=version,
                fields=(FieldChange("custom.tier", version - 1 or None, version),),
            )

        tx = backend.begin()
        tx.record_changes([change(2, tenant, record_id), change(1, tenant, record_id)])
        tx.record_changes(
            [change(1, tenant + "-other", record_id), change(1, tenant, uuid.uuid4())]
        )
        tx.commit()
        tx = backend.begin()
        tx.record_changes([change(3, tenant, record_id)])
        tx.rollback()
        tx = backend.begin()
        try:
            found = tx.changes(Scope(tenant), "customer", record_id)
        finally:
            tx.rollback()
        assert [c.version for c in found] == [1, 2]
        assert found[1].fields == (FieldChange("custom.tier", 1, 2),)
        assert found[0].at == START + dt.timedelta(minutes=1) and found[0].user_id == ACTOR
