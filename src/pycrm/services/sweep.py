"""One sweep for everything time-based: :meth:`pycrm.CRM.sweep`.

A sweep runs every :class:`SweepRule` the plugins register (``pycrm_register_sweep_rules``;
the built-in ones are in :mod:`pycrm.plugins.default_sweep`) for one tenant at one time,
in one unit of work, as :data:`pycrm.SYSTEM_USER`, each rule in a savepoint of its own. A
rule that fails is logged and reported in :attr:`SweepRun.failed`, its writes and events
undone; the others' still commit.

Nothing is raised twice. A rule records each thing it raises as an :class:`pycrm.Alert`,
unique per rule, record and occasion in storage, and raises only what has no alert yet
(:func:`raise_alerts`); and the sweep's unit of work first takes the tenant's sweep
counter, which holds a second sweep of the same tenant at that point until the first
commits (a row lock on PostgreSQL; SQLite and the memory backend have one writer at a
time anyway). So two sweeps at once, in threads or processes, raise each alert once, and
running a sweep again at the same time raises nothing new.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from pycrm.core.alerts import Alert
from pycrm.core.events import AlertRaised
from pycrm.core.ids import new_id
from pycrm.core.records import SYSTEM_USER
from pycrm.core.snapshot import plain
from pycrm.services.batching import chunks
from pycrm.storage.base import Filter, Op, Query
from pycrm.storage.capabilities.configuration import numbering

if TYPE_CHECKING:
    from pycrm.crm import CRM
    from pycrm.services.unit_of_work import UnitOfWork

__all__ = ["SweepRule", "SweepRun", "fresh_alerts", "new_alert", "raise_alerts", "sweep"]

logger = logging.getLogger("pycrm")


@runtime_checkable
class SweepRule(Protocol):
    """A time-based rule the sweep runs: ``key`` names it (``"activity.reminder"``);
    ``run`` raises what is due at ``now`` in ``uow`` and returns how many it raised.

    A rule raises through :func:`raise_alerts` (or keeps a unique key of its own), so that
    running it again at the same time raises nothing new.
    """

    key: str

    def run(self, uow: UnitOfWork, now: dt.datetime) -> int:
        """Raise what is due at ``now``; how many."""
        ...


class SweepRun(BaseModel):
    """What one sweep of one tenant did: how many each rule raised, and the rules that
    failed with their error."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    tenant: str
    at: dt.datetime
    raised: dict[str, int]
    failed: dict[str, str]

    @property
    def ok(self) -> bool:
        """Whether every rule ran."""
        return not self.failed


def sweep(crm: CRM, tenant: str, now: dt.datetime) -> SweepRun:
    """Run every sweep rule for ``tenant`` at ``now`` in one unit of work, each rule in a
    savepoint of its own."""
    raised: dict[str, int] = {}
    failed: dict[str, str] = {}
    with crm.unit_of_work(tenant=tenant, user=SYSTEM_USER) as uow:
        uow._at = now  # what it raises and writes is as of the sweep's time
        _take_turn(uow)
        for rule in crm.sweep_rules:
            try:
                with uow.step():
                    raised[rule.key] = rule.run(uow, now)
            except Exception as error:  # one rule's failure must not stop the others
                logger.exception("sweep rule %r failed for tenant %r", rule.key, tenant)
                failed[rule.key] = f"{type(error).__name__}: {error}"
    return SweepRun(tenant=tenant, at=now, raised=raised, failed=failed)


def _take_turn(uow: UnitOfWork) -> None:
    """Hold the tenant's sweep counter until the unit of work ends: a second sweep of the
    tenant waits here for the first to commit, then sees its alerts."""
    counter = numbering(uow.tx)
    if counter is not None:
        counter.next_numbers(uow.tenant, "sweep", "", 1)


def new_alert(
    uow: UnitOfWork,
    rule: str,
    subject: Any,
    occasion: str,
    recipient: uuid.UUID | None,
    *,
    kind: str | None = None,
    details: dict[str, object] | None = None,
    moment: dt.datetime | None = None,
) -> Alert:
    """A new alert of ``rule`` about ``subject`` (a record, or an id with ``kind``);
    ``moment`` is the time its occasion is about, when it has one."""
    return Alert(
        id=new_id(),
        tenant=uow.tenant,
        rule=rule,
        subject_kind=kind or subject.kind,
        subject=subject if isinstance(subject, uuid.UUID) else subject.id,
        occasion=occasion,
        recipient=recipient,
        at=uow.now(),
        details={k: plain(v) for k, v in details.items()} if details else None,
        moment=moment,
    )


def fresh_alerts(uow: UnitOfWork, candidates: Sequence[Alert]) -> list[Alert]:
    """The candidates that were never raised (none of the same rule, subject and
    occasion is stored), without duplicates among themselves."""
    seen: set[tuple[str, uuid.UUID, str]] = set()
    by_rule: dict[str, list[Alert]] = {}
    for candidate in candidates:
        by_rule.setdefault(candidate.rule, []).append(candidate)
    for rule, group in by_rule.items():
        for chunk in chunks(sorted({a.subject for a in group}), 500):
            query = Query(
                filters=(Filter("rule", Op.EQ, rule), Filter("subject", Op.IN, frozenset(chunk)))
            )
            for stored in uow.tx.find(Alert, uow.everything, query):
                seen.add((stored.rule, stored.subject, stored.occasion))
    found = []
    for candidate in candidates:
        key = (candidate.rule, candidate.subject, candidate.occasion)
        if key not in seen:
            seen.add(key)
            found.append(candidate)
    return found


def raise_alerts(uow: UnitOfWork, alerts: Sequence[Alert]) -> list[Alert]:
    """Store the alerts not raised before and emit :class:`pycrm.AlertRaised` for each;
    the ones stored. Set ``task`` on an alert before to link the to-do it created."""
    if alerts:
        uow.tx.insert(list(alerts))
    if uow.wants_events:
        for item in alerts:
            uow.emit(_event(uow, item))
    return list(alerts)


def _event(uow: UnitOfWork, item: Alert) -> AlertRaised:
    return AlertRaised(
        name=item.rule,
        entity=item.subject_kind,
        record_id=item.subject,
        tenant=uow.tenant,
        user_id=uow.user,
        at=item.at,
        data={
            "occasion": item.occasion,
            "recipient": plain(item.recipient),
            "task": plain(item.task),
            **(item.details or {}),
        },
    )
