"""Products, and orders (订单/合同) whose total is always the sum of their lines."""

import datetime as dt
import uuid
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar

from attrs import define, field

from pycrm.core import messages as msg
from pycrm.core.events import OrderCancelled, OrderCompleted, OrderConfirmed
from pycrm.core.money import Money
from pycrm.core.records import Record

__all__ = ["Order", "OrderLine", "OrderStatus", "Product", "ProductPrice"]


@define(kw_only=True)
class ProductPrice:
    """One entry of a product's price list: the catalogue price in one currency."""

    price: Money


@define(eq=False, kw_only=True)
class Product(Record):
    """Something sold, with catalogue prices per currency.

    ``price`` is the list price in the product's main currency; ``prices`` is the price
    list for the currencies it is also sold in (at most one per currency, and it wins over
    ``price`` for its currency).
    """

    kind: ClassVar[str] = "product"

    name: str
    code: str | None = None
    category: str | None = None
    unit: str | None = None
    price: Money | None = None
    prices: list[ProductPrice] = field(factory=list)
    active: bool = True
    external_id: str | None = None

    def price_in(self, currency: str) -> Money | None:
        """The catalogue price in ``currency``, or None when the product has none."""
        for entry in self.prices:
            if entry.price.currency == currency:
                return entry.price
        if self.price is not None and self.price.currency == currency:
            return self.price
        return None

    def problems(self) -> list[tuple[str, str]]:
        """Broken invariants: prices not negative, at most one price per currency."""
        found: list[tuple[str, str]] = []
        if self.price is not None and self.price.is_negative():
            found.append(("price", "must not be negative"))
        seen: set[str] = set()
        for i, entry in enumerate(self.prices):
            if entry.price.is_negative():
                found.append((f"prices.{i}", "must not be negative"))
            if entry.price.currency in seen:
                found.append((f"prices.{i}", f"a second price in {entry.price.currency}"))
            seen.add(entry.price.currency)
        return found


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
        """Broken invariants: quantity positive, unit price not negative, discount 0 to 1."""
        return line_problems(self.quantity, self.unit_price, self.discount)


def line_problems(
    quantity: Decimal | None,
    unit_price: Money | None,
    discount: Decimal | None,
    currency: str | None = None,
) -> list[tuple[str, str]]:
    """What is wrong with a line's values (None: a value not known, so not checked), the
    unit price's currency checked against the order's ``currency`` when given. Used on
    whole lines and on the values of a line whose other fields do not parse, so that one
    bad value never hides the others."""
    found: list[tuple[str, str]] = []
    if quantity is not None and quantity <= 0:
        found.append(("quantity", "must be positive"))
    if unit_price is not None and unit_price.is_negative():
        found.append(("unit_price", "must not be negative"))
    if discount is not None and not 0 <= discount <= 1:
        found.append(("discount", "must be a fraction between 0 and 1"))
    if unit_price is not None and currency is not None and unit_price.currency != currency:
        found.append(("unit_price", f"must be in the order's currency {currency}"))
    return found


class OrderStatus(StrEnum):
    """An order's workflow: draft → confirmed → completed, or cancelled."""

    DRAFT = "draft"
    CONFIRMED = "confirmed"
    COMPLETED = "completed"
    CANCELLED = "cancelled"

    @property
    def label(self) -> str:
        """The English text of the status (a message id of the translation catalogues)."""
        return _STATUS_LABELS[self]


_STATUS_LABELS = {
    OrderStatus.DRAFT: msg.STATUS_DRAFT,
    OrderStatus.CONFIRMED: msg.STATUS_CONFIRMED,
    OrderStatus.COMPLETED: msg.STATUS_COMPLETED,
    OrderStatus.CANCELLED: msg.STATUS_CANCELLED,
}

#: Fields only a draft order may change.
DRAFT_ONLY = ("currency", "customer_id", "lines")

