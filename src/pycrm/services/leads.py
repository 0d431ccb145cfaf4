"""Leads (线索): unqualified prospects, and converting one into a customer, a contact and
a deal in one step."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Unpack

from attrs import frozen

from pycrm.core.access import Action
from pycrm.core.audit import ChangeAction
from pycrm.core.customers import Contact, Customer, Lead, LeadStatus
from pycrm.core.opportunities import Opportunity
from pycrm.errors import RuleViolation
from pycrm.schemas import LeadFields, OpportunityFields, checked_call
from pycrm.services.auditing import audited
from pycrm.services.base import _as_id
from pycrm.services.duplicates import Deduplicated
from pycrm.services.pools import assign_new

if TYPE_CHECKING:
    from pycrm.services.unit_of_work import UnitOfWork

__all__ = ["LeadConversion", "LeadService"]


class LeadService(Deduplicated[Lead]):
    """Leads (unqualified prospects)."""

    entity = Lead
    fields = LeadFields
    required = ("name",)

    def create(self, *, allow_duplicates: bool = False, **fields: Unpack[LeadFields]) -> Lead:
        """Create a lead; see :class:`pycrm.schemas.LeadFields` for the fields.

        A likely duplicate (``uow.duplicates.check``) that a ``block`` rule finds is refused
        with ConflictError; ``allow_duplicates=True`` saves it anyway, for a user with the
        ``save_duplicate`` right."""
        return self._create(fields, allow_duplicates=allow_duplicates)

    def update(
        self,
        record_id: uuid.UUID | str,
        *,
        version: int | None = None,
        allow_duplicates: bool = False,
        **changes: Unpack[LeadFields],
    ) -> Lead:
        """Change some fields; pass ``version`` to refuse if someone changed it since."""
        return self._update(record_id, version, changes, allow_duplicates=allow_duplicates)

    def _before_insert(self, uow: UnitOfWork, records: Sequence[Lead]) -> None:
        super()._before_insert(uow, records)  # likely duplicates first
        assign_new(uow, "lead", records)

    @checked_call
    def convert(
        self,
        lead_id: uuid.UUID | str,
        *,
        customer_id: uuid.UUID | str | None = None,
        opportunity: OpportunityFields | None = None,
    ) -> LeadConversion:
        """Turn a lead into a customer (or attach it to ``customer_id``), a contact and,
        given ``opportunity`` fields, a deal — all in one unit of work, recorded on the lead.

        Converting a lead that is already converted or disqualified is a RuleViolation.
        """
        with self._step() as uow:
            lead = self._load(uow, _as_id(lead_id), for_update=True)
            uow.access.require(Lead.kind, Action.EDIT, lead)
            if lead.status in (LeadStatus.CONVERTED, LeadStatus.DISQUALIFIED):
                raise RuleViolation(
                    f"lead {lead.id} is {lead.status.value}; only open leads can be converted",
                    rule="lead.convert",
                )
            owner = lead.owner_id
            customer = (
                uow.customers.get(customer_id)
                if customer_id is not None
                else uow.customers.create(
                    name=lead.company or lead.name,
                    source=lead.source,
                    phone=lead.phone,
                    email=lead.email,
                    owner_id=owner,
                )
            )
            contact = uow.contacts.create(
                customer_id=customer.id,
                name=lead.name,
                title=lead.title,
                phone=lead.phone,
                email=lead.email,
                owner_id=owner,
            )
            deal = None
            if opportunity is not None:
                fields: OpportunityFields = {"owner_id": owner, **opportunity}
                fields["customer_id"] = customer.id
                deal = uow.opportunities.create(**fields)
            before = audited(lead)
            lead.status, lead.converted_at = LeadStatus.CONVERTED, uow.now()
            lead.customer_id, lead.contact_id = customer.id, contact.id
            lead.opportunity_id = deal.id if deal else None
            self._save(uow, lead, before, ChangeAction.UPDATE)
            return LeadConversion(lead, customer, contact, deal)


@frozen
class LeadConversion:
    """What a lead became."""

    lead: Lead
    customer: Customer
    contact: Contact
    opportunity: Opportunity | None
