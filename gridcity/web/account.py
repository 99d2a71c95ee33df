"""Signing in and the account pages: the login page with its lockout, the second factor
(enrolment and the code at each sign-in), the password, the user's API tokens and sign-in
history, and the audit log export for auditors.

The rules live in gridcity.accounts (actions, security, audit_export); these views only read
the forms and say what happened."""

from __future__ import annotations

from base64 import b32encode
from datetime import datetime, timedelta

import django_otp
import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView, PasswordChangeView
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_otp import DEVICE_ID_SESSION_KEY

from gridcity.accounts import audit_export
from gridcity.accounts.actions import (
    TokenNotUsable,
    do_change_password,
    do_confirm_two_factor,
    do_disable_two_factor,
    do_revoke_token,
    do_rotate_token,
    record_sign_in,
    start_two_factor_enrolment,
)
from gridcity.accounts.models import ApiToken, AuditEntry, SignInOutcome
from gridcity.accounts.security import (
    ENROLLED_SESSION_KEY,
    TWO_FACTOR_ROLES,
    confirmed_device,
    locked_until,
    role_requires_two_factor,
)
from gridcity.web.account_forms import AuditFilterForm, ChangePasswordForm, CodeForm
from gridcity.web.forms import LoginForm

# --- Signing in -------------------------------------------------------------------------------


def lockout_message(until: datetime | None) -> str:
    if until is None:
        return _("登录失败次数过多，已暂时锁定，请稍后再试。")
    # Rounded up to the minute: "after 10:16" must not be a minute too early.
    local = timezone.localtime(until + timedelta(seconds=59)).replace(second=0, microsecond=0)
    today = timezone.localdate()
    when = local.strftime("%H:%M") if local.date() == today else local.strftime("%Y-%m-%d %H:%M")
    return _("登录失败次数过多，已暂时锁定。请于 %(when)s 后再试。") % {"when": when}


def _safe_next(request: HttpRequest, default: str = "/") -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def _with_next(name: str, next_url: str) -> str:
    return f"{reverse(name)}?{urlencode({'next': next_url})}"


