"""The range every date and the maximum every duration may have when it comes from outside.

Beyond these a value is a typo or a probe, never a case: year 1 or 9999 overflows a datetime
as soon as a time zone or a day is added, and an extension of 99,999,999 days would put a
deadline past the calendar (and take a working-day calendar minutes to walk). Each check
raises ValueError with a Chinese message; the caller names the field."""

from datetime import date, datetime

EARLIEST_DATE = date(2000, 1, 1)
LATEST_DATE = date(2100, 12, 31)

# The longest time limit, extension or hold a case may be given, per clock: a year of each.
MAX_TIME_LIMIT = {
    "urgent_hours": 366 * 24,
    "work_hours": 250 * 8,
    "work_days": 250,
    "natural_days": 366,
}
MAX_TIME_LIMIT_TEXT = "一年（366 自然日、250 工作日、2000 工作时或 8784 紧急工作时）"

# A page number beyond this is past any list the installation can hold (100,000 pages of 500
# cases), and far beyond it the offset no longer fits the database's integers.
MAX_PAGE = 100_000


def check_date(value: date) -> date:
    """`value` if it lies within EARLIEST_DATE..LATEST_DATE."""
    day = value.date() if isinstance(value, datetime) else value
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        raise ValueError(
            f"日期应在 {EARLIEST_DATE:%Y-%m-%d} 至 {LATEST_DATE:%Y-%m-%d} 之间"
            f"（收到 {value.isoformat()}）"
        )
    return value


def date_or_none(text: str | None) -> date | None:
    """A date typed into a filter (YYYY-MM-DD), or None when it is empty, not a date or out of
    range: a filter ignores what it cannot use."""
    try:
        return check_date(date.fromisoformat(text.strip())) if text and text.strip() else None
    except ValueError:
        return None


def check_time_limit(amount: float, clock: str) -> None:
    """A time limit (amount on a clock) no longer than MAX_TIME_LIMIT."""
    limit = MAX_TIME_LIMIT.get(str(clock))
    if limit is None:
        raise ValueError(f"未知的计时方式：{clock}")
    if amount > limit:
        raise ValueError(f"时限不能超过{MAX_TIME_LIMIT_TEXT}")


def check_page(page: int) -> int:
    if not 1 <= page <= MAX_PAGE:
        raise ValueError(f"页码应在 1 至 {MAX_PAGE} 之间")
    return page
