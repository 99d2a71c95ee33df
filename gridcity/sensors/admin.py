from django.contrib import admin, messages
from django.utils.translation import gettext_lazy

from gridcity.sensors.actions import do_rotate_device_token
from gridcity.sensors.models import Device, SensorWarning


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "kind", "state", "cell", "interval_s", "last_seen_at"]
    list_filter = ["kind", "state"]
    search_fields = ["code", "name", "place"]
    raw_id_fields = ["component", "cell"]
    readonly_fields = ["token_prefix", "last_seen_at", "created_at"]
    exclude = ["token_hash"]
    actions = ["rotate_token"]

    @admin.action(description=gettext_lazy("重新生成设备令牌（新令牌只显示一次）"))
    def rotate_token(self, request, queryset):
        for device in queryset:
            raw = do_rotate_device_token(device, acting_user=request.user)
            self.message_user(request, f"{device.code} 的新令牌：{raw}", messages.WARNING)


@admin.register(SensorWarning)
class SensorWarningAdmin(admin.ModelAdmin):
    list_display = ["device", "label", "state", "opened_at", "cleared_at", "case"]
    list_filter = ["state", "rule"]
    search_fields = ["device__code", "reason"]
    raw_id_fields = ["device", "case"]
    readonly_fields = [f.name for f in SensorWarning._meta.fields]

    def has_add_permission(self, request):
        return False
