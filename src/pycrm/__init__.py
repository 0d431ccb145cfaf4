"""pycrm: an embeddable, pluggable CRM domain library.

Start with :class:`CRM`::

    crm = pycrm.CRM.connect("sqlite:///sales.db")
    with crm.unit_of_work(tenant="acme", user=user_id) as uow:
        customer = uow.customers.create(name="ACME", level="A")

Importing :mod:`pycrm` is quick: the errors are loaded at once, everything else on first
use (``pycrm.CRM`` loads the CRM and its services; report models and schemas are built
when first needed).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pycrm.errors import (
    HTTP_STATUS,
    ConfigurationError,
    ConflictError,
    CRMError,
    CurrencyMismatch,
    ExchangeRateMissing,
    NotFound,
    PermissionDenied,
    PluginError,
    RuleViolation,
    StorageError,
    ValidationError,
)

if TYPE_CHECKING:
    from pycrm.aio import AsyncCRM
    from pycrm.core.access import (
        Action,
        DataScope,
        FieldAccess,
        FieldRule,
        Grant,
        RoleDefinition,
        Share,
        ShareAccess,
        SharingRule,
        UserRight,
        current_department,
        current_user,
    )
    from pycrm.core.activities import Activity, ActivityKind
    from pycrm.core.alerts import Alert, AlertRule
    from pycrm.core.audit import Change, ChangeAction, FieldChange
    from pycrm.core.calendars import BusinessCalendar
    from pycrm.core.clock import Clock, FixedClock, SystemClock
    from pycrm.core.configuration import (
        Choice,
        ConfigEntry,
        ExchangeRateEntry,
        NumberSequence,
        Picklist,
        TenantConfiguration,
    )
    from pycrm.core.customers import (
        ChurnState,
        Contact,
        ContactRole,
        Customer,
        CustomerSource,
        CustomerStatus,
        CustomerType,
        Lead,
        LeadStatus,
    )
    from pycrm.core.events import (
        AlertRaised,
        ConfigurationChanged,
        Event,
        InstallmentOverdue,
        InstallmentSettled,
        OpportunityLost,
        OpportunityMoved,
        OpportunityReopened,
        OpportunityTransition,
        OpportunityWon,
        OrderCancelled,
        OrderCompleted,
        OrderConfirmed,
        PaymentReceived,
        PoolMoved,
        RecordCreated,
        RecordDeleted,
        RecordRestored,
        RecordsMerged,
        RecordUpdated,
        StatusChanged,
    )
    from pycrm.core.fields import FieldDefinition, FieldProblem, FieldType
    from pycrm.core.ids import new_id
    from pycrm.core.lifecycle import ChurnReason, ChurnRules
    from pycrm.core.matching import MatchKey, MatchRule
    from pycrm.core.money import DatedRates, ExchangeRates, FixedRates, Money
    from pycrm.core.opportunities import Opportunity, OpportunityStatus
    from pycrm.core.orders import Order, OrderLine, OrderStatus, Product, ProductPrice
    from pycrm.core.org import Department, Role, User
    from pycrm.core.payments import Installment, InstallmentState, Payment, PaymentPlan
    from pycrm.core.pipeline import ForecastCategory, Pipeline, Pipelines, Stage, StageTransition
    from pycrm.core.pools import (
        AssignmentRule,
        Pool,
        PoolMove,
        PoolMoveAction,
        RecycleReason,
        RecycleRule,
    )
    from pycrm.core.records import SYSTEM_USER, Record
    from pycrm.core.sla import CareDay, ServiceDesk, SlaPolicy
    from pycrm.core.tickets import (
        Ticket,
        TicketChannel,
        TicketMove,
        TicketPriority,
        TicketStatus,
        TicketType,
    )
    from pycrm.crm import CRM
    from pycrm.plugins.hookspecs import hookimpl
    from pycrm.schemas import json_default, jsonable, page_model, view, view_model
    from pycrm.services.activities import ActivityService, Agenda, TaskCompletion
    from pycrm.services.catalogue import Services
    from pycrm.services.configuration import ConfigurationService
    from pycrm.services.duplicates import Candidate, DuplicateGroup, DuplicateService
    from pycrm.services.exporting import ExportService
    from pycrm.services.fields import CustomFields
    from pycrm.services.importing import ImportReport, ImportService, RowError
    from pycrm.services.listing import Page, Stream
    from pycrm.services.orders import OrderBalance
    from pycrm.services.overview import CustomerOverview, TimelineEntry
    from pycrm.services.pools import PoolReport, PoolService, RecycleRun
    from pycrm.services.receivables import DueInstallment
    from pycrm.services.reports import Reports
    from pycrm.services.reports.customers import (
        CustomerTrend,
        CustomerValue,
        CustomerValueRow,
        NewCustomers,
    )
    from pycrm.services.reports.models import (
        AgingReport,
        AgingRow,
        AmountReport,
        AmountRow,
        DwellTimes,
        Forecast,
        Funnel,
        LostReasons,
        WeightedPipeline,
        WinRate,
    )
    from pycrm.services.search import SearchHit, SearchService
    from pycrm.services.sweep import SweepRule, SweepRun, fresh_alerts, new_alert, raise_alerts
    from pycrm.services.ticket_reports import ServiceReport, ServiceRow
    from pycrm.services.tickets import TicketService
    from pycrm.services.unit_of_work import UnitOfWork
    from pycrm.settings import Settings

__version__ = "0.1.0"

#: Where each public name lives; loaded on first access (PEP 562).
_LAZY: dict[str, tuple[str, ...]] = {
    "pycrm.aio": ("AsyncCRM",),
    "pycrm.core.access": (
        "Action",
        "DataScope",
        "FieldAccess",
        "FieldRule",
        "Grant",
        "RoleDefinition",
        "Share",
        "ShareAccess",
        "SharingRule",
        "UserRight",
        "current_department",
        "current_user",
    ),
    "pycrm.core.activities": (
        "Activity",
        "ActivityKind",
    ),
    "pycrm.core.audit": (
        "Change",
        "ChangeAction",
        "FieldChange",
    ),
    "pycrm.core.clock": (
        "Clock",
        "FixedClock",
        "SystemClock",
    ),
    "pycrm.core.customers": (
        "ChurnState",
        "Contact",
        "ContactRole",
        "Customer",
        "CustomerSource",
        "CustomerStatus",
        "CustomerType",
        "Lead",
        "LeadStatus",
    ),
    "pycrm.core.configuration": (
        "Choice",
        "ConfigEntry",
        "ExchangeRateEntry",
        "NumberSequence",
        "Picklist",
        "TenantConfiguration",
    ),
    "pycrm.core.pools": (
        "AssignmentRule",
        "Pool",
        "PoolMove",
        "PoolMoveAction",
        "RecycleReason",
        "RecycleRule",
    ),
    "pycrm.core.events": (
        "AlertRaised",
        "RecordsMerged",
        "ConfigurationChanged",
        "PoolMoved",
        "Event",
        "InstallmentOverdue",
        "InstallmentSettled",
        "OpportunityLost",
        "OpportunityMoved",
        "OpportunityReopened",
        "OpportunityTransition",
        "OpportunityWon",
        "OrderCancelled",
        "OrderCompleted",
        "OrderConfirmed",
        "PaymentReceived",
        "RecordCreated",
        "RecordDeleted",
        "RecordRestored",
        "RecordUpdated",
        "StatusChanged",
    ),
    "pycrm.core.fields": (
        "FieldDefinition",
        "FieldProblem",
        "FieldType",
    ),
    "pycrm.core.ids": ("new_id",),
    "pycrm.core.money": (
        "DatedRates",
        "ExchangeRates",
        "FixedRates",
        "Money",
    ),
    "pycrm.core.opportunities": (
        "Opportunity",
        "OpportunityStatus",
    ),
    "pycrm.core.orders": (
        "Order",
        "OrderLine",
        "OrderStatus",
        "Product",
        "ProductPrice",
    ),
    "pycrm.core.org": (
        "Department",
        "Role",
        "User",
    ),
    "pycrm.core.payments": (
        "Installment",
        "InstallmentState",
        "Payment",
        "PaymentPlan",
    ),
    "pycrm.core.pipeline": (
        "ForecastCategory",
        "Pipeline",
        "Pipelines",
        "Stage",
        "StageTransition",
    ),
    "pycrm.core.records": (
        "SYSTEM_USER",
        "Record",
    ),
    "pycrm.core.tickets": (
        "Ticket",
        "TicketChannel",
        "TicketMove",
        "TicketPriority",
        "TicketStatus",
        "TicketType",
    ),
    "pycrm.crm": ("CRM",),
    "pycrm.plugins.hookspecs": ("hookimpl",),
    "pycrm.schemas": ("json_default", "jsonable", "page_model", "view", "view_model"),
    "pycrm.services.catalogue": ("Services",),
    "pycrm.services.configuration": ("ConfigurationService",),
    "pycrm.services.pools": ("PoolReport", "PoolService", "RecycleRun"),
    "pycrm.services.fields": ("CustomFields",),
    "pycrm.services.listing": ("Page", "Stream"),
    "pycrm.services.orders": ("OrderBalance",),
    "pycrm.services.receivables": ("DueInstallment",),
    "pycrm.services.reports": ("Reports",),
    "pycrm.services.reports.models": (
        "AgingReport",
        "AgingRow",
        "AmountReport",
        "AmountRow",
        "DwellTimes",
        "Forecast",
        "Funnel",
        "LostReasons",
        "WeightedPipeline",
        "WinRate",
    ),
    "pycrm.core.calendars": ("BusinessCalendar",),
    "pycrm.core.sla": (
        "CareDay",
        "ServiceDesk",
        "SlaPolicy",
    ),
    "pycrm.core.alerts": (
        "Alert",
        "AlertRule",
    ),
    "pycrm.services.sweep": (
        "SweepRule",
        "SweepRun",
        "fresh_alerts",
        "new_alert",
        "raise_alerts",
    ),
    "pycrm.services.ticket_reports": (
        "ServiceReport",
        "ServiceRow",
    ),
    "pycrm.services.activities": (
        "ActivityService",
        "Agenda",
        "TaskCompletion",
    ),
    "pycrm.services.tickets": ("TicketService",),
    "pycrm.core.lifecycle": (
        "ChurnReason",
        "ChurnRules",
    ),
    "pycrm.core.matching": (
        "MatchKey",
        "MatchRule",
    ),
    "pycrm.services.duplicates": (
        "Candidate",
        "DuplicateGroup",
        "DuplicateService",
    ),
    "pycrm.services.importing": (
        "ImportReport",
        "ImportService",
        "RowError",
    ),
    "pycrm.services.exporting": ("ExportService",),
    "pycrm.services.overview": (
        "CustomerOverview",
        "TimelineEntry",
    ),
    "pycrm.services.reports.customers": (
        "CustomerTrend",
        "CustomerValue",
        "CustomerValueRow",
        "NewCustomers",
    ),
    "pycrm.services.search": (
        "SearchHit",
        "SearchService",
    ),
    "pycrm.services.unit_of_work": ("UnitOfWork",),
    "pycrm.settings": ("Settings",),
}
_HOME = {name: module for module, names in _LAZY.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'pycrm' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "CRM",
    "HTTP_STATUS",
    "SYSTEM_USER",
    "Action",
    "Activity",
    "ActivityKind",
    "ActivityService",
    "Agenda",
    "AgingReport",
    "AgingRow",
    "Alert",
    "AlertRaised",
    "AlertRule",
    "AmountReport",
    "AmountRow",
    "AssignmentRule",
    "AsyncCRM",
    "BusinessCalendar",
    "CRMError",
    "Candidate",
    "CareDay",
    "Change",
    "ChangeAction",
    "Choice",
    "ChurnReason",
    "ChurnRules",
    "ChurnState",
    "Clock",
    "ConfigEntry",
    "ConfigurationChanged",
    "ConfigurationError",
    "ConfigurationService",
    "ConflictError",
    "Contact",
    "ContactRole",
    "CurrencyMismatch",
    "CustomFields",
    "Customer",
    "CustomerOverview",
    "CustomerSource",
    "CustomerStatus",
    "CustomerTrend",
    "CustomerType",
    "CustomerValue",
    "CustomerValueRow",
    "DataScope",
    "DatedRates",
    "Department",
    "DueInstallment",
    "DuplicateGroup",
    "DuplicateService",
    "DwellTimes",
    "Event",
    "ExchangeRateEntry",
    "ExchangeRateMissing",
    "ExchangeRates",
    "ExportService",
    "FieldAccess",
    "FieldChange",
    "FieldDefinition",
    "FieldProblem",
    "FieldRule",
    "FieldType",
    "FixedClock",
    "FixedRates",
    "Forecast",
    "ForecastCategory",
    "Funnel",
    "Grant",
    "ImportReport",
    "ImportService",
    "Installment",
    "InstallmentOverdue",
    "InstallmentSettled",
    "InstallmentState",
    "Lead",
    "LeadStatus",
    "LostReasons",
    "MatchKey",
    "MatchRule",
    "Money",
    "NewCustomers",
    "NotFound",
    "NumberSequence",
    "Opportunity",
    "OpportunityLost",
    "OpportunityMoved",
    "OpportunityReopened",
    "OpportunityStatus",
    "OpportunityTransition",
    "OpportunityWon",
    "Order",
    "OrderBalance",
    "OrderCancelled",
    "OrderCompleted",
    "OrderConfirmed",
    "OrderLine",
    "OrderStatus",
    "Page",
    "Payment",
    "PaymentPlan",
    "PaymentReceived",
    "PermissionDenied",
    "Picklist",
    "Pipeline",
    "Pipelines",
    "PluginError",
    "Pool",
    "PoolMove",
    "PoolMoveAction",
    "PoolMoved",
    "PoolReport",
    "PoolService",
    "Product",
    "ProductPrice",
    "Record",
    "RecordCreated",
    "RecordDeleted",
    "RecordRestored",
    "RecordUpdated",
    "RecordsMerged",
    "RecycleReason",
    "RecycleRule",
    "RecycleRun",
    "Reports",
    "Role",
    "RoleDefinition",
    "RowError",
    "RuleViolation",
    "SearchHit",
    "SearchService",
    "ServiceDesk",
    "ServiceReport",
    "ServiceRow",
    "Services",
    "Settings",
    "Share",
    "ShareAccess",
    "SharingRule",
    "SlaPolicy",
    "Stage",
    "StageTransition",
    "StatusChanged",
    "StorageError",
    "Stream",
    "SweepRule",
    "SweepRun",
    "SystemClock",
    "TaskCompletion",
    "TenantConfiguration",
    "Ticket",
    "TicketChannel",
    "TicketMove",
    "TicketPriority",
    "TicketService",
    "TicketStatus",
    "TicketType",
    "TimelineEntry",
    "UnitOfWork",
    "User",
    "UserRight",
    "ValidationError",
    "WeightedPipeline",
    "WinRate",
    "__version__",
    "current_department",
    "current_user",
    "fresh_alerts",
    "hookimpl",
    "json_default",
    "jsonable",
    "new_alert",
    "new_id",
    "page_model",
    "raise_alerts",
    "view",
    "view_model",
]
