"""Importing CSV and Excel files (``uow.imports.run``) and exporting lists
(``uow.exports.run``), on the memory backend and SQLite: headers in Chinese, English and
Japanese, values of every type, bad rows (``mode="all"`` and ``"skip"``), upserts by
external id and references by it, Excel, round trips, what an export leaves out, an import
stopped half-way, and the ``pycrm import`` / ``pycrm export`` commands.

Bugs of src/ found while writing these are pinned with ``xfail(strict=True)``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from typer.testing import CliRunner

import pycrm
from pycrm import SYSTEM_USER, Money
from pycrm.cli import app
from pycrm.core.matching import MatchRule
from pycrm.services.base import RecordService

TENANT = "t"
MEMORY_ONLY = pytest.mark.parametrize("url", ["memory"], indirect=True)
runner = CliRunner()


def _upper(value: str, region: str) -> str:
    return value.strip().upper()


class TaxIds:
    """A block rule on customers' tax ids."""

    name = "import-tax-ids"

    @pycrm.hookimpl
    def pycrm_register_match_rules(self) -> list[MatchRule]:
        return [
            MatchRule(
                key="customer.tax_id",
                entity="customer",
                fields=("custom.tax_id",),
                normaliser=_upper,
                action="block",
            )
        ]


class Discreet:
    """An intern role that may not see customers' phone numbers (docs/permissions.md)."""

    name = "import-discreet"

    @pycrm.hookimpl
    def pycrm_register_roles(self) -> list[pycrm.RoleDefinition]:
        return [
            pycrm.RoleDefinition(
                key="intern",
                name="Intern",
                grants=(pycrm.Grant("*", "*", pycrm.DataScope.OWN),),
                fields=(pycrm.FieldRule("customer", "phone"),),
            )
        ]


# -- fixtures -----------------------------------------------------------------------------
@pytest.fixture(params=["memory", "sqlite"])
def url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory://"
    return str(request.getfixturevalue("sqlite_url"))


@pytest.fixture
def connect(url: str, clock: pycrm.FixedClock) -> Iterator[Callable[..., pycrm.CRM]]:
    made: list[pycrm.CRM] = []

    def make(*plugins: object) -> pycrm.CRM:
        crm = pycrm.CRM.connect(url, clock=clock, plugins=list(plugins), load_entry_points=False)
        define = crm.fields.define
        define("customer", "capital", "money", label={"zh": "注册资本", "en": "Registered capital"})
        define(
            "customer", "staff", "integer", label={"zh": "员工数", "en": "Staff", "ja": "社員数"}
        )
        define("customer", "listed", "boolean", label={"zh": "上市", "en": "Listed"})
        define("customer", "founded", "date", label={"zh": "成立日期", "en": "Founded"})
        define("customer", "ratio", "decimal", label={"en": "Ratio"})
        define("customer", "channels", "multi_choice", label="Channels", choices=["web", "shop"])
        define("customer", "tax_id", "text", label={"zh": "税号", "en": "Tax id"})
        made.append(crm)
        return crm

    yield make
    for crm in made:
        crm.close()


@pytest.fixture
def crm(connect: Callable[..., pycrm.CRM]) -> pycrm.CRM:
    return connect()


@pytest.fixture
def root(crm: pycrm.CRM) -> pycrm.Services:
    return crm.as_user(SYSTEM_USER, tenant=TENANT)


def text(*lines: str) -> io.StringIO:
    return io.StringIO("\n".join(lines) + "\n")


def write(path: Path, *lines: str, bom: bool = True) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8-sig" if bom else "utf-8")
    return path


def by_name(api: pycrm.Services, entity: str = "customer") -> dict[str, Any]:
    service = getattr(api, {"customer": "customers", "contact": "contacts"}.get(entity, entity))
    return {r.name: r for r in service.list(limit=1000)}


def paths(error: pycrm.ValidationError) -> list[str]:
    return [path for path, _ in error.errors]


# -- headers -------------------------------------------------------------------------------
CHINESE = (
    "客户名称,电话,外部编号,标签,行业,级别,网址,注册资本,员工数,上市,成立日期,Ratio,Channels",
    "北京联成互动软件技术有限公司,010-6552 9988,E1,a;b，c,软件,vip,www.lc.cn,12000.00 CNY,120,是,"
    "2020-01-02,1.5,web;shop",
    "",
    "上海乙公司,021-1234 5678,E2,c,,,,,,否,,,shop",
)


def test_a_csv_with_chinese_headers(root: pycrm.Services, tmp_path: Path) -> None:
    report = root.imports.run("customer", write(tmp_path / "客户.csv", *CHINESE))

    assert (report.rows, report.created, report.updated, report.skipped) == (2, 2, 0, 0)
    assert report.ok and report.errors == [] and report.entity == "customer"
    found = by_name(root)
    first = found["北京联成互动软件技术有限公司"]
    assert (first.phone, first.external_id, first.industry, first.level, first.website) == (
        "010-6552 9988",
        "E1",
        "软件",
        "vip",
        "www.lc.cn",
    )
    assert first.tags == ["a", "b", "c"]
    assert first.custom == {
        "capital": Money("12000.00", "CNY"),
        "staff": 120,
        "listed": True,
        "founded": dt.date(2020, 1, 2),
        "ratio": Decimal("1.5"),
        "channels": ("web", "shop"),
    }
    second = found["上海乙公司"]
    assert second.tags == ["c"] and second.custom == {"listed": False, "channels": ("shop",)}
    assert second.industry is None  # an empty cell sets nothing


