"""What the acting user may see and do, as query conditions (resolved once per unit of work,
and kept between units of work while the tenant's organisation stays as it was).

:class:`Access` turns the user's roles, their own exceptions, explicit shares, sharing
rules and plugins' narrowing into one :class:`pycrm.storage.base.Condition` per kind and
action. Reads put the ``view`` conditions into the unit of work's :class:`Scope`, so the
database never returns what the user may not see (``get`` of such a record is
``NotFound``); writes check the action's condition on the record with one query and raise
:class:`PermissionDenied` naming the action and why.

Whose records a grant reaches is decided by the record's *owner* (``owner_id``) for
customers, leads, deals, orders, tickets and activities; contacts follow their customer,
payment plans their order, payments their plan (the parent's condition for the same
action); users, departments and products are the organisation and the catalogue.

What resolving costs queries — the user, their department, the users their scopes reach,
the shares opened to them — is kept per CRM, tenant and user in :class:`Facts` and reused
by later units of work as long as the tenant's organisation version
(:mod:`pycrm.storage.capabilities.organisation`) is the one it was read at: every write of
a user, a department or a share raises it, in any process, so a change is seen by the next
unit of work everywhere. Shares with an expiry are read again once the first expires.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import attrs

from pycrm.core.access import (
    Action,
    DataScope,
    FieldAccess,
    Grant,
    Placeholder,
    RoleDefinition,
    Share,
    ShareAccess,
    SharingRule,
)
from pycrm.core.kinds import kind_of
from pycrm.core.org import Department, User
from pycrm.core.records import SYSTEM_USER
from pycrm.errors import PermissionDenied
from pycrm.storage.base import (
    NOTHING,
    AllOf,
    AnyOf,
    Condition,
    Filter,
    Op,
    Query,
    Related,
    Scope,
)
from pycrm.storage.matching import matches

if TYPE_CHECKING:
    from pycrm.crm import CRM
    from pycrm.services.unit_of_work import UnitOfWork

__all__ = ["CHILDREN", "OWNED", "Access"]

#: What the assignee of a ticket may do with it besides what their grants reach.
_WORKED_ON = frozenset({Action.VIEW, Action.EDIT, Action.EXPORT})

#: Kinds whose records are reached through their owner.
OWNED = frozenset({"customer", "lead", "opportunity", "order", "ticket", "activity"})
#: Kinds that follow a parent record: (field naming the parent, the parent's kind).
CHILDREN: Mapping[str, tuple[str, str]] = {
    "contact": ("customer_id", "customer"),
    "payment_plan": ("order_id", "order"),
    "payment": ("plan_id", "payment_plan"),
    "stage_transition": ("opportunity_id", "opportunity"),
}
#: The organisation and the catalogue: seen by anyone holding a view grant on them.
SHARED_KINDS = frozenset({"user", "department", "product"})
#: Kinds pycrm keeps for itself (events awaiting delivery), never read through a scope.
INTERNAL = frozenset({"outbox_entry", "config_entry", "exchange_rate"})
#: Every kind a scope carries a condition for.
SCOPED = (*OWNED, *CHILDREN, *SHARED_KINDS, "share")
#: Up to this many owners (or shared records) are written into a query as a list of ids,
#: which every planner estimates right; beyond it, as a subquery.
LISTED = 2000
#: Users whose resolved rights a CRM keeps at most (the oldest half is dropped beyond it).
KEPT = 10_000


@attrs.define
class Facts:
    """What resolving one user's rights read from the database, at one organisation
    version: kept between units of work until the version moves."""

    version: int
    user: User
    department: Department | None
    owners: dict[frozenset[DataScope], Condition] = attrs.Factory(dict)
    shares: dict[tuple[str, str], frozenset[uuid.UUID]] | None = None
    #: When the first of the shares read expires (they must be read again then).
    shares_until: dt.datetime | None = None
    #: The conditions worked out from these facts alone, by kind and action.
    conditions: dict[tuple[str, str], Condition | None] = attrs.Factory(dict)

    def shares_at(self, now: dt.datetime) -> dict[tuple[str, str], frozenset[uuid.UUID]] | None:
        if self.shares_until is not None and now >= self.shares_until:
            self.shares, self.shares_until = None, None
            self.conditions.clear()  # some were built on a share that has now expired
        return self.shares


class _Kept:
    """The facts of every user a CRM resolved lately, by tenant and user."""

    def __init__(self) -> None:
        self._facts: dict[tuple[str, uuid.UUID], Facts] = {}
        self._lock = threading.Lock()

    def get(self, tenant: str, user: uuid.UUID, version: int) -> Facts | None:
        facts = self._facts.get((tenant, user))
        return facts if facts is not None and facts.version == version else None

    def keep(self, tenant: str, facts: Facts) -> None:
        with self._lock:
            if len(self._facts) >= KEPT:
                for key in list(self._facts)[: KEPT // 2]:
                    del self._facts[key]
            self._facts[(tenant, facts.user.id)] = facts


_KEPT: weakref.WeakKeyDictionary[CRM, _Kept] = weakref.WeakKeyDictionary()
_KEPT_LOCK = threading.Lock()


def _kept(crm: CRM) -> _Kept:
    with _KEPT_LOCK:
        if crm not in _KEPT:
            _KEPT[crm] = _Kept()
        return _KEPT[crm]


class Access:
    """The rights of one acting user in one tenant."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow
        self.user_id = uow.user
        self.everything = uow.user == SYSTEM_USER
        self._conditions: dict[tuple[str, str], Condition | None] = {}
        self._scopes: dict[str, Scope] = {}
        self.user: User | None = None
        self.roles: tuple[RoleDefinition, ...] = ()
        self._department: Department | None = None
        self._owners: dict[frozenset[DataScope], Condition] = {}
        self._shares: dict[tuple[str, str], frozenset[uuid.UUID]] | None = None
        self._facts: Facts | None = None
        self._stale = False
        self._restricted: dict[str, dict[str, FieldAccess]] = {}
        self._member_pools: frozenset[str] | None = None
        self._hidden: dict[str, frozenset[str]] = {}
        # Asked once per unit of work: a bulk write skips the per-record hook call
        # when no plugin checks permissions.
        self._checked_by_plugins = bool(uow.crm.hook.pycrm_check_permission.get_hookimpls())
        # A plugin's narrowing may change from call to call: then nothing built is kept.
        self._narrowed_by_plugins = bool(uow.crm.hook.pycrm_narrow_scope.get_hookimpls())
        if not self.everything:
            self._load_user()

    # -- who is acting ------------------------------------------------------------------
    def _load_user(self) -> None:
        uow = self._uow
        # One read gives the organisation and configuration versions (uow.versions()).
        version = None if uow.changed_organisation else uow.versions()[0]
        kept = _kept(uow.crm)
        facts = kept.get(uow.tenant, self.user_id, version) if version is not None else None
        if facts is None:
            facts = self._read_facts(version if version is not None else -1)
            if version is not None:
                kept.keep(uow.tenant, facts)
        self._facts = facts
        self.user, self._department = facts.user, facts.department
        # Shared with later units of work: what _owned works out is kept with the facts.
        self._owners = facts.owners
        known = uow.crm.roles
        self.roles = tuple(known[key] for key in facts.user.roles if key in known)

    def detach(self) -> None:
        """This unit of work changed the organisation: work the rights out again, from
        what it sees now (its own changes included), and keep none of it for later units
        of work (they are not committed)."""
        if not self.everything:
            self._stale = True

    def _refresh(self) -> None:
        if self._stale:
            self._stale = False
            self._conditions.clear()
            self._restricted.clear()
            self._hidden.clear()
            self._shares = None
            self._member_pools = None
            facts = self._read_facts(-1)
            self._facts = facts  # this unit's own: never kept
            self.user, self._department, self._owners = facts.user, facts.department, {}
            known = self._uow.crm.roles
            self.roles = tuple(known[key] for key in facts.user.roles if key in known)

    def _read_facts(self, version: int) -> Facts:
        uow = self._uow
        everyone = Scope(uow.tenant)
        user = uow.tx.get(User, everyone, self.user_id)
        if user is None or user.deleted or not user.active:
            state = "unknown" if user is None or user.deleted else "deactivated"
            raise PermissionDenied(
                f"user {self.user_id} is {state} in tenant {uow.tenant!r}: an acting user "
                "must be an active user of the tenant (jobs act as pycrm.SYSTEM_USER)"
            )
        department = None
        if user.department_id is not None:
            department = uow.tx.get(Department, everyone, user.department_id)
        return Facts(version=version, user=user, department=department)

    # -- conditions ---------------------------------------------------------------------
    def scope(self, action: str = Action.VIEW) -> Scope:
        """The unit of work's tenant with ``action``'s condition for every kind (each
        worked out when a read first needs it)."""
        if action not in self._scopes:
            visible = {} if self.everything else _Conditions(self, action)
            self._scopes[action] = Scope(self._uow.tenant, visible)
        return self._scopes[action]

    def condition(self, kind: str, action: str) -> Condition | None:
        """What records of ``kind`` must meet for ``action`` (None: every record)."""
        if self.everything or kind in INTERNAL:
            return None
        found = self._condition(kind, action)
        seen = kind == "customer" and action in (Action.VIEW, Action.EXPORT)
        # Members see the customers of their public pools (which have no owner).
        if seen and found is not None and (pools := self.member_pools()):
            return AnyOf((found, Filter("pool", Op.IN, tuple(sorted(pools)))))
        return found

    def member_pools(self) -> frozenset[str]:
        """The public pools the acting user is a member of (every pool for
        :data:`pycrm.SYSTEM_USER`), from the tenant's configuration."""
        self._refresh()
        if self._member_pools is None:
            pools = self._uow.config.pools
            if self.everything or self.user is None:
                self._member_pools = frozenset(pools)
            else:
                path = self._department.path if self._department is not None else ""
                above = {part for part in (path or "").split("/") if part}
                self._member_pools = frozenset(
                    key
                    for key, pool in pools.items()
                    if (not pool.users and not pool.departments)
                    or self.user_id in pool.users
                    or any(str(d) in above for d in pool.departments)
                )
        return self._member_pools

    def _condition(self, kind: str, action: str) -> Condition | None:
        self._refresh()
        key = (kind, action)
        if key in self._conditions:
            return self._conditions[key]
        facts = self._facts
        if facts is not None and facts.version >= 0 and not self._narrowed_by_plugins:
            facts.shares_at(self._uow.now())
            if key in facts.conditions:
                return facts.conditions[key]
            built = self._build(kind, action)
            if self._shares is None or ("*", "*") not in self._shares:
                facts.conditions[key] = built  # not built on the clock: kept with the facts
            self._conditions[key] = built
            return built
        self._conditions[key] = self._build(kind, action)
        return self._conditions[key]

    def _build(self, kind: str, action: str) -> Condition | None:
        scopes = self.scopes(kind, action)
        if kind in CHILDREN:
            field, parent = CHILDREN[kind]
            if not scopes:
                return NOTHING
            # Adding, changing or removing a child changes its parent.
            seen = action in (Action.VIEW, Action.EXPORT)
            above = self.condition(parent, action if seen else Action.EDIT)
            return None if above is None else Related(field, parent, above)
        if kind in SHARED_KINDS:
            if DataScope.TENANT in scopes or (scopes and action == Action.VIEW):
                return None
            return NOTHING
        if kind == "share":
            return self._shares_condition(action)
        if self._revoked(kind, action):
            return NOTHING  # taken away from this user: no role, share or rule gives it back
        base: Condition | None = None
        if DataScope.TENANT not in scopes:
            reached = [self._reach(frozenset(scopes))] if scopes else []
            if kind == "ticket" and scopes and action in _WORKED_ON:
                # Whoever owns a ticket, the agent it is assigned to works on it, and the
                # users whose grants reach that agent see it as they see the agent's own.
                reached.append(_assigned(reached[0]))
            base = _any(_merged(reached + self._shared(kind, action)))
        return _narrowed(base, self._narrowing(kind, action))

    def scopes(self, kind: str, action: str) -> set[DataScope]:
        """The data scopes the user's roles and exceptions grant for ``action`` on ``kind``
        (empty: the action is not granted)."""
        if self.user is None:
            return {DataScope.TENANT}
        self._refresh()
        if self._revoked(kind, action):
            return set()
        rights = self.user.rights
        grants = [g for role in self.roles for g in role.grants]
        grants += [Grant(r.entity, r.action, r.scope) for r in rights if r.allow]
        return {g.scope for g in grants if g.covers(kind, action)}

    def _revoked(self, kind: str, action: str) -> bool:
        rights = self.user.rights if self.user is not None else []
        return any(not r.allow and Grant(r.entity, r.action).covers(kind, action) for r in rights)

    def _reach(self, scopes: frozenset[DataScope]) -> Condition:
        """Owned records whose owner one of the scopes reaches: the users of every scope
        found in one look-up, once per unit of work."""
        if scopes not in self._owners:
            ordered = sorted(scopes, key=lambda s: s.value)
            users = [c for s in ordered if (c := self._owner_condition(s)) is not None]
            self._owners[scopes] = self._owned(_any(users) if users else None)
        return self._owners[scopes]

    def _owner_condition(self, scope: DataScope) -> Condition | None:
        """Which users' records the scope reaches, as a condition on users (None: only the
        acting user's own)."""
        assert self.user is not None
        me, department = self.user, self._department
        if scope is DataScope.DIRECT_REPORTS:
            return Filter("manager_id", Op.EQ, me.id)
        if scope is DataScope.SUBORDINATES and me.manager_path:
            return Filter("manager_path", Op.STARTSWITH, me.manager_path)
        if scope is DataScope.DEPARTMENT and department is not None:
            return Filter("department_id", Op.EQ, department.id)
        if scope is DataScope.DEPARTMENT_TREE and department is not None:
            below = Filter("path", Op.STARTSWITH, department.path or "/")
            return Related("department_id", "department", below)
        return None

    def _owned(self, users: Condition | None) -> Condition:
        """Records owned by the acting user or by a user meeting ``users``: a list of ids
        when they are few (read once here), a subquery otherwise."""
        own = Filter("owner_id", Op.EQ, self.user_id)
        if users is None:
            return own
        query, everyone = Query(filters=(users,), deleted=None), Scope(self._uow.tenant)
        if self._uow.tx.count(User, everyone, query) > LISTED:
            return AnyOf((own, _owned_by(users)))
        # Ids only (grouped by id): loading whole users would cost more than the page.
        found = self._uow.tx.group(User, everyone, query, by=("id",))
        return Filter("owner_id", Op.IN, tuple(sorted({self.user_id, *(g.key[0] for g in found)})))

    def _shared(self, kind: str, action: str) -> list[Condition]:
        """Records opened to the user by a share or a sharing rule (never for deleting)."""
        if action not in (Action.VIEW, Action.EDIT, Action.EXPORT):
            return []
        accesses = (ShareAccess.EDIT,) if action == Action.EDIT else tuple(ShareAccess)
        found: list[Condition] = self._share_condition(kind, accesses)
        mine = {role.key for role in self.roles}
        for rule in self._uow.crm.sharing_rules:
            held = not rule.roles or bool(mine & set(rule.roles))
            if rule.entity == kind and rule.access in accesses and held:
                found.append(self._filled(rule))
        return found

    def _share_condition(self, kind: str, accesses: tuple[str, ...]) -> list[Condition]:
        """Records of ``kind`` shared with the user (or their department) for one of
        ``accesses``: their ids, read once per unit of work, or a subquery when many."""
        if self._shares is None:
            self._shares = self._kept_shares()
        if ("*", "*") in self._shares:
            return [self._shares_subquery(kind, accesses)]
        ids = frozenset().union(*(self._shares.get((kind, a), frozenset()) for a in accesses))
        return [Filter("id", Op.IN, tuple(sorted(ids)))] if ids else []

    def _kept_shares(self) -> dict[tuple[str, str], frozenset[uuid.UUID]]:
        """The shares opened to the user: as the facts keep them while none has expired,
        else read now (and kept)."""
        facts, now = self._facts, self._uow.now()
        if facts is not None and (kept := facts.shares_at(now)) is not None:
            return kept
        shares, until = self._live_shares(now)
        if facts is not None:
            facts.shares, facts.shares_until = shares, until
        return shares

    def _live_shares(
        self, now: dt.datetime
    ) -> tuple[dict[tuple[str, str], frozenset[uuid.UUID]], dt.datetime | None]:
        """Every live share opened to the user, by kind and access (``{"*": …}`` when there
        are too many to list), and when the first of them expires."""
        query = Query(filters=(self._shares_to_me(),), limit=LISTED + 1)
        found = self._uow.tx.find(Share, Scope(self._uow.tenant), query)
        if len(found) > LISTED:
            return {("*", "*"): frozenset()}, None
        shares: dict[tuple[str, str], set[uuid.UUID]] = {}
        for share in found:
            shares.setdefault((share.entity, str(share.access)), set()).add(share.record_id)
        expiries = [s.expires_at for s in found if s.expires_at is not None]
        return {key: frozenset(ids) for key, ids in shares.items()}, min(expiries, default=None)

    def _shares_to_me(self) -> Condition:
        """Live shares opened to the user or to their department (or one above it)."""
        now = self._uow.now()
        me = AnyOf(
            (
                Filter("user_id", Op.EQ, self.user_id),
                Filter("department_id", Op.IN, self._my_departments()),
            )
        )
        live = AnyOf((Filter("expires_at", Op.IS_NULL, True), Filter("expires_at", Op.GT, now)))
        # A deleted share gives nothing (a Related condition sees deleted records too).
        return AllOf((Filter("deleted_at", Op.IS_NULL, True), me, live))

    def _shares_subquery(self, kind: str, accesses: tuple[str, ...]) -> Condition:
        mine = AllOf(
            (Filter("entity", Op.EQ, kind), Filter("access", Op.IN, accesses), self._shares_to_me())
        )
        return Related("id", "share", mine, target="record_id")

    def _my_departments(self) -> tuple[uuid.UUID, ...]:
        """The user's department and those above it (a share with a department reaches
        the users of the departments under it too)."""
        path = self._department.path if self._department is not None else None
        return tuple(uuid.UUID(part) for part in (path or "").split("/") if part)

    def _filled(self, rule: SharingRule) -> Condition:
        values = {
            "user": self.user_id,
            "department": self._department.id if self._department is not None else None,
        }
        filled: Condition = _fill(rule.condition, values)
        return filled

    def _shares_condition(self, action: str) -> Condition | None:
        scopes = self.scopes("share", action)
        if DataScope.TENANT in scopes:
            return None
        mine = AnyOf(
            (Filter("user_id", Op.EQ, self.user_id), Filter("owner_id", Op.EQ, self.user_id))
        )
        return mine if action == Action.VIEW else Filter("owner_id", Op.EQ, self.user_id)

    def _narrowing(self, kind: str, action: str) -> list[Condition]:
        assert self.user is not None
        hook = self._uow.crm.hook.pycrm_narrow_scope
        roles = tuple(role.key for role in self.roles)
        found = hook(user=self.user_id, roles=roles, entity=kind, action=action)
        return [c for c in found if c is not None]

    # -- checks -------------------------------------------------------------------------
    def require(self, kind: str, action: str, record: Any, *, stored: bool = True) -> None:
        """Refuse (PermissionDenied) ``action`` on ``record`` unless the user's rights
        reach it; a stored record is checked with one query, a new one as it would be."""
        if stored:
            self._check(kind, action, record, lambda c: self._stored_meets(kind, c, record))
        else:
            self.require_all(kind, action, [record])

    def reaches(self, kind: str, action: str, owner: uuid.UUID) -> bool:
        """Whether the user's grants of ``action`` on ``kind`` (roles and exceptions, not
        shares) reach records owned by ``owner``: "may I assign a pool customer to
        them?"."""
        if self.everything or self.user is None:
            return True
        scopes = self.scopes(kind, action)
        if not scopes:
            return False
        if DataScope.TENANT in scopes:
            return True
        condition = self._reach(frozenset(scopes))
        everyone = Scope(self._uow.tenant)

        def lookup(related: Related) -> frozenset[Any]:
            query = Query(filters=(related.condition,), deleted=None)
            rows = self._uow.tx.find(kind_of(related.kind), everyone, query)
            return frozenset(getattr(r, related.target) for r in rows)

        probe = SimpleNamespace(owner_id=owner, id=None)
        return matches(probe, (condition,), None, lookup)

    def require_all(self, kind: str, action: str, records: Iterable[Any]) -> None:
        """:meth:`require` for new records (not stored yet), sharing the look-ups of the
        records their conditions name (owners, parents)."""
        if self.everything:
            return
        if self.condition(kind, action) is None and not self._checked_by_plugins:
            return
        found: dict[Related, frozenset[Any]] = {}

        def lookup(related: Related) -> frozenset[Any]:
            if related not in found:
                query = Query(filters=(related.condition,), deleted=None)
                rows = self._uow.tx.find(kind_of(related.kind), Scope(self._uow.tenant), query)
                found[related] = frozenset(getattr(r, related.target) for r in rows)
            return found[related]

        for record in records:

            def meets(condition: Condition, record: Any = record) -> bool:
                return matches(record, (condition,), None, lookup)

            self._check(kind, action, record, meets)

    def _check(
        self, kind: str, action: str, record: Any, meets: Callable[[Condition], bool]
    ) -> None:
        if self.everything:
            return
        condition = self.condition(kind, action)
        if condition is not None and not meets(condition):
            raise PermissionDenied(self._why(kind, action, record))
        if not self._checked_by_plugins:
            return
        answers = self._uow.crm.hook.pycrm_check_permission(
            user=self.user_id, entity=kind, action=action, record=record
        )
        if refusals := [str(a) for a in answers if a]:
            raise PermissionDenied("; ".join(refusals))

    def _stored_meets(self, kind: str, condition: Condition, record: Any) -> bool:
        if _on_own_fields(condition):
            # ``record`` is as stored (just read): its own fields answer without a query.
            return matches(record, (condition,))
        this = Query(ids=frozenset([record.id]), deleted=None)
        scope = Scope(self._uow.tenant, {kind: condition})
        return self._uow.tx.count(kind_of(kind), scope, this) == 1

    def _why(self, kind: str, action: str, record: Any) -> str:
        scopes = self.scopes(kind, action)
        who = f"user {self.user_id}"
        if not scopes:
            return f"{who} may not {action} {kind} records (no role grants it)"
        reach = ", ".join(sorted(s.value for s in scopes))
        return (
            f"{who} may {action} {kind} records only within: {reach}; {kind} {record.id} is outside"
        )

    # -- fields -------------------------------------------------------------------------
    def restricted(self, kind: str) -> dict[str, FieldAccess]:
        """Fields of ``kind`` restricted for this user: a field is restricted when every
        role of the user restricts it, hidden winning over read-only."""
        if self.everything:
            return {}
        self._refresh()
        if not self.roles:
            return {}
        if kind not in self._restricted:
            per_role = [
                {r.field: r.access for r in role.fields if r.entity in ("*", kind)}
                for role in self.roles
            ]
            common = set.intersection(*(set(rules) for rules in per_role))
            hidden = {
                n for n in common if all(rules[n] is FieldAccess.HIDDEN for rules in per_role)
            }
            self._restricted[kind] = {
                n: FieldAccess.HIDDEN if n in hidden else FieldAccess.READ_ONLY for n in common
            }
        return self._restricted[kind]

    def hidden(self, kind: str) -> frozenset[str]:
        """Fields of ``kind`` hidden from this user."""
        if kind not in self._hidden:
            rules = self.restricted(kind)
            self._hidden[kind] = frozenset(
                n for n, access in rules.items() if access is FieldAccess.HIDDEN
            )
        return self._hidden[kind]


