"""Pages: the grid manager's patrol phone page, the supervisor's patrol map and attendance
sheet, the pairing board with visits and assessments, the team, community rules and surveys,
and the public page of the practice stations. Thin: parse, call the actions, render."""

from __future__ import annotations

import calendar
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, F, Max, Q, Sum
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.gzip import gzip_page

from gridcity.accounts import audit
from gridcity.accounts.access import role_required
from gridcity.accounts.models import Role, User
from gridcity.cases.actions import effective_role
from gridcity.cases.models import OPEN, Case, Status
from gridcity.grids.maps import map_settings
from gridcity.grids.models import Area, AreaLevel, Beat
from gridcity.lib.bounds import check_date, date_or_none
from gridcity.lib.errors import CaseError, Forbidden, InvalidInput
from gridcity.people import track
from gridcity.people.actions import (
    ASSESSOR_ROLES,
    ORGANISER_ROLES,
    SUPERVISOR_ROLES,
    SURVEY_QUESTIONS,
    ProblemIn,
    VisitIn,
    checkins_of_day,
    do_answer_survey,
    do_assess_pairing,
    do_close_survey,
    do_compile_annual_record,
    do_create_pairing,
    do_create_score_sheet,
    do_create_survey,
    do_create_training,
    do_end_pairing,
    do_record_activity,
    do_record_attendance,
    do_record_visit,
    do_resolve_problem,
    do_set_score_sheet_active,
    do_update_pairing,
    may_record_activity,
    may_record_visit,
    pairings_visible_to,
    survey_questions,
    survey_results,
)
from gridcity.people.forms import (
    ActivityForm,
    AttendanceForm,
    EndPairingForm,
    PairingForm,
    PairingUpdateForm,
    ScoreSheetForm,
    SurveyForm,
    TrainingForm,
)
from gridcity.people.models import (
    ActivityKind,
    AnnualRecord,
    CheckIn,
    CheckInKind,
    ManagerProfile,
    Pairing,
    PairingAssessment,
    Patrol,
    PatrolCellVisit,
    PatrolPoint,
    ProblemRoute,
    ScoreSheet,
    Showcase,
    StationActivity,
    Survey,
    TrainingSession,
    VisitProblem,
)
from gridcity.people.naming import natural_key
from gridcity.taxonomy.actions import resolve_category
from gridcity.taxonomy.models import Category

FIELD = {Role.INSPECTOR, Role.ADMIN}

SUPERVISORS = set(SUPERVISOR_ROLES)
PAIRING_ROLES = SUPERVISORS | {Role.DEPT_LEAD, Role.HANDLER}


def map_cell_limit() -> int:
    """The patrol board's map draws at most this many cell polygons; its counts cover every
    cell whatever the limit."""
    return int(getattr(settings, "GRIDCITY_PATROL_MAP_CELLS", 5000))


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


def _rounded(geometry: dict, digits: int) -> dict:
    """A GeoJSON geometry with its coordinates cut to `digits` decimals (6 is 0.1 m): half
    the bytes of the stored full-precision floats, the same map."""

    def cut(c):
        return [cut(x) for x in c] if isinstance(c, list) else round(c, digits)

    return {**geometry, "coordinates": cut(geometry.get("coordinates", []))}


def _cells_geojson(
    cells, stale_ids: set[int], visited_ids: set[int], digits: int | None = None
) -> dict:
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": c.geometry if digits is None else _rounded(c.geometry, digits),
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


def stale_cells_among(cell_ids: set[int], days: int, now: datetime) -> set[int]:
    """The same for a whole district: the recent visits are read without a list of ids, which
    with ten thousand cells would pass SQLite's limit on query parameters."""
    since = now - timedelta(days=days)
    recent = set(
        PatrolCellVisit.objects.filter(last_at__gte=since, first_at__lte=now)
        .values_list("cell_id", flat=True)
        .distinct()
    )
    return cell_ids - recent


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
            "checkins": checkins_of_day(request.user, timezone.localdate()),
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


