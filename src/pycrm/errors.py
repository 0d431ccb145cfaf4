"""The exceptions pycrm raises.

Every error pycrm raises on purpose is a :class:`CRMError`, so a host application can map
the whole family with one ``except`` clause::

    CRMError
     ├ ConfigurationError (also ValueError)   bad settings, unknown URL scheme, old schema
     │  └ ExchangeRateMissing                 no rate for a currency pair on a date
     ├ ValidationError    (also ValueError)   .errors: [(field path, reason)]
     │  └ CurrencyMismatch                    arithmetic across two currencies
     ├ NotFound           (also LookupError)  no such record in this tenant
     ├ PermissionDenied                       the acting user may not do this
     ├ ConflictError                          stale version, unique key taken
     ├ RuleViolation                          domain, pipeline and plan rules; plugin vetoes
     ├ StorageError                           backend failure, the driver's error chained
     └ PluginError                            bad hook implementation, plugin load failure

Every error has a stable dotted ``code`` whose first part names its family
(``"validation"``, ``"not_found"``, ``"permission_denied"``, ``"conflict"``,
``"rule.order.not_draft"``…), :meth:`CRMError.to_dict` for an API response, and pickles
intact (Celery, multiprocessing). Suggested HTTP statuses by family: ``validation`` 422,
``not_found`` 404, ``permission_denied`` 403, ``conflict`` 409, ``rule`` 422, everything
else 500 (:data:`HTTP_STATUS`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "HTTP_STATUS",
    "CRMError",
    "ConfigurationError",
    "ConflictError",
    "CurrencyMismatch",
    "ExchangeRateMissing",
    "NotFound",
    "PermissionDenied",
    "PluginError",
    "RuleViolation",
    "StorageError",
    "ValidationError",
]

FieldError = tuple[str, str]


class CRMError(Exception):
    """Base class of every error pycrm raises on purpose."""

    #: The family of the error, stable across versions (see the module doc).
    code: str = "error"

    def details(self) -> dict[str, Any]:
        """What a program needs besides the message (the field errors, the record…)."""
        return {}

    def to_dict(self) -> dict[str, Any]:
        """``{"code", "message", ...details}``: JSON-ready, for an API response."""
        return {"code": self.code, "message": str(self), **self.details()}

    @property
    def http_status(self) -> int:
        """The HTTP status an API answers this error with (:data:`HTTP_STATUS` by the
        first part of :attr:`code`; 500 for the others)."""
        return HTTP_STATUS.get(self.code.partition(".")[0], 500)

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt from the message and attributes, whatever the subclass's __init__ takes.
        return (_rebuild, (type(self), str(self), dict(self.__dict__)))


def _rebuild(cls: type[CRMError], message: str, state: dict[str, Any]) -> CRMError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


#: The HTTP status a host API answers with, by the first part of an error's ``code``.
HTTP_STATUS: dict[str, int] = {
    "validation": 422,
    "not_found": 404,
    "permission_denied": 403,
    "conflict": 409,
    "rule": 422,
}


class ConfigurationError(CRMError, ValueError):
    """The CRM was set up wrongly: bad settings, unknown storage URL, outdated schema."""

    code = "configuration"


class ExchangeRateMissing(ConfigurationError):
    """No exchange rate is known for a currency pair on a date."""

    code = "configuration.exchange_rate_missing"

    def __init__(self, base: str, quote: str, on: object) -> None:
        self.base, self.quote, self.on = base, quote, on
        super().__init__(
            f"no exchange rate for {base}/{quote} on {on}: add the tenant's rate with "
            "uow.configuration.set_rate(...), give every tenant one in "
            "Settings.exchange_rates, or install a rate-provider plugin"
        )

    def details(self) -> dict[str, Any]:
        """The currency pair and the date no rate was found for."""
        return {"base": self.base, "quote": self.quote, "on": str(self.on)}


class ValidationError(CRMError, ValueError):
    """Input was rejected before anything was written.

    ``errors`` lists every problem as ``(field path, reason)``.
    """

    code = "validation"

    def __init__(self, errors: Iterable[FieldError] | str, *, entity: str | None = None) -> None:
        if isinstance(errors, str):
            errors = [("", errors)]
        self.errors: list[FieldError] = list(errors)
        self.entity = entity
        lines = [f"  {path or '(input)'}: {reason}" for path, reason in self.errors]
        head = f"invalid {entity}" if entity else "invalid input"
        super().__init__(f"{head} ({len(self.errors)} problem(s)):\n" + "\n".join(lines))

    def details(self) -> dict[str, Any]:
        """The entity and each rejected field with its reason."""
        errors = [{"field": path, "reason": reason} for path, reason in self.errors]
        return {"entity": self.entity, "errors": errors}

    @classmethod
    def single(cls, field: str, reason: str, *, entity: str | None = None) -> ValidationError:
        """A ValidationError about one field."""
        return cls([(field, reason)], entity=entity)


class CurrencyMismatch(ValidationError):
    """Two amounts in different currencies were combined without a conversion."""

    code = "validation.currency_mismatch"

    def __init__(self, left: str, right: str) -> None:
        self.currencies = (left, right)
        super().__init__(
            [("currency", f"cannot combine {left} with {right}; convert one of them first")]
        )


class NotFound(CRMError, LookupError):
    """No record with this id exists in the acting tenant (or it is deleted, or the acting
    user may not see it)."""

    code = "not_found"

    def __init__(self, entity: str, record_id: object) -> None:
        self.entity, self.record_id = entity, record_id
        super().__init__(f"{entity} {record_id} not found in this tenant")

    def details(self) -> dict[str, Any]:
        """The entity and the id that was looked up."""
        return {"entity": self.entity, "id": str(self.record_id)}


class PermissionDenied(CRMError):
    """The acting user may not perform this action on this record."""

    code = "permission_denied"


class ConflictError(CRMError):
    """The record changed since it was read (stale version) or a unique key is taken.

    ``fields`` names the input fields the conflict is about, when it is about some (the
    fields of a duplicate rule that refused the save); empty otherwise.
    """

    code = "conflict"

    def __init__(self, message: str, *, fields: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.fields: tuple[str, ...] = tuple(fields)

    def details(self) -> dict[str, Any]:
        """``{"fields": [...]}`` when the conflict is about some fields."""
        return {"fields": list(self.fields)} if self.fields else {}


class RuleViolation(CRMError):
    """A business rule refused the change (domain invariant, workflow rule, plugin veto).

    ``rule`` names the rule (``"order.not_draft"``). Rules with a translatable text also
    keep its message id in ``template`` and the values filled in as ``params``, so
    :func:`pycrm.i18n.translate_error` can show the message in another language.
    """

    def __init__(
        self,
        message: str,
        *,
        rule: str | None = None,
        template: str | None = None,
        params: dict[str, str] | None = None,
    ) -> None:
        self.rule = rule
        self.template = template
        self.params: dict[str, str] = dict(params or {})
        self.code = f"rule.{rule}" if rule else "rule"  # e.g. "rule.order.not_draft"
        super().__init__(message)

    def details(self) -> dict[str, Any]:
        """The rule's name and the values filled into its message."""
        return {"rule": self.rule, "params": dict(self.params)}


class StorageError(CRMError):
    """The storage backend failed; the driver's exception is chained as ``__cause__``.

    The message never holds the values of the statement's parameters (personal data stays
    out of logs and responses); the chained exception has the driver's own words."""

    code = "storage"


class PluginError(CRMError):
    """A plugin failed to load or a hook implementation misbehaved."""

    code = "plugin"

    def __init__(self, message: str, *, plugin: str | None = None) -> None:
        self.plugin = plugin
        super().__init__(message)

    def details(self) -> dict[str, Any]:
        """The plugin at fault."""
        return {"plugin": self.plugin}


def shown(value: object, most: int = 80) -> str:
    """``repr(value)`` for an error message: shortened, and never failing itself (Python
    refuses to print a whole number of more than 4300 digits)."""
    try:
        text = repr(value)
    except Exception:
        if isinstance(value, int):
            return f"a whole number of {value.bit_length()} bits"
        return f"a {type(value).__name__}"
    return text if len(text) <= most else f"{text[: most - 3]}..."


def join_paths(prefix: str, errors: Sequence[FieldError]) -> list[FieldError]:
    """Prefix each field path, e.g. ``lines.0`` + ``quantity``."""
    return [(f"{prefix}.{path}" if path else prefix, reason) for path, reason in errors]
