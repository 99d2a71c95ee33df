"""Pages: the campaign list and board (progress + map), the ledger with filters, bulk actions,
import and export, a ledger row, inspections, the on-site inspection page for phones, and the
notice PDF. Thin: every write calls an action."""

from datetime import date, timedelta

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from gridcity.accounts.models import Department, Role
from gridcity.campaigns import actions
from gridcity.campaigns.documents import notice_pdf
from gridcity.campaigns.ledger_io import do_import_ledger, export_ledger_xlsx
from gridcity.campaigns.ledger_workflow import BY_ACTION, CENTRE
from gridcity.campaigns.models import (
    Campaign,
    EvidencePhoto,
    FindingOutcome,
    Inspection,
    InspectionPlan,
    InspectionStatus,
    LedgerStatus,
    LedgerSupervision,
    RectificationNotice,
)
from gridcity.campaigns.progress import campaign_progress, daily_series, weekly_series
from gridcity.cases.errors import CaseError
from gridcity.grids.models import Area, AreaLevel
from gridcity.taxonomy.actions import resolve_category

EVENT_LABELS = {
    "create": "录入",
    "attach": "补充照片",
    "supervise": "逾期督办",
    "mark_overdue": "逾期",
}
STAFF = CENTRE | {Role.INTAKE, Role.INSPECTOR, Role.HANDLER, Role.DEPT_LEAD}


def _role(request) -> str:
    return actions.effective_role(request.user)


def _staff_only(request) -> None:
    if _role(request) not in STAFF:
        raise PermissionDenied("您的角色不能查看专项整治")


def _centre_only(request) -> None:
    if _role(request) not in CENTRE:
        raise PermissionDenied("只有指挥中心、值班长或领导可以执行此操作")


def _photos(request: HttpRequest, name: str = "photos") -> list[tuple[str, bytes]]:
    return [(f.name, f.read()) for f in request.FILES.getlist(name)]


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


@login_required
def campaign_list(request: HttpRequest) -> HttpResponse:
    _staff_only(request)
    campaigns = Campaign.objects.select_related("lead_department").prefetch_related("categories")
    items = [(c, campaign_progress(c)) for c in campaigns]
    return render(
        request, "campaigns/list.html", {"items": items, "may_manage": _role(request) in CENTRE}
    )


def _map_geojson(campaign: Campaign) -> dict:
    features = []
    for area in campaign.areas.all():
        if area.geometry:
            features.append(
                {
                    "type": "Feature",
                    "geometry": area.geometry,
                    "properties": {"kind": "area", "name": area.name},
                }
            )
    rows = campaign.ledger_rows.filter(lon__isnull=False).only(
        "pk", "number", "lon", "lat", "status", "description"
    )
    for row in rows[:2000]:
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [row.lon, row.lat]},
                "properties": {
                    "kind": "row",
                    "status": row.status,
                    "name": f"{row.number} {row.get_status_display()}",
                    "url": reverse("campaigns:row", args=[row.pk]),
                },
            }
        )
    for w in campaign.rebounds.select_related("cell"):
        if w.cell.geometry:
            features.append(
                {
                    "type": "Feature",
                    "geometry": w.cell.geometry,
                    "properties": {"kind": "rebound", "name": f"反弹预警：{w.cell.name}"},
                }
            )
    return {"type": "FeatureCollection", "features": features}


@login_required
def board(request: HttpRequest, pk: int) -> HttpResponse:
    _staff_only(request)
    campaign = get_object_or_404(Campaign.objects.select_related("lead_department"), pk=pk)
    progress = campaign_progress(campaign)
    ctx = {
        "campaign": campaign,
        "p": progress,
        "daily": daily_series(campaign)[-14:],
        "weekly": weekly_series(campaign),
        "geojson": _map_geojson(campaign),
        "rebounds": campaign.rebounds.select_related("cell", "case")[:50],
        "supervisions": (
            LedgerSupervision.objects.filter(row__campaign=campaign).select_related(
                "row", "row__department", "case_order"
            )[:50]
        ),
        "plans": campaign.plans.all(),
        "ledger_url": reverse("campaigns:ledger", args=[campaign.pk]),
    }
    return render(request, "campaigns/board.html", ctx)


