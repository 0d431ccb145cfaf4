"""The everyday read and write of one record by id, as a user, on every backend: what the
statements built once per user's rights see, and how few statements an update runs."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

import pycrm


def _org(crm: pycrm.CRM, tenant: str) -> dict[str, uuid.UUID]:
    with crm.unit_of_work(tenant=tenant, user=pycrm.SYSTEM_USER) as uow:
        north = uow.departments.create(name="North")
        boss = uow.users.create(name="Boss", roles=["sales_director"], department_id=north.id)
        ann = uow.users.create(name="Ann", department_id=north.id, manager_id=boss.id)
        bo = uow.users.create(name="Bo")
        gone = uow.customers.create(name="Gone", owner_id=ann.id)
        uow.customers.delete(gone.id)
        return {
            "boss": boss.id,
            "ann": ann.id,
            "bo": bo.id,
            "ann_customer": uow.customers.create(name="Ann's", owner_id=ann.id).id,
            "bo_customer": uow.customers.create(name="Bo's", owner_id=bo.id).id,
            "gone": gone.id,
        }


def test_a_record_by_id_is_seen_exactly_as_the_users_rights_say(any_crm, tenant):
    ids = _org(any_crm, tenant)
    for _ in range(2):  # the second time through the statements already built
        ann = any_crm.as_user(ids["ann"], tenant=tenant)
        assert ann.customers.get(ids["ann_customer"]).name == "Ann's"
        with pytest.raises(pycrm.NotFound):
            ann.customers.get(ids["bo_customer"])
        with pytest.raises(pycrm.NotFound):
            ann.customers.update(ids["bo_customer"], name="Mine now")
        boss = any_crm.as_user(ids["boss"], tenant=tenant)
        assert boss.customers.get(ids["ann_customer"]).name == "Ann's"
        with pytest.raises(pycrm.NotFound):
            boss.customers.get(ids["bo_customer"])
        # a soft-deleted record is neither read nor updated
        with pytest.raises(pycrm.NotFound):
            ann.customers.get(ids["gone"])
        with pytest.raises(pycrm.NotFound):
            ann.customers.update(ids["gone"], name="Back")
    # a change of the organisation changes what the next call sees
    with any_crm.unit_of_work(tenant=tenant, user=pycrm.SYSTEM_USER) as uow:
        uow.users.update(ids["bo"], manager_id=ids["ann"])
    assert any_crm.as_user(ids["ann"], tenant=tenant).customers.get(ids["bo_customer"])
    with any_crm.unit_of_work(tenant=tenant, user=pycrm.SYSTEM_USER) as uow:
        uow.users.update(ids["bo"], manager_id=None)
    with pytest.raises(pycrm.NotFound):
        any_crm.as_user(ids["ann"], tenant=tenant).customers.get(ids["bo_customer"])


def _statements(crm: pycrm.CRM, call: Callable[[], Any]) -> list[str]:
    engine: sa.Engine = crm.storage.engine  # type: ignore[attr-defined]
    seen: list[str] = []

    def keep(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        seen.append(" ".join(statement.split()[:2]).upper())

    sa.event.listen(engine, "before_cursor_execute", keep)
    try:
        call()
    finally:
        sa.event.remove(engine, "before_cursor_execute", keep)
    return seen


@pytest.mark.parametrize("version", [None, 1])
def test_an_update_in_a_unit_of_work_takes_only_the_calls_savepoint(fresh_url, make_crm, version):
    crm = make_crm(fresh_url, migrate=True)
    ids = _org(crm, "t")

    def update() -> None:
        with crm.unit_of_work(tenant="t", user=ids["ann"]) as uow:
            uow.customers.update(ids["ann_customer"], version=version, region="East")

    seen = _statements(crm, update)
    # PostgreSQL keeps a retry's savepoint for an update without a version: it locks only
    # the rows read FOR UPDATE, and an update may save others (see below).
    retry = version is None and crm.storage.name == "postgresql"
    assert sum(s.startswith("SAVEPOINT") for s in seen) == (2 if retry else 1), seen
    assert sum(s.startswith("UPDATE") for s in seen) == 1, seen


@pytest.mark.postgres
def test_an_update_without_a_version_wins_over_a_change_below_it(
    postgres_url, make_crm, tenant, monkeypatch
):
    # Moving a manager saves their subordinates too, read without a lock: one renamed by
    # someone else meanwhile is read again, and the move still lands (the last writer wins).
    from pycrm.storage.base import Op
    from pycrm.storage.sqlalchemy.backend import SqlTransaction

    crm = make_crm(postgres_url)
    with crm.unit_of_work(tenant=tenant, user=pycrm.SYSTEM_USER) as uow:
        top, boss = uow.users.create(name="Top"), uow.users.create(name="Boss")
        mid = uow.users.create(name="Mid", manager_id=boss.id)
        low = uow.users.create(name="Low", manager_id=mid.id)
    real, renamed = SqlTransaction.find, []

    def find(self: SqlTransaction, kind: Any, scope: Any, query: Any) -> Any:
        found = real(self, kind, scope, query)
        if not renamed and any(getattr(f, "op", None) is Op.STARTSWITH for f in query.filters):
            renamed.append(True)  # the subtree is read: someone renames one of them now
            with make_crm(postgres_url).unit_of_work(
                tenant=tenant, user=pycrm.SYSTEM_USER
            ) as other:
                other.users.update(low.id, name="Low 2")
        return found

    monkeypatch.setattr(SqlTransaction, "find", find)
    moved = crm.as_user(pycrm.SYSTEM_USER, tenant=tenant).users.update(mid.id, manager_id=top.id)
    monkeypatch.undo()
    assert renamed and moved.manager_id == top.id
    stored = crm.as_user(pycrm.SYSTEM_USER, tenant=tenant).users.get(low.id)
    assert stored.name == "Low 2" and stored.manager_path.startswith(moved.manager_path)


def test_a_failed_update_in_a_unit_of_work_leaves_the_rest_of_it(any_crm, tenant):
    ids = _org(any_crm, tenant)
    with any_crm.unit_of_work(tenant=tenant, user=ids["ann"]) as uow:
        uow.customers.update(ids["ann_customer"], region="East")
        with pytest.raises(pycrm.ConflictError):
            uow.customers.update(ids["ann_customer"], version=1, region="West")
        with pytest.raises(pycrm.ValidationError):
            uow.customers.update(ids["ann_customer"], name="")
        uow.customers.update(ids["ann_customer"], phone="13800138000")
    stored = any_crm.as_user(ids["ann"], tenant=tenant).customers.get(ids["ann_customer"])
    assert (stored.region, stored.phone, stored.version) == ("East", "13800138000", 3)
    history = any_crm.as_user(ids["ann"], tenant=tenant).customers.history(ids["ann_customer"])
    assert len(history) == 3  # created and the two updates that landed
