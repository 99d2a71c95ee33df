from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext, gettext_lazy

from gridcity.dispatch.actions import decide_for
from gridcity.dispatch.models import ResponsibilityRule
from gridcity.grids.actions import locate
from gridcity.grids.models import Area, Component
from gridcity.lib.coords import CRS, to_wgs84
from gridcity.taxonomy.actions import resolve_category
from gridcity.taxonomy.models import Category, CategoryKind, FilingCondition

CRS_CHOICES = [
    (CRS.WGS84.value, "WGS84（GPS 原始坐标）"),
    (CRS.GCJ02.value, "GCJ-02（高德、腾讯地图）"),
    (CRS.BD09.value, "BD-09（百度地图）"),
]
SOURCE_LABELS = {
    "rule": "责任规则",
    "component_owner": "部件权属单位",
    "territorial": "属地兜底",
    "none": "无法自动派遣",
}


class ResponsibilityRuleForm(forms.ModelForm):
    class Meta:
        model = ResponsibilityRule
        fields = (
            "category",
            "major_code",
            "kind",
            "area",
            "filing_condition",
            "department",
            "priority",
            "is_active",
            "note",
        )

    def clean(self):
        data = super().clean()
        category = data.get("category")
        major = (data.get("major_code") or "").strip()
        condition = data.get("filing_condition")
        kind = (data.get("kind") or "").strip()
        if category is not None and major and major != category.major_code:
            self.add_error(
                "major_code",
                gettext("小类 %(code)s 属于大类 %(major_code)s")
                % {"code": category.code, "major_code": category.major_code},
            )
        if major and not (major.isdigit() and len(major) == 2):
            self.add_error("major_code", gettext("大类代码应为2位数字"))
        if kind and kind not in CategoryKind.values:
            self.add_error("kind", gettext("类型应为 component（部件）或 matter（事件），或留空"))
        if condition is not None and condition.category_id != getattr(category, "pk", None):
            self.add_error("filing_condition", gettext("立案条件必须属于所选小类"))
        return data


def _condition_label(fc: FilingCondition) -> str:
    return f"{fc.category.code} {fc.category.name} · {fc.text}"


