"""Service level agreements (SLA) for tickets: which policy a ticket gets, and its targets.

An :class:`SlaPolicy` is tenant configuration (``uow.configuration.set_sla_policy``): the
tickets it covers (types, priorities, customer levels; empty means any), its targets in
business time on one :class:`pycrm.BusinessCalendar` ("4h" to the first response, "2d" to
the resolution), how long before a deadline the assignee is warned, and who a breach is
escalated to (by default the assignee's direct superior). A ticket gets the first policy,
by ``rank`` then key, that covers it; none covers it: it has no deadlines.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from attrs import field, frozen

from pycrm.core.calendars import BusinessCalendar, business_minutes
from pycrm.errors import ConfigurationError

__all__ = ["CareDay", "ServiceDesk", "SlaPolicy", "SlaTargets"]

_KEY = re.compile(r"[a-z][a-z0-9_]{0,62}")
_FIELDS = (
    "key",
    "first_response",
    "resolution",
    "calendar",
    "types",
    "priorities",
    "customer_levels",
    "warn_before",
    "escalate_to",
    "rank",
)


def _key(_: object, __: Any, value: str) -> None:
    if not isinstance(value, str) or not _KEY.fullmatch(value):
        raise ConfigurationError(f"SLA policy key {value!r}: lower-case letters, digits and _")


def _keys(value: Iterable[str] | None) -> tuple[str, ...]:
    if isinstance(value, str):
        raise ConfigurationError("give a list of keys, not one string")
    items = tuple(value or ())
    if not all(isinstance(item, str) and item for item in items):
        raise ConfigurationError("keys are non-empty text")
    return tuple(sorted(set(items)))


def _duration(_: object, attribute: Any, value: str) -> None:
    # Checked against a calendar's day length only when used; the shape is checked now.
    if not isinstance(value, str):
        raise ConfigurationError(f"{attribute.name}: give a business duration such as '4h'")
    business_minutes(value, BusinessCalendar())


def _user(value: uuid.UUID | str | None) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise ConfigurationError(f"escalate_to {value!r} is not a user id") from None


def _rank(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigurationError("rank must be a whole number")
    return value


@frozen(kw_only=True)
class SlaTargets:
    """A ticket's business-minute targets under a policy, on the policy's calendar."""

    policy: str
    calendar: BusinessCalendar
    first_response: int
    resolution: int
    warn_before: int
    escalate_to: uuid.UUID | None


@frozen(kw_only=True)
class SlaPolicy:
    """Targets for the tickets a policy covers; durations are business time such as
    ``"4h"``, ``"90m"``, ``"2d"`` or ``"1d4h"`` (a day is the calendar's working day)."""

    key: str = field(validator=_key)
    first_response: str = field(validator=_duration)
    resolution: str = field(validator=_duration)
    calendar: str = "default"
    types: tuple[str, ...] = field(default=(), converter=_keys)
    priorities: tuple[str, ...] = field(default=(), converter=_keys)
    customer_levels: tuple[str, ...] = field(default=(), converter=_keys)
    warn_before: str = field(default="1h", validator=_duration)
    escalate_to: uuid.UUID | None = field(default=None, converter=_user)
    rank: int = field(default=100, converter=_rank)

    def covers(self, type_: str, priority: str, customer_level: str | None) -> bool:
        """Whether a ticket of this type and priority, for a customer of this level, gets
        this policy."""
        return (
            (not self.types or type_ in self.types)
            and (not self.priorities or priority in self.priorities)
            and (not self.customer_levels or (customer_level or "") in self.customer_levels)
        )

    def targets(self, calendar: BusinessCalendar) -> SlaTargets:
        """The policy's targets in business minutes of ``calendar`` (its own)."""
        return SlaTargets(
            policy=self.key,
            calendar=calendar,
            first_response=business_minutes(self.first_response, calendar),
            resolution=business_minutes(self.resolution, calendar),
            warn_before=business_minutes(self.warn_before, calendar),
            escalate_to=self.escalate_to,
        )

    def to_dict(self) -> dict[str, Any]:
        """The policy as JSON-ready data (what the configuration stores)."""
        return {
            "key": self.key,
            "first_response": self.first_response,
            "resolution": self.resolution,
            "calendar": self.calendar,
            "types": list(self.types),
            "priorities": list(self.priorities),
            "customer_levels": list(self.customer_levels),
            "warn_before": self.warn_before,
            "escalate_to": str(self.escalate_to) if self.escalate_to else None,
            "rank": self.rank,
        }

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> SlaPolicy:
        """A policy from :meth:`to_dict`'s data; ConfigurationError for anything else."""
        if not isinstance(value, Mapping):
            raise ConfigurationError("an SLA policy is a mapping")
        if unknown := sorted(set(value) - set(_FIELDS)):
            raise ConfigurationError(f"unknown SLA policy fields {unknown}")
        try:
            return cls(**dict(value))
        except TypeError as error:
            raise ConfigurationError(f"SLA policy: {error}") from None


@frozen(kw_only=True)
class ServiceDesk:
    """A tenant's service-desk configuration: its business calendars by key (there is
    always a ``"default"`` one, Monday to Friday 09:00–18:00 in the tenant's time zone,
    unless the tenant sets its own), its SLA policies in the order they are tried, how many
    days after resolving a ticket it may be reopened, and the care days that remind reps
    to greet their customers."""

    calendars: Mapping[str, BusinessCalendar]
    policies: tuple[SlaPolicy, ...] = ()
    reopen_days: int = 7
    care_days: tuple[CareDay, ...] = ()

    def targets(self, type_: str, priority: str, customer_level: str | None) -> SlaTargets | None:
        """The targets of the first policy covering such a ticket (None: no policy)."""
        for policy in self.policies:
            if policy.covers(type_, priority, customer_level):
                return _targets(policy, self.calendars[policy.calendar])
        return None

    def policy(self, key: str | None) -> SlaTargets | None:
        """The targets of the policy called ``key`` (None if there is none now)."""
        found = next((p for p in self.policies if p.key == key), None)
        return _targets(found, self.calendars[found.calendar]) if found else None


@functools.lru_cache(maxsize=256)
def _targets(policy: SlaPolicy, calendar: BusinessCalendar) -> SlaTargets:
    """A policy's targets on a calendar (both immutable: worked out once)."""
    return policy.targets(calendar)


_MONTH_DAY = re.compile(r"(\d{4}-)?(\d{2})-(\d{2})")


@frozen(kw_only=True)
class CareDay:
    """A day reps greet their customers (a festival, the company's anniversary): ``on``
    is ``"MM-DD"`` every year or ``"YYYY-MM-DD"`` once (for festivals of the lunar
    calendar, whose date moves). On that day the sweep gives each rep who owns customers
    one to-do named ``name``."""

    on: str = field()
    name: str = field()

    @on.validator
    def _check_on(self, _: Any, value: str) -> None:
        match = _MONTH_DAY.fullmatch(value) if isinstance(value, str) else None
        try:
            if match is None:
                raise ValueError(value)
            dt.date(int((match.group(1) or "2024-")[:4]), int(match.group(2)), int(match.group(3)))
        except ValueError:
            raise ConfigurationError(f"care day {value!r}: give MM-DD or YYYY-MM-DD") from None

    @name.validator
    def _check_name(self, _: Any, value: str) -> None:
        if not isinstance(value, str) or not value.strip() or len(value) > 200:
            raise ConfigurationError("a care day has a name of 1 to 200 characters")

    def falls_on(self, day: dt.date) -> bool:
        """Whether the care day is ``day``."""
        if len(self.on) == 10:
            return self.on == day.isoformat()
        return self.on == day.strftime("%m-%d")

    def to_dict(self) -> dict[str, str]:
        """JSON-ready data."""
        return {"on": self.on, "name": self.name}
