"""Users and the department tree they belong to."""

import uuid
from enum import StrEnum
from typing import ClassVar

from attrs import define

from pycrm.core.records import Record

__all__ = ["Department", "Role", "User"]


class Role(StrEnum):
    """What a user does in the company; permission rules build on it."""

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

    def problems(self) -> list[tuple[str, str]]:
        if self.parent_id == self.id:
            return [("parent_id", "a department cannot be its own parent")]
        return []


@define(eq=False, kw_only=True)
class User(Record):
    """Someone who acts in the CRM. Users who leave are deactivated, never deleted."""

    kind: ClassVar[str] = "user"

    name: str
    email: str | None = None
    department_id: uuid.UUID | None = None
    manager_id: uuid.UUID | None = None
    role: Role = Role.SALES_REP
    active: bool = True

    def problems(self) -> list[tuple[str, str]]:
        if self.manager_id == self.id:
            return [("manager_id", "a user cannot be their own manager")]
        return []
