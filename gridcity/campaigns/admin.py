from django.contrib import admin
from django.utils import timezone

from gridcity.campaigns import models
from gridcity.campaigns.actions import tag_campaign


@admin.register(models.Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "starts_on", "ends_on", "lead_department"]
    filter_horizontal = ["categories", "member_departments"]
    autocomplete_fields = ["areas"]
    exclude = ["created_by", "created_at"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by, obj.created_at = request.user, timezone.now()
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        # Categories and areas are saved only now; tag the cases they cover (idempotent).
        super().save_related(request, form, formsets, change)
        tag_campaign(form.instance)


class ChecklistInline(admin.TabularInline):
    model = models.ChecklistItem
    extra = 1


@admin.register(models.InspectionPlan)
class InspectionPlanAdmin(admin.ModelAdmin):
    list_display = ["name", "method", "openness", "scope", "frequency", "owner", "area"]
    list_filter = ["method", "openness", "scope", "frequency"]
    inlines = [ChecklistInline]
    autocomplete_fields = ["area"]
    exclude = ["created_at"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_at = timezone.now()
        super().save_model(request, obj, form, change)


class ReadOnly(admin.ModelAdmin):
    """Domain rows change only through actions: the admin shows them."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(models.LedgerRow)
class LedgerRowAdmin(ReadOnly):
    list_display = ["number", "campaign", "department", "deadline", "status"]
    list_filter = ["status", "source", "campaign"]
    search_fields = ["number", "description"]


@admin.register(models.Inspection)
class InspectionAdmin(ReadOnly):
    list_display = ["number", "plan", "inspector", "scheduled_for", "status"]


@admin.register(models.RectificationNotice)
class NoticeAdmin(ReadOnly):
    list_display = ["number", "department", "deadline", "closed_at"]


@admin.register(models.ReboundWarning)
class ReboundAdmin(ReadOnly):
    list_display = ["campaign", "cell", "case", "detected_at"]


@admin.register(models.LedgerSupervision)
class LedgerSupervisionAdmin(ReadOnly):
    list_display = ["number", "row", "missed_deadline", "case_order", "created_at"]
