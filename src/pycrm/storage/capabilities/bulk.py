"""The bulk-writes capability: a stretch of writes a store may still be busy with.

``create_many`` and ``import_many`` write batch after batch. A store may go on writing a
batch while the next one is prepared: the SQL backend on PostgreSQL leaves a batch's last
COPY open, so that the server stores its rows while Python validates the next batch. The
service marks the stretch with :func:`bulk_writes` and calls the function it yields
before any code of the caller's runs (the next rows of an import's input): by then
everything handed to the store is written, or its failure raised. A store without the
capability writes each call through, and that function does nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Protocol

from pycrm.storage.base import Transaction
from pycrm.storage.capabilities import capability

__all__ = ["BulkWrites", "WrittenThrough", "bulk_writes"]


class BulkWrites(Protocol):
    """A transaction that may still be writing when a bulk write returns."""

    def bulk_writes(self) -> AbstractContextManager[Callable[[], None]]:
        """A stretch of bulk writes: it yields a function that finishes every write handed
        over so far (raising its failure), and finishes them all on the way out (or, when
        the stretch ends with an exception, gives up what is unfinished)."""
        ...


def _nothing() -> None:
    """Nothing to finish: every write was made when its call returned."""


class WrittenThrough:
    """:class:`BulkWrites` of a store that writes each call through (the fallback)."""

    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    def bulk_writes(self) -> AbstractContextManager[Callable[[], None]]:
        """A stretch with nothing to finish."""
        return nullcontext(_nothing)


def bulk_writes(tx: Transaction) -> AbstractContextManager[Callable[[], None]]:
    """The transaction's own stretch of bulk writes, or one with nothing to finish."""
    return capability(tx, BulkWrites, WrittenThrough).bulk_writes()
