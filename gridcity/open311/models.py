"""Keys for Open311 clients, and webhook subscriptions with a log of every delivery attempt."""

import hashlib
import secrets

from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiKey(models.Model):
    """An Open311 api_key for one partner system. Only the SHA-256 is stored."""

    name = models.CharField(_("名称"), max_length=100, unique=True)
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(_("前缀"), max_length=12)
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now)
    last_used_at = models.DateTimeField(_("最近使用"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("吊销时间"), null=True, blank=True)
    # Off for every key unless an administrator turns it on: GeoReport answers are public, and
    # notes name staff and callers.
    may_see_internal = models.BooleanField(
        _("可查看内部信息"),
        default=False,
        help_text=_(
            "勾选后，该密钥读取的案件附带内部流转备注、经办人员和内部状态；"
            "仅限签有保密协议的合作系统（如 12345 热线平台）。"
        ),
    )
    # A partner's integration may need more than the installation's default per-key quota
    # (GRIDCITY_OPEN311_RATE_LIMITS); empty keeps the default. Anonymous limits never change.
    reads_per_minute = models.PositiveIntegerField(
        _("每分钟查询上限"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("留空则使用系统默认的每密钥限额。"),
    )
    writes_per_minute = models.PositiveIntegerField(
        _("每分钟上报上限"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("留空则使用系统默认的每密钥限额。"),
    )

    class Meta:
        verbose_name = _("Open311 密钥")
        verbose_name_plural = _("Open311 密钥")
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} · {self.prefix}…"

    @staticmethod
    def generate_raw() -> str:
        return "o311_" + secrets.token_urlsafe(32)

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class EventType(models.TextChoices):
    CASE_CREATED = "case.created", _("新案件")
    CASE_DISPATCHED = "case.dispatched", _("案件派遣")
    CASE_OVERDUE = "case.overdue", _("案件超期")
    CASE_CLOSED = "case.closed", _("案件结案")
    SUPERVISION_CREATED = "supervision.created", _("发起督办")
    PING = "ping", _("测试事件")


class Subscription(models.Model):
    name = models.CharField(_("名称"), max_length=100)
    url = models.URLField(_("推送地址"), max_length=500)
    secret = models.CharField(_("签名密钥"), max_length=100, default="", blank=True)
    # A list of EventType values; JSON so that SQLite and PostgreSQL behave the same.
    event_types = models.JSONField(_("事件类型"), default=list, blank=True)
    is_active = models.BooleanField(_("启用"), default=True)
    consecutive_failures = models.PositiveIntegerField(_("连续失败次数"), default=0)
    disabled_at = models.DateTimeField(_("自动停用时间"), null=True, blank=True)
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now)

    class Meta:
        verbose_name = _("推送订阅")
        verbose_name_plural = _("推送订阅")
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        if not self.secret:
            self.secret = secrets.token_urlsafe(32)
        super().save(*args, **kwargs)

    def wants(self, event_type: str) -> bool:
        return event_type in (self.event_types or [])


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("待发送")
    SENDING = "sending", _("发送中")
    RETRYING = "retrying", _("等待重试")
    SUCCEEDED = "succeeded", _("成功")
    FAILED = "failed", _("失败")
    CANCELLED = "cancelled", _("已取消")


class Delivery(models.Model):
    """One event for one subscription; its attempts are logged below."""

    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    event_id = models.UUIDField(_("事件ID"), db_index=True)
    event_type = models.CharField(_("事件类型"), max_length=32, choices=EventType.choices)
    case_number = models.CharField(_("案件编号"), max_length=20, blank=True, db_index=True)
    payload = models.JSONField(default=dict)
    status = models.CharField(
        _("状态"), max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("尝试次数"), default=0)
    next_attempt_at = models.DateTimeField(_("下次尝试"), null=True, blank=True)
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now, db_index=True)
    delivered_at = models.DateTimeField(_("送达时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("推送记录")
        verbose_name_plural = _("推送记录")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "event_id"], name="one_delivery_per_event_subscription"
            )
        ]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.subscription}"


class DeliveryAttempt(models.Model):
    """Append-only: one row per HTTP attempt."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveSmallIntegerField(_("第几次"))
    at = models.DateTimeField(_("时间"))
    status_code = models.PositiveSmallIntegerField(_("HTTP 状态"), null=True, blank=True)
    error = models.CharField(_("错误"), max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(_("耗时(毫秒)"), default=0)
    succeeded = models.BooleanField(_("成功"), default=False)

    class Meta:
        verbose_name = _("推送尝试")
        verbose_name_plural = _("推送尝试")
        ordering = ["delivery", "number"]

    def __str__(self) -> str:
        return f"#{self.number} {self.status_code or self.error}"
