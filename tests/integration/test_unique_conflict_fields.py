"""A unique key taken is a ConflictError naming the key's input fields (not the tenant),
on every backend: what an API layer shows next to the field, and the column an import
reports a refused row under."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import pycrm
from pycrm import SYSTEM_USER, ConflictError
from pycrm.storage.sqlalchemy.conflicts import unique_fields


def test_a_taken_external_id_names_its_field(
    backend_url: str, make_crm: Callable[..., pycrm.CRM], tenant: str
) -> None:
    customers = make_crm(backend_url).as_user(SYSTEM_USER, tenant=tenant).customers
    customers.create(name="甲", external_id="E1")
    with pytest.raises(ConflictError) as caught:
        customers.create(name="乙", external_id="E1")
    assert caught.value.fields == ("external_id",)
    assert caught.value.to_dict()["fields"] == ["external_id"]


class _Diag:
    message_detail = 'Key (tenant, "external_id")=(t, E1) already exists.'


class _PostgreSQLError(Exception):
    diag = _Diag()


@pytest.mark.parametrize(
    ("error", "fields"),
    [
        (_PostgreSQLError("duplicate key value violates unique constraint"), ("external_id",)),
        (
            Exception("UNIQUE constraint failed: pycrm_orders.tenant, pycrm_orders.number"),
            ("number",),
        ),
        (Exception("UNIQUE constraint failed: pycrm_customers.id"), ()),
        (Exception("NOT NULL constraint failed: pycrm_customers.name"), ()),
    ],
)
def test_the_fields_are_read_from_what_the_database_says(
    error: Exception, fields: tuple[str, ...]
) -> None:
    assert unique_fields(error) == fields
