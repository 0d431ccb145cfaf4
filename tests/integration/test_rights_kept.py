"""A user's resolved rights are kept between units of work, and every change of the
organisation — made by this process or another — is seen by the next unit of work."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

import pycrm


@pytest.fixture
def two(fresh_url: str, clock: pycrm.FixedClock) -> Iterator[tuple[pycrm.CRM, pycrm.CRM]]:
    """Two CRMs on one database, as two processes would have."""
    first = pycrm.CRM.connect(fresh_url, clock=clock, migrate=True, load_entry_points=False)
    second = pycrm.CRM.connect(fresh_url, clock=clock, load_entry_points=False)
    yield first, second
    first.close()
    second.close()


def _org(crm: pycrm.CRM) -> dict[str, uuid.UUID]:
    with crm.unit_of_work(tenant="t", user=pycrm.SYSTEM_USER) as uow:
        north = uow.departments.create(name="North")
        boss = uow.users.create(
            name="Boss",
            roles=["sales_director"],
            department_id=north.id,
            # may move people (an exception to the role), so the test can move one mid-unit
            rights=[{"entity": "user", "action": "edit", "scope": "tenant"}],
        )
        ann = uow.users.create(name="Ann", department_id=north.id, manager_id=boss.id)
        bo = uow.users.create(name="Bo")
        return {
            "boss": boss.id,
            "ann": ann.id,
            "bo": bo.id,
            "bo_customer": uow.customers.create(name="Bo's", owner_id=bo.id).id,
            "ann_customer": uow.customers.create(name="Ann's", owner_id=ann.id).id,
        }


def _names(crm: pycrm.CRM, user: uuid.UUID) -> list[str]:
    return sorted(c.name for c in crm.as_user(user, tenant="t").customers.list())


def _statements(crm: pycrm.CRM, call: Any) -> int:
    engine: sa.Engine = crm.storage.engine  # type: ignore[attr-defined]
    seen: list[str] = []

    def count(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        call()
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    return len(seen)


def test_a_second_call_reads_only_the_version_and_the_records(two):
    crm, _ = two
    ids = _org(crm)
    first = _statements(crm, lambda: _names(crm, ids["boss"]))
    again = _statements(crm, lambda: _names(crm, ids["boss"]))
    # user, department, the users below, the shares: read once, then only the version
    assert again < first and again <= 2, (first, again)


def test_a_new_subordinate_made_by_another_process_is_seen_at_once(two):
    crm, other = two
    ids = _org(crm)
    assert _names(crm, ids["boss"]) == ["Ann's"]
    other.as_user(pycrm.SYSTEM_USER, tenant="t").users.update(ids["bo"], manager_id=ids["boss"])
    assert _names(crm, ids["boss"]) == ["Ann's", "Bo's"]


def test_a_deactivated_user_is_refused_at_once_everywhere(two):
    crm, other = two
    ids = _org(crm)
    assert _names(crm, ids["ann"]) == ["Ann's"]
    other.as_user(pycrm.SYSTEM_USER, tenant="t").users.update(ids["ann"], active=False)
    with pytest.raises(pycrm.PermissionDenied, match="deactivated"):
        _names(crm, ids["ann"])


def test_a_share_deleted_by_another_process_closes_at_once(two):
    crm, other = two
    ids = _org(crm)
    share = crm.as_user(ids["bo"], tenant="t").shares.create(
        entity="customer", record_id=ids["bo_customer"], user_id=ids["ann"]
    )
    assert _names(crm, ids["ann"]) == ["Ann's", "Bo's"]
    other.as_user(pycrm.SYSTEM_USER, tenant="t").shares.delete(share.id)
    assert _names(crm, ids["ann"]) == ["Ann's"]


def test_a_kept_share_closes_when_it_expires_without_any_write(two, clock):
    crm, _ = two
    ids = _org(crm)
    crm.as_user(ids["bo"], tenant="t").shares.create(
        entity="customer",
        record_id=ids["bo_customer"],
        user_id=ids["ann"],
        expires_at=clock.now() + dt.timedelta(hours=1),
    )
    assert _names(crm, ids["ann"]) == ["Ann's", "Bo's"]
    clock.advance(hours=2)
    assert _names(crm, ids["ann"]) == ["Ann's"]


def test_a_change_rolled_back_leaves_no_trace_in_kept_rights(two):
    crm, _ = two
    ids = _org(crm)
    assert _names(crm, ids["boss"]) == ["Ann's"]  # the boss's rights are kept
    with pytest.raises(RuntimeError), crm.unit_of_work(tenant="t", user=ids["boss"]) as uow:
        uow.customers.list()  # the kept rights are in use ...
        uow.users.update(ids["bo"], manager_id=ids["boss"])  # ... when the organisation moves
        # this unit of work sees its own change at once ...
        assert sorted(c.name for c in uow.customers.list({"name": "Bo's"})) == ["Bo's"]
        raise RuntimeError  # ... and it is rolled back: nothing of it may be kept
    assert _names(crm, ids["boss"]) == ["Ann's"]
    with pytest.raises(RuntimeError), crm.unit_of_work(tenant="t", user=ids["boss"]) as uow:
        uow.users.update(ids["bo"], manager_id=ids["boss"])  # moved before any read
        assert sorted(c.name for c in uow.customers.list()) == ["Ann's", "Bo's"]
        raise RuntimeError
    assert _names(crm, ids["boss"]) == ["Ann's"]
