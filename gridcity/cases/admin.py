"""Cases are read here, never written: every change goes through the workflow actions, which
lock the row, stamp the milestone and write the event that evaluation counts."""

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy

from gridcity.cases.models import Attachment, Case, CaseEvent, Report, SupervisionOrder


class ReadOnlyMixin:
    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class CaseEventInline(ReadOnlyMixin, admin.TabularInline):
    model = CaseEvent
    extra = 0
    can_delete = False
    fields = (
        "at",
        "action",
        "from_status",
        "to_status",
        "actor",
        "actor_role",
        "department",
        "step",
        "overdue",
        "note",
    )
    readonly_fields = fields
    ordering = ("at", "pk")

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("actor", "department")


@admin.register(Case)
class CaseAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        "number",
        "status",
        "category",
        "department",
        "channel",
        "cell",
        "reported_at",
        "is_urgent",
        "supervision_level",
    )
    list_filter = ("status", "channel", "is_urgent", "supervision_level", "department")
    search_fields = ("number", "address", "description", "reporter_name")
    list_select_related = ("category", "department", "cell")
    date_hierarchy = "reported_at"
    # Read-only pages render no widgets, but should someone allow changes, never a select of
    # every cell.
    raw_id_fields = (
        "cell",
        "component",
        "merged_into",
        "assignee",
        "reporter",
        "filing_condition",
    )
    inlines = (CaseEventInline,)
    fieldsets = (
        (None, {"fields": ("number", "status", "channel", "category", "filing_condition")}),
        ("位置", {"fields": ("address", "lon", "lat", "cell", "component")}),
        (
            "派遣",
            {"fields": ("department", "suggested_department", "dispatch_reason", "assignee")},
        ),
        ("描述", {"fields": ("description", "reporter", "reporter_name", "reporter_phone")}),
        (
            "时间",
            {
                "fields": (
                    "reported_at",
                    "filed_at",
                    "dispatched_at",
                    "signed_at",
                    "handled_at",
                    "checked_at",
                    "closed_at",
                    "handle_deadline",
                    "step",
                    "step_deadline",
                    "step_overdue_at",
                )
            },
        ),
        (
            "统计",
            {
                "fields": (
                    "is_urgent",
                    "verified",
                    "supervision_level",
                    "rework_count",
                    "return_count",
                    "merged_into",
                )
            },
        ),
    )
    readonly_fields = ("dispatch_reason",)

    @admin.display(description=gettext_lazy("派遣依据"))
    def dispatch_reason(self, obj: Case) -> str:
        return (obj.dispatch_explanation or {}).get("reason", "-")


@admin.register(CaseEvent)
class CaseEventAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("case", "action", "from_status", "to_status", "actor", "department", "at")
    list_filter = ("action", "overdue", "actor_role")
    search_fields = ("case__number", "note")
    list_select_related = ("case", "actor", "department")
    date_hierarchy = "at"


@admin.register(SupervisionOrder)
class SupervisionOrderAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        "number",
        "case",
        "kind",
        "level",
        "department",
        "step",
        "created_at",
        "reply_deadline",
        "replied_at",
    )
    list_filter = ("kind", "level", ("replied_at", admin.EmptyFieldListFilter), "department")
    search_fields = ("number", "case__number", "note", "reply")
    list_select_related = ("case", "department")
    date_hierarchy = "created_at"


@admin.register(Report)
class ReportAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("pk", "case", "channel", "reported_at", "input_crs", "is_duplicate")
    list_filter = ("channel", "is_duplicate", "input_crs")
    search_fields = ("case__number", "external_id", "description", "address")
    list_select_related = ("case",)
    date_hierarchy = "reported_at"


@admin.register(Attachment)
class AttachmentAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("pk", "case", "kind", "content_type", "size", "uploaded_by", "uploaded_at")
    list_filter = ("kind", "content_type")
    search_fields = ("case__number", "sha256")
    list_select_related = ("case", "uploaded_by")
    date_hierarchy = "uploaded_at"
