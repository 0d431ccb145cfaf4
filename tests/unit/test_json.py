"""JSON-ready results: money, entities, pages and report rows through a public API."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

import pydantic
import pytest

import pycrm
from pycrm.schemas import MoneyValue


@pytest.fixture
def deal(crm: pycrm.CRM, admin: uuid.UUID) -> pycrm.Opportunity:
    with crm.unit_of_work(user=admin, tenant="t") as uow:
        customer = uow.customers.create(name="甲", custom={})
        return uow.opportunities.create(
            customer_id=customer.id, name="d", amount=pycrm.Money("1234.5", "CNY")
        )


def test_money_is_an_exact_json_object():
    money = pycrm.Money("0.10", "USD")
    assert money.to_dict() == {"amount": "0.10", "currency": "USD"}
    text = json.dumps({"price": money}, default=pycrm.json_default)
    assert json.loads(text) == {"price": {"amount": "0.10", "currency": "USD"}}


def test_json_default_refuses_what_it_does_not_know():
    with pytest.raises(TypeError, match="object is not JSON serialisable"):
        json.dumps({"x": object()}, default=pycrm.json_default)


def test_an_entity_serialises_through_its_response_model(deal: pycrm.Opportunity):
    model = pycrm.view_model(pycrm.Opportunity)
    assert model is pycrm.view_model(pycrm.Opportunity)  # built once
    data = model.model_validate(deal).model_dump(mode="json")
    assert data["amount"] == {"amount": "1234.50", "currency": "CNY"}
    assert data["id"] == str(deal.id) and data["stage"] == deal.stage
    assert pycrm.jsonable(deal) == data == pycrm.view(deal).model_dump(mode="json")
    schema = model.model_json_schema()
    assert {"id", "amount", "stage", "custom"} <= set(schema["properties"])


def test_custom_values_are_json_ready(crm: pycrm.CRM, admin: uuid.UUID):
    with crm.unit_of_work(user=admin, tenant="t") as uow:
        customer = uow.customers.create(name="乙")
    typed = customer.__class__.__new__(customer.__class__)
    for field in customer.__attrs_attrs__:
        object.__setattr__(typed, field.name, getattr(customer, field.name))
    object.__setattr__(typed, "custom", {"budget": pycrm.Money("5", "CNY"), "n": Decimal("2.5")})
    data = pycrm.view_model(pycrm.Customer).model_validate(typed).model_dump(mode="json")
    assert data["custom"] == {"budget": {"amount": "5.00", "currency": "CNY"}, "n": "2.5"}


def test_a_page_serialises_with_its_cursor(crm: pycrm.CRM, admin: uuid.UUID):
    with crm.unit_of_work(user=admin, tenant="t") as uow:
        for name in "abc":
            uow.customers.create(name=name)
        page = uow.customers.list(limit=2)
    data = pycrm.page_model(pycrm.Customer).model_validate(page).model_dump(mode="json")
    assert [c["name"] for c in data["items"]] == ["a", "b"] and data["next_cursor"]
    assert pycrm.jsonable(page) == data
    assert json.loads(json.dumps(page, default=pycrm.json_default)) == data


def test_report_rows_are_json_ready(crm: pycrm.CRM, admin: uuid.UUID, deal: pycrm.Opportunity):
    report = crm.as_user(admin, tenant="t").reports.weighted_pipeline()
    data = pycrm.jsonable(report)
    assert json.loads(json.dumps(data)) == data
    assert "CNY" in json.dumps(data)


def test_a_host_model_declares_money_fields():
    class Quote(pydantic.BaseModel):
        price: MoneyValue
        discount: MoneyValue | None = None

    quote = Quote.model_validate({"price": "99.5 CNY"})
    assert quote.price == pycrm.Money("99.50", "CNY")
    assert quote.model_dump(mode="json") == {
        "price": {"amount": "99.50", "currency": "CNY"},
        "discount": None,
    }
    with pytest.raises(pydantic.ValidationError):
        Quote.model_validate({"price": "lots"})


def test_view_model_refuses_what_is_not_an_entity():
    with pytest.raises(TypeError, match="not a pycrm entity"):
        pycrm.view_model(dict)
