"""Records by the values of one unique field, a value at a time.

:meth:`KeyLookups.find_by` answers the live records of a kind whose ``field`` (an
external id) is one of many values. The query that says ``field IN (…)`` is right on
every backend, but a database may read it the slow way: PostgreSQL, planning inside the
long transaction of an import (no statistics on the rows it wrote yet), scans the tenant's
records and filters them, which grows with every batch. The SQL backend there looks each
value up on the field's unique index instead (``unnest`` joined ``LATERAL``); elsewhere,
and in the fallback, it is the plain query.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol, TypeVar

from pycrm.storage.base import Filter, Op, Query, Scope, Stored, Transaction
from pycrm.storage.capabilities import capability

__all__ = ["KeyLookups", "RecordStoreLookups", "key_lookups"]

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


def key_lookups(tx: Transaction) -> KeyLookups:
    """``tx`` itself when it looks records up by key, else the fallback."""
    return capability(tx, KeyLookups, RecordStoreLookups)
