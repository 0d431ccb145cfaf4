"""Service tickets (工单): opening them with SLA deadlines, and moving them through the
workflow.

Every move is decided by the ticket itself (:meth:`pycrm.Ticket.move_to` against
:data:`pycrm.core.tickets.NEXT_STATUSES`) before anything is written; then the ticket, a
:class:`pycrm.TicketMove` and the audit trail are written in one unit of work. A plain
``update`` may not change the status or the assignee, so the workflow cannot be bypassed;
changing the priority or type re-targets the deadlines from the ticket's opening.

The SLA clock (:mod:`pycrm.core.sla`) runs in business time on the policy's calendar from
the moment the ticket was opened; ``paused_minutes`` of waiting on the customer (and of
being resolved, for a reopened ticket) are added to every target, so a deadline moves by
exactly the business time the clock stood still.
"""

from __future__ import annotations

import builtins
import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Unpack

from pydantic import Field

from pycrm.core.access import Action
from pycrm.core.audit import ChangeAction
from pycrm.core.calendars import BusinessCalendar
from pycrm.core.customers import Customer
from pycrm.core.ids import new_id
from pycrm.core.orders import Order
from pycrm.core.sla import SlaTargets
from pycrm.core.tickets import Ticket, TicketMove, TicketStatus
from pycrm.errors import RuleViolation, ValidationError
from pycrm.schemas import LongText, TicketFields, Timestamp, checked_call
from pycrm.services.auditing import audited
from pycrm.services.base import RecordService, _as_id, _check_version
from pycrm.services.lookups import active_user
from pycrm.services.pools import assign_tickets
from pycrm.services.ticket_reports import By, ServiceReport, service_report
from pycrm.storage.base import Filter, Op, Query

if TYPE_CHECKING:
    from pycrm.services.unit_of_work import UnitOfWork

__all__ = ["TicketService"]

#: Fields only the workflow changes, and the call to use instead.
_GUARDED = {
    "status": "assign(), start(), wait(), resume(), resolve(), close() or reopen()",
    "assignee_id": "assign()",
}
_BY_TIME = (("at", False), ("id", False))


