"""Inspection pages (督查检查): the list of plans and inspections with filters, a plan with its
reproducible sample and scheduling, the on-site page for phones (findings, re-inspection,
notices), the notice as PDF and Word, and the review queue of drone and camera detections.
Thin: every write calls an action; a bad input comes back as a form error naming the field."""

from datetime import timedelta
from decimal import Decimal, InvalidOperation
from urllib.parse import quote

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _g
from django.utils.translation import gettext_lazy as _

from gridcity.accounts import audit
from gridcity.accounts.models import Department, Role, User
from gridcity.campaigns import actions
from gridcity.campaigns.documents import notice_docx, notice_pdf
from gridcity.campaigns.ledger_workflow import CENTRE
from gridcity.campaigns.models import (
    Campaign,
    Finding,
    FindingOutcome,
    FindingSource,
    Frequency,
    Inspection,
    InspectionPlan,
    InspectionStatus,
    LedgerStatus,
    PlanMethod,
    PlanOpenness,
    PlanScope,
    RectificationNotice,
)
from gridcity.campaigns.views import _centre_only, _date, _float, _photos, _role
from gridcity.grids.models import Area, AreaLevel
from gridcity.lib.errors import CaseError, InvalidInput
from gridcity.taxonomy.actions import resolve_category
from gridcity.taxonomy.models import Category

STAFF = CENTRE | {Role.INTAKE, Role.INSPECTOR, Role.HANDLER, Role.DEPT_LEAD}
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def _staff_only(request: HttpRequest) -> None:
    if _role(request) not in STAFF:
        raise PermissionDenied(_g("您的角色不能查看督查检查"))


def _pk(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _inspectors():
    roles = {Role.INSPECTOR} | set(CENTRE)
    return User.objects.filter(is_active=True, role__in=roles).order_by("role", "username")


def _form_error(form: forms.Form, exc: CaseError) -> None:
    """An action's refusal shown on the field it names (or on top of the form)."""
    field = exc.field if exc.field in form.fields else None
    form.add_error(field, exc.message)


def _history(obj) -> list:
    return list(audit.history_of(obj)[:50])


# ---------------------------------------------------------------------------------------------
# The list


@login_required
def inspections(request: HttpRequest) -> HttpResponse:
    _staff_only(request)
    role = _role(request)
    centre = role in CENTRE
    qs = actions.inspections_visible_to(request.user).select_related(
        "plan", "plan__area", "inspector", "reinspection_of"
    )
    f = request.GET
    if f.get("status") in InspectionStatus.values:
        qs = qs.filter(status=f["status"])
    if f.get("method") in PlanMethod.values:
        qs = qs.filter(plan__method=f["method"])
    if f.get("openness") in PlanOpenness.values:
        qs = qs.filter(plan__openness=f["openness"])
    if f.get("kind") == "first":
        qs = qs.filter(reinspection_of__isnull=True)
    elif f.get("kind") == "re":
        qs = qs.filter(reinspection_of__isnull=False)
    if _pk(f.get("plan")):
        qs = qs.filter(plan_id=_pk(f.get("plan")))
    if _pk(f.get("inspector")) and centre:
        qs = qs.filter(inspector_id=_pk(f.get("inspector")))
    if _date(f.get("from")):
        qs = qs.filter(scheduled_for__gte=_date(f.get("from")))
    if _date(f.get("to")):
        qs = qs.filter(scheduled_for__lte=_date(f.get("to")))
    q = f.get("q", "").strip()
    if q:
        qs = qs.filter(Q(number__icontains=q) | Q(plan__name__icontains=q))
    plans = InspectionPlan.objects.select_related("owner", "area", "campaign", "inspector")
    ctx = {
        "centre": centre,
        "rows": qs.order_by("status", "scheduled_for", "pk")[:200],
        "plans": plans if centre else [],
        "notices": actions.notices_visible_to(request.user).select_related(
            "department", "reinspection", "inspection"
        )[:30],
        "f": f,
        "statuses": InspectionStatus.choices,
        "methods": PlanMethod.choices,
        "opennesses": PlanOpenness.choices,
        "inspectors": _inspectors() if centre else [],
        "review_count": actions.detections_for_review().count()
        if role in actions.DETECTION_REVIEWERS
        else None,
        "today": timezone.localdate(),
    }
    return render(request, "campaigns/inspections.html", ctx)


# ---------------------------------------------------------------------------------------------
# Plans


def parse_checklist(text: str) -> list[tuple[str, Decimal]]:
    """One item a line, "名称 扣分" (the points optional, 1 by default): "垃圾桶满冒 2"."""
    items = []
    for line in text.replace("\r", "").split("\n"):
        line = line.strip()
        if not line:
            continue
        name, _sep, last = line.replace("\t", " ").rpartition(" ")
        try:
            points = Decimal(last.strip())
        except InvalidOperation:
            name, points = line, Decimal(1)
        if not name.strip():
            raise forms.ValidationError(_g("“%(line)s”缺少检查项名称") % {"line": line})
        items.append((name.strip(), points))
    return items


class AreaChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Area) -> str:
        return _g("%(name)s（%(code)s）") % {"name": obj.name, "code": obj.code}


