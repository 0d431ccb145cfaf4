"""pycrm plugin for advertising sales: ad slot fields, a stage rule and a booking to-do.

Loaded by pycrm through the entry point ``[project.entry-points.pycrm] ads =
"pycrm_ads_plugin"``: the module itself is the plugin, and each function marked with
``pycrm.hookimpl`` implements the hook of the same name.
"""

from __future__ import annotations

import datetime as dt

import pycrm

__all__ = ["SLOTS", "pycrm_check_transition", "pycrm_on_event", "pycrm_register_fields"]

#: Advertising slots an order can book.
SLOTS = ("banner", "sidebar", "newsletter")


#: Stages an advertising deal reaches only with a slot chosen.
NEEDS_SLOT = frozenset({"negotiation", "won"})


@pycrm.hookimpl
def pycrm_register_fields() -> list[pycrm.FieldDefinition]:
    """Orders gain ``custom.ad_slot`` and ``custom.run_start``; deals gain ``ad_slot``."""
    return [
        pycrm.FieldDefinition(
            entity="opportunity",
            key="ad_slot",
            type="choice",
            label={"en": "Ad slot", "zh": "广告位", "ja": "広告枠"},
            choices=SLOTS,
        ),
        pycrm.FieldDefinition(
            entity="order",
            key="ad_slot",
            type="choice",
            label={"en": "Ad slot", "zh": "广告位", "ja": "広告枠"},
            choices=SLOTS,
        ),
        pycrm.FieldDefinition(
            entity="order",
            key="run_start",
            type="date",
            label={"en": "Run starts", "zh": "投放开始", "ja": "掲載開始"},
        ),
    ]


@pycrm.hookimpl
def pycrm_check_transition(opportunity: pycrm.Opportunity, target: pycrm.Stage) -> str | None:
    """An advertising deal (product line ``ads``) names its slot before negotiation."""
    if opportunity.product_line != "ads" or target.key not in NEEDS_SLOT:
        return None
    if opportunity.custom.get("ad_slot") is None:
        return f"choose the ad slot ({', '.join(SLOTS)}) before {target.key}"
    return None


@pycrm.hookimpl
def pycrm_on_event(event: pycrm.Event, crm: pycrm.CRM) -> None:
    """An order that books a slot gets a to-do for its owner, due before the run starts."""
    if event.name != "order.created":
        return
    slot = event.changes.get("custom.ad_slot", (None, None))[1]
    if slot is None:
        return
    start = event.changes.get("custom.run_start", (None, None))[1]
    due = None
    if start is not None:
        day_before = dt.date.fromisoformat(start) - dt.timedelta(days=1)
        due = dt.datetime.combine(day_before, dt.time(9), tzinfo=dt.UTC)
    owner = event.changes.get("owner_id", (None, None))[1]
    with crm.unit_of_work(tenant=event.tenant, user=event.user_id) as uow:
        uow.activities.create(
            type="task",
            subject=f"Book the {slot} slot",
            order_id=event.record_id,
            customer_id=event.changes["customer_id"][1],
            owner_id=owner,
            due_at=due,
        )
