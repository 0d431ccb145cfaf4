"""The pipeline capability: opportunity totals and how far deals got, for the pipeline
reports. :class:`ComputedPipelineQueries` is its fallback on the record store."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from attrs import frozen

from pycrm.core.opportunities import Opportunity
from pycrm.core.org import User
from pycrm.core.pipeline import StageTransition
from pycrm.storage.base import Filter, Op, Query, Scope, Transaction, sort_value
from pycrm.storage.capabilities import capability, each

__all__ = [
    "OWNER_DEPARTMENT",
    "ComputedPipelineQueries",
    "OpenStays",
    "OpportunityTotals",
    "PipelineQueries",
    "pipeline_queries",
]

#: The grouping name of the opportunity owner's department (``users.department_id``).
OWNER_DEPARTMENT = "department_id"


@frozen(kw_only=True)
class OpportunityTotals:
    """Sums over one group of opportunities, in one currency (``None``: no amount).

    ``keys`` holds the values of the grouping fields, in the order asked for.
    ``weighted_units`` is the sum of ``amount minor units x probability`` (an empty
    probability counts as 0): divide by 100 for the weighted amount in minor units.
    Only when asked for (``cycle=True``): ``closed`` counts the opportunities of the group
    that have a ``closed_at`` and ``cycle_seconds`` sums their ``closed_at - created_at``
    (each to the nearest second); both are 0 otherwise.
    """

    keys: tuple[Any, ...]
    currency: str | None
    count: int
    amount_units: int
    weighted_units: int
    closed: int = 0
    cycle_seconds: int = 0


@frozen(kw_only=True)
class OpenStays:
    """Open opportunities now in a stage, per group: how many, and how long they have been
    there so far in total (whole seconds, each to the nearest second)."""

    keys: tuple[Any, ...]
    count: int
    seconds: int


class PipelineQueries(Protocol):
    """Aggregates of the pipeline reports (an optional capability of a transaction)."""

    def opportunity_totals(
        self, scope: Scope, query: Query, group_by: Sequence[str], *, cycle: bool = False
    ) -> list[OpportunityTotals]:
        """Count and sum the opportunities of ``scope`` matching ``query``, grouped by the
        named fields (opportunity fields, or :data:`OWNER_DEPARTMENT`) and by currency;
        with ``cycle``, also the sales cycles of the closed ones. Row order is
        unspecified."""
        ...

    def furthest_stages(
        self, scope: Scope, query: Query, ranks: Mapping[str, int]
    ) -> dict[int, int]:
        """For the opportunities of ``scope`` matching ``query``, the highest rank (from
        ``ranks``, by stage key) of any stage each ever entered according to its stage
        transitions; returns how many opportunities reached each highest rank. Stages not
        in ``ranks`` are ignored; opportunities with no ranked transition are not
        counted."""
        ...

    def open_stays(
        self, scope: Scope, query: Query, group_by: Sequence[str], now: dt.datetime
    ) -> list[OpenStays]:
        """For the opportunities of ``scope`` matching ``query`` that have a
        ``stage_entered_at``, grouped by the named opportunity fields: how many, and the
        sum of ``now - stage_entered_at``. Row order is unspecified."""
        ...


def pipeline_queries(tx: Transaction) -> PipelineQueries:
    """The transaction's own pipeline queries, or :class:`ComputedPipelineQueries`."""
    return capability(tx, PipelineQueries, ComputedPipelineQueries)


class ComputedPipelineQueries:
    """:class:`PipelineQueries` computed in Python from the record store (the fallback):
    correct on any adapter; it reads every matching opportunity, a page at a time."""

    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    def opportunity_totals(
        self, scope: Scope, query: Query, group_by: Sequence[str], *, cycle: bool = False
    ) -> list[OpportunityTotals]:
        """Computed from the matching opportunities: :meth:`PipelineQueries.opportunity_totals`."""
        departments: dict[uuid.UUID | None, uuid.UUID | None] = {None: None}
        groups: dict[tuple[Any, ...], list[int]] = {}
        for opp in each(self._tx, Opportunity, scope, query):
            keys = tuple(self._key(scope, opp, name, departments) for name in group_by)
            currency = opp.amount.currency if opp.amount is not None else None
            units = opp.amount.minor_units if opp.amount is not None else 0
            sums = groups.setdefault((*keys, currency), [0, 0, 0, 0, 0])
            sums[0] += 1
            sums[1] += units
            sums[2] += units * (opp.probability or 0)
            if cycle and opp.closed_at is not None:
                sums[3] += 1
                sums[4] += seconds(opp.closed_at - opp.created_at)
        return [
            OpportunityTotals(
                keys=key[:-1],
                currency=key[-1],
                count=n,
                amount_units=amount,
                weighted_units=weighted,
                closed=closed,
                cycle_seconds=total,
            )
            for key, (n, amount, weighted, closed, total) in groups.items()
        ]

    def _key(
        self,
        scope: Scope,
        opp: Opportunity,
        name: str,
        departments: dict[uuid.UUID | None, uuid.UUID | None],
    ) -> Any:
        if name != OWNER_DEPARTMENT:
            return sort_value(opp, name)
        if opp.owner_id not in departments:
            owner = self._tx.get(User, Scope(scope.tenant), opp.owner_id)  # type: ignore[arg-type]
            departments[opp.owner_id] = owner.department_id if owner is not None else None
        return departments[opp.owner_id]

    def open_stays(
        self, scope: Scope, query: Query, group_by: Sequence[str], now: dt.datetime
    ) -> list[OpenStays]:
        """Computed from the matching opportunities: :meth:`PipelineQueries.open_stays`."""
        groups: dict[tuple[Any, ...], list[int]] = {}
        for opp in each(self._tx, Opportunity, scope, query):
            if opp.stage_entered_at is not None:
                sums = groups.setdefault(tuple(sort_value(opp, n) for n in group_by), [0, 0])
                sums[0] += 1
                sums[1] += seconds(now - opp.stage_entered_at)
        return [OpenStays(keys=k, count=n, seconds=t) for k, (n, t) in groups.items()]

    def furthest_stages(
        self, scope: Scope, query: Query, ranks: Mapping[str, int]
    ) -> dict[int, int]:
        """Computed from the matching opportunities: :meth:`PipelineQueries.furthest_stages`."""
        if not ranks:
            return {}
        wanted = {opp.id for opp in each(self._tx, Opportunity, scope, query)}
        reached = Query(filters=(Filter("to_stage", Op.IN, tuple(ranks)),))
        furthest: dict[uuid.UUID, int] = {}
        for t in each(self._tx, StageTransition, Scope(scope.tenant), reached):
            if t.opportunity_id in wanted:
                rank = ranks[t.to_stage]
                furthest[t.opportunity_id] = max(rank, furthest.get(t.opportunity_id, rank))
        counts: dict[int, int] = {}
        for rank in furthest.values():
            counts[rank] = counts.get(rank, 0) + 1
        return counts


def seconds(delta: dt.timedelta) -> int:
    """Whole seconds of a timedelta, half a second rounding away from zero (as SQL ROUND)."""
    half = dt.timedelta(microseconds=500_000)
    if delta >= dt.timedelta(0):
        return (delta + half) // dt.timedelta(seconds=1)
    return -((-delta + half) // dt.timedelta(seconds=1))