class TicketService(RecordService[Ticket]):
    """Service tickets: the workflow, SLA deadlines, the satisfaction survey."""

    entity = Ticket
    fields = TicketFields
    required = ("customer_id", "subject")

    def create(self, **fields: Unpack[TicketFields]) -> Ticket:
        """Open a ticket; see :class:`pycrm.schemas.TicketFields` for the fields.

        It starts ``new``, or ``assigned`` when ``assignee_id`` is given or an assignment
        rule for tickets matches it. Its deadlines come from the first SLA policy that
        covers its type, priority and customer level.
        """
        if fields.get("status", TicketStatus.NEW) != TicketStatus.NEW:
            raise _use_workflow(["status"])
        return self._create(fields)

    def update(
        self,
        record_id: uuid.UUID | str,
        *,
        version: int | None = None,
        **changes: Unpack[TicketFields],
    ) -> Ticket:
        """Change some fields; pass ``version`` to refuse if someone changed it since.

        The status and assignee change only through the workflow calls (RuleViolation
        otherwise). A new priority or type re-targets the deadlines, from the opening.
        """
        if guarded := sorted(set(changes) & set(_GUARDED)):
            raise _use_workflow(guarded)
        return self._update(record_id, version, changes)

    # -- opening ------------------------------------------------------------------------
    def _before_insert(self, uow: UnitOfWork, records: Sequence[Ticket]) -> None:
        levels = _levels(uow, records)
        for record in records:
            # A deadline given by hand stands unless a policy covers the ticket.
            _retarget(uow, record, levels.get(record.customer_id))
        assign_tickets(uow, [r for r in records if r.assignee_id is None])
        for record in records:
            if record.assignee_id is not None:
                record.status = TicketStatus.ASSIGNED

    def _after_insert(self, uow: UnitOfWork, records: Sequence[Ticket]) -> None:
        moves = []
        for record in records:
            moves.append(_opened(uow, record, TicketStatus.NEW, None))
            if record.status == TicketStatus.ASSIGNED:
                moves.append(_opened(uow, record, TicketStatus.ASSIGNED, TicketStatus.NEW))
        uow.tx.insert(moves)

    def _before_write(self, uow: UnitOfWork, record: Ticket, old: Ticket | None) -> None:
        if record.fee_line is not None and (old is None or old.fee_line != record.fee_line):
            _check_fee_line(uow, record)
        if old is None:
            return
        if (record.priority, record.type) != (old.priority, old.type):
            _retarget(uow, record, _levels(uow, [record]).get(record.customer_id))
        elif record.due_at != old.due_at and record.sla_policy is not None:
            raise RuleViolation(
                f"ticket {record.id}'s deadline comes from SLA policy {record.sla_policy!r}; "
                "change its priority or type instead",
                rule="ticket.sla_deadline",
            )

    # -- the workflow -------------------------------------------------------------------
    @checked_call
    def assign(
        self,
        record_id: uuid.UUID | str,
        *,
        to: uuid.UUID | str | None = None,
        version: int | None = None,
    ) -> Ticket:
        """Give a ticket to agent ``to``, or (without ``to``) to whom the tenant's first
        matching assignment rule for tickets says. A new ticket becomes ``assigned``; an
        open one changes hands and keeps its status (resolved and closed ones are
        reopened first). RuleViolation when no rule gives it to anyone. The assignee
        may see and work on the ticket whoever owns it."""

        def change(uow: UnitOfWork, record: Ticket) -> TicketMove:
            source = TicketStatus(record.status)
            if not record.open:
                allowed = ", ".join(s.value for s in record.allowed_moves())
                raise RuleViolation(
                    f"the ticket is {source.value}: reopen it before handing it over; "
                    f"it may move to: {allowed}",
                    rule="ticket.workflow",
                    params={"from": source.value, "to": "assigned", "allowed": allowed},
                )
            if to is not None:
                record.assignee_id = active_user(uow, _as_id(to))
            else:
                record.assignee_id = None
                assign_tickets(uow, [record])
                if record.assignee_id is None:
                    raise RuleViolation(
                        "no assignment rule for tickets matches this one: give it to an agent",
                        rule="ticket.no_assignee",
                    )
            if source == TicketStatus.NEW:
                return record.move_to(TicketStatus.ASSIGNED, at=uow.now(), by=uow.user)
            return _opened(uow, record, source, source)  # hands changed, status stays

        return self._transition(record_id, version, change)

    @checked_call
    def start(self, record_id: uuid.UUID | str, *, version: int | None = None) -> Ticket:
        """The assignee starts work: assigned → in progress."""
        return self._moved(record_id, version, TicketStatus.IN_PROGRESS, (TicketStatus.ASSIGNED,))

    @checked_call
    def respond(
        self,
        record_id: uuid.UUID | str,
        *,
        note: LongText | None = None,
        version: int | None = None,
    ) -> Ticket:
        """Record the first response to the customer (a call back, a reply): it meets or
        misses the first-response deadline. Later responses change nothing."""

        def change(uow: UnitOfWork, record: Ticket) -> TicketMove | None:
            source = TicketStatus(record.status)
            if source == TicketStatus.NEW:
                raise RuleViolation(
                    "assign a new ticket before responding to it", rule="ticket.workflow"
                )
            first = record.responded_at is None
            _responded(uow, record)
            # The response (and what was said) is kept with the moves, status unchanged.
            return _opened(uow, record, source, source) if first or note else None

        return self._transition(record_id, version, change, note=note)

    @checked_call
    def wait(
        self,
        record_id: uuid.UUID | str,
        *,
        note: LongText | None = None,
        version: int | None = None,
    ) -> Ticket:
        """Wait on the customer (in progress → waiting): the SLA clock stops."""

        def change(uow: UnitOfWork, record: Ticket) -> TicketMove:
            move = record.move_to(TicketStatus.WAITING, at=uow.now(), by=uow.user)
            record.waiting_since = uow.now()
            return move

        return self._transition(record_id, version, change, note=note)

    @checked_call
    def resume(self, record_id: uuid.UUID | str, *, version: int | None = None) -> Ticket:
        """The customer answered (waiting → in progress): the clock runs again and the
        running deadlines move on by the business time spent waiting."""

        def change(uow: UnitOfWork, record: Ticket) -> TicketMove:
            _only_from(record, TicketStatus.IN_PROGRESS, (TicketStatus.WAITING,))
            move = record.move_to(TicketStatus.IN_PROGRESS, at=uow.now(), by=uow.user)
            _unpause(uow, record)
            return move

        return self._transition(record_id, version, change)

    @checked_call
    def resolve(
        self,
        record_id: uuid.UUID | str,
        *,
        resolution: Annotated[str, Field(min_length=1, max_length=100_000)],
        version: int | None = None,
    ) -> Ticket:
        """Resolve the ticket with a resolution note (in progress or waiting → resolved);
        a resolution is a response too, if none was recorded."""

        def change(uow: UnitOfWork, record: Ticket) -> TicketMove:
            now = uow.now()
            move = record.move_to(TicketStatus.RESOLVED, at=now, by=uow.user)
            _unpause(uow, record)
            _responded(uow, record)
            record.resolution, record.resolved_at = resolution, now
            record.resolution_minutes = _worked(uow, record, now)
            if record.due_at is not None:
                record.resolution_breached = bool(record.resolution_breached) or now > record.due_at
            return move

        return self._transition(record_id, version, change, note=resolution)

    @checked_call
    def close(self, record_id: uuid.UUID | str, *, version: int | None = None) -> Ticket:
        """Close a resolved ticket (resolved → closed)."""

        def change(uow: UnitOfWork, record: Ticket) -> TicketMove:
            move = record.move_to(TicketStatus.CLOSED, at=uow.now(), by=uow.user)
            record.closed_at = uow.now()
            return move

        return self._transition(record_id, version, change)

    @checked_call
    def reopen(
        self,
        record_id: uuid.UUID | str,
        *,
        reason: LongText | None = None,
        version: int | None = None,
    ) -> Ticket:
        """Reopen a resolved or closed ticket (→ in progress), within the tenant's reopen
        window after it was resolved (``set_reopen_days``; RuleViolation
        ``ticket.reopen_window`` after it). The resolution clock goes on from where it
        stopped."""

        def change(uow: UnitOfWork, record: Ticket) -> TicketMove:
            _only_from(record, TicketStatus.IN_PROGRESS, _DONE)
            now, days = uow.now(), uow.config.service.reopen_days
            resolved = record.resolved_at or record.updated_at
            if days == 0 or now > resolved + dt.timedelta(days=days):
                raise RuleViolation(
                    f"ticket {record.id} was resolved on {resolved.date().isoformat()}: "
                    f"it may be reopened within {days} days of that; open a new ticket",
                    rule="ticket.reopen_window",
                    params={"days": str(days)},
                )
            move = record.move_to(TicketStatus.IN_PROGRESS, at=now, by=uow.user)
            record.resolved_at = record.closed_at = None
            record.resolution_minutes = record.resolution_breached = None
            record.waiting_since = resolved  # the clock stood still while it was resolved
            _unpause(uow, record)
            return move

        return self._transition(record_id, version, change, note=reason)

    @checked_call
    def survey(
        self,
        record_id: uuid.UUID | str,
        *,
        score: Annotated[int, Field(ge=1, le=5)],
        comment: LongText | None = None,
        version: int | None = None,
    ) -> Ticket:
        """Record the customer's satisfaction (回访) with a resolved or closed ticket:
        ``score`` from 1 to 5 and an optional comment."""

        def change(uow: UnitOfWork, record: Ticket) -> None:
            if record.open:
                raise RuleViolation(
                    f"ticket {record.id} is {record.status}: survey it once it is resolved",
                    rule="ticket.survey_open",
                )
            record.satisfaction, record.satisfaction_comment = score, comment
            record.surveyed_at = uow.now()

        return self._transition(record_id, version, change)

    @checked_call
    def moves(self, record_id: uuid.UUID | str) -> builtins.list[TicketMove]:
        """Every move of one ticket, oldest first (its opening first)."""
        rid = _as_id(record_id)
        with self._step(read_only=True) as uow:
            self._load(uow, rid, include_deleted=True)
            query = Query(filters=(Filter("ticket_id", Op.EQ, rid),), order=_BY_TIME)
            return uow.tx.find(TicketMove, uow.everything, query)  # of a visible ticket

    # -- reports ------------------------------------------------------------------------
    @checked_call
    def report(self, *, start: Timestamp, end: Timestamp, by: By = "agent") -> ServiceReport:
        """SLA attainment, business minutes to the first response and to the resolution,
        and satisfaction, for ``start`` ≤ time < ``end``, per ``"agent"`` (assignee),
        ``"team"`` (the assignee's department) or for ``"all"``; of the tickets the acting
        user may see, counted in the database. For the composition by type, channel and
        priority, use ``subtotals(["type", "channel", "priority"], where=...)``."""
        if end <= start:
            raise ValidationError.single("end", "must be after start")
        with self._step(read_only=True) as uow:
            return service_report(uow, start, end, by)

    # -- shared steps -------------------------------------------------------------------
    def _moved(
        self,
        record_id: uuid.UUID | str,
        version: int | None,
        to: TicketStatus,
        sources: tuple[TicketStatus, ...],
    ) -> Ticket:
        def change(uow: UnitOfWork, record: Ticket) -> TicketMove:
            _only_from(record, to, sources)
            return record.move_to(to, at=uow.now(), by=uow.user)

        return self._transition(record_id, version, change)

    def _transition(
        self,
        record_id: uuid.UUID | str,
        version: int | None,
        change: Callable[[UnitOfWork, Ticket], TicketMove | None],
        *,
        note: str | None = None,
    ) -> Ticket:
        with self._step() as uow:
            record = self._load(uow, _as_id(record_id), for_update=True)
            _check_version(record, version)
            uow.access.require(Ticket.kind, Action.EDIT, record)
            before = audited(record)
            move = change(uow, record)
            saved = self._save(uow, record, before, ChangeAction.UPDATE)
            if move is not None:
                move.note = note
                uow.tx.insert([move])
            return self._shown(uow, saved)


