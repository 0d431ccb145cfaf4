"""All record services of one unit of work (or of one acting user), by aggregate name."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from pycrm.services.accounts_receivable import ReceivablesService
from pycrm.services.customers import ContactService, CustomerService, LeadService
from pycrm.services.org import DepartmentService, UserService
from pycrm.services.receivables import PaymentPlanService, PaymentService
from pycrm.services.sales import OpportunityService, OrderService, ProductService
from pycrm.services.service_desk import ActivityService, TicketService

if TYPE_CHECKING:
    from pycrm.services.unit_of_work import UnitOfWork

__all__ = ["Services"]


class Services:
    """``.customers``, ``.contacts``, ``.orders``... each bound to how calls run."""

    def __init__(self, step: Callable[[], AbstractContextManager[UnitOfWork]]) -> None:
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
