"""Money: exact amounts, one currency at a time, allocation that never loses a cent."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pycrm import CurrencyMismatch, ExchangeRateMissing, FixedRates, Money, ValidationError
from pycrm.core.money import allocate_minor, minor_digits

CURRENCIES = ["CNY", "USD", "JPY", "KWD", "EUR", "BHD", "KRW"]


@pytest.mark.parametrize(
    ("total", "currency", "expected"),
    [
        ("100.00", "CNY", ["33.34", "33.33", "33.33"]),
        ("1000", "JPY", ["334", "333", "333"]),
        ("10.000", "KWD", ["3.334", "3.333", "3.333"]),
        ("-100.00", "CNY", ["-33.34", "-33.33", "-33.33"]),
        ("0.05", "USD", ["0.02", "0.02", "0.01"]),
    ],
)
def test_split_hands_leftover_units_to_the_first_parts(total, currency, expected):
    assert Money(total, currency).split(3) == [Money(x, currency) for x in expected]


def test_allocate_by_ratio_gives_leftover_to_largest_remainder():
    # 100.00 * 1/6 = 16.666.., * 2/6 = 33.333.., * 3/6 = 50 -> floors 16.66, 33.33, 50.00
    # leftover 0.01 goes to the largest remainder (16.666.. -> .006..)
    parts = Money("100.00", "CNY").allocate([1, 2, 3])
    assert parts == [Money("16.67", "CNY"), Money("33.33", "CNY"), Money("50.00", "CNY")]


@pytest.mark.parametrize("bad", [[], [0, 0], [1, -1]])
def test_allocate_refuses_meaningless_ratios(bad):
    with pytest.raises(ValidationError):
        Money("1.00", "CNY").allocate(bad)


def test_minor_units_per_currency():
    assert [minor_digits(c) for c in ("JPY", "CNY", "USD", "KWD")] == [0, 2, 2, 3]
    assert Money("12.34", "CNY").minor_units == 1234
    assert Money.from_minor(1234, "KWD") == Money("1.234", "KWD")


def test_construction_is_strict_and_rounding_is_explicit():
    with pytest.raises(ValidationError, match="more decimals"):
        Money("1.005", "CNY")
    with pytest.raises(ValidationError, match="never a float"):
        Money(1.5, "CNY")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="unknown currency"):
        Money("1", "XYZ")
    with pytest.raises(ValidationError, match="ISO 4217"):
        Money("1", "cny")
    with pytest.raises(ValidationError, match="not a number"):
        Money("abc", "CNY")
    assert Money.rounded("1.005", "CNY") == Money("1.01", "CNY")  # half up
    assert Money.rounded("1.5", "JPY") == Money("2", "JPY")
    assert Money("1.5", "CNY") == Money("1.50", "CNY")


def test_arithmetic_stays_in_one_currency():
    a, b = Money("10.50", "CNY"), Money("0.25", "CNY")
    assert a + b == Money("10.75", "CNY")
    assert a - b == Money("10.25", "CNY")
    assert -a == Money("-10.50", "CNY") and abs(-a) == a
    assert a * 3 == Money("31.50", "CNY")
    assert a * Decimal("0.333") == Money("3.50", "CNY")  # 3.4965 rounds half up
    assert b < a and a >= b
    with pytest.raises(CurrencyMismatch):
        a + Money("1.00", "USD")
    with pytest.raises(CurrencyMismatch):
        _ = a < Money("1.00", "USD")
    with pytest.raises(TypeError):
        a * 1.5  # type: ignore[operator]


def test_money_is_a_hashable_value():
    assert {Money("1.00", "CNY"), Money("1", "CNY")} == {Money("1.00", "CNY")}
    assert Money("1.00", "CNY") != Money("1.00", "USD")


@pytest.mark.parametrize(
    ("amount", "currency", "locale", "text"),
    [
        ("1234.50", "CNY", "zh_CN", "¥1,234.50"),
        ("1234.50", "USD", "zh_CN", "US$1,234.50"),
        ("1235", "JPY", "ja_JP", "￥1,235"),
        ("1234.50", "CNY", "ja_JP", "元1,234.50"),
        ("1234.50", "USD", "en_US", "$1,234.50"),
        ("1234.5", "KWD", "en_US", "KWD1,234.500"),
    ],
)
def test_format_per_locale(amount, currency, locale, text):
    assert Money(amount, currency).format(locale).replace("\xa0", "") == text


def test_conversion_uses_the_rate_and_a_missing_rate_names_pair_and_date():
    rates = FixedRates({"USD/CNY": Decimal("7.10")})
    day = dt.date(2026, 3, 1)
    assert Money("10.00", "USD").convert("CNY", rates, day) == Money("71.00", "CNY")
    assert Money("71.00", "CNY").convert("USD", rates, day) == Money("10.00", "USD")
    assert Money("5.00", "CNY").convert("CNY", rates, day) == Money("5.00", "CNY")
    with pytest.raises(ExchangeRateMissing) as caught:
        Money("1.00", "EUR").convert("CNY", rates, day)
    assert "EUR/CNY" in str(caught.value) and "2026-03-01" in str(caught.value)


def test_fixed_rates_validate_their_input():
    with pytest.raises(ValidationError):
        FixedRates({"USD/CNY": Decimal("-1")})
    with pytest.raises(ValidationError):
        FixedRates({"USD/XYZ": Decimal("1")})


amounts = st.integers(min_value=-(10**15), max_value=10**15)
ratios = st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=30).filter(any)


@given(total=amounts, weights=ratios)
def test_allocation_parts_sum_to_total_and_stay_within_one_unit(total, weights):
    parts = allocate_minor(total, weights)
    assert sum(parts) == total
    whole = sum(weights)
    for part, weight in zip(parts, weights, strict=True):
        exact = Decimal(total) * weight / whole
        assert abs(part - exact) < 1


@given(units=amounts, currency=st.sampled_from(CURRENCIES), n=st.integers(1, 50))
def test_split_of_any_amount_in_any_currency_adds_up(units, currency, n):
    money = Money.from_minor(units, currency)
    parts = money.split(n)
    assert len(parts) == n
    assert Money.total(parts, currency) == money
    assert max(parts) - min(parts) <= Money.from_minor(1, currency)


@given(a=amounts, b=amounts, c=amounts, currency=st.sampled_from(CURRENCIES))
def test_addition_is_exact_associative_and_reversible(a, b, c, currency):
    x, y, z = (Money.from_minor(v, currency) for v in (a, b, c))
    assert (x + y) + z == x + (y + z)
    assert (x + y) - y == x
    assert (x + y).minor_units == a + b