@dataclass
class _BoardScope:
    """What the patrol board shows for a day, a beat (or all) and a number of days: shared by
    the page (lists and counts) and its map data, which the page loads on its own."""

    day: date
    days: int
    beats: list[Beat]
    beat: Beat | None
    patrols: list[Patrol]
    cells_of_beat: dict[int, set[int]]
    code_of: dict[int, str]
    stale: set[int]
    visited: set[int]

    def query(self) -> str:
        params = {"date": self.day.isoformat(), "days": self.days}
        if self.beat:
            params["beat"] = self.beat.code
        return urlencode(params)


def _board_scope(request: HttpRequest) -> _BoardScope:
    today = timezone.localdate()
    day = date_or_none(request.GET.get("date")) or today
    days = _int(request.GET.get("days"), 3, 1, 60)
    beats = sorted(Beat.objects.select_related("manager"), key=lambda b: natural_key(b.code))
    beat = next((b for b in beats if b.code == request.GET.get("beat")), None)
    start, end = _day_bounds(day)
    patrols = Patrol.objects.filter(started_at__gte=start, started_at__lt=end)
    if beat:
        patrols = patrols.filter(beat=beat)
    patrols = list(patrols.select_related("manager", "beat").order_by("started_at"))
    # Counts cover every cell of every beat (ids only, one query); only the map is capped, as
    # a district of 100 m cells has more polygons than a browser draws comfortably.
    cells_of_beat: dict[int, set[int]] = defaultdict(set)
    code_of: dict[int, str] = {}
    for beat_id, cell_id, code in Beat.cells.through.objects.filter(
        beat_id__in=[beat.pk] if beat else [b.pk for b in beats]
    ).values_list("beat_id", "area_id", "area__code"):
        cells_of_beat[beat_id].add(cell_id)
        code_of[cell_id] = code
    ids = set().union(*cells_of_beat.values()) if cells_of_beat else set()
    now = end if day < today else timezone.now()
    visited = set(
        PatrolCellVisit.objects.filter(patrol__in=[p.pk for p in patrols]).values_list(
            "cell_id", flat=True
        )
    )
    return _BoardScope(
        day=day,
        days=days,
        beats=beats,
        beat=beat,
        patrols=patrols,
        cells_of_beat=cells_of_beat,
        code_of=code_of,
        stale=stale_cells_among(ids, days, now),
        visited=visited,
    )


@role_required(SUPERVISORS)
def patrol_board(request: HttpRequest) -> HttpResponse:
    """The day's patrols and the cells nobody walked lately. The map's polygons and tracks
    (megabytes for a district of 100 m cells) come from `patrol_board_map` once the page is
    shown."""
    scope = _board_scope(request)
    stale = scope.stale
    stale_by_beat = [
        (b, len(scope.cells_of_beat[b.pk]), len(scope.cells_of_beat[b.pk] & stale))
        for b in ([scope.beat] if scope.beat else scope.beats)
    ]
    stale_codes = sorted(scope.code_of[pk] for pk in stale)
    cells_total = len(scope.code_of)
    return render(
        request,
        "people/patrol_board.html",
        {
            "day": scope.day,
            "days": scope.days,
            "beats": scope.beats,
            "beat": scope.beat,
            "patrols": scope.patrols,
            "stale_by_beat": stale_by_beat,
            "stale_codes": stale_codes[:300],
            "stale_more": max(0, len(stale) - 300),
            "cells_total": cells_total,
            "cells_shown": min(cells_total, map_cell_limit()),
            "map_url": f"{reverse('people:patrol_board_map')}?{scope.query()}",
        },
    )


@role_required(SUPERVISORS)
@gzip_page
def patrol_board_map(request: HttpRequest) -> JsonResponse:
    """The patrol board's map: the beat's cells (stale ones and the day's first, at most
    `map_cell_limit`) and the day's tracks with their distrusted fixes apart. Compressed: the
    polygons of a district shrink to a fifth (no secret rides along to tempt a BREACH)."""
    scope = _board_scope(request)
    by_patrol: dict[int, list] = defaultdict(list)
    for pk, lon, lat, flag in (
        PatrolPoint.objects.filter(patrol_id__in=[p.pk for p in scope.patrols])
        .values_list("patrol_id", "lon", "lat", "flag")
        .order_by("patrol_id", "seq")
    ):
        by_patrol[pk].append((round(lat, 6), round(lon, 6), flag))
    tracks = []
    for p in scope.patrols:
        pts = by_patrol.get(p.pk, [])
        tracks.append(
            {
                "name": str(p.manager),
                "line": [[lat, lon] for lat, lon, f in pts if f == track.OK],
                "flagged": [[lat, lon] for lat, lon, f in pts if f != track.OK],
            }
        )
    stale, visited = scope.stale, scope.visited
    # The map shows the cells that need attention first: stale ones, then the day's.
    shown = sorted(scope.code_of, key=lambda pk: (pk not in stale, pk not in visited, pk))
    cells = Area.objects.filter(pk__in=shown[: map_cell_limit()]).only("pk", "code", "geometry")
    return JsonResponse(
        {
            **map_settings(),
            "cells": _cells_geojson(cells, stale, visited, digits=6),
            "tracks": tracks,
        }
    )


