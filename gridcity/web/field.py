"""Pages for the street: the grid manager's phone (report, tasks), the citizens' page, and the
case map. Thin: parse, call the actions, render; every action error lands next to its field."""

import math
import uuid

from django import forms
from django.conf import settings
from django.contrib import messages
from django.db.models import Avg, Count, F, Min, Q
from django.db.models.functions import Floor
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from gridcity.accounts.access import role_required
from gridcity.accounts.models import Department, Role
from gridcity.cases.actions import (
    ReportInput,
    TransitionInput,
    do_report_case,
    do_transition_case,
    haversine_m,
    orders_awaiting,
)
from gridcity.cases.models import (
    OPEN,
    AttachmentKind,
    Case,
    Channel,
    Status,
)
from gridcity.cases.presenters import ACTION_LABELS, traffic_light
from gridcity.cases.public import public_events, public_status_label, public_timeline
from gridcity.cases.reference import format_reference, normalize_reference
from gridcity.cases.scope import visible_to
from gridcity.grids.maps import map_settings
from gridcity.grids.models import Area
from gridcity.lib.clientip import client_ip
from gridcity.lib.errors import CaseError
from gridcity.lib.ratelimit import Verdict, hit, per_address
from gridcity.taxonomy.actions import get_calendar, resolve_category
from gridcity.taxonomy.models import Category

FIELD_ROLES = {Role.INSPECTOR, Role.ADMIN}
MAP_ROLES = {Role.INTAKE, Role.SHIFT_LEAD, Role.DISPATCHER, Role.LEADER, Role.ADMIN}
TASK_STATUSES = (Status.VERIFYING, Status.HANDLED)


def _float(value: str | None) -> float | None:
    try:
        v = float(value) if value not in (None, "") else None
    except ValueError:
        return None
    return v if v is not None and math.isfinite(v) else None


# ---------------------------------------------------------------------------------------------
# The grid manager's phone


@role_required(FIELD_ROLES)
def field_home(request: HttpRequest) -> HttpResponse:
    """My verify and check tasks, nearest first."""
    user = request.user
    lon, lat = _float(request.GET.get("lon")), _float(request.GET.get("lat"))
    origin_label = _("按您当前位置")
    if lon is None or lat is None:
        centre = Area.objects.filter(beats__manager=user).aggregate(
            lon=Avg("centroid_lon"), lat=Avg("centroid_lat")
        )
        lon, lat = centre["lon"], centre["lat"]
        origin_label = _("按责任网格中心")
    tasks = list(
        visible_to(user)
        .filter(assignee=user, status__in=TASK_STATUSES)
        .select_related("category", "cell")
        .defer("cell__geometry")
    )
    calendar = get_calendar()
    now = timezone.now()
    rows = []
    for case in tasks:
        distance = None
        if lon is not None and case.lon is not None:
            distance = haversine_m(lon, lat, case.lon, case.lat)
        rows.append(
            {
                "case": case,
                "kind": _("核实") if case.status == Status.VERIFYING else _("核查"),
                "distance": distance,
                "distance_text": _distance_text(distance),
                "light": traffic_light(case, now=now, calendar=calendar),
            }
        )
    rows.sort(key=lambda r: (r["distance"] is None, r["distance"] or 0, r["case"].step_deadline))
    # Supervision orders on a late verify or check step are the grid manager's to answer.
    orders = list(
        orders_awaiting(user)
        .select_related("case", "case__category", "created_by")
        .order_by("reply_deadline", "pk")
    )
    for o in orders:
        o.can_reply = True
    return render(
        request,
        "web/field/home.html",
        {
            "rows": rows,
            "orders": orders,
            "here": request.path,
            "origin_label": origin_label if lon is not None else "",
        },
    )


def _distance_text(metres: float | None) -> str:
    if metres is None:
        return ""
    if metres < 1000:
        return _("%(n)d 米") % {"n": round(metres)}
    return _("%(n).1f 公里") % {"n": metres / 1000}


