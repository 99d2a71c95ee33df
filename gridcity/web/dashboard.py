"""The leader's dashboard: today's and this month's figures counted from Case and CaseEvent
rows, top problems and cells, a 30-day trend drawn as SVG on the server, open cases per cell.
Every figure opens the case map and a plain list of its cases, both with the same filter."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from html import escape
from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.db.models import Count, Exists, OuterRef, Q
from django.db.models.functions import TruncDate
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from gridcity.accounts.access import role_required
from gridcity.accounts.models import Department, Role
from gridcity.cases.models import OPEN, CaseEvent, Status
from gridcity.cases.scope import visible_to
from gridcity.grids.maps import map_settings
from gridcity.grids.models import Area
from gridcity.taxonomy.actions import resolve_category
from gridcity.web.field import MapFilter, filter_map_cases

DASHBOARD_ROLES = {Role.LEADER, Role.SHIFT_LEAD, Role.DISPATCHER, Role.ADMIN}


def _start(d: date) -> datetime:
    return datetime.combine(d, time.min, timezone.get_current_timezone())


def _query(params: dict) -> str:
    return urlencode({k: v for k, v in params.items() if v not in (None, "")})


def _map_link(**params) -> str:
    return "/map/?" + _query(params)


def _list_link(**params) -> str:
    """The cases the map shows for the same filter, as a paginated list."""
    return reverse("web:dashboard_cases") + "?" + _query(params)


@dataclass
class Figure:
    label: str
    value: int | str
    url: str
    hint: str = ""
    list_url: str = ""


def _figure(label: str, value: int | str, hint: str = "", **filters) -> Figure:
    return Figure(label, value, _map_link(**filters), hint, _list_link(**filters))


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
            _figure(_("上报"), counts[f"reported_{prefix}"], status="all", reported_from=s),
            _figure(_("立案"), counts[f"filed_{prefix}"], status="all", filed_from=s),
            _figure(_("派遣"), counts[f"dispatched_{prefix}"], status="all", dispatched_from=s),
            _figure(_("结案"), counts[f"closed_{prefix}"], status="closed", closed_from=s),
            _figure(
                _("按期结案率"),
                rate(on_time[prefix], on_time[f"{prefix}_all"]),
                _("%(ok)s / %(all)s 件") % {"ok": on_time[prefix], "all": on_time[f"{prefix}_all"]},
                status="closed",
                closed_from=s,
            ),
            _figure(
                _("返工"),
                counts[f"rework_{prefix}"],
                status="all",
                rework=1,
                reported_from=s if prefix == "today" else "",
            ),
        ]

    return {
        "today": period("today", today),
        "month": period("month", month),
        "now": [
            _figure(_("在办案件"), counts["open_now"], status="open"),
            _figure(_("当前超期"), counts["overdue_now"], status="open", overdue=1),
        ],
        "today_date": today,
        "month_start": month,
        "top_categories": [
            {
                "name": f"{r['category__code']} {r['category__name']}",
                "n": r["n"],
                **_both_links(
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
                **_both_links(status="all", area=r["cell__code"], reported_from=month.isoformat()),
            }
            for r in cases.filter(reported_at__gte=m0, cell__isnull=False)
            .values("cell__code", "cell__name")
            .annotate(n=Count("pk"))
            .order_by("-n", "cell__code")[:5]
        ],
        "trend": trend_svg(cases, today),
        "updated_at": timezone.localtime(now),
    }


def _both_links(**filters) -> dict:
    return {"url": _map_link(**filters), "list_url": _list_link(**filters)}


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


CASE_LIST_PAGE = 50
# What each date filter of the map means, for the list's heading.
DATE_FILTERS = (
    ("reported_from", _lazy("上报于 %(d)s 及以后")),
    ("reported_to", _lazy("上报于 %(d)s 及以前")),
    ("filed_from", _lazy("立案于 %(d)s 及以后")),
    ("dispatched_from", _lazy("派遣于 %(d)s 及以后")),
    ("closed_from", _lazy("结案于 %(d)s 及以后")),
)


# The map filter's date fields carry no label of their own.
FIELD_LABELS = {
    "reported_from": _lazy("上报起始日期"),
    "reported_to": _lazy("上报截止日期"),
    "filed_from": _lazy("立案起始日期"),
    "dispatched_from": _lazy("派遣起始日期"),
    "closed_from": _lazy("结案起始日期"),
    "area": _lazy("区域"),
}


def filter_errors(form: MapFilter) -> list[str]:
    return [
        f"{FIELD_LABELS.get(name) or form.fields[name].label or name}：{message}"
        for name, messages in form.errors.items()
        for message in messages
    ]


def describe_filter(form: MapFilter) -> list[str]:
    """The filter in words: what the list (and the map) shows."""
    f = form.cleaned_data
    status = f.get("status") or "open"
    words = [str(dict(form.fields["status"].choices)[status])]
    if f.get("category"):
        category = resolve_category(f["category"])
        words.append(_("类别：%(c)s") % {"c": category.name if category else f["category"]})
    if f.get("department"):
        name = Department.objects.filter(code=f["department"]).values_list("name", flat=True)
        words.append(_("部门：%(d)s") % {"d": name.first() or f["department"]})
    if f.get("area"):
        name = Area.objects.filter(code=f["area"]).values_list("name", flat=True).first()
        words.append(_("区域：%(a)s") % {"a": f"{name}（{f['area']}）" if name else f["area"]})
    if f.get("overdue"):
        words.append(_("仅超期"))
    if f.get("rework"):
        words.append(_("有返工"))
    for key, text in DATE_FILTERS:
        if f.get(key):
            words.append(str(text) % {"d": f[key].isoformat()})
    return words


@role_required(DASHBOARD_ROLES)
def dashboard_cases(request: HttpRequest) -> HttpResponse:
    """The cases behind a dashboard figure: the case map's filter, as a plain paginated list."""
    params = request.GET.copy()
    params.pop("page", None)
    form = MapFilter(params or {"status": "open"})
    context = {"form": form, "query": params.urlencode(), "map_url": "/map/?" + params.urlencode()}
    if not form.is_valid():
        context["errors"] = filter_errors(form)
        return render(request, "web/dashboard/cases.html", context, status=400)
    now = timezone.now()
    cases = (
        filter_map_cases(visible_to(request.user), form.cleaned_data)
        .select_related("category", "department", "cell")
        .order_by("-reported_at", "-pk")
    )
    page = Paginator(cases, CASE_LIST_PAGE).get_page(request.GET.get("page"))
    rows = [
        {
            "case": c,
            "overdue": c.status in OPEN and c.step_deadline is not None and c.step_deadline < now,
        }
        for c in page.object_list
    ]
    context.update({"page": page, "rows": rows, "words": describe_filter(form)})
    return render(request, "web/dashboard/cases.html", context)
