"""Service tickets (工单)."""

from __future__ import annotations

import uuid
from typing import Unpack

from pycrm.core.tickets import Ticket
from pycrm.schemas import TicketFields
from pycrm.services.base import RecordService

__all__ = ["TicketService"]


class TicketService(RecordService[Ticket]):
    """Service tickets."""

    entity = Ticket
    fields = TicketFields
    required = ("customer_id", "subject")

    def create(self, **fields: Unpack[TicketFields]) -> Ticket:
        """Create a ticket; see :class:`pycrm.schemas.TicketFields` for the fields."""
        return self._create(fields)

    def update(
        self,
        record_id: uuid.UUID | str,
        *,
        version: int | None = None,
        **changes: Unpack[TicketFields],
    ) -> Ticket:
        """Change some fields; pass ``version`` to refuse if someone changed it since."""
        return self._update(record_id, version, changes)
