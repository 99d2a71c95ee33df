"""Pages: the rankings board, a figure's cases, a unit's scorecard with its trend, the area
map coloured by score, accountability, appeals, period close and the 通报 downloads."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django.views.decorators.http import require_POST

from gridcity.cases.models import Case
from gridcity.evaluation import actions, sources, tasks
from gridcity.evaluation.access import may_view, may_view_board
from gridcity.evaluation.compute import (
    Ranking,
    UnitResult,
    drilldown,
    get_ranking,
    source_for,
)
from gridcity.evaluation.indicators import (
    INDICATORS,
    UNIT_TYPE_LABELS,
    UnitType,
    month_key,
    parse_period,
)
from gridcity.evaluation.models import Appeal, AppealStatus, EvaluationPeriod
from gridcity.evaluation.reports import bulletin_pdf, bulletin_xlsx, criticism_draft
from gridcity.grids.models import Area, AreaLevel
from gridcity.lib.errors import CaseError


def _default_period() -> str:
    first = timezone.localdate().replace(day=1)
    return month_key(first - timedelta(days=1))


def _period(request: HttpRequest) -> str:
    key = request.GET.get("period") or _default_period()
    try:
        return parse_period(key).key
    except ValueError as exc:
        raise Http404(str(exc)) from exc


def _board_only(request):
    if not may_view_board(request.user):
        raise PermissionDenied(gettext("您的角色不能查看综合评价排名"))


def _level(request: HttpRequest, default: int) -> int:
    level = request.GET.get("level", "")
    return int(level) if level.isdigit() else default


def _board_columns(r: Ranking) -> list[str]:
    """The indicator columns of the board: all of them, except for cells (hundreds of rows),
    which show their scheme's indicators and what those are counted over."""
    keys = [k for k in r.indicators if k in INDICATORS]
    if r.unit_type == UnitType.CELL:
        scheme_keys = {ln.indicator for u in r.units[:1] for ln in u.lines}
        keys = [k for k in keys if k in scheme_keys or k in ("close_due", "closed")]
    return keys


APART_SHOWN = 200  # units listed below the minimum, the busiest first


def _board_row(u: UnitResult, keys: list[str]) -> dict:
    return {
        "u": u,
        "figures": [(k, u.figures.get(k)) for k in keys],
        "deducted": sum((d.points for d in u.deductions), Decimal(0)) if u.deductions else None,
    }


@login_required
def board(request: HttpRequest) -> HttpResponse:
    _board_only(request)
    period = _period(request)
    unit_type = request.GET.get("unit_type", "department")
    if unit_type not in UNIT_TYPE_LABELS:
        raise Http404(gettext("未知的评价对象"))
    level = _level(request, 2)
    r = get_ranking(period, unit_type)
    units = [u for u in r.units if unit_type != "area" or u.unit.level == level]
    keys = _board_columns(r)
    ranked = [_board_row(u, keys) for u in units if u.ranked]
    start = r.period.start
    below = [u for u in units if not u.ranked and u.volume]
    # The busiest first; a year of cells can put a thousand below the minimum.
    below.sort(key=lambda u: -(u.volume or 0))
    apart = [_board_row(u, keys) for u in below[:APART_SHOWN]]
    return render(
        request,
        "evaluation/board.html",
        {
            "r": r,
            "rows": ranked,
            "apart": apart,
            "idle": sum(1 for u in units if not u.ranked and not u.volume),
            "apart_hidden": len(below) - len(apart),
            "period": period,
            "unit_type": unit_type,
            "level": level,
            "unit_types": [(k, gettext(label)) for k, label in UNIT_TYPE_LABELS.items()],
            "columns": [(k, gettext(INDICATORS[k].name)) for k in keys],
            "drill": reverse("evaluation:drilldown"),
            # Cells hold few cases a month: a quarter or a year ranks more of them.
            "longer": [f"{start.year}-Q{(start.month - 1) // 3 + 1}", str(start.year)],
            "closed": EvaluationPeriod.objects.filter(key=period).first(),
        },
    )


@login_required
def drill_page(request: HttpRequest) -> HttpResponse:
    key, unit_type, unit = (request.GET.get(k, "") for k in ("indicator", "unit_type", "unit"))
    if key not in INDICATORS or unit_type not in UNIT_TYPE_LABELS or not unit.isdigit():
        raise Http404(gettext("参数无效"))
    if not may_view(request.user, unit_type, unit):
        raise PermissionDenied(gettext("无权查看"))
    period = _period(request)
    page = request.GET.get("page", "1")
    d = drilldown(key, unit_type, unit, period, int(page) if page.isdigit() else 1)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "evaluation/drilldown.html",
        {"d": d, "period": period, "query": query.urlencode()},
    )