def _on_own_fields(condition: Condition) -> bool:
    """Whether ``condition`` reads only built-in fields of the record itself (no other
    records, no custom values)."""
    if isinstance(condition, Filter):
        return not condition.field.startswith("custom.")
    if isinstance(condition, AllOf | AnyOf):
        return all(_on_own_fields(c) for c in condition.conditions)
    return False


def _merged(conditions: list[Condition]) -> list[Condition]:
    """The conditions with every "owner is one of these" merged into one list of owners
    (one indexed lookup for the database) and repeats dropped."""
    owners: set[Any] = set()
    rest: list[Condition] = []
    for c in dict.fromkeys(conditions):
        if isinstance(c, Filter) and c.field == "owner_id" and c.op in (Op.EQ, Op.IN):
            owners.update([c.value] if c.op is Op.EQ else c.value)
        else:
            rest.append(c)
    if not owners:
        return rest
    listed = Filter("owner_id", Op.IN, tuple(sorted(owners, key=str)))
    return [listed, *rest]


def _assigned(owned: Condition) -> Condition:
    """``owned`` (a condition on ``owner_id``) asked of the ticket's assignee instead."""
    if isinstance(owned, Filter) and owned.field == "owner_id":
        return Filter("assignee_id", owned.op, owned.value)
    if isinstance(owned, Related) and owned.field == "owner_id":
        return Related("assignee_id", owned.kind, owned.condition, owned.target)
    if isinstance(owned, AnyOf):
        return AnyOf(tuple(_assigned(c) for c in owned.conditions))
    return NOTHING