class PlanForm(forms.Form):
    name = forms.CharField(label=_("计划名称"), max_length=100)
    content = forms.CharField(label=_("检查内容"), widget=forms.Textarea(attrs={"rows": 3}))
    method = forms.ChoiceField(
        label=_("方式"), choices=PlanMethod.choices, widget=forms.RadioSelect, initial="planned"
    )
    openness = forms.ChoiceField(
        label=_("明察/暗访"), choices=PlanOpenness.choices, widget=forms.RadioSelect, initial="open"
    )
    scope = forms.ChoiceField(
        label=_("类型"), choices=PlanScope.choices, widget=forms.RadioSelect, initial="thematic"
    )
    frequency = forms.ChoiceField(label=_("频次"), choices=Frequency.choices, initial="once")
    area = AreaChoiceField(
        label=_("检查范围"),
        queryset=Area.objects.filter(level__lt=AreaLevel.CELL, is_active=True).order_by("path"),
    )
    sample_size = forms.IntegerField(
        label=_("抽查网格数"),
        min_value=1,
        max_value=actions.MAX_SAMPLE,
        initial=5,
        help_text=_("随机抽查时，每次从范围内抽取的网格数。"),
    )
    inspector = forms.ModelChoiceField(
        label=_("默认检查人"),
        queryset=User.objects.none(),
        required=False,
        help_text=_("周期性计划按期自动安排给此人；不选则由负责人逐次安排。"),
    )
    campaign = forms.ModelChoiceField(
        label=_("所属专项整治"), queryset=Campaign.objects.all(), required=False
    )
    items = forms.CharField(
        label=_("检查项"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": _("垃圾桶满冒 2\n周边散落垃圾 1")}),
        help_text=_("每行一项：名称和每处扣分，以空格分隔；不写扣分按 1 分。"),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["inspector"].queryset = _inspectors()

    def clean_items(self) -> list[tuple[str, Decimal]]:
        return parse_checklist(self.cleaned_data["items"])


@login_required
def plan_create(request: HttpRequest) -> HttpResponse:
    _centre_only(request)
    form = PlanForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            plan = actions.do_create_plan(acting_user=request.user, **form.cleaned_data)
        except CaseError as exc:
            _form_error(form, exc)
        else:
            messages.success(request, _g("已制定督查计划“%(name)s”") % {"name": plan.name})
            return redirect("campaigns:plan", pk=plan.pk)
    return render(request, "campaigns/plan_form.html", {"form": form})


class ScheduleForm(forms.Form):
    inspector = forms.ModelChoiceField(label=_("检查人"), queryset=User.objects.none())
    on = forms.DateField(label=_("检查日期"), widget=forms.DateInput(attrs={"type": "date"}))
    seed = forms.CharField(
        label=_("抽样种子"),
        max_length=64,
        required=False,
        help_text=_("留空则用“计划编号:日期”。同一计划、同一种子，抽中的网格相同，可复核。"),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["inspector"].queryset = _inspectors()


@login_required
def plan_detail(request: HttpRequest, pk: int) -> HttpResponse:
    _centre_only(request)
    plan = get_object_or_404(
        InspectionPlan.objects.select_related("owner", "area", "campaign", "inspector"), pk=pk
    )
    random_plan = plan.method == PlanMethod.RANDOM
    data = (
        request.POST if request.method == "POST" else (request.GET if "on" in request.GET else None)
    )
    form = ScheduleForm(data, initial={"on": timezone.localdate(), "inspector": plan.inspector_id})
    preview = None
    if data is not None and form.is_valid():
        d = form.cleaned_data
        seed = d["seed"].strip() or f"{plan.pk}:{d['on'].isoformat()}"
        if request.method == "POST":
            try:
                insp = actions.do_schedule_inspection(
                    plan,
                    acting_user=request.user,
                    inspector=d["inspector"],
                    on=d["on"],
                    seed=d["seed"],
                )
            except CaseError as exc:
                _form_error(form, exc)
            else:
                messages.success(request, _g("已安排检查 %(number)s") % {"number": insp.number})
                return redirect("campaigns:onsite", pk=insp.pk)
        elif random_plan:
            codes = actions.draw_sample(plan, seed)
            preview = {
                "seed": seed,
                "cells": list(Area.objects.filter(code__in=codes).order_by("code")),
            }
    pool = Area.objects.filter(
        level=AreaLevel.CELL, path__startswith=plan.area.path, is_active=True
    ).count()
    ctx = {
        "plan": plan,
        "items": plan.items.all(),
        "form": form,
        "preview": preview,
        "pool": pool,
        "random_plan": random_plan,
        "inspections": plan.inspections.select_related("inspector").order_by("-scheduled_for")[:50],
        "history": _history(plan),
    }
    return render(request, "campaigns/plan.html", ctx)


# ---------------------------------------------------------------------------------------------
# One inspection: the on-site page (phones first)


def _finding(request: HttpRequest, insp: Inspection) -> None:
    code = request.POST.get("category", "").strip()
    category = resolve_category(code) if code else None
    if code and category is None:
        raise InvalidInput(_g("未知类别：%(code)s") % {"code": code}, field="category")
    actions.do_record_finding(
        insp,
        acting_user=request.user,
        description=request.POST.get("description", ""),
        lon=_float(request.POST.get("lon")),
        lat=_float(request.POST.get("lat")),
        category=category,
        department=Department.objects.filter(pk=_pk(request.POST.get("department"))).first(),
        checklist_item=insp.plan.items.filter(pk=_pk(request.POST.get("checklist_item"))).first(),
        outcome=request.POST.get("outcome", FindingOutcome.LEDGER),
        measures=request.POST.get("measures", ""),
        deadline=_date(request.POST.get("deadline")),
        photos=_photos(request),
    )


def _verify_row(request: HttpRequest, notice: RectificationNotice | None) -> None:
    """Sign a row of the notice off during the re-inspection, with the photo taken there."""
    if notice is None:
        raise InvalidInput(_g("这不是复查任务"))
    row = actions.notice_rows(notice).filter(pk=_pk(request.POST.get("row"))).first()
    if row is None:
        raise InvalidInput(_g("该问题不属于本通知书"))
    actions.do_transition_ledger_row(
        row,
        "sign_off",
        acting_user=request.user,
        note=request.POST.get("note", ""),
        photos=_photos(request),
    )


@login_required
def onsite(request: HttpRequest, pk: int) -> HttpResponse:
    """The phone page: the sampled cells and checklist, record findings, finish; for a
    re-inspection the notice's problems to verify; for the centre, notices and rescheduling."""
    _staff_only(request)
    insp = get_object_or_404(
        actions.inspections_visible_to(request.user).select_related(
            "plan", "plan__campaign", "plan__area", "inspector", "reinspection_of"
        ),
        pk=pk,
    )
    centre = _role(request) in CENTRE
    may_work = centre or insp.inspector_id == request.user.pk
    notice_here = RectificationNotice.objects.filter(reinspection=insp).first()
    if request.method == "POST":
        if not may_work:
            raise PermissionDenied(_g("这不是您的检查任务"))
        op = request.POST.get("op")
        try:
            if op == "finding":
                _finding(request, insp)
                messages.success(request, _g("已记录发现"))
            elif op == "verify":
                _verify_row(request, notice_here)
                messages.success(request, _g("已验收销号"))
            elif op == "finish":
                passed = {"yes": True, "no": False}.get(request.POST.get("passed", ""))
                actions.do_finish_inspection(
                    insp, acting_user=request.user, passed=passed, note=request.POST.get("note", "")
                )
                messages.success(request, _g("检查已完成"))
            elif op == "notice":
                notice = actions.do_issue_notice(
                    insp,
                    acting_user=request.user,
                    department=Department.objects.filter(
                        pk=_pk(request.POST.get("department"))
                    ).first(),
                    deadline=_date(request.POST.get("deadline")),
                )
                messages.success(
                    request,
                    _g("已下发整改通知书 %(number)s，复查安排在 %(day)s")
                    % {
                        "number": notice.number,
                        "day": f"{notice.reinspection.scheduled_for:%Y-%m-%d}",
                    },
                )
            elif op == "reschedule":
                actions.do_reschedule_inspection(
                    insp,
                    acting_user=request.user,
                    on=_date(request.POST.get("on")),
                    inspector=User.objects.filter(pk=_pk(request.POST.get("inspector"))).first(),
                )
                messages.success(request, _g("已调整检查安排"))
            else:
                raise InvalidInput(_g("未知操作"))
        except CaseError as exc:
            label = {
                "department": _g("受文单位"),
                "deadline": _g("整改期限"),
                "on": _g("检查日期"),
                "inspector": _g("检查人"),
                "description": _g("问题描述"),
                "category": _g("类别"),
                "lon": _g("位置"),
                "passed": _g("复查结论"),
                "note": _g("说明"),
                "photos": _g("照片"),
            }.get(exc.field or "")
            messages.error(
                request,
                _g("%(field)s：%(message)s") % {"field": label, "message": exc.message}
                if label
                else exc.message,
            )
        return redirect("campaigns:onsite", pk=insp.pk)

    plan = insp.plan
    campaign = plan.campaign
    findings = list(
        insp.findings.select_related("department", "ledger_row", "case", "cell").prefetch_related(
            "photos"
        )
    )
    noticed = set(insp.notices.values_list("department_id", flat=True))
    found_units = {f.department_id: f.department for f in findings if f.department_id}
    rows = []
    if notice_here is not None:
        rows = list(
            actions.notice_rows(notice_here).select_related("cell").prefetch_related("photos")
        )
    ctx = {
        "insp": insp,
        "plan": plan,
        "cells": insp.cells.all(),
        "items": plan.items.all(),
        "categories": campaign.categories.all() if campaign else [],
        "all_categories": Category.objects.filter(is_active=True).order_by("code")
        if not campaign
        else [],
        "departments": Department.objects.filter(is_active=True),
        "findings": findings,
        "notices": insp.notices.select_related("department", "reinspection"),
        "notice_here": notice_here,
        "notice_rows": rows,
        "rows_left": sum(1 for r in rows if r.status != LedgerStatus.SIGNED_OFF),
        "centre": centre,
        # Finding photos stay with the supervision side (the photo view refuses units).
        "show_photos": _role(request) not in (Role.HANDLER, Role.DEPT_LEAD),
        "may_work": may_work and insp.status == InspectionStatus.SCHEDULED,
        "notice_units": [d for pk, d in found_units.items() if pk not in noticed],
        "default_deadline": timezone.localdate() + timedelta(days=7),
        "inspectors": _inspectors() if centre else [],
        "outcomes": [(FindingOutcome.LEDGER, _("入整改台账")), (FindingOutcome.CASE, _("转案件"))],
        "history": _history(insp) if centre or insp.inspector_id == request.user.pk else [],
    }
    return render(request, "campaigns/onsite.html", ctx)


# ---------------------------------------------------------------------------------------------
# The notice as a document


@login_required
def notice_document(request: HttpRequest, pk: int, fmt: str = "pdf") -> HttpResponse:
    notice = get_object_or_404(
        actions.notices_visible_to(request.user).select_related(
            "inspection__plan__area", "department", "issued_by", "reinspection"
        ),
        pk=pk,
    )
    name = quote(_g("整改通知书-%(number)s") % {"number": notice.number} + f".{fmt}")
    if fmt == "docx":
        resp = HttpResponse(notice_docx(notice), content_type=DOCX)
        resp["Content-Disposition"] = f"attachment; filename*=UTF-8''{name}"
    else:
        resp = HttpResponse(notice_pdf(notice), content_type="application/pdf")
        resp["Content-Disposition"] = f"inline; filename*=UTF-8''{name}"
    return resp


# ---------------------------------------------------------------------------------------------
# Detections from drones and cameras: the review queue


def _reviewer_only(request: HttpRequest) -> None:
    if _role(request) not in actions.DETECTION_REVIEWERS:
        raise PermissionDenied(_g("只有监督指挥中心人员可以研判识别结果"))


@login_required
def detections(request: HttpRequest) -> HttpResponse:
    _reviewer_only(request)
    if request.method == "POST":
        finding = _pk(request.POST.get("finding"))
        try:
            if request.POST.get("op") == "accept":
                code = request.POST.get("category", "").strip()
                category = resolve_category(code) if code else None
                if code and category is None:
                    raise InvalidInput(_g("未知类别：%(code)s") % {"code": code}, field="category")
                case = actions.do_accept_detection(
                    finding or 0,
                    acting_user=request.user,
                    category=category,
                    note=request.POST.get("note", ""),
                )
                messages.success(request, _g("已立案 %(number)s") % {"number": case.number})
            elif request.POST.get("op") == "reject":
                actions.do_reject_detection(
                    finding or 0, acting_user=request.user, reason=request.POST.get("reason", "")
                )
                messages.success(request, _g("已驳回"))
            else:
                raise InvalidInput(_g("未知操作"))
        except CaseError as exc:
            label = {"reason": _g("驳回理由"), "category": _g("类别")}.get(exc.field or "")
            messages.error(
                request,
                _g("%(field)s：%(message)s") % {"field": label, "message": exc.message}
                if label
                else exc.message,
            )
        nxt = reverse("campaigns:detections")
        if request.POST.get("source") in FindingSource.values:
            nxt += f"?source={request.POST['source']}"
        return redirect(nxt)
    queue = actions.detections_for_review().select_related("category", "cell")
    source = request.GET.get("source", "")
    if source in (FindingSource.DRONE, FindingSource.CAMERA):
        queue = queue.filter(source=source)
    queue = list(queue.prefetch_related("photos").order_by("-confidence", "created_at")[:30])
    for f in queue:
        f.geo_id = f"det-geo-{f.pk}"
        f.geo = {
            "lon": f.lon,
            "lat": f.lat,
            "cell": f.cell.geometry if f.cell_id and f.cell.geometry else None,
        }
    decided = (
        Finding.objects.filter(source__in=actions.DETECTION_SOURCES, reviewed_at__isnull=False)
        .select_related("reviewed_by", "case", "category")
        .order_by("-reviewed_at")[:20]
    )
    ctx = {
        "queue": queue,
        "waiting": actions.detections_for_review().count(),
        "decided": decided,
        "source": source,
        "sources": [(FindingSource.DRONE, _("无人机")), (FindingSource.CAMERA, _("视频监控"))],
        "categories": Category.objects.filter(is_active=True).order_by("code"),
        "tiles": getattr(settings, "GRIDCITY_TILE_URL", ""),
        "thresholds": actions.detection_thresholds(),
    }
    return render(request, "campaigns/detections.html", ctx)