@role_required(FIELD_ROLES)
def field_report(request: HttpRequest) -> HttpResponse:
    """The composer; it posts JSON to /api/cases itself and keeps unsent reports on the phone."""
    return render(request, "web/field/report.html", {"map": map_settings()})


class TaskForm(forms.Form):
    result = forms.ChoiceField(
        label=gettext_lazy("结果"),
        choices=[("yes", gettext_lazy("是")), ("no", gettext_lazy("否"))],
        error_messages={"required": gettext_lazy("请选择结果")},
    )
    note = forms.CharField(label=gettext_lazy("说明"), required=False, max_length=2000)


def _photos_from(request: HttpRequest, name: str = "photo") -> list[tuple[str, bytes]]:
    # Every file is passed on, so that too many is refused rather than cut short; the upload
    # handler has already replaced each one over a limit with a stand-in the check refuses.
    return [(f.name, f.read()) for f in request.FILES.getlist(name)]


# Where an action's error goes on a form: its field name there, or the top of the form.
_FIELD_OF_ERROR = {"verified": "result", "note": "note"}


def _add_case_error(form: forms.Form, exc: CaseError, mapping: dict[str, str]) -> None:
    field = exc.field or ""
    if field.startswith("photos"):
        field = "photo"
    field = mapping.get(field, field)
    if field in form.fields:
        form.add_error(field, exc.message)
    else:
        form.add_error(None, exc.message)


@role_required(FIELD_ROLES)
def field_task(request: HttpRequest, number: str) -> HttpResponse:
    case = (
        visible_to(request.user)
        .select_related("category", "cell", "department")
        .defer("cell__geometry")
        .filter(number=number)
        .first()
    )
    if case is None:
        raise Http404(_("案件不存在或无权查看"))
    is_verify = case.status == Status.VERIFYING
    is_check = case.status == Status.HANDLED
    form = TaskForm(request.POST or None)
    photo_error = ""
    if request.method == "POST" and (is_verify or is_check) and form.is_valid():
        yes = form.cleaned_data["result"] == "yes"
        if is_verify:
            action = "verify"
            data = TransitionInput(note=form.cleaned_data["note"], verified=yes)
        else:
            action = "check_pass" if yes else "check_fail"
            data = TransitionInput(note=form.cleaned_data["note"])
        data.photos = _photos_from(request)
        try:
            do_transition_case(case, action, acting_user=request.user, data=data)
        except CaseError as exc:
            if (exc.field or "").startswith("photos"):
                photo_error = exc.message
            else:
                _add_case_error(form, exc, _FIELD_OF_ERROR)
        else:
            messages.success(
                request,
                _("案件 %(number)s 已提交：%(label)s")
                % {"number": case.number, "label": _(ACTION_LABELS.get(action, action))},
            )
            return redirect("web:field_home")
    photos = list(
        case.attachments.filter(kind__in=[AttachmentKind.REPORT, AttachmentKind.AFTER]).order_by(
            "pk"
        )
    )
    return render(
        request,
        "web/field/task.html",
        {
            "case": case,
            "form": form,
            "is_verify": is_verify,
            "is_check": is_check,
            "photo_error": photo_error,
            "report_photos": [p for p in photos if p.kind == AttachmentKind.REPORT],
            "after_photos": [p for p in photos if p.kind == AttachmentKind.AFTER],
            "light": traffic_light(case),
            "map": map_settings(),
        },
        status=422 if request.method == "POST" else 200,
    )


# ---------------------------------------------------------------------------------------------
# The citizens' page


def category_choices(kinds: tuple[str, ...] = ("matter",)) -> list[tuple[str, list]]:
    """Categories grouped by class, for a <select> with <optgroup>s."""
    groups: dict[str, list] = {}
    for c in Category.objects.filter(is_active=True, kind__in=kinds).order_by("code"):
        groups.setdefault(f"{c.major_code} {c.major_name}", []).append(
            (c.key, f"{c.code} {c.name}")
        )
    return list(groups.items())


