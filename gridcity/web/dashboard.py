"""The leader's dashboard: today's and this month's figures counted from Case and CaseEvent
rows, top problems and cells, a 30-day trend drawn as SVG on the server, open cases per cell."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from html import escape
from urllib.parse import urlencode

from django.db.models import Count, Exists, OuterRef, Q
from django.db.models.functions import TruncDate
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from gridcity.accounts.models import Role
from gridcity.cases.models import OPEN, CaseEvent, Status
from gridcity.cases.scope import visible_to
from gridcity.grids.models import Area
from gridcity.web.field import map_settings, role_required

DASHBOARD_ROLES = {Role.LEADER, Role.SHIFT_LEAD, Role.DISPATCHER, Role.ADMIN}


def _start(d: date) -> datetime:
    return datetime.combine(d, time.min, timezone.get_current_timezone())


def _map_link(**params) -> str:
    return "/map/?" + urlencode({k: v for k, v in params.items() if v not in (None, "")})


@dataclass
class Figure:
    label: str
    value: int | str
    url: str
    hint: str = ""


def figures(user, now: datetime | None = None) -> dict:
    now = now or timezone.now()
    today = timezone.localdate(now)
    month = today.replace(day=1)
    t0, m0 = _start(today), _start(month)
    cases = visible_to(user)
    counts = cases.aggregate(
        reported_today=Count("pk", filter=Q(reported_at__gte=t0)),
        reported_month=Count("pk", filter=Q(reported_at__gte=m0)),
        overdue_now=Count("pk", filter=Q(status__in=OPEN, step_deadline__lt=now)),
        open_now=Count("pk", filter=Q(status__in=OPEN)),
    )
    events = CaseEvent.objects.filter(case__in=cases.values("pk"), at__gte=min(t0, m0))
    for name, action in (
        ("filed", "file"),
        ("dispatched", "dispatch"),
        ("closed", "close"),
        ("rework", "check_fail"),
    ):
        ev = events.aggregate(
            today=Count("pk", filter=Q(action=action, at__gte=t0)),
            month=Count("pk", filter=Q(action=action, at__gte=m0)),
        )
        counts[f"{name}_today"], counts[f"{name}_month"] = ev["today"], ev["month"]
    # On time: a closed case none of whose handling-step records was overdue.
    late = CaseEvent.objects.filter(case=OuterRef("pk"), step="handle", overdue=True)
    closed = cases.filter(status=Status.CLOSED, closed_at__gte=min(t0, m0)).annotate(
        late=Exists(late)
    )
    on_time = closed.aggregate(
        today=Count("pk", filter=Q(closed_at__gte=t0, late=False)),
        today_all=Count("pk", filter=Q(closed_at__gte=t0)),
        month=Count("pk", filter=Q(late=False)),
        month_all=Count("pk"),
    )

    def rate(ok: int, total: int) -> str:
        return f"{100 * ok / total:.0f}%" if total else "—"

    def period(prefix: str, start: date) -> list[Figure]:
        s = start.isoformat()
        return [
            Figure(
                _("上报"),
                counts[f"reported_{prefix}"],
                _map_link(status="all", reported_from=s),
            ),
            Figure(_("立案"), counts[f"filed_{prefix}"], _map_link(status="all", filed_from=s)),
            Figure(
                _("派遣"),
                counts[f"dispatched_{prefix}"],
                _map_link(status="all", dispatched_from=s),
            ),
            Figure(
                _("结案"), counts[f"closed_{prefix}"], _map_link(status="closed", closed_from=s)
            ),
            Figure(
                _("按期结案率"),
                rate(on_time[prefix], on_time[f"{prefix}_all"]),
                _map_link(status="closed", closed_from=s),
                _("%(ok)s / %(all)s 件") % {"ok": on_time[prefix], "all": on_time[f"{prefix}_all"]},
            ),
            Figure(
                _("返工"),
                counts[f"rework_{prefix}"],
                _map_link(status="all", rework=1, reported_from=s if prefix == "today" else ""),
            ),
        ]

    return {
        "today": period("today", today),
        "month": period("month", month),
        "now": [
            Figure(_("在办案件"), counts["open_now"], _map_link(status="open")),
            Figure(_("当前超期"), counts["overdue_now"], _map_link(status="open", overdue=1)),
        ],
        "today_date": today,
        "month_start": month,
        "top_categories": [
            {
                "name": f"{r['category__code']} {r['category__name']}",
                "n": r["n"],
                "url": _map_link(
                    status="all",
                    category=f"{r['category__kind']}:{r['category__code']}",
                    reported_from=month.isoformat(),
                ),
            }
            for r in cases.filter(reported_at__gte=m0)
            .values("category__kind", "category__code", "category__name")
            .annotate(n=Count("pk"))
            .order_by("-n", "category__code")[:5]
        ],
        "top_cells": [
            {
                "name": r["cell__name"],
                "code": r["cell__code"],
                "n": r["n"],
                "url": _map_link(
                    status="all", area=r["cell__code"], reported_from=month.isoformat()
                ),
            }
            for r in cases.filter(reported_at__gte=m0, cell__isnull=False)
            .values("cell__code", "cell__name")
            .annotate(n=Count("pk"))
            .order_by("-n", "cell__code")[:5]
        ],
        "trend": trend_svg(cases, today),
        "updated_at": timezone.localtime(now),
    }


def trend_svg(cases, today: date, days: int = 30) -> SafeString:
    tz = timezone.get_current_timezone()
    first = today - timedelta(days=days - 1)
    reported = dict(
        cases.filter(reported_at__gte=_start(first))
        .annotate(d=TruncDate("reported_at", tzinfo=tz))
        .values("d")
        .annotate(n=Count("pk"))
        .values_list("d", "n")
    )
    closed = dict(
        cases.filter(status=Status.CLOSED, closed_at__gte=_start(first))
        .annotate(d=TruncDate("closed_at", tzinfo=tz))
        .values("d")
        .annotate(n=Count("pk"))
        .values_list("d", "n")
    )
    labels = [first + timedelta(days=i) for i in range(days)]
    return bar_line_svg(
        [f"{d:%m-%d}" for d in labels],
        bars=(_("上报"), [reported.get(d, 0) for d in labels]),
        line=(_("结案"), [closed.get(d, 0) for d in labels]),
        title=_("近30天上报与结案"),
    )


def bar_line_svg(
    labels: list[str],
    *,
    bars: tuple[str, list[int]],
    line: tuple[str, list[int]],
    title: str,
    width: int = 760,
    height: int = 240,
) -> SafeString:
    """A bar series and a line series on one axis, as inline SVG that scales to its box."""
    left, right, top, bottom = 36, 10, 28, 26
    plot_w, plot_h = width - left - right, height - top - bottom
    n = max(len(labels), 1)
    peak = max([1, *bars[1], *line[1]])
    # Four gridlines at a round step: 1, 2, 5 × 10^k.
    tick = next(t * 10**k for k in range(12) for t in (1, 2, 5) if t * 10**k * 4 >= peak)
    top_value = tick * 4
    slot = plot_w / n

    def y(v: float) -> float:
        return top + plot_h - plot_h * v / top_value

    out = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for i in range(5):
        v = top_value * i / 4
        yy = y(v)
        out.append(
            f'<line x1="{left}" x2="{width - right}" y1="{yy:.1f}" y2="{yy:.1f}" class="grid"/>'
            f'<text x="{left - 4}" y="{yy + 4:.1f}" class="axis" text-anchor="end">'
            f"{v:g}</text>"
        )
    for i, (label, v) in enumerate(zip(labels, bars[1], strict=True)):
        x = left + i * slot + slot * 0.15
        out.append(
            f'<rect x="{x:.1f}" y="{y(v):.1f}" width="{slot * 0.7:.1f}" '
            f'height="{top + plot_h - y(v):.1f}" class="bar">'
            f"<title>{escape(label)} {escape(bars[0])} {v}</title></rect>"
        )
        if i % 5 == 0 or i == n - 1:
            out.append(
                f'<text x="{left + i * slot + slot / 2:.1f}" y="{height - 8}" '
                f'class="axis" text-anchor="middle">{escape(label)}</text>'
            )
    points = " ".join(f"{left + i * slot + slot / 2:.1f},{y(v):.1f}" for i, v in enumerate(line[1]))
    out.append(f'<polyline points="{points}" class="line"/>')
    for i, v in enumerate(line[1]):
        out.append(
            f'<circle cx="{left + i * slot + slot / 2:.1f}" cy="{y(v):.1f}" r="2.5" class="dot">'
            f"<title>{escape(labels[i])} {escape(line[0])} {v}</title></circle>"
        )
    out.append(
        f'<rect x="{left}" y="6" width="12" height="12" class="bar"/>'
        f'<text x="{left + 16}" y="16" class="axis">{escape(bars[0])}</text>'
        f'<line x1="{left + 70}" x2="{left + 86}" y1="12" y2="12" class="line"/>'
        f'<text x="{left + 90}" y="16" class="axis">{escape(line[0])}</text>'
    )
    out.append("</svg>")
    return mark_safe("".join(out))  # every text above is escaped


@role_required(DASHBOARD_ROLES)
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "web/dashboard/page.html",
        {"f": figures(request.user), "map": map_settings()},
    )


@role_required(DASHBOARD_ROLES)
def dashboard_figures(request: HttpRequest) -> HttpResponse:
    return render(request, "web/dashboard/_figures.html", {"f": figures(request.user)})


@role_required(DASHBOARD_ROLES)
def dashboard_cells(request: HttpRequest) -> JsonResponse:
    """Cells with open cases, as GeoJSON with the count: the dashboard map colours them."""
    counts = dict(
        visible_to(request.user)
        .filter(status__in=OPEN, cell__isnull=False)
        .values("cell_id")
        .annotate(n=Count("pk"))
        .values_list("cell_id", "n")
    )
    features = [
        {
            "type": "Feature",
            "geometry": a["geometry"],
            "properties": {"code": a["code"], "name": a["name"], "open": counts[a["pk"]]},
        }
        for a in Area.objects.filter(pk__in=list(counts)[:5000]).values(
            "pk", "code", "name", "geometry"
        )
    ]
    return JsonResponse({"type": "FeatureCollection", "features": features})
