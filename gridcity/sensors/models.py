from django.db import models
from django.utils.translation import gettext_lazy as _


class DeviceKind(models.TextChoices):
    BIN_FILL = "bin_fill", _("垃圾箱满溢")
    MANHOLE_TILT = "manhole_tilt", _("井盖倾斜/位移")
    WATER_LEVEL = "water_level", _("水位")
    STREET_LIGHT = "street_light", _("路灯")
    AIR_QUALITY = "air_quality", _("空气质量")
    NOISE = "noise", _("噪声")
    GENERIC = "generic", _("通用")


class DeviceState(models.TextChoices):
    NORMAL = "normal", _("正常")
    WARNING = "warning", _("预警")
    SILENT = "silent", _("失联")
    DISABLED = "disabled", _("停用")


class Device(models.Model):
    code = models.CharField(_("设备编号"), max_length=64, unique=True)
    name = models.CharField(_("名称"), max_length=100, blank=True)
    kind = models.CharField(_("类型"), max_length=16, choices=DeviceKind.choices)
    component = models.ForeignKey(
        "grids.Component",
        verbose_name=_("监测部件"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="devices",
    )
    place = models.CharField(_("位置描述"), max_length=200, blank=True)
    lon = models.FloatField(_("经度"), null=True, blank=True)
    lat = models.FloatField(_("纬度"), null=True, blank=True)
    cell = models.ForeignKey(
        "grids.Area",
        verbose_name=_("所在网格"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="devices",
    )
    # Stored value = raw × scale + offset.
    calibration_scale = models.FloatField(_("校准系数"), default=1.0)
    calibration_offset = models.FloatField(_("校准偏移"), default=0.0)
    interval_s = models.PositiveIntegerField(_("上报间隔（秒）"), default=600)
    rules = models.JSONField(
        _("规则覆盖"),
        default=dict,
        blank=True,
        help_text=_(
            '按规则名覆盖默认规则，如 {"predict_full": {"params": {"horizon_minutes": 90}}}；null 表示关闭。'
        ),
    )
    token_hash = models.CharField(max_length=64, blank=True, db_index=True)
    token_prefix = models.CharField(_("令牌前缀"), max_length=12, blank=True)
    state = models.CharField(
        _("状态"), max_length=16, choices=DeviceState.choices, default=DeviceState.NORMAL
    )
    last_seen_at = models.DateTimeField(_("最近上报"), null=True, blank=True)
    created_at = models.DateTimeField(_("登记时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("感知设备")
        verbose_name_plural = _("感知设备")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name or self.get_kind_display()}（{self.code}）"


class Reading(models.Model):
    """One measurement, calibrated. Millions a day: one unique index (device, metric, time)
    that both drops duplicates and serves every read, and a time index for retention."""

    id = models.BigAutoField(primary_key=True)
    device = models.ForeignKey(Device, on_delete=models.CASCADE, db_index=False)
    metric = models.CharField(max_length=32)
    time = models.DateTimeField()
    value = models.FloatField()

    class Meta:
        verbose_name = _("读数")
        verbose_name_plural = _("读数")
        constraints = [
            models.UniqueConstraint(
                fields=["device", "metric", "time"], name="reading_once_per_device_metric_time"
            )
        ]
        indexes = [models.Index(fields=["time"], name="reading_time_for_retention")]

    def __str__(self) -> str:
        return f"{self.metric}={self.value} @ {self.time:%Y-%m-%d %H:%M}"


class WarningState(models.TextChoices):
    OPEN = "open", _("预警中")
    CLEARED = "cleared", _("已解除")


class SensorWarning(models.Model):
    """One episode of a rule firing on a device: opened once, cleared once. A rule that fires
    again after clearing opens a new row, so the rows are the history."""

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="warnings")
    rule = models.CharField(_("规则"), max_length=32)
    label = models.CharField(_("预警"), max_length=100)
    state = models.CharField(
        _("状态"), max_length=8, choices=WarningState.choices, default=WarningState.OPEN
    )
    reason = models.CharField(_("原因"), max_length=300)
    value = models.FloatField(_("触发值"), null=True, blank=True)
    predicted_at = models.DateTimeField(_("预计到达时间"), null=True, blank=True)
    opened_at = models.DateTimeField(_("触发时间"), db_index=True)
    last_fired_at = models.DateTimeField(_("最近触发"))
    cleared_at = models.DateTimeField(_("解除时间"), null=True, blank=True)
    clear_reason = models.CharField(_("解除原因"), max_length=300, blank=True)
    case = models.ForeignKey(
        "cases.Case",
        verbose_name=_("案件"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="sensor_warnings",
    )
    case_note = models.CharField(_("立案说明"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("预警")
        verbose_name_plural = _("预警")
        ordering = ["-opened_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["device", "rule"],
                condition=models.Q(state="open"),
                name="one_open_warning_per_device_rule",
            )
        ]

    def __str__(self) -> str:
        return f"{self.device.code} · {self.label}"
