"""Human-readable texts of orders, payment plans and receivables, marked for translation.

Each text is an English gettext message id with ``{named}`` fields. Errors keep the
id and the values (:attr:`pycrm.RuleViolation.template`, ``.params``) so a host app can
show them in the user's language with :func:`pycrm.i18n.translate_error`. The catalogues in
``pycrm/locales/<lang>/LC_MESSAGES/pycrm.po`` translate every id listed in :data:`MESSAGES`.
"""

from pycrm.errors import RuleViolation

__all__ = ["MESSAGES", "N_", "violation"]

#: Every translatable text, in the order the catalogues list them.
MESSAGES: list[str] = []


def N_(message: str) -> str:
    """Mark ``message`` for translation and return it unchanged."""
    if message not in MESSAGES:
        MESSAGES.append(message)
    return message


def violation(template: str, *, rule: str, **params: object) -> RuleViolation:
    """A :class:`RuleViolation` whose message is ``template`` filled with ``params``."""
    text = {name: str(value) for name, value in params.items()}
    return RuleViolation(template.format(**text), rule=rule, template=template, params=text)


# -- statuses ------------------------------------------------------------------------------
STATUS_DRAFT = N_("draft")
STATUS_CONFIRMED = N_("confirmed")
STATUS_COMPLETED = N_("completed")
STATUS_CANCELLED = N_("cancelled")
STATE_PENDING = N_("pending")
STATE_PARTIALLY_PAID = N_("partially paid")
STATE_PAID = N_("paid")
STATE_OVERDUE = N_("overdue")

# -- report headings -----------------------------------------------------------------------
HEAD_SALES = N_("Sales")
HEAD_COLLECTED = N_("Collected")
HEAD_OUTSTANDING = N_("Outstanding")
HEAD_AGING = N_("Receivables aging")
HEAD_PERIOD = N_("Period")
HEAD_DEPARTMENT = N_("Department")
HEAD_REP = N_("Sales rep")
HEAD_CUSTOMER = N_("Customer")
HEAD_AMOUNT = N_("Amount")
HEAD_TOTAL = N_("Total")
HEAD_DUE_ON = N_("Due on")
HEAD_AMOUNT_LEFT = N_("Amount left")
BUCKET_CURRENT = N_("Current")
BUCKET_1_30 = N_("1–30 days")
BUCKET_31_60 = N_("31–60 days")
BUCKET_61_90 = N_("61–90 days")
BUCKET_OVER_90 = N_("Over 90 days")
HEAD_CUSTOMERS_BY_LEVEL = N_("Customers per level")
HEAD_LEVEL = N_("Level")
HEAD_CUSTOMERS = N_("Customers")
HEAD_OPEN_BY_STAGE = N_("Open opportunities per stage ({currency})")
HEAD_STAGE = N_("Stage")
HEAD_DEALS = N_("Deals")
HEAD_WEIGHTED = N_("Weighted")
HEAD_DUE_IN = N_("Installments due in {month}")
HEAD_PAID = N_("Paid")
HEAD_STATE = N_("State")
HEAD_AGING_IN = N_("Receivables aging on {day} ({currency}), largest first")
MORE_ROWS = N_("… and {count} more")
DUNNING_SUBJECT = N_("Collect {amount} from {customer} (due {due_on})")

# -- the sweep's to-dos --------------------------------------------------------------------
ESCALATION_SUBJECT = N_("Ticket “{subject}” missed its {target} deadline ({deadline})")
SLA_RESPONSE = N_("first response")
SLA_RESOLUTION = N_("resolution")
BIRTHDAY_SUBJECT = N_("Birthday of {name} ({customer})")
CARE_DAY_SUBJECT = N_("{name}: greet your customers")

# -- pipelines -----------------------------------------------------------------------------
#: Names of the built-in pipelines and their stages (plugins' names translate too when a
#: catalogue lists them).
PIPELINE_NAMES = (
    N_("B2B sales"),
    N_("Qualification"),
    N_("Needs analysis"),
    N_("Proposal"),
    N_("Negotiation"),
    N_("Eight-step sales process"),
    N_("Find prospect"),
    N_("Make appointment / visit"),
    N_("Build trust"),
    N_("Uncover needs"),
    N_("Discuss solution"),
    N_("Propose"),
    N_("Sign"),
    N_("Customer satisfied"),
    N_("Won"),
    N_("Lost"),
)

# -- rules -----------------------------------------------------------------------------------
ORDER_NOT_DRAFT = N_("order {order} is {status}: its {fields} can only change while it is a draft")
ORDER_STATUS_BY_METHOD = N_(
    "order {order}: the status changes only through confirm, complete and cancel"
)
ORDER_NEW_NOT_DRAFT = N_("a new order starts as a draft; confirm it afterwards")
ORDER_BAD_TRANSITION = N_("order {order} is {status} and cannot be {action}")
ORDER_EMPTY = N_("order {order} has no lines and cannot be confirmed")
ORDER_HAS_PAYMENTS = N_(
    "order {order} cannot be cancelled: {paid} has already been received; "
    "delete those payments first"
)
OPPORTUNITY_NOT_WON = N_(
    "opportunity {opportunity} is {status}: only a won opportunity becomes an order"
)
PRODUCT_NO_PRICE = N_(
    "product {product} has no catalogue price in {currency}; give the line a unit_price"
)
PRODUCT_INACTIVE = N_("product {product} is inactive and cannot be ordered")
PLAN_EXISTS = N_("order {order} already has payment plan {plan}; re-plan it instead")
PLAN_ORDER_CLOSED = N_("order {order} is {status}: it cannot be planned")
PLAN_NOTHING_LEFT = N_("payment plan {plan} is fully paid: nothing is left to re-plan")
PLAN_PAID_CHANGED = N_(
    "payment plan {plan} has payments: change its installments with replan, which keeps "
    "what was paid"
)
PAYMENT_OVERPAID = N_(
    "payment of {amount} exceeds what is left on installment {installment} ({left})"
)
PAYMENT_EXCEEDS_PLAN = N_(
    "payment of {amount} exceeds what is left on payment plan {plan} ({left})"
)
CONFIGURATION_IN_USE = N_(
    "{count} {entity} record(s) use {item}: change those records before taking it away"
)
