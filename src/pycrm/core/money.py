"""Exact money: a Decimal amount in one ISO 4217 currency.

Amounts are always quantised to the currency's minor units (JPY 0, CNY 2, KWD 3, as babel
knows them). Constructing ``Money`` from a value with more decimals than the currency has
is an error: silently rounding user input would lose money. Arithmetic that creates extra
decimals (multiplying by a quantity, a discount, an exchange rate) rounds with
:data:`ROUNDING` (half up, the commercial rule), and :meth:`Money.allocate` splits an amount
so the parts always add up to the whole.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import Protocol, runtime_checkable

import babel.core
import babel.numbers
from attrs import frozen

from pycrm.errors import CurrencyMismatch, ExchangeRateMissing, ValidationError

__all__ = [
    "ROUNDING",
    "DatedRates",
    "ExchangeRates",
    "FixedRates",
    "Money",
    "allocate_minor",
    "minor_digits",
    "validate_currency",
]

#: Rounding used wherever arithmetic produces more decimals than the currency has.
ROUNDING = ROUND_HALF_UP

#: Largest amount in minor units: what a signed 64-bit integer column holds exactly.
MAX_MINOR_UNITS = 2**63 - 1

AmountLike = Decimal | int | str


def validate_currency(code: object) -> str:
    """Return ``code`` if it is an ISO 4217 currency babel knows, else raise ValidationError."""
    if not isinstance(code, str) or len(code) != 3 or not code.isupper():
        raise ValidationError.single("currency", f"{code!r} is not a three-letter ISO 4217 code")
    return _known_currency(code)


@lru_cache(maxsize=512)
def _known_currency(code: str) -> str:
    try:
        babel.numbers.validate_currency(code)
    except babel.numbers.UnknownCurrencyError:
        raise ValidationError.single("currency", f"unknown currency {code!r}") from None
    return code


@lru_cache(maxsize=512)
def minor_digits(currency: str) -> int:
    """Number of decimal digits of the currency's minor unit (JPY 0, CNY 2, KWD 3)."""
    return int(babel.numbers.get_currency_precision(validate_currency(currency)))


@lru_cache(maxsize=512)
def _quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_digits(currency))


def _to_decimal(value: object, field: str = "amount") -> Decimal:
    if isinstance(value, bool | float):
        raise ValidationError.single(field, "use a Decimal, int or string for money, never a float")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int | str):
        try:
            result = Decimal(value)
        except InvalidOperation:
            raise ValidationError.single(field, f"{value!r} is not a number") from None
    else:
        raise ValidationError.single(field, f"{type(value).__name__} is not an amount")
    if not result.is_finite():
        raise ValidationError.single(field, "amount must be a finite number")
    return result


def allocate_minor(total: int, ratios: Sequence[Decimal | int]) -> list[int]:
    """Split ``total`` minor units by ``ratios`` by the largest-remainder method.

    Each part is floored, then the leftover units go one each to the parts with the largest
    remainders (ties: the earlier part). Parts add up to ``total`` exactly and no part is
    more than one unit away from its exact share.
    """
    if isinstance(ratios, str | bytes) or not isinstance(ratios, Sequence):
        raise ValidationError.single("ratios", "expected a sequence of numbers")
    weights = [_to_decimal(r, f"ratios.{i}") for i, r in enumerate(ratios)]
    if not weights:
        raise ValidationError.single("ratios", "at least one ratio is needed")
    if any(w < 0 for w in weights):
        raise ValidationError.single("ratios", "ratios must not be negative")
    whole = sum(weights)
    if whole == 0:
        raise ValidationError.single("ratios", "ratios must not all be zero")
    sign = -1 if total < 0 else 1
    magnitude = abs(total)
    exact = [magnitude * w / whole for w in weights]
    parts = [int(e) for e in exact]  # floor: exact shares are non-negative
    leftover = magnitude - sum(parts)
    by_remainder = sorted(range(len(parts)), key=lambda i: (-(exact[i] - parts[i]), i))
    for i in by_remainder[:leftover]:
        parts[i] += 1
    return [sign * p for p in parts]


