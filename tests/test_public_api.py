"""The public API: the ``__all__`` snapshot, and the rule that the domain imports no plumbing."""

from __future__ import annotations

import ast
import importlib
import pathlib

import pycrm

# Changing this list is a user-visible change: record it in CHANGELOG.md.
EXPECTED = [
    "CustomerOverview",
    "TimelineEntry",
    "CustomerTrend",
    "CustomerValue",
    "CustomerValueRow",
    "NewCustomers",
    "SearchHit",
    "SearchService",
    "ChurnState",
    "ChurnReason",
    "ChurnRules",
    "MatchKey",
    "MatchRule",
    "Candidate",
    "DuplicateGroup",
    "DuplicateService",
    "ImportReport",
    "ImportService",
    "RowError",
    "ExportService",
    "RecordsMerged",
    "BusinessCalendar",
    "CareDay",
    "ServiceDesk",
    "SlaPolicy",
    "Alert",
    "AlertRule",
    "SweepRule",
    "SweepRun",
    "fresh_alerts",
    "new_alert",
    "raise_alerts",
    "ServiceReport",
    "ServiceRow",
    "ActivityService",
    "Agenda",
    "TaskCompletion",
    "TicketService",
    "AlertRaised",
    "TicketMove",
    "AssignmentRule",
    "Pool",
    "PoolMove",
    "PoolMoveAction",
    "RecycleReason",
    "RecycleRule",
    "PoolMoved",
    "PoolReport",
    "PoolService",
    "RecycleRun",
    "ConfigurationService",
    "ConfigurationChanged",
    "TenantConfiguration",
    "Picklist",
    "NumberSequence",
    "ExchangeRateEntry",
    "ConfigEntry",
    "Choice",
    "OrderBalance",
    "HTTP_STATUS",
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
    "Reports",
    "CustomFields",
    "FieldDefinition",
    "FieldProblem",
    "FieldType",
    "CRM",
    "AsyncCRM",
    "SYSTEM_USER",
    "Activity",
    "ActivityKind",
    "AgingReport",
    "AgingRow",
    "AmountReport",
    "AmountRow",
    "DatedRates",
    "DueInstallment",
    "ProductPrice",
    "CRMError",
    "Change",
    "ChangeAction",
    "Clock",
    "ConfigurationError",
    "ConflictError",
    "Contact",
    "ContactRole",
    "CurrencyMismatch",
    "Customer",
    "CustomerSource",
    "CustomerStatus",
    "CustomerType",
    "Department",
    "DwellTimes",
    "Event",
    "ExchangeRateMissing",
    "ExchangeRates",
    "FieldChange",
    "FixedClock",
    "FixedRates",
    "Forecast",
    "ForecastCategory",
    "Funnel",
    "Installment",
    "InstallmentState",
    "Lead",
    "LeadStatus",
    "LostReasons",
    "Money",
    "NotFound",
    "Opportunity",
    "OpportunityStatus",
    "Order",
    "OrderLine",
    "OrderStatus",
    "Page",
    "Payment",
    "PaymentPlan",
    "PermissionDenied",
    "Pipeline",
    "Pipelines",
    "PluginError",
    "Product",
    "Record",
    "Role",
    "RuleViolation",
    "Services",
    "Settings",
    "Stage",
    "StageTransition",
    "StorageError",
    "Stream",
    "SystemClock",
    "Ticket",
    "TicketChannel",
    "TicketPriority",
    "TicketStatus",
    "TicketType",
    "UnitOfWork",
    "User",
    "ValidationError",
    "WeightedPipeline",
    "WinRate",
    "__version__",
    "hookimpl",
    "json_default",
    "jsonable",
    "new_id",
    "page_model",
    "view",
    "view_model",
]

CORE = pathlib.Path(pycrm.__file__).parent / "core"
# holidays: national calendars, imported only when a business calendar names a country;
# phonenumbers and opencc: the duplicate rules' telephone and Chinese-script keys.
ALLOWED_THIRD_PARTY = {"attrs", "babel", "holidays", "opencc", "phonenumbers"}
ALLOWED_PYCRM = {"pycrm.core", "pycrm.errors"}


def test_all_matches_snapshot() -> None:
    # The order of __all__ itself is kept by ruff (RUF022).
    assert sorted(pycrm.__all__) == sorted(EXPECTED)


def test_every_public_name_exists_and_is_documented() -> None:
    for name in pycrm.__all__:
        obj = getattr(pycrm, name)
        if callable(obj) and not name.isupper():
            assert (obj.__doc__ or "").strip(), f"pycrm.{name} has no docstring"


def _imports(path: pathlib.Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_domain_imports_only_stdlib_attrs_and_babel() -> None:
    import sys

    for path in CORE.glob("*.py"):
        for module in _imports(path):
            top = module.split(".")[0]
            if top == "pycrm":
                assert any(module.startswith(p) for p in ALLOWED_PYCRM), (path.name, module)
            elif top not in sys.stdlib_module_names:
                assert top in ALLOWED_THIRD_PARTY, f"core/{path.name} imports {module}"


def test_every_input_typeddict_documents_its_fields() -> None:
    """``help(pycrm.schemas.CustomerFields)`` answers "what may I pass", not dict's help."""
    import typing_extensions

    from pycrm import schemas

    inputs = [
        value
        for name, value in vars(schemas).items()
        if name.endswith("Fields") and not name.startswith("_")
        if typing_extensions.is_typeddict(value)
    ]
    assert len(inputs) >= 15
    for typed in inputs:
        doc = typed.__doc__ or ""
        assert doc != dict.__doc__ and "Fields (each optional" in doc, typed.__name__
        for field in typed.__annotations__:
            assert f"    {field}: " in doc, (typed.__name__, field)
    assert "quantity: exact number (Decimal, int or numeric text) (required)" in (
        schemas.OrderLineFields.__doc__ or ""
    )
    assert "type: one of existing, target" in (schemas.CustomerFields.__doc__ or "")


def test_public_docstrings_name_public_things() -> None:
    """A docstring sends readers to pycrm's public names, never to a private module."""
    for service in ("payment_plans", "orders", "opportunities", "customers"):
        module = importlib.import_module(f"pycrm.services.{service}")
        for cls in vars(module).values():
            if not isinstance(cls, type) or cls.__module__ != module.__name__:
                continue
            for member in vars(cls).values():
                doc = getattr(member, "__doc__", None) or ""
                assert "pycrm.core." not in doc, (cls.__name__, doc[:80])
