"""Business calendars (SLA clocks): working days with company and national holidays and
make-up working days, adding and counting business minutes across weekends, lunch breaks
and daylight saving time, durations such as "4h", the JSON form, and refused input.
The properties at the end tie add() and between() together on random starts in 2026."""

from __future__ import annotations

import datetime as dt
import sys
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pycrm.core.calendars import DEFAULT_CALENDAR, BusinessCalendar, business_minutes
from pycrm.errors import ConfigurationError, ValidationError

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
FRIDAY_5PM = dt.datetime(2026, 3, 13, 17, 0, tzinfo=SHANGHAI)


def shanghai(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def new_york(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=NEW_YORK)


@pytest.fixture
def office() -> BusinessCalendar:
    return BusinessCalendar(key="office", time_zone="Asia/Shanghai")


# Adding business time


def test_four_hours_from_friday_afternoon_end_on_monday_noon(office: BusinessCalendar) -> None:
    assert office.add(FRIDAY_5PM, business_minutes("4h", office)) == shanghai(2026, 3, 16, 12)


def test_two_days_from_friday_afternoon_end_on_tuesday_afternoon(
    office: BusinessCalendar,
) -> None:
    assert office.add(FRIDAY_5PM, business_minutes("2d", office)) == shanghai(2026, 3, 17, 17)


def test_a_company_holiday_on_monday_moves_the_deadline_a_day(office: BusinessCalendar) -> None:
    calendar = BusinessCalendar(time_zone="Asia/Shanghai", holidays=[dt.date(2026, 3, 16)])
    assert calendar.add(FRIDAY_5PM, business_minutes("4h", calendar)) == shanghai(2026, 3, 17, 12)
    assert calendar.add(FRIDAY_5PM, business_minutes("2d", calendar)) == shanghai(2026, 3, 18, 17)


def test_minutes_running_out_at_closing_time_end_at_closing_time(
    office: BusinessCalendar,
) -> None:
    assert office.add(FRIDAY_5PM, 60) == shanghai(2026, 3, 13, 18)
    assert office.add(FRIDAY_5PM, 61) == shanghai(2026, 3, 16, 9, 1)


def test_the_answer_is_in_utc_and_zero_minutes_give_the_start(office: BusinessCalendar) -> None:
    end = office.add(FRIDAY_5PM, 30)
    assert end.tzinfo is dt.UTC and end == dt.datetime(2026, 3, 13, 9, 30, tzinfo=dt.UTC)
    start = office.add(FRIDAY_5PM, 0)
    assert start.tzinfo is dt.UTC and start == FRIDAY_5PM
    # Outside working time, zero minutes still leave the start alone.
    saturday = shanghai(2026, 3, 14, 3)
    assert office.add(saturday, 0) == saturday


def test_counting_from_outside_working_time_starts_at_the_next_opening(
    office: BusinessCalendar,
) -> None:
    assert office.add(shanghai(2026, 3, 14, 11), 1) == shanghai(2026, 3, 16, 9, 1)
    assert office.add(shanghai(2026, 3, 16, 7), 30) == shanghai(2026, 3, 16, 9, 30)
    assert office.add(shanghai(2026, 3, 16, 20), 30) == shanghai(2026, 3, 17, 9, 30)


def test_a_start_in_another_zone_is_read_in_the_calendars_zone(office: BusinessCalendar) -> None:
    # Friday 17:00 in Shanghai is Friday 09:00 UTC.
    assert office.add(dt.datetime(2026, 3, 13, 9, tzinfo=dt.UTC), 240) == shanghai(2026, 3, 16, 12)


def test_two_windows_skip_the_lunch_break() -> None:
    calendar = BusinessCalendar(
        time_zone="Asia/Shanghai", hours=[("09:00", "12:00"), ("13:00", "18:00")]
    )
    assert calendar.minutes_per_day == 480
    monday = shanghai(2026, 3, 16, 11)
    assert calendar.add(monday, 60) == shanghai(2026, 3, 16, 12)
    assert calendar.add(monday, 90) == shanghai(2026, 3, 16, 13, 30)
    assert calendar.between(monday, shanghai(2026, 3, 16, 14)) == 120
    assert calendar.add(monday, business_minutes("1d", calendar)) == shanghai(2026, 3, 17, 11)


def test_whole_days_are_skipped_quickly() -> None:
    # Ten years of business minutes: one step a day, not one a minute.
    minutes = 10 * 250 * DEFAULT_CALENDAR.minutes_per_day
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    end = DEFAULT_CALENDAR.add(start, minutes)
    assert dt.datetime(2035, 1, 1, tzinfo=dt.UTC) < end < dt.datetime(2037, 1, 1, tzinfo=dt.UTC)
    assert DEFAULT_CALENDAR.between(start, end) == minutes


def test_a_calendar_without_working_time_says_so() -> None:
    calendar = BusinessCalendar(key="nothing", working_days=[], working_dates=["2020-01-06"])
    with pytest.raises(ConfigurationError, match="calendar 'nothing' has no working time"):
        calendar.add(dt.datetime(2026, 1, 1, tzinfo=dt.UTC), 1)
    # The make-up day itself is still found when it lies ahead.
    assert calendar.add(dt.datetime(2020, 1, 1, tzinfo=dt.UTC), 1) == dt.datetime(
        2020, 1, 6, 9, 1, tzinfo=dt.UTC
    )


@pytest.mark.parametrize("minutes", [-1, 1.5, True, "60"])
def test_minutes_must_be_a_whole_number_at_least_zero(minutes: Any) -> None:
    with pytest.raises(ValidationError) as raised:
        DEFAULT_CALENDAR.add(dt.datetime(2026, 1, 1, tzinfo=dt.UTC), minutes)
    assert raised.value.errors[0][0] == "minutes"


@pytest.mark.parametrize("minutes", [10**9, 10**15])
def test_minutes_past_the_year_9999_are_refused(minutes: int) -> None:
    late = dt.datetime(9999, 12, 1, tzinfo=dt.UTC)
    with pytest.raises(ValidationError, match="past the year 9999"):
        DEFAULT_CALENDAR.add(late, minutes)


def test_naive_times_are_refused() -> None:
    naive, aware = dt.datetime(2026, 3, 13, 17), dt.datetime(2026, 3, 13, 17, tzinfo=dt.UTC)
    with pytest.raises(ValidationError) as raised:
        DEFAULT_CALENDAR.add(naive, 60)
    assert raised.value.errors == [("start", "give a timezone-aware time")]
    with pytest.raises(ValidationError, match="start"):
        DEFAULT_CALENDAR.between(naive, aware)
    with pytest.raises(ValidationError, match="end"):
        DEFAULT_CALENDAR.between(aware, naive)


# Counting business time


def test_between_counts_working_minutes_only(office: BusinessCalendar) -> None:
    assert office.between(FRIDAY_5PM, shanghai(2026, 3, 16, 12)) == 240
    assert office.between(shanghai(2026, 3, 14, 0), shanghai(2026, 3, 15, 23)) == 0
    assert office.between(shanghai(2026, 3, 16, 12), FRIDAY_5PM) == 0
    assert office.between(FRIDAY_5PM, FRIDAY_5PM) == 0


def test_between_rounds_down_to_whole_minutes(office: BusinessCalendar) -> None:
    assert office.between(FRIDAY_5PM, FRIDAY_5PM + dt.timedelta(seconds=119)) == 1
    assert office.between(FRIDAY_5PM, FRIDAY_5PM + dt.timedelta(seconds=59)) == 0


# Working days


def test_a_make_up_saturday_is_worked() -> None:
    saturday = dt.date(2026, 3, 14)
    calendar = BusinessCalendar(time_zone="Asia/Shanghai", working_dates=[saturday])
    assert calendar.is_working_day(saturday)
    assert not calendar.is_working_day(dt.date(2026, 3, 15))
    assert calendar.add(FRIDAY_5PM, 120) == shanghai(2026, 3, 14, 10)


def test_a_make_up_day_wins_over_a_company_holiday() -> None:
    day = dt.date(2026, 3, 16)
    calendar = BusinessCalendar(holidays=[day], working_dates=[day])
    assert calendar.is_working_day(day)


def test_china_has_its_public_holidays_and_make_up_days() -> None:
    calendar = BusinessCalendar(time_zone="Asia/Shanghai", country="CN")
    assert not calendar.is_working_day(dt.date(2026, 1, 1))  # New Year's Day
    assert calendar.is_working_day(dt.date(2026, 1, 4))  # a Sunday worked for it
    assert not calendar.is_working_day(dt.date(2026, 2, 17))  # Spring Festival
    assert calendar.is_working_day(dt.date(2026, 3, 16))
    assert not calendar.is_working_day(dt.date(2026, 3, 15))


def test_company_days_win_over_national_ones() -> None:
    calendar = BusinessCalendar(country="CN", holidays=["2026-01-04"], working_dates=["2026-02-17"])
    assert not calendar.is_working_day(dt.date(2026, 1, 4))
    assert calendar.is_working_day(dt.date(2026, 2, 17))


def test_a_subdivision_brings_its_own_holidays() -> None:
    # César Chávez Day is a state holiday of California only.
    cesar_chavez = dt.date(2026, 3, 31)
    assert BusinessCalendar(country="US").is_working_day(cesar_chavez)
    assert not BusinessCalendar(country="US", subdivision="CA").is_working_day(cesar_chavez)


def test_is_working_day_takes_a_date_only() -> None:
    with pytest.raises(ValidationError, match="day"):
        DEFAULT_CALENDAR.is_working_day(dt.datetime(2026, 3, 16, tzinfo=dt.UTC))


def test_national_holidays_need_the_holidays_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "holidays", None)  # import holidays now fails
    with pytest.raises(ConfigurationError, match=r'pip install "pycrm-embedded\[calendars\]"'):
        BusinessCalendar(country="CN")
    assert BusinessCalendar().is_working_day(dt.date(2026, 3, 16))


