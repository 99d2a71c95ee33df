"""Pages: the campaign list and board (progress + map), the ledger with filters, bulk actions,
import and export, and a ledger row (inspections are in inspection_views). Thin: every write
calls an action."""

from datetime import date

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _g
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from gridcity.accounts import audit
from gridcity.accounts.models import Department, Role
from gridcity.campaigns import actions
from gridcity.campaigns.ledger_io import do_import_ledger, export_ledger_xlsx
from gridcity.campaigns.ledger_workflow import BY_ACTION, CENTRE, FOLLOW_EVENTS
from gridcity.campaigns.models import (
    Campaign,
    ClosedCasePolicy,
    EvidencePhoto,
    LedgerStatus,
    LedgerSupervision,
)
from gridcity.campaigns.progress import campaign_progress, daily_series, weekly_series
from gridcity.grids.models import Area, AreaLevel
from gridcity.lib.bounds import date_or_none
from gridcity.lib.errors import CaseError
from gridcity.taxonomy.models import Category

EVENT_LABELS = {
    "create": _("录入"),
    "attach": _("补充照片"),
    "supervise": _("逾期督办"),
    "mark_overdue": _("逾期"),
    **FOLLOW_EVENTS,
}
STAFF = CENTRE | {Role.INTAKE, Role.INSPECTOR, Role.HANDLER, Role.DEPT_LEAD}


def _role(request) -> str:
    return actions.effective_role(request.user)


def _staff_only(request) -> None:
    if _role(request) not in STAFF:
        raise PermissionDenied(_g("您的角色不能查看专项整治"))


def _centre_only(request) -> None:
    if _role(request) not in CENTRE:
        raise PermissionDenied(_g("只有指挥中心、值班长或领导可以执行此操作"))


def _photos(request: HttpRequest, name: str = "photos") -> list[tuple[str, bytes]]:
    return [(f.name, f.read()) for f in request.FILES.getlist(name)]


def _date(value: str | None) -> date | None:
    return date_or_none(value)


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


@login_required
def campaign_list(request: HttpRequest) -> HttpResponse:
    _staff_only(request)
    archived = request.GET.get("archived") == "1"
    campaigns = Campaign.objects.filter(archived_at__isnull=not archived)
    campaigns = campaigns.select_related("lead_department").prefetch_related("categories")
    items = [(c, campaign_progress(c)) for c in campaigns]
    ctx = {"items": items, "may_manage": _role(request) in CENTRE, "archived": archived}
    return render(request, "campaigns/list.html", ctx)


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
    rows = campaign.ledger_rows.filter(lon__isnull=False).exclude(status=LedgerStatus.CANCELLED)
    # The campaign's key too: the related manager sets each row's campaign from it, and a
    # deferred key would be read back one row at a time.
    rows = rows.only("pk", "campaign", "number", "lon", "lat", "status", "description")
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
                    "properties": {
                        "kind": "rebound",
                        "name": _g("反弹预警：%(cell)s") % {"cell": w.cell.name},
                    },
                }
            )
    return {"type": "FeatureCollection", "features": features}


@login_required
def board(request: HttpRequest, pk: int) -> HttpResponse:
    _staff_only(request)
    campaign = get_object_or_404(Campaign.objects.select_related("lead_department"), pk=pk)
    progress = campaign_progress(campaign)
    today = timezone.localdate()
    manage = _role(request) in CENTRE and campaign.archived_at is None
    ctx = {
        "campaign": campaign,
        "p": progress,
        "may_edit": manage,
        "may_end": manage and campaign.starts_on <= today < campaign.ends_on,
        "may_archive": manage and campaign.ends_on < today,
        "history": _history(campaign) if _role(request) in CENTRE else [],
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


def _history(campaign: Campaign) -> list:
    """The campaign's 操作记录, each change of an edit spelled out (field: before → after)."""
    entries = list(audit.history_of(campaign)[:50])
    for e in entries:
        changes = e.data.get("changes") or {}
        e.lines = [
            (Campaign._meta.get_field(k).verbose_name, before, after)
            for k, (before, after) in changes.items()
        ]
    return entries


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
        title = _g("%(name)s整改台账") % {"name": campaign.name if campaign else _g("问题清单")}
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
        "bulk_actions": [
            ("start", BY_ACTION["start"].label),
            ("submit", BY_ACTION["submit"].label),
        ],
        "query": request.GET.urlencode(),
    }
    return render(request, "campaigns/ledger.html", ctx)


