"""Activities (行动/待办): calls, visits, emails, meetings and to-dos."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Unpack

from pycrm.core.activities import Activity
from pycrm.schemas import ActivityFields
from pycrm.services.base import RecordService

if TYPE_CHECKING:
    from pycrm.services.unit_of_work import UnitOfWork

__all__ = ["ActivityService"]


class ActivityService(RecordService[Activity]):
    """Activities: calls, visits, emails and to-dos."""

    entity = Activity
    fields = ActivityFields
    required = ("type", "subject")

    def create(self, **fields: Unpack[ActivityFields]) -> Activity:
        """Create an activity; see :class:`pycrm.schemas.ActivityFields` for the fields."""
        return self._create(fields)

    def update(
        self,
        record_id: uuid.UUID | str,
        *,
        version: int | None = None,
        **changes: Unpack[ActivityFields],
    ) -> Activity:
        """Change some fields; pass ``version`` to refuse if someone changed it since."""
        return self._update(record_id, version, changes)

    def _before_write(self, uow: UnitOfWork, record: Activity, old: Activity | None) -> None:
        """An activity about a deal marked done is contact with it now."""
        if old is not None and record.opportunity_id is not None and record.done and not old.done:
            uow.opportunities.record_contact(record.opportunity_id, at=uow.now())

    def _after_insert(self, uow: UnitOfWork, records: Sequence[Activity]) -> None:
        """New activities about deals are contact with them now: one update per deal, however
        many activities a bulk import brings."""
        for deal in dict.fromkeys(r.opportunity_id for r in records if r.opportunity_id):
            uow.opportunities.record_contact(deal, at=uow.now())
