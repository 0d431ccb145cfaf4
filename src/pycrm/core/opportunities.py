"""Opportunities (商机): a customer's intent to buy, moving through a pipeline's stages."""

import datetime as dt
import uuid
from enum import StrEnum
from typing import ClassVar

from attrs import define

from pycrm.core.money import Money
from pycrm.core.records import Record

__all__ = ["Opportunity", "OpportunityStatus"]


class OpportunityStatus(StrEnum):
    """Open, or closed as won or lost."""

    OPEN = "open"
    WON = "won"
    LOST = "lost"


@define(eq=False, kw_only=True)
class Opportunity(Record):
    """A deal. ``probability`` is a whole percentage from 0 to 100.

    ``stage`` is a stage of ``pipeline``; while the deal is won or lost it keeps the last
    open stage. The services set the stage and status through ``move``, ``win``, ``lose``
    and ``reopen``; ``stage_entered_at`` is when it entered its current stage or state.
    """

    kind: ClassVar[str] = "opportunity"

    customer_id: uuid.UUID
    name: str
    pipeline: str = "b2b"
    stage: str = "qualification"
    amount: Money | None = None
    probability: int | None = None
    expected_close: dt.date | None = None
    product_line: str | None = None
    importance: str | None = None
    status: OpportunityStatus = OpportunityStatus.OPEN
    stage_entered_at: dt.datetime | None = None
    last_contact_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None
    lost_reason: str | None = None

    def problems(self) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        if self.probability is not None and not 0 <= self.probability <= 100:
            found.append(("probability", "must be between 0 and 100"))
        if self.amount is not None and self.amount.is_negative():
            found.append(("amount", "must not be negative"))
        if self.status is OpportunityStatus.LOST and not self.lost_reason:
            found.append(("lost_reason", "a lost opportunity needs a reason"))
        return found
