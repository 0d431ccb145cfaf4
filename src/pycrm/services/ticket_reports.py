"""The service desk's report: SLA attainment, handling times and satisfaction, per agent
or per team, counted in the database (``GROUP BY`` on SQL; the same groups on any
backend through the record store's ``group``).

Tickets count in a period by what happened in it: resolved tickets for the resolution
target and time, first responses for the response target and time, surveys for
satisfaction. A team is the agent's department; its rows add up its agents' groups.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict

from pycrm.core.org import User
from pycrm.core.tickets import Ticket
from pycrm.storage.base import Filter, Group, Op, Query

if TYPE_CHECKING:
    from pycrm.services.unit_of_work import UnitOfWork

__all__ = ["ServiceReport", "ServiceRow"]

By = Literal["agent", "team", "all"]


class ServiceRow(BaseModel):
    """One agent's (``key`` a user id), team's (a department id) or the whole desk's
    (``key`` None) service in a period."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    key: uuid.UUID | None
    responded: int = 0
    #: First responses that had a deadline, and those within it.
    response_targets: int = 0
    response_met: int = 0
    response_minutes: int = 0
    resolved: int = 0
    #: Resolutions that had a deadline, and those within it.
    resolution_targets: int = 0
    resolution_met: int = 0
    resolution_minutes: int = 0
    surveyed: int = 0
    satisfaction_points: int = 0
    #: How many surveys gave each score, "1" to "5".
    scores: dict[str, int] = {}

    @property
    def response_attainment(self) -> float | None:
        """The share of first responses within their deadline (None: none had one)."""
        return _share(self.response_met, self.response_targets)

    @property
    def resolution_attainment(self) -> float | None:
        """The share of resolutions within their deadline (None: none had one)."""
        return _share(self.resolution_met, self.resolution_targets)

    @property
    def average_response_minutes(self) -> float | None:
        """Business minutes to the first response, on average."""
        return _share(self.response_minutes, self.responded)

    @property
    def average_resolution_minutes(self) -> float | None:
        """Business minutes to the resolution (waiting excluded), on average."""
        return _share(self.resolution_minutes, self.resolved)

    @property
    def average_satisfaction(self) -> float | None:
        """The surveys' average score, 1 to 5."""
        return _share(self.satisfaction_points, self.surveyed)


class ServiceReport(BaseModel):
    """The service desk's report for ``start`` ≤ time < ``end``, one row per agent, team
    or for all, by key."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    start: dt.datetime
    end: dt.datetime
    by: By
    rows: list[ServiceRow]


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def service_report(uow: UnitOfWork, start: dt.datetime, end: dt.datetime, by: By) -> ServiceReport:
    """Three grouped counts (responses, resolutions, surveys) per agent, folded into the
    rows asked for."""
    rows: dict[uuid.UUID | None, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    scores: dict[uuid.UUID | None, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for g in _groups(uow, "responded_at", start, end, "response"):
        agent, breached = g.key
        row = rows[agent]
        row["responded"] += g.count
        row["response_targets"] += 0 if breached is None else g.count
        row["response_met"] += g.count if breached is False else 0
        row["response_minutes"] += g.total or 0
    for g in _groups(uow, "resolved_at", start, end, "resolution"):
        agent, breached = g.key
        row = rows[agent]
        row["resolved"] += g.count
        row["resolution_targets"] += 0 if breached is None else g.count
        row["resolution_met"] += g.count if breached is False else 0
        row["resolution_minutes"] += g.total or 0
    surveyed = Query(filters=_within("surveyed_at", start, end))
    for g in uow.tx.group(Ticket, uow.scope, surveyed, ("assignee_id", "satisfaction")):
        agent, score = g.key
        if score is None:
            continue
        rows[agent]["surveyed"] += g.count
        rows[agent]["satisfaction_points"] += g.count * int(score)
        scores[agent][str(score)] += g.count
    folded = _fold(uow, rows, scores, by)
    return ServiceReport(start=start, end=end, by=by, rows=folded)


def _within(field: str, start: dt.datetime, end: dt.datetime) -> tuple[Filter, ...]:
    return (Filter(field, Op.GTE, start), Filter(field, Op.LT, end))


def _groups(
    uow: UnitOfWork, field: str, start: dt.datetime, end: dt.datetime, target: str
) -> Iterable[Group]:
    query = Query(filters=_within(field, start, end))
    by = ("assignee_id", f"{target}_breached")
    return uow.tx.group(Ticket, uow.scope, query, by, f"{target}_minutes")


def _fold(
    uow: UnitOfWork,
    rows: dict[uuid.UUID | None, dict[str, int]],
    scores: dict[uuid.UUID | None, dict[str, int]],
    by: By,
) -> list[ServiceRow]:
    if by == "agent":
        keyed = {agent: agent for agent in rows}
    elif by == "all":
        keyed = dict.fromkeys(rows)
    else:
        agents = frozenset(a for a in rows if a is not None)
        users = uow.tx.find(User, uow.everything, Query(ids=agents, deleted=None))
        teams = {u.id: u.department_id for u in users}
        keyed = {agent: teams.get(agent) if agent else None for agent in rows}
    totals: dict[uuid.UUID | None, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    points: dict[uuid.UUID | None, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for agent, row in rows.items():
        for name, value in row.items():
            totals[keyed[agent]][name] += value
        for score, count in scores[agent].items():
            points[keyed[agent]][score] += count
    return [
        ServiceRow(key=key, scores=dict(sorted(points[key].items())), **totals[key])
        for key in sorted(totals, key=lambda k: "" if k is None else str(k))
    ]