class SignInView(LoginView):
    """Django's login page, counting each attempt into the sign-in history; a session that
    owes a second factor is sent to it before anything else."""

    template_name = "web/login.html"
    authentication_form = LoginForm

    def form_valid(self, form):
        request, user = self.request, form.get_user()
        auth_login(request, user)
        next_url = self.get_success_url()
        device = confirmed_device(user)
        if device is not None:
            request.session[ENROLLED_SESSION_KEY] = True
        if device is not None or role_requires_two_factor(user):
            record_sign_in(
                request, username=user.username, user=user, outcome=SignInOutcome.PASSWORD_OK
            )
            step = "web:two_factor_verify" if device is not None else "web:two_factor_setup"
            return HttpResponseRedirect(_with_next(step, next_url))
        record_sign_in(request, username=user.username, user=user, outcome=SignInOutcome.SUCCESS)
        return HttpResponseRedirect(next_url)

    def form_invalid(self, form):
        request = self.request
        username = (form.data.get("username") or "").strip()
        status = 200
        if getattr(request, "axes_locked_out", False):
            form.errors.clear()
            form.add_error(None, lockout_message(locked_until(request, username)))
            record_sign_in(request, username=username, outcome=SignInOutcome.LOCKED)
            # The page below already says it; the lockout middleware keeps it.
            request.gridcity_lockout_shown = True
            status = 429
        elif username and form.data.get("password"):
            record_sign_in(request, username=username, outcome=SignInOutcome.FAILED)
        response = self.render_to_response(self.get_context_data(form=form))
        response.status_code = status
        return response


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials=None
) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: the login page saying until when (429)."""
    if getattr(request, "gridcity_lockout_shown", False) and original_response is not None:
        return original_response
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    form = LoginForm(request)
    form.add_error(None, lockout_message(locked_until(request, username)))
    return render(request, "web/login.html", {"form": form, "next": ""}, status=429)


# --- Second factor ----------------------------------------------------------------------------


def _throttled(info: dict | None) -> str:
    until = (info or {}).get("locked_until")
    if until is not None:
        seconds = max(1, int((until - timezone.now()).total_seconds()) + 1)
        return _("验证码错误次数过多，请 %(n)s 秒后再试。") % {"n": seconds}
    return _("验证码错误次数过多，请稍后再试。")


@login_required
def two_factor_verify(request: HttpRequest) -> HttpResponse:
    user = request.user
    next_url = _safe_next(request)
    if user.is_verified():
        return redirect(next_url)
    device = confirmed_device(user)
    if device is None:
        if role_requires_two_factor(user):
            return redirect(_with_next("web:two_factor_setup", next_url))
        # The authenticator was reset by an administrator: nothing is owed any more.
        request.session.pop(ENROLLED_SESSION_KEY, None)
        return redirect(next_url)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        allowed, info = device.verify_is_allowed()
        if not allowed:
            form.add_error("code", _throttled(info))
        else:
            verified = django_otp.verify_token(
                user, device.persistent_id, form.cleaned_data["code"]
            )
            if verified is not None:
                django_otp.login(request, verified)
                request.session.cycle_key()
                record_sign_in(
                    request,
                    username=user.username,
                    user=user,
                    outcome=SignInOutcome.SUCCESS,
                    two_factor=True,
                )
                return redirect(next_url)
            record_sign_in(
                request, username=user.username, user=user, outcome=SignInOutcome.OTP_FAILED
            )
            form.add_error("code", _("验证码不正确或已过期，请输入身份验证器中当前的6位数字。"))
    return render(request, "web/account/two_factor_verify.html", {"form": form, "next": next_url})


def _qr_svg(url: str) -> str:
    # Drawn here as inline SVG: the secret never leaves the page for a QR service or a CDN.
    return mark_safe(segno.make(url, error="m").svg_inline(scale=5, border=2, title=None))  # noqa: S308


@login_required
def two_factor_setup(request: HttpRequest) -> HttpResponse:
    user = request.user
    enrolled = confirmed_device(user)
    next_url = _safe_next(request, default=reverse("web:account"))
    if enrolled is not None and not user.is_verified():
        # Replacing an authenticator takes the current one: a stolen password alone must not
        # be enough to move the second factor to the thief's phone.
        return redirect(_with_next("web:two_factor_verify", next_url))
    device = start_two_factor_enrolment(user)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        allowed, info = device.verify_is_allowed()
        if not allowed:
            form.add_error("code", _throttled(info))
        else:
            pending = not user.is_verified()
            confirmed = do_confirm_two_factor(user, form.cleaned_data["code"], acting_user=user)
            if confirmed is not None:
                django_otp.login(request, confirmed)
                request.session[ENROLLED_SESSION_KEY] = True
                request.session.cycle_key()
                if pending:
                    record_sign_in(
                        request,
                        username=user.username,
                        user=user,
                        outcome=SignInOutcome.SUCCESS,
                        two_factor=True,
                    )
                messages.success(
                    request, _("已启用两步验证：今后每次登录都需输入身份验证器中的验证码。")
                )
                return redirect(next_url)
            form.add_error("code", _("验证码不正确，请确认手机时间准确后输入当前的6位数字。"))
    secret = b32encode(device.bin_key).decode()
    response = render(
        request,
        "web/account/two_factor_setup.html",
        {
            "form": form,
            "next": next_url,
            "qr_svg": _qr_svg(device.config_url),
            "secret_groups": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
            "required": role_requires_two_factor(user),
            "replacing": enrolled is not None,
        },
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def two_factor_disable(request: HttpRequest) -> HttpResponse:
    user = request.user
    if role_requires_two_factor(user):
        messages.error(
            request, _("您的岗位必须使用两步验证，不能停用；手机遗失请联系系统管理员重置。")
        )
        return redirect("web:account")
    if confirmed_device(user) is not None and not user.is_verified():
        return redirect(_with_next("web:two_factor_verify", reverse("web:account")))
    do_disable_two_factor(user, acting_user=user)
    request.session.pop(ENROLLED_SESSION_KEY, None)
    request.session.pop(DEVICE_ID_SESSION_KEY, None)
    messages.success(request, _("已停用两步验证。"))
    return redirect("web:account")


# --- Account ----------------------------------------------------------------------------------


@login_required
def account(request: HttpRequest) -> HttpResponse:
    user = request.user
    now = timezone.now()
    tokens = list(user.api_tokens.order_by("-created_at")[:50])
    for t in tokens:
        t.usable = t.is_usable(now)
    return render(
        request,
        "web/account/account.html",
        {
            "device": confirmed_device(user),
            "two_factor_required": role_requires_two_factor(user),
            "two_factor_role": user.is_superuser or user.role in TWO_FACTOR_ROLES,
            "require_setting": settings.GRIDCITY_REQUIRE_2FA,
            "tokens": tokens,
            "sign_ins": user.sign_ins.all()[:30],
            "can_audit": audit_export.can_audit(user),
            "token_days": settings.GRIDCITY_TOKEN_LIFETIME_DAYS,
            "grace_hours": settings.GRIDCITY_TOKEN_ROTATION_GRACE_HOURS,
        },
    )


class ChangePasswordView(PasswordChangeView):
    template_name = "web/account/password.html"
    form_class = ChangePasswordForm

    def form_valid(self, form):
        user = form.user
        do_change_password(user, form.cleaned_data["new_password1"], acting_user=user)
        # This session stays signed in; every other session of the user ends.
        update_session_auth_hash(self.request, user)
        messages.success(self.request, _("密码已修改。"))
        return redirect("web:account")


@login_required
@require_POST
def token_rotate(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=pk, user=request.user)
    try:
        new, raw = do_rotate_token(token, acting_user=request.user)
    except TokenNotUsable:
        messages.error(request, _("该令牌已吊销或已过期，不能轮换。"))
        return redirect("web:account")
    token.refresh_from_db()
    # The new value is in this response only: never in a message (a cookie) or a log.
    response = TemplateResponse(
        request, "web/account/token_rotated.html", {"old": token, "new": new, "raw": raw}
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=pk, user=request.user)
    if do_revoke_token(token, acting_user=request.user):
        messages.success(request, _("令牌 %(prefix)s… 已吊销。") % {"prefix": token.prefix})
    return redirect("web:account")


# --- Audit log --------------------------------------------------------------------------------


@login_required
def audit_log(request: HttpRequest) -> HttpResponse:
    if not audit_export.can_audit(request.user):
        raise PermissionDenied(_("只有系统管理员和领导可以查看和导出操作记录。"))
    params = request.GET.copy()
    fmt = params.pop("format", [""])[-1]
    params.pop("page", None)
    if any(params.get(k) for k in AuditFilterForm.base_fields):
        form = AuditFilterForm(params)
    else:
        today = timezone.localdate()
        form = AuditFilterForm({"date_from": today - timedelta(days=30), "date_to": today})
    f = audit_export.AuditFilter(**form.cleaned_data) if form.is_valid() else None
    if f is not None and fmt in ("csv", "xlsx"):
        return _export(request, f, fmt)
    entries: QuerySet[AuditEntry] = (
        audit_export.audit_entries(f).order_by("-at", "-pk") if f else AuditEntry.objects.none()
    )
    page = Paginator(entries, 100).get_page(request.GET.get("page"))
    return render(
        request,
        "web/account/audit_log.html",
        {
            "form": form,
            "page": page,
            "query": params.urlencode(),
            "object_types": AuditEntry.objects.order_by("object_type")
            .values_list("object_type", flat=True)
            .distinct(),
        },
    )


def _export(request: HttpRequest, f: audit_export.AuditFilter, fmt: str) -> HttpResponse:
    qs = audit_export.audit_entries(f)
    audit_export.record_export(request.user, fmt.upper(), qs.count(), audit_export.describe(f))
    name = audit_export.export_name(f, fmt)
    if fmt == "csv":
        response = StreamingHttpResponse(
            audit_export.csv_lines(qs), content_type="text/csv; charset=utf-8"
        )
    else:
        response = HttpResponse(
            audit_export.xlsx_bytes(qs),
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response