@login_required
@require_POST
def ledger_import(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign, pk=pk)
    upload = request.FILES.get("file")
    if upload is None:
        messages.error(request, _g("请选择 XLSX 文件"))
        return redirect("campaigns:ledger", pk=pk)
    try:
        rows = do_import_ledger(upload.read(), acting_user=request.user, campaign=campaign)
    except CaseError as exc:
        errors = exc.extra.get("errors") or []
        messages.error(request, _g("导入失败，未导入任何数据：%(error)s") % {"error": exc.message})
        for e in errors[1:10]:
            where = _g("第%(line)s行第%(column)s列") % {"line": e["line"], "column": e["column"]}
            if e["header"]:
                where += _g("（%(header)s）") % {"header": e["header"]}
            messages.error(
                request, _g("%(where)s：%(message)s") % {"where": where, "message": e["message"]}
            )
        return redirect("campaigns:ledger", pk=pk)
    messages.success(request, _g("已导入 %(n)s 条问题") % {"n": len(rows)})
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
            failed.append(_g("#%(row)s：%(error)s") % {"row": row_id, "error": exc.message})
    if done:
        messages.success(request, _g("已处理 %(n)s 条") % {"n": done})
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
                messages.success(request, _g("照片已上传"))
            else:
                actions.do_transition_ledger_row(
                    row,
                    request.POST.get("action", ""),
                    acting_user=request.user,
                    note=request.POST.get("note", ""),
                    deadline=_date(request.POST.get("deadline")),
                    photos=_photos(request),
                )
                messages.success(request, _g("已提交"))
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
        raise Http404(_g("文件不存在"))
    if p.row_id and not actions.ledger_rows_visible_to(request.user).filter(pk=p.row_id).exists():
        raise Http404(_g("文件不存在"))
    if p.finding_id and _role(request) in (Role.HANDLER, Role.DEPT_LEAD):
        raise Http404(_g("文件不存在"))
    try:
        handle = p.file.open("rb")
    except FileNotFoundError as exc:
        raise Http404(_g("文件不存在")) from exc
    resp = FileResponse(handle, content_type=p.content_type)
    resp["Cache-Control"] = "private, max-age=3600"
    resp["X-Content-Type-Options"] = "nosniff"
    return resp


ISO_DATE = {"type": "date"}


class CampaignForm(forms.Form):
    """Launch or edit a campaign. Categories and areas are picked by name: categories grouped
    by the taxonomy's classes, areas as streets with their communities."""

    name = forms.CharField(label=_("整治主题"), max_length=100)
    # A date input takes ISO dates only, whatever the locale's format.
    starts_on = forms.DateField(
        label=_("开始日期"), widget=forms.DateInput(attrs=ISO_DATE, format="%Y-%m-%d")
    )
    ends_on = forms.DateField(
        label=_("结束日期"), widget=forms.DateInput(attrs=ISO_DATE, format="%Y-%m-%d")
    )
    categories = forms.ModelMultipleChoiceField(
        label=_("整治类别"),
        queryset=Category.objects.filter(is_active=True),
        error_messages={
            "required": _("请至少选择一个整治类别"),
            "invalid_choice": _("所选类别不存在：%(value)s"),
            "invalid_pk_value": _("所选类别不存在：%(pk)s"),
        },
    )
    areas = forms.ModelMultipleChoiceField(
        label=_("整治区域"),
        queryset=Area.objects.filter(level__lt=AreaLevel.CELL, is_active=True),
        help_text=_("选街道即包含其下全部社区和网格。"),
        error_messages={
            "required": _("请至少选择一个整治区域"),
            "invalid_choice": _("所选区域不存在：%(value)s"),
            "invalid_pk_value": _("所选区域不存在：%(pk)s"),
        },
    )
    lead_department = forms.ModelChoiceField(
        label=_("牵头部门"),
        queryset=Department.objects.filter(is_active=True),
        required=False,
        error_messages={"invalid_choice": _("所选部门不存在")},
    )
    member_departments = forms.ModelMultipleChoiceField(
        label=_("配合部门"),
        queryset=Department.objects.filter(is_active=True),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 5}),
        error_messages={"invalid_choice": _("所选部门不存在：%(value)s")},
    )
    goals = forms.CharField(
        label=_("整治目标"), widget=forms.Textarea(attrs={"rows": 3}), required=False
    )
    ledger_from_cases = forms.BooleanField(
        label=_("纳入的案件自动生成整改台账"), required=False, initial=True
    )
    closed_cases = forms.ChoiceField(
        label=_("纳入时已结案的案件"),
        choices=ClosedCasePolicy.choices,
        initial=ClosedCasePolicy.AWAIT,
        required=False,
        widget=forms.RadioSelect,
        help_text=_("整治期间结案的案件，其台账自动转为待验收（选“直接销号”则自动销号）。"),
    )
    default_days = forms.IntegerField(
        label=_("默认整改天数"), min_value=1, max_value=365, initial=7
    )
    rebound_days = forms.IntegerField(
        label=_("反弹观察期（天）"), min_value=0, max_value=365, initial=30
    )

    PICKERS = ("categories", "areas")

    def clean(self):
        d = super().clean()
        if d.get("starts_on") and d.get("ends_on") and d["ends_on"] < d["starts_on"]:
            self.add_error("ends_on", _("结束日期不能早于开始日期"))
        d["closed_cases"] = d.get("closed_cases") or ClosedCasePolicy.AWAIT
        return d

    def _picked(self, name: str) -> set[str]:
        value = self[name].value() or []
        return {str(getattr(v, "pk", v)) for v in value}

    def category_groups(self) -> list[dict]:
        """[{label, items: [{pk, code, name, checked}], picked}] by kind and major class."""
        picked = self._picked("categories")
        groups: dict[tuple, dict] = {}
        cats = Category.objects.filter(is_active=True).order_by("-kind", "major_code", "code")
        for c in cats.only("pk", "kind", "code", "name", "major_code", "major_name"):
            key = (c.kind, c.major_code)
            g = groups.setdefault(
                key,
                {
                    "label": f"{c.get_kind_display()} · {c.major_code} {c.major_name}",
                    "items": [],
                    "picked": 0,
                },
            )
            checked = str(c.pk) in picked
            g["items"].append({"pk": c.pk, "code": c.code, "name": c.name, "checked": checked})
            g["picked"] += checked
        return list(groups.values())

    def area_groups(self) -> list[dict]:
        """[{street, checked, communities: [{pk, name, checked}], picked}] under the district."""
        picked = self._picked("areas")
        areas = Area.objects.filter(level__lt=AreaLevel.CELL, is_active=True).order_by("code")
        streets: dict[int, dict] = {}
        others = []
        for a in areas.only("pk", "name", "code", "level", "parent_id"):
            item = {"pk": a.pk, "name": a.name, "checked": str(a.pk) in picked}
            if a.level == AreaLevel.STREET:
                streets[a.pk] = {**item, "communities": [], "picked": item["checked"]}
            elif a.level == AreaLevel.COMMUNITY and a.parent_id in streets:
                streets[a.parent_id]["communities"].append(item)
                streets[a.parent_id]["picked"] += item["checked"]
            else:
                others.append(item)  # the district itself (the whole city)
        return [{"district": o} for o in others] + list(streets.values())


