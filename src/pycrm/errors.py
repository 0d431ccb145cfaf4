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

Suggested HTTP statuses: ValidationError 422, NotFound 404, PermissionDenied 403,
ConflictError 409, RuleViolation 422, everything else 500.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = [
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


class ConfigurationError(CRMError, ValueError):
    """The CRM was set up wrongly: bad settings, unknown storage URL, outdated schema."""


class ExchangeRateMissing(ConfigurationError):
    """No exchange rate is known for a currency pair on a date."""

    def __init__(self, base: str, quote: str, on: object) -> None:
        self.base, self.quote, self.on = base, quote, on
        super().__init__(
            f"no exchange rate for {base}/{quote} on {on}: add it to "
            "Settings.exchange_rates or install a rate-provider plugin"
        )


class ValidationError(CRMError, ValueError):
    """Input was rejected before anything was written.

    ``errors`` lists every problem as ``(field path, reason)``.
    """

    def __init__(self, errors: Iterable[FieldError] | str, *, entity: str | None = None) -> None:
        if isinstance(errors, str):
            errors = [("", errors)]
        self.errors: list[FieldError] = list(errors)
        self.entity = entity
        lines = [f"  {path or '(input)'}: {reason}" for path, reason in self.errors]
        head = f"invalid {entity}" if entity else "invalid input"
        super().__init__(f"{head} ({len(self.errors)} problem(s)):\n" + "\n".join(lines))

    @classmethod
    def single(cls, field: str, reason: str, *, entity: str | None = None) -> ValidationError:
        """A ValidationError about one field."""
        return cls([(field, reason)], entity=entity)


class CurrencyMismatch(ValidationError):
    """Two amounts in different currencies were combined without a conversion."""

    def __init__(self, left: str, right: str) -> None:
        self.currencies = (left, right)
        super().__init__(
            [("currency", f"cannot combine {left} with {right}; convert one of them first")]
        )


class NotFound(CRMError, LookupError):
    """No record with this id exists in the acting tenant (or it is deleted)."""

    def __init__(self, entity: str, record_id: object) -> None:
        self.entity, self.record_id = entity, record_id
        super().__init__(f"{entity} {record_id} not found in this tenant")


class PermissionDenied(CRMError):
    """The acting user may not perform this action on this record."""


class ConflictError(CRMError):
    """The record changed since it was read (stale version) or a unique key is taken."""


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
        super().__init__(message)


class StorageError(CRMError):
    """The storage backend failed; the driver's exception is chained as ``__cause__``."""


class PluginError(CRMError):
    """A plugin failed to load or a hook implementation misbehaved."""

    def __init__(self, message: str, *, plugin: str | None = None) -> None:
        self.plugin = plugin
        super().__init__(message)


def join_paths(prefix: str, errors: Sequence[FieldError]) -> list[FieldError]:
    """Prefix each field path, e.g. ``lines.0`` + ``quantity``."""
    return [(f"{prefix}.{path}" if path else prefix, reason) for path, reason in errors]