_DONE = (TicketStatus.RESOLVED, TicketStatus.CLOSED)


def _only_from(record: Ticket, to: TicketStatus, sources: tuple[TicketStatus, ...]) -> None:
    """Refuse a call from a status it does not move from, even where the workflow has
    the same target by another call (``start``, ``resume`` and ``reopen`` all lead to in
    progress: only ``reopen`` checks the window)."""
    if TicketStatus(record.status) not in sources:
        source = TicketStatus(record.status).value
        allowed = ", ".join(s.value for s in record.allowed_moves())
        raise RuleViolation(
            f"a {source} ticket cannot move to {to.value} this way; it may move to: {allowed}",
            rule="ticket.workflow",
            params={"from": source, "to": to.value, "allowed": allowed},
        )


def _check_fee_line(uow: UnitOfWork, record: Ticket) -> None:
    """The fee's order line exists (the order itself is checked as a reference)."""
    order = uow.tx.get(Order, uow.everything, record.order_id) if record.order_id else None
    if order is None or record.fee_line is None or record.fee_line > len(order.lines):
        lines = len(order.lines) if order is not None else 0
        raise ValidationError.single(
            "fee_line", f"order {record.order_id} has {lines} line(s); name one of them"
        )
    if order.customer_id != record.customer_id:
        raise ValidationError.single("order_id", "the fee goes on an order of the same customer")
    if record.fee is not None and record.fee.currency != order.currency:
        raise ValidationError.single(
            "fee", f"give the fee in the order's currency, {order.currency}"
        )