def _ledger_qs(request, campaign: Campaign | None):
    qs = actions.ledger_rows_visible_to(request.user).select_related(
        "department", "cell", "case", "campaign"
    )
    if campaign is not None:
        qs = qs.filter(campaign=campaign)
    status = request.GET.get("status", "")
    if status in LedgerStatus.values:
        qs = qs.filter(status=status)
    dept = request.GET.get("department", "")
    if dept.isdigit():
        qs = qs.filter(department_id=int(dept))
    q = request.GET.get("q", "").strip()
    if q:
        qs = qs.filter(description__icontains=q)
    return qs.order_by("deadline", "pk")


@login_required
def ledger(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    _staff_only(request)
    campaign = get_object_or_404(Campaign, pk=pk) if pk else None
    qs = _ledger_qs(request, campaign)
    if request.GET.get("format") == "xlsx":
        title = f"{campaign.name if campaign else '问题清单'}整改台账"
        data = export_ledger_xlsx(list(qs), title)
        resp = HttpResponse(
            data, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
        resp["Content-Disposition"] = f"attachment; filename*=UTF-8''ledger-{pk or 'all'}.xlsx"
        return resp
    ctx = {
        "campaign": campaign,
        "rows": qs[:500],
        "statuses": LedgerStatus.choices,
        "departments": Department.objects.filter(is_active=True),
        "f": request.GET,
        "may_import": _role(request) in CENTRE,
        "bulk_actions": [("start", "开始整改"), ("submit", "提交验收")],
        "query": request.GET.urlencode(),
    }
    return render(request, "campaigns/ledger.html", ctx)


@login_required
@require_POST
def ledger_import(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign, pk=pk)
    upload = request.FILES.get("file")
    if upload is None:
        messages.error(request, "请选择 XLSX 文件")
        return redirect("campaigns:ledger", pk=pk)
    try:
        rows = do_import_ledger(upload.read(), acting_user=request.user, campaign=campaign)
    except CaseError as exc:
        errors = exc.extra.get("errors") or []
        messages.error(request, f"导入失败，未导入任何数据：{exc.message}")
        for e in errors[1:10]:
            messages.error(
                request, f"第{e['line']}行第{e['column']}列（{e['header']}）：{e['message']}"
            )
        return redirect("campaigns:ledger", pk=pk)
    messages.success(request, f"已导入 {len(rows)} 条问题")
    return redirect("campaigns:ledger", pk=pk)


@login_required
@require_POST
def ledger_bulk(request: HttpRequest) -> HttpResponse:
    action = request.POST.get("action", "")
    ids = [int(i) for i in request.POST.getlist("rows") if i.isdigit()]
    done, failed = 0, []
    for row_id in ids:
        try:
            actions.do_transition_ledger_row(
                row_id, action, acting_user=request.user, note=request.POST.get("note", "")
            )
            done += 1
        except CaseError as exc:
            failed.append(f"#{row_id}：{exc.message}")
    if done:
        messages.success(request, f"已处理 {done} 条")
    for f in failed[:10]:
        messages.error(request, f)
    nxt = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(nxt, allowed_hosts={request.get_host()}):
        nxt = reverse("campaigns:ledger_all")
    return redirect(nxt)


@login_required
def row_detail(request: HttpRequest, pk: int) -> HttpResponse:
    _staff_only(request)
    row = get_object_or_404(
        actions.ledger_rows_visible_to(request.user).select_related(
            "department", "cell", "case", "campaign", "signed_off_by"
        ),
        pk=pk,
    )
    if request.method == "POST":
        try:
            if request.POST.get("action") == "attach":
                actions.do_attach_ledger_photos(
                    row,
                    acting_user=request.user,
                    kind=request.POST.get("kind", "after"),
                    photos=_photos(request),
                )
                messages.success(request, "照片已上传")
            else:
                actions.do_transition_ledger_row(
                    row,
                    request.POST.get("action", ""),
                    acting_user=request.user,
                    note=request.POST.get("note", ""),
                    deadline=_date(request.POST.get("deadline")),
                    photos=_photos(request),
                )
                messages.success(request, "已提交")
        except CaseError as exc:
            messages.error(request, exc.message)
        return redirect("campaigns:row", pk=row.pk)
    status_label = dict(LedgerStatus.choices)
    events = list(row.events.select_related("actor"))
    for e in events:
        e.label = EVENT_LABELS.get(e.action) or getattr(BY_ACTION.get(e.action), "label", e.action)
        e.from_label = status_label.get(e.from_status, "")
        e.to_label = status_label.get(e.to_status, "")
    ctx = {
        "row": row,
        "events": events,
        "photos": row.photos.all(),
        "moves": actions.available_ledger_actions(row, request.user),
        "supervisions": row.supervisions.all(),
    }
    return render(request, "campaigns/row.html", ctx)


@login_required
def photo(request: HttpRequest, pk: int) -> FileResponse:
    p = get_object_or_404(EvidencePhoto, pk=pk)
    if _role(request) not in STAFF:
        raise Http404("文件不存在")
    if p.row_id and not actions.ledger_rows_visible_to(request.user).filter(pk=p.row_id).exists():
        raise Http404("文件不存在")
    if p.finding_id and _role(request) in (Role.HANDLER, Role.DEPT_LEAD):
        raise Http404("文件不存在")
    try:
        handle = p.file.open("rb")
    except FileNotFoundError as exc:
        raise Http404("文件不存在") from exc
    resp = FileResponse(handle, content_type=p.content_type)
    resp["Cache-Control"] = "private, max-age=3600"
    resp["X-Content-Type-Options"] = "nosniff"
    return resp


@login_required
def inspections(request: HttpRequest) -> HttpResponse:
    _staff_only(request)
    role = _role(request)
    qs = Inspection.objects.select_related("plan", "inspector", "reinspection_of")
    if role not in CENTRE:
        qs = qs.filter(inspector=request.user)
    ctx = {
        "plans": InspectionPlan.objects.select_related("owner", "area", "campaign")
        if role in CENTRE
        else [],
        "todo": qs.filter(status=InspectionStatus.SCHEDULED).order_by("scheduled_for")[:50],
        "done": qs.filter(status=InspectionStatus.DONE).order_by("-finished_at")[:20],
        "notices": RectificationNotice.objects.select_related("department", "reinspection")[:30]
        if role in CENTRE
        else [],
    }
    return render(request, "campaigns/inspections.html", ctx)


@login_required
def onsite(request: HttpRequest, pk: int) -> HttpResponse:
    """The phone page: the sampled cells and checklist, record findings, finish."""
    insp = get_object_or_404(
        Inspection.objects.select_related("plan", "plan__campaign", "plan__area"), pk=pk
    )
    centre = _role(request) in CENTRE
    if insp.inspector_id != request.user.pk and not centre:
        raise PermissionDenied("这不是您的检查任务")
    notice_here = RectificationNotice.objects.filter(reinspection=insp).first()
    if request.method == "POST":
        op = request.POST.get("op")
        try:
            if op == "finding":
                category = resolve_category(request.POST.get("category", ""))
                item_id = request.POST.get("checklist_item", "")
                dept_id = request.POST.get("department", "")
                actions.do_record_finding(
                    insp,
                    acting_user=request.user,
                    description=request.POST.get("description", ""),
                    lon=_float(request.POST.get("lon")),
                    lat=_float(request.POST.get("lat")),
                    category=category,
                    department=Department.objects.filter(pk=dept_id).first()
                    if dept_id.isdigit()
                    else None,
                    checklist_item=insp.plan.items.filter(pk=item_id).first()
                    if item_id.isdigit()
                    else None,
                    outcome=request.POST.get("outcome", FindingOutcome.LEDGER),
                    measures=request.POST.get("measures", ""),
                    photos=_photos(request),
                )
                messages.success(request, "已记录发现")
            elif op == "finish":
                passed = {"yes": True, "no": False}.get(request.POST.get("passed", ""))
                actions.do_finish_inspection(
                    insp, acting_user=request.user, passed=passed, note=request.POST.get("note", "")
                )
                messages.success(request, "检查已完成")
            elif op == "notice":
                dept = get_object_or_404(Department, pk=request.POST.get("department") or 0)
                notice = actions.do_issue_notice(
                    insp,
                    acting_user=request.user,
                    department=dept,
                    deadline=_date(request.POST.get("deadline"))
                    or timezone.localdate() + timedelta(days=7),
                )
                messages.success(request, f"已下发整改通知书 {notice.number}")
        except CaseError as exc:
            messages.error(request, exc.message)
        return redirect("campaigns:onsite", pk=insp.pk)
    campaign = insp.plan.campaign
    ctx = {
        "insp": insp,
        "plan": insp.plan,
        "cells": insp.cells.all(),
        "items": insp.plan.items.all(),
        "categories": campaign.categories.all() if campaign else [],
        "departments": Department.objects.filter(is_active=True),
        "findings": insp.findings.select_related("department", "ledger_row", "case", "cell"),
        "notices": insp.notices.select_related("department"),
        "notice_here": notice_here,
        "centre": centre,
        "outcomes": [(FindingOutcome.LEDGER, "入整改台账"), (FindingOutcome.CASE, "转案件")],
    }
    return render(request, "campaigns/onsite.html", ctx)


@login_required
def notice_document(request: HttpRequest, pk: int) -> HttpResponse:
    notice = get_object_or_404(
        RectificationNotice.objects.select_related(
            "inspection__plan__area", "department", "issued_by", "reinspection"
        ),
        pk=pk,
    )
    role = _role(request)
    own_unit = role in (Role.HANDLER, Role.DEPT_LEAD) and request.user.department_id == (
        notice.department_id
    )
    if role not in CENTRE and not own_unit and notice.inspection.inspector_id != request.user.pk:
        raise PermissionDenied("无权查看该通知书")
    resp = HttpResponse(notice_pdf(notice), content_type="application/pdf")
    resp["Content-Disposition"] = f"inline; filename*=UTF-8''notice-{notice.pk}.pdf"
    return resp


class CampaignForm(forms.Form):
    name = forms.CharField(label="整治主题", max_length=100)
    starts_on = forms.DateField(label="开始日期", widget=forms.DateInput(attrs={"type": "date"}))
    ends_on = forms.DateField(label="结束日期", widget=forms.DateInput(attrs={"type": "date"}))
    categories = forms.CharField(
        label="整治类别", help_text="类别代码，逗号分隔，如 06042, 09012", max_length=200
    )
    areas = forms.ModelMultipleChoiceField(
        label="整治区域",
        queryset=Area.objects.filter(level__lt=AreaLevel.CELL, is_active=True).only(
            "pk", "name", "code", "level"
        ),
        widget=forms.SelectMultiple(attrs={"size": 8}),
    )
    lead_department = forms.ModelChoiceField(
        label="牵头部门", queryset=Department.objects.filter(is_active=True), required=False
    )
    member_departments = forms.ModelMultipleChoiceField(
        label="配合部门",
        queryset=Department.objects.filter(is_active=True),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 5}),
    )
    goals = forms.CharField(
        label="整治目标", widget=forms.Textarea(attrs={"rows": 3}), required=False
    )
    default_days = forms.IntegerField(label="默认整改天数", min_value=1, max_value=365, initial=7)
    rebound_days = forms.IntegerField(
        label="反弹观察期（天）", min_value=0, max_value=365, initial=30
    )

    def clean_categories(self):
        cats = []
        for code in self.cleaned_data["categories"].replace("，", ",").split(","):
            if not code.strip():
                continue
            cat = resolve_category(code.strip())
            if cat is None:
                raise forms.ValidationError(f"未知类别：{code.strip()}")
            cats.append(cat)
        if not cats:
            raise forms.ValidationError("请至少填写一个类别")
        return cats


@login_required
def campaign_create(request: HttpRequest) -> HttpResponse:
    _centre_only(request)
    form = CampaignForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            campaign = actions.do_create_campaign(acting_user=request.user, **d)
        except CaseError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(
                request, f"已发起“{campaign.name}”，已纳入 {campaign.tags.count()} 件案件"
            )
            return redirect("campaigns:board", pk=campaign.pk)
    return render(request, "campaigns/create.html", {"form": form})
