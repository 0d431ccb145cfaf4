"""``uow.pools``: the public customer pool (客户公海) — claim, release, assign, recycle.

Pools and their rules are tenant configuration (``uow.configuration.set_pool``). A customer
in a pool has no owner; the pool's members see it and may claim it. Every move updates
the customer (audited, ``customer.updated``), adds a :class:`pycrm.PoolMove` and emits a
``pool.<move>`` event; recycling moves many customers in the database at once and records
each in the pool's moves.

Concurrency: a claim reads the customer locked (``SELECT … FOR UPDATE`` on PostgreSQL;
SQLite's writers take turns), so of two reps claiming one customer at once exactly one
gets it and the other a :class:`pycrm.ConflictError`; a rep's claims are serialised on
their user row, so caps hold when one rep claims from two places at once.
"""

from __future__ import annotations

import builtins
import datetime as dt
import uuid
import zoneinfo
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from pydantic import BaseModel, ConfigDict

from pycrm.core.access import Action
from pycrm.core.audit import ChangeAction
from pycrm.core.customers import Customer
from pycrm.core.events import PoolMoved
from pycrm.core.ids import new_id
from pycrm.core.org import Department, User
from pycrm.core.pools import Pool, PoolMove, PoolMoveAction
from pycrm.core.records import SYSTEM_USER
from pycrm.core.tickets import Ticket
from pycrm.errors import ConflictError, NotFound, PermissionDenied, RuleViolation, ValidationError
from pycrm.schemas import checked_call
from pycrm.services.auditing import audited
from pycrm.services.base import _as_id, _check_version
from pycrm.services.reports.pipeline import _range
from pycrm.storage.base import Filter, Op, Query
from pycrm.storage.capabilities import each
from pycrm.storage.capabilities.configuration import numbering
from pycrm.storage.capabilities.pools import DueRule, RecyclePlan, pool_recycling

if TYPE_CHECKING:
    from pycrm.services.unit_of_work import Step, UnitOfWork

__all__ = ["PoolReport", "PoolService", "RecycleRun"]

#: Reminders handed out per run and pool at most (the rest come with the next run).
REMINDERS_PER_RUN = 10_000

_FROZEN = ConfigDict(frozen=True)


class RecycleRun(BaseModel):
    """What one :meth:`PoolService.recycle` run did: customers moved back to each pool,
    and owners reminded."""

    model_config = _FROZEN

    at: dt.datetime
    recycled: dict[str, int]
    reminded: int


class PoolSize(BaseModel):
    """One pool now: how many customers are in it, how many by days in the pool
    (``{"0-7": …, "8-30": …, "31-90": …, "91+": …}``), and the most days one has been
    there."""

    model_config = _FROZEN

    pool: str
    customers: int
    by_age: dict[str, int]
    oldest_days: int | None


class PoolReport(BaseModel):
    """Pools now, and the moves of ``period``: claims, assignments, releases and recycles
    per rep (the rep who got or lost the customers)."""

    model_config = _FROZEN

    at: dt.datetime
    period: tuple[dt.date, dt.date] | None
    pools: list[PoolSize]
    moves: dict[str, dict[uuid.UUID, int]]


