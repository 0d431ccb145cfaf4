"""Every public call refuses bad arguments with a pycrm.CRMError, never a raw Python error."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

import pycrm
from pycrm import i18n


@pytest.fixture
def world(crm: pycrm.CRM) -> dict[str, Any]:
    a = crm.as_user(pycrm.SYSTEM_USER)
    c = a.customers.create(name="x")
    d = a.opportunities.create(
        customer_id=c.id,
        name="d",
        amount=pycrm.Money("5.00", "CNY"),
        expected_close=dt.date(2026, 3, 1),
    )
    o = a.orders.create(
        customer_id=c.id,
        currency="CNY",
        lines=[{"description": "l", "quantity": 1, "unit_price": "100.00 CNY"}],
    )
    lead = a.leads.create(name="l")
    return {"crm": crm, "a": a, "d": d, "o": o, "lead": lead, "m": pycrm.Money("10.00", "CNY")}


def _calls(
    crm: pycrm.CRM, a: Any, d: Any, o: Any, lead: Any, m: pycrm.Money
) -> dict[str, Callable[[], Any]]:
    return {
        "record_contact None": lambda: a.opportunities.record_contact(d.id, at=None),
        "record_contact overflow": lambda: a.opportunities.record_contact(
            d.id, at=dt.datetime(9999, 12, 31, 23, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
        ),
        "plan parts str": lambda: a.payment_plans.plan_for_order(o.id, parts="x"),
        "plan parts 2.5": lambda: a.payment_plans.plan_for_order(o.id, parts=2.5),
        "plan first_due 9999": lambda: a.payment_plans.plan_for_order(
            o.id, parts=2, first_due=dt.date(9999, 12, 1)
        ),
        "plan percents 100": lambda: a.payment_plans.plan_for_order(
            o.id, by="percent", percents=100
        ),
        "plan percents '100'": lambda: a.payment_plans.plan_for_order(
            o.id, by="percent", percents="100"
        ),
        "plan due_dates mixed": lambda: a.payment_plans.plan_for_order(
            o.id, due_dates=[dt.date(2026, 4, 1), "x"]
        ),
        "convert opp str": lambda: a.leads.convert(lead.id, opportunity="x"),
        "move to None": lambda: a.opportunities.move(d.id, to=None),
        "move id bad": lambda: a.opportunities.move("nope", to="proposal"),
        "lose reason 5": lambda: a.opportunities.lose(d.id, reason=5),
        "confirm bad": lambda: a.orders.confirm(5),
        "cancel reason": lambda: a.orders.cancel(o.id, reason=object()),
        "fields.remove nope": lambda: crm.fields.remove("customer", "nope"),
        "fields.define label None": lambda: crm.fields.define("customer", "k", "text", label=None),
        "fields.get list": lambda: crm.fields.get(["a"], "k"),
        "fields.add str": lambda: crm.fields.add("x"),
        "fields min>max": lambda: crm.fields.define(
            "customer", "k", "integer", label="k", minimum=5, maximum=1
        ),
        "allocate NaN": lambda: m.allocate([Decimal("NaN"), 1]),
        "allocate None": lambda: m.allocate(None),
        "allocate floats": lambda: m.allocate([0.5, 0.5]),
        "split 2.0": lambda: m.split(2.0),
        "convert None": lambda: m.convert("USD", None, dt.date(2026, 1, 1)),
        "format xx": lambda: m.format("xx_YY"),
        "format 5": lambda: m.format(5),
        "total bad": lambda: pycrm.Money.total([m, 5], "CNY"),
        "DatedRates str": lambda: pycrm.DatedRates({"USD/CNY": [("2026-01-01", "7")]}),
        "translate !!": lambda: i18n.translate("Draft", "!!"),
        "translate missing": lambda: i18n.translate(
            "Installments due in {month}", "en_US", order=1
        ),
        "translate_error bad": lambda: i18n.translate_error(ValueError(), "en_US"),
        "stage_title str": lambda: i18n.stage_title("proposal", "en_US"),
        "format_percent float": lambda: i18n.format_percent(0.5, "en_US"),
        "uow ended": lambda: (lambda u: (u.__exit__(None, None, None), u.customers.count()))(
            crm.unit_of_work(user=pycrm.SYSTEM_USER).__enter__()
        ),
    }


NAMES = list(_calls(None, None, None, None, None, None).keys())  # type: ignore[arg-type]


@pytest.mark.parametrize("name", NAMES)
def test_bad_arguments_raise_crm_errors(world: dict[str, Any], name: str) -> None:
    call = _calls(**world)[name]
    with pytest.raises(pycrm.CRMError):
        call()


def test_strings_are_converted_where_the_meaning_is_clear(world: dict[str, Any]) -> None:
    a, d = world["a"], world["d"]
    a.opportunities.record_contact(d.id, at="2026-01-01T08:00:00+08:00")
    assert a.opportunities.get(d.id).last_contact_at == dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert i18n.label("draft", "zh_CN") == i18n.label(pycrm.OrderStatus.DRAFT, "zh_CN")
