from django.contrib import admin, messages
from django.utils import timezone
from django.utils.translation import gettext_lazy

from gridcity.open311.keys import keys_changed
from gridcity.open311.models import ApiKey, Delivery, DeliveryAttempt, EventType, Subscription
from gridcity.open311.webhooks import forget_subscriptions, send_test_event


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "prefix",
        "may_see_internal",
        "reads_per_minute",
        "writes_per_minute",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = ["may_see_internal"]
    readonly_fields = ["name", "prefix", "key_hash", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        # The raw key is shown once, by `gridcity open311-key create NAME`.
        return False

    @admin.action(description=gettext_lazy("吊销所选密钥"))
    def revoke(self, request, queryset):
        n = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        keys_changed()  # an update() sends no save signal
        self.message_user(request, f"已吊销 {n} 个密钥")


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ["name", "url", "is_active", "consecutive_failures", "disabled_at"]
    list_filter = ["is_active"]
    readonly_fields = ["consecutive_failures", "disabled_at", "created_at"]
    actions = ["send_test", "reactivate"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.base_fields["event_types"].help_text = "JSON 列表，可选：" + "、".join(
            v for v in EventType.values if v != EventType.PING
        )
        return form

    @admin.action(description=gettext_lazy("发送测试事件"))
    def send_test(self, request, queryset):
        for sub in queryset:
            send_test_event(sub)
        self.message_user(request, f"已向 {queryset.count()} 个订阅发送测试事件", messages.SUCCESS)

    @admin.action(description=gettext_lazy("重新启用（清零失败计数）"))
    def reactivate(self, request, queryset):
        queryset.update(is_active=True, consecutive_failures=0, disabled_at=None)
        forget_subscriptions()  # an update() sends no save signal


class AttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    readonly_fields = ["number", "at", "status_code", "error", "duration_ms", "succeeded"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["event_type", "subscription", "case_number", "status", "attempts", "created_at"]
    list_filter = ["status", "event_type", "subscription"]
    search_fields = ["case_number", "event_id"]
    readonly_fields = [f.name for f in Delivery._meta.fields]
    inlines = [AttemptInline]

    def has_add_permission(self, request) -> bool:
        return False
