"""Pages of the 曝光台: the centre's board (by state, with the approval buttons), the
proposal form, an exposure's page with its 操作记录, and the public list and detail pages
(no login). Thin: every write calls an action."""

from __future__ import annotations

from datetime import date, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Prefetch, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from gridcity.accounts import audit
from gridcity.accounts.models import Department
from gridcity.cases.models import Attachment, Case
from gridcity.cases.scope import visible_to
from gridcity.grids.models import Area, AreaLevel
from gridcity.lib.bounds import date_or_none
from gridcity.lib.errors import CaseError
from gridcity.publicity import actions
from gridcity.publicity.figures import local_midnight
from gridcity.publicity.models import Exposure, ExposureKind, ExposureState, Tone
from gridcity.publicity.rectification import cases_of, public_photos, rectification_of

PUBLIC_PAGE_SIZE = 20
BOARD_LIMIT = 300
CANDIDATE_DAYS = 90


def _centre_only(request: HttpRequest) -> None:
    if not actions.may_propose(request.user):
        raise PermissionDenied(_("只有监督指挥中心的工作人员可以使用曝光台"))


def _with_cases(qs: QuerySet[Exposure]) -> QuerySet[Exposure]:
    """Everything a row or a public card reads, in a fixed number of queries."""
    photos = Attachment.objects.only(
        "pk", "case_id", "kind", "public_file", "thumbnail", "uploaded_at"
    )
    return qs.select_related(
        "case", "case__category", "department", "category", "area", "proposed_by", "decided_by"
    ).prefetch_related(
        Prefetch("case__attachments", queryset=photos),
        Prefetch("cases", queryset=Case.objects.select_related("category")),
        Prefetch("cases__attachments", queryset=photos),
    )


def _date(value: str | None) -> date | None:
    return date_or_none(value)


def _row_context(request: HttpRequest, exposure: Exposure, error: str = "") -> dict:
    user = request.user
    state = exposure.state
    active = state in (ExposureState.DRAFT, ExposureState.SUBMITTED, ExposureState.PUBLISHED)
    may_approve = actions.may_approve(user) and exposure.proposed_by_id != user.pk
    return {
        "e": exposure,
        "rect": rectification_of(exposure),
        "error": error,
        "can_submit": state == ExposureState.DRAFT and exposure.proposed_by_id == user.pk,
        "can_decide": state == ExposureState.SUBMITTED and may_approve,
        "can_withdraw": active
        and (
            actions.may_approve(user)
            or (state != ExposureState.PUBLISHED and exposure.proposed_by_id == user.pk)
        ),
        "own_submitted": state == ExposureState.SUBMITTED and exposure.proposed_by_id == user.pk,
    }


@login_required
def board(request: HttpRequest) -> HttpResponse:
    _centre_only(request)
    qs = Exposure.objects.all()
    state = request.GET.get("state", "")
    if state not in ExposureState.values:
        state = ""
    tone = request.GET.get("tone", "")
    if tone in Tone.values:
        qs = qs.filter(tone=tone)
    department = request.GET.get("department", "")
    if department.isdigit():
        qs = qs.filter(department_id=int(department))
    first, last = _date(request.GET.get("from")), _date(request.GET.get("to"))
    if first:
        qs = qs.filter(published_at__gte=local_midnight(first))
    if last:
        qs = qs.filter(published_at__lt=local_midnight(last + timedelta(days=1)))
    counts = dict(qs.values_list("state").annotate(n=Count("pk")).order_by())
    tabs = [("", _("全部"), sum(counts.values()))] + [
        (value, label, counts.get(value, 0)) for value, label in ExposureState.choices
    ]
    if state:
        qs = qs.filter(state=state)
    rows = [_row_context(request, e) for e in _with_cases(qs)[:BOARD_LIMIT]]
    return render(
        request,
        "publicity/board.html",
        {
            "rows": rows,
            "tabs": tabs,
            "state": state,
            "tone": tone,
            "department": department,
            "first": first,
            "last": last,
            "departments": Department.objects.filter(is_active=True).order_by("code"),
            "tones": Tone.choices,
            "may_approve": actions.may_approve(request.user),
            "limit": BOARD_LIMIT,
        },
    )


