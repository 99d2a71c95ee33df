"""Forms of the sign-in and account pages."""

from django import forms
from django.contrib.auth.forms import PasswordChangeForm
from django.utils.translation import gettext_lazy as _


class CodeForm(forms.Form):
    """A 6-digit code from an authenticator app; spaces a user types between the groups are
    allowed."""

    code = forms.CharField(
        label=_("动态验证码"),
        max_length=12,
        error_messages={"required": _("请输入身份验证器中的6位数字")},
    )

    def clean_code(self) -> str:
        code = "".join(self.cleaned_data["code"].split())
        if not (code.isdigit() and len(code) == 6):
            raise forms.ValidationError(_("验证码应为6位数字"))
        return code


class ChangePasswordForm(PasswordChangeForm):
    """Django's form: the old password, then the new one twice, checked by every validator in
    AUTH_PASSWORD_VALIDATORS (their messages come in the user's language)."""

    error_messages = {
        **PasswordChangeForm.error_messages,
        "password_incorrect": _("原密码不正确，请重新输入。"),
        "password_mismatch": _("两次输入的新密码不一致。"),
    }


class AuditFilterForm(forms.Form):
    date_from = forms.DateField(label=_("起始日期"), required=False)
    date_to = forms.DateField(label=_("截止日期"), required=False)
    actor = forms.CharField(label=_("操作人账号"), required=False, max_length=150)
    object_type = forms.CharField(label=_("对象类型"), required=False, max_length=64)
    action = forms.CharField(label=_("动作"), required=False, max_length=48)

    def clean(self):
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", _("截止日期不能早于起始日期"))
        for name in ("date_from", "date_to"):
            value = data.get(name)
            if value and not 2000 <= value.year <= 2100:
                self.add_error(name, _("日期应在2000年至2100年之间"))
        return data
