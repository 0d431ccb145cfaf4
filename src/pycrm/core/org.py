"""Users, the reporting line between them, and the department tree they belong to.

Both trees keep a *path* on each node (``"/<root id>/…/<own id>/"``), maintained by the
services whenever a manager or a parent changes, so "everyone below" is one indexed
prefix lookup instead of a walk.
"""

import uuid
from enum import StrEnum
from typing import ClassVar

from attrs import define, field

from pycrm.core.access import UserRight
from pycrm.core.records import Record

__all__ = ["Department", "Role", "User", "child_path"]


def child_path(parent_path: str | None, own_id: uuid.UUID) -> str:
    """The path of a node under a parent with ``parent_path`` (a root when None)."""
    return f"{parent_path or '/'}{own_id}/"


class Role(StrEnum):
    """The keys of the built-in roles (``pycrm.plugins.default_roles`` defines what each
    may do; plugins add roles of their own, with any key)."""

    ADMIN = "admin"
    EXECUTIVE = "executive"
    SALES_DIRECTOR = "sales_director"
    SALES_REP = "sales_rep"
    ORDER_ASSISTANT = "order_assistant"
    SERVICE_AGENT = "service_agent"


@define(eq=False, kw_only=True)
class Department(Record):
    """A node of the organisation tree: head office → branch → team."""

    kind: ClassVar[str] = "department"

    name: str
    parent_id: uuid.UUID | None = None
    manager_id: uuid.UUID | None = None
    #: ``"/<root id>/…/<own id>/"``, kept by the services.
    path: str | None = None

    def problems(self) -> list[tuple[str, str]]:
        """Broken invariants: a department cannot be its own parent."""
        if self.parent_id == self.id:
            return [("parent_id", "a department cannot be its own parent")]
        return []


@define(eq=False, kw_only=True)
class User(Record):
    """Someone who acts in the CRM. Users who leave are deactivated, never deleted.

    ``roles`` name roles registered by plugins (``"sales_rep"`` by default); ``rights``
    are this user's own exceptions to them. ``manager_path`` is the reporting line down
    to this user (``"/<top manager id>/…/<own id>/"``), kept by the services.
    """

    kind: ClassVar[str] = "user"

    name: str
    email: str | None = None
    department_id: uuid.UUID | None = None
    manager_id: uuid.UUID | None = None
    roles: list[str] = field(factory=lambda: [Role.SALES_REP.value])
    rights: list[UserRight] = field(factory=list)
    active: bool = True
    manager_path: str | None = None

    def problems(self) -> list[tuple[str, str]]:
        """Broken invariants: a user cannot be their own manager."""
        if self.manager_id == self.id:
            return [("manager_id", "a user cannot be their own manager")]
        return []