def _candidates(user, department_id: int | None) -> list[Case]:
    """A unit's recent cases that went wrong: overdue, reworked or returned."""
    if not department_id:
        return []
    since = timezone.now() - timedelta(days=CANDIDATE_DAYS)
    qs = visible_to(user).filter(department_id=department_id, reported_at__gte=since)
    qs = qs.filter(Q(step_overdue_at__isnull=False) | Q(rework_count__gt=0) | Q(return_count__gt=0))
    return list(qs.select_related("category").order_by("-reported_at")[:40])


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


@login_required
def propose(request: HttpRequest) -> HttpResponse:
    _centre_only(request)
    data = request.POST if request.method == "POST" else request.GET
    kind = data.get("kind") or (ExposureKind.UNIT if data.get("department") else ExposureKind.CASE)
    if kind not in ExposureKind.values:
        kind = ExposureKind.CASE
    values = {
        "kind": kind,
        "tone": data.get("tone") or Tone.NEGATIVE,
        "case": (data.get("case") or "").strip(),
        "department": data.get("department", ""),
        "area": data.get("area", ""),
        "title": data.get("title", ""),
        "text": data.get("text", ""),
        "cases": data.getlist("cases") if hasattr(data, "getlist") else [],
        "case_numbers": data.get("case_numbers", ""),
    }
    errors: dict[str, str] = {}
    general = ""
    status = 200
    if request.method == "POST":
        numbers = (
            list(values["cases"])
            + values["case_numbers"].replace("，", ",").replace(",", "\n").split()
        )
        area = None
        if values["area"]:
            area = Area.objects.filter(pk=_int(values["area"]), level=AreaLevel.STREET).first()
        try:
            exposure = actions.do_propose_exposure(
                acting_user=request.user,
                kind=kind,
                tone=values["tone"],
                title=values["title"],
                text=values["text"],
                case=values["case"],
                department=_int(values["department"]),
                case_numbers=numbers,
                area=area,
            )
            if "submit" in request.POST:
                actions.do_submit_exposure(exposure, acting_user=request.user)
                messages.success(request, _("已提交审批：%(t)s") % {"t": exposure.title})
            else:
                messages.success(request, _("已保存为拟曝光草稿：%(t)s") % {"t": exposure.title})
            return redirect("publicity:detail", pk=exposure.pk)
        except CaseError as exc:
            status = exc.status_code
            if exc.field in ("kind", "tone", "case", "department", "cases", "title", "text"):
                errors[exc.field] = exc.message
            else:
                general = exc.message
    case = None
    if kind == ExposureKind.CASE and values["case"]:
        case = (
            visible_to(request.user)
            .select_related("category", "department")
            .filter(number=values["case"])
            .first()
        )
    before, after = public_photos([case]) if case else ([], [])
    return render(
        request,
        "publicity/propose.html",
        {
            "v": values,
            "errors": errors,
            "general": general,
            "case": case,
            "before": before,
            "after": after,
            "kinds": ExposureKind.choices,
            "tones": Tone.choices,
            "departments": Department.objects.filter(is_active=True).order_by("code"),
            "streets": Area.objects.filter(level=AreaLevel.STREET, is_active=True),
            "candidates": _candidates(request.user, _int(values["department"])),
        },
        status=status,
    )


@login_required
def candidates(request: HttpRequest) -> HttpResponse:
    """The unit form's list of cases to pick from, reloaded when the unit changes (HTMX)."""
    _centre_only(request)
    department = _int(request.GET.get("department"))
    return render(
        request,
        "publicity/_candidates.html",
        {"candidates": _candidates(request.user, department), "v": {"cases": []}},
    )


