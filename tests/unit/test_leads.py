"""Lead conversion: one unit of work turns a lead into a customer, a contact and a deal."""

from __future__ import annotations

import pytest

import pycrm


def test_converting_a_lead_creates_and_links_everything(crm, clock, admin):
    with crm.unit_of_work(tenant="t", user=admin) as uow:
        lead = uow.leads.create(
            name="赵敏", company="杭州西湖食品", phone="0571-1234", email="zm@xihu.cn", source="web"
        )
        done = uow.leads.convert(
            lead.id, opportunity={"name": "年度广告", "amount": pycrm.Money("80000.00", "CNY")}
        )
    assert done.customer.name == "杭州西湖食品" and done.customer.source is pycrm.CustomerSource.WEB
    assert done.contact.customer_id == done.customer.id and done.contact.name == "赵敏"
    assert done.opportunity is not None and done.opportunity.customer_id == done.customer.id
    lead = crm.as_user(admin, tenant="t").leads.get(lead.id)
    assert lead.status is pycrm.LeadStatus.CONVERTED and lead.converted_at == clock.now()
    assert (lead.customer_id, lead.contact_id, lead.opportunity_id) == (
        done.customer.id,
        done.contact.id,
        done.opportunity.id,
    )


def test_a_lead_can_join_an_existing_customer(crm, admin):
    acme = crm.as_user(admin, tenant="t")
    customer = acme.customers.create(name="已有客户")
    lead = acme.leads.create(name="周芷若")
    done = acme.leads.convert(lead.id, customer_id=customer.id)
    assert done.customer == customer and done.opportunity is None
    assert acme.customers.count() == 1


def test_converting_twice_is_refused_and_a_failed_conversion_writes_nothing(crm, admin):
    acme = crm.as_user(admin, tenant="t")
    lead = acme.leads.create(name="张无忌", company="明教")
    acme.leads.convert(lead.id)
    with pytest.raises(pycrm.RuleViolation, match="converted"):
        acme.leads.convert(lead.id)
    other = acme.leads.create(name="小昭", company="波斯")
    with pytest.raises(pycrm.ValidationError):
        acme.leads.convert(other.id, opportunity={"name": "x", "probability": 300})
    assert acme.customers.count() == 1 and acme.contacts.count() == 1
    assert acme.leads.get(other.id).status is pycrm.LeadStatus.NEW
