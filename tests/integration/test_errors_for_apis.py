"""Errors a host API can use: a stable dotted code, details as data, pickling intact, and
storage errors that never repeat the values of the failed statement."""

from __future__ import annotations

import datetime as dt
import pickle
import uuid
from typing import Any

import pytest

import pycrm
from pycrm import errors
from pycrm.core.customers import Customer
from pycrm.storage.base import Filter, Op, Query, Scope


def _every_error() -> list[pycrm.CRMError]:
    return [
        pycrm.CRMError("x"),
        pycrm.ConfigurationError("bad"),
        pycrm.ExchangeRateMissing("USD", "CNY", dt.date(2026, 1, 1)),
        pycrm.ValidationError([("name", "required")], entity="customer"),
        pycrm.CurrencyMismatch("CNY", "USD"),
        pycrm.NotFound("customer", uuid.uuid4()),
        pycrm.PermissionDenied("no"),
        pycrm.ConflictError("taken"),
        pycrm.RuleViolation("refused", rule="order.not_draft", params={"order": "1"}),
        pycrm.StorageError("down"),
        pycrm.PluginError("broken", plugin="acme"),
    ]


def test_every_error_class_is_listed_here() -> None:
    listed = {type(e) for e in _every_error()}
    declared = {getattr(errors, n) for n in errors.__all__ if n != "HTTP_STATUS"}
    assert listed == declared


@pytest.mark.parametrize("error", _every_error(), ids=lambda e: type(e).__name__)
def test_every_error_round_trips_through_pickle(error: pycrm.CRMError) -> None:
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error) and str(again) == str(error)
    assert again.to_dict() == error.to_dict() and again.__dict__ == error.__dict__


def test_codes_are_dotted_and_their_family_gives_the_http_status() -> None:
    codes = {type(e).__name__: e.code for e in _every_error()}
    assert codes["RuleViolation"] == "rule.order.not_draft"
    assert codes["CurrencyMismatch"] == "validation.currency_mismatch"
    assert all(code.replace(".", "").replace("_", "").isalpha() for code in codes.values())
    status = {name: pycrm.HTTP_STATUS.get(code.split(".")[0], 500) for name, code in codes.items()}
    assert (status["NotFound"], status["PermissionDenied"], status["ConflictError"]) == (
        404,
        403,
        409,
    )
    assert status["ValidationError"] == status["RuleViolation"] == 422
    assert status["StorageError"] == 500
    assert {type(e).__name__: e.http_status for e in _every_error()} == status


def test_to_dict_carries_what_a_program_needs() -> None:
    invalid = pycrm.ValidationError([("lines.0.quantity", "must be positive")], entity="order")
    assert invalid.to_dict()["errors"] == [
        {"field": "lines.0.quantity", "reason": "must be positive"}
    ]
    rule = pycrm.RuleViolation("x", rule="order.empty", params={"order": "o1"})
    assert rule.to_dict() == {
        "code": "rule.order.empty",
        "message": "x",
        "rule": "order.empty",
        "params": {"order": "o1"},
    }


def test_a_storage_error_never_repeats_a_bound_value(
    make_crm: Any, backend_url: str, tenant: str
) -> None:
    if backend_url.startswith("memory"):
        pytest.skip("the memory backend runs no statements")
    crm = make_crm(backend_url)
    secret = "13800138000-SECRET"
    tx = crm.storage.begin()
    try:
        # An integer custom field compared with text: the database refuses the statement
        # (PostgreSQL quotes the text in its own message).
        query = Query(
            filters=(Filter("custom.tier", Op.EQ, secret),),
            custom_types={"custom.tier": "integer"},
        )
        try:
            tx.find(Customer, Scope(tenant), query)
        except pycrm.StorageError as error:
            assert secret not in str(error) and "SECRET" not in str(error)
            assert error.__cause__ is not None  # the driver's own words stay chained
        else:
            pytest.skip("this database compared them without an error")
    finally:
        tx.rollback()