class PoolService:
    """``uow.pools`` and ``crm.as_user(...).pools``: see the module doc."""

    def __init__(self, step: Step) -> None:
        self._step = step

    # -- moves --------------------------------------------------------------------------
    @checked_call
    def claim(self, customer_id: uuid.UUID | str, *, version: int | None = None) -> Customer:
        """The acting rep takes a customer out of a pool they are a member of. Refused
        with a RuleViolation past the pool's caps or within its cooldown, with a
        ConflictError when someone else claimed it first."""
        with self._step() as uow:
            rep = _acting_rep(uow, "claim")
            customer = _locked(uow, _as_id(customer_id))
            _check_version(customer, version)
            pool = _pool_of(uow, customer)
            if pool.key not in uow.access.member_pools():
                raise PermissionDenied(
                    f"user {rep} is not a member of pool {pool.key!r} and cannot claim from it"
                )
            _check_caps(uow, pool, rep, customer, claims=True)
            _check_cooldown(uow, pool, rep, customer)
            return _move(uow, customer, PoolMoveAction.CLAIM, pool.key, owner=rep)

    @checked_call
    def assign(
        self,
        customer_id: uuid.UUID | str,
        *,
        to: uuid.UUID | str,
        override_caps: bool = False,
        version: int | None = None,
    ) -> Customer:
        """A manager gives a customer from a pool to a rep. Takes the ``assign`` right on
        ``pool`` reaching the rep; the pool's caps hold unless ``override_caps`` (which
        takes the ``override_caps`` right on ``pool``)."""
        rep = _as_id(to)
        with self._step() as uow:
            customer = _locked(uow, _as_id(customer_id))
            _check_version(customer, version)
            pool = _pool_of(uow, customer)
            target = uow.tx.get(User, uow.everything, rep)
            if target is None or target.deleted or not target.active:
                raise ValidationError.single("to", f"no active user {rep} in this tenant")
            _require_pool_right(uow, "assign", rep)
            if override_caps:
                _require_pool_right(uow, "override_caps", rep)
            else:
                _check_caps(uow, pool, rep, customer, claims=False)
            return _move(uow, customer, PoolMoveAction.ASSIGN, pool.key, owner=rep)

    @checked_call
    def release(
        self,
        customer_id: uuid.UUID | str,
        *,
        reason: str,
        pool: str | None = None,
        version: int | None = None,
    ) -> Customer:
        """Its owner (or whoever may transfer it) puts a customer into a pool, saying
        why: ``pool``, else the pool the owner's department returns customers to."""
        if not isinstance(reason, str) or not reason.strip() or len(reason) > 500:
            raise ValidationError.single("reason", "say why (1 to 500 characters)")
        with self._step() as uow:
            customer = uow.customers._load(uow, _as_id(customer_id), for_update=True)
            _check_version(customer, version)
            if customer.pool is not None or customer.owner_id is None:
                raise ConflictError(f"customer {customer.id} is already in pool {customer.pool!r}")
            uow.access.require("customer", Action.TRANSFER, customer)
            target = _release_pool(uow, customer.owner_id, pool)
            return _move(uow, customer, PoolMoveAction.RELEASE, target, owner=None, reason=reason)

    # -- the rules ----------------------------------------------------------------------
    @checked_call
    def recycle(self, *, now: dt.datetime | None = None) -> RecycleRun:
        """Run every pool's recycle rules (at ``now``, default the clock's): due customers
        return to their pool, in the database, and owners of customers due within a
        pool's ``remind_days_before`` get one reminder each (``pool.reminder``). Runs as
        :data:`pycrm.SYSTEM_USER`'s work whoever calls it, so only a user who may change
        the configuration (or a job) runs it. Running it again changes nothing; two runs
        at once take turns."""
        with self._step() as uow:
            if uow.access.user is not None:
                _require_pool_right(uow, "recycle", None)
            at = now if now is not None else uow.now()
            if at.tzinfo is None:
                raise ValidationError.single("now", "give a timezone-aware time")
            recycled, reminded = {}, 0
            config = uow.config
            for pool in config.pools.values():
                plan = _plan(uow, pool, config.pools, at)
                if plan is None:
                    continue
                moved = pool_recycling(uow.tx).recycle_customers(uow.tenant, plan)
                recycled[pool.key] = moved
                if moved and uow.wants_events:
                    _recycled_events(uow, pool.key, at)
                if pool.remind_days_before:
                    reminded += _remind(uow, plan, pool.remind_days_before)
            return RecycleRun(at=at, recycled=recycled, reminded=reminded)

    # -- reading ------------------------------------------------------------------------
    @checked_call
    def moves(self, customer_id: uuid.UUID | str) -> builtins.list[PoolMove]:
        """Every pool move of a customer the acting user may see, oldest first."""
        with self._step(read_only=True) as uow:
            customer = uow.customers._load(uow, _as_id(customer_id), include_deleted=True)
            query = Query(filters=(Filter("customer_id", Op.EQ, customer.id),))
            found = uow.tx.find(PoolMove, uow.everything, query)
        return sorted(found, key=lambda m: (m.at, m.id))

    @checked_call
    def report(self, *, period: tuple[dt.date, dt.date] | None = None) -> PoolReport:
        """Each pool's size and age now, and per rep the moves of ``period`` (whole days
        in UTC, as every report counts them; all time if None): counted in the database."""
        with self._step(read_only=True) as uow:
            now = uow.now()
            sizes = []
            for key in uow.config.pools:
                query = Query(filters=(Filter("pool", Op.EQ, key),))
                count = uow.tx.count(Customer, uow.scope, query)
                bands, oldest = _ages(uow, key, now)
                sizes.append(PoolSize(pool=key, customers=count, by_age=bands, oldest_days=oldest))
            filters = _range("at", period)  # whole days in UTC, as every report counts
            groups = uow.tx.group(
                PoolMove, uow.everything, Query(filters=tuple(filters)), ("action", "owner_id")
            )
        moves: dict[str, dict[uuid.UUID, int]] = {}
        for group in groups:
            action, owner = group.key
            if owner is not None:
                moves.setdefault(str(action), {})[owner] = group.count
        return PoolReport(at=now, period=period, pools=sizes, moves=moves)