def _svg_trend(points: list[tuple[str, Decimal | None]]) -> str:
    """A small line chart of scores (0–100), drawn on the server."""
    w, h, pad = 520, 160, 28
    n = max(len(points) - 1, 1)
    xy = []
    parts = [f'<svg viewBox="0 0 {w} {h}" class="trend" role="img" aria-label="得分趋势">']
    for y in (0, 60, 90, 100):
        yy = h - pad - (h - 2 * pad) * y / 100
        parts.append(
            f'<line x1="{pad}" x2="{w - 8}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#dde3ea"/>'
        )
        parts.append(f'<text x="2" y="{yy + 4:.1f}" font-size="10" fill="#667">{y}</text>')
    for i, (label, v) in enumerate(points):
        x = pad + (w - pad - 16) * i / n
        parts.append(
            f'<text x="{x:.1f}" y="{h - 8}" font-size="10" text-anchor="middle">{escape(label)}</text>'
        )
        if v is not None:
            yy = h - pad - (h - 2 * pad) * float(v) / 100
            xy.append((x, yy, v))
    if xy:
        parts.append(
            '<polyline fill="none" stroke="#1f5fa8" stroke-width="2" points="'
            + " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in xy)
            + '"/>'
        )
        for x, y, v in xy:
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#1f5fa8"/>')
            parts.append(
                f'<text x="{x:.1f}" y="{y - 6:.1f}" font-size="10" text-anchor="middle">{v}</text>'
            )
    parts.append("</svg>")
    return mark_safe("".join(parts))


@login_required
def scorecard(request: HttpRequest, unit_type: str, unit: str) -> HttpResponse:
    if unit_type not in UNIT_TYPE_LABELS or not may_view(request.user, unit_type, unit):
        raise PermissionDenied(gettext("无权查看"))
    period = parse_period(_period(request))
    r = get_ranking(period.key, unit_type)
    me = next((u for u in r.units if u.unit.key == unit), None)
    if me is None:
        raise Http404(gettext("评价对象不存在"))
    trend = []
    for i in range(5, -1, -1):
        p = period.previous(i) if i else period
        ranking = get_ranking(p.key, unit_type) if i else r  # this period's is at hand
        ru = next((u for u in ranking.units if u.unit.key == unit), None)
        trend.append((p.key, ru.score if ru else None))
    last_day = period.end - timedelta(days=1)
    deductions = []
    for d in me.deductions:
        source = sources.get(d.source)
        linked = source is not None and source.detail_url is not None
        deductions.append(
            (d, source.detail_url(int(unit), period.start, last_day) if linked else "")
        )
    return render(
        request,
        "evaluation/scorecard.html",
        {
            "r": r,
            "me": me,
            "deductions": deductions,
            "period": period.key,
            "unit_type": unit_type,
            "type_label": gettext(UNIT_TYPE_LABELS[unit_type]),
            "figures": [(INDICATORS[k], f) for k, f in me.figures.items()],
            "lines": [(gettext(INDICATORS[ln.indicator].name), ln) for ln in me.lines],
            "trend": _svg_trend(trend),
        },
    )


@login_required
def area_map(request: HttpRequest) -> HttpResponse:
    _board_only(request)
    period = _period(request)
    level = _level(request, 3)
    unit_type = UnitType.CELL if level == AreaLevel.CELL else UnitType.AREA
    r = get_ranking(period, unit_type)
    # Cells with nothing counted are left off (a city has thousands of them): blank is "no case".
    by_id = {
        u.unit.key: u
        for u in r.units
        if u.unit.level == level and not (u.idle and unit_type == UnitType.CELL)
    }
    features = []
    for a in Area.objects.filter(pk__in=[int(k) for k in by_id]).exclude(geometry=None):
        u = by_id[str(a.pk)]
        features.append(
            {
                "type": "Feature",
                "geometry": a.geometry,
                "properties": {
                    "name": a.name,
                    "score": None if u.score is None else float(u.score),
                    "grade": u.grade,
                    "ranked": u.ranked,
                    "url": f"/evaluation/unit/{unit_type}/{a.pk}/?period={period}",
                },
            }
        )
    return render(
        request,
        "evaluation/map.html",
        {
            "period": period,
            "level": level,
            "r": r,
            "geojson": {"type": "FeatureCollection", "features": features},
        },
    )