def _month(request: HttpRequest) -> date:
    try:
        y, m = (int(x) for x in request.GET.get("month", "").split("-"))
        return check_date(date(y, m, 1))
    except (ValueError, TypeError):
        return timezone.localdate().replace(day=1)


def _empty_day() -> dict:
    return {"s": 0, "m": 0.0, "n": 0, "spans": [], "check_in": None, "check_out": None}


def attendance_rows(users: list[User], first: date) -> list[dict]:
    """One row per grid manager: the status of each day of the month from her patrols and her
    check-in to check-out shifts, time covered by both counted once. A day's shifts and
    patrols count on the day they began; the day shows her first check-in and last check-out."""
    n = calendar.monthrange(first.year, first.month)[1]
    start, _next = _day_bounds(first)
    _first, end = _day_bounds(first.replace(day=n))
    per: dict[tuple[int, date], dict] = defaultdict(_empty_day)
    for p in Patrol.objects.filter(manager__in=users, started_at__gte=start, started_at__lt=end):
        d = timezone.localtime(p.started_at).date()
        agg = per[(p.manager_id, d)]
        agg["spans"].append((p.started_at, p.started_at + timedelta(seconds=p.duty_seconds)))
        agg["m"] += p.distance_m
        agg["n"] += 1
    # A shift may begin before the month and end in it, or the other way round.
    marks: dict[int, list[tuple[datetime, str]]] = defaultdict(list)
    for manager_id, at, kind in CheckIn.objects.filter(
        manager__in=users, at__gte=start - track.MAX_SHIFT, at__lt=end + track.MAX_SHIFT
    ).values_list("manager_id", "at", "kind"):
        marks[manager_id].append((at, kind))
        local = timezone.localtime(at)
        if start <= at < end:
            agg = per[(manager_id, local.date())]
            if kind == CheckInKind.IN and (agg["check_in"] is None or local < agg["check_in"]):
                agg["check_in"] = local
            if kind == CheckInKind.OUT and (agg["check_out"] is None or local > agg["check_out"]):
                agg["check_out"] = local
    for manager_id, ms in marks.items():
        for a, b in track.shifts(ms):
            if start <= a < end:
                per[(manager_id, timezone.localtime(a).date())]["spans"].append((a, b))
    for agg in per.values():
        agg["s"] = track.union_seconds(agg.pop("spans"))
    minimum = min_duty_minutes()
    rows = []
    for u in users:
        days = []
        for i in range(1, n + 1):
            d = first.replace(day=i)
            agg = per.get((u.pk, d)) or _empty_day()
            agg.pop("spans", None)
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


def grid_managers() -> tuple[list[User], dict[int, list[Beat]]]:
    """The active grid managers in the order of their beats (第2 before 第10), those without a
    beat last, and each one's beats."""
    users = list(User.objects.filter(role=Role.INSPECTOR, is_active=True))
    beats: dict[int, list[Beat]] = defaultdict(list)
    for b in Beat.objects.filter(manager__in=users):
        beats[b.manager_id].append(b)
    for bs in beats.values():
        bs.sort(key=lambda b: natural_key(b.code, b.name))

    def order(u: User) -> tuple:
        first = beats[u.pk][0] if beats[u.pk] else None
        return (first is None, natural_key(first.code if first else "", str(u), u.username))

    users.sort(key=order)
    return users, beats


