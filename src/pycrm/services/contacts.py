"""Contacts (联系人): the people at customers."""

from __future__ import annotations

import uuid
from typing import Unpack

from pycrm.core.customers import Contact
from pycrm.schemas import ContactFields
from pycrm.services.duplicates import Deduplicated

__all__ = ["ContactService"]


class ContactService(Deduplicated[Contact]):
    """Contacts at customers."""

    entity = Contact
    fields = ContactFields
    required = ("customer_id", "name")

    def create(self, *, allow_duplicates: bool = False, **fields: Unpack[ContactFields]) -> Contact:
        """Create a contact; see :class:`pycrm.schemas.ContactFields` for the fields.

        A likely duplicate (``uow.duplicates.check``) that a ``block`` rule finds is refused
        with ConflictError; ``allow_duplicates=True`` saves it anyway, for a user with the
        ``save_duplicate`` right."""
        return self._create(fields, allow_duplicates=allow_duplicates)

    def update(
        self,
        record_id: uuid.UUID | str,
        *,
        version: int | None = None,
        allow_duplicates: bool = False,
        **changes: Unpack[ContactFields],
    ) -> Contact:
        """Change some fields; pass ``version`` to refuse if someone changed it since."""
        return self._update(record_id, version, changes, allow_duplicates=allow_duplicates)
