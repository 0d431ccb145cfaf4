"""Named locks held until the transaction ends, for rules no unique key can hold (no two
likely-duplicate customers saved at once).

A transaction with :class:`NamedLocks` takes them (an advisory lock on PostgreSQL); any
other needs none: SQLite and the memory backend let one writer in at a time, so a second
writer waits for the first to end anyway.
"""

from __future__ import annotations

from typing import Protocol

from pycrm.storage.base import Transaction

__all__ = ["NamedLocks", "hold"]


class NamedLocks(Protocol):
    """A transaction that can hold a lock named by any text until it ends."""

    def hold_lock(self, name: str) -> None:
        """Wait for and take the lock ``name``; it is let go when the transaction ends."""
        ...


def hold(tx: Transaction, name: str) -> None:
    """Take the lock ``name`` in ``tx`` where its backend needs one."""
    taker = getattr(tx, "hold_lock", None)
    if callable(taker):
        taker(name)
