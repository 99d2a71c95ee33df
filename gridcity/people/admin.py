"""Configuration entry for the people app. Patrols and check-ins are read-only here: they come
from the phones. Pairings, score sheets, assessments, annual records, surveys and training are
created on the working pages through their actions (permission checks, audit rows); here they
may only be corrected, and each correction leaves an audit row too. A station activity's photo is
stripped of its metadata whichever way it arrives, as it is shown to the public."""

import uuid

from django import forms
from django.contrib import admin
from django.core.files.base import ContentFile

from gridcity.accounts import audit
from gridcity.cases.photos import PhotoError, check_photo
from gridcity.people import models as m


class CorrectOnlyAdmin(admin.ModelAdmin):
    """New records come from the working pages; a correction made here is audited."""

    def has_add_permission(self, request) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        audit.record(
            obj,
            "admin_change",
            actor=request.user,
            summary="在配置管理中修改："
            + "、".join(str(form.fields[f].label) for f in form.changed_data),
            data={"fields": list(form.changed_data)},
        )


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


@admin.register(m.CheckIn)
class CheckInAdmin(admin.ModelAdmin):
    """Check-ins come from the phones, like patrols: shown here, never written."""

    list_display = ["manager", "kind", "at", "received_at", "lon", "lat"]
    list_filter = ["kind"]
    date_hierarchy = "at"
    search_fields = ["manager__username", "manager__display_name"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(m.Pairing)
class PairingAdmin(CorrectOnlyAdmin):
    list_display = ["__str__", "starts_on", "ends_on", "visits_per_month"]
    autocomplete_fields = ["community"]
    raw_id_fields = ["leader"]


@admin.register(m.ScoreSheet)
class ScoreSheetAdmin(CorrectOnlyAdmin):
    list_display = ["name", "is_active"]


@admin.register(m.PairingAssessment)
class PairingAssessmentAdmin(CorrectOnlyAdmin):
    list_display = ["pairing", "year", "quarter", "total", "grade"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(m.AnnualRecord)
class AnnualRecordAdmin(CorrectOnlyAdmin):
    list_display = ["__str__", "year", "score", "grade"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(m.ManagerProfile)
class ManagerProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "hire_date", "phone"]
    raw_id_fields = ["user"]


@admin.register(m.TrainingSession)
class TrainingSessionAdmin(CorrectOnlyAdmin):
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
class SurveyAdmin(CorrectOnlyAdmin):
    list_display = ["title", "scale_max", "positive_from", "is_open"]


class StationActivityForm(forms.ModelForm):
    class Meta:
        model = m.StationActivity
        fields = [
            "station",
            "community",
            "kind",
            "theme",
            "held_at",
            "place",
            "attendance",
            "photo",
        ]

    def clean_photo(self):
        """Keep only the stripped copy of a newly uploaded photo (no EXIF GPS, no camera)."""
        photo = self.cleaned_data.get("photo")
        if not photo or photo == self.initial.get("photo"):
            return photo
        try:
            checked = check_photo(photo.read(), photo.name)
        except PhotoError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return ContentFile(checked.public_data, name=f"{uuid.uuid4().hex}.{checked.extension}")


@admin.register(m.StationActivity)
class StationActivityAdmin(admin.ModelAdmin):
    form = StationActivityForm
    list_display = ["theme", "station", "kind", "held_at", "attendance"]
    list_filter = ["kind"]

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        audit.record(
            obj,
            "admin_change" if change else "record_activity",
            actor=request.user,
            summary=("在配置管理中修改活动" if change else f"在配置管理中登记活动「{obj.theme}」"),
            data={"fields": list(form.changed_data)},
        )


@admin.register(m.Showcase)
class ShowcaseAdmin(admin.ModelAdmin):
    list_display = ["caption", "case", "is_published", "chosen_at"]
    raw_id_fields = ["case", "before", "after"]
    readonly_fields = ["chosen_by"]

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            obj.chosen_by = request.user
        super().save_model(request, obj, form, change)
