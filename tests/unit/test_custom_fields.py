"""Custom fields: definitions, validation, typed values, plugins and the stored-value check."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import pycrm
from pycrm.core.fields import FieldRegistry, StorageType, comparable


def define(crm: pycrm.CRM, key: str, type_: str, **options: Any) -> pycrm.FieldDefinition:
    return crm.fields.define("customer", key, type_, label=options.pop("label", key), **options)


# -- definitions ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"entity": "planet"}, "unknown entity kind"),
        ({"key": "Tier"}, "lower-case"),
        ({"key": "custom.tier"}, "lower-case"),
        ({"type": "choice"}, "choices"),
        ({"choices": ["a"]}, "choices"),
        ({"type": "reference"}, "target"),
        ({"type": "reference", "target": "planet"}, "unknown target"),
        ({"pattern": "("}, "bad pattern"),
        ({"default": "many"}, "bad default"),
        ({"minimum": "low"}, "bad bound"),
        ({"label": ""}, "label"),
        ({"type": "colour"}, "colour"),
    ],
)
def test_bad_definitions_are_configuration_errors(options, message):
    values = {"entity": "customer", "key": "tier", "type": "integer", "label": "Tier", **options}
    with pytest.raises((pycrm.ConfigurationError, ValueError), match=message):
        pycrm.FieldDefinition(**values)


def test_labels_are_translatable_with_fallbacks():
    tier = pycrm.FieldDefinition(
        entity="customer", key="tier", type="integer", label={"en": "Tier", "zh": "等级"}
    )
    assert tier.label_for("zh_CN") == "等级"
    assert tier.label_for("en_US") == "Tier"
    assert tier.label_for("ja_JP") == "Tier"
    assert tier.path == "custom.tier" and tier.storage is StorageType.INTEGER


@pytest.mark.parametrize(
    ("type_", "options", "good", "typed", "bad"),
    [
        ("text", {"maximum": 5}, " 广告 ", "广告", ["toolong", 3, ""]),
        ("text", {"pattern": r"[A-Z]{2}\d+"}, "CN123", "CN123", ["cn123"]),
        ("integer", {"minimum": 1, "maximum": 5}, "3", 3, [0, 6, 2.0, True, "3.5"]),
        ("decimal", {"minimum": 0}, "12.50", Decimal("12.50"), [1.5, "-1", "NaN", "x"]),
        ("money", {"maximum": 100}, {"amount": "99.5", "currency": "CNY"},
         pycrm.Money("99.50", "CNY"), ["101 CNY", "1 XYZ", 5, {"amount": 1.5, "currency": "CNY"}]),
        ("date", {"minimum": "2020-01-01"}, "2024-02-29", dt.date(2024, 2, 29),
         ["2019-12-31", "2023-02-29", dt.datetime(2024, 1, 1, tzinfo=dt.UTC)]),
        ("datetime", {}, "2026-01-01T08:00:00+08:00", dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
         ["2026-01-01T08:00:00", "soon"]),
        ("boolean", {}, False, False, ["yes", 1]),
        ("choice", {"choices": ["a", "b"]}, "b", "b", ["c", None]),
        ("multi_choice", {"choices": ["a", "b"]}, ["b", "a", "b"], ("b", "a"), ["a", ["c"]]),
        ("email", {}, "li@example.cn", "li@example.cn", ["li@", "li example.cn"]),
        ("phone", {}, "+86 10 1234-5678", "+86 10 1234-5678", ["call me", "1"]),
        ("url", {}, "https://example.cn/x", "https://example.cn/x", ["example.cn", "ftp://x"]),
    ],
)  # fmt: skip
def test_each_type_accepts_and_rejects(type_, options, good, typed, bad):
    definition = pycrm.FieldDefinition(entity="customer", key="f", type=type_, label="F", **options)
    assert definition.check(good) == typed
    assert definition.parse(definition.dump(typed)) == typed
    for value in bad:
        with pytest.raises(ValueError):
            definition.check(value)


#: The largest decimal with 4 places a custom field takes (15 digits in all).
_LARGEST = Decimal("99999999999.9999")


@given(st.decimals(min_value=-_LARGEST, max_value=_LARGEST, places=4))
def test_decimal_values_survive_storage_exactly(value):
    rate = pycrm.FieldDefinition(entity="customer", key="rate", type="decimal", label="Rate")
    stored = rate.dump(rate.check(value))
    assert isinstance(stored, str)
    assert rate.parse(stored) == value and comparable(StorageType.DECIMAL, stored) == value


@given(st.datetimes(timezones=st.just(dt.UTC)), st.datetimes(timezones=st.just(dt.UTC)))
def test_stored_datetimes_compare_as_text_in_time_order(a, b):
    seen = pycrm.FieldDefinition(entity="customer", key="seen", type="datetime", label="Seen")
    assert (seen.dump(a) < seen.dump(b)) == (a < b)


@given(st.dates(), st.dates())
def test_stored_dates_compare_as_text_in_time_order(a, b):
    since = pycrm.FieldDefinition(entity="customer", key="since", type="date", label="Since")
    assert (since.dump(a) < since.dump(b)) == (a < b)


# -- writing records ------------------------------------------------------------------------


def test_every_problem_is_reported_together_and_nothing_is_written(crm, admin):
    define(crm, "tier", "integer", maximum=5, required=True)
    define(crm, "tax_id", "text", required=True)
    with pytest.raises(pycrm.ValidationError) as caught, crm.unit_of_work(user=admin) as uow:
        uow.customers.create(name="", source="rumour", custom={"tier": 9, "colour": "red"})
    assert [p for p, _ in caught.value.errors] == [
        "name",
        "source",
        "custom.tier",
        "custom.colour",
        "custom.tax_id",
    ]
    with crm.unit_of_work(user=admin) as uow:
        assert uow.customers.count(deleted=None) == 0


def test_defaults_fill_new_records_only(crm, admin):
    define(crm, "vip", "boolean", default=False)
    with crm.unit_of_work(user=admin) as uow:
        plain = uow.customers.create(name="ACME")
        chosen = uow.customers.create(name="Beta", custom={"vip": True})
        assert plain.custom == {"vip": False} and chosen.custom == {"vip": True}
        updated = uow.customers.update(chosen.id, custom={"vip": None})
    assert updated.custom == {}


def test_update_merges_keys_and_refuses_to_clear_a_required_field(crm, admin):
    define(crm, "tier", "integer", required=True)
    define(crm, "note", "text")
    with crm.unit_of_work(user=admin) as uow:
        acme = uow.customers.create(name="ACME", custom={"tier": 1, "note": "hi"})
        assert uow.customers.update(acme.id, custom={"tier": 2}).custom == {"tier": 2, "note": "hi"}
        assert uow.customers.update(acme.id, level="A").custom == {"tier": 2, "note": "hi"}
        with pytest.raises(pycrm.ValidationError) as caught:
            uow.customers.update(acme.id, custom={"tier": None})
    assert caught.value.errors == [("custom.tier", "is required")]


def test_custom_must_be_a_mapping(crm, admin):
    with pytest.raises(pycrm.ValidationError) as caught, crm.unit_of_work(user=admin) as uow:
        uow.customers.create(name="ACME", custom=["tier"])  # type: ignore[typeddict-item]
    assert [p for p, _ in caught.value.errors] == ["custom"]


def test_bulk_rows_name_their_custom_errors_by_position(crm, admin):
    define(crm, "tier", "integer")
    rows = [{"name": f"c{i}", "custom": {"tier": i}} for i in range(5)]
    rows[1]["custom"] = {"tier": "one"}
    rows[3] = {"name": "", "custom": {"tier": 3}}
    with pytest.raises(pycrm.ValidationError) as caught, crm.unit_of_work(user=admin) as uow:
        uow.customers.create_many(rows)
    assert [p for p, _ in caught.value.errors] == ["1.custom.tier", "3.name"]


def test_references_must_exist_in_the_same_tenant(crm, admin):
    crm.fields.define("contact", "assistant", "reference", label="Assistant", target="contact")
    with crm.unit_of_work(user=admin) as uow:
        acme = uow.customers.create(name="ACME")
        wang = uow.contacts.create(customer_id=acme.id, name="王")
        li = uow.contacts.create(customer_id=acme.id, name="李", custom={"assistant": str(wang.id)})
        assert li.custom == {"assistant": wang.id}
        assert uow.contacts.list({"custom.assistant": wang.id}).items == [li]
        with pytest.raises(pycrm.ValidationError) as caught:
            uow.contacts.create(customer_id=acme.id, name="赵", custom={"assistant": uuid.uuid4()})
    assert [p for p, _ in caught.value.errors] == ["custom.assistant"]
    with pytest.raises(pycrm.ValidationError), crm.unit_of_work(tenant="other", user=admin) as uow:
        other = uow.customers.create(name="Other")
        uow.contacts.create(customer_id=other.id, name="X", custom={"assistant": wang.id})


def test_custom_changes_reach_events_per_key(clock, admin):
    seen: list[pycrm.Event] = []
    plugin = SimpleNamespace(
        name="recorder", pycrm_on_event=pycrm.hookimpl(lambda event: seen.append(event))
    )
    crm = pycrm.CRM("memory://", clock=clock, plugins=[plugin], load_entry_points=False)
    define(crm, "tier", "integer")
    with crm.unit_of_work(user=admin) as uow:
        acme = uow.customers.create(name="ACME", custom={"tier": 1})
        uow.customers.update(acme.id, custom={"tier": 2})
    assert seen[-1].changes == {"custom.tier": (1, 2)}


# -- changing definitions never destroys values ---------------------------------------------


def test_removing_or_narrowing_a_definition_keeps_values_and_check_lists_them(crm, admin):
    define(crm, "tier", "integer")
    define(crm, "rate", "decimal")
    with crm.unit_of_work(user=admin) as uow:
        low = uow.customers.create(name="Low", custom={"tier": 1, "rate": "0.5"})
        high = uow.customers.create(name="High", custom={"tier": 5})
        uow.customers.delete(high.id)
    assert crm.fields.check("customer") == []
    define(crm, "tier", "integer", maximum=3)
    crm.fields.remove("customer", "rate")
    define(crm, "tax_id", "text", required=True)
    problems = crm.fields.check("customer")
    assert {(p.record_id, p.path, p.value, p.reason) for p in problems} == {
        (high.id, "custom.tier", 5, "must be at most 3"),
        (low.id, "custom.rate", "0.5", "no custom field has this key any more"),
        (low.id, "custom.tax_id", None, "is required"),
        (high.id, "custom.tax_id", None, "is required"),
    }
    with crm.unit_of_work(user=admin) as uow:
        assert uow.customers.get(low.id).custom == {"tier": 1, "rate": "0.5"}
        assert uow.customers.get(high.id, include_deleted=True).custom == {"tier": 5}
    with pytest.raises(LookupError):
        crm.fields.remove("customer", "rate")


def test_check_reads_every_record_in_batches(crm, admin):
    define(crm, "tier", "integer")
    rows = [{"name": f"c{i}", "custom": {"tier": i}} for i in range(2500)]
    with crm.unit_of_work(user=admin) as uow:
        uow.customers.create_many(rows)
    define(crm, "tier", "integer", minimum=2400)
    assert len(crm.fields.check("customer")) == 2400


# -- plugins --------------------------------------------------------------------------------


class FieldsPlugin:
    def __init__(self, name: str, *definitions: Any) -> None:
        self.name, self.definitions = name, definitions

    @pycrm.hookimpl
    def pycrm_register_fields(self):
        return list(self.definitions)


TAX_ID = pycrm.FieldDefinition(entity="customer", key="tax_id", type="text", label="税号")


def test_plugins_register_fields_and_the_host_can_add_more():
    crm = pycrm.CRM("memory://", plugins=[FieldsPlugin("tax", TAX_ID)], load_entry_points=False)
    crm.fields.define("order", "po_number", "text", label="PO")
    assert [(d.entity, d.key) for d in crm.fields] == [
        ("customer", "tax_id"),
        ("order", "po_number"),
    ]
    assert crm.fields.get("customer", "tax_id") is TAX_ID


@pytest.mark.parametrize(
    ("plugins", "message"),
    [
        ([FieldsPlugin("a", TAX_ID), FieldsPlugin("b", TAX_ID)], "'a' and 'b' both define"),
        ([FieldsPlugin("odd", {"key": "tax_id"})], "plugin 'odd' returned"),
    ],
)
def test_bad_field_plugins_are_plugin_errors(plugins, message):
    with pytest.raises(pycrm.PluginError, match=message):
        pycrm.CRM("memory://", plugins=plugins, load_entry_points=False)


def test_a_field_plugin_that_raises_is_named():
    class Broken:
        name = "broken"

        @pycrm.hookimpl
        def pycrm_register_fields(self):
            raise RuntimeError("no config file")

    with pytest.raises(pycrm.PluginError, match=r"'broken' failed.*no config file") as caught:
        pycrm.CRM("memory://", plugins=[Broken()], load_entry_points=False)
    assert caught.value.plugin == "broken"


def test_registry_load_and_dump_leave_unknown_keys_as_they_are():
    registry = FieldRegistry()
    assert registry.dump("customer", {"x": Decimal("1.5"), "y": None, "z": []}) == {"x": "1.5"}
    assert registry.load("customer", {"x": "1.5"}) == {"x": "1.5"}


def test_views_show_custom_values_json_ready(crm, admin):
    define(crm, "capital", "money")
    define(crm, "founded", "date")
    with crm.unit_of_work(user=admin) as uow:
        acme = uow.customers.create(
            name="ACME", custom={"capital": "5000 CNY", "founded": "2008-08-08"}
        )
    assert pycrm.view(acme).model_dump(mode="json")["custom"] == {
        "capital": {"amount": "5000.00", "currency": "CNY"},
        "founded": "2008-08-08",
    }


def test_a_custom_index_matches_the_query_and_leaves_the_schema_alone(tmp_path):
    from pycrm.storage.sqlalchemy.queries import custom_index
    from pycrm.storage.sqlalchemy.tables import table_for

    crm = pycrm.CRM(f"sqlite:///{tmp_path / 'crm.db'}", load_entry_points=False)
    table = table_for("customer")
    before = set(table.indexes)
    index = custom_index(table, "custom.tier", "integer")
    index.create(crm.storage.engine)  # type: ignore[attr-defined]
    assert set(table.indexes) == before
    with crm.storage.engine.connect() as conn:  # type: ignore[attr-defined]
        ddl = conn.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE name = 'ix_pycrm_customers_custom_tier'"
        ).scalar_one()
    assert "CAST(json_extract(custom, '$.tier') AS BIGINT)" in ddl
    crm.close()