def _use_workflow(names: Sequence[str]) -> RuleViolation:
    use = ", ".join(f"{name}: use {_GUARDED[name]}" for name in names)
    return RuleViolation(
        f"{', '.join(names)} cannot be set by create() or update() ({use}), so the workflow "
        "always applies",
        rule="ticket.use_workflow",
    )


def _opened(
    uow: UnitOfWork, record: Ticket, to: TicketStatus, source: TicketStatus | None
) -> TicketMove:
    return TicketMove(
        id=new_id(),
        tenant=record.tenant,
        ticket_id=record.id,
        from_status=None if source is None else source.value,
        to_status=to.value,
        moved_by=uow.user,
        assignee_id=record.assignee_id,
        at=record.created_at if source is None else uow.now(),
    )


def _levels(uow: UnitOfWork, records: Sequence[Ticket]) -> dict[uuid.UUID, str | None]:
    """The level of each ticket's customer (SLA policies may depend on it)."""
    if not any(p.customer_levels for p in uow.config.service.policies):
        return {}
    ids = frozenset(r.customer_id for r in records)
    found = uow.tx.find(Customer, uow.everything, Query(ids=ids, deleted=None))
    return {c.id: c.level for c in found}


def _retarget(uow: UnitOfWork, record: Ticket, level: str | None) -> None:
    """Choose the ticket's policy and set its deadlines from its opening."""
    service = uow.config.service
    targets = service.targets(str(record.type), str(record.priority), level)
    if targets is None and record.sla_policy is not None and record.resolved_at is None:
        record.due_at = None  # the policy's deadline, not one given by hand
    record.sla_policy = targets.policy if targets else None
    _deadlines(record, targets)


