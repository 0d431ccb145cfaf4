"""Capabilities behind tenant configuration: a configuration version per tenant, and
gap-free number sequences.

**Versions.** A process keeps each tenant's configuration between units of work and must
see another process's change at once. A transaction with :class:`TenantVersions` answers
the tenant's organisation and configuration counters in one read, which a unit of work
makes once (its rights cache needs the first, its configuration the second), so reading
configuration costs no query of its own while nothing changed. Without it the
configuration is read afresh in every unit of work that needs it: correct, only slower.

**Numbering.** :class:`Numbering` hands out the next numbers of a sequence in the
transaction that uses them: a rollback gives them back, and concurrent writers wait for
each other (a row lock on PostgreSQL, SQLite's single writer), so numbers stay gap-free and
distinct. A backend without it gives no automatic numbers.
"""

from __future__ import annotations

from typing import Protocol

from pycrm.storage.base import Transaction

__all__ = ["Numbering", "TenantVersions", "numbering", "tenant_versions"]


class TenantVersions(Protocol):
    """A transaction that keeps an organisation and a configuration counter per tenant."""

    def tenant_versions(self, tenant: str) -> tuple[int, int]:
        """``(organisation, configuration)`` counters as this transaction sees them (0
        before the first raise)."""
        ...

    def raise_configuration_version(self, tenant: str) -> None:
        """Add one to the tenant's configuration counter, in this transaction."""
        ...


class Numbering(Protocol):
    """A transaction that keeps gap-free counters per tenant, sequence and period."""

    def next_numbers(self, tenant: str, sequence: str, period: str, count: int) -> int:
        """Reserve ``count`` numbers and return the last of them (the first is that minus
        ``count`` plus one); the first number of a new period is 1. Holds the counter
        until the transaction ends."""
        ...


def _has(tx: Transaction, *names: str) -> bool:
    return all(callable(getattr(tx, name, None)) for name in names)


def tenant_versions(tx: Transaction) -> TenantVersions | None:
    """``tx`` as :class:`TenantVersions`, or ``None`` when its backend keeps no versions."""
    ok = _has(tx, "tenant_versions", "raise_configuration_version")
    return tx if ok else None  # type: ignore[return-value]


def numbering(tx: Transaction) -> Numbering | None:
    """``tx`` as :class:`Numbering`, or ``None`` when its backend keeps no sequences."""
    return tx if _has(tx, "next_numbers") else None  # type: ignore[return-value]
