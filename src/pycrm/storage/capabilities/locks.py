"""Named locks held until the transaction ends, for rules no unique key can hold (no two
likely-duplicate customers saved at once).

A transaction with :class:`NamedLocks` takes them (an advisory lock on PostgreSQL); any
other needs none: SQLite and the memory backend let one writer in at a time, so a second
writer waits for the first to end anyway. One with :class:`ManyNamedLocks` too takes a set
of them in one go (one statement on PostgreSQL), always in the same order, so two
transactions wanting some of the same locks cannot deadlock on them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from pycrm.storage.base import Transaction

__all__ = ["ManyNamedLocks", "NamedLocks", "hold", "hold_all"]


class NamedLocks(Protocol):
    """A transaction that can hold a lock named by any text until it ends."""

    def hold_lock(self, name: str) -> None:
        """Wait for and take the lock ``name``; it is let go when the transaction ends."""
        ...


class ManyNamedLocks(Protocol):
    """A transaction that can take several named locks at once."""

    def hold_locks(self, names: Sequence[str]) -> None:
        """Wait for and take every lock of ``names`` (distinct, sorted), in an order of its
        own that every transaction follows; they are let go when the transaction ends."""
        ...


def hold(tx: Transaction, name: str) -> None:
    """Take the lock ``name`` in ``tx`` where its backend needs one."""
    taker = getattr(tx, "hold_lock", None)
    if callable(taker):
        taker(name)


def hold_all(tx: Transaction, names: Iterable[str]) -> None:
    """Take every lock of ``names`` in ``tx`` where its backend needs them: at once where
    it can, else one by one in sorted order."""
    wanted = sorted(set(names))
    if not wanted:
        return
    many = getattr(tx, "hold_locks", None)
    if callable(many):
        many(wanted)
        return
    taker = getattr(tx, "hold_lock", None)
    if callable(taker):
        for name in wanted:
            taker(name)