def _deadlines(record: Ticket, targets: SlaTargets | None) -> None:
    """The running deadlines: each target plus the time the clock stood still, counted
    in business time from the opening; the warnings ``warn_before`` earlier."""
    if targets is None:
        record.respond_by = record.response_warn_at = record.resolution_warn_at = None
        return
    add, start, paused = targets.calendar.add, record.created_at, record.paused_minutes
    if record.responded_at is None:
        record.respond_by = add(start, targets.first_response + paused)
        warn = max(0, targets.first_response - targets.warn_before)
        record.response_warn_at = add(start, warn + paused)
    if record.resolved_at is None:
        record.due_at = add(start, targets.resolution + paused)
        warn = max(0, targets.resolution - targets.warn_before)
        record.resolution_warn_at = add(start, warn + paused)


def _unpause(uow: UnitOfWork, record: Ticket) -> None:
    """End a pause: each deadline (and warning) still ahead when it began is as far ahead
    now in business time, so the targets the ticket was given stand even if its policy
    changed meanwhile; one already passed stays passed."""
    since = record.waiting_since
    if since is None:
        return
    calendar = _calendar(uow, record)
    now = uow.now()
    record.paused_minutes += calendar.between(since, now)
    record.waiting_since = None
    running = ["due_at", "resolution_warn_at"] if record.resolved_at is None else []
    if record.responded_at is None:
        running += ["respond_by", "response_warn_at"]
    for name in running:
        deadline: dt.datetime | None = getattr(record, name)
        if deadline is not None and deadline > since:
            setattr(record, name, calendar.add(now, calendar.between(since, deadline)))


def _calendar(uow: UnitOfWork, record: Ticket) -> BusinessCalendar:
    """The calendar of the ticket's policy (the default one without a policy)."""
    targets = uow.config.service.policy(record.sla_policy)
    return targets.calendar if targets else uow.config.service.calendars["default"]


def _worked(uow: UnitOfWork, record: Ticket, until: dt.datetime) -> int:
    """Business minutes from the opening to ``until``, without the pauses."""
    calendar = _calendar(uow, record)
    return max(0, calendar.between(record.created_at, until) - record.paused_minutes)


def _responded(uow: UnitOfWork, record: Ticket) -> None:
    if record.responded_at is not None:
        return
    now = uow.now()
    record.responded_at = now
    # While the ticket waits its clock stands at the start of the wait.
    clock = min(now, record.waiting_since) if record.waiting_since else now
    record.response_minutes = _worked(uow, record, clock)
    if record.respond_by is not None:
        late = clock > record.respond_by
        record.response_breached = bool(record.response_breached) or late
    record.response_warn_at = None
