"""The application's alembic environment: its own tables only.

pycrm migrates its own tables itself (``CRM.connect(engine, migrate=True)``) and keeps its
own version table; ``include_object`` keeps them out of this application's autogenerate,
which would otherwise propose dropping them.

Run from code (``pycrm_fastapi_example.db.upgrade``: the connection is handed over in
``config.attributes``) or from the command line, in ``examples/fastapi_app``::

    alembic -x url=sqlite:///fastapi_example.db upgrade head

(without ``-x url=…``: ``$EXAMPLE_DATABASE_URL``, else ``sqlite:///fastapi_example.db``).
"""

from __future__ import annotations

from logging.config import fileConfig
from typing import Any

import sqlalchemy as sa
from alembic import context
from pycrm_fastapi_example.models import Base
from pycrm_fastapi_example.settings import crm_settings, database_url

from pycrm.embedding import include_object

config = context.config
if config.config_file_name is not None:  # the command line's alembic.ini
    fileConfig(config.config_file_name, disable_existing_loggers=False)
settings = config.attributes.get("crm_settings") or crm_settings()


def _configure(**options: Any) -> None:
    context.configure(
        target_metadata=Base.metadata,
        include_object=include_object(settings),
        compare_type=True,
        **options,
    )


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url")
    return url or config.get_main_option("sqlalchemy.url") or database_url()


def run_offline() -> None:
    _configure(url=_url(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: sa.Connection) -> None:
    _configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = sa.create_engine(_url())
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
