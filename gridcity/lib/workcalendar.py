"""Deadlines on the four clocks of DOMAIN.md §4, on plain values.

No Django and no database: the city's own tables are passed in as ``overrides`` (date -> is a
working day) and ``recurring`` ((month, day) -> is a working day, every year). Public holidays
come from the calendar's ``holidays`` region: for China (the default) the ``chinese_calendar``
package, which knows the official holidays and the weekend days that become working days (调休)
up to the last year the State Council has published; for any other country or region the
``holidays`` package, which computes them by rule for any year.

Datetimes must be aware. ``add`` returns its deadline in the timezone of ``start``; working
periods and working days are always read in the calendar's own timezone (Asia/Shanghai by
default), whatever timezone the caller uses.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

import chinese_calendar

from gridcity.lib.bounds import check_time_limit

__all__ = [
    "CLOCK_LABELS",
    "CLOCK_UNIT_HOURS",
    "DEFAULT_PERIODS",
    "DEFAULT_WORKING_DAYS",
    "Clock",
    "WorkCalendar",
    "format_time_limit",
    "parse_holiday_region",
    "parse_time_limit",
    "parse_working_days",
    "parse_working_periods",
]


class Clock(StrEnum):
    URGENT_HOURS = "urgent_hours"
    WORK_HOURS = "work_hours"
    WORK_DAYS = "work_days"
    NATURAL_DAYS = "natural_days"

    @property
    def label(self) -> str:
        return CLOCK_LABELS[self]

    @property
    def counts_working_time(self) -> bool:
        """True for the clocks that stop outside working periods and on days off."""
        return self in (Clock.WORK_HOURS, Clock.WORK_DAYS)


CLOCK_LABELS: Mapping[Clock, str] = {
    Clock.URGENT_HOURS: "紧急工作时",
    Clock.WORK_HOURS: "工作时",
    Clock.WORK_DAYS: "工作日",
    Clock.NATURAL_DAYS: "自然日",
}

# One unit of each clock in hours. A working day is as long as the calendar's working periods,
# so 8 is only the default; use WorkCalendar.unit_hours() for a calendar with other periods.
CLOCK_UNIT_HOURS: Mapping[Clock, float] = {
    Clock.URGENT_HOURS: 1.0,
    Clock.WORK_HOURS: 1.0,
    Clock.WORK_DAYS: 8.0,
    Clock.NATURAL_DAYS: 24.0,
}

DEFAULT_PERIODS: tuple[tuple[time, time], ...] = (
    (time(8, 0), time(12, 0)),
    (time(14, 0), time(18, 0)),
)


# ISO weekday numbers (1 = Monday ... 7 = Sunday).
DEFAULT_WORKING_DAYS: frozenset[int] = frozenset({1, 2, 3, 4, 5})

CHINA = "CN"


@lru_cache(maxsize=16384)
def _official_is_workday(d: date) -> bool | None:
    """The State Council calendar for ``d``, or None for a year it has not been published for.

    Cached because chinese_calendar rescans its whole table on every call (~30 µs), which
    dominates a long deadline. The cache holds official data only, never a city's overrides, so
    it is the same for every WorkCalendar.
    """
    try:
        return bool(chinese_calendar.is_workday(d))
    except NotImplementedError:
        return None


def _china_declared(d: date) -> bool | None:
    """True for a weekend day the State Council made a working day (调休), False for a public
    holiday, None for an ordinary day or a year not published yet."""
    if d in chinese_calendar.workdays:
        return True
    if d in chinese_calendar.holidays:
        return False
    return None


@lru_cache(maxsize=512)
def _region_year(region: str, year: int) -> tuple[frozenset[date], frozenset[date]]:
    """(public holidays, weekend days declared working days) of one year in one region, from the
    ``holidays`` package. Cached: building a year costs about a millisecond."""
    import holidays

    country, _, subdivision = region.partition("-")
    table = holidays.country_holidays(country, subdiv=subdivision or None, years=year)
    off = frozenset(d for d in table if d.year == year)
    worked = frozenset(d for d in getattr(table, "weekend_workdays", ()) if d.year == year)
    return off, worked


_ZERO = timedelta(0)
_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)


def _require_aware(value: datetime, name: str) -> None:
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")


def _require_amount(amount: float) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int | float):
        raise TypeError(f"amount must be a number, got {type(amount).__name__}")
    if not math.isfinite(amount) or amount < 0:
        raise ValueError(f"amount must be a finite number >= 0, got {amount!r}")


@dataclass(frozen=True)
class WorkCalendar:
    """Working periods of a day plus which days are working days.

    A day is a working day when, in this order: the city's ``overrides`` table says so for that
    date; else its ``recurring`` table for that month and day; else the public calendar of
    ``holiday_region`` declares it a holiday (off) or a weekend working day (on); else when its
    weekday is one of ``working_days``. The city's tables win over the public calendar (a typhoon
    day off, a district's own adjustment). ``holiday_region`` is "CN" (the State Council calendar,
    with 调休), another country's ISO code, "US-MA" for a country's subdivision, or "" for none.
    Nothing that depends on the city's tables is cached at module level, so two calendars with
    different tables never see each other's answers.
    """

    periods: tuple[tuple[time, time], ...] = DEFAULT_PERIODS
    overrides: Mapping[date, bool] = field(default_factory=dict)
    tz: ZoneInfo = ZoneInfo("Asia/Shanghai")
    working_days: frozenset[int] = DEFAULT_WORKING_DAYS
    holiday_region: str = CHINA
    recurring: Mapping[tuple[int, int], bool] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.periods:
            raise ValueError("a working calendar needs at least one working period")
        previous_end: time | None = None
        for begin, end in self.periods:
            if begin.tzinfo is not None or end.tzinfo is not None:
                raise ValueError("working periods are local wall-clock times without tzinfo")
            if not begin < end:
                raise ValueError(f"working period {begin}–{end} must end after it begins")
            if previous_end is not None and begin < previous_end:
                raise ValueError("working periods must be in order and must not overlap")
            previous_end = end
        if not self.working_days or not set(self.working_days) <= set(range(1, 8)):
            raise ValueError("working days are ISO weekday numbers 1 (Monday) to 7 (Sunday)")
        object.__setattr__(self, "working_days", frozenset(self.working_days))
        if self.holiday_region != CHINA:
            object.__setattr__(self, "holiday_region", parse_holiday_region(self.holiday_region))
        # Decided once: is_workday runs for every day a deadline walks through.
        object.__setattr__(
            self,
            "_as_published_in_china",
            self.holiday_region == CHINA and self.working_days == DEFAULT_WORKING_DAYS,
        )

    # -- days -------------------------------------------------------------------------------

    def is_workday(self, d: date) -> bool:
        if isinstance(d, datetime):
            # A datetime is a date subclass but never equal to one, so it would miss the
            # overrides table silently; make the caller pick the day in the right timezone.
            raise TypeError("is_workday takes a date, not a datetime")
        if d in self.overrides:
            return bool(self.overrides[d])
        if self.recurring:
            every_year = self.recurring.get((d.month, d.day))
            if every_year is not None:
                return bool(every_year)
        if self._as_published_in_china:
            # The State Council calendar as published, cached per date: the hot path of every
            # Chinese city. A year not published yet falls back to Monday to Friday; the admin
            # page warns through holiday_data_covers() so someone can fill in the overrides.
            official = _official_is_workday(d)
            if official is not None:
                return official
        else:
            declared = self._declared(d)
            if declared is not None:
                return declared
        return d.isoweekday() in self.working_days

    def _declared(self, d: date) -> bool | None:
        """What the public calendar says of ``d``: off, on, or nothing (its weekday decides)."""
        if not self.holiday_region:
            return None
        if self.holiday_region == CHINA:
            return _china_declared(d)
        off, worked = _region_year(self.holiday_region, d.year)
        if d in off:
            return False
        if d in worked:
            return True
        return None

    @staticmethod
    def official_data_covers(year: int) -> bool:
        """Whether the State Council calendar (chinese_calendar) has been published for ``year``."""
        return _official_is_workday(date(year, 1, 1)) is not None

    @classmethod
    def years_without_official_data(cls, years: Iterable[int]) -> list[int]:
        return sorted({y for y in years if not cls.official_data_covers(y)})

    def holiday_data_covers(self, year: int) -> bool:
        """Whether this calendar's public holidays are known for ``year``. Only China's are
        published year by year; the ``holidays`` package computes other countries' by rule."""
        if self.holiday_region == CHINA:
            return self.official_data_covers(year)
        return True

    def years_without_holiday_data(self, years: Iterable[int]) -> list[int]:
        return sorted({y for y in years if not self.holiday_data_covers(y)})

    # -- lengths ----------------------------------------------------------------------------

    @property
    def day_length(self) -> timedelta:
        """Working time in one working day (8 h with the default periods)."""
        return sum(
            (
                datetime.combine(date.min, end) - datetime.combine(date.min, begin)
                for begin, end in self.periods
            ),
            _ZERO,
        )

    def unit_hours(self, clock: Clock) -> float:
        if clock is Clock.WORK_DAYS:
            return self.day_length / _HOUR
        return CLOCK_UNIT_HOURS[clock]

    def _unit(self, clock: Clock) -> timedelta:
        return self.day_length if clock is Clock.WORK_DAYS else CLOCK_UNIT_HOURS[clock] * _HOUR

    def _periods_on(self, d: date) -> Iterator[tuple[datetime, datetime]]:
        for begin, end in self.periods:
            yield (
                datetime.combine(d, begin, tzinfo=self.tz),
                datetime.combine(d, end, tzinfo=self.tz),
            )

    # -- deadlines --------------------------------------------------------------------------

    def add(self, start: datetime, amount: float, clock: Clock) -> datetime:
        """The deadline ``amount`` units of ``clock`` after ``start``, in ``start``'s timezone.

        On the working clocks a start outside working time begins counting at the next working
        period, and a deadline that uses up a period exactly stays at that period's end (4
        working hours from Monday 14:00 is Monday 18:00, not Tuesday 08:00).
        """
        _require_aware(start, "start")
        _require_amount(amount)
        clock = Clock(clock)
        span = amount * self._unit(clock)
        if not clock.counts_working_time:
            # Continuous clocks run in absolute time: do the sum in UTC so a DST change in the
            # caller's zone cannot add or lose an hour.
            return (start.astimezone(UTC) + span).astimezone(start.tzinfo)
        return self._add_working(start.astimezone(self.tz), span).astimezone(start.tzinfo)

    def _add_working(self, local_start: datetime, remaining: timedelta) -> datetime:
        if remaining <= _ZERO:
            return local_start
        d = local_start.date()
        if self.is_workday(d):
            for begin, end in self._periods_on(d):
                if local_start >= end:
                    continue
                counted_from = max(local_start, begin)
                available = end - counted_from
                if remaining <= available:
                    return counted_from + remaining
                remaining -= available
        # The first (partial) day is used up; from here on every working day is whole, so skip
        # a day at a time instead of walking through its periods.
        day_length = self.day_length
        d += _DAY
        while True:
            if self.is_workday(d):
                if remaining > day_length:
                    remaining -= day_length
                else:
                    for begin, end in self._periods_on(d):
                        available = end - begin
                        if remaining <= available:
                            return begin + remaining
                        remaining -= available
            d += _DAY

    def elapsed(self, start: datetime, end: datetime, clock: Clock) -> float:
        """Time on ``clock`` between ``start`` and ``end`` in the clock's unit.

        Hours for the two hour clocks, days for the two day clocks (a working day being
        ``day_length`` of working time). Negative when ``end`` is before ``start``. For any
        ``x >= 0``, ``elapsed(s, add(s, x, c), c) == x`` up to float rounding.
        """
        _require_aware(start, "start")
        _require_aware(end, "end")
        clock = Clock(clock)
        if end < start:
            return -self.elapsed(end, start, clock)
        if clock.counts_working_time:
            span = self._working_between(start.astimezone(self.tz), end.astimezone(self.tz))
        else:
            span = end.astimezone(UTC) - start.astimezone(UTC)
        return span / self._unit(clock)

    def _working_on(self, d: date, lo: datetime | None, hi: datetime | None) -> timedelta:
        total = _ZERO
        for begin, end in self._periods_on(d):
            a = begin if lo is None else max(begin, lo)
            b = end if hi is None else min(end, hi)
            if b > a:
                total += b - a
        return total

    def _working_between(self, local_start: datetime, local_end: datetime) -> timedelta:
        first, last = local_start.date(), local_end.date()
        if first == last:
            if not self.is_workday(first):
                return _ZERO
            return self._working_on(first, local_start, local_end)
        total = _ZERO
        if self.is_workday(first):
            total += self._working_on(first, local_start, None)
        day_length = self.day_length
        d = first + _DAY
        while d < last:
            if self.is_workday(d):
                total += day_length
            d += _DAY
        if self.is_workday(last):
            total += self._working_on(last, None, local_end)
        return total

    def traffic_light(
        self, start: datetime, deadline: datetime, now: datetime, clock: Clock
    ) -> tuple[str, float]:
        """("green" | "yellow" | "red", fraction of the limit used) at ``now``.

        Green below 0.8, yellow from 0.8 to 1.0 inclusive, red above 1.0, the fraction measured
        on the clock itself (so a night does not use up a working-hours limit). One exception:
        once ``now`` is after the ``deadline`` instant the light is red even if no working time
        has passed since (a Friday 18:00 deadline seen on Friday evening has been missed).
        """
        _require_aware(now, "now")
        total = self.elapsed(start, deadline, clock)
        used = max(self.elapsed(start, now, clock), 0.0)
        if total <= 0:
            # A zero limit: nothing is used before it, all of it at it, and past it is overdue.
            fraction = 0.0 if now < deadline else (1.0 if now == deadline else math.inf)
        else:
            fraction = used / total
        if fraction > 1.0 or now > deadline:
            return "red", fraction
        if fraction >= 0.8:
            return "yellow", fraction
        return "green", fraction


