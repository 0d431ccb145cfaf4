"""Business calendars: when a company works, for the SLA clocks of service-desk tickets.

A :class:`BusinessCalendar` holds the working time of a company: its time zone, its working
weekdays, the windows of a working day (wall-clock times, so they follow daylight saving
time), its own days off and make-up working days (调休), and optionally a country's public
holidays with the weekends that country moves to working days, from the optional
``holidays`` package (``pip install "pycrm-embedded[calendars]"``).

:meth:`BusinessCalendar.add` answers when a number of business minutes have elapsed (the
moment an SLA runs out), :meth:`BusinessCalendar.between` how many business minutes lie
between two moments, and :func:`business_minutes` reads durations such as ``"4h"``,
``"2d"`` or ``"1d4h30m"``.

Business minutes are real elapsed minutes inside the windows: on the day the clocks change
during a window, that window is an hour longer or shorter than its wall-clock length. A
window opening or closing in the hour skipped in spring does so when the clock jumps, and
one in the hour repeated in autumn at its first occurrence.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import re
import types
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from attrs import Attribute, field, fields, frozen

from pycrm.errors import ConfigurationError, ValidationError, shown

__all__ = ["DEFAULT_CALENDAR", "BusinessCalendar", "business_minutes"]

_KEY = re.compile(r"[a-z][a-z0-9_]{0,62}")
_COUNTRY = re.compile(r"[A-Z]{2}")
_HH_MM = re.compile(r"([0-9]{1,2}):([0-9]{2})")
# At most six digits a part: a typo such as "4000000d" would otherwise keep add() busy
# walking tens of thousands of years.
_DURATION = re.compile(r"(?:([0-9]{1,6})d)?(?:([0-9]{1,6})h)?(?:([0-9]{1,6})m)?")
# Ten years without a single working minute can only be a misconfigured calendar (no
# working weekdays, every day a holiday); stop searching instead of looping forever.
_SEARCH_DAYS = 3660
_ONE_DAY = dt.timedelta(days=1)
_ONE_MINUTE = dt.timedelta(minutes=1)
# More minutes than there are from the year 1 to 9999 cannot end in a datetime.
_MOST_MINUTES = (dt.datetime.max - dt.datetime.min) // _ONE_MINUTE
_PAST_9999 = "the time runs past the year 9999"
_INSTALL = 'national holidays need the `holidays` package: pip install "pycrm-embedded[calendars]"'

_Window = tuple[dt.datetime, dt.datetime]


def _items(value: object, name: str) -> list[Any]:
    # A string is iterable too, but "2026-03-16" is one date, not ten characters.
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise ConfigurationError(f"{name}: give a list, not {shown(value)}")
    return list(value)


def _weekdays(value: Iterable[int]) -> frozenset[int]:
    days = _items(value, "working_days")
    for day in days:
        if isinstance(day, bool) or not isinstance(day, int) or not 0 <= day <= 6:
            raise ConfigurationError(
                f"working_days: give weekdays 0 (Monday) to 6 (Sunday), not {shown(day)}"
            )
    return frozenset(days)


def _time(value: object) -> dt.time:
    if isinstance(value, str) and (match := _HH_MM.fullmatch(value)):
        try:
            return dt.time(int(match[1]), int(match[2]))
        except ValueError:
            raise ConfigurationError(f"hours: {value!r} is not a time of day") from None
    if not isinstance(value, dt.time) or value.tzinfo is not None:
        raise ConfigurationError(f"hours: give naive times or 'HH:MM', not {shown(value)}")
    if value.second or value.microsecond:
        raise ConfigurationError(f"hours: give whole minutes, not {value.isoformat()}")
    return value


def _window(pair: object) -> tuple[dt.time, dt.time]:
    items = _items(pair, "hours: each window")
    if len(items) != 2:
        raise ConfigurationError(f"hours: give each window as (start, end), not {shown(pair)}")
    start, end = _time(items[0]), _time(items[1])
    if start >= end:
        raise ConfigurationError(f"hours: the window {start:%H:%M}-{end:%H:%M} ends too early")
    return start, end


def _hours(value: Iterable[Sequence[dt.time | str]]) -> tuple[tuple[dt.time, dt.time], ...]:
    windows = sorted(_window(pair) for pair in _items(value, "hours"))
    if not windows:
        raise ConfigurationError("hours: give at least one window of working time")
    for (start, end), (later, _) in itertools.pairwise(windows):
        if later < end:
            raise ConfigurationError(
                f"hours: the windows from {start:%H:%M} and {later:%H:%M} overlap"
            )
    return tuple(windows)


def _date(value: object, name: str) -> dt.date:
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise ConfigurationError(f"{name}: {value!r} is not an ISO date (YYYY-MM-DD)") from None
    # A datetime is a date too, but never equal to one: it would match no day.
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise ConfigurationError(f"{name}: give dates or ISO strings, not {shown(value)}")
    return value


def _days_off(value: Iterable[dt.date | str]) -> frozenset[dt.date]:
    return frozenset(_date(day, "holidays") for day in _items(value, "holidays"))


def _make_up_days(value: Iterable[dt.date | str]) -> frozenset[dt.date]:
    return frozenset(_date(day, "working_dates") for day in _items(value, "working_dates"))


def _key(_: object, attribute: Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not _KEY.fullmatch(value):
        raise ConfigurationError(
            f"calendar {shown(value)}: a key is lower-case letters, digits and underscores"
        )


def _iana(_: object, attribute: Attribute[Any], value: object) -> None:
    if isinstance(value, str):
        try:
            ZoneInfo(value)
            return
        except (KeyError, ValueError, OSError):  # KeyError: ZoneInfoNotFoundError
            pass
    raise ConfigurationError(
        f"time_zone: {shown(value)} is not an IANA time zone such as 'Asia/Shanghai'"
    )


def _package() -> types.ModuleType:
    # Imported here, not at the top: the package is an optional extra, and only calendars
    # with a country need it.
    try:
        import holidays
    except ImportError:
        raise ConfigurationError(_INSTALL) from None
    return holidays


@functools.lru_cache(maxsize=1)
def _supported() -> dict[str, list[str]]:
    """Country codes the ``holidays`` package knows, each with its subdivisions."""
    return dict(_package().list_supported_countries())


def _check_country(country: object, subdivision: object) -> None:
    if not isinstance(country, str) or not _COUNTRY.fullmatch(country):
        raise ConfigurationError(f"country: give a code such as 'CN', not {shown(country)}")
    _package()  # the install hint comes first, before any lookup
    if country not in _supported():
        raise ConfigurationError(f"country: the holidays package knows no country {country!r}")
    if subdivision is not None and subdivision not in _supported()[country]:
        raise ConfigurationError(f"subdivision: {country} has no subdivision {shown(subdivision)}")


@functools.lru_cache(maxsize=512)
def _national(
    country: str, subdivision: str | None, year: int
) -> tuple[frozenset[dt.date], frozenset[dt.date]]:
    """A country's public holidays and make-up working days in ``year``."""
    # Building a holidays object takes milliseconds; SLA clocks ask about the same few
    # years over and over.
    calendar = _package().country_holidays(country, subdiv=subdivision, years=year)
    days_off = frozenset(day for day in calendar if day.year == year)
    # weekend_workdays is shared by all years the package knows, whatever `years` says.
    make_up = getattr(calendar, "weekend_workdays", ())
    return days_off, frozenset(day for day in make_up if day.year == year)