# Daylight saving time


def test_windows_follow_the_wall_clock_across_daylight_saving_time() -> None:
    calendar = BusinessCalendar(time_zone="America/New_York")
    # The clocks go forward on Sunday 8 March 2026; the office still opens at 09:00.
    friday = new_york(2026, 3, 6, 17)
    assert calendar.add(friday, 120) == new_york(2026, 3, 9, 10)
    assert calendar.add(friday, 120) == dt.datetime(2026, 3, 9, 14, tzinfo=dt.UTC)
    assert calendar.between(friday, new_york(2026, 3, 9, 10)) == 120


def test_a_window_across_the_clock_change_is_an_hour_shorter_or_longer() -> None:
    calendar = BusinessCalendar(
        time_zone="America/New_York", working_days=range(7), hours=[("00:00", "06:00")]
    )
    assert calendar.between(new_york(2026, 3, 8), new_york(2026, 3, 8, 6)) == 300
    assert calendar.between(new_york(2026, 11, 1), new_york(2026, 11, 1, 6)) == 420
    assert calendar.add(new_york(2026, 3, 8), 300) == new_york(2026, 3, 8, 6)


def test_a_window_edge_in_the_skipped_hour_is_when_the_clock_jumps() -> None:
    calendar = BusinessCalendar(
        time_zone="America/New_York", working_days=range(7), hours=[("02:30", "04:00")]
    )
    midnight = new_york(2026, 3, 8)
    assert calendar.add(midnight, 1) == new_york(2026, 3, 8, 3, 1)
    assert calendar.between(midnight, new_york(2026, 3, 9)) == 60