class PublicReportForm(forms.Form):
    category = forms.CharField(
        label=gettext_lazy("问题类别"),
        error_messages={"required": gettext_lazy("请选择问题类别")},
    )
    lon = forms.FloatField(required=False, widget=forms.HiddenInput)
    lat = forms.FloatField(required=False, widget=forms.HiddenInput)
    address = forms.CharField(label=gettext_lazy("地址或地标"), required=False, max_length=300)
    description = forms.CharField(
        label=gettext_lazy("问题描述"),
        max_length=1000,
        error_messages={"required": gettext_lazy("请简要描述问题")},
    )
    reporter_name = forms.CharField(label=gettext_lazy("姓名"), required=False, max_length=50)
    reporter_phone = forms.RegexField(
        label=gettext_lazy("手机号"),
        required=False,
        regex=r"^[0-9+\- ]{5,20}$",
        error_messages={"invalid": gettext_lazy("请填写有效的电话号码")},
    )
    key = forms.CharField(widget=forms.HiddenInput, required=False, max_length=100)

    def clean_category(self) -> Category:
        category = resolve_category(self.cleaned_data["category"])
        if category is None:
            raise forms.ValidationError(_("请选择问题类别"))
        return category

    def clean(self):
        data = super().clean()
        if data.get("lon") is None and not (data.get("address") or "").strip():
            self.add_error("address", _("请在地图上点选位置，或填写地址"))
        return data


# Anonymous citizens, per client address: (requests, seconds), sliding;
# GRIDCITY_PUBLIC_RATE_LIMITS overrides.
PUBLIC_RATE_LIMITS = {"report_per_ip": (5, 600), "lookup_per_ip": (30, 600)}


def _public_limit(request: HttpRequest, bucket: str) -> tuple[Verdict, tuple[int, int]]:
    limits = {**PUBLIC_RATE_LIMITS, **getattr(settings, "GRIDCITY_PUBLIC_RATE_LIMITS", {})}
    rate = limits[bucket]
    return hit(f"public:{bucket}", per_address(client_ip(request)), rate), rate


def _limit_figures(verdict: Verdict, rate: tuple[int, int]) -> dict[str, int]:
    return {
        "count": rate[0],
        "minutes": max(1, math.ceil(rate[1] / 60)),
        "wait": max(1, math.ceil(verdict.retry_after / 60)),
    }


def public_home(request: HttpRequest) -> HttpResponse:
    form = PublicReportForm(request.POST or None, initial={"key": uuid.uuid4().hex})
    photo_error = ""
    limited = None
    if request.method == "POST" and form.is_valid():
        verdict, rate = _public_limit(request, "report_per_ip")
        if not verdict.allowed:
            limited = verdict
            form.add_error(
                None,
                _(
                    "提交过于频繁：同一网络 %(minutes)s 分钟内最多可上报 %(count)s 件问题。"
                    "请约 %(wait)s 分钟后再提交；紧急情况请拨打 110 / 119 / 120。"
                )
                % _limit_figures(verdict, rate),
            )
        else:
            d = form.cleaned_data
            inp = ReportInput(
                category=d["category"],
                channel=Channel.CITIZEN,
                lon=d["lon"],
                lat=d["lat"] if d["lon"] is not None else None,
                address=d["address"],
                description=d["description"],
                reporter_name=d["reporter_name"],
                reporter_phone=d["reporter_phone"],
                photos=_photos_from(request),
            )
            try:
                result = do_report_case(inp, acting_user=None, idempotency_key=d["key"] or None)
            except CaseError as exc:
                if (exc.field or "").startswith("photos"):
                    photo_error = exc.message
                else:
                    _add_case_error(form, exc, {"lon": "address", "lat": "address"})
            else:
                ref = result.case.public_reference
                return redirect(f"{reverse('web:public_lookup')}?ref={ref}&new=1")
    response = render(
        request,
        "web/public/home.html",
        {
            "form": form,
            "groups": category_choices(),
            "selected": request.POST.get("category", ""),
            "photo_error": photo_error,
            "map": map_settings(),
        },
        status=429 if limited else 422 if request.method == "POST" else 200,
    )
    if limited:
        response["Retry-After"] = str(limited.retry_after)
    return response