def _campaign_initial(campaign: Campaign) -> dict:
    return {
        "name": campaign.name,
        "starts_on": campaign.starts_on,
        "ends_on": campaign.ends_on,
        "categories": list(campaign.categories.values_list("pk", flat=True)),
        "areas": list(campaign.areas.values_list("pk", flat=True)),
        "lead_department": campaign.lead_department_id,
        "member_departments": list(campaign.member_departments.values_list("pk", flat=True)),
        "goals": campaign.goals,
        "ledger_from_cases": campaign.ledger_from_cases,
        "closed_cases": campaign.closed_cases,
        "default_days": campaign.default_days,
        "rebound_days": campaign.rebound_days,
    }


def _form_error(form: forms.Form, exc: CaseError) -> None:
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)


@login_required
def campaign_create(request: HttpRequest) -> HttpResponse:
    _centre_only(request)
    form = CampaignForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            campaign = actions.do_create_campaign(acting_user=request.user, **form.cleaned_data)
        except CaseError as exc:
            _form_error(form, exc)
        else:
            n = campaign.tags.count()
            messages.success(
                request,
                _("已发起“%(name)s”，已纳入 %(n)s 件案件") % {"name": campaign.name, "n": n},
            )
            return redirect("campaigns:board", pk=campaign.pk)
    return render(request, "campaigns/create.html", {"form": form, "campaign": None})


@login_required
def campaign_edit(request: HttpRequest, pk: int) -> HttpResponse:
    _centre_only(request)
    campaign = get_object_or_404(Campaign, pk=pk)
    if campaign.archived_at is not None:
        messages.error(request, _("已归档的专项整治不能修改"))
        return redirect("campaigns:board", pk=pk)
    form = CampaignForm(request.POST or None, initial=_campaign_initial(campaign))
    if request.method == "POST" and form.is_valid():
        try:
            _c, changes = actions.do_update_campaign(
                campaign, acting_user=request.user, **form.cleaned_data
            )
        except CaseError as exc:
            _form_error(form, exc)
        else:
            if changes:
                messages.success(request, _("已保存修改"))
            else:
                messages.info(request, _("没有修改"))
            return redirect("campaigns:board", pk=pk)
    return render(request, "campaigns/create.html", {"form": form, "campaign": campaign})


@login_required
@require_POST
def campaign_end(request: HttpRequest, pk: int) -> HttpResponse:
    _centre_only(request)
    campaign = get_object_or_404(Campaign, pk=pk)
    try:
        actions.do_end_campaign(
            campaign, acting_user=request.user, note=request.POST.get("note", "")
        )
    except CaseError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("整治已结束，开始反弹观察"))
    return redirect("campaigns:board", pk=pk)


@login_required
@require_POST
def campaign_archive(request: HttpRequest, pk: int) -> HttpResponse:
    _centre_only(request)
    campaign = get_object_or_404(Campaign, pk=pk)
    try:
        actions.do_archive_campaign(campaign, acting_user=request.user)
    except CaseError as exc:
        messages.error(request, exc.message)
        return redirect("campaigns:board", pk=pk)
    messages.success(request, _("已归档“%(name)s”") % {"name": campaign.name})
    return redirect("campaigns:list")
