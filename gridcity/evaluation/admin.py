from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from gridcity.evaluation import sources
from gridcity.evaluation.models import (
    Appeal,
    AppealLog,
    EvaluationPeriod,
    Indicator,
    Scheme,
    SchemeDeduction,
    SchemeItem,
)


@admin.register(Indicator)
class IndicatorAdmin(admin.ModelAdmin):
    list_display = ["name", "key", "direction"]
    readonly_fields = ["key"]
    search_fields = ["name", "key"]


class SchemeItemInline(admin.TabularInline):
    model = SchemeItem
    extra = 0


def _source_choices() -> list[tuple[str, str]]:
    return [(s.key, f"{s.label}（{s.key}）") for s in sources.registered()]


class SchemeDeductionForm(forms.ModelForm):
    # The sources other apps registered when they started (see evaluation/sources.py).
    source = forms.ChoiceField(label=_("扣分来源"), choices=_source_choices)

    class Meta:
        model = SchemeDeduction
        fields = ["source", "points_per_unit", "cap"]


class SchemeDeductionInline(admin.TabularInline):
    model = SchemeDeduction
    form = SchemeDeductionForm
    extra = 0


@admin.register(Scheme)
class SchemeAdmin(admin.ModelAdmin):
    list_display = ["name", "unit_type", "is_active", "min_cases_to_rank"]
    list_filter = ["unit_type", "is_active"]
    inlines = [SchemeItemInline, SchemeDeductionInline]


@admin.register(EvaluationPeriod)
class EvaluationPeriodAdmin(admin.ModelAdmin):
    # Snapshots are written by do_freeze_period only; the admin shows them.
    list_display = ["key", "kind", "status", "frozen_at", "published_at"]
    readonly_fields = [f.name for f in EvaluationPeriod._meta.fields]

    def has_add_permission(self, request):
        return False


class AppealLogInline(admin.TabularInline):
    model = AppealLog
    extra = 0
    readonly_fields = ["actor", "at", "from_status", "to_status", "note"]
    can_delete = False


@admin.register(Appeal)
class AppealAdmin(admin.ModelAdmin):
    list_display = ["case", "department", "status", "filed_at", "decided_at"]
    list_filter = ["status"]
    readonly_fields = [f.name for f in Appeal._meta.fields]
    inlines = [AppealLogInline]

    def has_add_permission(self, request):
        return False
