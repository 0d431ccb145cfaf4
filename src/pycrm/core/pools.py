"""The public customer pool (客户公海): customers nobody owns, which members claim, and the
rules that send a customer back when its rep lets it go cold.

A :class:`Pool` is tenant configuration (``uow.configuration.set_pool``): who may see and
claim its customers, the caps on what a rep may hold, the cooldown before a former owner
may claim a customer again, and its :class:`RecycleRule` list. A customer in a pool has no
owner and names the pool (``customer.pool``). Every move in or out of a pool is a
:class:`PoolMove`, kept like a stage transition: only ever added.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any, ClassVar

from attrs import Attribute, field, frozen

from pycrm.errors import ConfigurationError

__all__ = [
    "ASSIGNABLE",
    "AssignmentRule",
    "Pool",
    "PoolMove",
    "PoolMoveAction",
    "RecycleReason",
    "RecycleRule",
]

#: The kinds assignment rules give new records of, and the fields a rule may match on.
ASSIGNABLE: dict[str, tuple[str, ...]] = {
    "customer": ("region", "industry", "level", "source", "type"),
    "lead": ("source", "company"),
    # Tickets go to an agent (their assignee): by type, channel or priority (a skill).
    "ticket": ("type", "channel", "priority"),
}

_KEY = re.compile(r"[a-z][a-z0-9_]{0,62}")


class RecycleReason(StrEnum):
    """What a recycle rule measures from: the last follow-up (an activity logged on the
    customer), the last deal opened for it, or the last deal won with it. The time the
    current owner got the customer counts as the start, so a fresh claim is never due."""

    NO_FOLLOW_UP = "no_follow_up"
    NO_DEAL = "no_deal"
    NO_WON_DEAL = "no_won_deal"


class PoolMoveAction(StrEnum):
    """What moved a customer: claimed by a member, released by its owner, assigned from
    the pool by a manager, recycled by the rules, or a reminder that it soon will be."""

    CLAIM = "claim"
    RELEASE = "release"
    ASSIGN = "assign"
    RECYCLE = "recycle"
    REMIND = "remind"


def _positive(_: object, attribute: Attribute[Any], value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ConfigurationError(f"{attribute.name} must be a whole number, at least 1")


def _not_negative(_: object, attribute: Attribute[Any], value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise ConfigurationError(f"{attribute.name} must be a whole number, at least 0")


def _by_level(value: Mapping[str, int] | None) -> tuple[tuple[str, int], ...]:
    items = dict(value or {})
    for level, number in items.items():
        if not isinstance(level, str) or not level or isinstance(number, bool):
            raise ConfigurationError("per-level numbers map a level to a whole number")
        if not isinstance(number, int) or number < 0:
            raise ConfigurationError(f"level {level!r}: give a whole number, at least 0")
    return tuple(sorted(items.items()))


def _ids(value: Iterable[uuid.UUID | str]) -> tuple[uuid.UUID, ...]:
    try:
        return tuple(sorted({v if isinstance(v, uuid.UUID) else uuid.UUID(str(v)) for v in value}))
    except (TypeError, ValueError):
        raise ConfigurationError("give user and department ids") from None


def _rules(value: Iterable[RecycleRule]) -> tuple[RecycleRule, ...]:
    rules = tuple(value)
    if not all(isinstance(r, RecycleRule) for r in rules):
        raise ConfigurationError("recycle takes pycrm.RecycleRule objects")
    return rules


@frozen(kw_only=True)
class RecycleRule:
    """An owned customer returns to the pool after ``days`` days without what ``reason``
    names; ``levels`` gives other numbers for some customer levels (``{"A": 60}``), and a
    level given ``0`` never recycles by this rule."""

    reason: RecycleReason = field(converter=RecycleReason)
    days: int = field(validator=_positive)
    levels: tuple[tuple[str, int], ...] = field(default=(), converter=_by_level)

    def days_for(self, level: str | None) -> int:
        """The days this rule gives a customer of ``level`` (0: never)."""
        return dict(self.levels).get(level or "", self.days)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, as tenant configuration stores it."""
        return {"reason": self.reason.value, "days": self.days, "levels": dict(self.levels)}