# -- template notation ------------------------------------------------------------------------

# Unit -> (clock, how many of the written unit make one unit of the clock).
_UNITS: Mapping[str, tuple[Clock, int]] = {
    "紧急工作时": (Clock.URGENT_HOURS, 1),
    "工作时": (Clock.WORK_HOURS, 1),
    "工作日": (Clock.WORK_DAYS, 1),
    "自然日": (Clock.NATURAL_DAYS, 1),
    "天": (Clock.NATURAL_DAYS, 1),
    "小时": (Clock.URGENT_HOURS, 1),
    "分钟": (Clock.URGENT_HOURS, 60),
}

# Longest unit first so "紧急工作时" is not read as "工作时" after a stray prefix.
_LIMIT_RE = re.compile(
    r"^\s*(?P<amount>\d+(?:\.\d+)?)\s*个?\s*(?P<unit>"
    + "|".join(sorted(map(re.escape, _UNITS), key=len, reverse=True))
    + r")\s*$"
)


def parse_time_limit(text: str) -> tuple[float, Clock]:
    """Read a limit written the way category templates write it: "4工作时", "5个工作日".

    "天" is a natural day and "小时" / "分钟" run on the urgent (continuous) clock, so
    "30分钟" is (0.5, URGENT_HOURS). Full-width digits and spaces are accepted.
    """
    if not isinstance(text, str):
        raise ValueError(f"无法识别的时限：{text!r}，应为文本，如“4工作时”")
    match = _LIMIT_RE.match(unicodedata.normalize("NFKC", text))
    if match is None:
        raise ValueError(
            f"无法识别的时限：“{text}”，应为数字加单位，单位为紧急工作时、工作时、工作日、"
            "自然日、天、小时或分钟，如“4工作时”"
        )
    clock, per_unit = _UNITS[match["unit"]]
    amount = float(match["amount"]) / per_unit
    if amount <= 0:
        raise ValueError(f"时限必须大于零：“{text}”")
    try:
        check_time_limit(amount, clock)
    except ValueError as exc:
        raise ValueError(f"{exc}：“{text}”") from None
    return amount, clock


