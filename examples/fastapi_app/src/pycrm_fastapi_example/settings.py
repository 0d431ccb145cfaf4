"""How this application runs its CRM: the one place its pycrm settings are written."""

from __future__ import annotations

import os
from decimal import Decimal

import pycrm

__all__ = ["DEFAULT_DATABASE_URL", "crm_settings", "database_url"]

#: Where the application keeps its data unless ``$EXAMPLE_DATABASE_URL`` says otherwise.
DEFAULT_DATABASE_URL = "sqlite:///fastapi_example.db"


def crm_settings() -> pycrm.Settings:
    """The CRM's settings, shared by the application and its alembic ``env.py`` (which must
    know pycrm's table prefix to leave pycrm's tables alone)."""
    return pycrm.Settings(
        reporting_currency="CNY",
        locale="zh_CN",
        exchange_rates={"USD/CNY": Decimal("7.10")},
    )


def database_url() -> str:
    """The application's database: ``$EXAMPLE_DATABASE_URL``, else a SQLite file in the
    working directory (the application reads its environment; pycrm never does)."""
    return os.environ.get("EXAMPLE_DATABASE_URL", DEFAULT_DATABASE_URL)