@MEMORY_ONLY
def test_english_and_japanese_headers(root: pycrm.Services) -> None:
    english = root.imports.run(
        "customer",
        text(
            "Name,Telephone,External ID,E-mail,Web,Tags,Registered capital,staff",
            "ACME Trading,+86 21 5555 6666,EN1,Sales@ACME.com,acme.com,x|y,5.00 USD,7",
        ),
    )
    japanese = root.imports.run(
        "customer",
        text(
            "会社名,電話番号,外部コード,住所,タグ,メールアドレス,社員数,業種",
            "トヨタ株式会社,03-1234-5678,JA1,東京都,自動車,info@toyota.jp,300,製造",
        ),
    )
    assert english.created == japanese.created == 1
    found = by_name(root)
    acme, toyota = found["ACME Trading"], found["トヨタ株式会社"]
    assert (acme.phone, acme.external_id, acme.email, acme.website) == (
        "+86 21 5555 6666",
        "EN1",
        "Sales@ACME.com",
        "acme.com",
    )
    assert acme.tags == ["x", "y"] and acme.custom == {"capital": Money("5.00", "USD"), "staff": 7}
    assert (toyota.phone, toyota.external_id, toyota.address, toyota.industry) == (
        "03-1234-5678",
        "JA1",
        "東京都",
        "製造",
    )
    assert toyota.tags == ["自動車"] and toyota.custom == {"staff": 300}


@MEMORY_ONLY
def test_headers_are_compared_without_case_spaces_and_dashes(root: pycrm.Services) -> None:
    report = root.imports.run("customer", text(" NAME ,External-ID,credit_rating", "甲,X-1,AA"))
    assert report.created == 1
    assert (by_name(root)["甲"].external_id, by_name(root)["甲"].credit_rating) == ("X-1", "AA")


@MEMORY_ONLY
def test_columns_maps_other_headers(root: pycrm.Services) -> None:
    report = root.imports.run(
        "customer",
        text("客户全称,所属区域,纳税人识别号", "甲公司,华北,9111"),
        columns={"客户全称": "name", "所属区域": "region", "纳税人识别号": "custom.tax_id"},
    )
    assert report.created == 1
    made = by_name(root)["甲公司"]
    assert (made.region, made.custom) == ("华北", {"tax_id": "9111"})


@MEMORY_ONLY
def test_unknown_and_repeated_headers_are_refused(root: pycrm.Services) -> None:
    with pytest.raises(pycrm.ValidationError) as unknown:
        root.imports.run("customer", text("名称,奇怪列,电话,Colour", "甲,x,1,red"))
    assert paths(unknown.value) == ["奇怪列", "Colour"]
    assert "columns=" in unknown.value.errors[0][1]
    with pytest.raises(pycrm.ValidationError) as twice:
        root.imports.run("customer", text("名称,客户名称", "甲,乙"))
    assert paths(twice.value) == ["客户名称"]
    with pytest.raises(pycrm.ValidationError) as mapped:  # columns= naming no field
        root.imports.run("customer", text("名称,备用", "甲,x"), columns={"备用": "colour"})
    assert paths(mapped.value) == ["备用"]
    assert root.customers.count() == 0


@MEMORY_ONLY
@pytest.mark.parametrize("target", [None, 5, object(), True])
def test_what_cannot_be_written_to_is_refused(root: pycrm.Services, target: Any) -> None:
    with pytest.raises(pycrm.ValidationError, match="target"):
        root.exports.run("customer", target, format="xlsx")
    with pytest.raises(pycrm.ValidationError, match="on_progress"):
        root.exports.run("customer", io.StringIO(), on_progress=True)


@MEMORY_ONLY
def test_bad_calls(root: pycrm.Services) -> None:
    with pytest.raises(pycrm.ValidationError, match="empty"):
        root.imports.run("customer", io.StringIO(""))
    with pytest.raises(pycrm.ValidationError, match="entity"):
        root.imports.run("order", text("名称", "x"))
    with pytest.raises(pycrm.ValidationError, match="on_progress"):
        root.imports.run("customer", text("名称", "x"), on_progress=5)
    with pytest.raises(pycrm.ValidationError, match="entity"):
        root.exports.run("user", io.StringIO())


@MEMORY_ONLY
@pytest.mark.parametrize(
    "source", [None, 5, "", io.StringIO(""), io.StringIO("名称\n甲\n"), io.BytesIO(b"PK\x03")]
)
def test_what_is_not_an_excel_file_is_refused(root: pycrm.Services, source: Any) -> None:
    with pytest.raises(pycrm.ValidationError, match="source"):
        root.imports.run("customer", source, format="xlsx")
    assert root.customers.count() == 0


