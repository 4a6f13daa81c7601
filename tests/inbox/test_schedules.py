"""Business hours read in the schedule's own time zone, across daylight saving and holidays."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from inbox import schedules

MADRID = {
    "timezone": "Europe/Madrid",
    "hours": {day: [["09:00", "14:00"], ["15:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")},
    "closed_dates": ["2026-12-25"],
}


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def hours(spec=MADRID, **kwargs):
    parsed, errors = schedules.parse_inline(spec, **kwargs)
    assert errors == []
    return parsed


@pytest.mark.parametrize(
    ("at", "open_"),
    [
        (utc(2026, 11, 30, 8, 0), True),  # Monday 09:00 in Madrid (UTC+1)
        (utc(2026, 11, 30, 7, 59), False),  # 08:59 in Madrid
        (utc(2026, 11, 30, 13, 30), False),  # lunch: 14:30 in Madrid
        (utc(2026, 11, 30, 16, 59), True),  # 17:59
        (utc(2026, 11, 30, 17, 0), False),  # 18:00: a range ends before its end time
        (utc(2026, 11, 28, 10, 0), False),  # Saturday
        (utc(2026, 12, 25, 10, 0), False),  # a Friday, but Christmas is closed
        (utc(2026, 12, 24, 23, 30), False),  # 00:30 on the 25th in Madrid: the closed date is local
    ],
)
def test_opening_hours_are_wall_clock_time_in_the_schedules_zone(at, open_):
    assert hours().is_open(at) is open_


def test_summer_time_keeps_the_local_hours():
    # Madrid is UTC+2 in July: 09:00 local is 07:00 UTC, which is before opening in winter terms.
    assert hours().is_open(utc(2026, 7, 6, 7, 0)) is True
    assert hours().is_open(utc(2026, 7, 6, 6, 59)) is False


def test_the_day_daylight_saving_starts_is_judged_by_local_time():
    # 29 March 2026 02:00 → 03:00 in Madrid; a Sunday range 01:00–04:00 spans the missing hour.
    spec = {"timezone": "Europe/Madrid", "hours": {"sun": [["03:00", "04:00"]]}}
    assert hours(spec).is_open(utc(2026, 3, 29, 1, 0)) is True  # 03:00 CEST
    assert hours(spec).is_open(utc(2026, 3, 29, 0, 59)) is False  # 01:59 CET


def test_a_range_until_midnight_covers_the_last_minute_of_the_day():
    spec = {"timezone": "America/Sao_Paulo", "hours": {"fri": [["20:00", "24:00"]]}}
    friday_2359 = dt.datetime(2026, 11, 27, 23, 59, tzinfo=ZoneInfo("America/Sao_Paulo"))
    assert hours(spec).is_open(friday_2359) is True
    assert hours(spec).is_open(friday_2359 + dt.timedelta(minutes=1)) is False


def test_the_step_timezone_overrides_the_inline_one():
    tokyo = hours(MADRID, timezone="Asia/Tokyo")
    assert tokyo.is_open(utc(2026, 11, 30, 1, 0)) is True  # 10:00 Monday in Tokyo
    assert tokyo.describe(utc(2026, 11, 30, 1, 0)) == "Mon 2026-11-30 10:00 Asia/Tokyo"


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ({"timezone": "Mars/Olympus", "hours": {"mon": [["09:00", "10:00"]]}}, "not a known IANA time zone"),
        ({"timezone": "UTC", "hours": {"mon": [["18:00", "09:00"]]}}, "ends before it starts"),
        ({"timezone": "UTC", "hours": {"mon": [["09:00", "13:00"], ["12:00", "18:00"]]}}, "overlap"),
        ({"timezone": "UTC", "hours": {"mon": [["09:00", "24:00"], ["10:00", "11:00"]]}}, "overlap"),
        ({"timezone": "UTC", "hours": {"monday": [["09:00", "10:00"]]}}, "'monday' is not a day"),
        ({"timezone": "UTC", "hours": {"mon": [["9am", "10:00"]]}}, "a range is"),
        ({"timezone": "UTC", "hours": {"mon": [["25:00", "26:00"]]}}, "a range is"),
        ({"timezone": "UTC", "hours": {}}, "'hours' must map days"),
        ({"timezone": "UTC", "hours": {"mon": [["09:00", "10:00"]]}, "closed_dates": ["25/12"]}, "is not a date"),
        ({"timezone": "UTC", "hours": {"mon": []}, "open": True}, "Unknown schedule setting"),
        ("9 to 5", "must be an object"),
    ],
)
def test_bad_schedules_are_refused_with_the_reason(spec, error):
    parsed, errors = schedules.parse_inline(spec)
    assert parsed is None
    assert any(error in e for e in errors), errors


def test_stored_schedules_read_their_ranges_and_closed_dates(db):
    from inbox.models import ClosedDate, Schedule, ScheduleRange

    office = Schedule.objects.create(name="Office", timezone="America/New_York")
    ScheduleRange.objects.create(schedule=office, weekday=0, start=dt.time(9), end=dt.time(17))
    ClosedDate.objects.create(schedule=office, date=dt.date(2026, 12, 7))
    loaded = schedules.load("Office")
    assert loaded.is_open(utc(2026, 11, 30, 14, 0)) is True  # 09:00 in New York
    assert loaded.is_open(utc(2026, 12, 7, 15, 0)) is False  # closed date
    assert schedules.load("Nowhere") is None