#: Which statuses each transition starts from, and the status it leads to.
_TRANSITIONS: dict[str, tuple[frozenset[OrderStatus], OrderStatus]] = {
    "confirmed": (frozenset({OrderStatus.DRAFT}), OrderStatus.CONFIRMED),
    "completed": (frozenset({OrderStatus.CONFIRMED}), OrderStatus.COMPLETED),
    "cancelled": (frozenset({OrderStatus.DRAFT, OrderStatus.CONFIRMED}), OrderStatus.CANCELLED),
}


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
    confirmed_on: dt.date | None = None
    completed_on: dt.date | None = None
    cancelled_on: dt.date | None = None
    cancel_reason: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.total is None:
            self.recalculate()

    def derive(self) -> None:
        """Recompute the total from the lines (see :meth:`recalculate`)."""
        self.recalculate()

    def recalculate(self) -> None:
        """Set ``total`` to the sum of the lines (zero with no lines)."""
        if all(line.unit_price.currency == self.currency for line in self.lines):
            self.total = Money.total((line.total for line in self.lines), self.currency)

    @property
    def is_sale(self) -> bool:
        """Whether the order counts as sold (confirmed or completed)."""
        return self.status in (OrderStatus.CONFIRMED, OrderStatus.COMPLETED)

    def _move(self, action: str) -> OrderStatus:
        sources, target = _TRANSITIONS[action]
        if self.status not in sources:
            raise msg.violation(
                msg.ORDER_BAD_TRANSITION,
                rule="order.transition",
                order=self.id,
                status=self.status.value,
                action=action,
            )
        before, self.status = self.status, target
        return before

    def confirm(self, on: dt.date, *, at: dt.datetime, by: uuid.UUID) -> OrderConfirmed:
        """draft → confirmed on business day ``on``: the lines and their prices are frozen
        from now on."""
        if not self.lines:
            raise msg.violation(msg.ORDER_EMPTY, rule="order.empty", order=self.id)
        before = self._move("confirmed")
        self.confirmed_on = on
        return OrderConfirmed(**self._event(before, at, by), on=on)

    def complete(self, on: dt.date, *, at: dt.datetime, by: uuid.UUID) -> OrderCompleted:
        """confirmed → completed on business day ``on``."""
        before = self._move("completed")
        self.completed_on = on
        return OrderCompleted(**self._event(before, at, by), on=on)

    def cancel(
        self, on: dt.date, reason: str | None = None, *, at: dt.datetime, by: uuid.UUID
    ) -> OrderCancelled:
        """draft or confirmed → cancelled (the service refuses it once money came in)."""
        before = self._move("cancelled")
        self.cancelled_on, self.cancel_reason = on, reason
        return OrderCancelled(**self._event(before, at, by), on=on, reason=reason)

    def _event(self, before: OrderStatus, at: dt.datetime, by: uuid.UUID) -> dict[str, Any]:
        return {
            "record_id": self.id,
            "tenant": self.tenant,
            "user_id": by,
            "at": at,
            "changes": {"status": (before.value, self.status.value)},
        }

    def check_edit(self, old: "Order") -> None:
        """Refuse changes a non-draft order may not take, and status changes by hand."""
        if self.status != old.status:
            raise msg.violation(
                msg.ORDER_STATUS_BY_METHOD, rule="order.status_by_method", order=self.id
            )
        if old.status is OrderStatus.DRAFT:
            return
        # Lines are attrs values: equal when every field is equal.
        changed = [name for name in DRAFT_ONLY if getattr(old, name) != getattr(self, name)]
        if changed:
            raise msg.violation(
                msg.ORDER_NOT_DRAFT,
                rule="order.not_draft",
                order=self.id,
                status=old.status.value,
                fields=", ".join(changed),
            )

    def problems(self) -> list[tuple[str, str]]:
        """Broken invariants: valid lines adding up to the total, an end not before the start."""
        found: list[tuple[str, str]] = []
        for i, line in enumerate(self.lines):
            seen = line_problems(line.quantity, line.unit_price, line.discount, self.currency)
            found += [(f"lines.{i}.{path}", why) for path, why in seen]
        if not found and self.total != Money.total((x.total for x in self.lines), self.currency):
            found.append(("total", "must equal the sum of the lines"))
        if self.starts_on and self.ends_on and self.ends_on < self.starts_on:
            found.append(("ends_on", "must not be before starts_on"))
        return found
