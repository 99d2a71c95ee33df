"""Shared fixtures for the campaign tests: a city, a 06042 campaign in 湖滨街道, and cases."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

from gridcity.campaigns.actions import do_create_campaign, tag_case
from gridcity.cases.actions import ReportInput, do_report_case
from gridcity.cases.models import Case, Channel
from gridcity.taxonomy.actions import resolve_category
from gridcity.testing import MID_LAT, SOUTH, WEST, City

TZ = ZoneInfo("Asia/Shanghai")
# Two points in 湖滨街道 (the west street), in different cells, and one in 清波街道 (east).
WEST_A = (WEST + 0.0015, SOUTH + 0.0015)
WEST_B = (WEST + 0.0045, MID_LAT + 0.0015)
EAST_A = (120.170, SOUTH + 0.0015)


def at(day: int, hour: int = 10, month: int = 6) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=TZ)


def bins():
    return resolve_category("06042")


def report(
    city: City,
    where: tuple[float, float],
    when: datetime,
    text: str = "垃圾桶满冒",
    tag: bool = False,
) -> Case:
    """Report as the grid manager at `when`; with tag=True also run tagging as of then (what
    the after-commit hook does in production)."""
    lon, lat = where
    case = do_report_case(
        ReportInput(
            category=bins(),
            channel=Channel.INSPECTOR,
            lon=lon,
            lat=lat,
            description=text,
            reported_at=when,
        ),
        acting_user=city.people["inspector"],
        now=when,
    ).case
    if tag:
        tag_case(case, now=when)
    return case


def bin_campaign(city: City, **kw):
    street = next(s for s in city.streets if s.code == "330102001")
    return do_create_campaign(
        acting_user=city.people["leader"],
        name="垃圾桶满冒专项整治",
        starts_on=date(2026, 6, 1),
        ends_on=date(2026, 6, 30),
        categories=[bins()],
        areas=[street],
        lead_department=city.departments["HJWS"],
        member_departments=[city.departments["CGZF"]],
        goals="同一网格 7 天内不得重复出现满冒",
        now=at(1, 8),
        **kw,
    )
