"""Pages: the grid manager's patrol phone page, the supervisor's patrol map and attendance
sheet, the pairing board with visits and assessments, the team, community rules and surveys,
and the public page of the practice stations. Thin: parse, call the actions, render."""

from __future__ import annotations

import calendar
import uuid
from collections import defaultdict
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.contrib import messages
from django.db.models import Count, F, Max, Q, Sum
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone

from gridcity.accounts.models import Role, User
from gridcity.cases.errors import CaseError
from gridcity.cases.models import OPEN, Case, Status
from gridcity.grids.models import Area, AreaLevel, Beat
from gridcity.people import track
from gridcity.people.actions import (
    ASSESSOR_ROLES,
    SUPERVISOR_ROLES,
    SURVEY_QUESTIONS,
    ProblemIn,
    VisitIn,
    do_answer_survey,
    do_assess_pairing,
    do_record_visit,
    do_resolve_problem,
    may_record_visit,
    pairings_visible_to,
    survey_results,
)
from gridcity.people.models import (
    ActivityKind,
    AnnualRecord,
    ManagerProfile,
    Pairing,
    Patrol,
    PatrolCellVisit,
    PatrolPoint,
    ProblemRoute,
    ScoreSheet,
    Showcase,
    StationActivity,
    Survey,
    VisitProblem,
)
from gridcity.taxonomy.actions import resolve_category
from gridcity.taxonomy.models import Category
from gridcity.web.field import map_settings, role_required

FIELD = {Role.INSPECTOR, Role.ADMIN}
SUPERVISORS = set(SUPERVISOR_ROLES)
PAIRING_ROLES = SUPERVISORS | {Role.DEPT_LEAD, Role.HANDLER}


def min_duty_minutes() -> int:
    return int(getattr(settings, "GRIDCITY_PATROL_MIN_MINUTES", 60))


def _int(v: str | None, default: int, lo: int, hi: int) -> int:
    try:
        return min(max(int(v), lo), hi)
    except (TypeError, ValueError):
        return default


def _day_bounds(d: date) -> tuple[datetime, datetime]:
    start = timezone.make_aware(datetime.combine(d, time.min))
    return start, start + timedelta(days=1)


def _cells_geojson(cells, stale_ids: set[int], visited_ids: set[int]) -> dict:
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": c.geometry,
                "properties": {
                    "code": c.code,
                    "stale": c.pk in stale_ids,
                    "visited": c.pk in visited_ids,
                },
            }
            for c in cells
            if c.geometry
        ],
    }


def stale_cells(cell_ids: list[int], days: int, now: datetime) -> set[int]:
    """Cells with no trusted patrol visit in the last `days` days."""
    since = now - timedelta(days=days)
    recent = set(
        PatrolCellVisit.objects.filter(cell_id__in=cell_ids, last_at__gte=since).values_list(
            "cell_id", flat=True
        )
    )
    return set(cell_ids) - recent


# ---------------------------------------------------------------------------------------------
# Patrols


@role_required(FIELD)
def patrol_page(request: HttpRequest) -> HttpResponse:
    beat = Beat.objects.filter(manager=request.user).order_by("code").first()
    cells = list(beat.cells.only("pk", "code", "geometry")) if beat else []
    days = 3
    stale = stale_cells([c.pk for c in cells], days, timezone.now())
    return render(
        request,
        "people/patrol.html",
        {
            "beat": beat,
            "stale_count": len(stale),
            "stale_days": days,
            "map": {
                **map_settings(),
                "cells": _cells_geojson(cells, stale, set()),
                "user": request.user.pk,
            },
        },
    )


