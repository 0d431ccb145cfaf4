"""The entity types pycrm stores, in dependency order (referenced kinds first)."""

from pycrm.core.access import Share
from pycrm.core.activities import Activity
from pycrm.core.customers import Contact, Customer, Lead
from pycrm.core.opportunities import Opportunity
from pycrm.core.orders import Order, Product
from pycrm.core.org import Department, User
from pycrm.core.payments import Payment, PaymentPlan
from pycrm.core.records import Record
from pycrm.core.tickets import Ticket

__all__ = ["ENTITY_TYPES", "REFERENCES", "kind_of"]

ENTITY_TYPES: tuple[type[Record], ...] = (
    Department,
    User,
    Customer,
    Contact,
    Lead,
    Opportunity,
    Product,
    Order,
    PaymentPlan,
    Payment,
    Ticket,
    Activity,
    Share,
)

#: Which kind a reference field points at; ``parent_id`` points at the record's own kind.
REFERENCES: dict[str, str] = {
    "department_id": "department",
    "customer_id": "customer",
    "contact_id": "contact",
    "opportunity_id": "opportunity",
    "product_id": "product",
    "order_id": "order",
    "plan_id": "payment_plan",
    "ticket_id": "ticket",
    "user_id": "user",
}


def kind_of(name: str) -> type[Record]:
    """The entity class for a kind name such as ``"customer"``."""
    for cls in ENTITY_TYPES:
        if cls.kind == name:
            return cls
    raise LookupError(f"unknown entity kind {name!r}")
