"""Formatting and translation for a locale: money, dates, numbers, and pycrm's own texts.

Formatting uses babel's CLDR data (``zh_CN``, ``en_US``, ``ja_JP`` and every other locale
babel knows)::

    >>> format_money(Money("1234.5", "CNY"), "zh_CN")
    '¥1,234.50'
    >>> format_date(dt.date(2026, 3, 1), "ja_JP")
    '2026/03/01'

pycrm's built-in texts (statuses, report headings, rule messages; see
:mod:`pycrm.core.messages`) are gettext messages translated by the catalogues shipped in
``pycrm/locales/<locale>/LC_MESSAGES/pycrm.po`` (compiled ``.mo`` beside them; a ``.po``
newer than its ``.mo`` is compiled in memory when loaded). English needs no catalogue.
"""

from __future__ import annotations

import datetime as dt
import gettext
import io
from functools import lru_cache
from pathlib import Path

import babel.dates
import babel.numbers
from babel import Locale
from babel.messages import mofile, pofile

from pycrm.core.money import Money
from pycrm.core.orders import OrderStatus
from pycrm.core.payments import InstallmentState
from pycrm.core.pipeline import Pipeline, Stage
from pycrm.errors import RuleViolation, ValidationError
from pycrm.schemas import ExactNumber, LocaleName, checked_call

__all__ = [
    "CATALOGUES",
    "LOCALES",
    "compile_catalogue",
    "format_date",
    "format_money",
    "format_number",
    "format_percent",
    "label",
    "stage_title",
    "translate",
    "translate_error",
    "translations",
]

#: Where the catalogues live: ``<CATALOGUES>/<locale>/LC_MESSAGES/pycrm.po``.
CATALOGUES = Path(__file__).parent / "locales"
#: Locales whose catalogues ship with pycrm (English is the source language).
LOCALES = ("en_US", "zh_CN", "ja_JP")
DOMAIN = "pycrm"


@checked_call
def format_money(money: Money, locale: LocaleName) -> str:
    """``¥1,234.50`` (zh_CN), ``US$1,234.50`` / ``$1,234.50``, ``￥1,235`` (JPY in ja_JP)."""
    return money.format(locale)


@checked_call
def format_date(day: dt.date, locale: LocaleName, format: str = "medium") -> str:
    """A date as the locale writes it (``format``: short, medium, long, full or a pattern)."""
    return str(babel.dates.format_date(day, format=format, locale=locale))


@checked_call
def format_number(number: ExactNumber, locale: LocaleName) -> str:
    """A number with the locale's grouping and decimal signs (never via float)."""
    return str(babel.numbers.format_decimal(number, locale=locale, decimal_quantization=False))


@checked_call
def format_percent(fraction: ExactNumber, locale: LocaleName) -> str:
    """A fraction as a percentage: ``Decimal("0.15")`` → ``15%``."""
    return str(babel.numbers.format_percent(fraction, locale=locale, decimal_quantization=False))


def compile_catalogue(po_path: Path) -> bytes:
    """The ``.mo`` bytes of a ``.po`` catalogue (babel's pofile/mofile, no external tools)."""
    with po_path.open("rb") as source:
        catalogue = pofile.read_po(source, domain=DOMAIN)
    out = io.BytesIO()
    mofile.write_mo(out, catalogue)
    return out.getvalue()


def _catalogue_dir(locale: str) -> Path | None:
    parsed = Locale.parse(locale)
    # zh_CN parses as zh_Hans_CN: try the name as given, then babel's, then the language.
    territory = f"{parsed.language}_{parsed.territory}" if parsed.territory else None
    for name in filter(None, (locale, territory, str(parsed), parsed.language)):
        folder = CATALOGUES / name / "LC_MESSAGES"
        if (folder / f"{DOMAIN}.po").exists():
            return folder
    return None


@lru_cache(maxsize=32)
def translations(locale: str) -> gettext.NullTranslations:
    """The translations of pycrm's texts into ``locale`` (the identity for English or a
    locale without a catalogue)."""
    folder = _catalogue_dir(locale)
    if folder is None:
        return gettext.NullTranslations()
    po, mo = folder / f"{DOMAIN}.po", folder / f"{DOMAIN}.mo"
    if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
        data = mo.read_bytes()
    else:
        data = compile_catalogue(po)
    return gettext.GNUTranslations(io.BytesIO(data))


@checked_call
def translate(message: str, locale: LocaleName, **params: object) -> str:
    """``message`` (an English text of :mod:`pycrm.core.messages`) in ``locale``, with the
    ``{named}`` fields filled from ``params``."""
    text = translations(locale).gettext(message)
    try:
        return text.format(**params) if params else text
    except (KeyError, IndexError) as missing:
        raise ValidationError.single("params", f"the text needs {missing}") from None


@checked_call
def translate_error(error: RuleViolation, locale: LocaleName) -> str:
    """A rule violation's message in ``locale`` (its English message when it has no
    translatable template)."""
    if error.template is None:
        return str(error)
    # Statuses and workflow actions inside a message are texts of the catalogue too.
    params = {
        name: translate(value, locale) if name in ("status", "action") else value
        for name, value in error.params.items()
    }
    return translate(error.template, locale, **params)


@checked_call
def stage_title(stage: Stage | Pipeline, locale: LocaleName) -> str:
    """A stage's (or pipeline's) display name in ``locale``; names without a translation
    (a plugin's own, already in its users' language) are shown as they are."""
    title = stage.title if isinstance(stage, Stage) else stage.name
    return translate(title, locale)


@checked_call
def label(value: OrderStatus | InstallmentState, locale: LocaleName) -> str:
    """The text of an order status or installment state in ``locale``."""
    return translate(value.label, locale)
