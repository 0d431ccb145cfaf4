"""The organisation: departments (a tree) and users (a reporting line), and a user leaving.

Both trees keep each node's path (``"/<root id>/…/<own id>/"``) up to date on every write,
so the access rules reach "everyone below" with one indexed prefix lookup. A change that
would make a loop (a department under its own sub-department, a manager reporting to
their report) is refused.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, Unpack

from pycrm.core.access import Action
from pycrm.core.audit import ChangeAction
from pycrm.core.org import Department, User, child_path
from pycrm.core.records import Record
from pycrm.core.tickets import Ticket, TicketStatus
from pycrm.errors import RuleViolation, ValidationError
from pycrm.schemas import DepartmentFields, UserFields, checked_call
from pycrm.services.auditing import audited
from pycrm.services.base import RecordService, _as_id
from pycrm.storage.base import Filter, Op, Query

if TYPE_CHECKING:
    from pycrm.services.unit_of_work import UnitOfWork

__all__ = ["DepartmentService", "Transfer", "UserService"]

#: What a leaving user's records are, by service name: everything they own is handed over,
#: activities only while they are open.
TRANSFERRED = ("customers", "contacts", "leads", "opportunities", "orders", "tickets")


class DepartmentService(RecordService[Department]):
    """Departments: the organisation tree."""

    entity = Department
    fields = DepartmentFields
    required = ("name",)

    def create(self, **fields: Unpack[DepartmentFields]) -> Department:
        """Create a department; see :class:`pycrm.schemas.DepartmentFields` for the fields."""
        return self._create(fields)

    def update(
        self,
        record_id: uuid.UUID | str,
        *,
        version: int | None = None,
        **changes: Unpack[DepartmentFields],
    ) -> Department:
        """Change some fields; pass ``version`` to refuse if someone changed it since."""
        return self._update(record_id, version, changes)

    def _before_write(self, uow: UnitOfWork, record: Department, old: Department | None) -> None:
        _place(self, uow, record, old, "parent_id", "path")


class UserService(RecordService[User]):
    """Users; deactivate (``active=False``) rather than delete."""

    entity = User
    fields = UserFields
    required = ("name",)

    def create(self, **fields: Unpack[UserFields]) -> User:
        """Create a user; see :class:`pycrm.schemas.UserFields` for the fields."""
        return self._create(fields)

    def update(
        self,
        record_id: uuid.UUID | str,
        *,
        version: int | None = None,
        **changes: Unpack[UserFields],
    ) -> User:
        """Change some fields; pass ``version`` to refuse if someone changed it since."""
        return self._update(record_id, version, changes)

    @checked_call
    def deactivate(self, user_id: uuid.UUID | str, *, transfer_to: uuid.UUID | str) -> Transfer:
        """A user leaves: deactivate them and give ``transfer_to`` every record they own
        (customers, contacts, deals, orders, tickets, open activities) and the open
        tickets assigned to them, in one unit of work, each change audited. Users are
        never deleted. The acting user needs the right to edit the user and to transfer
        each record."""
        with self._step() as uow:
            leaving = self._load(uow, _as_id(user_id), for_update=True)
            uow.access.require(User.kind, Action.EDIT, leaving)
            heir = self._load(uow, _as_id(transfer_to))
            if heir.id == leaving.id or not heir.active:
                raise ValidationError.single(
                    "transfer_to", "give the records to another, active user"
                )
            moved = {name: _hand_over(uow, name, leaving.id, heir.id) for name in TRANSFERRED}
            open_tasks = Filter("done", Op.EQ, False)
            moved["activities"] = _hand_over(uow, "activities", leaving.id, heir.id, open_tasks)
            moved["assigned_tickets"] = _reassign_tickets(uow, leaving.id, heir.id)
            user = uow.users._update(leaving.id, None, {"active": False})
            return Transfer(user=user, to=heir.id, moved=moved)

    def _before_write(self, uow: UnitOfWork, record: User, old: User | None) -> None:
        unknown = [(f"roles.{i}", f"no role {key!r}") for i, key in enumerate(record.roles)
                   if key not in uow.crm.roles]  # fmt: skip
        if unknown:
            raise ValidationError(unknown, entity="user")
        _place(self, uow, record, old, "manager_id", "manager_path")


class Transfer:
    """What :meth:`UserService.deactivate` did: the deactivated user, who got their
    records, and how many of each kind (by service name)."""

    def __init__(self, *, user: User, to: uuid.UUID, moved: dict[str, int]) -> None:
        self.user, self.to, self.moved = user, to, moved

    def __repr__(self) -> str:
        return f"Transfer(user={self.user.id}, to={self.to}, moved={self.moved})"


def _hand_over(
    uow: UnitOfWork, service_name: str, owner: uuid.UUID, heir: uuid.UUID, *extra: Filter
) -> int:
    service: RecordService[Any] = getattr(uow, service_name)
    query = Query(filters=(Filter("owner_id", Op.EQ, owner), *extra), limit=500)
    moved = 0
    while batch := uow.tx.find(service.entity, uow.everything, query):
        for record in batch:
            service._update(record.id, None, {"owner_id": heir})
        moved += len(batch)
    return moved


def _reassign_tickets(uow: UnitOfWork, agent: uuid.UUID, heir: uuid.UUID) -> int:
    """Open tickets assigned to a leaving agent go to the heir (each a recorded move)."""
    running = tuple(s.value for s in TicketStatus if s.value not in ("resolved", "closed"))
    filters = (Filter("assignee_id", Op.EQ, agent), Filter("status", Op.IN, running))
    query = Query(filters=filters, limit=500)
    moved = 0
    while batch := uow.tx.find(Ticket, uow.everything, query):
        for ticket in batch:
            uow.tickets.assign(ticket.id, to=heir)
        moved += len(batch)
    return moved


def _place(
    service: RecordService[Any],
    uow: UnitOfWork,
    record: Record,
    old: Record | None,
    parent_field: str,
    path_field: str,
) -> None:
    """Set ``record``'s path under its parent, and move its subtree along when it moved."""
    parent_id = getattr(record, parent_field)
    parent_path = None
    if parent_id is not None:
        parent = uow.tx.get(type(record), uow.everything, parent_id)
        parent_path = getattr(parent, path_field, None) if parent is not None else None
        if parent_path and f"/{record.id}/" in parent_path:
            raise RuleViolation(
                f"{record.kind} {record.id} cannot come under {parent_id}, which is below it",
                rule=f"{record.kind}.loop",
            )
    new_path = child_path(parent_path, record.id)
    old_path = getattr(old, path_field, None) if old is not None else None
    setattr(record, path_field, new_path)
    if old_path and old_path != new_path:
        _move_subtree(service, uow, type(record), path_field, old_path, new_path, record.id)


def _move_subtree(
    service: RecordService[Any],
    uow: UnitOfWork,
    kind: type[Record],
    path_field: str,
    old: str,
    new: str,
    moved_id: uuid.UUID,
) -> None:
    below = Query(filters=(Filter(path_field, Op.STARTSWITH, old),), deleted=None)
    for node in uow.tx.find(kind, uow.everything, below):
        if node.id == moved_id:
            continue
        before = audited(node)
        setattr(node, path_field, new + getattr(node, path_field).removeprefix(old))
        service._save(uow, node, before, ChangeAction.UPDATE)