@role_required(SUPERVISORS)
def patrol_board(request: HttpRequest) -> HttpResponse:
    today = timezone.localdate()
    try:
        day = date.fromisoformat(request.GET.get("date", "")) if request.GET.get("date") else today
    except ValueError:
        day = today
    days = _int(request.GET.get("days"), 3, 1, 60)
    beats = list(Beat.objects.select_related("manager").order_by("code"))
    beat = next((b for b in beats if b.code == request.GET.get("beat")), None)
    start, end = _day_bounds(day)
    patrols = list(
        Patrol.objects.filter(started_at__gte=start, started_at__lt=end)
        .select_related("manager", "beat")
        .order_by("started_at")
    )
    if beat:
        patrols = [p for p in patrols if p.beat_id == beat.pk]
    tracks = []
    by_patrol: dict[int, list] = defaultdict(list)
    for pk, lon, lat, flag in (
        PatrolPoint.objects.filter(patrol_id__in=[p.pk for p in patrols])
        .values_list("patrol_id", "lon", "lat", "flag")
        .order_by("patrol_id", "seq")
    ):
        by_patrol[pk].append((lon, lat, flag))
    for p in patrols:
        pts = by_patrol.get(p.pk, [])
        tracks.append(
            {
                "name": str(p.manager),
                "line": [[lat, lon] for lon, lat, f in pts if f == track.OK],
                "flagged": [[lat, lon] for lon, lat, f in pts if f != track.OK],
            }
        )
    cell_qs = Area.objects.filter(level=AreaLevel.CELL, beats__isnull=False)
    if beat:
        cell_qs = cell_qs.filter(beats=beat)
    cells = list(cell_qs.distinct().only("pk", "code", "geometry")[:5000])
    ids = [c.pk for c in cells]
    now = end if day < today else timezone.now()
    stale = stale_cells(ids, days, now)
    visited = set(
        PatrolCellVisit.objects.filter(patrol__in=patrols).values_list("cell_id", flat=True)
    )
    stale_by_beat = []
    for b in [beat] if beat else beats:
        b_ids = set(b.cells.values_list("pk", flat=True))
        stale_by_beat.append((b, len(b_ids), len(b_ids & stale)))
    stale_codes = sorted(c.code for c in cells if c.pk in stale)
    return render(
        request,
        "people/patrol_board.html",
        {
            "day": day,
            "days": days,
            "beats": beats,
            "beat": beat,
            "patrols": patrols,
            "stale_by_beat": stale_by_beat,
            "stale_codes": stale_codes[:300],
            "stale_more": max(0, len(stale_codes) - 300),
            "map": {
                **map_settings(),
                "cells": _cells_geojson(cells, stale, visited),
                "tracks": tracks,
            },
        },
    )


def _month(request: HttpRequest) -> date:
    try:
        y, m = (int(x) for x in request.GET.get("month", "").split("-"))
        return date(y, m, 1)
    except (ValueError, TypeError):
        return timezone.localdate().replace(day=1)


def attendance_rows(users: list[User], first: date) -> list[dict]:
    """One row per grid manager: the status of each day of the month from her patrols."""
    n = calendar.monthrange(first.year, first.month)[1]
    start, _ = _day_bounds(first)
    _, end = _day_bounds(first.replace(day=n))
    per: dict[tuple[int, date], dict] = defaultdict(lambda: {"s": 0, "m": 0.0, "n": 0})
    for p in Patrol.objects.filter(manager__in=users, started_at__gte=start, started_at__lt=end):
        d = timezone.localtime(p.started_at).date()
        agg = per[(p.manager_id, d)]
        agg["s"] += p.duty_seconds
        agg["m"] += p.distance_m
        agg["n"] += 1
    minimum = min_duty_minutes()
    rows = []
    for u in users:
        days = []
        for i in range(1, n + 1):
            d = first.replace(day=i)
            agg = per.get((u.pk, d), {"s": 0, "m": 0.0, "n": 0})
            days.append({"date": d, "status": track.day_status(agg["s"], minimum), **agg})
        rows.append(
            {
                "user": u,
                "days": days,
                "on_duty": sum(1 for d in days if d["status"] == track.ON_DUTY),
                "short": sum(1 for d in days if d["status"] == track.SHORT),
                "hours": round(sum(d["s"] for d in days) / 3600, 1),
                "km": round(sum(d["m"] for d in days) / 1000, 2),
            }
        )
    return rows


