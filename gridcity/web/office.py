"""The office pages: supervision centre, command centre, department desk and the case page.

Views stay thin: they read through `visible_to`, offer only `available_transitions`, and write
through the case actions. An action's refusal (a CaseError) is shown next to the field it
names, never as a server error."""

from collections.abc import Callable
from datetime import datetime
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, F, Prefetch, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from gridcity.accounts.models import Role
from gridcity.cases import actions
from gridcity.cases.actions import available_transitions, effective_role
from gridcity.cases.models import (
    AT_DEPARTMENT,
    OPEN,
    Case,
    CaseEvent,
    Report,
    Status,
    SupervisionKind,
    SupervisionOrder,
)
from gridcity.cases.presenters import ACTION_LABELS, traffic_light
from gridcity.cases.reference import format_reference
from gridcity.cases.scope import visible_to
from gridcity.cases.workflow import BY_ACTION, STEP_LABELS, allowed_actions
from gridcity.grids.actions import beat_manager_for_cell, cells_in_bbox
from gridcity.grids.models import Area, AreaLevel
from gridcity.lib.errors import CaseError
from gridcity.lib.workcalendar import Clock, format_time_limit
from gridcity.taxonomy.actions import get_calendar
from gridcity.taxonomy.models import Category
from gridcity.web.office_forms import (
    FormErrors,
    HotlineForm,
    dispatchable_departments,
    grid_managers,
    transition_input,
)

INTAKE_ROLES = (Role.INTAKE, Role.SHIFT_LEAD, Role.ADMIN)
DISPATCH_ROLES = (Role.DISPATCHER, Role.SHIFT_LEAD, Role.ADMIN)
OVERSIGHT_ROLES = (Role.DISPATCHER, Role.SHIFT_LEAD, Role.LEADER, Role.ADMIN)
ORDER_ROLES = (Role.INTAKE, Role.DISPATCHER, Role.SHIFT_LEAD, Role.LEADER, Role.ADMIN)
DESK_ROLES = (Role.HANDLER, Role.DEPT_LEAD)
SUPERVISE_ROLES = (Role.LEADER, Role.DISPATCHER, Role.SHIFT_LEAD, Role.ADMIN)
LIGHT_ORDER = {"red": 0, "yellow": 1, "green": 2, None: 3}


def roles_required(*roles: str) -> Callable:
    """Logged-in users of other roles get a 403 page that links to their own home."""

    def decorator(view: Callable) -> Callable:
        @login_required
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if effective_role(request.user) not in roles:
                return render(request, "web/office/forbidden.html", status=403)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def _list_qs(user) -> QuerySet:
    return visible_to(user).select_related(
        "category", "cell", "department", "suggested_department", "assignee"
    )


def _safe_next(request: HttpRequest, fallback: str) -> str:
    nxt = request.POST.get("next") or request.GET.get("next") or ""
    if nxt and url_has_allowed_host_and_scheme(nxt, {request.get_host()}):
        return nxt
    return fallback


# ---------------------------------------------------------------------------------------------
# Deadlines shown on every list