def _detail_context(request: HttpRequest, exposure: Exposure, errors: dict | None = None) -> dict:
    cases = cases_of(exposure)
    before, after = public_photos(cases)
    context = _row_context(request, exposure)
    context.update(
        {
            "cases": cases,
            "before": before,
            "after": after,
            "history": audit.history_of(exposure),
            "errors": errors or {},
        }
    )
    return context


@login_required
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    _centre_only(request)
    exposure = get_object_or_404(_with_cases(Exposure.objects.all()), pk=pk)
    return render(request, "publicity/detail.html", _detail_context(request, exposure))


ACTIONS = {
    "submit": lambda e, user, reason: actions.do_submit_exposure(e, acting_user=user),
    "approve": lambda e, user, reason: actions.do_approve_exposure(e, acting_user=user),
    "reject": lambda e, user, reason: actions.do_reject_exposure(
        e, acting_user=user, reason=reason
    ),
    "withdraw": lambda e, user, reason: actions.do_withdraw_exposure(
        e, acting_user=user, reason=reason
    ),
}
DONE = {
    "submit": gettext_lazy("已提交审批"),
    "approve": gettext_lazy("已审批通过，已在曝光台发布"),
    "reject": gettext_lazy("已退回（审批不通过）"),
    "withdraw": gettext_lazy("已撤回，公众页面不再显示"),
}


@login_required
@require_POST
def act(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    _centre_only(request)
    run = ACTIONS.get(action)
    if run is None:
        raise Http404
    exposure = get_object_or_404(Exposure, pk=pk)
    reason = request.POST.get("reason", "")
    error, status = "", 200
    try:
        run(exposure, request.user, reason)
    except CaseError as exc:
        error = exc.message
        status = exc.status_code
    fresh = _with_cases(Exposure.objects.all()).get(pk=pk)
    if request.htmx:
        # The board swaps the row in place; a refusal shows in the row itself.
        context = _row_context(request, fresh, error)
        return render(request, "publicity/_row.html", context)
    if error:
        errors = {"form": action, "message": error, "reason": reason}
        return render(
            request, "publicity/detail.html", _detail_context(request, fresh, errors), status=status
        )
    messages.success(request, str(DONE[action]))
    return redirect("publicity:detail", pk=pk)


# --- public pages --------------------------------------------------------------------------


def _published() -> QuerySet[Exposure]:
    return Exposure.objects.filter(state=ExposureState.PUBLISHED)


def _card(exposure: Exposure) -> dict:
    before, after = public_photos(cases_of(exposure))
    return {"e": exposure, "rect": rectification_of(exposure), "before": before, "after": after}


def public_list(request: HttpRequest) -> HttpResponse:
    """No login: the published exposures, newest first; withdrawn ones are gone."""
    qs = _published()
    tone = request.GET.get("tone", "")
    if tone in Tone.values:
        qs = qs.filter(tone=tone)
    streets = list(Area.objects.filter(level=AreaLevel.STREET, is_active=True).order_by("code"))
    street = next((s for s in streets if str(s.pk) == request.GET.get("street")), None)
    if street is not None:
        qs = qs.filter(area__path__startswith=street.path)
    page = Paginator(_with_cases(qs.order_by("-published_at", "-pk")), PUBLIC_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "publicity/public_list.html",
        {
            "page": page,
            "cards": [_card(e) for e in page.object_list],
            "tone": tone,
            "tones": Tone.choices,
            "streets": streets,
            "street": street,
            "total": _published().count(),
        },
    )


def public_detail(request: HttpRequest, pk: int) -> HttpResponse:
    exposure = _with_cases(_published()).filter(pk=pk).first()
    if exposure is None:
        raise Http404(_("该曝光不存在或已撤回"))
    context = _card(exposure)
    context["cases"] = cases_of(exposure)
    return render(request, "publicity/public_detail.html", context)