@MEMORY_ONLY
def test_a_byte_order_mark_is_no_part_of_the_first_header(
    root: pycrm.Services, tmp_path: Path
) -> None:
    body = "名称,电话\n甲,1\n"
    root.imports.run("customer", io.BytesIO(("\ufeff" + body).encode()))  # binary, with BOM
    root.imports.run("customer", write(tmp_path / "bom.csv", "名称,电话", "乙,2"))  # path, BOM
    root.imports.run("customer", write(tmp_path / "no.csv", "名称,电话", "丙,3", bom=False))
    root.imports.run("customer", io.BytesIO(body.replace("甲", "丁").encode()))
    assert sorted(by_name(root)) == ["丁", "丙", "乙", "甲"]


def test_blank_lines_are_skipped_and_rows_keep_the_files_numbers(root: pycrm.Services) -> None:
    source = text("名称,员工数", "甲,1", "", ",,", "乙,2", "", "丙,many", "丁,4")
    report = root.imports.run("customer", source, mode="skip")
    assert (report.rows, report.created, report.skipped) == (4, 3, 1)
    assert [(e.row, e.column) for e in report.errors] == [(7, "员工数")]


# -- values --------------------------------------------------------------------------------
@MEMORY_ONLY
def test_values_of_every_type_are_converted(root: pycrm.Services) -> None:
    root.customers.create(name="甲公司", external_id="C1")
    contacts = root.imports.run(
        "contact",
        text(
            "姓名,客户外部编号,手机,生日,职位,closeness,邮箱",
            "张三,C1,138 0013 8000,1990-05-06,经理,4,zhang@example.com",
        ),
    )
    products = root.imports.run(
        "product",
        text("商品名,产品编码,价格,active,类别", "广告位,AD-1,12000.00 CNY,false,媒体"),
    )
    deals = root.imports.run(
        "opportunity",
        text("名称,客户外部编号,金额,预计成交日期,赢率", "大单,C1,12000.00 CNY,2026-03-01,30"),
    )
    assert contacts.created == products.created == deals.created == 1

    contact = root.contacts.list().items[0]
    assert contact.birthday == dt.date(1990, 5, 6) and contact.closeness == 4
    assert contact.customer_id == by_name(root)["甲公司"].id
    product = root.products.list().items[0]
    assert (product.code, product.price, product.active, product.category) == (
        "AD-1",
        Money("12000.00", "CNY"),
        False,
        "媒体",
    )
    deal = root.opportunities.list().items[0]
    assert (deal.amount, deal.expected_close, deal.probability) == (
        Money("12000.00", "CNY"),
        dt.date(2026, 3, 1),
        30,
    )
    assert deal.customer_id == contact.customer_id


@pytest.mark.parametrize(
    ("column", "cell"),
    [
        ("员工数", "many"),
        ("上市", "maybe"),
        ("注册资本", "12000"),
        ("成立日期", "2020-13-45"),
        ("Ratio", "1/2"),
        ("Channels", "fax"),
        ("级别", "x" * 5000),
    ],
)
@MEMORY_ONLY
def test_a_bad_value_of_any_type_is_reported(root: pycrm.Services, column: str, cell: str) -> None:
    report = root.imports.run("customer", text(f"名称,{column}", f"甲,{cell}"), mode="skip")
    assert report.created == 0 and report.skipped == 1
    [error] = report.errors
    assert error.row == 2 and error.reason


# -- bad rows ------------------------------------------------------------------------------
BAD_FILE = (
    "名称,员工数,上市,注册资本",
    "好一,1,是,1.00 CNY",
    "坏二,x,是,",
    "好三,3,否,",
    "坏四,4x,maybe,",
    "好五,5,,",
)


def test_mode_all_writes_nothing_if_any_row_is_bad(root: pycrm.Services) -> None:
    root.customers.create(name="已有")
    with pytest.raises(pycrm.ValidationError) as refused:
        root.imports.run("customer", text(*BAD_FILE))
    assert paths(refused.value) == ["3.员工数", "5.员工数", "5.上市"]
    assert root.customers.count() == 1
    assert [c.name for c in root.customers.list()] == ["已有"]


def test_mode_all_reports_rows_the_records_refuse_too(root: pycrm.Services) -> None:
    # Values the cells give but the records refuse: a name missing, a bad e-mail, a type
    # not on the picklist, and a cell that does not convert, all reported at once.
    lines = (
        "名称,邮箱,类型,员工数",
        "好一,,,",
        ",a@b.cn,,",
        "好三,,,",
        "好四,not-an-email,,",
        "好五,,nonsense,",
        "好六,,,six",
    )
    with pytest.raises(pycrm.ValidationError) as refused:
        root.imports.run("customer", text(*lines))
    assert [p.partition(".")[0] for p in paths(refused.value)] == ["3", "5", "6", "7"]
    assert root.customers.count() == 0
    report = root.imports.run("customer", text(*lines), mode="skip")
    assert (report.created, report.skipped) == (2, 4)


