"""Who may see and do what: roles granting actions on kinds of records within a data
scope, users' own exceptions, explicit shares, and field security — all plain data.

A :class:`RoleDefinition` grants actions (``"view"``, ``"edit"``, ``"move"``…) on kinds of
records (``"customer"``, or ``"*"`` for every kind) within a :class:`DataScope`: the acting
user's own records, those of their direct reports or of everyone below them, their
department (and the departments under it), or the whole tenant. Users hold roles and may
have :class:`UserRight` exceptions (an extra grant, or an action taken away). A
:class:`Share` opens one record to a user or a department. :class:`FieldRule` hides a
field from a role, or makes it read-only.

The services turn these into query conditions (``pycrm.services.access``): who sees what
is decided inside every query, never by filtering rows afterwards.
"""

import datetime as dt
import uuid
from collections.abc import Iterable
from enum import StrEnum
from typing import Any, ClassVar

from attrs import define, field, frozen

from pycrm.core.records import Record

__all__ = [
    "ACTIONS",
    "Action",
    "DataScope",
    "FieldAccess",
    "FieldRule",
    "Grant",
    "Placeholder",
    "RoleDefinition",
    "Share",
    "ShareAccess",
    "SharingRule",
    "UserRight",
    "current_department",
    "current_user",
]


class Action(StrEnum):
    """What a user does to a record. Plugins may grant actions of their own (any name)."""

    VIEW = "view"
    CREATE = "create"
    EDIT = "edit"
    DELETE = "delete"
    EXPORT = "export"
    TRANSFER = "transfer"  # give the record to another owner
    MOVE = "move"  # move a deal through its pipeline, win, lose, reopen it
    RECORD_PAYMENT = "record_payment"
    RUN_DUNNING = "run_dunning"
    SHARE = "share"  # open a record to another user or department


#: Every built-in action.
ACTIONS: tuple[str, ...] = tuple(a.value for a in Action)


class DataScope(StrEnum):
    """Whose records a grant reaches, from the acting user's place in the organisation.

    ``own``: records the user owns. ``direct_reports``: also those of the users who report
    to them directly. ``subordinates``: also those of everyone below them in the reporting
    line. ``department``: records of the users of their department. ``department_tree``:
    also of the departments under it. ``tenant``: every record of the tenant.
    """

    OWN = "own"
    DIRECT_REPORTS = "direct_reports"
    SUBORDINATES = "subordinates"
    DEPARTMENT = "department"
    DEPARTMENT_TREE = "department_tree"
    TENANT = "tenant"


@frozen
class Grant:
    """An action on a kind of record (``"*"``: every kind, or every action) within a scope."""

    entity: str = field(converter=str)
    action: str = field(converter=str)
    scope: DataScope = field(default=DataScope.OWN, converter=DataScope)

    def covers(self, entity: str, action: str) -> bool:
        """Whether this grant is about ``action`` on records of ``entity``."""
        return self.entity in ("*", entity) and self.action in ("*", action)


class FieldAccess(StrEnum):
    """How a field is restricted: absent from everything the user reads, or read-only."""

    HIDDEN = "hidden"
    READ_ONLY = "read_only"


@frozen
class FieldRule:
    """A field of a kind (``"phone"``, ``"custom.credit_limit"``) hidden or read-only."""

    entity: str
    field: str
    access: FieldAccess = FieldAccess.HIDDEN


def _grants(items: Iterable[Grant]) -> tuple[Grant, ...]:
    return tuple(items)


def _field_rules(items: Iterable[FieldRule]) -> tuple[FieldRule, ...]:
    return tuple(items)


@frozen(kw_only=True)
class RoleDefinition:
    """A role: the grants its holders get, and the fields restricted for them.

    A user with several roles has every grant of each; a field is restricted only when
    every role of the user restricts it (a role that shows it wins), hidden winning over
    read-only.
    """

    key: str = field(converter=str)
    name: str
    grants: tuple[Grant, ...] = field(default=(), converter=_grants)
    fields: tuple[FieldRule, ...] = field(default=(), converter=_field_rules)


@define(kw_only=True)
class UserRight:
    """An exception for one user: ``allow`` adds the grant, otherwise the action on the
    kind is taken away whatever the user's roles grant (``scope`` is then ignored)."""

    entity: str
    action: str
    scope: DataScope = DataScope.OWN
    allow: bool = True


class ShareAccess(StrEnum):
    """What a share lets its user or department do with the record."""

    VIEW = "view"
    EDIT = "edit"


@define(eq=False, kw_only=True)
class Share(Record):
    """One record opened to one user, or to the users of one department (and of the
    departments under it), until ``expires_at`` (None: until the share is deleted)."""

    kind: ClassVar[str] = "share"

    entity: str
    record_id: uuid.UUID
    user_id: uuid.UUID | None = None
    department_id: uuid.UUID | None = None
    access: ShareAccess = ShareAccess.VIEW
    expires_at: dt.datetime | None = None

    def problems(self) -> list[tuple[str, str]]:
        """Broken invariants: a share names exactly one user or one department."""
        if (self.user_id is None) == (self.department_id is None):
            return [("user_id", "share with one user or one department")]
        return []


@frozen
class Placeholder:
    """A value in a rule's condition that stands for something of the acting user, filled
    in when the rule is applied (:func:`current_user`, :func:`current_department`)."""

    name: str


def current_user() -> Placeholder:
    """Stands for the acting user's id in a :class:`SharingRule` condition."""
    return Placeholder("user")


def current_department() -> Placeholder:
    """Stands for the acting user's department id in a :class:`SharingRule` condition."""
    return Placeholder("department")


@frozen(kw_only=True)
class SharingRule:
    """Records of ``entity`` that meet ``condition`` are shared with ``access`` to the
    users holding one of ``roles`` (every user when empty).

    ``condition`` is a query condition (``pycrm.storage.query``) on the entity's fields; it
    may use :func:`current_user` and :func:`current_department` as values, so it still runs
    inside the query.
    """

    entity: str
    condition: Any
    access: ShareAccess = ShareAccess.VIEW
    roles: tuple[str, ...] = ()
