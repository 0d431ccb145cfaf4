"""Services for opportunities, products and orders."""

from __future__ import annotations

import uuid

from typing_extensions import Unpack

from pycrm.core.opportunities import Opportunity
from pycrm.core.orders import Order, Product
from pycrm.schemas import OpportunityFields, OrderFields, ProductFields
from pycrm.services.base import RecordService
from pycrm.services.opportunity_flow import OpportunityFlow

__all__ = ["OpportunityService", "OrderService", "ProductService"]


class OpportunityService(OpportunityFlow):
    """Opportunities (deals), and moving them through their pipeline."""

    entity = Opportunity
    fields = OpportunityFields
    required = ("customer_id", "name")

    def create(self, **fields: Unpack[OpportunityFields]) -> Opportunity:
        """Create an opportunity; see :class:`pycrm.schemas.OpportunityFields` for the fields."""
        return self._create(fields)

    def update(
        self,
        record_id: uuid.UUID | str,
        *,
        version: int | None = None,
        **changes: Unpack[OpportunityFields],
    ) -> Opportunity:
        """Change some fields; pass ``version`` to refuse if someone changed it since.

        The stage, pipeline and lost reason change only through :meth:`move`,
        :meth:`win`, :meth:`lose` and :meth:`reopen` (RuleViolation otherwise).
        """
        self._refuse_guarded(changes)
        return self._update(record_id, version, changes)


class ProductService(RecordService[Product]):
    """Products and their catalogue prices."""

    entity = Product
    fields = ProductFields
    required = ("name",)

    def create(self, **fields: Unpack[ProductFields]) -> Product:
        """Create a product; see :class:`pycrm.schemas.ProductFields` for the fields."""
        return self._create(fields)

    def update(
        self,
        record_id: uuid.UUID | str,
        *,
        version: int | None = None,
        **changes: Unpack[ProductFields],
    ) -> Product:
        """Change some fields; pass ``version`` to refuse if someone changed it since."""
        return self._update(record_id, version, changes)


class OrderService(RecordService[Order]):
    """Orders and their lines; the total is derived."""

    entity = Order
    fields = OrderFields
    required = ("customer_id", "currency")

    def create(self, **fields: Unpack[OrderFields]) -> Order:
        """Create an order; see :class:`pycrm.schemas.OrderFields` for the fields."""
        return self._create(fields)

    def update(
        self,
        record_id: uuid.UUID | str,
        *,
        version: int | None = None,
        **changes: Unpack[OrderFields],
    ) -> Order:
        """Change some fields; pass ``version`` to refuse if someone changed it since."""
        return self._update(record_id, version, changes)
