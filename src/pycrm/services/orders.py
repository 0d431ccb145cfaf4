"""Orders (订单/合同): lines priced from the catalogue, and the draft → confirmed →
completed (or cancelled) workflow, which the order itself enforces."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Unpack

import attrs
from pydantic import BaseModel, ConfigDict

from pycrm.core import messages as msg
from pycrm.core.access import Action
from pycrm.core.audit import ChangeAction
from pycrm.core.events import Event
from pycrm.core.money import Money, validate_currency
from pycrm.core.opportunities import OpportunityStatus
from pycrm.core.orders import Order, OrderStatus, Product, line_problems
from pycrm.errors import ValidationError
from pycrm.schemas import (
    LongText,
    MoneyValue,
    OrderFields,
    OrderLineFields,
    checked_call,
    exact_number,
)
from pycrm.services.auditing import audited
from pycrm.services.base import RecordService, _as_id, _check_version
from pycrm.services.configuration import next_numbers
from pycrm.services.payment_plans import plans_of
from pycrm.storage.capabilities.configuration import numbering

if TYPE_CHECKING:
    from pycrm.services.unit_of_work import UnitOfWork

__all__ = ["OrderBalance", "OrderService"]


class OrderService(RecordService[Order]):
    """Orders and their lines; the total is derived.

    The status moves only through :meth:`confirm`, :meth:`complete` and :meth:`cancel`;
    lines, currency and customer change only while the order is a draft. A line with a
    ``product_id`` and no ``unit_price`` takes the product's catalogue price in the order's
    currency when it is written; the line keeps that price, so later catalogue changes do
    not touch the order, and confirming freezes the lines altogether.
    """

    entity = Order
    fields = OrderFields
    required = ("customer_id", "currency")

    def create(self, **fields: Unpack[OrderFields]) -> Order:
        """Create a draft order; see :class:`pycrm.schemas.OrderFields` for the fields."""
        return self._create(fields)

    @checked_call
    def create_from_opportunity(
        self, opportunity_id: uuid.UUID | str, /, **fields: Unpack[OrderFields]
    ) -> Order:
        """A draft order for a won opportunity: its customer, currency and owner carry over
        (any of them can be given to override) and ``opportunity_id`` links back. Without
        ``lines`` the order has one line for the opportunity's amount. An open or lost
        opportunity is refused (RuleViolation)."""
        with self._step() as uow:
            deal = uow.opportunities.get(opportunity_id)
            if deal.status is not OpportunityStatus.WON:
                raise msg.violation(
                    msg.OPPORTUNITY_NOT_WON,
                    rule="order.opportunity_not_won",
                    opportunity=deal.id,
                    status=deal.status.value,
                )
            amount = deal.amount
            given: dict[str, Any] = {
                "customer_id": deal.customer_id,
                "currency": amount.currency if amount else uow.config.reporting_currency,
                "owner_id": deal.owner_id,
                "lines": [] if amount is None else [_line(deal.name, amount)],
                **fields,
                "opportunity_id": deal.id,
            }
            return uow.orders._create(given)

    def update(
        self,
        record_id: uuid.UUID | str,
        *,
        version: int | None = None,
        **changes: Unpack[OrderFields],
    ) -> Order:
        """Change some fields; pass ``version`` to refuse if someone changed it since."""
        return self._update(record_id, version, changes)

    # -- workflow -------------------------------------------------------------------------
    @checked_call
    def confirm(
        self, order_id: uuid.UUID | str, *, on: dt.date | None = None, version: int | None = None
    ) -> Order:
        """draft → confirmed on business day ``on`` (default today); an order without lines
        is refused. ``confirmed_on`` is the day the sale counts on: sales reports add it to
        that day and convert it at that day's exchange rate, so an order entered late is
        confirmed with the day it was really agreed."""
        return self._transition(
            order_id, version, lambda o, u: o.confirm(on or _today(u), **_how(u))
        )

    @checked_call
    def complete(
        self, order_id: uuid.UUID | str, *, on: dt.date | None = None, version: int | None = None
    ) -> Order:
        """confirmed → completed on business day ``on`` (default today)."""
        return self._transition(
            order_id, version, lambda o, u: o.complete(on or _today(u), **_how(u))
        )

    @checked_call
    def balance(self, order_id: uuid.UUID | str) -> OrderBalance:
        """What an order is worth and what is still owed on it: its total, in its currency
        and in the reporting currency (at the rate of the day it was confirmed, or today),
        paid and outstanding (from its payment plan; the whole total when it has none)."""
        with self._step(read_only=True) as uow:
            order = self._shown(uow, self._load(uow, _as_id(order_id)))
            assert order.total is not None
            plans = plans_of(uow, order.id)
            paid = Money.total((p.paid for p in plans), order.currency)
            day = order.confirmed_on or _today(uow)
            reporting = uow.config.reporting_currency
            return OrderBalance(
                order_id=order.id,
                total=order.total,
                paid=paid,
                outstanding=order.total - paid,
                planned=bool(plans),
                on=day,
                total_reporting=order.total.convert(reporting, uow.config.exchange_rates, day),
            )

    @checked_call
    def cancel(
        self,
        order_id: uuid.UUID | str,
        *,
        reason: LongText | None = None,
        version: int | None = None,
    ) -> Order:
        """draft or confirmed → cancelled. Refused once any payment was received; the
        order's payment plans are deleted with it (restorable) so nothing stays due."""

        def cancel(order: Order, uow: UnitOfWork) -> Event:
            plans = plans_of(uow, order.id)
            paid = Money.total((p.paid for p in plans), order.currency) if plans else None
            if paid is not None and paid.is_positive():
                raise msg.violation(
                    msg.ORDER_HAS_PAYMENTS, rule="order.has_payments", order=order.id, paid=paid
                )
            event = order.cancel(_today(uow), reason, **_how(uow))
            for plan in plans:
                uow.payment_plans.delete(plan.id)
            return event

        return self._transition(order_id, version, cancel)

    def _transition(
        self,
        order_id: uuid.UUID | str,
        version: int | None,
        change: Callable[[Order, UnitOfWork], Event],
    ) -> Order:
        with self._step() as uow:
            order = self._load(uow, _as_id(order_id), for_update=True)
            _check_version(order, version)
            uow.access.require(Order.kind, Action.EDIT, order)
            before = audited(order)
            event = change(order, uow)
            saved = self._save(uow, order, before, ChangeAction.UPDATE)
            if uow.wants_events:
                uow.emit(event)
            return saved

    # -- rules ----------------------------------------------------------------------------
    def _clean(
        self, uow: UnitOfWork, fields: Mapping[str, Any], *, partial: bool = False
    ) -> dict[str, Any]:
        try:
            return super()._clean(uow, fields, partial=partial)
        except ValidationError as error:
            raise _with_line_problems(error, fields) from None

    def _prepare(
        self, uow: UnitOfWork, clean: dict[str, Any], record: Order | None
    ) -> dict[str, Any]:
        if "lines" in clean:
            currency = clean.get("currency") or (record.currency if record else None)
            clean = {**clean, "lines": _priced_lines(uow, clean["lines"], currency)}
        if record is not None:
            # Workflow rules come before field checks: "confirmed, use a draft" is the
            # useful answer, not "the lines are not in the new currency".
            attrs.evolve(record, **self._values(clean)).check_edit(record)
        return clean

    def _before_insert(self, uow: UnitOfWork, records: Sequence[Order]) -> None:
        """Number new orders without a number from the tenant's ``order`` sequence (one
        reservation for the whole batch), when it has one and the storage keeps counters."""
        unnumbered = [r for r in records if r.number is None]
        if not unnumbered or "order" not in uow.config.sequences or numbering(uow.tx) is None:
            return
        for record, number in zip(
            unnumbered, next_numbers(uow, "order", len(unnumbered), None), strict=True
        ):
            record.number = number

    def _before_write(self, uow: UnitOfWork, record: Order, old: Order | None) -> None:
        if old is None:
            if record.status is not OrderStatus.DRAFT:
                raise msg.violation(msg.ORDER_NEW_NOT_DRAFT, rule="order.new_not_draft")
            return
        record.check_edit(old)
        if (record.owner_id, record.customer_id) != (old.owner_id, old.customer_id):
            for plan in plans_of(uow, record.id):
                uow.payment_plans._follow_order(uow, plan, record)


