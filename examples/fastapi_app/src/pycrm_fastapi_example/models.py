"""The application's own tables, beside pycrm's in the same database.

``users`` is the application's login table; each row links to the pycrm user it acts as
(``crm_user_id``). pycrm's own tables are prefixed (``pycrm_users`` …), so the names never
meet.
"""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["AuditNote", "Base", "User"]


class Base(DeclarativeBase):
    # Named constraints, so the application's migrations and autogenerate agree on every
    # database.
    metadata = sa.MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_name)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class User(Base):
    """Someone who logs in to the application; acts in the CRM as ``crm_user_id``."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(200))
    #: The pycrm user (``pycrm.User.id``) this login acts as.
    crm_user_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, unique=True)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class AuditNote(Base):
    """A note the application keeps about what its users did (its own audit log)."""

    __tablename__ = "audit_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant: Mapped[str] = mapped_column(sa.String(100))
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    text: Mapped[str] = mapped_column(sa.Text)
    #: The pycrm customer the note is about (no foreign key: pycrm's tables are its own).
    customer_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True), default=_now)
