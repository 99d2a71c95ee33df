import csv
import tempfile
from datetime import date
from pathlib import Path

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext, gettext_lazy
from django.utils.translation import gettext as _

from gridcity.lib.workcalendar import format_time_limit
from gridcity.taxonomy.actions import (
    RowError,
    StandardsRejected,
    export_standards,
    import_standards,
    public_calendar,
)
from gridcity.taxonomy.calendar_import import (
    CALENDAR_FILE_SUFFIXES,
    CalendarRejected,
    import_calendar_days,
)
from gridcity.taxonomy.models import (
    CalendarDay,
    Category,
    FilingCondition,
    RecurringCalendarDay,
    StepLimit,
)

STEP_LABELS = {
    "verify": "核实",
    "file": "立案",
    "dispatch": "派遣",
    "sign": "签收",
    "handle": "处置（无立案条件时）",
    "check": "核查",
    "close": "结案",
}
STANDARDS_MAX_BYTES = 5 * 1024 * 1024
EXPORT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def official_calendar_warnings(today: date | None = None) -> list[str]:
    """One sentence per year (this one and the next) that the chinese_calendar package has no
    official holidays for. Such a year falls back to Monday–Friday, which is wrong around every
    holiday, so someone has to fill in the local calendar before the year starts."""
    today = today or timezone.localdate()
    years = public_calendar().years_without_holiday_data([today.year, today.year + 1])
    warnings = []
    for year in years:
        local = CalendarDay.objects.filter(date__year=year).count()
        entered = f"（本地工作日历已录入该年 {local} 天）" if local else ""
        warnings.append(
            f"官方节假日数据尚未包含 {year} 年：该年按周末休息计算，"
            f"请在本地工作日历中补充节假日和调休{entered}"
        )
    return warnings


class FilingConditionInline(admin.TabularInline):
    model = FilingCondition
    extra = 0
    fields = (
        "order",
        "text",
        "closing_condition",
        "handle_amount",
        "handle_clock",
        "handling_unit",
        "supervising_unit",
    )


class StandardsImportForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("立结案标准文件"),
        help_text=gettext_lazy(
            "9列模板（大类代码、大类名称、小类代码、小类名称、处置单位、主管部门、"
            "立案条件、结案条件、处置时限），CSV（UTF-8）或 XLSX。有任何错误则全部不导入。"
        ),
    )

    def clean_file(self):
        f = self.cleaned_data["file"]
        if Path(f.name).suffix.lower() not in (".csv", ".xlsx"):
            raise forms.ValidationError(gettext("只接受 .csv 或 .xlsx 文件"))
        if f.size > STANDARDS_MAX_BYTES:
            raise forms.ValidationError(gettext("文件过大（最大 5 MB）"))
        return f


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = (
        "code",
        "name",
        "kind",
        "major_code",
        "major_name",
        "condition_count",
        "is_local",
        "place_free",
        "is_active",
    )
    list_filter = ("kind", "is_local", "place_free", "is_active", "major_name")
    search_fields = ("code", "name", "keywords", "legacy_code")
    inlines = (FilingConditionInline,)
    list_per_page = 100
    change_list_template = "admin/taxonomy/category/change_list.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Category]:
        return super().get_queryset(request).annotate(n_conditions=Count("conditions"))

    @admin.display(description=gettext_lazy("立案条件数"), ordering="n_conditions")
    def condition_count(self, obj: Category) -> int:
        return obj.n_conditions

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "standards/export/<str:fmt>/",
                view(self.export_standards_view),
                name="taxonomy_category_export_standards",
            ),
            path(
                "standards/import/",
                view(self.import_standards_view),
                name="taxonomy_category_import_standards",
            ),
            *super().get_urls(),
        ]

    def export_standards_view(self, request: HttpRequest, fmt: str) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        if fmt not in EXPORT_TYPES:
            self.message_user(request, f"不支持的格式：{fmt}（csv 或 xlsx）", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:taxonomy_category_changelist"))
        response = HttpResponse(export_standards(fmt), content_type=EXPORT_TYPES[fmt])
        stamp = timezone.localdate().strftime("%Y%m%d")
        response["Content-Disposition"] = content_disposition_header(
            True, f"立结案标准_{stamp}.{fmt}"
        )
        return response

    def import_standards_view(self, request: HttpRequest) -> HttpResponse:
        if not (self.has_add_permission(request) and self.has_change_permission(request)):
            raise PermissionDenied
        errors: list[RowError] = []
        if request.method == "POST":
            form = StandardsImportForm(request.POST, request.FILES)
            if form.is_valid():
                upload = form.cleaned_data["file"]
                try:
                    result = _import_upload(upload)
                except StandardsRejected as exc:
                    errors = exc.errors
                else:
                    self.message_user(
                        request,
                        f"导入完成：新建 {result.created_conditions} 条立案条件，"
                        f"更新 {result.updated_conditions} 条，"
                        f"新建本地类别 {len(result.created_categories)} 个",
                        messages.SUCCESS,
                    )
                    return HttpResponseRedirect(reverse("admin:taxonomy_category_changelist"))
        else:
            form = StandardsImportForm()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "导入立结案标准",
            "form": form,
            "errors": errors,
        }
        return TemplateResponse(request, "admin/taxonomy/category/import_standards.html", context)