@role_required(SUPERVISORS)
def attendance(request: HttpRequest) -> HttpResponse:
    first = _month(request)
    users = list(User.objects.filter(role=Role.INSPECTOR, is_active=True).order_by("username"))
    rows = attendance_rows(users, first)
    prev = (first - timedelta(days=1)).replace(day=1)
    nxt = (first + timedelta(days=32)).replace(day=1)
    return render(
        request,
        "people/attendance.html",
        {
            "first": first,
            "rows": rows,
            "day_numbers": range(1, calendar.monthrange(first.year, first.month)[1] + 1),
            "prev": prev,
            "next": nxt,
            "minimum": min_duty_minutes(),
        },
    )


# ---------------------------------------------------------------------------------------------
# The team


@role_required(SUPERVISORS | {Role.INSPECTOR})
def manager_page(request: HttpRequest, username: str) -> HttpResponse:
    person = get_object_or_404(User, username=username, role=Role.INSPECTOR)
    if request.user.role == Role.INSPECTOR and request.user.pk != person.pk:
        raise Http404("网格员不存在")
    first = _month(request)
    profile = ManagerProfile.objects.filter(user=person).first()
    month_row = attendance_rows([person], first)[0]
    recent = Patrol.objects.filter(manager=person).select_related("beat")[:10]
    return render(
        request,
        "people/manager.html",
        {
            "person": person,
            "profile": profile,
            "beats": Beat.objects.filter(manager=person),
            "trainings": person.trainings.all(),
            "training_hours": person.trainings.aggregate(h=Sum("hours"))["h"] or 0,
            "qualifications": person.qualifications.order_by("-issued_on"),
            "commendations": person.commendations.all(),
            "first": first,
            "month": month_row,
            "patrols": recent,
            "today": timezone.localdate(),
        },
    )


@role_required(SUPERVISORS)
def team(request: HttpRequest) -> HttpResponse:
    users = list(
        User.objects.filter(role=Role.INSPECTOR, is_active=True)
        .select_related("manager_profile")
        .annotate(
            n_train=Count("trainings", distinct=True),
            n_awards=Count("commendations", distinct=True),
        )
        .order_by("username")
    )
    beats = defaultdict(list)
    for b in Beat.objects.filter(manager__in=users):
        beats[b.manager_id].append(b)
    rows = attendance_rows(users, timezone.localdate().replace(day=1))
    on_duty = {r["user"].pk: r for r in rows}
    return render(
        request,
        "people/team.html",
        {"rows": [(u, beats[u.pk], on_duty[u.pk]) for u in users]},
    )


# ---------------------------------------------------------------------------------------------
# Community pairing


def _open_problems(pairing_ids: list[int]) -> dict[int, int]:
    rows = (
        VisitProblem.objects.filter(visit__pairing_id__in=pairing_ids)
        .filter(
            Q(route=ProblemRoute.LEDGER, resolved_at__isnull=True)
            | Q(route=ProblemRoute.CASE, case__status__in=list(OPEN))
        )
        .values("visit__pairing_id")
        .annotate(n=Count("id"))
    )
    return {r["visit__pairing_id"]: r["n"] for r in rows}


@role_required(PAIRING_ROLES)
def pairing_board(request: HttpRequest) -> HttpResponse:
    pairings = list(
        pairings_visible_to(request.user).annotate(
            n_visits=Count("visits", distinct=True), last_visit=Max("visits__visited_on")
        )
    )
    today = timezone.localdate()
    since = today - timedelta(days=90)
    recent = dict(
        Pairing.objects.filter(pk__in=[p.pk for p in pairings], visits__visited_on__gte=since)
        .values_list("pk")
        .annotate(n=Count("visits"))
    )
    open_n = _open_problems([p.pk for p in pairings])
    rows = []
    for p in pairings:
        per_month = round(recent.get(p.pk, 0) / 3, 1)
        rows.append(
            {
                "p": p,
                "per_month": per_month,
                "behind": per_month < p.visits_per_month,
                "open": open_n.get(p.pk, 0),
                "latest": p.assessments.first(),
            }
        )
    return render(request, "people/pairings.html", {"rows": rows})