def test_mode_skip_imports_the_good_rows(root: pycrm.Services) -> None:
    report = root.imports.run("customer", text(*BAD_FILE), mode="skip")
    assert (report.rows, report.created, report.updated, report.skipped) == (5, 3, 0, 2)
    assert not report.ok
    assert [(e.row, e.column) for e in report.errors] == [(3, "员工数"), (5, "员工数"), (5, "上市")]
    assert all(e.reason for e in report.errors)
    assert sorted(by_name(root)) == ["好一", "好三", "好五"]


@MEMORY_ONLY
def test_errors_of_new_records_name_the_files_column(root: pycrm.Services) -> None:
    with pytest.raises(pycrm.ValidationError) as refused:
        root.imports.run(
            "customer", text("客户名称,员工数,邮箱", "好,1,", "坏,x,", ",3,", "坏,4,@")
        )
    assert paths(refused.value) == ["3.员工数", "4.客户名称", "5.邮箱"]


@MEMORY_ONLY
def test_every_error_names_the_files_column(root: pycrm.Services) -> None:
    root.customers.create(name="甲", external_id="E1")
    source = text("名称,外部编号,邮箱", "甲,E1,not-an-email", "乙,E2,", "丙,E2,", "丁,E3,bad")
    report = root.imports.run("customer", source, mode="skip")
    assert [(e.row, e.column) for e in report.errors] == [(2, "邮箱"), (4, "外部编号"), (5, "邮箱")]
    contacts = root.imports.run("contact", text("姓名,客户外部编号", "张,NOPE"), mode="skip")
    assert [(e.row, e.column) for e in contacts.errors] == [(2, "客户外部编号")]


def test_a_repeated_external_id_is_reported(root: pycrm.Services) -> None:
    source = text("名称,external_id", "甲,X1", "乙,X2", "丙,X1")
    report = root.imports.run("customer", source, mode="skip")
    assert (report.created, report.skipped) == (2, 1)
    [error] = report.errors
    assert (error.row, error.column) == (4, "external_id") and "X1" in error.reason
    with pytest.raises(pycrm.ValidationError) as refused:
        root.imports.run("customer", text("名称,external_id", "丁,Y1", "戊,Y1"))
    assert paths(refused.value) == ["3.external_id"]
    assert root.customers.count() == 2


# -- upserts and references ----------------------------------------------------------------
def test_a_known_external_id_updates_its_record(root: pycrm.Services) -> None:
    old = root.customers.create(name="甲公司", external_id="E1", phone="1", region="华北")
    report = root.imports.run(
        "customer", text("名称,外部编号,电话,员工数", "甲公司(新),E1,2,10", "乙公司,E2,3,")
    )
    assert (report.created, report.updated, report.skipped) == (1, 1, 0)
    updated = root.customers.get(old.id)
    assert (updated.name, updated.phone, updated.region, updated.custom) == (
        "甲公司(新)",
        "2",
        "华北",  # not in the file: kept
        {"staff": 10},
    )
    assert updated.version == old.version + 1
    assert root.customers.count() == 2

    again = root.imports.run("customer", text("名称,外部编号", "乙公司 2,E2"))
    assert (again.created, again.updated) == (0, 1)
    assert root.customers.count() == 2


def test_contacts_name_their_customer_by_external_id(root: pycrm.Services) -> None:
    company = root.customers.create(name="甲公司", external_id="C1")
    header = "姓名,customer_external_id,手机,外部编号"
    report = root.imports.run(
        "contact", text(header, "张三,C1,13800138000,K1", "李四,NOPE,139,K2"), mode="skip"
    )
    assert (report.created, report.skipped) == (1, 1)
    [error] = report.errors
    assert (error.row, error.column) == (3, "customer_external_id") and "NOPE" in error.reason
    assert root.contacts.list().items[0].customer_id == company.id

    with pytest.raises(pycrm.ValidationError) as refused:
        root.imports.run("contact", text(header, "王五,C1,,K3", "赵六,NOPE,,K4"))
    assert paths(refused.value) == ["3.customer_external_id"]
    assert root.contacts.count() == 1

    update = root.imports.run("contact", text(header, "张三丰,C1,13800138001,K1"))
    assert (update.created, update.updated) == (0, 1)
    assert root.contacts.list().items[0].mobile == "13800138001"


@MEMORY_ONLY
def test_a_stored_duplicate_under_a_block_rule_is_a_bad_row(
    connect: Callable[..., pycrm.CRM],
) -> None:
    root = connect(TaxIds()).as_user(SYSTEM_USER, tenant=TENANT)
    holder = root.customers.create(name="已有公司", custom={"tax_id": "T1"})
    report = root.imports.run("customer", text("名称,税号", "新一,t1", "新二,T2"), mode="skip")
    assert (report.created, report.skipped) == (1, 1)
    [error] = report.errors
    assert error.row == 2 and str(holder.id) in error.reason
    assert error.column == "税号"  # the file's header of the rule's field
    with pytest.raises(pycrm.ValidationError) as refused:
        root.imports.run("customer", text("名称,税号", "新三,T3", "新四,T1 "))
    assert [p.partition(".")[0] for p in paths(refused.value)] == ["3"]
    assert root.customers.count() == 2