@frozen(kw_only=True)
class Pool:
    """A public pool of one tenant (e.g. one per branch).

    Members: ``users``, and the users of ``departments`` and the departments under them
    (neither given: every user of the tenant). A customer a rep lets go cold returns to
    the pool whose ``owners_from`` departments (and those under them) hold its owner's
    department, else to the pool that names none. Caps: ``max_customers`` a rep may own
    in all, ``max_per_level`` per customer level, ``max_claims_per_day`` claims per day in
    the tenant's time zone; a former owner may claim a customer again only
    ``cooldown_days`` after it left them. ``remind_days_before`` days before a rule would
    recycle a customer its owner gets a reminder (``pool.reminder`` event). Customers with
    open orders (draft or confirmed) never recycle unless ``exempt_open_orders`` is off,
    nor hot ones (``customer.hot_until`` still ahead) unless ``exempt_hot`` is off.
    """

    key: str
    name: str
    users: tuple[uuid.UUID, ...] = field(default=(), converter=_ids)
    departments: tuple[uuid.UUID, ...] = field(default=(), converter=_ids)
    owners_from: tuple[uuid.UUID, ...] = field(default=(), converter=_ids)
    max_customers: int | None = field(default=None, validator=_not_negative)
    max_per_level: tuple[tuple[str, int], ...] = field(default=(), converter=_by_level)
    max_claims_per_day: int | None = field(default=None, validator=_not_negative)
    cooldown_days: int = field(default=0, validator=_not_negative)
    recycle: tuple[RecycleRule, ...] = field(default=(), converter=_rules)
    remind_days_before: int | None = field(default=None, validator=_positive)
    exempt_open_orders: bool = True
    exempt_hot: bool = True

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.key, str) or not _KEY.fullmatch(self.key):
            raise ConfigurationError(
                f"pool {self.key!r}: a key is lower-case letters, digits and underscores"
            )
        if not isinstance(self.name, str) or not self.name.strip() or len(self.name) > 200:
            raise ConfigurationError(f"pool {self.key!r}: give a name of 1 to 200 characters")
        reasons = [r.reason for r in self.recycle]
        if len(set(reasons)) != len(reasons):
            raise ConfigurationError(f"pool {self.key!r}: one recycle rule per reason")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, as tenant configuration stores it."""
        return {
            "key": self.key,
            "name": self.name,
            "users": [str(u) for u in self.users],
            "departments": [str(d) for d in self.departments],
            "owners_from": [str(d) for d in self.owners_from],
            "max_customers": self.max_customers,
            "max_per_level": dict(self.max_per_level),
            "max_claims_per_day": self.max_claims_per_day,
            "cooldown_days": self.cooldown_days,
            "recycle": [r.to_dict() for r in self.recycle],
            "remind_days_before": self.remind_days_before,
            "exempt_open_orders": self.exempt_open_orders,
            "exempt_hot": self.exempt_hot,
        }

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> Pool:
        """The pool a stored value describes."""
        values = dict(value)
        values["recycle"] = [RecycleRule(**r) for r in values.get("recycle", [])]
        return cls(**values)


@frozen(kw_only=True)
class PoolMove:
    """One move of a customer in or out of a pool: ``owner_id`` is the rep who got it
    (claim, assign) or lost it (release, recycle) or is reminded; ``acted_by`` who acted
    (``pycrm.SYSTEM_USER`` for the rules); ``due_on`` the day a reminded customer would
    recycle. Stored like records (kind ``"pool_move"``), only ever added."""

    kind: ClassVar[str] = "pool_move"

    id: uuid.UUID
    tenant: str
    customer_id: uuid.UUID
    pool: str
    action: PoolMoveAction = field(converter=PoolMoveAction)
    owner_id: uuid.UUID | None
    acted_by: uuid.UUID
    at: dt.datetime
    reason: str | None = None
    due_on: dt.date | None = None


def _when(value: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    items = dict(value or {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in items.items()):
        raise ConfigurationError("when maps field names to the text they must hold")
    return tuple(sorted(items.items()))


def _one_id(value: uuid.UUID | str | None) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    return uuid.UUID(str(value))


@frozen(kw_only=True)
class AssignmentRule:
    """Who a new customer or lead goes to when a job creates it for nobody (as
    :data:`pycrm.SYSTEM_USER`, without an owner), and which agent a new ticket goes to: the
    first rule of its kind whose ``when`` holds (``{"region": "east"}``; empty: always)
    gives it to ``user``, in turn to the active users of ``department`` (round robin, that
    department only: a team with a skill), (customers) to the public pool ``pool``, or
    (tickets, ``customer_owner=True``) to the rep who owns the ticket's customer."""

    entity: str
    when: tuple[tuple[str, str], ...] = field(default=(), converter=_when)
    user: uuid.UUID | None = field(default=None, converter=_one_id)
    department: uuid.UUID | None = field(default=None, converter=_one_id)
    pool: str | None = None
    customer_owner: bool = False

    def __attrs_post_init__(self) -> None:
        if self.entity not in ASSIGNABLE:
            raise ConfigurationError(f"assignment rules are for {sorted(ASSIGNABLE)}")
        if unknown := sorted({k for k, _ in self.when} - set(ASSIGNABLE[self.entity])):
            raise ConfigurationError(
                f"a {self.entity} rule matches on {list(ASSIGNABLE[self.entity])}, not {unknown}"
            )
        targets = [t for t in (self.user, self.department, self.pool) if t is not None]
        if len(targets) + bool(self.customer_owner) != 1:
            raise ConfigurationError(
                "an assignment rule names one of user, department, pool, customer_owner"
            )
        if self.pool is not None and self.entity != "customer":
            raise ConfigurationError("only customers go to a public pool")
        if self.customer_owner is not False and (
            self.customer_owner is not True or self.entity != "ticket"
        ):
            raise ConfigurationError("only tickets go to their customer's owner")

    def matches(self, record: Any) -> bool:
        """Whether ``record`` holds every value ``when`` names."""
        return all(str(getattr(record, k, None) or "") == v for k, v in self.when)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, as tenant configuration stores it."""
        return {
            "entity": self.entity,
            "when": dict(self.when),
            "user": None if self.user is None else str(self.user),
            "department": None if self.department is None else str(self.department),
            "pool": self.pool,
            "customer_owner": self.customer_owner,
        }
