"""Products and their catalogue prices."""

from __future__ import annotations

import uuid
from typing import Any, Unpack

from pycrm.core.orders import Product, ProductPrice
from pycrm.schemas import ProductFields
from pycrm.services.base import RecordService

__all__ = ["ProductService"]


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

    def _values(self, clean: Any) -> dict[str, Any]:
        # The price list is given as plain Money; stored as ProductPrice entries.
        rest = {name: value for name, value in clean.items() if name != "prices"}
        values = super()._values(rest)
        if "prices" in clean:
            values["prices"] = [ProductPrice(price=price) for price in clean["prices"]]
        return values
