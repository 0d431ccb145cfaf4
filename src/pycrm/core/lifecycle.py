"""A customer's lifecycle: the churn-warning rules (流失预警) a tenant sets.

A customer is flagged when any rule holds: no order for ``no_order_days`` days, no contact
(an activity logged on it) for ``no_contact_days`` days, or its orders of the last
``period_days`` days fell by at least ``falling_percent`` percent against the period
before. A customer younger than a rule's window is not flagged by it. The sweep raises
the warnings; the rep postpones one (暂缓流失, with an action and a date) or confirms it
(确定流失), and a confirmed customer's status becomes ``churned``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attrs import Attribute, field, frozen

from pycrm.errors import ConfigurationError

__all__ = ["ChurnReason", "ChurnRules"]


class ChurnReason:
    """Why a customer was flagged (``customer.churn_reasons``)."""

    NO_ORDER = "no_order"
    NO_CONTACT = "no_contact"
    FALLING_ORDERS = "falling_orders"


def _days(_: object, attribute: Attribute[Any], value: int | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 3650:
        raise ConfigurationError(f"{attribute.name} must be a whole number of days, 1 to 3650")


def _percent(_: object, attribute: Attribute[Any], value: int | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100:
        raise ConfigurationError(f"{attribute.name} must be a whole percent, 1 to 100")


@frozen(kw_only=True)
class ChurnRules:
    """When a customer is flagged as likely to churn; a rule left None is off."""

    no_order_days: int | None = field(default=None, validator=_days)
    no_contact_days: int | None = field(default=None, validator=_days)
    falling_percent: int | None = field(default=None, validator=_percent)
    period_days: int = field(default=90, validator=_days)

    @property
    def any(self) -> bool:
        """Whether any rule is on."""
        return any(
            v is not None for v in (self.no_order_days, self.no_contact_days, self.falling_percent)
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, as tenant configuration stores it."""
        return {
            "no_order_days": self.no_order_days,
            "no_contact_days": self.no_contact_days,
            "falling_percent": self.falling_percent,
            "period_days": self.period_days,
        }

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> ChurnRules:
        """The rules from :meth:`to_dict`'s data; ConfigurationError for anything else."""
        if not isinstance(value, Mapping):
            raise ConfigurationError("churn rules are a mapping")
        if unknown := sorted(set(value) - set(cls().to_dict())):
            raise ConfigurationError(f"unknown churn rule fields {unknown}")
        return cls(**dict(value))
