"""``uow.reports``: every report, run inside a unit of work (or, through
``crm.as_user(...)``, in one of its own) and limited to what the unit of work may see.

Pipeline reports (:mod:`.pipeline`) and receivables reports (:mod:`.receivables`) ask the
storage's optional capabilities for their aggregates; their results are the frozen models
of :mod:`.models`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pycrm.services.reports.customers import CustomerReports
from pycrm.services.reports.pipeline import PipelineReports
from pycrm.services.reports.receivables import ReceivablesReports

if TYPE_CHECKING:
    from pycrm.services.unit_of_work import Step

__all__ = ["Reports"]


class Reports(PipelineReports, ReceivablesReports, CustomerReports):
    """Pipeline analysis (weighted pipeline, forecast, funnel, win rate, lost reasons,
    dwell times), receivables (sales, collected, outstanding, aging) and customer value
    (ABC, rising and falling customers, new customers per rep)."""

    def __init__(self, step: Step) -> None:
        self._step = step
