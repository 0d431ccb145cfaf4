"""Built-in duplicate rules: customers by company name, phone, e-mail and website; contacts
by phone (or mobile) and e-mail; leads by company, phone and e-mail. All warn; a plugin (or
the host application) may register blocking ones, or disable this plugin to replace them.
"""

from __future__ import annotations

from pycrm.core.matching import MatchRule
from pycrm.plugins.hookspecs import hookimpl

RULES = [
    MatchRule(key="customer.name", entity="customer", fields=("name",), normaliser="company_name"),
    MatchRule(key="customer.phone", entity="customer", fields=("phone",), normaliser="phone"),
    MatchRule(key="customer.email", entity="customer", fields=("email",), normaliser="email"),
    MatchRule(key="customer.website", entity="customer", fields=("website",), normaliser="domain"),
    MatchRule(
        key="contact.phone", entity="contact", fields=("phone", "mobile"), normaliser="phone"
    ),
    MatchRule(key="contact.email", entity="contact", fields=("email",), normaliser="email"),
    MatchRule(key="lead.company", entity="lead", fields=("company",), normaliser="company_name"),
    MatchRule(key="lead.phone", entity="lead", fields=("phone",), normaliser="phone"),
    MatchRule(key="lead.email", entity="lead", fields=("email",), normaliser="email"),
]


@hookimpl
def pycrm_register_match_rules() -> list[MatchRule]:
    return list(RULES)
