from django.contrib import admin

from gridcity.publicity.models import Exposure


@admin.register(Exposure)
class ExposureAdmin(admin.ModelAdmin):
    """Read-only: every change goes through the 曝光台's actions, which write the audit rows."""

    list_display = ("title", "kind", "tone", "state", "department", "published_at")
    list_filter = ("state", "tone", "kind")
    search_fields = ("title", "case__number")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
