"""A city outside China keeps its own calendar: its time zone, working periods, working days and
public holidays, plus its own days every year; a Chinese city's calendar is the State Council's
as before.

Dates used below: Memorial Day is Mon 2026-05-25, Patriots' Day (Massachusetts only) Mon
2026-04-20, Independence Day falls on Sat 2026-07-04 and is observed Fri 2026-07-03. In China
Sat 2026-10-10 is worked for National Day (调休) and Thu 2026-10-01 is a holiday.
"""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest

from gridcity.lib.workcalendar import (
    Clock,
    WorkCalendar,
    parse_holiday_region,
    parse_working_days,
    parse_working_periods,
)

NY = ZoneInfo("America/New_York")
SH = ZoneInfo("Asia/Shanghai")
BOSTON = WorkCalendar(
    periods=((time(9), time(17)),),
    tz=NY,
    working_days=frozenset({1, 2, 3, 4, 5}),
    holiday_region="US",
)


def ny(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=NY)


# -- a US city --------------------------------------------------------------------------------


def test_it_skips_memorial_day_and_ends_in_boston_working_hours() -> None:
    # Fri 16:30: half an hour on Friday, Monday is Memorial Day, 7.5 h on Tuesday.
    deadline = BOSTON.add(ny(2026, 5, 22, 16, 30), 1, Clock.WORK_DAYS)
    assert deadline == ny(2026, 5, 26, 16, 30)
    assert deadline.astimezone(NY).weekday() == 1  # a Tuesday
    # The same instant read in Shanghai would be Saturday morning: the zone is Boston's.
    shanghai_start = ny(2026, 5, 22, 16, 30).astimezone(SH)
    assert BOSTON.add(shanghai_start, 1, Clock.WORK_DAYS) == deadline
    assert BOSTON.elapsed(ny(2026, 5, 22, 16, 30), deadline, Clock.WORK_DAYS) == 1


def test_it_counts_a_boston_evening_report_from_the_next_boston_morning() -> None:
    assert BOSTON.add(ny(2026, 5, 19, 20), 2, Clock.WORK_HOURS) == ny(2026, 5, 20, 11)
    # A night in Boston is a working day in Shanghai, and it must not count.
    assert BOSTON.elapsed(ny(2026, 5, 19, 17), ny(2026, 5, 20, 9), Clock.WORK_HOURS) == 0


def test_it_knows_us_federal_holidays_and_their_observed_days() -> None:
    assert not BOSTON.is_workday(date(2026, 5, 25))  # Memorial Day
    assert not BOSTON.is_workday(date(2026, 7, 3))  # Independence Day observed
    assert not BOSTON.is_workday(date(2026, 11, 26))  # Thanksgiving
    assert BOSTON.is_workday(date(2026, 10, 1))  # China's National Day is nothing here
    assert BOSTON.is_workday(date(2026, 4, 20))  # Patriots' Day is Massachusetts only
    assert not BOSTON.is_workday(date(2026, 10, 10))  # a Saturday, no 调休 here
    assert BOSTON.holiday_data_covers(2100)  # rules, not a yearly announcement


def test_a_subdivision_adds_its_own_holidays() -> None:
    massachusetts = WorkCalendar(tz=NY, holiday_region="us-ma")
    assert massachusetts.holiday_region == "US-MA"
    assert not massachusetts.is_workday(date(2026, 4, 20))
    assert not massachusetts.is_workday(date(2026, 5, 25))


def test_it_works_the_days_of_the_week_it_is_told() -> None:
    sun_to_thu = WorkCalendar(working_days=parse_working_days("sun-thu"), holiday_region="")
    assert sun_to_thu.is_workday(date(2026, 3, 15))  # Sunday
    assert not sun_to_thu.is_workday(date(2026, 3, 13))  # Friday
    # No public holidays at all: New Year's Day is an ordinary Thursday.
    assert sun_to_thu.is_workday(date(2026, 1, 1))


def test_the_citys_own_tables_beat_the_public_calendar() -> None:
    cal = WorkCalendar(
        tz=NY,
        holiday_region="US",
        recurring={(3, 17): False, (5, 25): True},
        overrides={date(2027, 3, 17): True},
    )
    assert not cal.is_workday(date(2026, 3, 17))  # Evacuation Day, every year
    assert not cal.is_workday(date(2028, 3, 17))
    assert cal.is_workday(date(2027, 3, 17))  # but worked in 2027 alone
    assert cal.is_workday(date(2026, 5, 25))  # Memorial Day worked, every year


# -- a Chinese city ---------------------------------------------------------------------------


def test_the_chinese_default_is_the_state_council_calendar_day_for_day() -> None:
    cal = WorkCalendar()
    assert cal.holiday_region == "CN"
    assert cal.is_workday(date(2026, 10, 10))  # 调休 Saturday
    assert not cal.is_workday(date(2026, 10, 1))
    day = date(2024, 1, 1)
    while day <= date(2026, 12, 31):
        assert cal.is_workday(day) == chinese_calendar.is_workday(day), day
        day += timedelta(days=1)


def test_a_chinese_city_with_a_six_day_week_keeps_holidays_and_adjusted_days() -> None:
    six_days = WorkCalendar(working_days=parse_working_days("mon-sat"))
    assert six_days.is_workday(date(2026, 3, 14))  # an ordinary Saturday
    assert not six_days.is_workday(date(2026, 3, 15))
    assert not six_days.is_workday(date(2026, 10, 3))  # National Day, a Saturday
    assert six_days.is_workday(date(2026, 9, 20))  # the adjusted Sunday (调休)


# -- the notation of the settings -------------------------------------------------------------


def test_it_reads_working_periods() -> None:
    assert parse_working_periods("08:00-12:00,14:00-18:00") == (
        (time(8), time(12)),
        (time(14), time(18)),
    )
    assert parse_working_periods(" 9:00 - 17:30 ") == ((time(9), time(17, 30)),)


@pytest.mark.parametrize(
    "text", ["", "9-17", "09:00-25:00", "12:00-08:00", "08:00-12:00,11:00-14:00", "8:00"]
)
def test_it_rejects_bad_working_periods(text: str) -> None:
    with pytest.raises(ValueError):
        parse_working_periods(text)


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("mon-fri", {1, 2, 3, 4, 5}),
        ("1,2,3,4,5", {1, 2, 3, 4, 5}),
        ("Mon,Wed,Friday", {1, 3, 5}),
        ("sun-thu", {7, 1, 2, 3, 4}),
        ("1-6", {1, 2, 3, 4, 5, 6}),
        ("周一-周五", {1, 2, 3, 4, 5}),
    ],
)
def test_it_reads_working_days(text: str, days: set[int]) -> None:
    assert parse_working_days(text) == days


@pytest.mark.parametrize("text", ["", "0", "8", "mon-funday", "weekdays"])
def test_it_rejects_bad_working_days(text: str) -> None:
    with pytest.raises(ValueError):
        parse_working_days(text)


def test_it_reads_holiday_regions() -> None:
    assert parse_holiday_region("CN") == "CN"
    assert parse_holiday_region("us") == "US"
    assert parse_holiday_region("US-MA") == "US-MA"
    assert parse_holiday_region("none") == ""
    assert parse_holiday_region("") == ""
    with pytest.raises(ValueError, match="XX"):
        parse_holiday_region("XX")
    with pytest.raises(ValueError, match="ZZ"):
        parse_holiday_region("US-ZZ")
    with pytest.raises(ValueError):
        WorkCalendar(holiday_region="Atlantis")
