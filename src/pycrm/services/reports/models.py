"""Every report's typed result, and the due list's rows: frozen pydantic models.

``report.model_dump(mode="json")`` gives plain data; money is ``{"amount", "currency"}``.
Schemas are built on first use, not at import.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict

from pycrm.core import messages as msg
from pycrm.core.money import Money
from pycrm.core.pipeline import ForecastCategory
from pycrm.schemas import MoneyValue

__all__ = [
    "AGING_HEADINGS",
    "AgingReport",
    "AgingRow",
    "AmountPeriod",
    "AmountReport",
    "AmountRow",
    "DwellRow",
    "DwellTimes",
    "Forecast",
    "ForecastRow",
    "Funnel",
    "FunnelStage",
    "LostReasonRow",
    "LostReasons",
    "Period",
    "WeightedPipeline",
    "WeightedPipelineRow",
    "WinRate",
    "WinRateRow",
]

#: ``(first_day, last_day)``, both included.
Period = tuple[dt.date, dt.date]
#: How sales, collected and outstanding amounts are added up: per month, quarter or year.
AmountPeriod = Literal["month", "quarter", "year"]

# Schemas are built when a report is first made, which keeps ``import pycrm`` quick.
_FROZEN = ConfigDict(frozen=True, defer_build=True)


class _Report(BaseModel):
    model_config = _FROZEN


class _Group(_Report):
    owner_id: uuid.UUID | None = None
    department_id: uuid.UUID | None = None
    pipeline: str | None = None
    stage: str | None = None
    forecast: ForecastCategory | None = None


class WeightedPipelineRow(_Group):
    """Open opportunities of one group: how many, their amount and weighted amount."""

    count: int
    amount: MoneyValue
    weighted: MoneyValue


class WeightedPipeline(_Report):
    """Open opportunities (expected to close in ``period`` if given), weighted by their
    probability, in the reporting ``currency`` converted with the rates of ``on``."""

    currency: str
    on: dt.date
    period: Period | None
    by: tuple[str, ...]
    rows: list[WeightedPipelineRow]
    count: int
    total: MoneyValue
    weighted: MoneyValue


class ForecastRow(_Group):
    """One group's forecast: won in the period (``closed``), and the open amounts expected
    to close in it by the forecast category of their stage, plus the weighted amount."""

    closed: MoneyValue
    commit: MoneyValue
    best_case: MoneyValue
    pipeline_amount: MoneyValue
    weighted: MoneyValue


class Forecast(_Report):
    """The forecast of a period by group, and the company total as ``total``."""

    currency: str
    on: dt.date
    period: Period
    by: tuple[str, ...]
    rows: list[ForecastRow]
    total: ForecastRow


class FunnelStage(_Report):
    """One stage of the funnel (the last row is ``won``).

    ``open_count``/``open_amount``: open opportunities in the stage now. ``reached``:
    opportunities that ever entered this stage or a later one (or were won).
    ``conversion``: the share of them that reached the next row's stage (4 decimals).
    """

    stage: str
    name: str
    probability: int
    open_count: int
    open_amount: MoneyValue
    reached: int
    conversion: Decimal | None


class Funnel(_Report):
    """The funnel of one pipeline, for opportunities created in ``period`` if given."""

    pipeline: str
    currency: str
    on: dt.date
    period: Period | None
    stages: list[FunnelStage]


class WinRateRow(_Group):
    """Deals closed in the period: won, lost, the win rate (4 decimals) and the average
    sales cycle of the won ones in days (creation to win, 2 decimals)."""

    won: int
    lost: int
    win_rate: Decimal | None
    average_cycle_days: Decimal | None


class WinRate(_Report):
    """Win rate and sales cycle by group for deals closed in ``period``."""

    period: Period
    by: tuple[str, ...]
    rows: list[WinRateRow]
    total: WinRateRow


class LostReasonRow(_Report):
    """How many deals were lost for one reason, their amount and share of the count;
    ``label`` is the reason's label in the tenant's ``lost_reason`` picklist (the key when
    the list does not have it)."""

    reason: str | None
    count: int
    amount: MoneyValue
    share: Decimal
    label: str | None = None


class LostReasons(_Report):
    """Why deals closed as lost in ``period`` (all time if None), most frequent first."""

    currency: str
    on: dt.date
    period: Period | None
    rows: list[LostReasonRow]
    count: int


class DwellRow(_Report):
    """Standard against actual dwell time of one stage (for one owner, if grouped):
    ``actual_days`` is the average length of the ``stays`` that ended in the period (None
    when none did) and ``over_days`` how much that exceeds the standard. ``open_stays``
    counts the open deals in the stage now and ``open_days`` is how long, on average, they
    have been there so far."""

    stage: str
    owner_id: uuid.UUID | None = None
    standard_days: int | None
    stays: int
    actual_days: Decimal | None
    over_days: Decimal | None
    open_stays: int = 0
    open_days: Decimal | None = None


class DwellTimes(_Report):
    """Dwell times of one pipeline's stages, from its recorded stage transitions."""

    pipeline: str
    period: Period | None
    by: tuple[str, ...]
    rows: list[DwellRow]


# -- receivables -------------------------------------------------------------------------


class AmountRow(BaseModel):
    """One period, department and rep of a sales, collected or outstanding report."""

    model_config = _FROZEN

    period: str
    department_id: uuid.UUID | None
    owner_id: uuid.UUID | None
    amount: MoneyValue


class AmountReport(BaseModel):
    """Sales, collected or outstanding amounts in the reporting currency."""

    model_config = _FROZEN

    kind: Literal["sales", "collected", "outstanding"]
    start: dt.date
    end: dt.date
    period: AmountPeriod
    currency: str
    rows: list[AmountRow]
    total: MoneyValue


class AgingRow(BaseModel):
    """Outstanding money of one customer (or rep) by how long it is overdue."""

    model_config = _FROZEN

    key: uuid.UUID | None
    name: str | None
    current: MoneyValue
    days_1_30: MoneyValue
    days_31_60: MoneyValue
    days_61_90: MoneyValue
    over_90: MoneyValue
    total: MoneyValue

    @property
    def buckets(self) -> list[Money]:
        """The five buckets in order: current, 1–30, 31–60, 61–90, over 90 days."""
        return [self.current, self.days_1_30, self.days_31_60, self.days_61_90, self.over_90]


class AgingReport(BaseModel):
    """Receivables aging on a date, per customer or per rep, in the reporting currency.

    Amounts are converted with the rate of the report date (an aging is a position on that
    day). Each row's ``total`` is the sum of its buckets and ``totals`` sums the rows, so
    the buckets partition the outstanding amount exactly.
    """

    model_config = _FROZEN

    on: dt.date
    by: Literal["customer", "owner"]
    currency: str
    rows: list[AgingRow]
    totals: AgingRow


#: Bucket headings, in bucket order (message ids of the translation catalogues).
AGING_HEADINGS = (
    msg.BUCKET_CURRENT,
    msg.BUCKET_1_30,
    msg.BUCKET_31_60,
    msg.BUCKET_61_90,
    msg.BUCKET_OVER_90,
)
