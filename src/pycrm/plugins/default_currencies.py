"""Built-in currencies and the company's fixed exchange rates from settings."""

from __future__ import annotations

from pycrm.core.money import ExchangeRates, FixedRates
from pycrm.plugins.hookspecs import hookimpl
from pycrm.settings import Settings

#: Offered to every company; a plugin adds more through ``pycrm_register_currencies``.
COMMON = ("CNY", "EUR", "HKD", "JPY", "USD")


@hookimpl(trylast=True)
def pycrm_make_exchange_rates(settings: Settings) -> ExchangeRates | None:
    return FixedRates(dict(settings.exchange_rates))


@hookimpl
def pycrm_register_currencies(settings: Settings) -> list[str]:
    codes = {*COMMON, settings.reporting_currency}
    for pair in settings.exchange_rates:
        codes.update(pair.split("/"))
    return sorted(codes)