def _import_upload(upload):
    # read_table picks the format by suffix, so the temporary file keeps the upload's suffix.
    suffix = Path(upload.name).suffix.lower()
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / f"upload{suffix}"
        with target.open("wb") as out:
            for chunk in upload.chunks():
                out.write(chunk)
        try:
            return import_standards(target)
        except csv.Error as exc:
            raise StandardsRejected([RowError(1, "-", f"CSV 格式错误：{exc}")]) from exc


@admin.register(FilingCondition)
class FilingConditionAdmin(admin.ModelAdmin):
    list_display = (
        "category",
        "text",
        "time_limit",
        "closing_condition",
        "handling_unit",
        "supervising_unit",
    )
    list_filter = ("handle_clock", "handling_unit", "category__kind")
    search_fields = ("text", "category__code", "category__name", "handling_unit")
    list_select_related = ("category",)
    autocomplete_fields = ("category",)
    change_list_template = "admin/taxonomy/filingcondition/change_list.html"

    @admin.display(description=gettext_lazy("处置时限"))
    def time_limit(self, obj: FilingCondition) -> str:
        return obj.time_limit_text


class StepLimitForm(forms.ModelForm):
    step = forms.ChoiceField(label=gettext_lazy("环节"))

    class Meta:
        model = StepLimit
        fields = ("step", "amount", "clock")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["step"].choices = [
            (step, f"{STEP_LABELS.get(step, step)}（默认 {default}）")
            for step, default in settings.GRIDCITY_STEP_LIMITS.items()
        ]

    def clean_amount(self) -> float:
        amount = self.cleaned_data["amount"]
        if not amount or amount <= 0:
            raise forms.ValidationError(gettext("时限必须大于零"))
        return amount


@admin.register(StepLimit)
class StepLimitAdmin(admin.ModelAdmin):
    form = StepLimitForm
    list_display = ("step_label", "time_limit", "default_limit")

    @admin.display(description=gettext_lazy("环节"), ordering="step")
    def step_label(self, obj: StepLimit) -> str:
        return STEP_LABELS.get(obj.step, obj.step)

    @admin.display(description=gettext_lazy("时限"))
    def time_limit(self, obj: StepLimit) -> str:
        return format_time_limit(obj.amount, obj.clock)

    @admin.display(description=gettext_lazy("系统默认"))
    def default_limit(self, obj: StepLimit) -> str:
        return settings.GRIDCITY_STEP_LIMITS.get(obj.step, "-")


WEEKDAYS = "一二三四五六日"


