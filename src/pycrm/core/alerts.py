"""Alerts: what the sweep raised, each once.

Every time-based rule of :meth:`pycrm.CRM.sweep` (a reminder, an SLA warning or breach, an
escalation, a birthday, a stale deal...) records an :class:`Alert` for what it raised.
Storage holds one alert per rule, subject and occasion (a unique key), and the sweep
raises only what has no alert yet, so running it twice, or in two processes at once,
raises nothing twice. ``occasion`` tells apart the times one subject is due again: the
deadline of an SLA warning, the year of a birthday, the reminder time of an activity.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import ClassVar

from attrs import define

__all__ = ["Alert", "AlertRule"]


class AlertRule:
    """The built-in rules' names (plugins name theirs as they like)."""

    REMINDER = "activity.reminder"
    SLA_WARNING = "ticket.sla_warning"
    SLA_BREACHED = "ticket.sla_breached"
    ESCALATED = "ticket.escalated"
    BIRTHDAY = "contact.birthday"
    CARE_DAY = "care_day"
    STALE_DEAL = "opportunity.stale"
    CHURN = "customer.churn"


@define(kw_only=True)
class Alert:
    """One alert raised by a sweep rule about one record.

    ``subject`` is the record's id (of kind ``subject_kind``), ``recipient`` who the alert
    is for (the owner, assignee or superior), ``task`` the id of the to-do it created, if
    any; ``details`` JSON-ready facts (the deadline, the target); ``moment`` the time the
    occasion is about (a reminder time, a deadline), which lets the database find what is
    due and not yet raised in one query.
    Stored like records (kind ``"alert"``), only ever added.
    """

    kind: ClassVar[str] = "alert"

    id: uuid.UUID
    tenant: str
    rule: str
    subject_kind: str
    subject: uuid.UUID
    occasion: str
    recipient: uuid.UUID | None
    at: dt.datetime
    task: uuid.UUID | None = None
    details: dict[str, object] | None = None
    moment: dt.datetime | None = None
