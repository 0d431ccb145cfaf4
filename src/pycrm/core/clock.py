"""Injected time: every rule that depends on "now" reads a Clock the caller can set."""

import datetime as dt
from typing import Protocol

__all__ = ["Clock", "FixedClock", "SystemClock", "utc"]

utc = dt.UTC


class Clock(Protocol):
    """Gives the current time as a timezone-aware UTC datetime."""

    def now(self) -> dt.datetime:
        """The current time, timezone-aware, in UTC."""


class SystemClock:
    """The real clock: the current UTC time of the machine; the default of every CRM."""

    def now(self) -> dt.datetime:
        """The machine's current time in UTC."""
        return dt.datetime.now(utc)


class FixedClock:
    """A clock that stands still until moved: for tests, demos and replays."""

    def __init__(self, start: dt.datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware datetime")
        self._now = start.astimezone(utc)

    def now(self) -> dt.datetime:
        """The time the clock stands at."""
        return self._now

    def advance(self, **delta: float) -> dt.datetime:
        """Move forward by ``datetime.timedelta(**delta)`` and return the new now."""
        self._now += dt.timedelta(**delta)
        return self._now

    def set(self, when: dt.datetime) -> None:
        """Move the clock to ``when``, a timezone-aware datetime."""
        if when.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware datetime")
        self._now = when.astimezone(utc)
