"""Optional query capabilities a storage adapter may add to the record store.

A capability is a small protocol of aggregate questions reports ask
(:class:`~pycrm.storage.capabilities.pipeline.PipelineQueries`,
:class:`~pycrm.storage.capabilities.receivables.ReceivablesQueries`). Services ask the
open transaction for it with :func:`capability`: an adapter whose transaction implements
the protocol answers in its own way (SQL ``GROUP BY``), and any other gets the
capability's *fallback*, a public class that computes the same answers from the record
store alone, reading records page by page with :func:`each`. So an adapter that
implements only :class:`pycrm.storage.base.Transaction` passes the whole contract, and one
that implements a capability gets its speed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import attrs

from pycrm.storage.base import Query, Scope, Stored, Transaction, sort_value

__all__ = ["capability", "each"]

S = TypeVar("S", bound=Stored)
C = TypeVar("C")

#: Records per page when a fallback reads through the record store.
PAGE = 1000


def each(
    tx: Transaction, kind: type[S], scope: Scope, query: Query | None = None, page: int = PAGE
) -> Iterator[S]:
    """Every record of ``kind`` in ``scope`` matching ``query``, read ``page`` at a time
    with keyset pages (memory stays bounded whatever the number of records)."""
    base = query if query is not None else Query()
    base = attrs.evolve(base, limit=page, after=None)
    while True:
        rows = tx.find(kind, scope, base)
        yield from rows
        if len(rows) < page:
            return
        last = rows[-1]
        after = (*(sort_value(last, name, base) for name, _ in base.order), last.id)
        base = attrs.evolve(base, after=after)


def capability(tx: Transaction, protocol: type[Any], fallback: Callable[[Transaction], C]) -> C:
    """The transaction itself when it implements ``protocol``, else ``fallback(tx)``."""
    if all(callable(getattr(tx, name, None)) for name in _methods(protocol)):
        return tx  # type: ignore[return-value]
    return fallback(tx)


def _methods(protocol: type[Any]) -> tuple[str, ...]:
    if protocol not in _METHODS:
        _METHODS[protocol] = tuple(
            name
            for name, value in vars(protocol).items()
            if not name.startswith("_") and callable(value)
        )
    return _METHODS[protocol]


_METHODS: dict[type[Any], tuple[str, ...]] = {}
