"""All record services of one unit of work (or of one acting user), by aggregate name."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pycrm.services.activities import ActivityService
from pycrm.services.configuration import ConfigurationService
from pycrm.services.contacts import ContactService
from pycrm.services.customers import CustomerService
from pycrm.services.duplicates import DuplicateService
from pycrm.services.exporting import ExportService
from pycrm.services.importing import ImportService
from pycrm.services.leads import LeadService
from pycrm.services.opportunities import OpportunityService
from pycrm.services.orders import OrderService
from pycrm.services.org import DepartmentService, UserService
from pycrm.services.payment_plans import PaymentPlanService, PaymentService
from pycrm.services.pools import PoolService
from pycrm.services.products import ProductService
from pycrm.services.receivables import ReceivablesService
from pycrm.services.search import SearchService
from pycrm.services.shares import ShareService
from pycrm.services.tickets import TicketService

if TYPE_CHECKING:
    from pycrm.services.reports import Reports
    from pycrm.services.unit_of_work import Step

__all__ = ["Services"]


class Services:
    """``.customers``, ``.contacts``, ``.orders``... and ``.reports``, each bound to how
    calls run (inside one unit of work, or each call in its own)."""

    def __init__(self, step: Step) -> None:
        self.departments = DepartmentService(step)
        self.users = UserService(step)
        self.customers = CustomerService(step)
        self.contacts = ContactService(step)
        self.leads = LeadService(step)
        self.opportunities = OpportunityService(step)
        self.products = ProductService(step)
        self.orders = OrderService(step)
        self.payment_plans = PaymentPlanService(step)
        self.payments = PaymentService(step)
        self.tickets = TicketService(step)
        self.activities = ActivityService(step)
        self.receivables = ReceivablesService(step)
        self.shares = ShareService(step)
        #: The tenant's own configuration: fields, pipelines, picklists, rates, numbers.
        self.configuration = ConfigurationService(step)
        #: The public customer pools: claim, release, assign, recycle.
        self.pools = PoolService(step)
        #: Likely duplicates: check before saving, list, scan, and merge.
        self.duplicates = DuplicateService(step)
        #: CSV and Excel files in and out.
        self.imports = ImportService(step)
        self.exports = ExportService(step)
        #: One search box over customers, contacts, leads and deals.
        self.search = SearchService(step)
        self._step = step
        self._reports: Reports | None = None

    def service_of(self, kind: str) -> Any:
        """The service of records of ``kind`` (``"customer"`` → ``.customers``)."""
        name = _SERVICES.get(kind)
        if name is None:
            raise LookupError(f"no service for {kind!r} records")
        return getattr(self, name)

    @property
    def reports(self) -> Reports:
        """Every report (pipeline and receivables), limited to what may be seen."""
        if self._reports is None:
            # Loaded on first use: report models are not needed to record a sale.
            from pycrm.services.reports import Reports

            self._reports = Reports(self._step)
        return self._reports


#: The service attribute of each kind of record.
_SERVICES = {
    "department": "departments",
    "user": "users",
    "customer": "customers",
    "contact": "contacts",
    "lead": "leads",
    "opportunity": "opportunities",
    "product": "products",
    "order": "orders",
    "payment_plan": "payment_plans",
    "payment": "payments",
    "ticket": "tickets",
    "activity": "activities",
    "share": "shares",
}
