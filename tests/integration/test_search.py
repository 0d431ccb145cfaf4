"""Searching text: ``__contains`` finds what a user means whatever the case or the width
of the characters, the same on every backend."""

from __future__ import annotations

import pytest

import pycrm


@pytest.mark.parametrize(
    ("stored", "typed"),
    [
        ("ACME Trading", "acme"),
        ("Ａｃｍｅ 贸易", "acme"),  # full-width Latin, as Chinese input methods type it
        ("北京联成ＩＴ有限公司", "it有限"),
        ("Société Générale", "GÉNÉRALE"),
        ("ｶﾞｲｱ株式会社", "ガイア"),  # half-width katakana
        ("100% pure_line", "0% pure_"),  # LIKE's wildcards are matched as themselves
    ],
)
def test_contains_folds_case_and_width_everywhere(
    any_crm: pycrm.CRM, tenant: str, stored: str, typed: str
):
    api = any_crm.as_user(pycrm.SYSTEM_USER, tenant=tenant)
    found = api.customers.create(name=stored, custom={})
    api.customers.create(name="Someone else")
    assert [c.id for c in api.customers.list({"name__contains": typed})] == [found.id]
    contact = api.contacts.create(customer_id=found.id, name=stored)
    assert [c.id for c in api.contacts.list({"name__contains": typed})] == [contact.id]


def test_contains_on_other_text_fields_folds_too(any_crm: pycrm.CRM, tenant: str):
    api = any_crm.as_user(pycrm.SYSTEM_USER, tenant=tenant)
    found = api.customers.create(name="甲", industry="ＳＯＦＴＷＡＲＥ")
    assert [c.id for c in api.customers.list({"industry__contains": "soft"})] == [found.id]


def test_the_migration_folds_names_already_stored(fresh_url: str):
    from alembic import command

    from pycrm.storage.sqlalchemy import schema

    crm = pycrm.CRM.connect(fresh_url, migrate=True, load_entry_points=False)
    api = crm.as_user(pycrm.SYSTEM_USER, tenant="t")
    found = [api.customers.create(name=f"ＡＣＭＥ {i}").id for i in range(3)]
    api.leads.create(name="李雷", company="ＢＥＩＪＩＮＧ Soft")
    engine = crm.storage.engine  # type: ignore[attr-defined]
    tables = crm.storage.tables  # type: ignore[attr-defined]
    with engine.begin() as conn:  # back to before the folded copies, and up again
        command.downgrade(schema.alembic_config(conn, tables), "0008")
    with engine.begin() as conn:
        command.upgrade(schema.alembic_config(conn, tables), "heads")
    assert sorted(c.id for c in api.customers.list({"name__contains": "acme"})) == sorted(found)
    assert len(api.leads.list({"company__contains": "beijing"})) == 1
    crm.close()