def _pairing_for(request: HttpRequest, pk: int) -> Pairing:
    p = pairings_visible_to(request.user).filter(pk=pk).first()
    if p is None:
        raise Http404("结对不存在")
    return p


@role_required(PAIRING_ROLES)
def pairing_detail(request: HttpRequest, pk: int) -> HttpResponse:
    pairing = _pairing_for(request, pk)
    sheet = ScoreSheet.objects.filter(is_active=True).order_by("pk").first()
    errors: dict[str, str] = {}
    today = timezone.localdate()
    if request.method == "POST" and request.POST.get("form") == "assess" and sheet:
        try:
            do_assess_pairing(
                pairing,
                sheet=sheet,
                year=_int(request.POST.get("year"), today.year, 2000, 2100),
                quarter=_int(request.POST.get("quarter"), 0, 0, 9),
                scores={
                    i["name"]: request.POST.get(f"score-{n}", "") for n, i in enumerate(sheet.items)
                },
                note=request.POST.get("note", ""),
                acting_user=request.user,
            )
            messages.success(request, "考核结果已记入年度绩效档案")
            return redirect("people:pairing", pk=pairing.pk)
        except CaseError as exc:
            errors["assess"] = exc.message
    if request.method == "POST" and request.POST.get("form") == "resolve":
        problem = get_object_or_404(
            VisitProblem, pk=_int(request.POST.get("problem"), 0, 0, 2**31), visit__pairing=pairing
        )
        try:
            do_resolve_problem(
                problem, measures=request.POST.get("measures", ""), acting_user=request.user
            )
            messages.success(request, "问题已销号")
            return redirect("people:pairing", pk=pairing.pk)
        except CaseError as exc:
            errors["resolve"] = exc.message
    visits = pairing.visits.prefetch_related("photos", "problems__case").select_related(
        "recorded_by"
    )
    return render(
        request,
        "people/pairing.html",
        {
            "pairing": pairing,
            "visits": visits,
            "assessments": pairing.assessments.select_related("annual_record"),
            "sheet": sheet,
            "sheet_items": list(enumerate(sheet.items)) if sheet else [],
            "can_assess": request.user.is_superuser or request.user.role in ASSESSOR_ROLES,
            "can_visit": may_record_visit(request.user, pairing),
            "errors": errors,
            "year": today.year,
            "quarter": (today.month - 1) // 3 + 1,
        },
    )


@role_required(PAIRING_ROLES)
def visit_new(request: HttpRequest, pk: int) -> HttpResponse:
    pairing = _pairing_for(request, pk)
    if not may_record_visit(request.user, pairing):
        raise Http404("无权记录走访")
    error, field = "", ""
    today = timezone.localdate()
    values = {"visited_on": today.isoformat(), "people": str(request.user), "findings": ""}
    if request.method == "POST":
        values = {k: request.POST.get(k, "") for k in ("visited_on", "people", "findings")}
        problems = []
        for i in range(3):
            desc = request.POST.get(f"problem-{i}", "").strip()
            if not desc:
                continue
            route = request.POST.get(f"route-{i}", ProblemRoute.LEDGER)
            cat = resolve_category(request.POST.get(f"category-{i}", ""))
            lon = request.POST.get("lon") or None
            lat = request.POST.get("lat") or None
            problems.append(
                ProblemIn(
                    desc,
                    route,
                    cat,
                    float(lon) if lon else None,
                    float(lat) if lat else None,
                    request.POST.get(f"address-{i}", ""),
                )
            )
        photos = [(f.name, f.read()) for f in request.FILES.getlist("photos")[:9]]
        try:
            visited_on = date.fromisoformat(values["visited_on"])
        except ValueError:
            visited_on = None
        try:
            if visited_on is None:
                raise CaseError("请填写走访日期", field="visited_on")
            do_record_visit(
                pairing,
                VisitIn(visited_on, values["people"], values["findings"], photos, problems),
                acting_user=request.user,
                idempotency_key=request.POST.get("key", ""),
            )
            messages.success(request, "走访记录已保存")
            return redirect("people:pairing", pk=pairing.pk)
        except (CaseError, ValueError) as exc:
            error = getattr(exc, "message", str(exc))
            field = getattr(exc, "field", "") or ""
    categories = Category.objects.filter(is_active=True).order_by("kind", "code")
    return render(
        request,
        "people/visit_new.html",
        {
            "pairing": pairing,
            "values": values,
            "error": error,
            "field": field,
            "categories": categories,
            "key": uuid.uuid4().hex,
            "slots": range(3),
        },
    )


