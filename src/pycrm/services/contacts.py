"""Contacts (联系人): the people at customers."""

from __future__ import annotations

import uuid
from typing import Unpack

from pycrm.core.customers import Contact
from pycrm.schemas import ContactFields
from pycrm.services.base import RecordService

__all__ = ["ContactService"]


class ContactService(RecordService[Contact]):
    """Contacts at customers."""

    entity = Contact
    fields = ContactFields
    required = ("customer_id", "name")

    def create(self, **fields: Unpack[ContactFields]) -> Contact:
        """Create a contact; see :class:`pycrm.schemas.ContactFields` for the fields."""
        return self._create(fields)

    def update(
        self,
        record_id: uuid.UUID | str,
        *,
        version: int | None = None,
        **changes: Unpack[ContactFields],
    ) -> Contact:
        """Change some fields; pass ``version`` to refuse if someone changed it since."""
        return self._update(record_id, version, changes)
