"""Customers (客户): company accounts, with their parent groups."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Unpack

from pycrm.core.customers import Customer
from pycrm.schemas import CustomerFields
from pycrm.services.base import RecordService
from pycrm.services.pools import assign_new

if TYPE_CHECKING:
    from pycrm.services.unit_of_work import UnitOfWork

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

    def _before_insert(self, uow: UnitOfWork, records: Sequence[Customer]) -> None:
        assign_new(uow, "customer", records)
        for record in records:
            record.owned_since = record.created_at

    def _before_write(self, uow: UnitOfWork, record: Customer, old: Customer | None) -> None:
        if old is not None and record.owner_id != old.owner_id:
            # A transfer (or a pool move) puts it in new hands from now on.
            record.owned_since = uow.now()
            if record.owner_id is not None:
                record.pool = None