# Durations


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("4h", 240), ("2d", 1080), ("90m", 90), ("1d4h30m", 810), ("1d30m", 570), (" 2h ", 120)],
)
def test_business_minutes_reads_days_hours_and_minutes(text: str, minutes: int) -> None:
    assert business_minutes(text, DEFAULT_CALENDAR) == minutes


def test_a_business_day_is_the_calendars_working_day() -> None:
    short = BusinessCalendar(hours=[("10:00", "12:00"), ("14:00", "16:30")])
    assert business_minutes("1d", short) == 270


@pytest.mark.parametrize(
    "text", ["", "  ", "-4h", "4", "4w", "4h1d", "0h", "0d0h0m", "1.5h", "4 h", "h", "1234567m"]
)
def test_business_minutes_refuses_anything_else(text: str) -> None:
    with pytest.raises(ConfigurationError):
        business_minutes(text, DEFAULT_CALENDAR)


def test_business_minutes_refuses_what_is_not_text() -> None:
    with pytest.raises(ConfigurationError):
        business_minutes(240, DEFAULT_CALENDAR)  # type: ignore[arg-type]


# Configuration and its JSON form


def test_convenient_inputs_are_converted() -> None:
    calendar = BusinessCalendar(
        working_days=[4, 0, 0],
        hours=[["13:00", "18:00"], (dt.time(9), "12:00")],
        holidays=["2026-03-16", dt.date(2026, 3, 17)],
        working_dates=("2026-03-14",),
    )
    assert calendar.working_days == frozenset({0, 4})
    assert calendar.hours == ((dt.time(9), dt.time(12)), (dt.time(13), dt.time(18)))
    assert calendar.holidays == frozenset({dt.date(2026, 3, 16), dt.date(2026, 3, 17)})
    assert calendar.working_dates == frozenset({dt.date(2026, 3, 14)})


