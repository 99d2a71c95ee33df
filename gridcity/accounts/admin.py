import contextlib

from django.contrib import admin, messages
from django.contrib.admin.sites import NotRegistered
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy
from django_otp.plugins.otp_totp.models import TOTPDevice

from gridcity.accounts import audit_export
from gridcity.accounts.actions import (
    TokenNotUsable,
    do_disable_two_factor,
    do_revoke_token,
    do_rotate_token,
)
from gridcity.accounts.models import ApiToken, AuditEntry, Department, SignInEvent, User


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "kind", "parent", "phone", "is_active")
    list_filter = ("kind", "is_active")
    search_fields = ("code", "name")
    autocomplete_fields = ("parent",)
    list_select_related = ("parent",)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = (
        "username",
        "display_name",
        "role",
        "department",
        "jurisdiction",
        "is_active",
        "is_staff",
        "two_factor",
    )
    list_filter = ("role", "is_active", "is_staff", "is_superuser", "department")
    search_fields = ("username", "display_name", "phone", "email")
    list_select_related = ("department", "jurisdiction")
    # The jurisdiction is an area among ~12,000: never a select of all of them.
    autocomplete_fields = ("department", "jurisdiction")
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("个人信息", {"fields": ("display_name", "phone", "email")}),
        ("岗位", {"fields": ("role", "department", "jurisdiction")}),
        ("对接", {"fields": ("may_set_report_times",)}),
        (
            "权限",
            {
                "classes": ("collapse",),
                "fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions"),
            },
        ),
        ("重要日期", {"classes": ("collapse",), "fields": ("last_login", "date_joined")}),
    )
    actions = ("reset_two_factor",)
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": (
                    "username",
                    "usable_password",
                    "password1",
                    "password2",
                    "display_name",
                    "role",
                    "department",
                    "jurisdiction",
                    "phone",
                ),
            },
        ),
    )

    @admin.display(description=gettext_lazy("两步验证"), boolean=True)
    def two_factor(self, obj: User) -> bool:
        return obj.has_two_factor

    def get_queryset(self, request):
        enrolled = TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)
        return super().get_queryset(request).annotate(has_two_factor=Exists(enrolled))

    @admin.action(description=gettext_lazy("重置所选用户的两步验证（手机遗失时）"))
    def reset_two_factor(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        count = 0
        for user in queryset:
            if do_disable_two_factor(user, acting_user=request.user, reason="配置管理中重置"):
                count += 1
        self.message_user(
            request,
            f"已重置 {count} 个用户的两步验证；他们下次登录时重新绑定身份验证器",
            messages.SUCCESS,
        )

    reset_two_factor.audit_recorded = True


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are made with `gridcity create-token`, which shows the raw value once. The admin
    lists, rotates and revokes them; the stored hash is never displayed, and a rotated token's
    new value is shown once on the page that answers the rotation."""

    list_display = (
        "prefix",
        "user",
        "name",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    )
    list_filter = (("revoked_at", admin.EmptyFieldListFilter), "created_at", "expires_at")
    search_fields = ("prefix", "name", "user__username", "user__display_name")
    list_select_related = ("user",)
    fields = (
        "user",
        "name",
        "prefix",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
        "replaced_by",
    )
    readonly_fields = (
        "user",
        "prefix",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
        "replaced_by",
    )
    actions = ("revoke", "rotate")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description=gettext_lazy("吊销所选令牌"))
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        count = sum(do_revoke_token(t, acting_user=request.user) for t in queryset)
        self.message_user(request, f"已吊销 {count} 个令牌", messages.SUCCESS)

    revoke.audit_recorded = True

    @admin.action(description=gettext_lazy("轮换所选令牌（旧令牌在宽限期后失效）"))
    def rotate(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> HttpResponse | None:
        rotated, skipped = [], 0
        for token in queryset.select_related("user"):
            try:
                new, raw = do_rotate_token(token, acting_user=request.user)
            except TokenNotUsable:
                skipped += 1
                continue
            rotated.append({"old": token, "new": new, "raw": raw})
        if not rotated:
            self.message_user(request, "所选令牌均已吊销或过期，未轮换", messages.WARNING)
            return None
        # The new values are in this response only: never in a message (a cookie) or a log.
        response = TemplateResponse(
            request,
            "admin/accounts/apitoken/rotated.html",
            {
                **self.admin_site.each_context(request),
                "title": "令牌已轮换",
                "rotated": rotated,
                "skipped": skipped,
                "opts": self.opts,
            },
        )
        response["Cache-Control"] = "no-store"
        return response

    rotate.audit_recorded = True


@admin.register(SignInEvent)
class SignInEventAdmin(admin.ModelAdmin):
    """Read-only: written by the sign-in page."""

    list_display = ("at", "username", "user", "outcome", "two_factor", "ip_address", "user_agent")
    list_filter = ("outcome", "two_factor")
    search_fields = ("username", "ip_address", "user__display_name")
    date_hierarchy = "at"
    list_select_related = ("user",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


# django-otp's own device admin shows and edits the shared secret: an administrator could copy
# another person's authenticator. Devices are listed here without it; enrolment is the user's
# own page, and a lost phone is the user admin's "reset two-factor" action.
with contextlib.suppress(NotRegistered):
    admin.site.unregister(TOTPDevice)


@admin.register(TOTPDevice)
class TOTPDeviceAdmin(admin.ModelAdmin):
    list_display = ("user", "name", "confirmed", "created_at", "last_used_at")
    list_filter = ("confirmed",)
    search_fields = ("user__username", "user__display_name")
    list_select_related = ("user",)
    fields = ("user", "name", "confirmed", "created_at", "last_used_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only: the trail is written by the actions, never edited by hand."""

    list_display = ("at", "actor", "actor_role", "action", "object_type", "object_id", "summary")
    list_filter = ("action", "object_type", "actor_role")
    search_fields = ("object_id", "summary", "actor__username", "actor__display_name")
    date_hierarchy = "at"
    list_select_related = ("actor",)
    actions = ("export_csv", "export_xlsx")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    # Exports of the selected rows (or, with "select all", of everything the filters show);
    # the page /audit/ exports a period with the same columns.
    @admin.action(description=gettext_lazy("导出所选操作记录（CSV）"))
    def export_csv(self, request: HttpRequest, queryset: QuerySet[AuditEntry]):
        audit_export.record_export(request.user, "CSV", queryset.count(), "配置管理中所选记录")
        response = StreamingHttpResponse(
            audit_export.csv_lines(queryset.order_by("at", "pk")),
            content_type="text/csv; charset=utf-8",
        )
        response["Content-Disposition"] = 'attachment; filename="audit.csv"'
        return response

    export_csv.audit_recorded = True

    @admin.action(description=gettext_lazy("导出所选操作记录（Excel）"))
    def export_xlsx(self, request: HttpRequest, queryset: QuerySet[AuditEntry]):
        audit_export.record_export(request.user, "XLSX", queryset.count(), "配置管理中所选记录")
        response = HttpResponse(
            audit_export.xlsx_bytes(queryset.order_by("at", "pk")),
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
        response["Content-Disposition"] = 'attachment; filename="audit.xlsx"'
        return response

    export_xlsx.audit_recorded = True