def _owned_by(users: Condition) -> Condition:
    return Related("owner_id", "user", users)


def _any(conditions: list[Condition]) -> Condition:
    return (
        conditions[0]
        if len(conditions) == 1
        else AnyOf(tuple(conditions))
        if conditions
        else NOTHING
    )


def _narrowed(base: Condition | None, extra: Iterable[Condition]) -> Condition | None:
    extra = list(extra)
    if not extra:
        return base
    return AllOf((*([] if base is None else [base]), *extra))


def _fill(condition: Any, values: Mapping[str, Any]) -> Any:
    """A condition with its placeholders replaced by the acting user's values."""
    if isinstance(condition, Filter):
        value = condition.value
        if isinstance(value, Placeholder):
            return attrs.evolve(condition, value=values.get(value.name))
        return condition
    if isinstance(condition, AllOf | AnyOf):
        return type(condition)(tuple(_fill(c, values) for c in condition.conditions))
    if isinstance(condition, Related):
        return attrs.evolve(condition, condition=_fill(condition.condition, values))
    return condition


class _Conditions(Mapping[str, Condition]):
    """An action's conditions by kind, each worked out on first use (a read needs one or
    two kinds, not all of them)."""

    def __init__(self, access: Access, action: str) -> None:
        self._access, self._action = access, action

    def __getitem__(self, kind: str) -> Condition:
        condition = self._access.condition(kind, self._action)
        if condition is None:
            raise KeyError(kind)
        return condition

    def __iter__(self) -> Iterator[str]:
        return (k for k in SCOPED if self._access.condition(k, self._action) is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)
