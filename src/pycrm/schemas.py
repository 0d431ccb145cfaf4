"""Input validation at the edge: the fields each record accepts, checked with pydantic.

Inputs are ``TypedDict`` s, so ``uow.customers.create(nmae=...)`` is flagged by mypy before
it runs and rejected by pydantic when it does (unknown fields are forbidden). Any pydantic
error is re-raised as :class:`pycrm.ValidationError` naming each field and what is wrong.
Results are the domain entities themselves; :func:`view` turns one into a pydantic model
for JSON (``view(customer).model_dump(mode="json")``).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import typing
import uuid
from collections.abc import Callable
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, ParamSpec, Required, TypeVar

import attrs
import pydantic
from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    StringConstraints,
    TypeAdapter,
    with_config,
)
from typing_extensions import TypedDict

from pycrm.core.access import DataScope, ShareAccess
from pycrm.core.activities import ActivityKind
from pycrm.core.customers import (
    ContactRole,
    CustomerSource,
    CustomerStatus,
    CustomerType,
    LeadStatus,
)
from pycrm.core.introspect import unwrap
from pycrm.core.limits import (
    LONE_SURROGATE,
    MAX_INSTALLMENTS,
    NUL_CHARACTER,
    STORABLE_TEXT,
    check_decimal,
    check_int64,
)
from pycrm.core.money import Money, validate_currency
from pycrm.core.opportunities import OpportunityStatus
from pycrm.core.orders import OrderStatus
from pycrm.core.records import Record
from pycrm.core.snapshot import plain
from pycrm.core.tickets import TicketChannel, TicketPriority, TicketStatus, TicketType
from pycrm.errors import ValidationError, shown

__all__ = [
    "ActivityFields",
    "ContactFields",
    "CustomerFields",
    "DepartmentFields",
    "InstallmentFields",
    "LeadFields",
    "MoneyValue",
    "OpportunityFields",
    "OrderFields",
    "OrderLineFields",
    "PaymentFields",
    "PaymentPlanFields",
    "ProductFields",
    "ShareFields",
    "TicketFields",
    "UserFields",
    "UserRightFields",
    "Validator",
    "json_default",
    "jsonable",
    "page_model",
    "view",
    "view_model",
]

# -- field types ------------------------------------------------------------------------


def _currency(code: Any) -> str:
    try:
        return validate_currency(code)
    except ValidationError as error:
        raise ValueError("; ".join(reason for _, reason in error.errors)) from None


def _money(value: Any) -> Money:
    try:
        return Money.parse(value)
    except ValidationError as error:
        raise ValueError("; ".join(reason for _, reason in error.errors)) from None


def _choice(enum: type[Enum]) -> Callable[[Any], Any]:
    allowed = ", ".join(str(m.value) for m in enum)

    def check(value: Any) -> Any:
        try:
            return enum(value)
        except ValueError:
            raise ValueError(f"{shown(value)} is not one of: {allowed}") from None

    return check


#: Money, ``{"amount": "1.00", "currency": "CNY"}`` or ``"1.00 CNY"``.
MoneyInput = Annotated[
    Money | str | dict[str, str],
    PlainValidator(_money),
    PlainSerializer(lambda m: {"amount": str(m.amount), "currency": m.currency}),
]

#: Money as a pydantic field type (views, report rows, and a host application's own models:
#: ``price: MoneyValue``): accepts what ``Money.parse`` accepts, serialised as
#: ``{"amount": "1.00", "currency": "CNY"}``.
MoneyValue = Annotated[
    Money,
    PlainValidator(_money, json_schema_input_type=dict[str, str]),
    PlainSerializer(Money.to_dict, return_type=dict[str, str]),
]


def exact_number(value: Any) -> Decimal:
    """``value`` as an exact Decimal (ValueError if it is a float or not a number)."""
    if isinstance(value, bool | float) or not isinstance(value, Decimal | int | str):
        raise ValueError("use a Decimal, int or string, never a float")
    try:
        number = Decimal(value)
    except ArithmeticError:
        raise ValueError(f"{value!r} is not a number") from None
    return check_decimal(number)


#: An exact number: Decimal, int or numeric string (never a float), finite and of at most
#: :data:`pycrm.core.limits.MAX_DECIMAL_DIGITS` digits.
ExactNumber = Annotated[Decimal | int | str, PlainValidator(exact_number)]


# Every text input is text every backend stores (pycrm.core.limits.check_text); the pattern
# refuses NUL, pydantic itself refuses lone surrogates, and _reason says why in words.
Text = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=500, pattern=STORABLE_TEXT),
]
LongText = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=20_000, pattern=STORABLE_TEXT)
]
#: Text as given (not stripped, any length) that every backend stores: filter values.
PlainText = Annotated[str, StringConstraints(pattern=STORABLE_TEXT)]
#: A whole number every backend stores: signed 64-bit.
WholeNumber = Annotated[int, AfterValidator(check_int64)]


_SPACE = re.compile(r"\s")


def _email(value: str) -> str:
    local, at, domain = value.rpartition("@")
    if not at or not local or "." not in domain.strip(".") or _SPACE.search(value):
        raise ValueError(f"{value!r} is not an email address")
    return value


Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=254, pattern=STORABLE_TEXT),
    AfterValidator(_email),
]


def _utc(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("give a timezone-aware time (e.g. with tzinfo=datetime.UTC)")
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError(f"{moment} is out of range") from None


def _known_locale(name: str) -> str:
    from babel import Locale, UnknownLocaleError

    try:
        Locale.parse(name)
    except (ValueError, TypeError, UnknownLocaleError):
        raise ValueError(f"{name!r} is not a known locale (e.g. zh_CN, en_US, ja_JP)") from None
    return name


#: A babel locale name such as ``zh_CN``.
LocaleName = Annotated[str, AfterValidator(_known_locale)]

#: A moment in time: timezone-aware input, kept in UTC.
Timestamp = Annotated[dt.datetime, AfterValidator(_utc)]
Score = Annotated[int, Field(ge=1, le=5)]
Percent = Annotated[int, Field(ge=0, le=100)]
Currency = Annotated[str, PlainValidator(lambda code: _currency(code))]


def _enum_type(enum: type[Enum]) -> Any:
    return PlainValidator(_choice(enum))


Source = Annotated[CustomerSource | str, _enum_type(CustomerSource)]
CustomerKind = Annotated[CustomerType | str, _enum_type(CustomerType)]
CustomerState = Annotated[CustomerStatus | str, _enum_type(CustomerStatus)]
ContactPart = Annotated[ContactRole | str, _enum_type(ContactRole)]
LeadState = Annotated[LeadStatus | str, _enum_type(LeadStatus)]
OpportunityState = Annotated[OpportunityStatus | str, _enum_type(OpportunityStatus)]
OrderState = Annotated[OrderStatus | str, _enum_type(OrderStatus)]
#: A role, entity, action or other key: lower-case letters, digits, ``_`` (or ``"*"``).
Key = Annotated[str, StringConstraints(pattern=r"^(\*|[a-z][a-z0-9_]{0,62})$")]
Scope = Annotated[DataScope | str, _enum_type(DataScope)]
Access = Annotated[ShareAccess | str, _enum_type(ShareAccess)]
TicketKind = Annotated[TicketType | str, _enum_type(TicketType)]
Channel = Annotated[TicketChannel | str, _enum_type(TicketChannel)]
Priority = Annotated[TicketPriority | str, _enum_type(TicketPriority)]
TicketState = Annotated[TicketStatus | str, _enum_type(TicketStatus)]
ActivityType = Annotated[ActivityKind | str, _enum_type(ActivityKind)]

_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)

# -- inputs -----------------------------------------------------------------------------


@with_config(_STRICT)
class _Common(TypedDict, total=False):
    owner_id: uuid.UUID | None
    custom: dict[str, Any]


@with_config(_STRICT)
class DepartmentFields(_Common, total=False):
    name: Text
    parent_id: uuid.UUID | None
    manager_id: uuid.UUID | None


@with_config(_STRICT)
class UserRightFields(TypedDict, total=False):
    """An exception to a user's roles: ``entity`` (a kind, or ``"*"``), ``action``,
    ``scope`` (for a grant) and ``allow`` (False takes the action away)."""

    entity: Required[Key]
    action: Required[Key]
    scope: Scope
    allow: bool


@with_config(_STRICT)
class UserFields(_Common, total=False):
    """A user: ``name``; ``email``; ``department_id``; ``manager_id`` (their direct
    superior); ``roles`` (keys of registered roles, ``["sales_rep"]`` by default);
    ``rights`` (their own exceptions, :class:`UserRightFields`); ``active``."""

    name: Text
    email: Email | None
    department_id: uuid.UUID | None
    manager_id: uuid.UUID | None
    roles: list[Key]
    rights: list[UserRightFields]
    active: bool


@with_config(_STRICT)
class ShareFields(_Common, total=False):
    """A share: the record (``entity`` kind and ``record_id``), who it is opened to
    (``user_id`` or ``department_id``), ``access`` (``"view"`` or ``"edit"``) and an
    optional ``expires_at``."""

    entity: Key
    record_id: uuid.UUID
    user_id: uuid.UUID | None
    department_id: uuid.UUID | None
    access: Access
    expires_at: Timestamp | None


@with_config(_STRICT)
class CustomerFields(_Common, total=False):
    external_id: Text | None
    name: Text
    industry: Text | None
    source: Source | None
    level: Text | None
    type: CustomerKind
    status: CustomerState
    credit_rating: Text | None
    region: Text | None
    address: Text | None
    phone: Text | None
    website: Text | None
    email: Email | None
    parent_id: uuid.UUID | None
    tags: list[Text]
    hot_until: Timestamp | None


@with_config(_STRICT)
class ContactFields(_Common, total=False):
    external_id: Text | None
    customer_id: uuid.UUID
    name: Text
    title: Text | None
    department: Text | None
    phone: Text | None
    mobile: Text | None
    email: Email | None
    birthday: dt.date | None
    role: ContactPart | None
    closeness: Score | None
    influence: Score | None
    preferences: LongText | None


@with_config(_STRICT)
class LeadFields(_Common, total=False):
    external_id: Text | None
    name: Text
    company: Text | None
    title: Text | None
    phone: Text | None
    email: Email | None
    source: Source | None
    status: LeadState
    notes: LongText | None


@with_config(_STRICT)
class OpportunityFields(_Common, total=False):
    external_id: Text | None
    customer_id: uuid.UUID
    name: Text
    pipeline: Text
    stage: Text
    amount: MoneyInput | None
    probability: Percent | None
    expected_close: dt.date | None
    product_line: Text | None
    importance: Text | None
    lost_reason: Text | None


@with_config(_STRICT)
class ProductFields(_Common, total=False):
    external_id: Text | None
    name: Text
    code: Text | None
    category: Text | None
    unit: Text | None
    price: MoneyInput | None
    prices: list[MoneyInput]
    active: bool


@with_config(_STRICT)
class OrderLineFields(TypedDict, total=False):
    # A line may take its description and price from its product, never its quantity.
    description: Text
    quantity: Required[ExactNumber]
    unit_price: MoneyInput
    discount: ExactNumber
    product_id: uuid.UUID | None


@with_config(_STRICT)
class OrderFields(_Common, total=False):
    customer_id: uuid.UUID
    currency: Currency
    number: Text | None
    opportunity_id: uuid.UUID | None
    status: OrderState
    signed_on: dt.date | None
    starts_on: dt.date | None
    ends_on: dt.date | None
    lines: list[OrderLineFields]


@with_config(_STRICT)
class InstallmentFields(TypedDict, total=False):
    due_on: Required[dt.date]
    amount: Required[MoneyInput]
    paid: MoneyInput


@with_config(_STRICT)
class PaymentPlanFields(_Common, total=False):
    order_id: uuid.UUID
    customer_id: uuid.UUID
    total: MoneyInput
    installments: Annotated[list[InstallmentFields], Field(max_length=MAX_INSTALLMENTS)]


@with_config(_STRICT)
class PaymentFields(_Common, total=False):
    plan_id: uuid.UUID
    installment_id: uuid.UUID
    amount: MoneyInput
    received_on: dt.date
    method: Text | None
    reference: Text | None


@with_config(_STRICT)
class TicketFields(_Common, total=False):
    customer_id: uuid.UUID
    subject: Text
    contact_id: uuid.UUID | None
    description: LongText | None
    type: TicketKind
    channel: Channel
    priority: Priority
    status: TicketState
    assignee_id: uuid.UUID | None
    due_at: Timestamp | None
    resolution: LongText | None
    satisfaction: Score | None
    satisfaction_comment: LongText | None
    fee: MoneyInput | None
    order_id: uuid.UUID | None
    fee_line: Annotated[int, Field(ge=1, le=10_000)] | None


@with_config(_STRICT)
class ActivityFields(_Common, total=False):
    type: ActivityType
    subject: Text
    notes: LongText | None
    due_at: Timestamp | None
    remind_at: Timestamp | None
    done: bool
    result: LongText | None
    customer_id: uuid.UUID | None
    contact_id: uuid.UUID | None
    opportunity_id: uuid.UUID | None
    order_id: uuid.UUID | None
    ticket_id: uuid.UUID | None


#: What each input describes: the first line of its help(); the fields follow it.
_SUMMARIES = {
    DepartmentFields: "A department of the organisation tree.",
    UserFields: None,
    UserRightFields: None,
    ShareFields: None,
    CustomerFields: "A customer (an account): a company or a person the tenant sells to.",
    ContactFields: "A contact: a person at a customer (``customer_id`` is required).",
    LeadFields: "A lead: a prospect not yet qualified into a customer and a deal.",
    OpportunityFields: "A deal in a pipeline; ``amount`` is money (``Money`` or "
    '``"12000.00 CNY"``), ``probability`` a percent (the stage\'s when not given).',
    ProductFields: "A product of the catalogue, with a price per currency.",
    OrderLineFields: "One line of an order: ``quantity`` is required; the description and "
    "price come from ``product_id`` when not given.",
    OrderFields: "An order (a contract) of a customer; its total is the sum of its lines.",
    InstallmentFields: "One installment of a payment plan: when it is due and how much.",
    PaymentPlanFields: "A payment plan of an order: installments adding up to ``total``.",
    PaymentFields: "A payment received against one installment of a plan.",
    TicketFields: "A service ticket of a customer.",
    ActivityFields: "A call, meeting, visit, email or task, linked to any records.",
}


_WORDS = {
    "Text": "text",
    "LongText": "long text",
    "MoneyInput": 'money (Money or "12000.00 CNY")',
    "ExactNumber": "exact number (Decimal, int or numeric text)",
    "Email": "email address",
    "Timestamp": "datetime with a time zone",
    "Score": "integer 1-5",
    "Percent": "integer 0-100",
    "Currency": "currency code (ISO 4217)",
    "Key": "key",
    "uuid.UUID": "id",
    "dt.date": "date",
    "bool": "true or false",
    "dict[str, Any]": "custom field values by key",
}


def _word(annotation: str) -> str:
    """A field's annotation in words: ``Text | None`` -> ``text, or None``."""
    annotation = annotation.removeprefix("Required[").removesuffix(
        "]" * annotation.count("Required[")
    )
    if annotation.endswith(" | None"):
        return _word(annotation.removesuffix(" | None")) + ", or None"
    if annotation.startswith("list[") and annotation.endswith("]"):
        return f"list of {_word(annotation[5:-1])}"
    if annotation in _WORDS:
        return _WORDS[annotation]
    parts = typing.get_args(globals().get(annotation)) or (None,)  # an alias: (base, *meta)
    choices = [a for a in typing.get_args(parts[0]) if isinstance(a, type) and issubclass(a, Enum)]
    if choices:
        return "one of " + ", ".join(str(e.value) for e in choices[0]) + " (or a plugin's)"
    return annotation  # another input (OrderLineFields…), named as it is


