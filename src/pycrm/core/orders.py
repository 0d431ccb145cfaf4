"""Products, and orders (订单/合同) whose total is always the sum of their lines."""

import datetime as dt
import uuid
from decimal import Decimal
from enum import StrEnum
from typing import ClassVar

from attrs import define, field

from pycrm.core.money import Money
from pycrm.core.records import Record

__all__ = ["Order", "OrderLine", "OrderStatus", "Product"]


@define(eq=False, kw_only=True)
class Product(Record):
    """Something sold; ``price`` is the catalogue price in its own currency."""

    kind: ClassVar[str] = "product"

    name: str
    code: str | None = None
    category: str | None = None
    unit: str | None = None
    price: Money | None = None
    active: bool = True

    def problems(self) -> list[tuple[str, str]]:
        if self.price is not None and self.price.is_negative():
            return [("price", "must not be negative")]
        return []


@define(kw_only=True)
class OrderLine:
    """One line of an order. ``discount`` is a fraction: 0.15 means 15 % off."""

    description: str
    quantity: Decimal
    unit_price: Money
    discount: Decimal = Decimal(0)
    product_id: uuid.UUID | None = None

    @property
    def total(self) -> Money:
        """quantity × unit price × (1 − discount), rounded once to minor units."""
        return self.unit_price * (self.quantity * (1 - self.discount))

    def problems(self) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        if self.quantity <= 0:
            found.append(("quantity", "must be positive"))
        if self.unit_price.is_negative():
            found.append(("unit_price", "must not be negative"))
        if not 0 <= self.discount <= 1:
            found.append(("discount", "must be a fraction between 0 and 1"))
        return found


class OrderStatus(StrEnum):
    """An order's workflow: draft → confirmed → completed, or cancelled."""

    DRAFT = "draft"
    CONFIRMED = "confirmed"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


@define(eq=False, kw_only=True)
class Order(Record):
    """An order or contract. ``total`` is derived from the lines, never typed in."""

    kind: ClassVar[str] = "order"

    customer_id: uuid.UUID
    currency: str
    number: str | None = None
    opportunity_id: uuid.UUID | None = None
    status: OrderStatus = OrderStatus.DRAFT
    signed_on: dt.date | None = None
    starts_on: dt.date | None = None
    ends_on: dt.date | None = None
    lines: list[OrderLine] = field(factory=list)
    total: Money | None = None

    def __attrs_post_init__(self) -> None:
        if self.total is None:
            self.recalculate()

    def derive(self) -> None:
        self.recalculate()

    def recalculate(self) -> None:
        """Set ``total`` to the sum of the lines (zero with no lines)."""
        if all(line.unit_price.currency == self.currency for line in self.lines):
            self.total = Money.total((line.total for line in self.lines), self.currency)

    def problems(self) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        for i, line in enumerate(self.lines):
            found += [(f"lines.{i}.{path}", why) for path, why in line.problems()]
            if line.unit_price.currency != self.currency:
                found.append(
                    (f"lines.{i}.unit_price", f"must be in the order's currency {self.currency}")
                )
        if not found and self.total != Money.total((x.total for x in self.lines), self.currency):
            found.append(("total", "must equal the sum of the lines"))
        if self.starts_on and self.ends_on and self.ends_on < self.starts_on:
            found.append(("ends_on", "must not be before starts_on"))
        return found
