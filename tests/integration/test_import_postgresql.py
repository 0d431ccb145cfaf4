"""Imports on PostgreSQL: external ids looked up one index probe each (``find_by``), for
upserts, references and repeated ids, and the lookup's plan stays on the unique index
however many rows the import has written in its transaction."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

import pycrm
from pycrm import SYSTEM_USER
from pycrm.storage.capabilities.lookups import key_lookups

pytestmark = pytest.mark.postgres


def text(*lines: str) -> io.StringIO:
    return io.StringIO("\n".join(lines) + "\n")


@pytest.fixture
def root(postgres_url: str) -> Iterator[pycrm.Services]:
    crm = pycrm.CRM.connect(postgres_url, load_entry_points=False, migrate=True)
    yield crm.as_user(SYSTEM_USER, tenant=f"imp-{uuid.uuid4().hex[:8]}")
    crm.close()


def test_upserts_references_and_repeats(root: pycrm.Services) -> None:
    old = root.customers.create(name="甲公司", external_id="E1", region="华北")
    root.customers.delete(root.customers.create(name="旧", external_id="GONE").id)
    report = root.imports.run(
        "customer",
        text("名称,外部编号", "甲公司(新),E1", "乙公司,E2", "丙,E2", "复活,GONE"),
        mode="skip",
    )
    assert (report.created, report.updated, report.skipped) == (2, 1, 1)
    assert [(e.row, e.column) for e in report.errors] == [(4, "外部编号")]
    assert root.customers.get(old.id).name == "甲公司(新)"
    contacts = root.imports.run(
        "contact", text("姓名,customer_external_id", "张三,E2", "李四,NOPE"), mode="skip"
    )
    assert (contacts.created, contacts.skipped) == (1, 1)
    [contact] = root.contacts.list().items
    assert contact.customer_id == root.customers.list({"external_id": "E2"}).items[0].id


def test_the_lookup_probes_the_unique_index(postgres_url: str) -> None:
    crm = pycrm.CRM.connect(postgres_url, load_entry_points=False, migrate=True)
    tenant = f"imp-{uuid.uuid4().hex[:8]}"
    rows = "\n".join(f"客户{i},X{i}" for i in range(3000))
    try:
        with crm.unit_of_work(tenant=tenant, user=SYSTEM_USER) as uow:
            uow.imports.run("customer", io.StringIO("名称,外部编号\n" + rows + "\n"))
            wanted = {f"X{i}" for i in range(0, 3000, 3)} | {"NOPE"}
            statements: list[tuple[str, object]] = []
            engine = crm.storage.engine  # type: ignore[attr-defined]

            def seen(
                conn: object, cursor: object, statement: str, params: object, *_: object
            ) -> None:
                statements.append((statement, params))

            sa.event.listen(engine, "before_cursor_execute", seen)
            try:
                found = key_lookups(uow.tx).find_by(
                    pycrm.Customer, uow.everything, "external_id", wanted
                )
            finally:
                sa.event.remove(engine, "before_cursor_execute", seen)
            assert sorted(c.external_id for c in found) == sorted(wanted - {"NOPE"})
            [(lookup, params)] = [(s, p) for s, p in statements if "unnest" in s]
            # Planned inside the import's transaction: no statistics on its rows.
            conn = uow.tx.conn  # type: ignore[attr-defined]
            plan = conn.exec_driver_sql("EXPLAIN " + lookup, params).all()
            text_plan = "\n".join(str(row[0]) for row in plan)
            assert "uq_pycrm_customers_external_id" in text_plan, text_plan
            probes = [line for line in text_plan.splitlines() if "Index Cond" in line]
            assert any("external_id" in p and "wanted.value" in p for p in probes), text_plan
    finally:
        crm.close()


def test_a_batch_the_database_refuses_is_sorted_out_row_by_row(postgres_url: str) -> None:
    """A batch is looked up, then written while the next batch is validated; another
    writer that takes one of its external ids in between makes the server refuse the
    batch's COPY only when the batch's savepoint ends. That row is reported, the rest of
    the batch and of the file is created."""
    crm = pycrm.CRM.connect(postgres_url, load_entry_points=False, migrate=True)
    other = pycrm.CRM.connect(postgres_url, load_entry_points=False)
    tenant = f"imp-{uuid.uuid4().hex[:8]}"
    total = 3 * 1000 + 10
    taken: list[int] = []

    def progress(rows: int) -> None:
        # Told once the second batch is written, when the third is looked up but not
        # yet written: its last row's external id is taken by someone else now.
        if rows == 2000 and not taken:
            other.as_user(SYSTEM_USER, tenant=tenant).customers.create(
                name="抢先", external_id="X2999"
            )
            taken.append(2999)

    try:
        rows = "\n".join(f"客户{i},X{i}" for i in range(total))
        report = crm.as_user(SYSTEM_USER, tenant=tenant).imports.run(
            "customer",
            io.StringIO("名称,外部编号\n" + rows + "\n"),
            mode="skip",
            on_progress=progress,
        )
        assert taken == [2999]
        assert (report.created, report.skipped) == (total - 1, 1)
        [error] = report.errors
        assert (error.row, error.column) == (2999 + 2, "外部编号")
        customers = crm.as_user(SYSTEM_USER, tenant=tenant).customers
        assert customers.count() == total
        assert customers.list({"external_id": "X2999"}).items[0].name == "抢先"
    finally:
        crm.close()
        other.close()