# -- assignment of new records ------------------------------------------------------------
def assign_new(uow: UnitOfWork, entity: str, records: Sequence[Any]) -> None:
    """Give new records a job creates for nobody (owned by :data:`pycrm.SYSTEM_USER`) to
    whom the tenant's first matching assignment rule says; the others stay as they are."""
    rules = uow.config.assignment.get(entity)
    if not rules:
        return
    waiting: dict[int, list[Any]] = {}
    for record in records:
        if record.owner_id != SYSTEM_USER:
            continue
        for position, rule in enumerate(rules):
            if rule.matches(record):
                waiting.setdefault(position, []).append(record)
                break
    for position, batch in waiting.items():
        rule = rules[position]
        if rule.user is not None:
            for record in batch:
                record.owner_id = rule.user
        elif rule.pool is not None:
            for record in batch:
                record.owner_id, record.pool = None, rule.pool
        elif rule.department is not None:
            _round_robin(uow, rule.department, batch)


def assign_tickets(uow: UnitOfWork, tickets: Sequence[Ticket]) -> None:
    """Give each ticket without an assignee to the agent the tenant's first matching
    assignment rule for tickets names; tickets no rule matches stay unassigned."""
    rules = uow.config.assignment.get("ticket")
    if not rules or not tickets:
        return
    waiting: dict[int, list[Ticket]] = {}
    for ticket in tickets:
        position = next((i for i, rule in enumerate(rules) if rule.matches(ticket)), None)
        if position is not None:
            waiting.setdefault(position, []).append(ticket)
    for position, batch in waiting.items():
        rule = rules[position]
        if rule.user is not None:
            for ticket in batch:
                ticket.assignee_id = rule.user
        elif rule.department is not None:
            _round_robin(uow, rule.department, batch, field="assignee_id")
        elif rule.customer_owner:
            owners = _active_owners(uow, frozenset(t.customer_id for t in batch))
            for ticket in batch:
                ticket.assignee_id = owners.get(ticket.customer_id)


