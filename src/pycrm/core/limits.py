"""What every backend stores and compares the same way: the bounds input is checked against.

pycrm runs on the memory backend, SQLite and PostgreSQL, and the same input must be
accepted or refused the same way on all of them, before anything is written. Each bound
here is the narrowest of the three:

- **Text** may not contain NUL (PostgreSQL text cannot hold it) nor surrogate code points
  (they are not Unicode scalar values, so no UTF-8 database can store them).
- **Whole numbers** are signed 64-bit (``BIGINT``; SQLite's ``INTEGER``).
- **Decimal numbers** have at most :data:`MAX_DECIMAL_DIGITS` digits before and after the
  point together: SQLite compares decimals as IEEE doubles, which tell apart and order
  every such number exactly, and PostgreSQL ``NUMERIC`` holds them all.
- **Lists** that become one query parameter each (``__in`` filters) have at most
  :data:`MAX_IN_VALUES` values, well inside PostgreSQL's limit of bind parameters.
- A **payment plan** has at most :data:`MAX_INSTALLMENTS` installments (50 years of monthly
  instalments), so one small argument cannot ask for millions of them.

Each check raises ``ValueError`` with the reason, for the caller to report under the
field's name (pydantic validators and custom field parsers do).
"""

from __future__ import annotations

from decimal import Decimal

__all__ = [
    "LONE_SURROGATE",
    "MAX_DECIMAL_DIGITS",
    "MAX_INSTALLMENTS",
    "MAX_INT64",
    "MAX_IN_VALUES",
    "MIN_INT64",
    "NUL_CHARACTER",
    "STORABLE_TEXT",
    "check_decimal",
    "check_int64",
    "check_text",
    "decimal_digits",
]

MIN_INT64 = -(2**63)
MAX_INT64 = 2**63 - 1
MAX_DECIMAL_DIGITS = 15
MAX_IN_VALUES = 1000
MAX_INSTALLMENTS = 600

NUL_CHARACTER = "must not contain the NUL character (\\x00)"
LONE_SURROGATE = "contains a lone surrogate: not valid Unicode text"
#: :func:`check_text` as a pattern, for validators that match patterns natively (pydantic,
#: in Rust: much faster than a Python call per value); a lone surrogate never gets as far
#: as the pattern, being no Unicode text to begin with.
STORABLE_TEXT = r"^[^\x00]*$"


def check_text(text: str) -> str:
    """``text`` if every backend can store it: no NUL, no surrogate code points."""
    if "\x00" in text:
        raise ValueError(NUL_CHARACTER)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(LONE_SURROGATE) from None
    return text


def check_int64(number: int) -> int:
    """``number`` if it fits a signed 64-bit integer."""
    if not MIN_INT64 <= number <= MAX_INT64:
        raise ValueError(f"must be between {MIN_INT64} and {MAX_INT64}")
    return number


def decimal_digits(number: Decimal) -> int:
    """Digits before and after the point of a finite Decimal, as written (``0.050``: 3,
    ``1E+3``: 4), i.e. the precision of the narrowest ``NUMERIC(p, s)`` column holding it."""
    _, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)  # finite
    whole = max(len(digits) + exponent, 0)
    return whole + max(-exponent, 0)


def check_decimal(number: Decimal, most: int = MAX_DECIMAL_DIGITS) -> Decimal:
    """``number`` if it is finite and has at most ``most`` digits (see :func:`decimal_digits`)."""
    if not number.is_finite():
        raise ValueError("must be a finite number")
    if decimal_digits(number) > most:
        raise ValueError(f"has more than {most} digits before and after the point together")
    return number