def format_time_limit(amount: float, clock: Clock) -> str:
    """The inverse of parse_time_limit: (2, URGENT_HOURS) -> "2紧急工作时"."""
    _require_amount(amount)
    number = repr(float(amount))
    if "e" in number:
        # parse_time_limit reads plain decimals only, so never write scientific notation.
        number = f"{amount:.12f}".rstrip("0").rstrip(".")
    elif number.endswith(".0"):
        number = number[:-2]
    return f"{number}{CLOCK_LABELS[Clock(clock)]}"


# -- a city's calendar settings ---------------------------------------------------------------
# The notation of GRIDCITY_WORKING_PERIODS, GRIDCITY_WORKING_DAYS and GRIDCITY_HOLIDAYS in the
# environment. Each parser raises ValueError with a sentence that settings.py prefixes with the
# variable's name.

_PERIOD_RE = re.compile(r"^(\d{1,2}):(\d{2})\s*[-–~]\s*(\d{1,2}):(\d{2})$")

_DAY_NAMES: Mapping[str, int] = {
    **{name: n for n, name in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun"), 1)},
    **{
        name: n
        for n, name in enumerate(
            ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"), 1
        )
    },
    **{str(n): n for n in range(1, 8)},
    **{ch: n for n, ch in enumerate("一二三四五六日", 1)},
    "天": 7,
}


def parse_working_periods(text: str) -> tuple[tuple[time, time], ...]:
    """ "08:00-12:00,14:00-18:00" -> ((08:00, 12:00), (14:00, 18:00)), in order, not overlapping."""
    periods = []
    for part in text.split(","):
        part = part.strip()
        match = _PERIOD_RE.match(part)
        if match is None:
            raise ValueError(
                f"{part!r} is not a working period; write HH:MM-HH:MM, several separated by "
                "commas, e.g. 08:00-12:00,14:00-18:00"
            )
        h1, m1, h2, m2 = map(int, match.groups())
        try:
            periods.append((time(h1, m1), time(h2, m2)))
        except ValueError:
            raise ValueError(f"{part!r} is not a time of day (00:00 to 23:59)") from None
    result = tuple(periods)
    WorkCalendar(periods=result)  # the calendar's own checks: in order, not overlapping
    return result


def _weekday(token: str) -> int:
    key = token.strip().lower().removeprefix("星期").removeprefix("周")
    if key not in _DAY_NAMES:
        raise ValueError(
            f"{token.strip()!r} is not a day of the week; use mon…sun or 1 (Monday) … 7 (Sunday)"
        )
    return _DAY_NAMES[key]


def parse_working_days(text: str) -> frozenset[int]:
    """ "mon-fri", "1,2,3,4,5", "sun-thu" (a range may wrap past Sunday) -> ISO weekday numbers."""
    days: set[int] = set()
    for part in text.split(","):
        if not part.strip():
            continue
        first, dash, last = part.partition("-")
        if not dash:
            days.add(_weekday(first))
            continue
        begin, end = _weekday(first), _weekday(last)
        length = (end - begin) % 7
        days.update((begin - 1 + i) % 7 + 1 for i in range(length + 1))
    if not days:
        raise ValueError("no working day given; e.g. mon-fri or 1,2,3,4,5")
    return frozenset(days)


def parse_holiday_region(text: str) -> str:
    """ "CN", "US", "us-ma" -> "US-MA", "" or "none" -> "" (no public holidays at all).

    Any country or subdivision the ``holidays`` package knows; China is the State Council
    calendar of ``chinese_calendar``.
    """
    value = text.strip()
    if value.lower() in ("", "none"):
        return ""
    country, _, subdivision = value.partition("-")
    country = country.strip().upper()
    subdivision = subdivision.strip()
    if country == CHINA and not subdivision:
        return CHINA
    import holidays

    supported = holidays.list_supported_countries()
    if country not in supported:
        raise ValueError(
            f"{value!r}: no public holiday calendar for country {country!r}; use an ISO 3166 "
            "code such as CN, US or GB, or none"
        )
    if not subdivision:
        return country
    known = {s.upper(): s for s in supported[country]}
    if subdivision.upper() not in known:
        listed = ", ".join(supported[country]) or "none"
        raise ValueError(
            f"{value!r}: {country} has no subdivision {subdivision!r} (known: {listed})"
        )
    return f"{country}-{known[subdivision.upper()]}"