@MEMORY_ONLY
def test_two_rows_of_one_file_duplicating_each_other_under_a_block_rule(
    connect: Callable[..., pycrm.CRM], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = connect(TaxIds()).as_user(SYSTEM_USER, tenant=TENANT)
    original = RecordService._create_batch
    calls = []

    def guarded(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) > 100:
            raise RuntimeError("the import tries the same batch over and over")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(RecordService, "_create_batch", guarded)
    report = root.imports.run("customer", text("名称,税号", "甲,T1", "乙,t1"), mode="skip")
    assert (report.created, report.skipped) == (1, 1)
    assert (report.errors[0].row, report.errors[0].column) == (3, "税号")


def test_a_batchs_new_records_come_before_its_updates(connect: Callable[..., pycrm.CRM]) -> None:
    root = connect(TaxIds()).as_user(SYSTEM_USER, tenant=TENANT)
    root.customers.create(name="旧", external_id="E1")
    csv_text = text("名称,外部编号,税号", "新,E2,T1", "旧(改),E1,T1")
    report = root.imports.run("customer", csv_text, mode="skip")
    assert (report.created, report.updated, report.skipped) == (1, 0, 1)
    assert (report.errors[0].row, report.errors[0].column) == (3, "税号")


@pytest.mark.parametrize("url", ["sqlite"], indirect=True)  # memory scans for duplicates
def test_a_refused_file_still_reports_a_duplicate_of_an_earlier_batch(
    connect: Callable[..., pycrm.CRM],
) -> None:
    """Once a row is bad the rest is only probed; the batches before it were written, so
    a later row duplicating one of theirs is reported with it."""
    root = connect(TaxIds()).as_user(SYSTEM_USER, tenant=TENANT)
    rows = [
        f"客户{i},{'T1' if i in (500, 1_500) else f'N{i}'},{'many' if i == 1_600 else 1}"
        for i in range(2_000)
    ]
    with pytest.raises(pycrm.ValidationError) as refused:
        root.imports.run("customer", text("名称,税号,员工数", *rows))
    assert [p.partition(".")[0] for p in paths(refused.value)] == ["1502", "1602"]
    assert root.customers.count() == 0


@pytest.mark.parametrize("url", ["sqlite"], indirect=True)
def test_an_import_that_fails_half_way_leaves_a_hosts_transaction_usable(
    crm: pycrm.CRM,
) -> None:
    """The file turns unreadable while a batch is still being written: that batch is
    rolled back with the rest, and the host's own transaction goes on."""
    rows = [f"客户{i},X{i}" for i in range(3_100)]
    rows[2_500] = '坏,"' + "x" * 200_000 + '"'  # over the csv module's field limit
    engine = crm.storage.engine  # type: ignore[attr-defined]
    with engine.connect() as conn, conn.begin():
        with (
            pytest.raises(pycrm.ValidationError, match="cannot read the file"),
            crm.unit_of_work(user=SYSTEM_USER, tenant=TENANT, connection=conn) as uow,
        ):
            uow.imports.run("customer", text("名称,外部编号", *rows), mode="skip")
        with crm.unit_of_work(user=SYSTEM_USER, tenant=TENANT, connection=conn) as uow:
            uow.customers.create(name="之后")
    assert crm.as_user(SYSTEM_USER, tenant=TENANT).customers.count() == 1


# -- Excel ---------------------------------------------------------------------------------
def _workbook(path: Path, rows: list[list[Any]]) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def _stored(api: pycrm.Services) -> list[tuple[Any, ...]]:
    return sorted(
        (c.name, c.phone, c.external_id, tuple(c.tags), c.level, sorted(c.custom.items()))
        for c in api.customers.list(limit=1000)
    )


def test_an_excel_file_imports_like_the_csv(crm: pycrm.CRM, tmp_path: Path) -> None:
    from_csv = crm.as_user(SYSTEM_USER, tenant="csv")
    from_xlsx = crm.as_user(SYSTEM_USER, tenant="xlsx")
    from_csv.imports.run("customer", write(tmp_path / "c.csv", *CHINESE))
    header, first, _, second = (line.split(",") for line in CHINESE)
    typed_first: list[Any] = [
        *first[:7],
        "12000.00 CNY",
        120,  # numbers, booleans and dates as Excel keeps them
        True,
        dt.date(2020, 1, 2),
        1.5,
        "web;shop",
    ]
    typed_first[3] = "a;b，c"
    second_row: list[Any] = [v or None for v in second]
    second_row[9] = False
    path = _workbook(tmp_path / "客户.xlsx", [header, typed_first, [], second_row])

    report = from_xlsx.imports.run("customer", path)

    assert (report.rows, report.created, report.skipped) == (2, 2, 0)
    assert _stored(from_xlsx) == _stored(from_csv)
    with path.open("rb") as file:  # an open binary file, the format given: an upsert now
        again = from_xlsx.imports.run("customer", file, format="xlsx")
    assert (again.created, again.updated) == (0, 2)
    assert _stored(from_xlsx) == _stored(from_csv)


# -- exports -------------------------------------------------------------------------------
COLUMNS = [
    "name",
    "phone",
    "tags",
    "level",
    "type",
    "external_id",
    "custom.capital",
    "custom.staff",
    "custom.listed",
    "custom.founded",
    "custom.ratio",
    "custom.channels",
]


def _seed(api: pycrm.Services) -> None:
    api.customers.create(
        name="北京甲",
        phone="010-6552 9988",
        tags=["a", "b"],
        level="vip",
        external_id="E1",
        custom={
            "capital": "12000.00 CNY",
            "staff": 3,
            "listed": True,
            "founded": "2020-01-02",
            "ratio": "0.25",
            "channels": ["web", "shop"],
        },
    )
    api.customers.create(name="上海乙", level="vip", type="existing", custom={"listed": False})
    api.customers.create(name="广州丙", level="normal", type="partner")


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_an_export_imported_into_another_tenant_gives_the_same_records(
    crm: pycrm.CRM, tmp_path: Path, suffix: str
) -> None:
    source, target = crm.as_user(SYSTEM_USER, tenant="a"), crm.as_user(SYSTEM_USER, tenant="b")
    _seed(source)
    path = tmp_path / f"customers{suffix}"

    assert source.exports.run("customer", path, columns=COLUMNS, order_by="name") == 3
    report = target.imports.run("customer", path)

    assert (report.created, report.skipped) == (3, 0)

    def stored(api: pycrm.Services) -> list[tuple[Any, ...]]:
        return sorted(
            (c.name, c.phone, tuple(c.tags), c.level, c.type, c.external_id, c.custom)
            for c in api.customers.list()
        )

    assert stored(target) == stored(source)


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as file:
        return list(csv.DictReader(file))


def test_an_export_honours_where_and_order_by(root: pycrm.Services, tmp_path: Path) -> None:
    _seed(root)
    path = tmp_path / "vip.csv"
    count = root.exports.run("customer", path, where={"level": "vip"}, order_by="-name")
    rows = _read(path)
    assert count == len(rows) == 2
    assert [r["name"] for r in rows] == sorted(["北京甲", "上海乙"], reverse=True)
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")  # Excel reads Chinese with a BOM
    first = next(r for r in rows if r["name"] == "北京甲")
    assert list(rows[0])[:4] == ["id", "owner_id", "created_at", "updated_at"]
    assert (first["tags"], first["custom.capital"], first["custom.listed"]) == (
        "a;b",
        "12000.00 CNY",
        "true",
    )
    assert first["custom.channels"] == "web;shop"

    stream = io.StringIO()
    assert root.exports.run("customer", stream, where={"level": "normal"}, columns=["name"]) == 1
    assert stream.getvalue().splitlines() == ["name", "广州丙"]

    book = tmp_path / "all.xlsx"
    assert root.exports.run("customer", book, order_by="name", columns=["name", "level"]) == 3
    sheet = openpyxl.load_workbook(book).worksheets[0]
    names = [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert names == sorted(["北京甲", "上海乙", "广州丙"])


@MEMORY_ONLY
def test_export_arguments_are_checked(root: pycrm.Services, tmp_path: Path) -> None:
    with pytest.raises(pycrm.ValidationError) as unknown:
        root.exports.run("customer", tmp_path / "x.csv", columns=["name", "colour"])
    assert paths(unknown.value) == ["colour"]
    with pytest.raises(pycrm.ValidationError):
        root.exports.run("customer", tmp_path / "x.csv", where={"colour": "red"})


def test_a_rep_exports_only_their_customers(crm: pycrm.CRM, tmp_path: Path) -> None:
    root = crm.as_user(SYSTEM_USER, tenant=TENANT)
    ann = root.users.create(name="Ann", roles=["sales_rep"])
    bo = root.users.create(name="Bo", roles=["sales_rep"])
    for owner, names in ((ann.id, ["A1", "A2"]), (bo.id, ["B1"])):
        for name in names:
            root.customers.create(name=name, owner_id=owner)
    path = tmp_path / "mine.csv"
    assert crm.as_user(ann.id, tenant=TENANT).exports.run("customer", path) == 2
    rows = _read(path)
    assert sorted(r["name"] for r in rows) == ["A1", "A2"]
    assert {r["owner_id"] for r in rows} == {str(ann.id)}


def test_fields_hidden_from_the_user_are_left_out(
    connect: Callable[..., pycrm.CRM], tmp_path: Path
) -> None:
    crm = connect(Discreet())
    root = crm.as_user(SYSTEM_USER, tenant=TENANT)
    intern = root.users.create(name="实习生", roles=["intern"])
    root.customers.create(name="新客户", phone="13900000000", owner_id=intern.id)
    me = crm.as_user(intern.id, tenant=TENANT)

    path = tmp_path / "intern.csv"
    assert me.exports.run("customer", path) == 1
    [row] = _read(path)
    assert row["name"] == "新客户" and "phone" not in row
    assert "13900000000" not in path.read_text(encoding="utf-8-sig")
    with pytest.raises(pycrm.ValidationError):
        me.exports.run("customer", tmp_path / "x.csv", columns=["name", "phone"])
    assert "phone" in _read_header(root, tmp_path / "root.csv")


def _read_header(api: pycrm.Services, path: Path) -> list[str]:
    api.exports.run("customer", path)
    with path.open(encoding="utf-8-sig", newline="") as file:
        return next(csv.reader(file))


# -- an import stopped half-way ------------------------------------------------------------
class Stop(Exception):
    pass


def _big(rows: int) -> io.StringIO:
    return io.StringIO(
        "名称,外部编号,员工数\n" + "".join(f"客户{i},X{i},{i}\n" for i in range(rows))
    )


def test_an_import_stopped_half_way_leaves_nothing(root: pycrm.Services) -> None:
    root.customers.create(name="已有")
    seen: list[int] = []

    def progress(done: int) -> None:
        seen.append(done)
        raise Stop("killed after the first batch")

    with pytest.raises(Stop):
        root.imports.run("customer", _big(2_500), on_progress=progress, mode="skip")
    assert seen == [1_000]
    assert root.customers.count() == 1
    assert root.customers.count({"external_id": "X0"}) == 0


@pytest.mark.parametrize("url", ["sqlite"], indirect=True)
def test_a_big_import_reports_progress_per_batch(root: pycrm.Services) -> None:
    seen: list[int] = []
    report = root.imports.run("customer", _big(2_500), on_progress=seen.append)
    assert seen == [1_000, 2_000, 2_500]
    assert report.created == root.customers.count() == 2_500


@pytest.mark.parametrize("url", ["sqlite"], indirect=True)
def test_a_bad_row_in_the_last_batch_undoes_the_first_batches(root: pycrm.Services) -> None:
    source = _big(2_500).getvalue() + "坏,Y,many\n"
    with pytest.raises(pycrm.ValidationError) as refused:
        root.imports.run("customer", io.StringIO(source))
    assert paths(refused.value) == ["2502.员工数"]
    assert root.customers.count() == 0


def _batches_apart() -> tuple[str, list[tuple[int, str]]]:
    """2,600 rows over three batches: updates of stored records, a repeat of an id two
    batches back, a bad row in each batch; the bad rows' (number, column)."""
    lines, bad = ["名称,外部编号,员工数"], []
    for i in range(2_600):
        number = i + 2
        if i in (10, 1_010, 2_010):
            lines.append(f"坏{i},Z{i},many")
            bad.append((number, "员工数"))
        elif i == 2_300:
            lines.append("重复,X5,1")  # the id of row 7, two batches back
            bad.append((number, "外部编号"))
        else:
            lines.append(f"客户{i},X{i},{i}")
    return "\n".join(lines) + "\n", bad


def test_batches_written_while_the_next_is_read_keep_every_rule(root: pycrm.Services) -> None:
    """A batch is looked up before the one before it is written, and validated while it
    is: updates, repeats across batches and bad rows come out as in one batch."""
    kept = [root.customers.create(name=f"旧{i}", external_id=f"X{i}") for i in (1_500, 2_500)]
    text, bad = _batches_apart()
    with pytest.raises(pycrm.ValidationError) as refused:
        root.imports.run("customer", io.StringIO(text))  # all or nothing
    assert paths(refused.value) == [f"{number}.{column}" for number, column in bad]
    assert root.customers.count() == 2
    report = root.imports.run("customer", io.StringIO(text), mode="skip")
    assert [(e.row, e.column) for e in report.errors] == bad
    assert (report.rows, report.updated, report.skipped) == (2_600, 2, 4)
    assert report.created == 2_600 - 2 - 4
    assert root.customers.count() == report.created + 2
    assert [root.customers.get(k.id).name for k in kept] == ["客户1500", "客户2500"]
    assert root.customers.list({"external_id": "X5"}).items[0].name == "客户5"


def test_a_reference_column_over_many_batches_names_records_that_exist(crm: pycrm.CRM) -> None:
    """Rows whose validation reads other records (a custom reference field) are checked
    once the batch before is written, and a bad reference is reported in its row."""
    crm.fields.define("contact", "introducer", "reference", label="Introducer", target="customer")
    root = crm.as_user(SYSTEM_USER, tenant=TENANT)
    customer = root.customers.create(name="甲", external_id="C1")
    rows = [f"联系人{i},C1,{customer.id if i != 1_500 else uuid.uuid4()}" for i in range(2_100)]
    text = "姓名,customer_external_id,introducer\n" + "\n".join(rows) + "\n"
    report = root.imports.run("contact", io.StringIO(text), mode="skip")
    assert (report.created, report.skipped) == (2_099, 1)
    assert [(e.row, e.column) for e in report.errors] == [(1_502, "introducer")]
    assert root.contacts.count({"custom.introducer": customer.id}) == 2_099


@MEMORY_ONLY
def test_importing_takes_the_create_right(crm: pycrm.CRM) -> None:
    root = crm.as_user(SYSTEM_USER, tenant=TENANT)
    agent = root.users.create(name="客服", roles=["service_agent"])
    with pytest.raises(pycrm.PermissionDenied):
        crm.as_user(agent.id, tenant=TENANT).imports.run("customer", text("名称", "甲"))
    ann = root.users.create(name="Ann", roles=["sales_rep"])
    crm.as_user(ann.id, tenant=TENANT).imports.run("customer", text("名称", "甲"))
    assert root.customers.list().items[0].owner_id == ann.id


# -- the command line ------------------------------------------------------------------------
@pytest.fixture
def cli_url(sqlite_url: str) -> str:
    return sqlite_url


def _cli_count(url: str, tenant: str = TENANT) -> int:
    with pycrm.CRM.connect(url, load_entry_points=False) as crm:
        return crm.as_user(SYSTEM_USER, tenant=tenant).customers.count()


def test_cli_import_prints_a_summary(cli_url: str, tmp_path: Path) -> None:
    path = write(
        tmp_path / "ok.csv", "客户名称,电话,外部编号", "甲公司,010-1,E1", "乙公司,010-2,E2"
    )
    result = runner.invoke(app, ["import", cli_url, "customer", str(path), "--tenant", TENANT])
    assert result.exit_code == 0, result.output
    assert "2 rows: 2 created, 0 updated, 0 skipped" in result.output
    assert _cli_count(cli_url) == 2


def test_cli_import_of_a_bad_file_exits_1_and_lists_the_rows(cli_url: str, tmp_path: Path) -> None:
    path = write(tmp_path / "bad.csv", "名称,邮箱", "甲,a@b.cn", "乙,not-an-email")
    result = runner.invoke(app, ["import", cli_url, "customer", str(path), "--tenant", TENANT])
    assert result.exit_code == 1
    assert "nothing imported: 1 problem(s)" in result.output
    assert "email" in result.output and " 3 " in result.output
    assert _cli_count(cli_url) == 0

    skipped = runner.invoke(
        app, ["import", cli_url, "customer", str(path), "--tenant", TENANT, "--mode", "skip"]
    )
    assert skipped.exit_code == 1  # a row was bad
    assert "2 rows: 1 created, 0 updated, 1 skipped" in skipped.output
    assert _cli_count(cli_url) == 1

    wrong = runner.invoke(
        app, ["import", cli_url, "customer", str(path), "--tenant", TENANT, "--mode", "some"]
    )
    assert wrong.exit_code == 1 and _cli_count(cli_url) == 1


def test_cli_import_as_json(cli_url: str, tmp_path: Path) -> None:
    def run(path: Path, *more: str) -> Any:
        args = ["import", cli_url, "customer", str(path), "--tenant", TENANT, "--json"]
        return runner.invoke(app, [*args, "--column", "全称=name", *more])

    path = write(tmp_path / "x.csv", "全称,external_id", "甲,E1", "乙,E1")
    refused = run(path)
    assert refused.exit_code == 1
    assert json.loads(refused.stdout) == {
        "refused": [["3.external_id", "'E1' is on an earlier row of the file"]]
    }

    skipped = run(path, "--mode", "skip")
    assert skipped.exit_code == 1
    report = json.loads(skipped.stdout)
    assert {k: report[k] for k in ("entity", "rows", "created", "updated", "skipped")} == {
        "entity": "customer",
        "rows": 2,
        "created": 1,
        "updated": 0,
        "skipped": 1,
    }
    assert [(e["row"], e["column"]) for e in report["errors"]] == [(3, "external_id")]

    again = run(write(tmp_path / "y.csv", "全称,external_id", "甲2,E1"))
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["updated"] == 1
    assert _cli_count(cli_url) == 1


def test_cli_export_writes_the_file(cli_url: str, tmp_path: Path) -> None:
    with pycrm.CRM.connect(cli_url, load_entry_points=False) as crm:
        api = crm.as_user(SYSTEM_USER, tenant=TENANT)
        for name, level in (("甲", "vip"), ("乙", "vip"), ("丙", "normal")):
            api.customers.create(name=name, level=level)
    path = tmp_path / "out.csv"
    result = runner.invoke(
        app,
        [
            "export",
            cli_url,
            "customer",
            str(path),
            "--tenant",
            TENANT,
            "--where",
            "level=vip",
            "--order-by",
            "name",
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"2 customer records written to {path}" in result.output.replace("\n", "")
    assert [r["name"] for r in _read(path)] == sorted(["甲", "乙"])

    book = tmp_path / "out.xlsx"
    as_json = runner.invoke(
        app, ["export", cli_url, "customer", str(book), "--tenant", TENANT, "--json"]
    )
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout) == {"entity": "customer", "file": str(book), "records": 3}
    assert book.stat().st_size > 0

    bad = runner.invoke(
        app, ["export", cli_url, "customer", str(path), "--tenant", TENANT, "--where", "colour=red"]
    )
    assert bad.exit_code == 1
