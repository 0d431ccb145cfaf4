"""import_many: a stream of rows is written batch by batch, keeping nothing in memory."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

import pycrm


def rows(n: int) -> Iterator[dict[str, str]]:
    for i in range(n):
        yield {"name": f"客户 {i:06d}", "level": "ABC"[i % 3], "region": "上海"}


def peak_of_import(tmp_path: Path, n: int) -> tuple[int, int]:
    crm = pycrm.CRM.connect(
        f"sqlite:///{tmp_path / f'import-{n}.db'}",
        load_entry_points=False,
        settings=pycrm.Settings(batch_size=500),
    )
    acme = crm.as_user(pycrm.SYSTEM_USER, tenant="acme")
    tracemalloc.start()
    try:
        created = acme.customers.import_many(rows(n))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert acme.customers.count() == created == n
    crm.close()
    return created, peak


def test_memory_does_not_grow_with_the_number_of_rows(tmp_path: Path) -> None:
    _, small = peak_of_import(tmp_path, 2_000)
    _, large = peak_of_import(tmp_path, 8_000)
    # Four times the rows, the same batches in flight: the peak stays about the same.
    assert large < small * 1.5, (small, large)


def test_one_bad_row_in_a_stream_writes_nothing(crm: pycrm.CRM) -> None:
    def stream() -> Iterator[dict[str, str]]:
        yield from rows(4_500)
        yield {"name": ""}

    acme = crm.as_user(pycrm.SYSTEM_USER, tenant="acme")
    with pytest.raises(pycrm.ValidationError) as caught:
        acme.customers.import_many(stream())
    assert caught.value.errors == [("4500.name", "String should have at least 1 character")]
    assert acme.customers.count(deleted=None) == 0
