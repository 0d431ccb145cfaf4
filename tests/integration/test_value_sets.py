"""Sets of texts kept by the store for a long write (an import's external ids): the same
answers on every backend, kept in the database by the SQL backend (a temporary table that
goes with its set, or with the transaction)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import pycrm
from pycrm import SYSTEM_USER
from pycrm.storage.capabilities.seen import value_set


def test_a_set_answers_what_it_held_already(
    backend_url: str, make_crm: Callable[..., pycrm.CRM], tenant: str
) -> None:
    crm = make_crm(backend_url)
    with crm.unit_of_work(tenant=tenant, user=SYSTEM_USER) as uow:
        seen, other = value_set(uow.tx), value_set(uow.tx)
        assert seen.add({"E1", "E2"}) == set()
        assert seen.add(["E2", "E3", "E3"]) == {"E2"}
        many = [f"X{i}" for i in range(1200)]  # more than a statement's worth on SQLite
        assert seen.add(many[:700]) == set()
        assert seen.add(many) == set(many[:700])
        assert seen.add({"E1", "外部编号"}) == {"E1"}
        assert other.add({"E1"}) == set()  # sets are apart
        seen.close()
        other.close()
        seen.close()  # once is enough


def test_the_sql_sets_live_in_temporary_tables_and_go(sqlite_url: str, tenant: str) -> None:
    crm = pycrm.CRM.connect(sqlite_url, load_entry_points=False)
    try:
        with crm.unit_of_work(tenant=tenant, user=SYSTEM_USER) as uow:
            kept = value_set(uow.tx)
            kept.add({"a"})
            conn = uow.tx.conn  # type: ignore[attr-defined]
            names = "SELECT name FROM sqlite_temp_master WHERE name LIKE 'pycrm_set_%'"
            assert len(conn.exec_driver_sql(names).all()) == 1
            kept.close()
            assert conn.exec_driver_sql(names).all() == []
        with pytest.raises(RuntimeError), crm.unit_of_work(tenant=tenant, user=SYSTEM_USER) as uow:
            value_set(uow.tx).add({"b"})
            raise RuntimeError("given up")  # the rollback takes the table away
        with crm.unit_of_work(tenant=tenant, user=SYSTEM_USER) as uow:
            conn = uow.tx.conn  # type: ignore[attr-defined]
            assert conn.exec_driver_sql(names).all() == []
    finally:
        crm.close()
