"""Locale formatting, and catalogues that translate every built-in text."""

from __future__ import annotations

import datetime as dt
import gettext
import io
import re
from decimal import Decimal

import pytest
from babel.messages import pofile

import pycrm
from pycrm import Money, i18n
from pycrm.core import messages as msg
from pycrm.core.messages import MESSAGES
from pycrm.services.reports.models import AGING_HEADINGS

TRANSLATED = ("zh_CN", "ja_JP")


@pytest.mark.parametrize(
    ("money", "locale", "text"),
    [
        (Money("1234.5", "CNY"), "zh_CN", "¥1,234.50"),
        (Money("1234.5", "CNY"), "en_US", "CN¥1,234.50"),
        (Money("1234.5", "USD"), "zh_CN", "US$1,234.50"),
        (Money("1234.5", "USD"), "en_US", "$1,234.50"),
        (Money("1235", "JPY"), "ja_JP", "￥1,235"),
        (Money("1234.5", "CNY"), "ja_JP", "元1,234.50"),
    ],
)
def test_money_per_locale(money: Money, locale: str, text: str) -> None:
    assert i18n.format_money(money, locale) == text


def test_dates_and_numbers_per_locale() -> None:
    day = dt.date(2026, 3, 1)
    assert i18n.format_date(day, "zh_CN") == "2026年3月1日"
    assert i18n.format_date(day, "ja_JP") == "2026/03/01"
    assert i18n.format_date(day, "en_US") == "Mar 1, 2026"
    assert i18n.format_date(day, "en_US", "yyyy-MM") == "2026-03"
    assert i18n.format_number(Decimal("1234567.891"), "en_US") == "1,234,567.891"
    assert i18n.format_number(1234567, "ja_JP") == "1,234,567"
    assert i18n.format_percent(Decimal("0.15"), "zh_CN") == "15%"
    with pytest.raises(pycrm.ValidationError):
        i18n.format_number(1.5, "en_US")  # type: ignore[arg-type]


def test_statuses_headings_and_errors_in_chinese_and_japanese() -> None:
    assert i18n.label(pycrm.OrderStatus.CONFIRMED, "zh_CN") == "已确认"
    assert i18n.label(pycrm.InstallmentState.OVERDUE, "ja_JP") == "期限超過"
    assert i18n.label(pycrm.OrderStatus.DRAFT, "en_US") == "draft"
    assert [i18n.translate(h, "zh_CN") for h in AGING_HEADINGS] == [
        "未到期",
        "1–30 天",
        "31–60 天",
        "61–90 天",
        "90 天以上",
    ]
    error = pycrm.RuleViolation(
        "x",
        template=msg.ORDER_BAD_TRANSITION,
        params={"order": "SO-1", "status": "completed", "action": "cancelled"},
    )
    assert msg.ORDER_BAD_TRANSITION in MESSAGES
    assert i18n.translate_error(error, "zh_CN") == "订单 SO-1 状态为已完成，不能变为已取消"
    assert i18n.translate_error(pycrm.RuleViolation("plain"), "ja_JP") == "plain"


def test_a_rule_violation_from_the_services_translates(crm: pycrm.CRM) -> None:
    with crm.unit_of_work(user=pycrm.SYSTEM_USER) as uow:
        customer = uow.customers.create(name="c")
        order = uow.orders.create(customer_id=customer.id, currency="CNY")
        with pytest.raises(pycrm.RuleViolation) as caught:
            uow.orders.confirm(order.id)
    assert i18n.translate_error(caught.value, "ja_JP") == (
        f"注文 {order.id} には明細がないため確定できません"
    )


def _catalogue(locale: str) -> dict[str, str]:
    path = i18n.CATALOGUES / locale / "LC_MESSAGES" / "pycrm.po"
    with path.open("rb") as source:
        return {m.id: m.string for m in pofile.read_po(source) if m.id}


def _fields(text: str) -> set[str]:
    return set(re.findall(r"\{(\w+)\}", text))


@pytest.mark.parametrize("locale", TRANSLATED)
def test_every_message_has_a_translation(locale: str) -> None:
    catalogue = _catalogue(locale)
    missing = [m for m in MESSAGES if not catalogue.get(m)]
    assert not missing, f"{locale} lacks translations for: {missing}"
    stale = sorted(set(catalogue) - set(MESSAGES))
    assert not stale, f"{locale} translates texts pycrm no longer has: {stale}"
    broken = [m for m in MESSAGES if _fields(catalogue[m]) != _fields(m)]
    assert not broken, f"{locale} translations with wrong placeholders: {broken}"


@pytest.mark.parametrize("locale", TRANSLATED)
def test_the_shipped_mo_matches_its_po(locale: str) -> None:
    folder = i18n.CATALOGUES / locale / "LC_MESSAGES"
    shipped = gettext.GNUTranslations(io.BytesIO((folder / "pycrm.mo").read_bytes()))
    fresh = gettext.GNUTranslations(io.BytesIO(i18n.compile_catalogue(folder / "pycrm.po")))
    for message in MESSAGES:
        assert shipped.gettext(message) == fresh.gettext(message), (
            f"{locale}: run scripts/compile-catalogues.py"
        )