def remaining_text(case: Case, now: datetime, calendar) -> str:
    """ "剩余 1.5工作时" on the step's own clock, or how long ago the deadline passed."""
    if not case.step_deadline:
        return ""
    if now > case.step_deadline:
        minutes = max(1, int((now - case.step_deadline).total_seconds() // 60))
        days, rest = divmod(minutes, 24 * 60)
        hours, mins = divmod(rest, 60)
        if days:
            span = _("%(d)d天%(h)d小时") % {"d": days, "h": hours}
        elif hours:
            span = _("%(h)d小时%(m)d分") % {"h": hours, "m": mins}
        else:
            span = _("%(m)d分钟") % {"m": mins}
        return _("已超期 %(span)s") % {"span": span}
    if not case.step_clock:
        return ""
    clock = Clock(case.step_clock)
    left = calendar.elapsed(now, case.step_deadline, clock)
    if clock in (Clock.URGENT_HOURS, Clock.WORK_HOURS) and left < 1:
        return _("剩余 %(m)d分钟") % {"m": max(1, round(left * 60))}
    return _("剩余 %(t)s") % {"t": format_time_limit(round(left, 1) or 0.1, clock)}


def _with_deadlines(cases, now=None, calendar=None) -> list[dict]:
    now = now or timezone.now()
    calendar = calendar or get_calendar()
    rows = []
    for c in cases:
        light = traffic_light(c, now=now, calendar=calendar)
        rows.append({"case": c, "light": light, "remaining": remaining_text(c, now, calendar)})
    return rows


def late_now(now: datetime) -> Q:
    """The cases whose light is red at `now`: a step with a clock whose deadline has passed
    (`traffic_light` says red exactly then), as a query the database counts and pages."""
    return Q(step_deadline__lt=now, step_started_at__isnull=False) & ~Q(step_clock="")


def soonest_first(qs: QuerySet) -> QuerySet:
    """Nearest deadline first (the most overdue at the top), cases without one last on every
    database."""
    return qs.order_by(F("step_deadline").asc(nulls_last=True), "pk")


def pager(request: HttpRequest, items, per_page: int, param: str = "page") -> dict:
    """One page of `items` and the addresses of its neighbours, every other filter kept."""
    page = Paginator(items, per_page).get_page(request.GET.get(param))

    def link(number: int) -> str:
        query = request.GET.copy()
        query[param] = str(number)
        return "?" + query.urlencode()

    return {
        "page": page,
        "items": list(page.object_list),
        "count": page.paginator.count,
        "previous": link(page.previous_page_number()) if page.has_previous() else "",
        "next": link(page.next_page_number()) if page.has_next() else "",
    }


# ---------------------------------------------------------------------------------------------
# The case page


def _map_data(case: Case, pick: bool) -> dict:
    features = []
    if case.cell_id:
        cell = case.cell
        dlon = (cell.max_lon - cell.min_lon) / 2
        dlat = (cell.max_lat - cell.min_lat) / 2
        near = cells_in_bbox(
            cell.min_lon - dlon, cell.min_lat - dlat, cell.max_lon + dlon, cell.max_lat + dlat
        ).only("pk", "code", "name", "geometry")
        for a in near:
            features.append(_feature(a, own=a.pk == cell.pk))
    else:
        for a in Area.objects.filter(level=AreaLevel.STREET).only("pk", "code", "name", "geometry"):
            features.append(_feature(a))
    # A point flagged as no real position ((0,0), outside the city) is not drawn.
    placed = case.lat is not None and case.lon is not None and not case.position_problem
    point = [case.lat, case.lon] if placed else None
    return {
        "features": features,
        "point": point,
        "tiles": settings.GRIDCITY_TILE_URL,
        "pick": pick,
    }


def _feature(area: Area, own: bool = False) -> dict:
    return {
        "type": "Feature",
        "properties": {"code": area.code, "name": area.name, "own": own},
        "geometry": area.geometry,
    }


def _role_label(value: str) -> str:
    return str(Role(value).label) if value in Role.values else ""


def format_used(amount: float, clock: Clock) -> str:
    """Time used on a step, in words a clerk reads at a glance: "12分钟", "1.5工作时"."""
    amount = max(amount, 0.0)
    if clock in (Clock.URGENT_HOURS, Clock.WORK_HOURS) and amount < 1:
        minutes = round(amount * 60)
        return _("不足1分钟") if minutes < 1 else _("%(m)d分钟") % {"m": minutes}
    return format_time_limit(round(amount, 1) or 0.1, clock)


def _timeline(case: Case) -> list[dict]:
    events = (
        CaseEvent.objects.filter(case=case)
        .select_related("actor", "actor_department", "department")
        .order_by("at", "pk")
    )
    rows = []
    for e in events:
        used = limit = ""
        if e.step_elapsed is not None and e.step_clock:
            used = format_used(e.step_elapsed, Clock(e.step_clock))
            if e.step_amount:
                limit = format_time_limit(e.step_amount, Clock(e.step_clock))
        rows.append(
            {
                "event": e,
                "label": ACTION_LABELS.get(e.action, e.action),
                "actor": str(e.actor) if e.actor_id else _("系统"),
                "role": role if (role := _role_label(e.actor_role)) != str(e.actor or "") else "",
                "department": e.actor_department.name if e.actor_department_id else "",
                "from": Status(e.from_status).label if e.from_status in Status.values else "",
                "to": Status(e.to_status).label if e.to_status in Status.values else "",
                "step": STEP_LABELS.get(e.step, ""),
                "used": used,
                "limit": limit,
            }
        )
    return rows


PHOTO_ACTIONS = {"report_back", "verify", "check_pass", "check_fail"}


def is_one_click(t) -> bool:
    """A move that takes no input at all is a plain button."""
    return not t.needs and not t.note_required and t.action not in PHOTO_ACTIONS


def _case_context(request: HttpRequest, case: Case, errors: FormErrors | None = None) -> dict:
    user = request.user
    role = effective_role(user)
    transitions = available_transitions(case, user)
    needs = {n for t in transitions for n in t.needs}
    options = {
        "departments": list(dispatchable_departments()) if "department" in needs else [],
        "conditions": list(case.category.conditions.all()) if "filing_condition" in needs else [],
        "managers": list(grid_managers()) if "assignee" in needs else [],
        "default_manager": beat_manager_for_cell(case.cell_id) if "assignee" in needs else None,
    }
    action_forms = [
        {
            "t": t,
            "err": errors if errors and errors.form == t.action else None,
            "simple": is_one_click(t),
        }
        for t in transitions
    ]
    # An error of a form that is not on the page (a move no longer offered, a forced POST)
    # is shown above the actions.
    orphan_error = ""
    if errors and errors.form not in {t.action for t in transitions} | {"supervise"}:
        orphan_error = errors.general or next(iter(errors.fields.values()), "")
    attachments = list(case.attachments.select_related("event").order_by("pk"))
    duplicates = list(case.reports.filter(is_duplicate=True).order_by("pk"))
    calendar = get_calendar()
    return {
        "case": case,
        "light": traffic_light(case, calendar=calendar),
        "remaining": remaining_text(case, timezone.now(), calendar),
        "explanation": (case.dispatch_explanation or {}).get("reason", ""),
        "action_forms": action_forms,
        "orphan_error": orphan_error,
        "options": options,
        "errors": errors,
        "timeline": _timeline(case),
        "attachments": attachments,
        "duplicates": duplicates,
        "can_unlink": role in INTAKE_ROLES,
        "can_supervise": role in SUPERVISE_ROLES and case.status in OPEN,
        "orders": _with_reply_rights(
            case.supervision_orders.select_related(
                "created_by", "replied_by", "department", "addressee"
            ),
            user,
        ),
        "map_data": _map_data(case, pick=any(t.action == "locate" for t in transitions)),
        "area_names": _area_names(case),
        "supervision_kinds": [
            (k, label) for k, label in SupervisionKind.choices if k != SupervisionKind.OVERDUE
        ],
    }


def _area_names(case: Case) -> str:
    codes = [c for c in case.area_path.strip("/").split("/") if c]
    if not codes:
        return ""
    names = dict(Area.objects.filter(code__in=codes).values_list("code", "name"))
    return " › ".join(names.get(c, c) for c in codes)


def _get_case(request: HttpRequest, number: str, *, lock_free: bool = True) -> Case:
    qs = visible_to(request.user).select_related(
        "category",
        "filing_condition",
        "cell",
        "department",
        "suggested_department",
        "assignee",
        "reporter",
        "merged_into",
    )
    return get_object_or_404(qs, number=number)


@login_required
def case_detail(request: HttpRequest, number: str) -> HttpResponse:
    case = _get_case(request, number)
    return render(request, "web/office/case_detail.html", _case_context(request, case))


def _render_error(request: HttpRequest, number: str, errors: FormErrors, status: int):
    try:
        case = _get_case(request, number)
    except Http404:
        messages.error(request, errors.general or next(iter(errors.fields.values()), ""))
        return redirect(_safe_next(request, reverse("web:home")))
    # A refused action shows the page as it is now, with the form reopened and its error.
    return render(
        request, "web/office/case_detail.html", _case_context(request, case, errors), status=status
    )


@login_required
@require_POST
def case_action(request: HttpRequest, number: str, action: str) -> HttpResponse:
    case = _get_case(request, number)
    t = BY_ACTION.get(action)
    if t is None:
        raise Http404
    values = {k: v for k, v in request.POST.items() if k != "csrfmiddlewaretoken"}
    try:
        data = transition_input(t, case, request.POST, request.FILES, request.user)
        actions.do_transition_case(case, action, acting_user=request.user, data=data)
    except CaseError as exc:
        return _render_error(
            request, number, FormErrors.from_error(action, exc, values), exc.status_code
        )
    messages.success(
        request, _("已完成：%(label)s（案件 %(n)s）") % {"label": _(t.label), "n": number}
    )
    return redirect(_safe_next(request, reverse("web:case_detail", args=[number])))


@login_required
@require_POST
def case_supervise(request: HttpRequest, number: str) -> HttpResponse:
    case = _get_case(request, number)
    values = {"note": request.POST.get("note", ""), "kind": request.POST.get("kind", "")}
    try:
        order = actions.do_create_supervision(
            case,
            acting_user=request.user,
            kind=request.POST.get("kind") or SupervisionKind.LEADER,
            note=request.POST.get("note", ""),
        )
    except CaseError as exc:
        return _render_error(
            request, number, FormErrors.from_error("supervise", exc, values), exc.status_code
        )
    messages.success(request, _("已下发督办单 %(n)s") % {"n": order.number})
    return redirect(_safe_next(request, reverse("web:case_detail", args=[number])))


@login_required
@require_POST
def report_unlink(request: HttpRequest, number: str, report_id: int) -> HttpResponse:
    case = _get_case(request, number)
    if not case.reports.filter(pk=report_id).exists():
        raise Http404
    try:
        new_case = actions.do_unlink_report(report_id, acting_user=request.user)
    except CaseError as exc:
        return _render_error(request, number, FormErrors.from_error("unlink", exc), exc.status_code)
    messages.success(request, _("已取消关联，另立案件 %(n)s") % {"n": new_case.number})
    return redirect("web:case_detail", number=number)


@login_required
@require_POST
def supervision_reply(request: HttpRequest, order_id: int) -> HttpResponse:
    order = get_object_or_404(
        SupervisionOrder.objects.select_related("case"),
        pk=order_id,
        case__in=visible_to(request.user),
    )
    try:
        actions.do_reply_supervision(
            order, acting_user=request.user, reply=request.POST.get("reply", "")
        )
    except CaseError as exc:
        messages.error(request, exc.message)
        return redirect(_safe_next(request, reverse("web:case_detail", args=[order.case.number])))
    messages.success(request, _("已答复督办单 %(n)s") % {"n": order.number})
    return redirect(_safe_next(request, reverse("web:case_detail", args=[order.case.number])))


# ---------------------------------------------------------------------------------------------
# Supervision centre (受理员 / 值班长)


@roles_required(*INTAKE_ROLES)
def supervision_centre(request: HttpRequest) -> HttpResponse:
    qs = _list_qs(request.user)
    wanted = [Status.REPORTED, Status.VERIFYING, Status.HANDLED, Status.CHECKED]
    cases = list(qs.filter(status__in=wanted).order_by("step_deadline", "pk"))
    rows = _with_deadlines(cases)
    queues = []
    for status, title, hint in (
        (Status.REPORTED, _("受理队列（待立案）"), _("核实、立案、作废或合并")),
        (Status.VERIFYING, _("核实任务（已派发网格员）"), _("等待网格员现场核实")),
        (Status.HANDLED, _("已处置待核查"), _("等待网格员现场核查")),
        (Status.CHECKED, _("核查通过待结案"), _("值班长结案")),
    ):
        items = [r for r in rows if r["case"].status == status]
        queues.append({"status": status, "title": title, "hint": hint, "rows": items})
    unlocated = visible_to(request.user).filter(status=Status.UNLOCATED).count()
    return render(
        request,
        "web/office/supervision_centre.html",
        {"queues": queues, "unlocated": unlocated},
    )


@roles_required(*INTAKE_ROLES)
def hotline_new(request: HttpRequest) -> HttpResponse:
    form = HotlineForm(request.POST or None)
    general = ""
    if request.method == "POST" and form.is_valid():
        try:
            result = actions.do_report_case(form.report_input(), acting_user=request.user)
        except CaseError as exc:
            name = (exc.field or "").split("[", 1)[0]
            if name in form.fields:
                form.add_error(name, exc.message)
            else:
                general = exc.message
        else:
            case = result.case
            # The caller is told the reference: it is what /public/lookup/ asks for.
            said = {"n": case.number, "ref": format_reference(case.public_reference)}
            if result.linked_to_existing:
                messages.info(
                    request, _("与已有案件重复，已并入案件 %(n)s；市民查询码 %(ref)s") % said
                )
            else:
                messages.success(request, _("已登记热线案件 %(n)s；市民查询码 %(ref)s") % said)
            return redirect("web:case_detail", number=case.number)
    categories = Category.objects.filter(is_active=True).order_by("-kind", "major_code", "code")
    groups: dict[str, list] = {}
    for c in categories:
        groups.setdefault(f"{c.get_kind_display()} · {c.major_code} {c.major_name}", []).append(c)
    map_data = {
        "features": [
            _feature(a)
            for a in Area.objects.filter(level=AreaLevel.STREET).only(
                "pk", "code", "name", "geometry"
            )
        ],
        "point": None,
        "tiles": settings.GRIDCITY_TILE_URL,
        "pick": True,
    }
    return render(
        request,
        "web/office/hotline_new.html",
        {
            "form": form,
            "groups": groups,
            "general": general,
            "map_data": map_data,
            "selected_area": form["area"].value(),
        },
    )


@roles_required(*INTAKE_ROLES)
def area_search(request: HttpRequest) -> HttpResponse:
    """Streets and communities whose name contains the query: <option>s for the hotline form."""
    q = request.GET.get("q", "").strip()
    areas = Area.objects.filter(
        level__in=[AreaLevel.STREET, AreaLevel.COMMUNITY], is_active=True
    ).select_related("parent")
    if q:
        areas = areas.filter(Q(name__icontains=q) | Q(code__startswith=q))
    return render(
        request,
        "web/office/_area_options.html",
        {
            "areas": areas.order_by("path")[:30],
            "q": q,
            "selected": request.GET.get("selected", ""),
        },
    )


@roles_required(*INTAKE_ROLES)
def triage(request: HttpRequest) -> HttpResponse:
    cases = list(
        visible_to(request.user)
        .filter(status=Status.UNLOCATED)
        .select_related("category")
        .prefetch_related(Prefetch("reports", queryset=Report.objects.order_by("pk")))
        .order_by("reported_at", "pk")
    )
    map_data = {
        "features": [
            _feature(a)
            for a in Area.objects.filter(level=AreaLevel.COMMUNITY).only(
                "pk", "code", "name", "geometry"
            )
        ],
        "point": None,
        "tiles": settings.GRIDCITY_TILE_URL,
        "pick": True,
    }
    return render(request, "web/office/triage.html", {"cases": cases, "map_data": map_data})


# ---------------------------------------------------------------------------------------------
# Command centre (派遣员)

APPROVAL_STATUSES = [Status.EXTENSION_REQUESTED, Status.HOLD_REQUESTED, Status.RETURNED]
REQUEST_ACTIONS = ["request_extension", "request_hold", "return"]


@roles_required(*DISPATCH_ROLES)
def command_centre(request: HttpRequest) -> HttpResponse:
    role = effective_role(request.user)
    requests_prefetch = Prefetch(
        "events",
        queryset=CaseEvent.objects.filter(action__in=REQUEST_ACTIONS)
        .select_related("actor", "actor_department")
        .order_by("-at", "-pk"),
        to_attr="requests",
    )
    cases = list(
        _list_qs(request.user)
        .filter(status__in=[Status.FILED, Status.RETURNED, *APPROVAL_STATUSES])
        .prefetch_related(requests_prefetch)
        .order_by("step_deadline", "pk")
    )
    rows = _with_deadlines(cases)
    for r in rows:
        c = r["case"]
        r["request"] = c.requests[0] if c.requests else None
        ext = (r["request"].data or {}).get("extension") if r["request"] else None
        r["extension"] = format_time_limit(ext["amount"], Clock(ext["clock"])) if ext else ""
        # Visibility already restricts to the user's jurisdiction, so the role's moves from
        # the status are exactly what available_transitions would offer, without a query.
        r["actions"] = [t for t in allowed_actions(c.status, role) if t.action != "dispatch"]
        r["can_dispatch"] = any(t.action == "dispatch" for t in allowed_actions(c.status, role))
    board = [r for r in rows if r["case"].status in (Status.FILED, Status.RETURNED)]
    approvals = [r for r in rows if r["case"].status in APPROVAL_STATUSES]
    return render(
        request,
        "web/office/command_centre.html",
        {
            "board": board,
            "approvals": approvals,
            "departments": list(dispatchable_departments()),
            "here": request.get_full_path(),
        },
    )


BOARD_VIEWS = {"late": "red", "soon": "yellow"}
BOARD_PAGE = 25


def lights_of(qs: QuerySet, now: datetime, calendar) -> tuple[dict[str, int], list[int]]:
    """How many of `qs` are red, yellow and green at `now`, and the yellow ones' ids. Red is
    counted by the database; only the cases still in time are run through the calendar."""
    red = qs.filter(late_now(now)).count()
    counts = {"red": red, "yellow": 0, "green": 0}
    yellow = []
    in_time = (
        qs.exclude(late_now(now))
        .filter(step_deadline__isnull=False, step_started_at__isnull=False)
        .exclude(step_clock="")
        .values_list("pk", "step_started_at", "step_deadline", "step_clock")
    )
    for pk, started, deadline, clock in in_time:
        light, _used = calendar.traffic_light(started, deadline, now, Clock(clock))
        counts[light] += 1
        if light == "yellow":
            yellow.append(pk)
    return counts, yellow


@roles_required(*OVERSIGHT_ROLES)
def overdue_board(request: HttpRequest) -> HttpResponse:
    """What is still late (红灯), most overdue first; 黄灯 (about to be late) on its own tab,
    soonest first; a page at a time. A case whose late step has been done leaves the board,
    and its orders are settled."""
    show = request.GET.get("show", "late")
    if show not in BOARD_VIEWS:
        show = "late"
    now = timezone.now()
    calendar = get_calendar()
    on_board = _list_qs(request.user).filter(status__in=OPEN, step_deadline__isnull=False)
    counts, yellow = lights_of(on_board, now, calendar)
    shown = on_board.filter(late_now(now)) if show == "late" else on_board.filter(pk__in=yellow)
    standing = Q(supervision_orders__settled_at=None, supervision_orders__replied_at=None)
    listing = pager(
        request,
        soonest_first(shown.annotate(open_orders=Count("supervision_orders", filter=standing))),
        BOARD_PAGE,
    )
    context = {
        "rows": _with_deadlines(listing["items"], now, calendar),
        "pages": listing,
        "show": show,
        "counts": counts,
        "can_supervise": effective_role(request.user) in SUPERVISE_ROLES,
        "here": request.get_full_path(),
        "now": now,
    }
    if request.htmx:
        return render(request, "web/office/_overdue_rows.html", context)
    return render(request, "web/office/overdue_board.html", context)


ORDER_STATES = {
    "awaiting": Q(settled_at=None, replied_at=None),
    "replied": Q(settled_at=None, replied_at__isnull=False),
    "settled": Q(settled_at__isnull=False),
}


def _with_reply_rights(orders, user) -> list[SupervisionOrder]:
    orders = list(orders)
    for o in orders:
        o.can_reply = actions.may_reply(o, user) is None
    return orders


ORDERS_PAGE = 50


@roles_required(*ORDER_ROLES)
def supervision_orders(request: HttpRequest) -> HttpResponse:
    """Every order in view, by state: standing and unanswered first (the default), answered but
    still standing, settled (with the reason)."""
    state = request.GET.get("state", "awaiting")
    if state not in ORDER_STATES:
        state = "awaiting"
    visible = SupervisionOrder.objects.filter(case__in=visible_to(request.user))
    counts = {k: visible.filter(q).count() for k, q in ORDER_STATES.items()}
    listing = pager(
        request,
        visible.filter(ORDER_STATES[state])
        .select_related(
            "case",
            "case__category",
            "department",
            "addressee",
            "created_by",
            "replied_by",
        )
        .order_by("-created_at", "-pk"),
        ORDERS_PAGE,
    )
    return render(
        request,
        "web/office/supervision_orders.html",
        {
            "orders": _with_reply_rights(listing["items"], request.user),
            "pages": listing,
            "state": state,
            "counts": counts,
            "here": request.get_full_path(),
        },
    )


# ---------------------------------------------------------------------------------------------
# Department desk (专业部门)


DESK_PAGE = 20
DESK_ORDERS_PAGE = 10
DESK_VIEWS = ("all", "new", "handling", "late")


@roles_required(*DESK_ROLES)
def desk(request: HttpRequest) -> HttpResponse:
    """The department's cases, the nearest deadline first (the overdue at the top), and the
    supervision orders it must answer, the nearest reply deadline first; each a page at a
    time, the counts over all of them."""
    role = effective_role(request.user)
    now = timezone.now()
    calendar = get_calendar()
    show = request.GET.get("show", "all")
    if show not in DESK_VIEWS:
        show = "all"
    at_desk = _list_qs(request.user).filter(status__in=AT_DEPARTMENT)
    new = Q(status=Status.DISPATCHED)
    counts = at_desk.aggregate(
        all=Count("pk"),
        new=Count("pk", filter=new),
        handling=Count("pk", filter=~new),
        red=Count("pk", filter=late_now(now)),
    )
    shown = {
        "all": at_desk,
        "new": at_desk.filter(new),
        "handling": at_desk.exclude(new),
        "late": at_desk.filter(late_now(now)),
    }[show]
    cases = pager(request, soonest_first(shown), DESK_PAGE)
    rows = _with_deadlines(cases["items"], now, calendar)
    for r in rows:
        # visible_to already limits a desk to its own department (and a lead's sub-departments),
        # which is all the department scope checks: the role's moves are the page's buttons.
        moves = allowed_actions(r["case"].status, role)
        r["buttons"] = [t for t in moves if is_one_click(t)]
        r["forms"] = [t for t in moves if not is_one_click(t)]
    orders = pager(
        request,
        actions.orders_awaiting(request.user)
        .select_related("case", "case__category", "department", "created_by")
        .order_by("reply_deadline", "pk"),
        DESK_ORDERS_PAGE,
        param="orders",
    )
    counts["orders"] = orders["count"]
    return render(
        request,
        "web/office/desk.html",
        {
            "rows": rows,
            "cases": cases,
            "show": show,
            "orders": _with_reply_rights(orders["items"], request.user),
            "order_pages": orders,
            "counts": counts,
            "here": request.get_full_path(),
        },
    )