class PointTestForm(forms.Form):
    category = forms.CharField(
        label=gettext_lazy("问题类别"),
        help_text=gettext_lazy(
            "小类代码，如 06042；部件与事件同码时写 component:01002 或 matter:01002。"
        ),
        widget=forms.TextInput(attrs={"list": "category-options", "autocomplete": "off"}),
    )
    lon = forms.FloatField(
        label=gettext_lazy("经度"),
        min_value=-180,
        max_value=180,
        error_messages={
            "invalid": "经度必须是有限数字",
            "required": "请填写经度",
            "min_value": "经度超出范围，应在 -180 到 180 之间",
            "max_value": "经度超出范围，应在 -180 到 180 之间",
        },
    )
    lat = forms.FloatField(
        label=gettext_lazy("纬度"),
        min_value=-90,
        max_value=90,
        error_messages={
            "invalid": "纬度必须是有限数字",
            "required": "请填写纬度",
            "min_value": "纬度超出范围，应在 -90 到 90 之间",
            "max_value": "纬度超出范围，应在 -90 到 90 之间",
        },
    )
    crs = forms.ChoiceField(
        label=gettext_lazy("坐标系"), choices=CRS_CHOICES, initial=CRS.WGS84.value
    )
    filing_condition = forms.ModelChoiceField(
        FilingCondition.objects.select_related("category").order_by(
            "category__kind", "category__code", "order", "pk"
        ),
        label=gettext_lazy("立案条件"),
        required=False,
        empty_label=gettext_lazy("（不指定）"),
    )
    component = forms.CharField(
        label=gettext_lazy("部件标识码"),
        required=False,
        help_text=gettext_lazy("可选：17位部件标识码，部件问题按权属单位派遣。"),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["filing_condition"].label_from_instance = _condition_label

    def clean_category(self) -> Category:
        ref = self.cleaned_data["category"].strip()
        category = resolve_category(ref)
        if category is None:
            raise forms.ValidationError(gettext("类别“%(ref)s”不存在或未启用") % {"ref": ref})
        return category

    def clean_component(self) -> Component | None:
        code = self.cleaned_data["component"].strip()
        if not code:
            return None
        component = (
            Component.objects.select_related("owner", "maintainer", "category")
            .filter(code=code)
            .first()
        )
        if component is None:
            raise forms.ValidationError(gettext("部件 %(code)s 不存在") % {"code": code})
        return component

    def clean(self):
        data = super().clean()
        category = data.get("category")
        condition = data.get("filing_condition")
        if category is not None and condition is not None and condition.category_id != category.pk:
            self.add_error(
                "filing_condition",
                gettext("该立案条件不属于类别 %(code)s %(name)s")
                % {"code": category.code, "name": category.name},
            )
        return data


def probe_point(data: dict) -> dict:
    """Where a point falls and who would get a report there, as the intake would decide."""
    lon, lat = to_wgs84(data["lon"], data["lat"], data["crs"])
    location = locate(lon, lat)
    cell = Area.objects.filter(pk=location.cell_id).first() if location.located else None
    chain = cell.ancestors() if cell else []
    decision = decide_for(
        data["category"], location.path, data.get("filing_condition"), data.get("component")
    )
    rule = None
    if decision.rule_id:
        rule = ResponsibilityRule.objects.filter(pk=decision.rule_id).first()
    return {
        "wgs84": (lon, lat),
        "converted": data["crs"] != CRS.WGS84.value,
        "cell": cell,
        "chain": chain,
        "decision": decision,
        "source_label": SOURCE_LABELS.get(decision.source, decision.source),
        "explanation": decision.explanation(),
        "rule": rule,
        "rule_url": (
            reverse("admin:dispatch_responsibilityrule_change", args=[rule.pk]) if rule else None
        ),
    }


@admin.register(ResponsibilityRule)
class ResponsibilityRuleAdmin(admin.ModelAdmin):
    form = ResponsibilityRuleForm
    list_display = (
        "pk",
        "what",
        "kind",
        "area",
        "filing_condition",
        "department",
        "priority",
        "is_active",
        "note",
    )
    list_display_links = ("pk", "what")
    list_filter = ("is_active", "department", "kind", "major_code")
    search_fields = (
        "category__code",
        "category__name",
        "major_code",
        "area__code",
        "area__name",
        "department__name",
        "note",
    )
    list_select_related = ("category", "area", "filing_condition", "department")
    autocomplete_fields = ("category", "area", "filing_condition", "department")
    change_list_template = "admin/dispatch/responsibilityrule/change_list.html"

    @admin.display(description=gettext_lazy("类别"), ordering="category__code")
    def what(self, obj: ResponsibilityRule) -> str:
        if obj.category_id:
            return f"{obj.category.code} {obj.category.name}"
        if obj.major_code:
            return f"大类 {obj.major_code}"
        return "所有类别"

    def get_urls(self):
        return [
            path(
                "test-point/",
                self.admin_site.admin_view(self.test_point_view),
                name="dispatch_responsibilityrule_test_point",
            ),
            *super().get_urls(),
        ]

    def test_point_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        result = None
        # GET with parameters, so a result can be linked to and reloaded.
        form = PointTestForm(request.GET if "lon" in request.GET else None)
        if form.is_bound and form.is_valid():
            result = probe_point(form.cleaned_data)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "派遣测试：某点某类问题派给谁",
            "form": form,
            "result": result,
            "categories": Category.objects.filter(is_active=True).only("kind", "code", "name"),
        }
        return TemplateResponse(
            request, "admin/dispatch/responsibilityrule/test_point.html", context
        )