@login_required
def accountability(request: HttpRequest, dept: str) -> HttpResponse:
    """A department's overdue, returned and reworked cases month by month, and a draft notice."""
    if not may_view(request.user, "department", dept):
        raise PermissionDenied(gettext("无权查看"))
    period = parse_period(_period(request))
    if period.kind != "month":
        period = parse_period(month_key(period.start))
    months, lists = [], {}
    for i in range(5, -1, -1):
        p = period.previous(i) if i else period
        src = source_for(p)
        rows = {
            "overdue": list(
                src.rows("handle")
                .filter(u_dept=int(dept), raw_overdue=True)
                .values("case_number", "at", "appealed")
            )
            + list(
                src.rows("overdue_open")
                .filter(u_dept=int(dept))
                .values("case_number", "at", "appealed")
            ),
            "returned": list(
                src.rows("return").filter(u_dept=int(dept)).values("case_number", "at")
            ),
            "reworked": list(
                src.rows("rework").filter(u_dept=int(dept)).values("case_number", "at")
            ),
        }
        months.append((p, {k: len(v) for k, v in rows.items()}))
        if p.key == period.key:
            lists = rows
    from gridcity.accounts.models import Department

    name = Department.objects.filter(pk=dept).values_list("name", flat=True).first() or ""
    last = months[-1][1]
    return render(
        request,
        "evaluation/accountability.html",
        {
            "name": name,
            "dept": dept,
            "period": period,
            "months": months,
            "lists": lists,
            "draft": criticism_draft(
                name, period.label, last["overdue"], last["returned"], last["reworked"]
            ),
            "streak": sum(1 for _ in _streak(months)),
        },
    )


def _streak(months):
    for _, counts in reversed(months):
        if not counts["overdue"]:
            return
        yield 1


@login_required
def appeals(request: HttpRequest) -> HttpResponse:
    u = request.user
    qs = Appeal.objects.select_related("case", "department").order_by("-filed_at")
    if not may_view_board(u):
        qs = qs.filter(department_id=u.department_id) if u.department_id else qs.none()
    return render(
        request,
        "evaluation/appeals.html",
        {"appeals": qs[:200], "open": (AppealStatus.PENDING, AppealStatus.FIRST_APPROVED)},
    )


@login_required
@require_POST
def file_appeal(request: HttpRequest) -> HttpResponse:
    case = Case.objects.filter(number=request.POST.get("case", "").strip()).first()
    try:
        if case is None:
            raise CaseError(gettext("案件不存在"))
        actions.do_file_appeal(
            case, acting_user=request.user, reason=request.POST.get("reason", "")
        )
        messages.success(request, gettext("申诉已提交，待指挥中心初审"))
    except CaseError as exc:
        messages.error(request, exc.message)
    return redirect("evaluation:appeals")


@login_required
@require_POST
def review_appeal(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        actions.do_review_appeal(
            pk,
            acting_user=request.user,
            approve=request.POST.get("decision") == "approve",
            note=request.POST.get("note", ""),
        )
        messages.success(request, gettext("已审核"))
    except CaseError as exc:
        messages.error(request, exc.message)
    return redirect("evaluation:appeals")


@login_required
@require_POST
def close_period(request: HttpRequest) -> HttpResponse:
    period = request.POST.get("period", "")
    try:
        if request.POST.get("step") == "publish":
            actions.do_publish_period(period, acting_user=request.user)
            messages.success(request, gettext("已发布"))
        elif tasks.request_freeze(period, acting_user=request.user) is None:
            messages.success(
                request,
                gettext("本期考评事实较多，已转入后台冻结（约需一两分钟），完成后本页显示“已冻结”"),
            )
        else:
            messages.success(request, gettext("已冻结：本期数字不再随案件变化"))
    except CaseError as exc:
        messages.error(request, exc.message)
    return redirect(f"/evaluation/?period={period}")


@login_required
def bulletin(request: HttpRequest, period: str, fmt: str) -> HttpResponse:
    _board_only(request)
    try:
        parse_period(period)
    except ValueError as exc:
        raise Http404(str(exc)) from exc
    if fmt not in ("xlsx", "pdf"):
        raise Http404(gettext("格式应为 xlsx 或 pdf"))
    if fmt == "xlsx":
        body = bulletin_xlsx(period)
        ctype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    else:
        body = bulletin_pdf(period)
        ctype = "application/pdf"
    resp = HttpResponse(body, content_type=ctype)
    resp["Content-Disposition"] = f'attachment; filename="bulletin-{period}.{fmt}"'
    return resp
