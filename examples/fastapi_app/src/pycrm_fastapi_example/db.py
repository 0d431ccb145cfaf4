"""The application's database: one engine, its own alembic history, and pycrm beside it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.orm import Session, sessionmaker

import pycrm
from pycrm_fastapi_example.models import User
from pycrm_fastapi_example.settings import crm_settings

__all__ = ["MIGRATIONS", "Host", "alembic_config", "open_host", "register_user", "upgrade"]

#: The application's own alembic scripts (env.py, versions/).
MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(
    connection: sa.Connection | None = None,
    *,
    script_location: Path = MIGRATIONS,
    settings: pycrm.Settings | None = None,
) -> Config:
    """The application's alembic configuration, running on ``connection`` when given."""
    config = Config()
    config.set_main_option("script_location", str(script_location))
    if connection is not None:
        config.attributes["connection"] = connection
    if settings is not None:
        config.attributes["crm_settings"] = settings
    return config


def upgrade(engine: sa.Engine) -> None:
    """Bring the application's own tables to the newest revision."""
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "head")


@dataclass(frozen=True)
class Host:
    """Everything the application shares between requests."""

    engine: sa.Engine
    sessions: sessionmaker[Session]
    crm: pycrm.CRM
    acrm: pycrm.AsyncCRM

    async def aclose(self) -> None:
        await self.acrm.aclose()
        self.crm.close()  # leaves the engine as it is: it is the application's
        self.engine.dispose()


def open_host(database_url: str, *, settings: pycrm.Settings | None = None) -> Host:
    """One engine for the application and the CRM: the application's migrations first,
    then pycrm's (pycrm keeps its own version table)."""
    engine = sa.create_engine(database_url)
    try:
        upgrade(engine)
        crm = pycrm.CRM.connect(
            engine, settings=settings if settings is not None else crm_settings(), migrate=True
        )
    except BaseException:
        engine.dispose()
        raise
    return Host(
        engine=engine,
        sessions=sessionmaker(engine, expire_on_commit=False),
        crm=crm,
        acrm=crm.aio(),
    )


def register_user(
    host: Host,
    *,
    tenant: str,
    email: str,
    display_name: str,
    roles: list[str] | None = None,
    manager: User | None = None,
) -> User:
    """Create a login and the pycrm user it acts as, in one transaction (an administrator's
    job: pycrm's part runs as ``pycrm.SYSTEM_USER``). ``manager`` is the login of the new
    user's direct superior."""
    with host.sessions() as session:
        manager_id: uuid.UUID | None = manager.crm_user_id if manager is not None else None
        with host.crm.unit_of_work(
            user=pycrm.SYSTEM_USER, tenant=tenant, connection=session
        ) as uow:
            crm_user = uow.users.create(
                name=display_name,
                email=email,
                roles=roles if roles is not None else ["sales_rep"],
                manager_id=manager_id,
            )
        user = User(email=email, display_name=display_name, crm_user_id=crm_user.id)
        session.add(user)
        session.commit()
        return user
