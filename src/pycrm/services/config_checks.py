"""What a change of a tenant's configuration may not take away: a custom field, a pipeline,
a stage or a picklist key that stored records still use.

Every change (one setter, or a whole document loaded) is checked the same way: the
configuration before and after it are compared, and each thing that went away is counted
in the records, in the database. A count above zero refuses the change with a
:class:`pycrm.RuleViolation` (rule ``configuration.in_use``) that carries it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pycrm.core import messages as msg
from pycrm.core.configuration import PICKLIST_FIELDS, Section, TenantConfiguration
from pycrm.core.customers import Customer
from pycrm.core.kinds import kind_of
from pycrm.core.opportunities import Opportunity
from pycrm.storage.base import Filter, Op, Query

if TYPE_CHECKING:
    from pycrm.services.unit_of_work import UnitOfWork

__all__ = ["check_nothing_in_use"]


def check_nothing_in_use(
    uow: UnitOfWork, before: TenantConfiguration, after: TenantConfiguration, section: str
) -> None:
    """Refuse the change from ``before`` to ``after`` if it takes away something records
    use (only what ``section`` configures is compared)."""
    if section == Section.FIELD:
        _fields(uow, before, after)
    elif section == Section.PIPELINE:
        _pipelines(uow, before, after)
    elif section == Section.PICKLIST:
        _picklists(uow, before, after)
    elif section == Section.POOL:
        for key in set(before.pools) - set(after.pools):
            query = Query(filters=(Filter("pool", Op.EQ, key),))
            _refuse(uow.tx.count(Customer, uow.everything, query), "customer", f"pool:{key}")


def _fields(uow: UnitOfWork, before: TenantConfiguration, after: TenantConfiguration) -> None:
    for definition in before.fields:
        if after.fields.get(definition.entity, definition.key) is not None:
            continue
        path = definition.path
        query = Query(
            filters=(Filter(path, Op.IS_NULL, False),), custom_types={path: definition.storage}
        )
        used = uow.tx.count(kind_of(definition.entity), uow.everything, query)
        _refuse(used, definition.entity, f"{definition.entity}.{path}")


def _pipelines(uow: UnitOfWork, before: TenantConfiguration, after: TenantConfiguration) -> None:
    for key, pipeline in before.pipelines.items():
        kept = after.pipelines.get(key)
        if kept is None:
            query = Query(filters=(Filter("pipeline", Op.EQ, key),))
            _refuse(uow.tx.count(Opportunity, uow.everything, query), "opportunity", key)
            continue
        for stage in set(pipeline.keys()) - set(kept.keys()):
            query = Query(filters=(Filter("pipeline", Op.EQ, key), Filter("stage", Op.EQ, stage)))
            used = uow.tx.count(Opportunity, uow.everything, query)
            _refuse(used, "opportunity", f"{key}.{stage}")


def _picklists(uow: UnitOfWork, before: TenantConfiguration, after: TenantConfiguration) -> None:
    for name, picklist in before.picklists.items():
        kept = after.picklists.get(name)
        for key in picklist.keys(active=True):
            choice = kept.choice(key) if kept is not None else None
            if choice is not None and choice.active:
                continue
            if choice is None and kept is not None and not kept.strict and kept.choices:
                continue  # a lenient list dropping a key still accepts it
            # One key may be held by several fields (source: customers' and leads').
            counts = {
                entity: uow.tx.count(
                    kind_of(entity), uow.everything, Query(filters=(Filter(field, Op.EQ, key),))
                )
                for (entity, field), bound in PICKLIST_FIELDS.items()
                if bound == name
            }
            users = [entity for entity, n in counts.items() if n]
            _refuse(sum(counts.values()), "/".join(users), f"{name}:{key}")


def _refuse(count: int, entity: str, item: str) -> None:
    if count:
        raise msg.violation(
            msg.CONFIGURATION_IN_USE, rule="configuration.in_use", count=count, entity=entity,
            item=item,
        )  # fmt: skip
