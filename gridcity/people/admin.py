"""Configuration entry for the people app: pairings and score sheets, the team's records,
community rules, surveys and station activities. Patrols are read-only here: they come from
the phones."""

from django.contrib import admin

from gridcity.people import models as m


@admin.register(m.Patrol)
class PatrolAdmin(admin.ModelAdmin):
    list_display = [
        "manager",
        "beat",
        "started_at",
        "ended_at",
        "distance_m",
        "coverage",
        "points_flagged",
    ]
    list_filter = ["status", "beat"]
    date_hierarchy = "started_at"

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(m.Pairing)
class PairingAdmin(admin.ModelAdmin):
    list_display = ["__str__", "starts_on", "ends_on", "visits_per_month"]
    autocomplete_fields = ["community"]
    raw_id_fields = ["leader"]


@admin.register(m.ScoreSheet)
class ScoreSheetAdmin(admin.ModelAdmin):
    list_display = ["name", "is_active"]


@admin.register(m.PairingAssessment)
class PairingAssessmentAdmin(admin.ModelAdmin):
    list_display = ["pairing", "year", "quarter", "total", "grade"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(m.AnnualRecord)
class AnnualRecordAdmin(admin.ModelAdmin):
    list_display = ["__str__", "year"]


@admin.register(m.ManagerProfile)
class ManagerProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "hire_date", "phone"]
    raw_id_fields = ["user"]


@admin.register(m.TrainingSession)
class TrainingSessionAdmin(admin.ModelAdmin):
    list_display = ["title", "held_on", "place", "hours"]
    filter_horizontal = ["attendees"]


@admin.register(m.Qualification)
class QualificationAdmin(admin.ModelAdmin):
    list_display = ["user", "name", "issued_on", "expires_on"]
    raw_id_fields = ["user"]


@admin.register(m.Commendation)
class CommendationAdmin(admin.ModelAdmin):
    list_display = ["user", "title", "awarded_on"]
    raw_id_fields = ["user"]


@admin.register(m.VillageRule)
class VillageRuleAdmin(admin.ModelAdmin):
    list_display = ["community", "adopted_on"]
    autocomplete_fields = ["community"]


@admin.register(m.CivilisedFamily)
class CivilisedFamilyAdmin(admin.ModelAdmin):
    list_display = ["family", "community", "year"]
    autocomplete_fields = ["community"]


@admin.register(m.Survey)
class SurveyAdmin(admin.ModelAdmin):
    list_display = ["title", "scale_max", "positive_from", "is_open"]


@admin.register(m.StationActivity)
class StationActivityAdmin(admin.ModelAdmin):
    list_display = ["theme", "station", "kind", "held_at", "attendance"]
    list_filter = ["kind"]


@admin.register(m.Showcase)
class ShowcaseAdmin(admin.ModelAdmin):
    list_display = ["caption", "case", "is_published", "chosen_at"]
    raw_id_fields = ["case", "before", "after"]
    readonly_fields = ["chosen_by"]

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            obj.chosen_by = request.user
        super().save_model(request, obj, form, change)
