"""Deadlines as a case clerk checks them on a wall calendar.

Dates used below (2026, from chinese_calendar 1.11): Mon 2026-03-16 is an ordinary week; the
National Day holiday runs Thu 2026-10-01 to Wed 2026-10-07, Mid-autumn is Fri 2026-09-25, and
the weekend days that become working days (调休) are Sun 2026-09-20 and Sat 2026-10-10.
"""

import math
import random
import time as wallclock
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from gridcity.lib.workcalendar import (
    CLOCK_LABELS,
    CLOCK_UNIT_HOURS,
    Clock,
    WorkCalendar,
    format_time_limit,
    parse_time_limit,
)

SH = ZoneInfo("Asia/Shanghai")
CAL = WorkCalendar()


def at(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=SH)


# -- clocks -----------------------------------------------------------------------------------


def test_it_labels_each_clock_in_chinese_with_its_unit() -> None:
    assert CLOCK_LABELS == {
        Clock.URGENT_HOURS: "紧急工作时",
        Clock.WORK_HOURS: "工作时",
        Clock.WORK_DAYS: "工作日",
        Clock.NATURAL_DAYS: "自然日",
    }
    assert Clock.WORK_DAYS.label == "工作日"
    assert CLOCK_UNIT_HOURS[Clock.NATURAL_DAYS] == 24
    assert CAL.unit_hours(Clock.WORK_DAYS) == 8
    assert CAL.day_length == timedelta(hours=8)
    assert Clock("work_hours") is Clock.WORK_HOURS


# -- working days -----------------------------------------------------------------------------


def test_it_knows_the_2026_national_day_holiday_and_its_adjusted_working_weekend() -> None:
    assert not CAL.is_workday(date(2026, 10, 1))
    assert not CAL.is_workday(date(2026, 10, 5))  # a Monday inside the holiday
    assert not CAL.is_workday(date(2026, 9, 25))  # Mid-autumn, a Friday
    assert CAL.is_workday(date(2026, 9, 20))  # Sunday worked for National Day (调休)
    assert CAL.is_workday(date(2026, 10, 10))  # Saturday worked for National Day (调休)
    assert not CAL.is_workday(date(2026, 10, 11))
    assert CAL.is_workday(date(2026, 10, 8))


def test_it_falls_back_to_monday_to_friday_for_a_year_without_official_data() -> None:
    # 2100 will never be in the package; 2027 is missing from chinesecalendar 1.11.
    assert not WorkCalendar.official_data_covers(2100)
    assert CAL.is_workday(date(2100, 1, 1))  # a Friday: would be 元旦, but nobody knows yet
    assert not CAL.is_workday(date(2100, 1, 2))
    assert WorkCalendar.official_data_covers(2026)
    assert WorkCalendar.years_without_official_data([2100, 2025, 2026, 2100]) == [2100]


def test_it_does_not_raise_for_2027() -> None:
    if WorkCalendar.official_data_covers(2027):
        pytest.skip("chinesecalendar now ships the 2027 calendar")
    assert WorkCalendar.years_without_official_data([2026, 2027]) == [2027]
    assert CAL.is_workday(date(2027, 10, 1))  # a Friday, National Day in reality
    assert not CAL.is_workday(date(2027, 10, 2))
    # Fri 2027-10-01 16:00 + 4 working hours: 2 h on Friday, 2 h on Monday morning.
    assert CAL.add(at(2027, 10, 1, 16), 4, Clock.WORK_HOURS) == at(2027, 10, 4, 10)


