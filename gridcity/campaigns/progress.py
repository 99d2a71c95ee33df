"""Campaign progress: what the board and the daily/weekly report show. Reads only."""

from collections import Counter
from datetime import date, timedelta

from django.db.models import Count
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext

from gridcity.campaigns.models import Campaign, LedgerStatus
from gridcity.cases.models import OPEN, Status


def campaign_progress(campaign: Campaign, today: date | None = None) -> dict:
    today = today or timezone.localdate()
    statuses = list(campaign.tags.values_list("case__status", flat=True))
    open_cases = sum(1 for s in statuses if s in OPEN)
    by_status = Counter(campaign.ledger_rows.values_list("status", flat=True))
    # Cancelled rows (their case was voided or merged away) left nothing to rectify: they are
    # listed, but count neither as problems nor towards the sign-off rate.
    cancelled = by_status.pop(LedgerStatus.CANCELLED, 0)
    ledger = [
        {"status": s.value, "label": s.label, "count": by_status.get(s.value, 0)}
        for s in LedgerStatus
        if s != LedgerStatus.CANCELLED
    ]
    total_rows = sum(by_status.values())
    signed = by_status.get(LedgerStatus.SIGNED_OFF, 0)
    days_total = (campaign.ends_on - campaign.starts_on).days + 1
    days_gone = min(max((today - campaign.starts_on).days + 1, 0), days_total)
    if today < campaign.starts_on:
        phase = gettext("未开始")
    elif today <= campaign.ends_on:
        phase = gettext("进行中")
    elif today <= campaign.ends_on + timedelta(days=campaign.rebound_days):
        phase = gettext("反弹观察期")
    else:
        phase = gettext("已结束")
    return {
        "phase": phase,
        "days_gone": days_gone,
        "days_total": days_total,
        "cases": len(statuses),
        "cases_open": open_cases,
        "cases_closed": sum(1 for s in statuses if s == Status.CLOSED),
        "ledger": ledger,
        "ledger_total": total_rows,
        "signed_off": signed,
        "signed_off_rate": round(100 * signed / total_rows, 1) if total_rows else None,
        "overdue": by_status.get(LedgerStatus.OVERDUE, 0),
        "cancelled": cancelled,
        "supervisions": sum(
            1 for _ in campaign.ledger_rows.filter(supervisions__isnull=False).distinct()
        ),
        "rebounds": campaign.rebounds.count(),
    }


def daily_series(campaign: Campaign, today: date | None = None) -> list[dict]:
    """Per day of the campaign: cases tagged and rows signed off (the 日报 table)."""
    today = today or timezone.localdate()
    last = min(today, campaign.ends_on + timedelta(days=campaign.rebound_days))
    tagged = dict(
        campaign.tags.annotate(d=TruncDate("case__reported_at"))
        .values("d")
        .annotate(n=Count("pk"))
        .values_list("d", "n")
    )
    signed = dict(
        campaign.ledger_rows.filter(signed_off_at__isnull=False)
        .annotate(d=TruncDate("signed_off_at"))
        .values("d")
        .annotate(n=Count("pk"))
        .values_list("d", "n")
    )
    out = []
    d = campaign.starts_on
    while d <= last:
        out.append({"day": d, "tagged": tagged.get(d, 0), "signed": signed.get(d, 0)})
        d += timedelta(days=1)
    return out


def weekly_series(campaign: Campaign, today: date | None = None) -> list[dict]:
    weeks: dict[date, dict] = {}
    for row in daily_series(campaign, today):
        monday = row["day"] - timedelta(days=row["day"].weekday())
        w = weeks.setdefault(monday, {"week": monday, "tagged": 0, "signed": 0})
        w["tagged"] += row["tagged"]
        w["signed"] += row["signed"]
    return list(weeks.values())