def test_the_default_calendar() -> None:
    assert BusinessCalendar() == DEFAULT_CALENDAR
    assert DEFAULT_CALENDAR.time_zone == "UTC" and DEFAULT_CALENDAR.minutes_per_day == 540
    assert DEFAULT_CALENDAR.working_days == frozenset(range(5))


def test_json_round_trip() -> None:
    calendar = BusinessCalendar(
        key="support_cn",
        time_zone="Asia/Shanghai",
        working_days=[0, 1, 2, 3, 4, 5],
        hours=[("09:00", "12:00"), ("13:00", "18:30")],
        holidays=["2026-03-17", "2026-03-16"],
        working_dates=["2026-03-15"],
        country="CN",
    )
    value = calendar.to_json()
    assert value == {
        "key": "support_cn",
        "time_zone": "Asia/Shanghai",
        "working_days": [0, 1, 2, 3, 4, 5],
        "hours": [["09:00", "12:00"], ["13:00", "18:30"]],
        "holidays": ["2026-03-16", "2026-03-17"],
        "working_dates": ["2026-03-15"],
        "country": "CN",
        "subdivision": None,
    }
    assert BusinessCalendar.from_json(value) == calendar
    assert BusinessCalendar.from_json({}) == DEFAULT_CALENDAR
    assert BusinessCalendar.from_json(DEFAULT_CALENDAR.to_json()) == DEFAULT_CALENDAR


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"key": "Support"}, "key"),
        ({"key": 5}, "key"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"time_zone": "America"}, "time_zone"),
        ({"time_zone": 8}, "time_zone"),
        ({"hours": []}, "at least one window"),
        ({"hours": [("09:00", "12:00"), ("11:00", "18:00")]}, "overlap"),
        ({"hours": [("18:00", "09:00")]}, "ends too early"),
        ({"hours": [("09:00", "09:00")]}, "ends too early"),
        ({"hours": [("09:00", "25:00")]}, "not a time of day"),
        ({"hours": [("9am", "18:00")]}, "HH:MM"),
        ({"hours": [(dt.time(9, 0, 30), dt.time(18))]}, "whole minutes"),
        ({"hours": [(dt.time(9, tzinfo=dt.UTC), dt.time(18))]}, "naive"),
        ({"hours": ("09:00", "18:00")}, "each window"),
        ({"hours": [("09:00", "12:00", "18:00")]}, "each window"),
        ({"hours": "09:00-18:00"}, "hours"),
        ({"working_days": [7]}, "working_days"),
        ({"working_days": [-1]}, "working_days"),
        ({"working_days": [True]}, "working_days"),
        ({"working_days": ["1"]}, "working_days"),
        ({"working_days": 5}, "working_days"),
        ({"holidays": ["2026-02-30"]}, "ISO date"),
        ({"holidays": "2026-03-16"}, "holidays"),
        ({"holidays": [dt.datetime(2026, 3, 16)]}, "holidays"),
        ({"working_dates": [20260316]}, "working_dates"),
        ({"country": "XX"}, "XX"),
        ({"country": "cn"}, "country"),
        ({"country": "CHN"}, "country"),
        ({"country": "US", "subdivision": "ZZ"}, "subdivision"),
        ({"subdivision": "CA"}, "subdivision"),
    ],
)
def test_bad_configuration_is_refused(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        BusinessCalendar(**arguments)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"timezone": "UTC"}, "unknown keys"),
        ({"hours": [["09:00", "1800"]]}, "hours"),
        ({"holidays": ["16/03/2026"]}, "ISO date"),
        ({"working_days": "12345"}, "working_days"),
        (["key", "default"], "JSON object"),
        ({"time_zone": None}, "time_zone"),
    ],
)
def test_from_json_refuses_bad_values_clearly(value: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        BusinessCalendar.from_json(value)


def test_calendars_are_values() -> None:
    assert BusinessCalendar(key="a") == BusinessCalendar(key="a")
    assert len({BusinessCalendar(key="a"), BusinessCalendar(key="a")}) == 1


# Properties: add and between agree, on random starts in 2026

CALENDARS = [
    DEFAULT_CALENDAR,
    BusinessCalendar(
        key="shanghai",
        time_zone="Asia/Shanghai",
        holidays=["2026-03-16", "2026-05-06", "2026-12-31"],
        working_dates=["2026-03-14", "2026-10-11"],
    ),
    BusinessCalendar(
        key="shanghai_cn_lunch",
        time_zone="Asia/Shanghai",
        hours=[("09:00", "12:00"), ("13:00", "18:00")],
        country="CN",
    ),
    BusinessCalendar(key="new_york", time_zone="America/New_York"),
    # Open every night across both clock changes of 2026 (8 March, 1 November).
    BusinessCalendar(
        key="new_york_nights",
        time_zone="America/New_York",
        working_days=range(7),
        hours=[("00:30", "03:30"), ("09:00", "17:00")],
    ),
]
YEAR_2026 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
ZONES = [dt.UTC, SHANGHAI, NEW_YORK]

calendars = st.sampled_from(CALENDARS)
starts = st.builds(
    lambda minute, zone: (YEAR_2026 + dt.timedelta(minutes=minute)).astimezone(zone),
    st.integers(0, 365 * 24 * 60 - 1),
    st.sampled_from(ZONES),
)
amounts = st.integers(0, 20_000)
fast = settings(max_examples=200, deadline=None)


def in_working_time(calendar: BusinessCalendar, moment: dt.datetime) -> bool:
    """Whether the minute up to ``moment`` was worked, by the wall clock."""
    local = moment.astimezone(ZoneInfo(calendar.time_zone))
    return calendar.is_working_day(local.date()) and any(
        opens < local.time() <= closes for opens, closes in calendar.hours
    )


@fast
@given(calendars, starts, amounts)
def test_between_counts_what_add_added(
    calendar: BusinessCalendar, start: dt.datetime, minutes: int
) -> None:
    assert calendar.between(start, calendar.add(start, minutes)) == minutes


@fast
@given(calendars, starts, amounts, amounts)
def test_adding_in_two_steps_is_adding_once(
    calendar: BusinessCalendar, start: dt.datetime, first: int, second: int
) -> None:
    assert calendar.add(start, first + second) == calendar.add(calendar.add(start, first), second)


@fast
@given(calendars, starts, amounts, amounts)
def test_more_minutes_end_later(
    calendar: BusinessCalendar, start: dt.datetime, first: int, second: int
) -> None:
    fewer, more = sorted((first, second))
    if fewer < more:
        assert calendar.add(start, fewer) < calendar.add(start, more)
    else:
        assert calendar.add(start, fewer) == calendar.add(start, more)


@fast
@given(calendars, starts, amounts)
def test_the_answer_lies_in_working_time(
    calendar: BusinessCalendar, start: dt.datetime, minutes: int
) -> None:
    end = calendar.add(start, minutes)
    if minutes == 0:
        assert end == start
    else:
        assert end > start and in_working_time(calendar, end)


@settings(max_examples=40, deadline=None)
@given(calendars, starts, st.integers(0, 3 * 24 * 60))
def test_between_agrees_with_counting_minute_by_minute(
    calendar: BusinessCalendar, start: dt.datetime, span: int
) -> None:
    worked = sum(
        in_working_time(calendar, start + dt.timedelta(minutes=minute + 1))
        for minute in range(span)
    )
    assert calendar.between(start, start + dt.timedelta(minutes=span)) == worked
