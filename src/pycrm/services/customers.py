"""Services for customers, contacts and leads."""

from __future__ import annotations

import uuid

from typing_extensions import Unpack

from pycrm.core.customers import Contact, Customer, Lead
from pycrm.schemas import ContactFields, CustomerFields, LeadFields
from pycrm.services.base import RecordService

__all__ = ["ContactService", "CustomerService", "LeadService"]


class CustomerService(RecordService[Customer]):
    """Customers (company accounts)."""

    entity = Customer
    fields = CustomerFields
    required = ("name",)

    def create(self, **fields: Unpack[CustomerFields]) -> Customer:
        """Create a customer; see :class:`pycrm.schemas.CustomerFields` for the fields."""
        return self._create(fields)

    def update(
        self,
        record_id: uuid.UUID | str,
        *,
        version: int | None = None,
        **changes: Unpack[CustomerFields],
    ) -> Customer:
        """Change some fields; pass ``version`` to refuse if someone changed it since."""
        return self._update(record_id, version, changes)


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


class LeadService(RecordService[Lead]):
    """Leads (unqualified prospects)."""

    entity = Lead
    fields = LeadFields
    required = ("name",)

    def create(self, **fields: Unpack[LeadFields]) -> Lead:
        """Create a lead; see :class:`pycrm.schemas.LeadFields` for the fields."""
        return self._create(fields)

    def update(
        self,
        record_id: uuid.UUID | str,
        *,
        version: int | None = None,
        **changes: Unpack[LeadFields],
    ) -> Lead:
        """Change some fields; pass ``version`` to refuse if someone changed it since."""
        return self._update(record_id, version, changes)