@admin.register(CalendarDay)
class CalendarDayAdmin(admin.ModelAdmin):
    list_display = ("date", "weekday", "is_workday", "official", "note")
    change_list_template = "admin/taxonomy/calendarday/change_list.html"
    list_filter = ("is_workday",)
    search_fields = ("note",)
    date_hierarchy = "date"

    def changelist_view(self, request: HttpRequest, extra_context=None):
        for warning in official_calendar_warnings():
            self.message_user(request, warning, messages.WARNING)
        return super().changelist_view(request, extra_context)

    @admin.display(description=gettext_lazy("星期"))
    def weekday(self, obj: CalendarDay) -> str:
        return f"星期{WEEKDAYS[obj.date.weekday()]}"

    @admin.display(description=gettext_lazy("官方日历"))
    def official(self, obj: CalendarDay) -> str:
        calendar = public_calendar()
        if not calendar.holiday_data_covers(obj.date.year):
            return "未发布"
        return "上班" if calendar.is_workday(obj.date) else "休息"

    def get_urls(self):
        return [
            path(
                "import/",
                self.admin_site.admin_view(self.import_holidays_view),
                name="taxonomy_calendarday_import_holidays",
            ),
            *super().get_urls(),
        ]

    def import_holidays_view(self, request: HttpRequest) -> HttpResponse:
        if not (self.has_add_permission(request) and self.has_change_permission(request)):
            raise PermissionDenied
        errors: list[RowError] = []
        if request.method == "POST":
            form = HolidaysImportForm(request.POST, request.FILES)
            if form.is_valid():
                try:
                    result = _import_calendar_upload(form.cleaned_data["file"])
                except CalendarRejected as exc:
                    errors = exc.errors
                else:
                    self.message_user(
                        request,
                        _(
                            "导入完成：%(total)d 天，新建 %(created)d，更新 %(updated)d，未变 %(unchanged)d"
                        )
                        % {
                            "total": len(result.entries),
                            "created": result.created,
                            "updated": result.updated,
                            "unchanged": result.unchanged,
                        },
                        messages.SUCCESS,
                    )
                    return HttpResponseRedirect(reverse("admin:taxonomy_calendarday_changelist"))
        else:
            form = HolidaysImportForm()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("导入本地工作日历"),
            "form": form,
            "errors": errors,
        }
        return TemplateResponse(request, "admin/taxonomy/import_file.html", context)


class HolidaysImportForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("工作日历文件"),
        help_text=gettext_lazy(
            "CSV（UTF-8）或 XLSX：日期、类型（休息/上班）、说明三列，日期写 2026-07-04 为当天，"
            "写 07-04 为每年；或 ICS 日历：全天事件为休息日，每年重复的事件为每年的休息日。"
            "有任何错误则全部不导入。"
        ),
    )

    def clean_file(self):
        f = self.cleaned_data["file"]
        if Path(f.name).suffix.lower() not in CALENDAR_FILE_SUFFIXES:
            raise forms.ValidationError(_("只接受 .csv、.xlsx 或 .ics 文件"))
        if f.size > STANDARDS_MAX_BYTES:
            raise forms.ValidationError(_("文件过大（最大 5 MB）"))
        return f


def _import_calendar_upload(upload):
    # The reader picks the format by suffix, so the temporary file keeps the upload's suffix.
    suffix = Path(upload.name).suffix.lower()
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / f"upload{suffix}"
        with target.open("wb") as out:
            for chunk in upload.chunks():
                out.write(chunk)
        return import_calendar_days(target)


@admin.register(RecurringCalendarDay)
class RecurringCalendarDayAdmin(admin.ModelAdmin):
    list_display = ("month_day", "is_workday", "note")
    list_filter = ("is_workday", "month")
    search_fields = ("note",)

    @admin.display(description=gettext_lazy("日期（每年）"), ordering="month")
    def month_day(self, obj: RecurringCalendarDay) -> str:
        return f"{obj.month:02d}-{obj.day:02d}"
