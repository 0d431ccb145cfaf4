"""Services for the organisation: departments and users."""

from __future__ import annotations

import uuid

from typing_extensions import Unpack

from pycrm.core.org import Department, User
from pycrm.schemas import DepartmentFields, UserFields
from pycrm.services.base import RecordService

__all__ = ["DepartmentService", "UserService"]


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
