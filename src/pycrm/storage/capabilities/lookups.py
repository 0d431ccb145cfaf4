"""Records by the values of one unique field, a value at a time.

:meth:`KeyLookups.find_by` answers the live records of a kind whose ``field`` (an
external id) is one of many values. The query that says ``field IN (…)`` is right on
every backend, but a database may read it the slow way: PostgreSQL, planning inside the
long transaction of an import (no statistics on the rows it wrote yet), scans the tenant's
records and filters them, which grows with every batch. The SQL backend there looks each
value up on the field's unique index instead (``unnest`` joined ``LATERAL``); elsewhere,
and in the fallback, it is the plain query.

:class:`FreshStatistics` lets a long write tell the database to look at what it wrote so
far (PostgreSQL's ``ANALYZE``, which inside a transaction counts the transaction's own
rows): otherwise the planner takes a tenant that has just been given 100,000 records for
one with none, and may read them all through the wrong index.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol, TypeVar

from pycrm.storage.base import Filter, Op, Query, Scope, Stored, Transaction
from pycrm.storage.capabilities import capability

__all__ = [
    "FreshStatistics",
    "KeyLookups",
    "RecordStoreLookups",
    "key_lookups",
    "refresh_statistics",
]

S = TypeVar("S", bound=Stored)


class KeyLookups(Protocol):
    """A transaction that finds records by the values of one unique field."""

    def find_by(self, kind: type[S], scope: Scope, field: str, values: Collection[str]) -> list[S]:
        """The live records of ``kind`` in ``scope`` whose ``field`` is one of
        ``values``, in no particular order."""
        ...


class RecordStoreLookups:
    """:class:`KeyLookups` through the record store: one query, ordered by the field (so
    that a store with an index on it reads it there)."""

    def __init__(self, tx: Transaction) -> None:
        self.tx = tx

    def find_by(self, kind: type[S], scope: Scope, field: str, values: Collection[str]) -> list[S]:
        """The plain query: :meth:`KeyLookups.find_by`."""
        if not values:
            return []
        query = Query(filters=(Filter(field, Op.IN, frozenset(values)),), order=((field, False),))
        return self.tx.find(kind, scope, query)


class FreshStatistics(Protocol):
    """A transaction that can refresh the planner's statistics of a kind's records."""

    def refresh_statistics(self, kind: type[Stored]) -> None:
        """Count the records of ``kind`` again, this transaction's new ones included."""
        ...


def refresh_statistics(tx: Transaction, kind: type[Stored]) -> None:
    """Refresh the statistics of ``kind`` where the store keeps any (else nothing)."""
    fresh = capability(tx, FreshStatistics, _without)
    if fresh is not None:
        fresh.refresh_statistics(kind)


def _without(_: Transaction) -> None:
    return None


def key_lookups(tx: Transaction) -> KeyLookups:
    """``tx`` itself when it looks records up by key, else the fallback."""
    return capability(tx, KeyLookups, RecordStoreLookups)