def public_lookup(request: HttpRequest) -> HttpResponse:
    """By the case's public reference only: the internal number is a sequence anyone could
    count through. A link or bookmark from before still sends `number=`: it is read as what the
    citizen typed and answered like any reference that is not found."""
    typed = (request.GET.get("ref") or request.GET.get("number") or "").strip()[:40]
    case = None
    error = ""
    limited = None
    if typed:
        verdict, rate = _public_limit(request, "lookup_per_ip")
        if not verdict.allowed:
            limited = verdict
            error = _(
                "查询过于频繁：同一网络 %(minutes)s 分钟内最多可查询 %(count)s 次。"
                "请约 %(wait)s 分钟后再试。"
            ) % _limit_figures(verdict, rate)
        else:
            ref = normalize_reference(typed)
            if ref:
                case = Case.objects.select_related("category").filter(public_reference=ref).first()
            if case is None:
                error = _(
                    "未找到该查询码对应的案件。请核对提交成功时得到的 10 位查询码"
                    "（案件编号不能用于查询）。"
                )
    context = {"ref": typed, "error": error, "case": case, "new": bool(request.GET.get("new"))}
    if case is not None:
        context["reference"] = format_reference(case.public_reference)
        # What the public may learn: a label and a time per step, nothing about people.
        events = public_events(case.events.only("action", "at"))
        context["timeline"] = public_timeline(events)
        context["status_label"] = public_status_label(case.status)
        # Only the stripped copies, and only of the report and the fix.
        context["photos"] = [
            a.public_file.url
            for a in case.attachments.filter(
                kind__in=[AttachmentKind.REPORT, AttachmentKind.AFTER]
            ).only("public_file", "kind")
            if a.public_file
        ]
    response = render(request, "web/public/lookup.html", context, status=429 if limited else 200)
    if limited:
        response["Retry-After"] = str(limited.retry_after)
    return response


# ---------------------------------------------------------------------------------------------
# The case map

CLUSTER_MAX_ZOOM = 17  # from this zoom on, every case is its own point
CLUSTER_PX = 64  # bucket size on screen
POINT_LIMIT = 3000


class MapFilter(forms.Form):
    status = forms.ChoiceField(
        label=gettext_lazy("状态"),
        required=False,
        choices=[
            ("open", gettext_lazy("未结案")),
            ("closed", gettext_lazy("已结案")),
            ("all", gettext_lazy("全部")),
        ],
    )
    category = forms.CharField(label=gettext_lazy("类别"), required=False)
    department = forms.CharField(label=gettext_lazy("部门"), required=False)
    overdue = forms.BooleanField(label=gettext_lazy("仅超期"), required=False)
    rework = forms.BooleanField(label=gettext_lazy("有返工"), required=False)
    reported_from = forms.DateField(required=False)
    reported_to = forms.DateField(required=False)
    filed_from = forms.DateField(required=False)
    dispatched_from = forms.DateField(required=False)
    closed_from = forms.DateField(required=False)
    area = forms.CharField(required=False, max_length=32)


def _day_start(d):
    from datetime import datetime, time

    return datetime.combine(d, time.min, timezone.get_current_timezone())


def filter_map_cases(qs, f: dict):
    from datetime import timedelta

    status = f.get("status") or "open"
    if status == "open":
        qs = qs.filter(status__in=OPEN)
    elif status == "closed":
        qs = qs.filter(status=Status.CLOSED)
    if f.get("category"):
        category = resolve_category(f["category"])
        qs = qs.filter(category=category) if category else qs.none()
    if f.get("department"):
        qs = qs.filter(department__code=f["department"])
    if f.get("overdue"):
        qs = qs.filter(status__in=OPEN, step_deadline__lt=timezone.now())
    if f.get("rework"):
        qs = qs.filter(rework_count__gt=0)
    if f.get("reported_from"):
        qs = qs.filter(reported_at__gte=_day_start(f["reported_from"]))
    if f.get("reported_to"):
        qs = qs.filter(reported_at__lt=_day_start(f["reported_to"] + timedelta(days=1)))
    for stamp in ("filed", "dispatched", "closed"):
        if f.get(f"{stamp}_from"):
            qs = qs.filter(**{f"{stamp}_at__gte": _day_start(f[f"{stamp}_from"])})
    if f.get("area"):
        area = Area.objects.filter(code=f["area"]).only("path").first()
        qs = qs.filter(area_path__startswith=area.path) if area else qs.none()
    return qs