@frozen(order=False, init=False)
class Money:
    """An exact amount of one currency, e.g. ``Money("1234.50", "CNY")``."""

    amount: Decimal
    currency: str

    def __init__(self, amount: AmountLike, currency: str) -> None:
        code = validate_currency(currency)
        value = _to_decimal(amount)
        try:
            quantised = value.quantize(_quantum(code))
        except ArithmeticError:
            raise ValidationError.single("amount", f"{value} is too large an amount") from None
        if abs(quantised.scaleb(minor_digits(code))) > MAX_MINOR_UNITS:
            raise ValidationError.single(
                "amount", f"{value} {code} is larger than pycrm stores exactly"
            )
        if quantised != value:
            raise ValidationError.single(
                "amount",
                f"{value} has more decimals than {code} allows ({minor_digits(code)}); "
                "round it first with Money.rounded()",
            )
        self.__attrs_init__(quantised, code)

    # -- construction -------------------------------------------------------------------
    @classmethod
    def rounded(cls, amount: AmountLike, currency: str) -> Money:
        """Build Money from a value with any precision, rounding with :data:`ROUNDING`."""
        exact = _to_decimal(amount)
        try:
            value = exact.quantize(_quantum(validate_currency(currency)), ROUNDING)
        except ArithmeticError:  # quoting the Decimal: an int may be too long to print
            raise ValidationError.single("amount", f"{exact} is too large an amount") from None
        return cls(value, currency)

    @classmethod
    def parse(cls, value: object) -> Money:
        """Money from Money, ``{"amount": "1.00", "currency": "CNY"}`` or ``"1.00 CNY"``
        (the forms inputs, imports and JSON use); anything else is a ValidationError."""
        if isinstance(value, Money):
            return value
        if isinstance(value, dict) and set(value) == {"amount", "currency"}:
            return cls(value["amount"], value["currency"])
        if isinstance(value, str) and len(parts := value.split()) == 2:
            return cls(parts[0], parts[1])
        raise ValidationError.single(
            "amount", 'expected Money, {"amount": "1.00", "currency": "CNY"} or "1.00 CNY"'
        )

    @classmethod
    def zero(cls, currency: str) -> Money:
        """Nothing, in ``currency``."""
        return cls(0, currency)

    @classmethod
    def from_minor(cls, units: int, currency: str) -> Money:
        """Build Money from integer minor units (how the SQL adapter stores it)."""
        return cls(Decimal(units).scaleb(-minor_digits(currency)), currency)

    @property
    def minor_units(self) -> int:
        """The amount in integer minor units (cents, fen, yen)."""
        return int(self.amount.scaleb(minor_digits(self.currency)))

    # -- arithmetic within one currency -------------------------------------------------
    def _same(self, other: object) -> Money:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatch(self.currency, other.currency)
        return other

    def __add__(self, other: Money) -> Money:
        return Money(self.amount + self._same(other).amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        return Money(self.amount - self._same(other).amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __abs__(self) -> Money:
        return Money(abs(self.amount), self.currency)

    def __mul__(self, factor: Decimal | int) -> Money:
        if isinstance(factor, bool) or not isinstance(factor, Decimal | int):
            raise TypeError("Money can only be multiplied by a Decimal or an int")
        return Money.rounded(self.amount * factor, self.currency)

    __rmul__ = __mul__

    def __lt__(self, other: Money) -> bool:
        return self.amount < self._same(other).amount

    def __le__(self, other: Money) -> bool:
        return self.amount <= self._same(other).amount

    def __gt__(self, other: Money) -> bool:
        return self.amount > self._same(other).amount

    def __ge__(self, other: Money) -> bool:
        return self.amount >= self._same(other).amount

    def __bool__(self) -> bool:
        return bool(self.amount)

    def is_positive(self) -> bool:
        """Whether the amount is more than zero."""
        return self.amount > 0

    def is_negative(self) -> bool:
        """Whether the amount is less than zero."""
        return self.amount < 0

    def allocate(self, ratios: Sequence[Decimal | int]) -> list[Money]:
        """Split into parts proportional to ``ratios`` that add up to exactly this amount."""
        return [
            Money.from_minor(u, self.currency) for u in allocate_minor(self.minor_units, ratios)
        ]

    def split(self, parts: int) -> list[Money]:
        """Split into ``parts`` equal shares; earlier shares take the leftover minor units."""
        if isinstance(parts, bool) or not isinstance(parts, int) or parts < 1:
            raise ValidationError.single("parts", f"{parts!r} is not a whole number of parts")
        return self.allocate([1] * parts)

    @staticmethod
    def total(amounts: Iterable[Money], currency: str) -> Money:
        """Sum amounts of one currency; an empty sum is zero in ``currency``."""
        result = Money.zero(currency)
        for amount in amounts:
            if not isinstance(amount, Money):
                raise ValidationError.single("amounts", f"{amount!r} is not Money")
            result = result + amount
        return result

    def convert(self, to: str, rates: ExchangeRates, on: dt.date) -> Money:
        """Convert with the rate valid ``on`` the given date, rounding with ROUNDING."""
        if validate_currency(to) == self.currency:
            return self
        if not isinstance(rates, ExchangeRates):
            raise ValidationError.single("rates", "expected exchange rates (crm.exchange_rates)")
        if not isinstance(on, dt.date):
            raise ValidationError.single("on", f"{on!r} is not a date")
        return Money.rounded(self.amount * rates.rate(self.currency, to, on), to)

    # -- presentation --------------------------------------------------------------------
    def to_dict(self) -> dict[str, str]:
        """JSON-ready: ``{"amount": "1234.50", "currency": "CNY"}`` (the amount as a string,
        so no JSON reader turns it into an inexact float)."""
        return {"amount": str(self.amount), "currency": self.currency}

    def format(self, locale: str = "en_US") -> str:
        """Format for a locale: ``¥1,234.50`` (zh_CN), ``US$1,234.50``, ``￥1,235`` (ja_JP)."""
        try:
            text = babel.numbers.format_currency(
                self.amount, self.currency, locale=locale, currency_digits=True
            )
        except (ValueError, TypeError, babel.core.UnknownLocaleError):
            raise ValidationError.single("locale", f"{locale!r} is not a known locale") from None
        return str(text)

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"

    def __repr__(self) -> str:
        return f"Money('{self.amount}', '{self.currency}')"


@runtime_checkable
class ExchangeRates(Protocol):
    """Where conversion rates come from; plugins provide one via ``pycrm_make_exchange_rates``."""

    def rate(self, base: str, quote: str, on: dt.date) -> Decimal:
        """Units of ``quote`` for one unit of ``base`` valid on ``on``; raise
        :class:`pycrm.ExchangeRateMissing` when there is none."""
        ...


class FixedRates:
    """Rates fixed by the company, e.g. ``{"USD/CNY": Decimal("7.10")}``.

    The inverse pair is derived when only one direction is given. The rate is the same on
    every date.
    """

    def __init__(self, rates: dict[str, Decimal] | None = None) -> None:
        self._rates: dict[tuple[str, str], Decimal] = {}
        for pair, value in (rates or {}).items():
            base, _, quote = pair.partition("/")
            rate = _to_decimal(value, f"exchange_rates.{pair}")
            if rate <= 0:
                raise ValidationError.single(f"exchange_rates.{pair}", "rate must be positive")
            self._rates[(validate_currency(base), validate_currency(quote))] = rate

    def rate(self, base: str, quote: str, on: dt.date) -> Decimal:
        """The company's rate for the pair (the same on every date)."""
        if base == quote:
            return Decimal(1)
        if (base, quote) in self._rates:
            return self._rates[(base, quote)]
        if (quote, base) in self._rates:
            return Decimal(1) / self._rates[(quote, base)]
        raise ExchangeRateMissing(base, quote, on)


class DatedRates:
    """Rates that change over time, each valid from a date until the next one starts.

    ``DatedRates({"USD/CNY": [(date(2026, 1, 1), "7.10"), (date(2026, 2, 1), "7.20")]})``
    gives 7.10 from 1 January to 31 January and 7.20 from 1 February on; before the first
    date there is no rate (:class:`pycrm.ExchangeRateMissing`). The inverse pair is derived
    when only one direction is given. A plugin returns one from
    ``pycrm_make_exchange_rates`` to feed reports with a bank's or a finance team's rates.
    """

    def __init__(self, rates: Mapping[str, Iterable[tuple[dt.date, Decimal | int | str]]]) -> None:
        self._rates: dict[tuple[str, str], tuple[list[dt.date], list[Decimal]]] = {}
        for pair, entries in rates.items():
            base, slash, quote = pair.partition("/")
            if not slash:
                raise ValidationError.single(pair, "is not a currency pair such as 'USD/CNY'")
            entries = list(entries)
            if not all(
                isinstance(e, tuple) and len(e) == 2 and isinstance(e[0], dt.date) for e in entries
            ):
                raise ValidationError.single(pair, "give (datetime.date, rate) pairs")
            ordered = sorted(entries, key=lambda entry: entry[0])
            days = [day for day, _ in ordered]
            if len(set(days)) != len(days):
                raise ValidationError.single(pair, "two rates start on the same date")
            values = [_to_decimal(value, f"{pair}.{day}") for day, value in ordered]
            if any(value <= 0 for value in values):
                raise ValidationError.single(pair, "rates must be positive")
            key = (validate_currency(base), validate_currency(quote))
            self._rates[key] = (days, values)

    def _lookup(self, base: str, quote: str, on: dt.date) -> Decimal | None:
        found = self._rates.get((base, quote))
        if found is None:
            return None
        days, values = found
        index = bisect.bisect_right(days, on) - 1
        return values[index] if index >= 0 else None

    def rate(self, base: str, quote: str, on: dt.date) -> Decimal:
        """Units of ``quote`` per unit of ``base`` valid on ``on``."""
        if base == quote:
            return Decimal(1)
        direct = self._lookup(base, quote, on)
        if direct is not None:
            return direct
        inverse = self._lookup(quote, base, on)
        if inverse is not None:
            return Decimal(1) / inverse
        raise ExchangeRateMissing(base, quote, on)
