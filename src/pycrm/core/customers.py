"""Customers (company accounts), their contacts, and leads that may become both."""

import datetime as dt
import uuid
from enum import StrEnum
from typing import ClassVar

from attrs import define, field

from pycrm.core.records import Record

__all__ = [
    "ChurnState",
    "Contact",
    "ContactRole",
    "Customer",
    "CustomerSource",
    "CustomerStatus",
    "CustomerType",
    "Lead",
    "LeadStatus",
]


class CustomerSource(StrEnum):
    """Where a customer or lead came from."""

    VISIT = "visit"
    CAMPAIGN = "campaign"
    REFERRAL = "referral"
    ASSIGNED = "assigned"  # assigned by a manager
    SELF_DEVELOPED = "self_developed"
    WEB = "web"
    OTHER = "other"


class CustomerType(StrEnum):
    """The relationship with a customer."""

    EXISTING = "existing"
    TARGET = "target"
    POTENTIAL = "potential"
    PARTNER = "partner"
    BLACKLIST = "blacklist"
    COMPETITOR = "competitor"


class CustomerStatus(StrEnum):
    """Whether a customer is worked on; archived (封存) customers are kept but frozen."""

    ACTIVE = "active"
    NORMAL = "normal"
    ARCHIVED = "archived"  # 封存
    CHURNED = "churned"  # 确定流失: the rep confirmed the customer is lost


class ChurnState(StrEnum):
    """Where a customer's churn warning (流失预警) stands: raised by the rules, postponed by
    the rep (暂缓流失) with an action and a date, or confirmed (确定流失)."""

    WARNING = "warning"
    POSTPONED = "postponed"
    CONFIRMED = "confirmed"


@define(eq=False, kw_only=True)
class Customer(Record):
    """A company account (客户). ``level`` is the company's own tier (VIP, A/B/C...).

    ``external_id`` is its key in another system (an ERP): imports update the customer
    that has it. ``merged_into`` names the customer a merged one lives on in. The churn
    fields say where its churn warning stands (:class:`ChurnState`), why it was raised,
    and the rep's action and date when postponed.
    """

    kind: ClassVar[str] = "customer"
    system_fields: ClassVar[frozenset[str]] = Record.system_fields | {
        "merged_into",
        "churn_state",
        "churn_reasons",
        "churn_flagged_at",
        "churn_action",
        "churn_until",
    }

    name: str
    industry: str | None = None
    source: CustomerSource | None = None
    level: str | None = None
    type: CustomerType = CustomerType.POTENTIAL
    status: CustomerStatus = CustomerStatus.ACTIVE
    credit_rating: str | None = None
    region: str | None = None
    address: str | None = None
    phone: str | None = None
    website: str | None = None
    email: str | None = None
    parent_id: uuid.UUID | None = None
    tags: list[str] = field(factory=list)
    #: The public pool the customer is in (then it has no owner); set only by pool moves.
    pool: str | None = None
    #: Since when it is in its current owner's hands (created, claimed, assigned,
    #: transferred) or in its pool: recycle rules count from here at the earliest.
    owned_since: dt.datetime | None = None
    #: Marked hot (a customer being worked on hard) until this time: it stays out of
    #: public-pool recycling meanwhile; hotness ends by itself.
    hot_until: dt.datetime | None = None
    external_id: str | None = None
    merged_into: uuid.UUID | None = None
    churn_state: ChurnState | None = None
    churn_reasons: list[str] | None = None
    churn_flagged_at: dt.datetime | None = None
    churn_action: str | None = None
    churn_until: dt.date | None = None

    def problems(self) -> list[tuple[str, str]]:
        """Broken invariants: a customer cannot be its own parent."""
        if self.parent_id == self.id:
            return [("parent_id", "a customer cannot be its own parent")]
        return []


class ContactRole(StrEnum):
    """A contact's part in the deal."""

    KEY_CONTACT = "key_contact"
    DECISION_MAKER = "decision_maker"
    INFLUENCER = "influencer"
    USER = "user"
    OTHER = "other"


@define(eq=False, kw_only=True)
class Contact(Record):
    """A person at a customer (联系人). Closeness and influence run from 1 (low) to 5.
    ``birth_month_day`` (``"MM-DD"``) is kept from ``birthday``, so the day's birthdays are
    one indexed lookup."""

    kind: ClassVar[str] = "contact"
    system_fields: ClassVar[frozenset[str]] = Record.system_fields | {
        "birth_month_day",
        "merged_into",
    }

    customer_id: uuid.UUID
    name: str
    title: str | None = None
    department: str | None = None
    phone: str | None = None
    mobile: str | None = None
    email: str | None = None
    birthday: dt.date | None = None
    role: ContactRole | None = None
    closeness: int | None = None
    influence: int | None = None
    preferences: str | None = None
    birth_month_day: str | None = None
    external_id: str | None = None
    merged_into: uuid.UUID | None = None

    def derive(self) -> None:
        """Keep ``birth_month_day`` from ``birthday``."""
        self.birth_month_day = self.birthday.strftime("%m-%d") if self.birthday else None


class LeadStatus(StrEnum):
    """How far a lead has been qualified."""

    NEW = "new"
    CONTACTED = "contacted"
    QUALIFIED = "qualified"
    CONVERTED = "converted"
    DISQUALIFIED = "disqualified"


@define(eq=False, kw_only=True)
class Lead(Record):
    """An unqualified prospect (线索); conversion links the records it became."""

    kind: ClassVar[str] = "lead"
    system_fields: ClassVar[frozenset[str]] = Record.system_fields | {"merged_into"}

    name: str
    company: str | None = None
    title: str | None = None
    phone: str | None = None
    email: str | None = None
    source: CustomerSource | None = None
    status: LeadStatus = LeadStatus.NEW
    notes: str | None = None
    converted_at: dt.datetime | None = None
    customer_id: uuid.UUID | None = None
    contact_id: uuid.UUID | None = None
    opportunity_id: uuid.UUID | None = None
    external_id: str | None = None
    merged_into: uuid.UUID | None = None

    def problems(self) -> list[tuple[str, str]]:
        """Broken invariants: a converted lead names the customer it became."""
        if self.status is LeadStatus.CONVERTED and self.customer_id is None:
            return [("customer_id", "a converted lead must name the customer it became")]
        return []
