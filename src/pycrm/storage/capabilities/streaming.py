"""The streaming capability: every record a query finds, a batch at a time, in its order,
with memory bounded by one batch whatever the number of records.

:meth:`pycrm.services.base.RecordService.stream` reads through it. An adapter whose
transaction has :meth:`RecordStreams.stream` answers on its own terms (the SQLAlchemy
backend on a server-side cursor); any other gets :class:`PagedStreams`, which reads the
record store with keyset pages (``find`` with ``after``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, TypeVar

import attrs

from pycrm.storage.base import Query, Scope, Stored, Transaction, sort_value
from pycrm.storage.capabilities import capability

__all__ = ["PagedStreams", "RecordStreams", "record_streams"]

S = TypeVar("S", bound=Stored)


class RecordStreams(Protocol):
    """Reading every matching record in batches (an optional capability of a transaction)."""

    def stream(
        self, kind: type[S], scope: Scope, query: Query, batch_size: int
    ) -> Iterator[list[S]]:
        """The records :meth:`pycrm.storage.base.Transaction.find` would return for
        ``query`` without its ``limit`` (its filters, ``deleted``, ``ids``, order, and
        ``after`` when set), in that order, as lists of at most ``batch_size`` fresh
        records; no list is empty.

        Memory stays bounded by a batch: children (order lines, installments …) are read
        per batch, never all at once. The iterator is used inside the open transaction;
        closing it early (``close()``) releases what it holds, such as a cursor.
        """
        ...


def record_streams(tx: Transaction) -> RecordStreams:
    """The transaction's own streaming, or :class:`PagedStreams` over its record store."""
    return capability(tx, RecordStreams, PagedStreams)


class PagedStreams:
    """:class:`RecordStreams` on the record store alone (the fallback): keyset pages of
    ``batch_size`` records read with ``find``, each continuing after the last record of
    the one before, so the result is the query's order whatever the adapter."""

    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    def stream(
        self, kind: type[S], scope: Scope, query: Query, batch_size: int
    ) -> Iterator[list[S]]:
        """Pages of ``find``: :meth:`RecordStreams.stream`."""
        page = attrs.evolve(query, limit=batch_size)
        while True:
            rows = self._tx.find(kind, scope, page)
            if rows:
                yield rows
            if len(rows) < batch_size:
                return
            last = rows[-1]
            position = (*(sort_value(last, name, page) for name, _ in page.order), last.id)
            page = attrs.evolve(page, after=position)
