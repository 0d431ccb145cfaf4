"""Built-in roles: the specifications' list (system admin, executive, sales director, sales
rep, order assistant, service agent) and the sharing rule that lets an order assistant see
the customers whose orders they handle.

Public pools: a director assigns pool customers to the reps of their departments, an
executive to anyone (and may override a pool's caps and run the recycle rules).

The sales rep role is the MyCRM rule: a rep sees and edits their own records; their direct
superior has every right over them except delete; superiors further up may only view.
Everyone sees the organisation (users, departments) and the product catalogue. A plugin
adds roles of its own through the same hook; to change a built-in role, disable this
plugin (``Settings(disabled_plugins={"pycrm.plugins.default_roles"})``) and register
replacements.
"""

from __future__ import annotations

from pycrm.core.access import (
    ACTIONS,
    Action,
    DataScope,
    Grant,
    RoleDefinition,
    SharingRule,
    current_user,
)
from pycrm.core.org import Role
from pycrm.plugins.hookspecs import hookimpl
from pycrm.storage.query import Filter, Op, Related

OWN, REPORTS, BELOW = DataScope.OWN, DataScope.DIRECT_REPORTS, DataScope.SUBORDINATES
TREE, TENANT = DataScope.DEPARTMENT_TREE, DataScope.TENANT

#: What every role may read: the organisation and the catalogue.
SHARED = tuple(Grant(kind, Action.VIEW, TENANT) for kind in ("user", "department", "product"))
#: Records of the sales process a rep works on.
SALES = ("customer", "contact", "lead", "opportunity", "order", "payment_plan", "payment",
         "activity", "ticket")  # fmt: skip
#: Actions that change a record (everything but view, export and delete).
CHANGES = tuple(a for a in ACTIONS if a not in (Action.VIEW, Action.EXPORT, Action.DELETE))


def _grants(kinds: tuple[str, ...], actions: tuple[str, ...], scope: DataScope) -> list[Grant]:
    return [Grant(kind, action, scope) for kind in kinds for action in actions]


def _mycrm(view: DataScope) -> list[Grant]:
    """Own records: everything; direct reports': everything but delete; further down
    (and, for directors, their departments): view and export only."""
    return [
        *_grants(SALES, (Action.VIEW, Action.EXPORT), view),
        *_grants(SALES, (Action.VIEW, Action.EXPORT), BELOW),
        *_grants(SALES, CHANGES, REPORTS),
        *_grants(SALES, (Action.DELETE,), OWN),
    ]


ROLES = [
    RoleDefinition(
        key=Role.ADMIN,
        name="System administrator",
        grants=(Grant("*", "*", TENANT),),
    ),
    RoleDefinition(
        key=Role.EXECUTIVE,
        name="Executive",
        grants=(
            *SHARED,
            *_mycrm(TENANT),
            *_grants(("pool",), ("assign", "override_caps", "recycle"), TENANT),
        ),
    ),
    RoleDefinition(
        key=Role.SALES_DIRECTOR,
        name="Sales director",
        grants=(*SHARED, *_mycrm(TREE), Grant("pool", "assign", TREE)),
    ),
    RoleDefinition(
        key=Role.SALES_REP,
        name="Sales rep",
        grants=(*SHARED, *_mycrm(BELOW)),
    ),
    RoleDefinition(
        key=Role.ORDER_ASSISTANT,
        name="Order assistant",
        grants=(
            *SHARED,
            *_grants(("order", "payment_plan", "payment"), (Action.VIEW, Action.EXPORT), TREE),
            *_grants(("order", "payment_plan", "payment"), CHANGES, TREE),
            *_grants(("customer", "contact"), (Action.VIEW,), TREE),
            *_grants(("activity",), (Action.VIEW, Action.CREATE, Action.EDIT), OWN),
        ),
    ),
    RoleDefinition(
        key=Role.SERVICE_AGENT,
        name="Service agent",
        grants=(
            *SHARED,
            *_grants(("customer", "contact"), (Action.VIEW,), TENANT),
            *_grants(("ticket", "activity"), (Action.VIEW, Action.EXPORT), TENANT),
            *_grants(("ticket", "activity"), CHANGES, TENANT),
            *_grants(("ticket", "activity"), (Action.DELETE,), OWN),
        ),
    ),
]

#: An order assistant sees the customers whose orders they entered.
HANDLED_ORDERS = SharingRule(
    entity="customer",
    roles=(Role.ORDER_ASSISTANT,),
    condition=Related(
        "id", "order", Filter("created_by", Op.EQ, current_user()), target="customer_id"
    ),
)


@hookimpl
def pycrm_register_roles() -> list[RoleDefinition]:
    return list(ROLES)


@hookimpl
def pycrm_register_sharing_rules() -> list[SharingRule]:
    return [HANDLED_ORDERS]
