"""Sets of texts a long write keeps in the store: an import's external ids.

An import refuses a row whose external id is on an earlier row of the file. Keeping every
id seen in a Python set grows memory with the file (about 90 bytes an id: 90 MiB at a
million rows). A transaction with :class:`ValueSets` keeps the set in the database
instead (the SQL backend: a temporary table, dropped with the set), so the import's
memory stays the same whatever the file's size; the fallback keeps it in memory.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

from pycrm.storage.base import Transaction
from pycrm.storage.capabilities import capability

__all__ = ["ValueSet", "ValueSets", "value_set"]


class ValueSet(Protocol):
    """A set of texts for the rest of a transaction, written to a batch at a time."""

    def add(self, values: Collection[str]) -> set[str]:
        """Add ``values``; answer those of them that were in the set already."""
        ...

    def close(self) -> None:
        """Forget the set (it is forgotten with its transaction anyway)."""
        ...


class ValueSets(Protocol):
    """A transaction that keeps sets of texts for its callers."""

    def value_set(self) -> ValueSet:
        """A new, empty set."""
        ...


class InMemory:
    """:class:`ValueSet` in a Python set (the fallback)."""

    def __init__(self) -> None:
        self._values: set[str] = set()

    def add(self, values: Collection[str]) -> set[str]:
        """Add values; those already in."""
        known = self._values.intersection(values)
        self._values.update(values)
        return known

    def close(self) -> None:
        """Forget them."""
        self._values.clear()


class _KeptInMemory:
    def __init__(self, tx: Transaction) -> None:
        self.tx = tx

    def value_set(self) -> ValueSet:
        return InMemory()


def value_set(tx: Transaction) -> ValueSet:
    """A new set of texts kept by ``tx`` where it can keep one, else in memory."""
    return capability(tx, ValueSets, _KeptInMemory).value_set()