class OrderBalance(BaseModel):
    """An order's total and what is owed on it (:meth:`OrderService.balance`)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    order_id: uuid.UUID
    total: MoneyValue
    paid: MoneyValue
    outstanding: MoneyValue
    planned: bool
    on: dt.date
    total_reporting: MoneyValue


def _today(uow: UnitOfWork) -> dt.date:
    return uow.today()


def _how(uow: UnitOfWork) -> dict[str, Any]:
    """When and by whom a workflow step happens."""
    return {"at": uow.now(), "by": uow.user}


def _line(description: str, amount: Money) -> OrderLineFields:
    return {"description": description, "quantity": 1, "unit_price": amount}


def _priced_lines(
    uow: UnitOfWork, lines: list[dict[str, Any]], currency: str | None
) -> list[dict[str, Any]]:
    """The lines with their catalogue prices; when one cannot be priced, every problem of
    every line is reported at once (a missing price never hides a bad quantity)."""
    priced, errors = [], []
    for i, line in enumerate(lines):
        try:
            priced.append(_priced(uow, line, currency, i))
        except ValidationError as error:
            errors += error.errors
    if errors:
        for i, line in enumerate(lines):
            seen = line_problems(
                line.get("quantity"), line.get("unit_price"), line.get("discount"), currency
            )
            errors += [(f"lines.{i}.{path}", why) for path, why in seen]
        raise ValidationError(_by_line(errors), entity="order")
    return priced


def _with_line_problems(error: ValidationError, fields: Mapping[str, Any]) -> ValidationError:
    """``error`` (the schema's) with what is wrong with the line values that did parse:
    an unreadable unit price must not hide a negative quantity on the same line."""
    lines = fields.get("lines")
    if not isinstance(lines, list | tuple):
        return error
    reported = {path for path, _ in error.errors}
    currency = _parsed(validate_currency, fields.get("currency"))
    extra = []
    for i, line in enumerate(lines):
        if not isinstance(line, Mapping):
            continue
        seen = line_problems(
            _parsed(exact_number, line.get("quantity")),
            _parsed(Money.parse, line.get("unit_price")),
            _parsed(exact_number, line.get("discount")),
            currency,
        )
        extra += [(p, why) for path, why in seen if (p := f"lines.{i}.{path}") not in reported]
    if not extra:
        return error
    return ValidationError(_by_line([*error.errors, *extra]), entity=error.entity)


def _parsed(parse: Callable[[Any], Any], value: Any) -> Any:
    """``parse(value)``, or None when there is no value or it does not parse."""
    if value is None:
        return None
    try:
        return parse(value)
    except (ValueError, TypeError, ArithmeticError):
        return None


def _by_line(errors: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The order's own fields first, then each line's problems together, in line order."""

    def line(error: tuple[str, str]) -> int:
        parts = error[0].split(".")
        return int(parts[1]) if parts[0] == "lines" and parts[1:2] and parts[1].isdigit() else -1

    return sorted(errors, key=line)


def _priced(uow: UnitOfWork, line: dict[str, Any], currency: str | None, i: int) -> dict[str, Any]:
    """A line with its catalogue price (and name) filled in from its product."""
    if line.get("unit_price") is not None and line.get("description"):
        return line
    product_id = line.get("product_id")
    if product_id is None:
        missing = [n for n in ("description", "unit_price") if line.get(n) is None]
        raise ValidationError([(f"lines.{i}.{n}", "required") for n in missing], entity="order")
    product = uow.tx.get(Product, uow.scope, product_id)
    if product is None or product.deleted:
        raise ValidationError.single(
            f"lines.{i}.product_id", f"no product {product_id} in this tenant", entity="order"
        )
    filled = dict(line)
    if not filled.get("description"):
        filled["description"] = product.name
    if filled.get("unit_price") is None:
        if not product.active:
            raise msg.violation(
                msg.PRODUCT_INACTIVE, rule="order.product_inactive", product=product.name
            )
        price = product.price_in(currency) if currency else None
        if price is None:
            raise msg.violation(
                msg.PRODUCT_NO_PRICE,
                rule="order.no_catalogue_price",
                product=product.name,
                currency=currency,
            )
        filled["unit_price"] = price
    return filled