def _aware(value: object, name: str) -> dt.datetime:
    if not isinstance(value, dt.datetime) or value.utcoffset() is None:
        raise ValidationError.single(name, "give a timezone-aware time")
    return value.astimezone(dt.UTC)


def _utc(day: dt.date, time: dt.time, zone: ZoneInfo) -> dt.datetime:
    """The moment a window opens or closes at ``time`` on ``day``: in the hour repeated in
    autumn its first occurrence; in the hour skipped in spring the moment the clock jumps,
    as a clerk due at 02:30 starts when the clock jumps from 02:00 to 03:00."""
    local = dt.datetime.combine(day, time, tzinfo=zone)
    moment = local.astimezone(dt.UTC)
    if moment.astimezone(zone).replace(tzinfo=None) == local.replace(tzinfo=None):
        return moment
    # The two offsets put a skipped time on both sides of the jump.
    other = local.replace(fold=1).astimezone(dt.UTC)
    return _clock_jump(min(moment, other), max(moment, other), zone)


def _clock_jump(before: dt.datetime, after: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """The minute, between ``before`` and ``after``, from which ``zone`` has a new offset."""
    offset = before.astimezone(zone).utcoffset()
    while after - before > _ONE_MINUTE:
        middle = before + (after - before) // _ONE_MINUTE // 2 * _ONE_MINUTE
        if middle.astimezone(zone).utcoffset() == offset:
            before = middle
        else:
            after = middle
    return after


@frozen
class BusinessCalendar:
    """Working time of a company: a day is a working day if it is in ``working_dates``
    (make-up working days, 调休), else not if it is in ``holidays`` (the company's own days
    off), else if ``country`` (with ``subdivision``) makes it a working day or a public
    holiday, as the ``holidays`` package knows them, else if its weekday is in
    ``working_days`` (Monday is 0). A working day is worked in the windows of ``hours``,
    wall-clock times in ``time_zone``.

    Arguments may be convenient forms: ``working_days`` any iterable of weekdays,
    ``hours`` pairs of times or ``"HH:MM"`` strings (sorted here), ``holidays`` and
    ``working_dates`` dates or ISO strings. Bad ones raise
    :class:`~pycrm.errors.ConfigurationError`, and so does ``country`` without the
    ``holidays`` package installed (``pip install "pycrm-embedded[calendars]"``).
    """

    key: str = field(default="default", validator=_key)
    time_zone: str = field(default="UTC", validator=_iana)
    working_days: frozenset[int] = field(default=frozenset({0, 1, 2, 3, 4}), converter=_weekdays)
    hours: tuple[tuple[dt.time, dt.time], ...] = field(
        default=((dt.time(9), dt.time(18)),), converter=_hours
    )
    holidays: frozenset[dt.date] = field(default=frozenset(), converter=_days_off)
    working_dates: frozenset[dt.date] = field(default=frozenset(), converter=_make_up_days)
    country: str | None = None
    subdivision: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.country is not None:
            _check_country(self.country, self.subdivision)
        elif self.subdivision is not None:
            raise ConfigurationError("subdivision: give the country it belongs to as well")

    @property
    def minutes_per_day(self) -> int:
        """Business minutes of a working day by the clock (a business day of ``"2d"``)."""
        return sum(_minutes(end) - _minutes(start) for start, end in self.hours)

    def is_working_day(self, day: dt.date) -> bool:
        """Whether ``day`` (a date in the calendar's time zone) is worked."""
        if not isinstance(day, dt.date) or isinstance(day, dt.datetime):
            raise ValidationError.single("day", "give a date")
        if day in self.working_dates:
            return True
        if day in self.holidays:
            return False
        if self.country is not None:
            days_off, make_up = _national(self.country, self.subdivision, day.year)
            if day in make_up or day in days_off:
                return day in make_up
        return day.weekday() in self.working_days

    def add(self, start: dt.datetime, minutes: int) -> dt.datetime:
        """The moment (in UTC) at which ``minutes`` business minutes have elapsed from
        ``start`` (timezone-aware): counting begins at the next opening when ``start`` is
        outside working time, and a count that runs out at the close of a window ends
        there, not at the next opening. ``0`` minutes gives ``start`` itself.

        Raises :class:`~pycrm.errors.ValidationError` for a naive ``start`` or negative
        minutes, :class:`~pycrm.errors.ConfigurationError` when the calendar has no working
        time for ten years.
        """
        moment = _aware(start, "start")
        if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes < 0:
            raise ValidationError.single("minutes", "give a whole number of minutes, at least 0")
        if minutes > _MOST_MINUTES:
            raise ValidationError.single("minutes", _PAST_9999)
        if minutes == 0:
            return moment
        left = dt.timedelta(minutes=minutes)
        windows = self._windows_after(moment)
        while True:
            opens, closes = next(windows)
            begin = max(opens, moment)
            if left <= closes - begin:
                return begin + left
            left -= closes - begin

    def between(self, start: dt.datetime, end: dt.datetime) -> int:
        """Business minutes from ``start`` to ``end`` (both timezone-aware; 0 when ``end``
        is not later). Whole minutes: the working time is summed exactly, then rounded
        down, so ``between(s, add(s, m)) == m`` for a ``s`` on a whole minute."""
        begin, finish = _aware(start, "start"), _aware(end, "end")
        if finish <= begin:
            return 0
        first = begin.astimezone(self._tz).date()
        days = (finish.astimezone(self._tz).date() - first).days + 1
        total = dt.timedelta()
        for offset in range(days):
            for opens, closes in self._windows(first + offset * _ONE_DAY):
                total += max(min(closes, finish) - max(opens, begin), dt.timedelta())
        return total // _ONE_MINUTE

    def to_json(self) -> dict[str, Any]:
        """JSON-ready, as tenant configuration stores it (ISO strings, sorted lists)."""
        return {
            "key": self.key,
            "time_zone": self.time_zone,
            "working_days": sorted(self.working_days),
            "hours": [[f"{start:%H:%M}", f"{end:%H:%M}"] for start, end in self.hours],
            "holidays": sorted(day.isoformat() for day in self.holidays),
            "working_dates": sorted(day.isoformat() for day in self.working_dates),
            "country": self.country,
            "subdivision": self.subdivision,
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> BusinessCalendar:
        """The calendar a stored value (:meth:`to_json`) describes; raises
        :class:`~pycrm.errors.ConfigurationError` for anything else."""
        if not isinstance(value, Mapping):
            raise ConfigurationError(f"a business calendar is a JSON object, not {shown(value)}")
        known = {attribute.name for attribute in fields(cls)}
        if unknown := sorted(str(name) for name in value if name not in known):
            raise ConfigurationError(f"business calendar: unknown keys {unknown}")
        return cls(**value)

    @property
    def _tz(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)  # ZoneInfo keeps its own cache

    def _windows(self, day: dt.date) -> list[_Window]:
        """The working time of ``day`` in UTC, in order (none on a day off)."""
        if not self.is_working_day(day):
            return []
        zone = self._tz
        windows = [(_utc(day, start, zone), _utc(day, end, zone)) for start, end in self.hours]
        # A window wholly inside the hour skipped in spring does not happen that day.
        return [(opens, closes) for opens, closes in windows if closes > opens]

    def _windows_after(self, moment: dt.datetime) -> Iterator[_Window]:
        """The working time that ends after ``moment``, window by window, without end."""
        day = moment.astimezone(self._tz).date()
        idle_since = day
        while (day - idle_since).days <= _SEARCH_DAYS:
            if day == dt.date.max:
                raise ValidationError.single("minutes", _PAST_9999)
            windows = [window for window in self._windows(day) if window[1] > moment]
            yield from windows
            day += _ONE_DAY
            if windows:
                idle_since = day
        raise ConfigurationError(
            f"calendar {self.key!r} has no working time in the {_SEARCH_DAYS} days "
            f"from {idle_since}: give it working days or hours"
        )


def _minutes(time: dt.time) -> int:
    return time.hour * 60 + time.minute


#: The calendar of a company that sets none: Monday to Friday, 09:00 to 18:00 UTC.
DEFAULT_CALENDAR = BusinessCalendar()


def business_minutes(text: str, calendar: BusinessCalendar) -> int:
    """Business minutes of a duration such as ``"4h"``, ``"2d"``, ``"90m"`` or
    ``"1d4h30m"``: days, hours and minutes, in that order, each optional but at least one,
    a day being the calendar's :attr:`~BusinessCalendar.minutes_per_day`.

    Raises :class:`~pycrm.errors.ConfigurationError` for anything else (empty, negative,
    an unknown unit, more than six digits a part, or no time at all).
    """
    match = _DURATION.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None or not any(match.groups()):
        raise ConfigurationError(
            f"{shown(text)} is not a business duration such as '4h', '2d' or '1d4h30m'"
        )
    days, hours, minutes = (int(part or 0) for part in match.groups())
    total = days * calendar.minutes_per_day + hours * 60 + minutes
    if total == 0:
        raise ConfigurationError(f"{text!r}: a business duration must be longer than 0")
    return total