def test_it_lets_the_local_table_turn_a_day_into_a_holiday_or_a_working_day() -> None:
    typhoon = WorkCalendar(overrides={date(2026, 3, 16): False})
    makeup = WorkCalendar(overrides={date(2026, 3, 14): True})
    known_2027 = WorkCalendar(overrides={date(2027, 10, 1): False})
    assert not typhoon.is_workday(date(2026, 3, 16))
    assert makeup.is_workday(date(2026, 3, 14))
    assert not known_2027.is_workday(date(2027, 10, 1))
    # Fri 16:00 + 4 working hours: normally Mon 10:00.
    assert CAL.add(at(2026, 3, 13, 16), 4, Clock.WORK_HOURS) == at(2026, 3, 16, 10)
    assert typhoon.add(at(2026, 3, 13, 16), 4, Clock.WORK_HOURS) == at(2026, 3, 17, 10)
    assert makeup.add(at(2026, 3, 13, 16), 4, Clock.WORK_HOURS) == at(2026, 3, 14, 10)
    # Calendars with different tables do not leak into each other.
    assert CAL.is_workday(date(2026, 3, 16))
    assert not CAL.is_workday(date(2026, 3, 14))


def test_it_lets_an_override_beat_the_official_calendar() -> None:
    cal = WorkCalendar(overrides={date(2026, 10, 10): False, date(2026, 10, 2): True})
    assert not cal.is_workday(date(2026, 10, 10))
    assert cal.is_workday(date(2026, 10, 2))


# -- add: working hours -----------------------------------------------------------------------


def test_it_skips_the_weekend() -> None:
    assert CAL.add(at(2026, 3, 13, 16), 4, Clock.WORK_HOURS) == at(2026, 3, 16, 10)
    assert CAL.add(at(2026, 3, 13, 10), 1, Clock.WORK_DAYS) == at(2026, 3, 16, 10)
    # Saturday intake: counting starts Monday 08:00.
    assert CAL.add(at(2026, 3, 14, 11), 3, Clock.WORK_HOURS) == at(2026, 3, 16, 11)


def test_it_skips_the_lunch_break() -> None:
    assert CAL.add(at(2026, 3, 16, 11), 2, Clock.WORK_HOURS) == at(2026, 3, 16, 15)
    assert CAL.add(at(2026, 3, 16, 12, 30), 1, Clock.WORK_HOURS) == at(2026, 3, 16, 15)


def test_it_keeps_a_deadline_that_lands_on_the_end_of_a_period() -> None:
    assert CAL.add(at(2026, 3, 16, 14), 4, Clock.WORK_HOURS) == at(2026, 3, 16, 18)
    assert CAL.add(at(2026, 3, 16, 8), 4, Clock.WORK_HOURS) == at(2026, 3, 16, 12)
    assert CAL.add(at(2026, 3, 16, 8), 1, Clock.WORK_DAYS) == at(2026, 3, 16, 18)
    assert CAL.add(at(2026, 3, 13, 8), 2, Clock.WORK_DAYS) == at(2026, 3, 16, 18)


def test_it_counts_an_evening_report_from_the_next_morning() -> None:
    assert CAL.add(at(2026, 3, 16, 20), 1, Clock.WORK_HOURS) == at(2026, 3, 17, 9)
    assert CAL.add(at(2026, 3, 16, 18), 1, Clock.WORK_HOURS) == at(2026, 3, 17, 9)
    assert CAL.add(at(2026, 3, 17, 6), 1, Clock.WORK_HOURS) == at(2026, 3, 17, 9)


def test_it_jumps_the_national_day_holiday_and_works_the_adjusted_saturday() -> None:
    # Wed 09-30 14:00 + 5 working days (40 h): 09-30 4 h, 10-08 8 h, 10-09 8 h,
    # Sat 10-10 8 h (调休), 10-12 8 h, 10-13 4 h -> Tue 10-13 12:00.
    assert CAL.add(at(2026, 9, 30, 14), 5, Clock.WORK_DAYS) == at(2026, 10, 13, 12)
    # Fri 10-09 08:00 + 2 working days ends on the adjusted Saturday, not on Monday.
    assert CAL.add(at(2026, 10, 9, 8), 2, Clock.WORK_DAYS) == at(2026, 10, 10, 18)
    # A report on the holiday itself waits for Thu 10-08.
    assert CAL.add(at(2026, 10, 3, 10), 2, Clock.WORK_HOURS) == at(2026, 10, 8, 10)
    # The adjusted Sunday before Mid-autumn is a normal working day too.
    assert CAL.add(at(2026, 9, 19, 9), 1, Clock.WORK_HOURS) == at(2026, 9, 20, 9)


