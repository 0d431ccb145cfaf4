"""Customers (客户): company accounts, with their parent groups."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Unpack

from pydantic import Field

from pycrm.core.access import Action
from pycrm.core.audit import ChangeAction
from pycrm.core.customers import ChurnState, Customer, CustomerStatus
from pycrm.errors import RuleViolation, ValidationError
from pycrm.schemas import CustomerFields, checked_call
from pycrm.services.auditing import audited
from pycrm.services.base import _as_id, _check_version
from pycrm.services.duplicates import Deduplicated
from pycrm.services.overview import CustomerOverview, overview
from pycrm.services.pools import assign_new

if TYPE_CHECKING:
    from pycrm.services.unit_of_work import UnitOfWork

__all__ = ["CustomerService"]


class CustomerService(Deduplicated[Customer]):
    """Customers (company accounts)."""

    entity = Customer
    fields = CustomerFields
    required = ("name",)

    def create(
        self, *, allow_duplicates: bool = False, **fields: Unpack[CustomerFields]
    ) -> Customer:
        """Create a customer; see :class:`pycrm.schemas.CustomerFields` for the fields.

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
        **changes: Unpack[CustomerFields],
    ) -> Customer:
        """Change some fields; pass ``version`` to refuse if someone changed it since."""
        return self._update(record_id, version, changes, allow_duplicates=allow_duplicates)

    # -- one call for everything -------------------------------------------------------
    @checked_call
    def overview(
        self, record_id: uuid.UUID | str, *, recent: Annotated[int, Field(ge=1, le=100)] = 20
    ) -> CustomerOverview:
        """The customer with its contacts, open deals, the ``recent`` latest orders and
        activities, what its payment plans still have to collect, its open tickets and a
        timeline merging them: a fixed number of queries however much hangs off it."""
        with self._step(read_only=True) as uow:
            customer = self._shown(uow, self._load(uow, _as_id(record_id)))
            return overview(uow, customer, recent)

    # -- hot customers ------------------------------------------------------------------
    @checked_call
    def mark_hot(
        self,
        record_id: uuid.UUID | str,
        *,
        days: Annotated[int, Field(ge=1, le=3650)] = 30,
        version: int | None = None,
    ) -> Customer:
        """Mark a customer hot (worked on hard) for ``days`` days from now: it stays out
        of public-pool recycling meanwhile, and ``hot_until`` passing ends it by itself
        (list the hot ones with ``list({"hot_until__gt": now})``)."""
        return self._lifecycle(
            record_id,
            version,
            lambda uow, c: setattr(c, "hot_until", uow.now() + dt.timedelta(days=days)),
        )

    @checked_call
    def unmark_hot(self, record_id: uuid.UUID | str, *, version: int | None = None) -> Customer:
        """End a customer's hotness now."""
        return self._lifecycle(record_id, version, lambda uow, c: setattr(c, "hot_until", None))

    # -- churn warnings -----------------------------------------------------------------
    @checked_call
    def postpone_churn(
        self,
        record_id: uuid.UUID | str,
        *,
        action: Annotated[str, Field(min_length=1, max_length=2000)],
        until: dt.date,
        version: int | None = None,
    ) -> Customer:
        """暂缓流失: the rep answers a churn warning with ``action`` (what they will do) and
        a date; the rules look at the customer again once ``until`` has passed."""

        def change(uow: UnitOfWork, customer: Customer) -> None:
            _warned(customer)
            if until <= uow.today():
                raise ValidationError.single("until", "give a date after today")
            customer.churn_state = ChurnState.POSTPONED
            customer.churn_action, customer.churn_until = action, until

        return self._lifecycle(record_id, version, change)

    @checked_call
    def confirm_churn(
        self,
        record_id: uuid.UUID | str,
        *,
        reason: Annotated[str, Field(min_length=1, max_length=2000)] | None = None,
        version: int | None = None,
    ) -> Customer:
        """确定流失: the customer is lost; its status becomes ``churned`` and the rules
        leave it alone."""

        def change(uow: UnitOfWork, customer: Customer) -> None:
            _warned(customer)
            customer.churn_state, customer.status = ChurnState.CONFIRMED, CustomerStatus.CHURNED
            customer.churn_action, customer.churn_until = reason, None

        return self._lifecycle(record_id, version, change)

    @checked_call
    def clear_churn(self, record_id: uuid.UUID | str, *, version: int | None = None) -> Customer:
        """Take a churn warning (or a postponement) away: the customer is fine again."""

        def change(uow: UnitOfWork, customer: Customer) -> None:
            if customer.churn_state is None:
                raise RuleViolation(
                    f"customer {customer.id} has no churn warning", rule="churn.none"
                )
            if customer.churn_state == ChurnState.CONFIRMED:
                customer.status = CustomerStatus.ACTIVE
            customer.churn_state = customer.churn_action = customer.churn_until = None
            customer.churn_reasons = customer.churn_flagged_at = None

        return self._lifecycle(record_id, version, change)

    def _lifecycle(
        self,
        record_id: uuid.UUID | str,
        version: int | None,
        change: Callable[[UnitOfWork, Customer], None],
    ) -> Customer:
        with self._step() as uow:
            customer = self._load(uow, _as_id(record_id), for_update=True)
            _check_version(customer, version)
            uow.access.require(Customer.kind, Action.EDIT, customer)
            before = audited(customer)
            change(uow, customer)
            return self._shown(uow, self._save(uow, customer, before, ChangeAction.UPDATE))

    def _before_insert(self, uow: UnitOfWork, records: Sequence[Customer]) -> None:
        super()._before_insert(uow, records)  # likely duplicates first
        assign_new(uow, "customer", records)
        for record in records:
            record.owned_since = record.created_at

    def _before_write(self, uow: UnitOfWork, record: Customer, old: Customer | None) -> None:
        super()._before_write(uow, record, old)
        if old is not None and record.owner_id != old.owner_id:
            # A transfer (or a pool move) puts it in new hands from now on.
            record.owned_since = uow.now()
            if record.owner_id is not None:
                record.pool = None


def _warned(customer: Customer) -> None:
    if customer.churn_state not in (ChurnState.WARNING, ChurnState.POSTPONED):
        raise RuleViolation(
            f"customer {customer.id} has no open churn warning (it is "
            f"{customer.churn_state or 'not flagged'})",
            rule="churn.not_warned",
        )