@role_required(SUPERVISORS)
def attendance(request: HttpRequest) -> HttpResponse:
    day = date_or_none(request.GET.get("day"))
    first = day.replace(day=1) if day and "month" not in request.GET else _month(request)
    users, _beats = grid_managers()
    rows = attendance_rows(users, first)
    prev = (first - timedelta(days=1)).replace(day=1)
    nxt = (first + timedelta(days=32)).replace(day=1)
    last = nxt - timedelta(days=1)
    # The check-in times of one day of the month: the day asked for, else today, else the
    # month's last day.
    if day is None or not first <= day <= last:
        day = min(max(timezone.localdate(), first), last)
    return render(
        request,
        "people/attendance.html",
        {
            "first": first,
            "rows": rows,
            "day": day,
            "day_rows": [
                (r["user"], d, round(d["s"] / 3600, 1))
                for r in rows
                for d in [r["days"][day.day - 1]]
            ],
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
        raise Http404(_("网格员不存在"))
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
    ordered, beats = grid_managers()
    by_pk = {
        u.pk: u
        for u in User.objects.filter(pk__in=[u.pk for u in ordered])
        .select_related("manager_profile")
        .annotate(
            n_train=Count("trainings", distinct=True),
            n_awards=Count("commendations", distinct=True),
        )
    }
    users = [by_pk[u.pk] for u in ordered]
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


def _can_manage(user: User) -> bool:
    return effective_role(user) in ASSESSOR_ROLES


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
    latest: dict[int, PairingAssessment] = {}
    for a in PairingAssessment.objects.filter(pairing__in=pairings).order_by(
        "pairing_id", "-year", "-quarter"
    ):
        latest.setdefault(a.pairing_id, a)
    rows = []
    for p in pairings:
        per_month = round(recent.get(p.pk, 0) / 3, 1)
        ended = p.ends_on is not None and p.ends_on < today
        rows.append(
            {
                "p": p,
                "per_month": per_month,
                "ended": ended,
                "behind": not ended and per_month < p.visits_per_month,
                "open": open_n.get(p.pk, 0),
                "latest": latest.get(p.pk),
            }
        )
    rows.sort(key=lambda r: r["ended"])
    return render(
        request,
        "people/pairings.html",
        {"rows": rows, "can_manage": _can_manage(request.user)},
    )


@role_required(ASSESSOR_ROLES)
def pairing_new(request: HttpRequest) -> HttpResponse:
    form = PairingForm(request.POST or None, initial={"starts_on": timezone.localdate()})
    if request.method == "POST" and form.is_valid():
        try:
            pairing = do_create_pairing(acting_user=request.user, **form.cleaned_data)
        except CaseError as exc:
            form.add_action_error(exc)
        else:
            messages.success(request, _("结对已建立"))
            return redirect("people:pairing", pk=pairing.pk)
    return render(
        request, "people/form_page.html", _form_page(form, _("新建包村居结对"), "pairings")
    )


def _form_page(form, title, tab: str, *, back: str = "", files: bool = False) -> dict:
    return {"form": form, "title": title, "tab": tab, "back": back, "files": files}


def _pairing_for(request: HttpRequest, pk: int) -> Pairing:
    p = pairings_visible_to(request.user).filter(pk=pk).first()
    if p is None:
        raise Http404(_("结对不存在"))
    return p


def _parse_assessment(request: HttpRequest, sheets: list[ScoreSheet], today: date) -> dict:
    sheet = next((x for x in sheets if str(x.pk) == request.POST.get("sheet")), None)
    if sheet is None:
        raise InvalidInput(_("请选择评分表"), field="sheet")
    return {
        "sheet": sheet,
        "year": _int(request.POST.get("year"), today.year, 0, 9999),
        "quarter": _int(request.POST.get("quarter"), 0, 0, 9),
        "scores": {
            i["name"]: request.POST.get(f"score-{sheet.pk}-{n}", "")
            for n, i in enumerate(sheet.items)
        },
        "note": request.POST.get("note", ""),
    }


@role_required(PAIRING_ROLES)
def pairing_detail(request: HttpRequest, pk: int) -> HttpResponse:
    pairing = _pairing_for(request, pk)
    sheets = list(ScoreSheet.objects.filter(is_active=True).order_by("pk"))
    errors: dict[str, str] = {}
    today = timezone.localdate()
    form_name = request.POST.get("form") if request.method == "POST" else None
    update_form = PairingUpdateForm(
        request.POST if form_name == "update" else None,
        initial={
            "visits_per_month": pairing.visits_per_month,
            "ends_on": pairing.ends_on,
            "tasks": pairing.tasks,
            "requirements": pairing.requirements,
        },
        prefix="u",
    )
    end_form = EndPairingForm(
        request.POST if form_name == "end" else None, initial={"ends_on": today}, prefix="e"
    )
    try:
        if form_name == "assess":
            do_assess_pairing(
                pairing, **_parse_assessment(request, sheets, today), acting_user=request.user
            )
            messages.success(request, _("考核结果已记入年度绩效档案"))
            return redirect("people:pairing", pk=pairing.pk)
        if form_name == "resolve":
            problem = get_object_or_404(
                VisitProblem,
                pk=_int(request.POST.get("problem"), 0, 0, 2**31),
                visit__pairing=pairing,
            )
            do_resolve_problem(
                problem, measures=request.POST.get("measures", ""), acting_user=request.user
            )
            messages.success(request, _("问题已销号"))
            return redirect("people:pairing", pk=pairing.pk)
    except CaseError as exc:
        errors[form_name] = exc.message
    for name, form, act in (
        ("update", update_form, do_update_pairing),
        ("end", end_form, do_end_pairing),
    ):
        if form_name == name and form.is_valid():
            try:
                act(pairing, **form.cleaned_data, acting_user=request.user)
            except CaseError as exc:
                form.add_action_error(exc)
            else:
                messages.success(request, _("结对已修改") if name == "update" else _("结对已结束"))
                return redirect("people:pairing", pk=pairing.pk)
    visits = pairing.visits.prefetch_related("photos", "problems__case").select_related(
        "recorded_by"
    )
    ended = pairing.ends_on is not None and pairing.ends_on < today
    chosen = request.POST.get("sheet") if form_name == "assess" else ""
    return render(
        request,
        "people/pairing.html",
        {
            "pairing": pairing,
            "ended": ended,
            "visits": visits,
            "assessments": pairing.assessments.select_related("annual_record", "sheet"),
            "sheets": sheets,
            # Each sheet's items with what was typed, so a refused form keeps the scores.
            "sheet_rows": [
                (
                    sh,
                    [
                        (n, item, request.POST.get(f"score-{sh.pk}-{n}", "") if chosen else "")
                        for n, item in enumerate(sh.items)
                    ],
                )
                for sh in sheets
            ],
            "chosen_sheet": chosen or (str(sheets[0].pk) if sheets else ""),
            "can_assess": _can_manage(request.user),
            "can_manage": _can_manage(request.user) and not ended,
            "can_visit": may_record_visit(request.user, pairing) and not ended,
            "errors": errors,
            "posted": request.POST if form_name == "assess" else {},
            "update_form": update_form,
            "end_form": end_form,
            "open_form": form_name,
            "year": today.year,
            "quarter": (today.month - 1) // 3 + 1,
            "history": audit.history_of(pairing)[:50],
        },
        status=422 if errors or update_form.errors or end_form.errors else 200,
    )


@role_required(PAIRING_ROLES)
def visit_new(request: HttpRequest, pk: int) -> HttpResponse:
    pairing = _pairing_for(request, pk)
    if not may_record_visit(request.user, pairing):
        raise Http404(_("无权记录走访"))
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
        visited_on = date_or_none(values["visited_on"])
        try:
            if visited_on is None:
                raise CaseError(_("请填写走访日期"), field="visited_on")
            do_record_visit(
                pairing,
                VisitIn(visited_on, values["people"], values["findings"], photos, problems),
                acting_user=request.user,
                idempotency_key=request.POST.get("key", ""),
            )
            messages.success(request, _("走访记录已保存"))
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
    if effective_role(request.user) not in SUPERVISORS:
        qs = qs.filter(Q(user=request.user) | Q(department_id=request.user.department_id))
    error_for, error = 0, ""
    if request.method == "POST":
        record = get_object_or_404(qs, pk=_int(request.POST.get("record"), 0, 0, 2**31))
        try:
            record = do_compile_annual_record(record, acting_user=request.user)
        except CaseError as exc:
            error_for, error = record.pk, exc.message
        else:
            messages.success(
                request,
                _("%(who)s %(year)s 年度绩效：%(score)s 分，%(grade)s")
                % {
                    "who": record.subject_name,
                    "year": record.year,
                    "score": f"{record.score:g}",
                    "grade": record.grade,
                },
            )
            return redirect(f"{reverse('people:annual')}?year={year}")
    records = list(
        qs.prefetch_related("assessments__pairing__community", "assessments__sheet").order_by(
            "user__username", "department__code"
        )
    )
    return render(
        request,
        "people/annual.html",
        {
            "rows": [(r, audit.history_of(r)[:10]) for r in records],
            "year": year,
            "can_compile": _can_manage(request.user),
            "error_for": error_for,
            "error": error,
        },
        status=422 if error else 200,
    )


# ---------------------------------------------------------------------------------------------
# Score sheets


@role_required(SUPERVISORS)
def score_sheets(request: HttpRequest) -> HttpResponse:
    form = ScoreSheetForm(request.POST or None)
    can_manage = _can_manage(request.user)
    if request.method == "POST":
        if not can_manage:
            raise PermissionDenied(_("只有领导或管理员可以制定考核评分表"))
        if form.is_valid():
            try:
                sheet = do_create_score_sheet(acting_user=request.user, **form.cleaned_data)
            except CaseError as exc:
                form.add_action_error(exc)
            else:
                messages.success(request, _("评分表已保存"))
                return redirect("people:sheet", pk=sheet.pk)
    return render(
        request,
        "people/sheets.html",
        {
            "sheets": ScoreSheet.objects.order_by("-is_active", "-pk"),
            "form": form,
            "can_manage": can_manage,
        },
        status=422 if form.errors else 200,
    )


@role_required(SUPERVISORS)
def score_sheet(request: HttpRequest, pk: int) -> HttpResponse:
    sheet = get_object_or_404(ScoreSheet, pk=pk)
    if request.method == "POST":
        try:
            sheet = do_set_score_sheet_active(
                sheet, active=request.POST.get("active") == "1", acting_user=request.user
            )
        except CaseError as exc:
            raise PermissionDenied(exc.message) from exc
        messages.success(request, _("已启用") if sheet.is_active else _("已停用"))
        return redirect("people:sheet", pk=sheet.pk)
    return render(
        request,
        "people/sheet.html",
        {
            "sheet": sheet,
            "used": PairingAssessment.objects.filter(sheet=sheet).count(),
            "can_manage": _can_manage(request.user),
            "history": audit.history_of(sheet),
        },
    )


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
                answers={k: request.POST.get(k) for k, _label in SURVEY_QUESTIONS},
            )
            done = True
        except CaseError as exc:
            error, field = exc.message, exc.field or ""
    return render(
        request,
        "people/survey.html",
        {
            "survey": survey,
            "questions": survey_questions(survey),
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
def surveys(request: HttpRequest) -> HttpResponse:
    can_create = effective_role(request.user) in ORGANISER_ROLES
    form = SurveyForm(request.POST or None)
    if request.method == "POST":
        if not can_create:
            raise PermissionDenied(_("只有中心领导、值班长或管理员可以发起调查"))
        if form.is_valid():
            d = form.cleaned_data
            try:
                survey = do_create_survey(
                    title=d["title"],
                    questions={k: d[k] for k, _label in SURVEY_QUESTIONS},
                    scale_max=d["scale_max"],
                    positive_from=d["positive_from"],
                    acting_user=request.user,
                )
            except CaseError as exc:
                form.add_action_error(exc)
            else:
                messages.success(request, _("调查已发起，可将公开问卷链接发给群众"))
                return redirect("people:survey_results", pk=survey.pk)
    return render(
        request,
        "people/surveys.html",
        {
            "surveys": Survey.objects.annotate(n=Count("responses")).order_by("-created_at"),
            "form": form,
            "can_create": can_create,
        },
        status=422 if form.errors else 200,
    )


@role_required(SUPERVISORS)
def survey_report(request: HttpRequest, pk: int) -> HttpResponse:
    survey = get_object_or_404(Survey, pk=pk)
    can_close = effective_role(request.user) in ORGANISER_ROLES
    if request.method == "POST":
        try:
            do_close_survey(survey, acting_user=request.user)
        except Forbidden as exc:
            raise PermissionDenied(exc.message) from exc
        except CaseError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("调查已结束"))
        return redirect("people:survey_results", pk=survey.pk)
    return render(
        request,
        "people/survey_results.html",
        {
            "survey": survey,
            "rows": survey_results(survey),
            "questions": survey_questions(survey),
            "public_url": request.build_absolute_uri(reverse("people:survey", args=[survey.pk])),
            "can_close": can_close and survey.is_open,
            "history": audit.history_of(survey),
        },
    )


# ---------------------------------------------------------------------------------------------
# Practice-station activities


@role_required(PAIRING_ROLES)
def activities(request: HttpRequest) -> HttpResponse:
    can_record = may_record_activity(request.user)
    form = ActivityForm(request.POST or None, request.FILES or None)
    if request.method == "POST":
        if not can_record:
            raise PermissionDenied(_("只有中心或街道的工作人员可以登记文明实践活动"))
        if form.is_valid():
            d = dict(form.cleaned_data)
            upload = d.pop("photo")
            try:
                activity = do_record_activity(
                    **d,
                    photo=(upload.name, upload.read()) if upload else None,
                    acting_user=request.user,
                )
            except CaseError as exc:
                form.add_action_error(exc)
            else:
                messages.success(request, _("活动已登记"))
                return redirect("people:activity", pk=activity.pk)
    return render(
        request,
        "people/activities.html",
        {
            "activities": StationActivity.objects.select_related("community")[:100],
            "form": form,
            "can_record": can_record,
        },
        status=422 if form.errors else 200,
    )


@role_required(PAIRING_ROLES)
def activity_detail(request: HttpRequest, pk: int) -> HttpResponse:
    activity = get_object_or_404(StationActivity.objects.select_related("community"), pk=pk)
    return render(
        request,
        "people/activity.html",
        {"activity": activity, "history": audit.history_of(activity)},
    )


# ---------------------------------------------------------------------------------------------
# Training


@role_required(SUPERVISORS)
def trainings(request: HttpRequest) -> HttpResponse:
    can_organise = effective_role(request.user) in ORGANISER_ROLES
    form = TrainingForm(request.POST or None)
    if request.method == "POST":
        if not can_organise:
            raise PermissionDenied(_("只有中心领导、值班长或管理员可以安排培训"))
        if form.is_valid():
            try:
                session = do_create_training(acting_user=request.user, **form.cleaned_data)
            except CaseError as exc:
                form.add_action_error(exc)
            else:
                messages.success(request, _("培训已安排"))
                return redirect("people:training", pk=session.pk)
    return render(
        request,
        "people/trainings.html",
        {
            "sessions": TrainingSession.objects.annotate(n=Count("attendees"))[:100],
            "form": form,
            "can_organise": can_organise,
        },
        status=422 if form.errors else 200,
    )


@role_required(SUPERVISORS)
def training_detail(request: HttpRequest, pk: int) -> HttpResponse:
    session = get_object_or_404(TrainingSession, pk=pk)
    can_organise = effective_role(request.user) in ORGANISER_ROLES
    form = AttendanceForm(
        request.POST or None,
        initial={"attendees": list(session.attendees.values_list("pk", flat=True))},
    )
    if request.method == "POST":
        if not can_organise:
            raise PermissionDenied(_("只有中心领导、值班长或管理员可以登记培训签到"))
        if form.is_valid():
            try:
                do_record_attendance(
                    session,
                    attendees=list(form.cleaned_data["attendees"]),
                    acting_user=request.user,
                )
            except CaseError as exc:
                form.add_action_error(exc)
            else:
                messages.success(request, _("签到已保存"))
                return redirect("people:training", pk=session.pk)
    attendees = sorted(session.attendees.all(), key=lambda u: natural_key(str(u), u.username))
    return render(
        request,
        "people/training.html",
        {
            "session": session,
            "attendees": attendees,
            "qualifications": session.qualifications.select_related("user"),
            "form": form,
            "can_organise": can_organise,
            "held": session.held_on <= timezone.localdate(),
            "history": audit.history_of(session),
        },
        status=422 if form.errors else 200,
    )


# ---------------------------------------------------------------------------------------------
# Publicity


def public_page(request: HttpRequest) -> HttpResponse:
    """No login. Governance results and the stations' activities; photos only through the
    stripped public copies, never who reported."""
    now = timezone.now()
    first = timezone.localdate().replace(day=1)
    start, _next = _day_bounds(first)
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
