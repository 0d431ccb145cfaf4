"""Report and aggregate queries computed in Python over a backend's records.

:class:`ComputedQueries` implements every aggregate method of the storage protocol
(:class:`pycrm.storage.base.Transaction`: ``group``, the receivables sums, the pipeline
totals, stale deals) on top of two small methods a backend provides: ``_table`` (the
records of one kind in one tenant, by id) and ``_stored_transitions``. The in-memory
backend uses it as its implementation; a new adapter can start from it and pass the whole
contract, then replace the methods whose data grows large with native queries (the
SQLAlchemy backend runs all of them in SQL). Computed here, every aggregate reads all the
tenant's records of the kinds it needs.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from pycrm.core.opportunities import Opportunity, OpportunityStatus
from pycrm.core.org import User
from pycrm.core.pipeline import StageTransition
from pycrm.core.records import Record
from pycrm.storage import memory_receivables as receivables
from pycrm.storage.base import (
    OWNER_DEPARTMENT,
    AgingSum,
    DatedSum,
    DwellTotals,
    Group,
    OpenInstallment,
    OpportunityTotals,
    Query,
    StaleRule,
    sort_value,
)
from pycrm.storage.matching import matches

__all__ = ["ComputedQueries"]


class ComputedQueries:
    """The aggregate methods of a storage transaction, computed from its records."""

    def _table(self, kind: str, tenant: str) -> Mapping[uuid.UUID, Record]:
        """Every record (deleted ones too) of ``kind`` in ``tenant``, by id."""
        raise NotImplementedError

    def _stored_transitions(self, tenant: str) -> Iterable[StageTransition]:
        """Every stage transition of ``tenant``."""
        raise NotImplementedError

    def _check_open(self) -> None:
        """Raise if the transaction has ended (a no-op unless the backend tracks it)."""

    def _select(self, kind: type[Record], tenant: str, query: Query) -> list[Record]:
        rows = self._table(kind.kind, tenant).values()
        return [
            r
            for r in rows
            if (query.deleted is None or r.deleted == query.deleted)
            and (query.ids is None or r.id in query.ids)
            and matches(r, query.filters, query.custom_types)
        ]

    def group(
        self, kind: type[Record], tenant: str, query: Query, by: tuple[str, ...], money: str | None
    ) -> list[Group]:
        self._check_open()
        found: dict[tuple[tuple[Any, ...], str | None], list[int]] = {}
        for record in self._select(kind, tenant, query):
            key = tuple(sort_value(record, name) for name in by)
            amount = getattr(record, money) if money else None
            currency = amount.currency if amount is not None else None
            tally = found.setdefault((key, currency), [0, 0])
            tally[0] += 1
            tally[1] += amount.minor_units if amount is not None else 0
        groups = [
            Group(key, count, currency, total if currency else None)
            for (key, currency), (count, total) in found.items()
        ]
        return sorted(groups, key=lambda g: (_none_first(g.key), _none_first((g.currency,))))

    # -- receivables -------------------------------------------------------------------
    def _tables(self, tenant: str) -> receivables.Tables:
        self._check_open()
        return functools.partial(self._table, tenant=tenant)

    def open_installments(
        self,
        tenant: str,
        *,
        due_from: dt.date | None,
        due_to: dt.date | None,
        owner_id: uuid.UUID | None = None,
        department_ids: frozenset[uuid.UUID] | None = None,
    ) -> list[OpenInstallment]:
        return receivables.open_installments(
            self._tables(tenant),
            due_from=due_from,
            due_to=due_to,
            owner_id=owner_id,
            department_ids=department_ids,
        )

    def sales_by_day(self, tenant: str, start: dt.date, end: dt.date) -> list[DatedSum]:
        return receivables.sales_by_day(self._tables(tenant), start, end)

    def collected_by_day(self, tenant: str, start: dt.date, end: dt.date) -> list[DatedSum]:
        return receivables.collected_by_day(self._tables(tenant), start, end)

    def outstanding_by_day(self, tenant: str, start: dt.date, end: dt.date) -> list[DatedSum]:
        return receivables.outstanding_by_day(self._tables(tenant), start, end)

    def aging_sums(
        self, tenant: str, on: dt.date, by: Literal["customer", "owner"]
    ) -> list[AgingSum]:
        return receivables.aging_sums(self._tables(tenant), on, by)

    # -- pipelines ---------------------------------------------------------------------
    def opportunity_totals(
        self, tenant: str, query: Query, group_by: Sequence[str], *, cycle: bool = False
    ) -> list[OpportunityTotals]:
        self._check_open()
        users = self._table(User.kind, tenant)
        groups: dict[tuple[Any, ...], list[int]] = {}
        for opp in self._select(Opportunity, tenant, query):
            assert isinstance(opp, Opportunity)
            keys = tuple(_group_value(opp, name, users) for name in group_by)
            currency = opp.amount.currency if opp.amount is not None else None
            units = opp.amount.minor_units if opp.amount is not None else 0
            sums = groups.setdefault((*keys, currency), [0, 0, 0, 0, 0])
            sums[0] += 1
            sums[1] += units
            sums[2] += units * (opp.probability or 0)
            if cycle and opp.closed_at is not None:
                sums[3] += 1
                sums[4] += _seconds(opp.closed_at - opp.created_at)
        return [
            OpportunityTotals(
                keys=key[:-1],
                currency=key[-1],
                count=n,
                amount_units=amount,
                weighted_units=weighted,
                closed=closed,
                cycle_seconds=cycle,
            )
            for key, (n, amount, weighted, closed, cycle) in groups.items()
        ]

    def furthest_stages(
        self, tenant: str, query: Query, ranks: Mapping[str, int]
    ) -> dict[int, int]:
        self._check_open()
        wanted = {r.id for r in self._select(Opportunity, tenant, query)}
        furthest: dict[uuid.UUID, int] = {}
        for t in self._stored_transitions(tenant):
            if t.opportunity_id in wanted and t.to_stage in ranks:
                rank = ranks[t.to_stage]
                furthest[t.opportunity_id] = max(rank, furthest.get(t.opportunity_id, rank))
        counts: dict[int, int] = {}
        for rank in furthest.values():
            counts[rank] = counts.get(rank, 0) + 1
        return counts

    def dwell_totals(
        self,
        tenant: str,
        pipeline: str,
        group_by: Sequence[str],
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
    ) -> list[DwellTotals]:
        self._check_open()
        groups: dict[tuple[Any, ...], list[int]] = {}
        for t in self._stored_transitions(tenant):
            if t.pipeline != pipeline or t.from_stage is None:
                continue
            if (since is not None and t.at < since) or (until is not None and t.at >= until):
                continue
            sums = groups.setdefault(tuple(getattr(t, name) for name in group_by), [0, 0])
            sums[0] += 1
            sums[1] += t.dwell_ms
        return [DwellTotals(keys=k, stays=n, dwell_ms=ms) for k, (n, ms) in groups.items()]

    def find_stale(self, tenant: str, rules: Sequence[StaleRule]) -> list[Opportunity]:
        self._check_open()
        found = [
            opp
            for opp in self._table(Opportunity.kind, tenant).values()
            if isinstance(opp, Opportunity) and any(_is_stale(opp, rule) for rule in rules)
        ]
        return [copy.deepcopy(o) for o in sorted(found, key=lambda o: o.id)]


def _none_first(key: tuple[Any, ...]) -> tuple[tuple[bool, Any], ...]:
    return tuple((value is not None, value) for value in key)


def _group_value(opp: Opportunity, name: str, users: Mapping[uuid.UUID, Record]) -> Any:
    if name == OWNER_DEPARTMENT:
        owner = users.get(opp.owner_id) if opp.owner_id is not None else None
        return owner.department_id if isinstance(owner, User) else None
    return sort_value(opp, name)


def _seconds(delta: dt.timedelta) -> int:
    """Whole seconds, half a second rounding away from zero (as SQL ROUND does)."""
    half = dt.timedelta(microseconds=500_000)
    if delta >= dt.timedelta(0):
        return (delta + half) // dt.timedelta(seconds=1)
    return -((-delta + half) // dt.timedelta(seconds=1))


def _is_stale(opp: Opportunity, rule: StaleRule) -> bool:
    if opp.deleted or opp.status is not OpportunityStatus.OPEN:
        return False
    if (opp.pipeline, opp.stage) != (rule.pipeline, rule.stage):
        return False
    contact = opp.last_contact_at or opp.created_at
    if rule.contact_before is not None and contact <= rule.contact_before:
        return True
    entered = opp.stage_entered_at
    return rule.entered_before is not None and entered is not None and entered < rule.entered_before