@role_required(MAP_ROLES)
def case_map(request: HttpRequest) -> HttpResponse:
    form = MapFilter(request.GET or {"status": "open"})
    form.is_valid()
    return render(
        request,
        "web/map/map.html",
        {
            "form": form,
            "groups": category_choices(("matter", "component")),
            "departments": Department.objects.filter(is_active=True).order_by("code"),
            "map": map_settings(),
        },
    )


@role_required(MAP_ROLES)
def map_cases_json(request: HttpRequest) -> JsonResponse:
    """Cases in the bbox: counts per screen-grid bucket below CLUSTER_MAX_ZOOM, points above.

    The buckets are computed by the database (floor of the offset over the bucket size), so
    10,000 cases cost one GROUP BY, not 10,000 markers."""
    form = MapFilter(request.GET)
    if not form.is_valid():
        return JsonResponse(
            {"error": _("筛选条件无效"), "fields": form.errors.get_json_data()}, status=400
        )
    bbox = [_float(x) for x in (request.GET.get("bbox") or "").split(",")]
    if len(bbox) != 4 or None in bbox or bbox[0] >= bbox[2] or bbox[1] >= bbox[3]:
        return JsonResponse(
            {"error": _("bbox 应为 minlon,minlat,maxlon,maxlat"), "field": "bbox"}, status=400
        )
    try:
        zoom = max(0, min(22, int(request.GET.get("zoom", "12"))))
    except ValueError:
        return JsonResponse({"error": _("zoom 应为整数"), "field": "zoom"}, status=400)
    a, b, c, d = bbox
    qs = filter_map_cases(visible_to(request.user), form.cleaned_data).filter(
        lon__gte=a, lon__lte=c, lat__gte=b, lat__lte=d
    )
    if zoom >= CLUSTER_MAX_ZOOM:
        rows = list(
            qs.order_by("-reported_at").values(
                "number", "lon", "lat", "status", "step_deadline", "category__name"
            )[: POINT_LIMIT + 1]
        )
        now = timezone.now()
        points = [
            {
                "number": r["number"],
                "lon": r["lon"],
                "lat": r["lat"],
                "status": r["status"],
                "status_label": str(Status(r["status"]).label),
                "category": r["category__name"],
                "overdue": bool(
                    r["status"] in OPEN and r["step_deadline"] and r["step_deadline"] < now
                ),
            }
            for r in rows[:POINT_LIMIT]
        ]
        return JsonResponse(
            {"mode": "points", "points": points, "truncated": len(rows) > POINT_LIMIT}
        )
    # Degrees per screen pixel in Web Mercator; a latitude degree is longer on screen by
    # 1/cos(lat), so its bucket is shorter.
    size_lon = CLUSTER_PX * 360.0 / (256 * 2**zoom)
    # The grid is anchored at 0,0 (not at the bbox) so that panning does not move buckets.
    size_lat = size_lon * math.cos(math.radians(round((b + d) / 2)))
    buckets = (
        qs.order_by()
        .annotate(
            ix=Floor(F("lon") / size_lon),
            iy=Floor(F("lat") / size_lat),
        )
        .values("ix", "iy")
        .annotate(
            n=Count("pk"),
            clon=Avg("lon"),
            clat=Avg("lat"),
            first=Min("number"),
            overdue=Count("pk", filter=Q(status__in=OPEN, step_deadline__lt=timezone.now())),
        )
    )
    clusters = [
        {
            "lon": r["clon"],
            "lat": r["clat"],
            "n": r["n"],
            "overdue": r["overdue"],
            "number": r["first"] if r["n"] == 1 else None,
        }
        for r in buckets
    ]
    return JsonResponse(
        {"mode": "clusters", "clusters": clusters, "total": sum(x["n"] for x in clusters)}
    )
