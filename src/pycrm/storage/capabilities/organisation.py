"""The organisation-version capability: a counter per tenant that every write changing who
may see what raises (users, departments, shares), so a process may keep a user's resolved
rights between units of work and still see another process's change at once.

A backend without it is asked nothing: rights are then resolved afresh in every unit of
work, which is always correct, only slower.
"""

from __future__ import annotations

from typing import Protocol

from pycrm.storage.base import Transaction

__all__ = ["ORGANISATION_KINDS", "OrganisationVersions", "organisation_version", "raise_version"]

#: Kinds whose writes change what users may see.
ORGANISATION_KINDS = frozenset({"user", "department", "share"})


class OrganisationVersions(Protocol):
    """A transaction that keeps one organisation counter per tenant."""

    def organisation_version(self, tenant: str) -> int:
        """The tenant's counter as this transaction sees it (0 before the first raise)."""
        ...

    def raise_organisation_version(self, tenant: str) -> None:
        """Add one to the tenant's counter, in this transaction (it commits or rolls back
        with the write that changed the organisation)."""
        ...


def _supports(tx: Transaction) -> bool:
    return callable(getattr(tx, "organisation_version", None)) and callable(
        getattr(tx, "raise_organisation_version", None)
    )


def organisation_version(tx: Transaction) -> OrganisationVersions | None:
    """``tx`` as an :class:`OrganisationVersions`, or ``None`` when its backend has none."""
    return tx if _supports(tx) else None  # type: ignore[return-value]


def raise_version(tx: Transaction, tenant: str) -> None:
    """Raise ``tenant``'s counter when the backend keeps one."""
    if (versions := organisation_version(tx)) is not None:
        versions.raise_organisation_version(tenant)