def _describe(typed: Any, summary: str | None) -> str:
    """A TypedDict's docstring: its summary, then every field in words, so that
    ``help(pycrm.schemas.CustomerFields)`` answers "what may I pass"."""
    lines = []
    for name, kind in typed.__annotations__.items():
        # Annotations are strings here (postponed), so Required[...] is read from the text.
        text = getattr(kind, "__forward_arg__", str(kind))
        marked = " (required)" if text.startswith("Required[") else ""
        lines.append(f"    {name}: {_word(text)}{marked}")
    head = summary if summary is not None else (typed.__doc__ or "").strip()
    return f"{head}\n\nFields (each optional unless marked required):\n" + "\n".join(lines)


for _typed, _summary in _SUMMARIES.items():
    _typed.__doc__ = _describe(_typed, _summary)


# -- validation -------------------------------------------------------------------------
P = ParamSpec("P")
T = TypeVar("T")


def checked_call(func: Callable[P, T]) -> Callable[P, T]:
    """Validate (and convert) a public method's arguments against its annotations; a bad
    argument is a :class:`pycrm.ValidationError` naming it, raised before any work.

    The validator is built on the first call, once the module defining ``func`` is whole.
    """
    built: list[Callable[..., T]] = []

    @functools.wraps(func)
    def call(*args: P.args, **kwargs: P.kwargs) -> T:
        if not built:
            config = ConfigDict(arbitrary_types_allowed=True)
            built.append(pydantic.validate_call(config=config)(func))
        try:
            return built[0](*args, **kwargs)
        except pydantic.ValidationError as exc:
            if exc.title not in (func.__name__, func.__qualname__):  # raised inside, not by
                raise  # the arguments: not the caller's mistake
            raise ValidationError(errors_of(exc)) from None

    return call


