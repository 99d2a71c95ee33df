"""Turning posted office forms into action inputs. Only the shape of the input is checked
here (a number is a number, an id names a row); what the workflow requires is checked by the
actions, whose errors the pages show next to the field they name."""

from dataclasses import dataclass, field

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from gridcity.accounts.models import Department, DepartmentKind, Role, User
from gridcity.cases.actions import ReportInput, TransitionInput
from gridcity.cases.models import Case, Channel
from gridcity.cases.workflow import Transition
from gridcity.grids.models import Area, AreaLevel
from gridcity.lib.coords import CRS
from gridcity.lib.errors import InvalidInput
from gridcity.taxonomy.models import Category

MAX_PHOTOS = 6


def dispatchable_departments() -> QuerySet:
    return Department.objects.filter(is_active=True).exclude(kind=DepartmentKind.CENTRE)


def grid_managers() -> QuerySet:
    return User.objects.filter(role=Role.INSPECTOR, is_active=True).order_by("username")


def _float(raw: str, name: str, label: str) -> float | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError as exc:
        raise InvalidInput(_("%(label)s应为数字") % {"label": label}, field=name) from exc


def _int(raw: str, name: str, message: str) -> int | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise InvalidInput(message, field=name) from exc


def read_photos(files) -> list[tuple[str, bytes]]:
    uploads = [f for f in files.getlist("photos") if f and f.size]
    if len(uploads) > MAX_PHOTOS:
        raise InvalidInput(_("一次最多上传%(n)d张照片") % {"n": MAX_PHOTOS}, field="photos")
    return [(f.name, f.read()) for f in uploads]


def transition_input(t: Transition, case: Case, post, files, user: User) -> TransitionInput:
    """The inputs transition `t` takes, read from a posted form. Fields the transition does
    not take are ignored, so a board's one-click button and the case page's full form post
    to the same place."""
    data = TransitionInput(note=post.get("note", "").strip())
    needs = set(t.needs)
    if "department" in needs:
        dept_id = _int(post.get("department", ""), "department", _("请选择派遣部门"))
        if dept_id is not None:
            data.department = dispatchable_departments().filter(pk=dept_id).first()
            if data.department is None:
                raise InvalidInput(_("所选部门不存在"), field="department")
    if "filing_condition" in needs:
        fc_id = _int(post.get("filing_condition", ""), "filing_condition", _("请选择立案条件"))
        if fc_id is not None:
            data.filing_condition = case.category.conditions.filter(pk=fc_id).first()
            if data.filing_condition is None:
                raise InvalidInput(_("立案条件不属于该类别"), field="filing_condition")
    if "assignee" in needs:
        uid = _int(post.get("assignee", ""), "assignee", _("请选择一名网格员"))
        if uid is not None:
            data.assignee = grid_managers().filter(pk=uid).first()
            if data.assignee is None:
                raise InvalidInput(_("请选择一名网格员"), field="assignee")
    if "merge_into" in needs:
        number = post.get("merge_into", "").strip()
        if number:
            from gridcity.cases.scope import visible_to

            data.merge_into = visible_to(user).filter(number=number).first()
            if data.merge_into is None:
                raise InvalidInput(_("找不到案件 %(n)s") % {"n": number}, field="merge_into")
    if "extension" in needs:
        data.extension = post.get("extension", "").strip()
        if not data.extension:
            raise InvalidInput(_("请填写延期时长，如“2工作日”"), field="extension")
    if "verified" in needs:
        v = post.get("verified", "")
        data.verified = {"yes": True, "no": False}.get(v)
    if "lonlat" in needs:
        data.lon = _float(post.get("lon", ""), "lon", _("经度"))
        data.lat = _float(post.get("lat", ""), "lat", _("纬度"))
    if t.action in ("report_back", "verify", "check_pass", "check_fail"):
        data.photos = read_photos(files)
    return data


class HotlineForm(forms.Form):
    """A call typed in while the caller is on the line."""

    category = forms.ModelChoiceField(
        queryset=Category.objects.filter(is_active=True),
        label=gettext_lazy("问题类别"),
        error_messages={"required": gettext_lazy("请选择问题类别")},
    )
    area = forms.ModelChoiceField(
        queryset=Area.objects.filter(level__in=[AreaLevel.STREET, AreaLevel.COMMUNITY]),
        required=False,
        label=gettext_lazy("所在街道/社区"),
    )
    address = forms.CharField(max_length=300, required=False, label=gettext_lazy("地址"))
    lon = forms.FloatField(required=False, label=gettext_lazy("经度"))
    lat = forms.FloatField(required=False, label=gettext_lazy("纬度"))
    description = forms.CharField(
        max_length=4000,
        label=gettext_lazy("问题描述"),
        widget=forms.Textarea,
        error_messages={"required": gettext_lazy("请填写问题描述")},
    )
    reporter_name = forms.CharField(max_length=50, required=False, label=gettext_lazy("来电人"))
    reporter_phone = forms.CharField(max_length=32, required=False, label=gettext_lazy("来电号码"))

    def report_input(self) -> ReportInput:
        d = self.cleaned_data
        address = d["address"].strip()
        if d["area"] is not None and d["area"].name not in address:
            address = f"{d['area'].name} {address}".strip()
        return ReportInput(
            category=d["category"],
            channel=Channel.HOTLINE,
            lon=d["lon"],
            lat=d["lat"],
            crs=CRS.WGS84,
            address=address,
            description=d["description"].strip(),
            reporter_name=d["reporter_name"].strip(),
            reporter_phone=d["reporter_phone"].strip(),
        )


@dataclass
class FormErrors:
    """Errors of one posted form, by field, for the template to place."""

    form: str = ""  # which form on the page (an action name, "supervise", …)
    fields: dict[str, str] = field(default_factory=dict)
    general: str = ""
    values: dict[str, str] = field(default_factory=dict)

    KNOWN = (
        "note",
        "department",
        "filing_condition",
        "assignee",
        "merge_into",
        "extension",
        "verified",
        "lon",
        "lat",
        "photos",
        "reply",
        "kind",
    )

    @classmethod
    def from_error(cls, form: str, exc, values=None) -> "FormErrors":
        name = (exc.field or "").split("[", 1)[0]
        if name == "crs":
            name = "lon"
        errors = cls(form=form, values=dict(values or {}))
        if name in cls.KNOWN:
            errors.fields[name] = exc.message
        else:
            errors.general = exc.message
        return errors