def test_it_uses_custom_working_periods() -> None:
    cal = WorkCalendar(periods=((time(9), time(17)),))
    assert cal.day_length == timedelta(hours=8)
    assert cal.add(at(2026, 3, 16, 16), 2, Clock.WORK_HOURS) == at(2026, 3, 17, 10)
    assert cal.add(at(2026, 3, 16, 12, 30), 1, Clock.WORK_HOURS) == at(2026, 3, 16, 13, 30)
    mornings = WorkCalendar(periods=((time(9), time(12)),))
    assert mornings.unit_hours(Clock.WORK_DAYS) == 3
    assert mornings.add(at(2026, 3, 16, 9), 1, Clock.WORK_DAYS) == at(2026, 3, 16, 12)
    assert mornings.add(at(2026, 3, 16, 10), 1, Clock.WORK_DAYS) == at(2026, 3, 17, 10)


@pytest.mark.parametrize(
    "periods",
    [
        (),
        ((time(12), time(8)),),
        ((time(8), time(12)), (time(11), time(14))),
        ((time(14), time(18)), (time(8), time(12))),
    ],
)
def test_it_rejects_bad_periods(periods: tuple[tuple[time, time], ...]) -> None:
    with pytest.raises(ValueError):
        WorkCalendar(periods=periods)


# -- add: continuous clocks -------------------------------------------------------------------


def test_it_runs_the_urgent_clock_day_and_night_and_through_holidays() -> None:
    assert CAL.add(at(2026, 3, 13, 20), 2, Clock.URGENT_HOURS) == at(2026, 3, 13, 22)
    assert CAL.add(at(2026, 9, 30, 23), 0.5, Clock.URGENT_HOURS) == at(2026, 9, 30, 23, 30)
    assert CAL.add(at(2026, 10, 1, 10), 24, Clock.URGENT_HOURS) == at(2026, 10, 2, 10)


def test_it_counts_natural_days_as_whole_24_hours() -> None:
    assert CAL.add(at(2026, 9, 30, 14), 3, Clock.NATURAL_DAYS) == at(2026, 10, 3, 14)
    assert CAL.add(at(2026, 3, 16, 14), 0.5, Clock.NATURAL_DAYS) == at(2026, 3, 17, 2)


def test_it_returns_the_deadline_in_the_timezone_it_was_given() -> None:
    # 00:00 UTC is 08:00 in Shanghai: the working period is read in the calendar's zone.
    start = datetime(2026, 3, 16, 0, tzinfo=UTC)
    deadline = CAL.add(start, 1, Clock.WORK_HOURS)
    assert deadline.tzinfo is UTC
    assert deadline == datetime(2026, 3, 16, 1, tzinfo=UTC)
    # 10:00 UTC is 18:00 in Shanghai, after work: counting starts Tuesday 08:00.
    late = datetime(2026, 3, 16, 10, tzinfo=UTC)
    assert CAL.add(late, 1, Clock.WORK_HOURS) == at(2026, 3, 17, 9)


def test_it_is_dst_safe_for_continuous_clocks() -> None:
    ny = ZoneInfo("America/New_York")
    before = datetime(2026, 3, 7, 12, tzinfo=ny)  # DST starts 2026-03-08 02:00
    assert CAL.add(before, 24, Clock.URGENT_HOURS) == datetime(2026, 3, 8, 13, tzinfo=ny)
    assert CAL.elapsed(before, datetime(2026, 3, 8, 13, tzinfo=ny), Clock.URGENT_HOURS) == 24


def test_it_refuses_naive_datetimes_and_bad_amounts() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        CAL.add(datetime(2026, 3, 16, 8), 1, Clock.WORK_HOURS)
    with pytest.raises(ValueError, match="timezone-aware"):
        CAL.elapsed(at(2026, 3, 16, 8), datetime(2026, 3, 16, 9), Clock.WORK_HOURS)
    for bad in (-1, math.nan, math.inf):
        with pytest.raises(ValueError):
            CAL.add(at(2026, 3, 16, 8), bad, Clock.WORK_HOURS)
    with pytest.raises(ValueError):
        CAL.add(at(2026, 3, 16, 8), 1, "fortnights")  # type: ignore[arg-type]


