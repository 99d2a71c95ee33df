"""What evaluation counts from the 曝光台: published negative exposures per department."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from urllib.parse import urlencode

from django.db.models import Count, QuerySet
from django.urls import reverse
from django.utils import timezone

from gridcity.publicity.models import Exposure, ExposureState, Tone


def local_midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def counted_exposures(first_day: date, last_day: date) -> QuerySet[Exposure]:
    """Negative exposures published on the local dates [first_day, last_day] and still
    standing: a withdrawn one stops counting (the record as it stands), and 好的做法 is praise,
    not a mark against the unit."""
    return Exposure.objects.filter(
        state=ExposureState.PUBLISHED,
        tone=Tone.NEGATIVE,
        published_at__gte=local_midnight(first_day),
        published_at__lt=local_midnight(last_day + timedelta(days=1)),
    )


def exposures_by_department(first_day: date, last_day: date) -> dict[int, Decimal]:
    rows = (
        counted_exposures(first_day, last_day)
        .values("department_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return {row["department_id"]: Decimal(row["n"]) for row in rows}


def exposures_url(department_id: int, first_day: date, last_day: date) -> str:
    query = urlencode(
        {
            "state": ExposureState.PUBLISHED,
            "tone": Tone.NEGATIVE,
            "department": department_id,
            "from": first_day.isoformat(),
            "to": last_day.isoformat(),
        }
    )
    return f"{reverse('publicity:board')}?{query}"
