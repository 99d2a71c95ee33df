import hashlib
import secrets

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    INSPECTOR = "inspector", _("网格员")
    INTAKE = "intake", _("受理员")
    SHIFT_LEAD = "shift_lead", _("值班长")
    DISPATCHER = "dispatcher", _("派遣员")
    HANDLER = "handler", _("部门处置人员")
    DEPT_LEAD = "dept_lead", _("部门负责人")
    LEADER = "leader", _("领导")
    ADMIN = "admin", _("系统管理员")
    SYSTEM = "system", _("系统")


CENTRE_ROLES = frozenset({Role.INTAKE, Role.SHIFT_LEAD, Role.DISPATCHER, Role.LEADER, Role.ADMIN})
DEPARTMENT_ROLES = frozenset({Role.HANDLER, Role.DEPT_LEAD})


class DepartmentKind(models.TextChoices):
    PROFESSIONAL = "professional", _("专业部门")
    TERRITORIAL = "territorial", _("属地（街道/乡镇）")
    CENTRE = "centre", _("监督指挥中心")
    OTHER = "other", _("其他单位")


class Department(models.Model):
    # Wide enough for an agency's name used as its code, as US 311 data does (up to 62 seen).
    code = models.CharField(_("代码"), max_length=100, unique=True)
    name = models.CharField(_("名称"), max_length=100)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("上级部门"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    kind = models.CharField(
        _("类型"),
        max_length=16,
        choices=DepartmentKind.choices,
        default=DepartmentKind.PROFESSIONAL,
    )
    phone = models.CharField(_("电话"), max_length=32, blank=True)
    is_active = models.BooleanField(_("启用"), default=True)

    class Meta:
        verbose_name = _("部门")
        verbose_name_plural = _("部门")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name

    def subtree_ids(self) -> set[int]:
        ids = {self.pk}
        frontier = [self.pk]
        while frontier:
            children = Department.objects.filter(parent_id__in=frontier).values_list(
                "pk", flat=True
            )
            frontier = [pk for pk in children if pk not in ids]  # a cycle must not loop forever
            ids.update(frontier)
        return ids


class User(AbstractUser):
    role = models.CharField(_("角色"), max_length=16, choices=Role.choices, default=Role.INSPECTOR)
    department = models.ForeignKey(
        Department,
        verbose_name=_("所属部门"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="members",
    )
    jurisdiction = models.ForeignKey(
        "grids.Area",
        verbose_name=_("管辖区域"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("中心人员可见的区域；为空表示全市。"),
    )
    phone = models.CharField(_("电话"), max_length=32, blank=True)
    display_name = models.CharField(_("姓名"), max_length=50, blank=True)
    # Only an integration replaying another system's reports (a hotline, an older 数字城管, a
    # 311 feed) may say when a report was first made and under which id: deadlines and the
    # duplicate window run from that time, so a person's app must never set it.
    may_set_report_times = models.BooleanField(
        _("可设定原始上报时间"),
        default=False,
        help_text=_(
            "允许该账号（对接系统）在上报时给出原始上报时间 reported_at 和外部编号 external_id。"
        ),
    )

    class Meta:
        verbose_name = _("用户")
        verbose_name_plural = _("用户")

    def __str__(self) -> str:
        return self.display_name or self.username

    @property
    def is_centre_staff(self) -> bool:
        return self.role in CENTRE_ROLES or self.is_superuser

    @property
    def is_department_staff(self) -> bool:
        return self.role in DEPARTMENT_ROLES


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(models.Model):
    """A per-device token: only its SHA-256 is stored, the raw value is shown once."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("设备名称"), max_length=100, blank=True)
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(_("前缀"), max_length=12)
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now)
    # Every token ends: a lost phone's token stops working by itself (GRIDCITY_TOKEN_LIFETIME_DAYS).
    expires_at = models.DateTimeField(_("到期时间"))
    last_used_at = models.DateTimeField(_("最近使用"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("吊销时间"), null=True, blank=True)
    replaced_by = models.ForeignKey(
        "self",
        verbose_name=_("轮换为"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("API 令牌")
        verbose_name_plural = _("API 令牌")

    def __str__(self) -> str:
        return f"{self.user} · {self.prefix}…"

    @staticmethod
    def generate_raw() -> str:
        return "gc_" + secrets.token_urlsafe(32)

    def is_usable(self, now=None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and self.expires_at > now


class SignInOutcome(models.TextChoices):
    SUCCESS = "success", _("登录成功")
    PASSWORD_OK = "password_ok", _("密码正确，待两步验证")
    FAILED = "failed", _("用户名或密码错误")
    LOCKED = "locked", _("尝试过多，已拒绝")
    OTP_FAILED = "otp_failed", _("动态验证码错误")
    INACTIVE = "inactive", _("账号已停用")


class SignInEvent(models.Model):
    """Append-only: every attempt to sign in through the login page (and the admin's, which is
    the same page), successful or not. Shown to the user on their account page and to the
    administrators in the admin."""

    at = models.DateTimeField(_("时间"), default=timezone.now, db_index=True)
    user = models.ForeignKey(
        User,
        verbose_name=_("用户"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="sign_ins",
    )
    username = models.CharField(_("输入的用户名"), max_length=150, blank=True)
    ip_address = models.GenericIPAddressField(_("客户端地址"), null=True, blank=True)
    user_agent = models.CharField(_("浏览器"), max_length=300, blank=True)
    outcome = models.CharField(_("结果"), max_length=16, choices=SignInOutcome.choices)
    two_factor = models.BooleanField(_("两步验证"), default=False)

    class Meta:
        verbose_name = _("登录记录")
        verbose_name_plural = _("登录记录")
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["user", "-at"], name="signin_user_at")]

    def __str__(self) -> str:
        return f"{self.username} {self.get_outcome_display()} {self.at:%Y-%m-%d %H:%M}"


class AuditEntry(models.Model):
    """Append-only: who did what to a record outside the case loop (a pairing, a survey, a
    training session, an exposure…). Cases keep their own richer trail (CaseEvent)."""

    at = models.DateTimeField(_("时间"), db_index=True)
    actor = models.ForeignKey(
        User,
        verbose_name=_("操作人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    actor_role = models.CharField(_("角色"), max_length=16, blank=True)
    action = models.CharField(_("动作"), max_length=48)
    object_type = models.CharField(_("对象类型"), max_length=64)  # "app_label.model"
    object_id = models.CharField(_("对象编号"), max_length=64)
    summary = models.CharField(_("摘要"), max_length=200, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("操作记录")
        verbose_name_plural = _("操作记录")
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_object")]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type}:{self.object_id}"
