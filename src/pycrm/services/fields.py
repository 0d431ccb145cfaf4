"""``crm.fields``: the custom field definitions of one CRM, and a check of stored values."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pycrm.core.fields import FieldDefinition, FieldProblem, FieldRegistry, FieldType
from pycrm.core.kinds import kind_of
from pycrm.core.records import SYSTEM_USER
from pycrm.errors import ValidationError
from pycrm.schemas import checked_call
from pycrm.storage.base import Query

if TYPE_CHECKING:
    from pycrm.crm import CRM

__all__ = ["CustomFields", "checked_definition"]

#: Records read per batch when checking stored values.
_CHECK_BATCH = 1000


class CustomFields(FieldRegistry):
    """The custom fields of one CRM: those plugins register, plus those defined at runtime.

    >>> import pycrm
    >>> crm = pycrm.CRM.connect("memory://", load_entry_points=False)
    >>> crm.fields.define("customer", "tier", "integer", label="Tier", minimum=1).path
    'custom.tier'
    """

    def __init__(self, crm: CRM, definitions: list[FieldDefinition]) -> None:
        #: Raised by every change, so tenants' configurations built on these see it.
        self.generation = 0
        super().__init__(definitions)
        self._crm = crm

    def add(self, definition: FieldDefinition) -> FieldDefinition:
        """Add or replace a definition every tenant starts from (stored values are never
        changed); a tenant adds its own with ``uow.configuration.define_field(...)``."""
        added = super().add(definition)
        self.generation += 1
        return added

    def remove(self, entity: str, key: str) -> FieldDefinition:
        """Remove a definition every tenant starts from (stored values stay)."""
        removed = super().remove(entity, key)
        self.generation += 1
        return removed

    @checked_call
    def define(
        self,
        entity: str,
        key: str,
        type: FieldType | str,
        *,
        label: str | Mapping[str, str],
        required: bool = False,
        default: Any = None,
        choices: Sequence[str] = (),
        minimum: Any = None,
        maximum: Any = None,
        pattern: str | None = None,
        target: str | None = None,
    ) -> FieldDefinition:
        """Add a custom field to ``entity``, or replace its definition.

        Stored values are never changed: values the new definition does not accept stay
        as stored, and :meth:`check` lists them.
        """
        definition = checked_definition(
            entity, key, type, label=label, required=required, default=default,
            choices=choices, minimum=minimum, maximum=maximum, pattern=pattern, target=target,
        )  # fmt: skip
        return self.add(definition)

    @checked_call
    def check(self, entity: str, *, tenant: str | None = None) -> list[FieldProblem]:
        """Stored custom values of ``entity`` records the tenant's current definitions
        reject.

        Reports values that no longer validate and values of keys with no definition
        (deleted records included), reading the records in batches.
        """
        try:
            cls = kind_of(entity)
        except LookupError:
            raise ValidationError.single(
                "entity", f"no kind of record is called {entity!r}"
            ) from None
        problems: list[FieldProblem] = []
        after: tuple[Any, ...] | None = None
        with self._crm.unit_of_work(tenant=tenant, user=SYSTEM_USER) as uow:
            while True:
                query = Query(limit=_CHECK_BATCH, after=after, deleted=None)
                batch = uow.tx.find(cls, uow.scope, query)
                for record in batch:
                    problems += _problems(uow.config.fields, entity, record.id, record.custom)
                if len(batch) < _CHECK_BATCH:
                    return problems
                after = (batch[-1].id,)


def _problems(
    fields: FieldRegistry, entity: str, record_id: Any, stored: Mapping[str, Any]
) -> list[FieldProblem]:
    found = []
    for key, value in stored.items():
        definition = fields.get(entity, key)
        reason = None
        if definition is None:
            reason = "no custom field has this key any more"
        else:
            try:
                definition.check(value)
            except ValueError as error:
                reason = str(error)
        if reason is not None:
            found.append(
                FieldProblem(
                    entity=entity,
                    record_id=record_id,
                    path=f"custom.{key}",
                    value=value,
                    reason=reason,
                )
            )
    for definition in fields.of(entity):
        if definition.required and stored.get(definition.key) in (None, []):
            found.append(
                FieldProblem(
                    entity=entity,
                    record_id=record_id,
                    path=definition.path,
                    value=None,
                    reason="is required",
                )
            )
    return found


def checked_definition(
    entity: str,
    key: str,
    type: FieldType | str,
    *,
    label: str | Mapping[str, str],
    required: bool = False,
    default: Any = None,
    choices: Sequence[str] = (),
    minimum: Any = None,
    maximum: Any = None,
    pattern: str | None = None,
    target: str | None = None,
) -> FieldDefinition:
    """A field definition from a caller's arguments; a ValidationError says what is wrong
    (shared by ``crm.fields.define`` and ``uow.configuration.define_field``)."""
    try:
        kind = FieldType(type)
    except ValueError:
        kinds = ", ".join(t.value for t in FieldType)
        raise ValidationError.single("type", f"{type!r} is not one of: {kinds}") from None
    try:
        if minimum is not None and maximum is not None and minimum > maximum:
            raise ValueError("minimum is larger than maximum")
        return FieldDefinition(
            entity=entity, key=key, type=kind, label=label, required=required, default=default,
            choices=choices, minimum=minimum, maximum=maximum, pattern=pattern, target=target,
        )  # fmt: skip
    except (TypeError, ValueError) as error:  # ConfigurationError is a ValueError
        raise ValidationError.single(f"{entity}.{key}", str(error)) from None