def _active_owners(uow: UnitOfWork, customers: frozenset[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    """Each customer's owner, where the owner is an active user (not a job, not gone)."""
    found = uow.tx.find(Customer, uow.everything, Query(ids=customers, deleted=None))
    owners = {c.id: c.owner_id for c in found if c.owner_id is not None}
    query = Query(ids=frozenset(owners.values()), filters=(Filter("active", Op.EQ, True),))
    active = {u.id for u in uow.tx.find(User, uow.everything, query)}
    return {customer: owner for customer, owner in owners.items() if owner in active}


def _round_robin(
    uow: UnitOfWork, department: uuid.UUID, records: list[Any], *, field: str = "owner_id"
) -> None:
    """Deal ``records`` to the department's active users in turn, carrying on where the
    last batch stopped (a gap-free counter per department, where the storage keeps one)."""
    query = Query(
        filters=(Filter("department_id", Op.EQ, department), Filter("active", Op.EQ, True)),
        order=(("id", False),),
    )
    team = [user.id for user in uow.tx.find(User, uow.everything, query)]
    if not team:
        raise RuleViolation(
            f"assignment rule: department {department} has no active user to take new records",
            rule="assignment.empty_team",
        )
    counter = numbering(uow.tx)
    last = (
        counter.next_numbers(uow.tenant, f"assign:{department}", "", len(records))
        if counter is not None
        else len(records)
    )
    first = last - len(records)
    for offset, record in enumerate(records):
        setattr(record, field, team[(first + offset) % len(team)])


# -- moving -----------------------------------------------------------------------------
def _acting_rep(uow: UnitOfWork, what: str) -> uuid.UUID:
    if uow.user == SYSTEM_USER:
        raise ValidationError.single("user", f"{what} acts for a user: not pycrm.SYSTEM_USER")
    # Serialise this rep's claims (row lock on PostgreSQL), so caps hold across sessions.
    uow.tx.find(User, uow.everything, Query(ids=frozenset([uow.user]), lock=True))
    return uow.user


def _locked(uow: UnitOfWork, customer_id: uuid.UUID) -> Customer:
    found = uow.tx.find(
        Customer, uow.everything, Query(ids=frozenset([customer_id]), deleted=None, lock=True)
    )
    if not found or found[0].deleted:
        raise NotFound("customer", customer_id)
    customer = cast(Customer, uow.customers._typed(uow, found[0]))
    if customer.pool is None:
        # Taken out of a pool (the race lost): say so; never in one and not visible:
        # the acting user learns nothing about it.
        taken = Query(
            filters=(
                Filter("customer_id", Op.EQ, customer_id),
                Filter("action", Op.IN, (PoolMoveAction.CLAIM.value, PoolMoveAction.ASSIGN.value)),
            )
        )
        seen = uow.tx.count(Customer, uow.scope, Query(ids=frozenset([customer_id])))
        if not seen and not uow.tx.count(PoolMove, uow.everything, taken):
            raise NotFound("customer", customer_id)
        raise ConflictError(
            f"customer {customer_id} is not in a pool any more: it was claimed or assigned first"
        )
    return customer


def _pool_of(uow: UnitOfWork, customer: Customer) -> Pool:
    pool = uow.config.pools.get(customer.pool or "")
    if pool is None:
        raise ValidationError.single("pool", f"pool {customer.pool!r} is not configured")
    return pool


def _move(
    uow: UnitOfWork,
    customer: Customer,
    action: PoolMoveAction,
    pool: str,
    *,
    owner: uuid.UUID | None,
    reason: str | None = None,
) -> Customer:
    former = customer.owner_id
    before = audited(customer)
    now = uow.now()
    customer.owner_id, customer.pool = owner, (None if owner is not None else pool)
    customer.owned_since = now  # in the new owner's hands, or the pool's, from now
    saved = uow.customers._save(uow, customer, before, ChangeAction.UPDATE)
    subject = owner if owner is not None else former
    move = PoolMove(
        id=new_id(), tenant=uow.tenant, customer_id=customer.id, pool=pool, action=action,
        owner_id=subject, acted_by=uow.user, at=now, reason=reason,
    )  # fmt: skip
    uow.tx.insert([move])
    if uow.wants_events:
        uow.emit(_event(uow, move))
    return uow.customers._shown(uow, saved)


def _event(uow: UnitOfWork, move: PoolMove) -> PoolMoved:
    names = {
        PoolMoveAction.CLAIM: "pool.claimed",
        PoolMoveAction.ASSIGN: "pool.assigned",
        PoolMoveAction.RELEASE: "pool.released",
        PoolMoveAction.RECYCLE: "pool.recycled",
        PoolMoveAction.REMIND: "pool.reminder",
    }
    # JSON-ready, as every event's data (events are written to the outbox as JSON).
    owner = None if move.owner_id is None else str(move.owner_id)
    data: dict[str, Any] = {"pool": move.pool, "owner_id": owner, "reason": move.reason}
    if move.due_on is not None:
        data["due_on"] = move.due_on.isoformat()
    return PoolMoved(
        name=names[move.action], record_id=move.customer_id, tenant=uow.tenant,
        user_id=move.acted_by, at=move.at, data=data,
    )  # fmt: skip


# -- rules of a claim ---------------------------------------------------------------------
def _check_caps(
    uow: UnitOfWork, pool: Pool, rep: uuid.UUID, customer: Customer, *, claims: bool
) -> None:
    mine = Filter("owner_id", Op.EQ, rep)
    if pool.max_customers is not None:
        held = uow.tx.count(Customer, uow.everything, Query(filters=(mine,)))
        if held >= pool.max_customers:
            raise _violation(
                "pool.cap", f"user {rep} holds {held} customers, the most pool {pool.key!r} allows"
            )
    level_cap = dict(pool.max_per_level).get(customer.level or "")
    if level_cap is not None:
        same = Filter("level", Op.EQ, customer.level)
        held = uow.tx.count(Customer, uow.everything, Query(filters=(mine, same)))
        if held >= level_cap:
            raise _violation(
                "pool.level_cap",
                f"user {rep} holds {held} customers of level {customer.level!r}, the most "
                f"pool {pool.key!r} allows",
            )
    if claims and pool.max_claims_per_day is not None:
        since = _start_of_day(uow)
        query = Query(
            filters=(
                Filter("owner_id", Op.EQ, rep),
                Filter("action", Op.EQ, PoolMoveAction.CLAIM.value),
                Filter("at", Op.GTE, since),
            )
        )
        made = uow.tx.count(PoolMove, uow.everything, query)
        if made >= pool.max_claims_per_day:
            raise _violation(
                "pool.claims_per_day",
                f"user {rep} made {made} claims today, the most pool {pool.key!r} allows",
            )


def _check_cooldown(uow: UnitOfWork, pool: Pool, rep: uuid.UUID, customer: Customer) -> None:
    if not pool.cooldown_days:
        return
    since = uow.now() - dt.timedelta(days=pool.cooldown_days)
    query = Query(
        filters=(
            Filter("customer_id", Op.EQ, customer.id),
            Filter("owner_id", Op.EQ, rep),
            Filter("action", Op.IN, (PoolMoveAction.RELEASE.value, PoolMoveAction.RECYCLE.value)),
            Filter("at", Op.GT, since),
        ),
        order=(("at", True),),
        limit=1,
    )
    last = uow.tx.find(PoolMove, uow.everything, query)
    if last:
        until = last[0].at + dt.timedelta(days=pool.cooldown_days)
        raise _violation(
            "pool.cooldown",
            f"user {rep} had customer {customer.id} until {last[0].at:%Y-%m-%d}: they may claim "
            f"it again from {until:%Y-%m-%d %H:%M} UTC",
        )


def _violation(rule: str, text: str) -> RuleViolation:
    return RuleViolation(text, rule=rule)


def _start_of_day(uow: UnitOfWork) -> dt.datetime:
    zone = zoneinfo.ZoneInfo(uow.config.time_zone)
    return dt.datetime.combine(uow.today(), dt.time(), zone)


def _require_pool_right(uow: UnitOfWork, action: str, rep: uuid.UUID | None) -> None:
    """The acting user holds ``action`` on ``pool``, reaching ``rep`` when one is given
    (the grant's data scope covers records the rep would own)."""
    scopes = uow.access.scopes("pool", action)
    if not scopes:
        raise PermissionDenied(f"user {uow.user} may not {action} customers of a public pool")
    if rep is not None and not uow.access.reaches("pool", action, rep):
        raise PermissionDenied(
            f"user {uow.user} may not {action} customers to user {rep}, who is beyond their reach"
        )


def _release_pool(uow: UnitOfWork, owner: uuid.UUID, named: str | None) -> str:
    pools = uow.config.pools
    if named is not None:
        if named not in pools:
            raise ValidationError.single("pool", f"no pool {named!r}; pools: {sorted(pools)}")
        return named
    path = _department_path(uow, owner)
    for pool in pools.values():
        if pool.owners_from and any(str(d) in path for d in pool.owners_from):
            return pool.key
    for pool in pools.values():
        if not pool.owners_from:
            return pool.key
    raise ValidationError.single("pool", "name the pool: no pool takes this owner's customers")


def _department_path(uow: UnitOfWork, user: uuid.UUID) -> str:
    found = uow.tx.get(User, uow.everything, user)
    if found is None or found.department_id is None:
        return ""
    department = uow.tx.get(Department, uow.everything, found.department_id)
    return (department.path or "") if department is not None else ""


# -- recycling --------------------------------------------------------------------------
def _plan(uow: UnitOfWork, pool: Pool, pools: Any, at: dt.datetime) -> RecyclePlan | None:
    if not pool.recycle:
        return None
    include = _paths(uow, pool.owners_from)
    exclude: tuple[str, ...] = ()
    if not pool.owners_from:
        # The catch-all pool leaves the owners of the other pools' departments to them.
        others = [d for p in pools.values() if p.key != pool.key for d in p.owners_from]
        exclude = _paths(uow, tuple(others))
    elif not include:
        return None  # its departments are gone: nobody's customers return to it

    def cutoff(days: int) -> dt.datetime | None:
        return at - dt.timedelta(days=days) if days else None

    rules = tuple(
        DueRule(r.reason, cutoff(r.days), tuple((lv, cutoff(n)) for lv, n in r.levels))
        for r in pool.recycle
    )
    return RecyclePlan(
        pool=pool.key, include=include, exclude=exclude, rules=rules,
        exempt_open_orders=pool.exempt_open_orders, now=at, actor=SYSTEM_USER,
        exempt_hot=pool.exempt_hot,
    )  # fmt: skip


def _paths(uow: UnitOfWork, departments: tuple[uuid.UUID, ...]) -> tuple[str, ...]:
    if not departments:
        return ()
    query = Query(ids=frozenset(departments))
    return tuple(sorted(d.path or "" for d in uow.tx.find(Department, uow.everything, query)))


def _recycled_events(uow: UnitOfWork, pool: str, at: dt.datetime) -> None:
    query = Query(
        filters=(
            Filter("pool", Op.EQ, pool),
            Filter("action", Op.EQ, PoolMoveAction.RECYCLE.value),
            Filter("at", Op.EQ, at),
        ),
        order=(("id", False),),
    )
    for move in each(uow.tx, PoolMove, uow.everything, query):
        uow.emit(_event(uow, move))


def _remind(uow: UnitOfWork, plan: RecyclePlan, days: int) -> int:
    """One reminder per customer and owner for what will be due within ``days`` days
    (the customers due now were recycled just before)."""
    due = pool_recycling(uow.tx).due_customers(uow.tenant, plan.shifted(days), REMINDERS_PER_RUN)
    if not due:
        return 0
    ids = frozenset(customer for customer, _ in due)
    held = {c.id: c.owned_since or c.created_at for c in uow.tx.find(
        Customer, uow.everything, Query(ids=ids, deleted=None)
    )}  # fmt: skip
    due_on = (plan.now + dt.timedelta(days=days)).date()
    window = plan.now - dt.timedelta(days=days)
    moves = [
        PoolMove(
            id=new_id(),
            tenant=uow.tenant,
            customer_id=customer,
            pool=plan.pool,
            action=PoolMoveAction.REMIND,
            owner_id=owner,
            acted_by=plan.actor,
            at=plan.now,
            due_on=due_on,
        )
        for customer, owner in due
        if not _reminded_since(uow, customer, owner, max(held[customer], window))
    ]
    if moves:
        uow.tx.insert(moves)
        if uow.wants_events:
            for move in moves:
                uow.emit(_event(uow, move))
    return len(moves)


def _reminded_since(
    uow: UnitOfWork, customer: uuid.UUID, owner: uuid.UUID, since: dt.datetime
) -> bool:
    """Whether the owner was reminded of the customer since ``since``: since they got
    it, and within the reminder's window (a follow-up restarts the clock, and the next
    time the customer comes due they are reminded again)."""
    query = Query(
        filters=(
            Filter("customer_id", Op.EQ, customer),
            Filter("owner_id", Op.EQ, owner),
            Filter("action", Op.EQ, PoolMoveAction.REMIND.value),
            Filter("at", Op.GTE, since),
        )
    )
    return bool(uow.tx.count(PoolMove, uow.everything, query))


#: Age bands of the pool report: days in the pool, from and to (inclusive; None: no end).
AGE_BANDS: tuple[tuple[int, int | None], ...] = ((0, 7), (8, 30), (31, 90), (91, None))


def _ages(uow: UnitOfWork, pool: str, now: dt.datetime) -> tuple[dict[str, int], int | None]:
    """How many customers of ``pool`` have been in it for each age band, and the days of
    the one there longest: counted in the database."""
    base = Filter("pool", Op.EQ, pool)
    bands = {}
    for low, high in AGE_BANDS:
        filters = [base, Filter("owned_since", Op.LTE, now - dt.timedelta(days=low))]
        if high is not None:
            filters.append(Filter("owned_since", Op.GT, now - dt.timedelta(days=high + 1)))
        name = f"{low}-{high}" if high is not None else f"{low}+"
        bands[name] = uow.tx.count(Customer, uow.scope, Query(filters=tuple(filters)))
    query = Query(filters=(base,), order=(("owned_since", False),), limit=1)
    oldest = uow.tx.find(Customer, uow.scope, query)
    since = oldest[0].owned_since if oldest else None
    return bands, (now - since).days if since is not None else None