def test_it_gives_back_the_start_for_a_zero_limit() -> None:
    assert CAL.add(at(2026, 3, 16, 20), 0, Clock.WORK_HOURS) == at(2026, 3, 16, 20)


# -- elapsed ----------------------------------------------------------------------------------


def test_it_measures_elapsed_time_on_each_clock() -> None:
    friday, monday = at(2026, 3, 13, 16), at(2026, 3, 16, 10)
    assert CAL.elapsed(friday, monday, Clock.WORK_HOURS) == 4
    assert CAL.elapsed(friday, monday, Clock.WORK_DAYS) == 0.5
    assert CAL.elapsed(friday, monday, Clock.URGENT_HOURS) == 66
    assert CAL.elapsed(friday, monday, Clock.NATURAL_DAYS) == 2.75
    assert CAL.elapsed(monday, friday, Clock.WORK_HOURS) == -4
    # Over the whole National Day fortnight: 09-30 4 h + 10-08, 10-09, 10-10, 10-12 + 10-13 4 h.
    assert CAL.elapsed(at(2026, 9, 30, 14), at(2026, 10, 13, 12), Clock.WORK_DAYS) == 5
    # Lunch and the night do not count.
    assert CAL.elapsed(at(2026, 3, 16, 11), at(2026, 3, 16, 15), Clock.WORK_HOURS) == 2
    assert CAL.elapsed(at(2026, 3, 16, 19), at(2026, 3, 17, 7), Clock.WORK_HOURS) == 0


def test_elapsed_is_the_inverse_of_add() -> None:
    # A seeded loop stands in for hypothesis, which is not a dependency of the project.
    rng = random.Random(20261001)
    calendars = [
        CAL,
        WorkCalendar(periods=((time(9), time(17)),)),
        WorkCalendar(
            periods=((time(8, 30), time(11, 45)), (time(13), time(17, 15))),
            overrides={date(2026, 10, 12): False, date(2026, 10, 11): True},
        ),
    ]
    origin = at(2025, 12, 1)
    for _ in range(400):
        cal = rng.choice(calendars)
        clock = rng.choice(list(Clock))
        start = origin + timedelta(minutes=rng.randrange(0, 60 * 24 * 500))
        amount = rng.choice([rng.uniform(0, 50), float(rng.randint(0, 20)), rng.uniform(0, 1)])
        deadline = cal.add(start, amount, clock)
        assert deadline >= start
        assert cal.elapsed(start, deadline, clock) == pytest.approx(amount, abs=1e-6)
        if clock.counts_working_time and amount > 0:
            # The deadline is always inside (or at the end of) a working period of a workday.
            local = deadline.astimezone(SH)
            assert cal.is_workday(local.date())
            assert any(b < local.time() <= e for b, e in cal.periods)


def test_it_jumps_whole_days_instead_of_walking_minutes() -> None:
    started = wallclock.perf_counter()
    for i in range(200):
        CAL.add(at(2025, 1, 1, 9) + timedelta(hours=i), 250, Clock.WORK_DAYS)
    assert wallclock.perf_counter() - started < 2.0


# -- traffic lights ---------------------------------------------------------------------------


def test_it_turns_yellow_at_80_percent_and_red_after_100_percent() -> None:
    # 10 working hours from Mon 08:00: Mon 8 h + Tue 2 h -> Tue 10:00.
    start = at(2026, 3, 16, 8)
    deadline = CAL.add(start, 10, Clock.WORK_HOURS)
    assert deadline == at(2026, 3, 17, 10)

    def light(now: datetime) -> tuple[str, float]:
        return CAL.traffic_light(start, deadline, now, Clock.WORK_HOURS)

    assert light(at(2026, 3, 16, 8)) == ("green", 0.0)
    assert light(at(2026, 3, 16, 17, 59, 24))[0] == "green"  # 7.99 h used
    assert light(at(2026, 3, 16, 18)) == ("yellow", 0.8)
    assert light(at(2026, 3, 16, 23)) == ("yellow", 0.8)  # the night uses nothing
    assert light(at(2026, 3, 17, 9)) == ("yellow", 0.9)
    assert light(at(2026, 3, 17, 10)) == ("yellow", 1.0)
    colour, fraction = light(at(2026, 3, 17, 10, 0, 36))  # 10.01 h used
    assert colour == "red"
    assert fraction == pytest.approx(1.001)


