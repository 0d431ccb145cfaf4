"""The typed results of the pipeline reports: frozen pydantic models, JSON-ready.

``report.model_dump(mode="json")`` gives plain data; money is ``{"amount", "currency"}``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from pycrm.core.pipeline import ForecastCategory
from pycrm.schemas import MoneyValue

__all__ = [
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


class _Report(BaseModel):
    model_config = ConfigDict(frozen=True)


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
    """How many deals were lost for one reason, their amount and share of the count."""

    reason: str | None
    count: int
    amount: MoneyValue
    share: Decimal


class LostReasons(_Report):
    """Why deals closed as lost in ``period`` (all time if None), most frequent first."""

    currency: str
    on: dt.date
    period: Period | None
    rows: list[LostReasonRow]
    count: int


class DwellRow(_Report):
    """Standard against actual dwell time of one stage (for one owner, if grouped):
    ``actual_days`` is the average length of the stays that ended in the period."""

    stage: str
    owner_id: uuid.UUID | None = None
    standard_days: int | None
    stays: int
    actual_days: Decimal
    over_days: Decimal | None


class DwellTimes(_Report):
    """Dwell times of one pipeline's stages, from its recorded stage transitions."""

    pipeline: str
    period: Period | None
    by: tuple[str, ...]
    rows: list[DwellRow]
