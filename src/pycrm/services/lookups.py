"""Small reads services share: names of records by id, a department's subtree, an active
user, a user's superior."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING

from pycrm.core.access import Action, DataScope
from pycrm.core.org import Department, User
from pycrm.core.records import Record
from pycrm.errors import NotFound, PermissionDenied, RuleViolation
from pycrm.services.batching import chunks
from pycrm.storage.base import Query

if TYPE_CHECKING:
    from pycrm.services.unit_of_work import UnitOfWork

__all__ = ["active_user", "manager_of", "names", "require_configure", "subtree"]


def names(
    uow: UnitOfWork, kind: type[Record], keys: Iterable[uuid.UUID | None]
) -> dict[uuid.UUID | None, str]:
    """The ``name`` of each record of ``kind`` among ``keys`` (deleted ones too), read a
    few hundred ids per query."""
    ids = sorted({k for k in keys if k is not None})
    found: dict[uuid.UUID | None, str] = {}
    for chunk in chunks(ids, 500):
        query = Query(ids=frozenset(chunk), deleted=None)
        # Names of records a visible one points at (a plan's customer): shown as they are.
        for record in uow.tx.find(kind, uow.everything, query):
            found[record.id] = str(getattr(record, "name", ""))
    return found


def subtree(uow: UnitOfWork, root: uuid.UUID) -> frozenset[uuid.UUID]:
    """A department and every department under it (the tree is small: one query)."""
    children: dict[uuid.UUID | None, list[uuid.UUID]] = defaultdict(list)
    for department in uow.tx.find(Department, uow.scope, Query()):
        children[department.parent_id].append(department.id)
    found, pending = {root}, [root]
    while pending:
        for child in children[pending.pop()]:
            if child not in found:
                found.add(child)
                pending.append(child)
    return frozenset(found)


def active_user(uow: UnitOfWork, user_id: uuid.UUID) -> uuid.UUID:
    """``user_id`` if it is an active user of the tenant: NotFound if there is none,
    RuleViolation (``user.inactive``) if deactivated."""
    user = uow.tx.get(User, uow.scope, user_id)
    if user is None or user.deleted:
        raise NotFound(User.kind, user_id)
    if not user.active:
        raise RuleViolation(f"user {user_id} is deactivated", rule="user.inactive")
    return user_id


def manager_of(
    uow: UnitOfWork, user_id: uuid.UUID | None, cache: dict[uuid.UUID, uuid.UUID | None]
) -> uuid.UUID | None:
    """The direct superior of ``user_id`` (None without one), remembered in ``cache``."""
    if user_id is None:
        return None
    if user_id not in cache:
        user = uow.tx.get(User, uow.everything, user_id)
        cache[user_id] = user.manager_id if user is not None else None
    return cache[user_id]


def require_configure(uow: UnitOfWork) -> None:
    """Refuse (PermissionDenied) unless the user may change the tenant's configuration."""
    if DataScope.TENANT not in uow.access.scopes("configuration", Action.EDIT):
        raise PermissionDenied(
            f"user {uow.user} may not change the configuration of tenant {uow.tenant!r} "
            "(it takes the edit right on configuration for the whole tenant)"
        )