def test_it_is_red_once_the_deadline_has_passed_even_after_hours() -> None:
    start, deadline = at(2026, 3, 16, 14), at(2026, 3, 16, 18)
    assert CAL.traffic_light(start, deadline, at(2026, 3, 16, 20), Clock.WORK_HOURS) == (
        "red",
        1.0,
    )


def test_it_measures_the_urgent_clock_in_real_time() -> None:
    start = at(2026, 3, 16, 20)
    deadline = CAL.add(start, 2, Clock.URGENT_HOURS)
    assert CAL.traffic_light(start, deadline, at(2026, 3, 16, 21, 36), Clock.URGENT_HOURS) == (
        "yellow",
        0.8,
    )
    assert CAL.traffic_light(start, deadline, at(2026, 3, 16, 21, 35), Clock.URGENT_HOURS)[0] == (
        "green"
    )


def test_it_handles_a_zero_limit() -> None:
    start = at(2026, 3, 16, 9)
    assert CAL.traffic_light(start, start, at(2026, 3, 16, 8), Clock.URGENT_HOURS) == (
        "green",
        0.0,
    )
    assert CAL.traffic_light(start, start, start, Clock.URGENT_HOURS) == ("yellow", 1.0)
    assert CAL.traffic_light(start, start, at(2026, 3, 16, 10), Clock.URGENT_HOURS)[0] == "red"


# -- template notation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2紧急工作时", (2.0, Clock.URGENT_HOURS)),
        ("4工作时", (4.0, Clock.WORK_HOURS)),
        ("5工作日", (5.0, Clock.WORK_DAYS)),
        ("15个工作日", (15.0, Clock.WORK_DAYS)),
        ("3自然日", (3.0, Clock.NATURAL_DAYS)),
        ("1天", (1.0, Clock.NATURAL_DAYS)),
        ("7 天", (7.0, Clock.NATURAL_DAYS)),
        ("30分钟", (0.5, Clock.URGENT_HOURS)),
        ("10分钟", (10 / 60, Clock.URGENT_HOURS)),
        ("2小时", (2.0, Clock.URGENT_HOURS)),
        (" 1.5 工作时 ", (1.5, Clock.WORK_HOURS)),
        ("４工作时", (4.0, Clock.WORK_HOURS)),  # full-width digit typed on a Chinese IME
    ],
)
def test_it_parses_template_time_limits(text: str, expected: tuple[float, Clock]) -> None:
    assert parse_time_limit(text) == expected


@pytest.mark.parametrize("text", ["", "4", "工作时", "4周", "-1工作日", "0工作时", "四工作时"])
def test_it_names_the_text_it_cannot_parse(text: str) -> None:
    with pytest.raises(ValueError, match="时限") as excinfo:
        parse_time_limit(text)
    assert f"“{text}”" in str(excinfo.value)


@pytest.mark.parametrize("clock", list(Clock))
@pytest.mark.parametrize("amount", [2, 0.5, 15, 1.25, 10 / 60])
def test_format_and_parse_round_trip(clock: Clock, amount: float) -> None:
    assert parse_time_limit(format_time_limit(amount, clock)) == (amount, clock)


def test_it_formats_like_the_templates() -> None:
    assert format_time_limit(2, Clock.URGENT_HOURS) == "2紧急工作时"
    assert format_time_limit(4.0, Clock.WORK_HOURS) == "4工作时"
    assert format_time_limit(0.5, Clock.WORK_DAYS) == "0.5工作日"
    assert format_time_limit(3, Clock.NATURAL_DAYS) == "3自然日"
