"""Shares: one record opened to one user or one department, audited like any record."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Unpack

from pycrm.core.access import Action, Share
from pycrm.core.kinds import kind_of
from pycrm.errors import NotFound, ValidationError
from pycrm.schemas import ShareFields
from pycrm.services.access import OWNED
from pycrm.services.base import RecordService

if TYPE_CHECKING:
    from pycrm.services.unit_of_work import UnitOfWork

__all__ = ["ShareService"]


class ShareService(RecordService[Share]):
    """``uow.shares``: open a customer, lead, deal, order, ticket or activity to a user
    (``user_id``) or to the users of a department and the departments under it
    (``department_id``), to view or to edit, until ``expires_at`` or until the share is
    deleted. Contacts, payment plans and payments follow the record they belong to.

    Sharing a record takes the ``share`` right on it; the share is audited, and deleting it
    takes the access back at once.
    """

    entity = Share
    fields = ShareFields
    required = ("entity", "record_id")

    def create(self, **fields: Unpack[ShareFields]) -> Share:
        """Share a record; see :class:`pycrm.schemas.ShareFields` for the fields."""
        return self._create(fields)

    def update(
        self,
        share_id: uuid.UUID | str,
        *,
        version: int | None = None,
        **changes: Unpack[ShareFields],
    ) -> Share:
        """Change a share's access or expiry; pass ``version`` to refuse if someone changed
        it since."""
        return self._update(share_id, version, changes)

    def _before_write(self, uow: UnitOfWork, record: Share, old: Share | None) -> None:
        if record.entity not in OWNED:
            raise ValidationError.single(
                "entity", f"share one of: {', '.join(sorted(OWNED))}", entity="share"
            )
        if old is not None and (old.entity, old.record_id) != (record.entity, record.record_id):
            raise ValidationError.single("record_id", "a share stays on its record")
        target = uow.tx.get(kind_of(record.entity), uow.scope, record.record_id)
        if target is None or target.deleted:
            raise NotFound(record.entity, record.record_id)
        uow.access.require(record.entity, Action.SHARE, target)