def _path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)


def _reason(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown field"
    if error["type"] == "missing":
        return "required"
    if error["type"] == "string_unicode":
        return LONE_SURROGATE
    if error["type"] == "string_pattern_mismatch" and error["ctx"]["pattern"] == STORABLE_TEXT:
        return NUL_CHARACTER
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def errors_of(exc: pydantic.ValidationError) -> list[tuple[str, str]]:
    """pydantic's errors as ``(field path, reason)`` pairs."""
    return [(_path(e["loc"]), _reason(e)) for e in exc.errors(include_url=False)]


class Validator:
    """Validates input for one kind of record, one at a time or a whole batch at once."""

    def __init__(self, fields: type[Any], required: tuple[str, ...], entity: str) -> None:
        self.entity = entity
        self.required = required
        self.names = frozenset(fields.__annotations__) | frozenset(
            k for base in fields.__mro__ for k in getattr(base, "__annotations__", {})
        )
        self._one: TypeAdapter[Any] = TypeAdapter(fields)
        self._many: TypeAdapter[list[Any]] = TypeAdapter(list[fields])  # type: ignore[valid-type]

    def one(self, data: Any, *, partial: bool = False) -> dict[str, Any]:
        """Validate one record's input (``partial``: only the fields given, as for an update)."""
        try:
            clean: dict[str, Any] = self._one.validate_python(data)
        except pydantic.ValidationError as exc:
            missing = [] if partial else self._missing(data)
            raise ValidationError(_merge(errors_of(exc), missing), entity=self.entity) from None
        if not partial and (missing := self._missing(clean)):
            raise ValidationError(missing, entity=self.entity)
        return clean

    def many(self, rows: list[Any]) -> list[dict[str, Any]]:
        """Validate a batch; errors name the row (``3.name``); nothing passes if any fails."""
        errors: list[tuple[str, str]] = []
        try:
            clean: list[dict[str, Any]] = self._many.validate_python(rows)
        except pydantic.ValidationError as exc:
            errors = errors_of(exc)
            clean = []
        missing = [
            (f"{i}.{path}", why)
            for i, row in enumerate(rows)
            if isinstance(row, dict)
            for path, why in self._missing(row)
        ]
        errors = _merge(errors, missing)
        if errors:
            raise ValidationError(sorted(errors, key=_row_order), entity=self.entity)
        return clean

    def _missing(self, data: Any) -> list[tuple[str, str]]:
        if not isinstance(data, dict):
            return []
        return [(name, "required") for name in self.required if data.get(name) is None]


def _merge(errors: list[tuple[str, str]], missing: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Type errors and missing fields together; an empty required field is just "required"."""
    gone = {path for path, _ in missing}
    return [e for e in errors if e[0] not in gone] + missing


def _row_order(error: tuple[str, str]) -> tuple[int, str]:
    head, _, rest = error[0].partition(".")
    return (int(head), rest) if head.isdigit() else (-1, error[0])


# -- views ------------------------------------------------------------------------------


def _view_type(tp: Any) -> Any:
    if tp is Money:  # an attrs class too, but shown as {"amount", "currency"}
        return MoneyValue
    if attrs.has(tp):
        return view_model(tp)
    args = getattr(tp, "__args__", None)
    if args and getattr(tp, "__origin__", None) is list:
        return list[_view_type(args[0])]  # type: ignore[misc]
    return tp


_VIEWS: dict[type[Any], type[pydantic.BaseModel]] = {}


def view_model(cls: type[Any]) -> type[pydantic.BaseModel]:
    """The response model of an entity class: a frozen pydantic model with its fields,
    built once per class (``view_model(pycrm.Customer)`` is ``CustomerView``).

    A web route declares it (FastAPI: ``response_model=view_model(Customer)``) and returns
    the entity itself: the model reads its attributes, shows money as
    ``{"amount": "1.00", "currency": "CNY"}`` and custom values JSON-ready.
    """
    if cls in _VIEWS:
        return _VIEWS[cls]
    if not attrs.has(cls):
        raise TypeError(f"{cls!r} is not a pycrm entity class")
    fields: dict[str, Any] = {}
    for f in attrs.fields(cls):
        tp, optional = unwrap(f.type)
        tp = _view_type(tp)
        if f.name == "custom":
            tp = Annotated[tp, BeforeValidator(plain)]
        fields[f.name] = (tp | None if optional else tp, ...)
    config = ConfigDict(frozen=True, arbitrary_types_allowed=True, from_attributes=True)
    model = pydantic.create_model(f"{cls.__name__}View", __config__=config, **fields)
    model.__doc__ = f"{cls.__name__} as a web API returns it."
    _VIEWS[cls] = model
    return model


_PAGES: dict[type[Any], type[pydantic.BaseModel]] = {}


def page_model(cls: type[Any]) -> type[pydantic.BaseModel]:
    """The response model of one page of ``cls`` records: ``items`` (each as
    :func:`view_model` shows it) and ``next_cursor`` (``after=`` of the next page)."""
    if cls not in _PAGES:
        item = view_model(cls)
        config = ConfigDict(frozen=True, from_attributes=True)
        _PAGES[cls] = pydantic.create_model(
            f"{cls.__name__}Page",
            __config__=config,
            items=(list[item], ...),  # type: ignore[valid-type]
            next_cursor=(str | None, ...),
        )
    return _PAGES[cls]


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON data (dicts, lists, strings, numbers): entities, pages,
    money (``{"amount": "1.00", "currency": "CNY"}``), report rows, ids, dates, decimals
    (as strings, so no amount becomes an inexact float)."""
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump(mode="json")
    items = getattr(value, "items", None)
    if isinstance(items, list) and hasattr(value, "next_cursor"):  # a Page
        return {"items": [jsonable(i) for i in items], "next_cursor": value.next_cursor}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if attrs.has(type(value)) and not isinstance(value, Money):
        return view(value).model_dump(mode="json")  # as its response model shows it
    return plain(value)


def json_default(value: Any) -> Any:
    """For ``json.dumps(data, default=pycrm.json_default)``: what the standard library
    cannot write itself, as :func:`jsonable` shows it."""
    try:
        return jsonable(value)
    except TypeError:
        raise TypeError(f"{type(value).__name__} is not JSON serialisable") from None


def view(record: Record | Any) -> pydantic.BaseModel:
    """A pydantic view of an entity, ready for ``.model_dump(mode="json")``."""
    model = view_model(type(record))
    data = {f.name: _view_value(getattr(record, f.name)) for f in attrs.fields(type(record))}
    if isinstance(data.get("custom"), dict):
        # Custom values are typed (Money, Decimal, dates): a view shows them JSON-ready.
        data["custom"] = plain(data["custom"])
    return model.model_validate(data)


def _view_value(value: Any) -> Any:
    if attrs.has(type(value)) and not isinstance(value, Money):
        return {f.name: _view_value(getattr(value, f.name)) for f in attrs.fields(type(value))}
    if isinstance(value, list):
        return [_view_value(v) for v in value]
    return value
