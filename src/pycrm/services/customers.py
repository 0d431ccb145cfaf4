"""Customers (客户): company accounts, with their parent groups."""

from __future__ import annotations

import uuid
from typing import Unpack

from pycrm.core.customers import Customer
from pycrm.schemas import CustomerFields
from pycrm.services.base import RecordService

__all__ = ["CustomerService"]


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
