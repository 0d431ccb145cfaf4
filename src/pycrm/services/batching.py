"""Splitting bulk input into batches, and keeping each batch's memory work cheap."""

from __future__ import annotations

import gc
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from itertools import islice
from typing import Any

from pycrm.errors import ValidationError

__all__ = ["batches", "chunks", "collector_paused", "collector_resumed", "shift_rows"]


def chunks(items: Sequence[uuid.UUID], size: int) -> Iterator[Sequence[uuid.UUID]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while one batch is written.

    A batch allocates a great many small objects (rows, records, audit entries) that are
    alive until the batch is written, so each collection would promote them and rescan the
    ever larger heap: a third of a 100,000-row import's time. Reference counting still
    frees them at once; any cycles wait for the next collection after the batch. The
    collector stays off if the host application had turned it off.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    depth = getattr(_pauses, "open", 0)
    _pauses.open = depth + 1
    try:
        yield
    finally:
        _pauses.open = depth
        gc.enable()


#: Per thread, how many :func:`collector_paused` that turned the collector off are open.
_pauses = threading.local()


@contextmanager
def collector_resumed() -> Iterator[None]:
    """Turn the collector back on for a while inside :func:`collector_paused` (while the
    caller's rows are read); it stays as it is when it was on, or when the host had it off
    (then :func:`collector_paused` never turned it off)."""
    if gc.isenabled() or not getattr(_pauses, "open", 0):
        yield
        return
    gc.enable()
    try:
        yield
    finally:
        gc.disable()


def batches(
    rows: Iterable[Mapping[str, Any]], size: int
) -> Iterator[tuple[int, list[Mapping[str, Any]]]]:
    iterator = iter(rows)
    offset = 0
    while batch := list(islice(iterator, size)):
        yield offset, batch
        offset += len(batch)


def shift_rows(error: ValidationError, offset: int) -> ValidationError:
    """Renumber a batch's row errors to positions in the whole input."""
    shifted = []
    for path, reason in error.errors:
        head, dot, rest = path.partition(".")
        shifted.append((f"{int(head) + offset}{dot}{rest}" if head.isdigit() else path, reason))
    return ValidationError(shifted, entity=error.entity)