@role_required(PAIRING_ROLES)
def annual_records(request: HttpRequest) -> HttpResponse:
    year = _int(request.GET.get("year"), timezone.localdate().year, 2000, 2100)
    qs = AnnualRecord.objects.filter(year=year).select_related("user", "department")
    if request.user.role not in SUPERVISORS and not request.user.is_superuser:
        qs = qs.filter(Q(user=request.user) | Q(department_id=request.user.department_id))
    records = qs.prefetch_related("assessments__pairing__community")
    return render(request, "people/annual.html", {"records": records, "year": year})


# ---------------------------------------------------------------------------------------------
# Communities: village rules, civilised families, surveys


@role_required(SUPERVISORS | {Role.DEPT_LEAD, Role.HANDLER, Role.INSPECTOR})
def communities(request: HttpRequest) -> HttpResponse:
    areas = (
        Area.objects.filter(level=AreaLevel.COMMUNITY, is_active=True)
        .select_related("village_rule")
        .prefetch_related("civilised_families")
        .order_by("code")
    )
    surveys = Survey.objects.order_by("-created_at")
    return render(request, "people/communities.html", {"areas": areas, "surveys": surveys})


def survey_form(request: HttpRequest, pk: int) -> HttpResponse:
    """The citizens' questionnaire: no login."""
    survey = get_object_or_404(Survey, pk=pk)
    error, field, done = "", "", False
    values = {}
    if request.method == "POST":
        values = request.POST
        try:
            do_answer_survey(
                survey,
                community_code=request.POST.get("community", ""),
                answers={k: request.POST.get(k) for k, _ in SURVEY_QUESTIONS},
            )
            done = True
        except CaseError as exc:
            error, field = exc.message, exc.field or ""
    return render(
        request,
        "people/survey.html",
        {
            "survey": survey,
            "questions": SURVEY_QUESTIONS,
            "scale": range(1, survey.scale_max + 1),
            "communities": Area.objects.filter(level=AreaLevel.COMMUNITY, is_active=True),
            "error": error,
            "field": field,
            "done": done,
            "values": values,
        },
        status=422 if error else 200,
    )


@role_required(SUPERVISORS)
def survey_report(request: HttpRequest, pk: int) -> HttpResponse:
    survey = get_object_or_404(Survey, pk=pk)
    return render(
        request, "people/survey_results.html", {"survey": survey, "rows": survey_results(survey)}
    )


# ---------------------------------------------------------------------------------------------
# Publicity


def public_page(request: HttpRequest) -> HttpResponse:
    """No login. Governance results and the stations' activities; photos only through the
    stripped public copies, never who reported."""
    now = timezone.now()
    first = timezone.localdate().replace(day=1)
    start, _ = _day_bounds(first)
    closed = Case.objects.filter(status=Status.CLOSED, closed_at__gte=start)
    n_closed = closed.count()
    # 按期结案: handled (reported back) within the case's handling deadline.
    on_time = (
        closed.filter(
            Q(handle_deadline__isnull=True) | Q(handled_at__lte=F("handle_deadline"))
        ).count()
        if n_closed
        else 0
    )
    showcases = Showcase.objects.filter(is_published=True).select_related(
        "before", "after", "case__category"
    )[:12]
    return render(
        request,
        "people/public.html",
        {
            "upcoming": StationActivity.objects.filter(held_at__gte=now).order_by("held_at")[:20],
            "past": StationActivity.objects.filter(held_at__lt=now)[:20],
            "n_closed": n_closed,
            "on_time_rate": round(100 * on_time / n_closed, 1) if n_closed else None,
            "showcases": showcases,
            "month": first,
            "kinds": dict(ActivityKind.choices),
        },
    )
