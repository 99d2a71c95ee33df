"""The 曝光台: typical cases and units exposed to the public after an approval step.

An exposure is written by centre staff for the public (no personal data), approved by someone
else (a leader, a shift lead or an admin) and then published; it can be withdrawn later. The
rectification state it shows is read live from the cases behind it, never stored."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

USER = settings.AUTH_USER_MODEL


class ExposureKind(models.TextChoices):
    CASE = "case", _("典型案例")
    UNIT = "unit", _("责任单位")


class Tone(models.TextChoices):
    NEGATIVE = "negative", _("反面典型")
    POSITIVE = "positive", _("好的做法")


class ExposureState(models.TextChoices):
    DRAFT = "draft", _("拟曝光")
    SUBMITTED = "submitted", _("待审批")
    PUBLISHED = "published", _("已发布")
    REJECTED = "rejected", _("未通过")
    WITHDRAWN = "withdrawn", _("已撤回")


# States in which an exposure still stands: a case or unit has at most one of these per tone.
ACTIVE_STATES = frozenset({ExposureState.DRAFT, ExposureState.SUBMITTED, ExposureState.PUBLISHED})


class Exposure(models.Model):
    kind = models.CharField(_("曝光对象"), max_length=8, choices=ExposureKind.choices)
    tone = models.CharField(
        _("性质"), max_length=8, choices=Tone.choices, default=Tone.NEGATIVE, db_index=True
    )
    state = models.CharField(
        _("状态"),
        max_length=12,
        choices=ExposureState.choices,
        default=ExposureState.DRAFT,
        db_index=True,
    )
    # A typical case: the one case. A unit: the cases that show its repeated failures.
    case = models.ForeignKey(
        "cases.Case",
        verbose_name=_("案件"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="exposures",
    )
    cases = models.ManyToManyField(
        "cases.Case", verbose_name=_("涉及案件"), blank=True, related_name="unit_exposures"
    )
    department = models.ForeignKey(
        "accounts.Department",
        verbose_name=_("责任单位"),
        on_delete=models.PROTECT,
        related_name="exposures",
    )
    title = models.CharField(_("标题"), max_length=100)
    text = models.TextField(_("公开说明"))
    category = models.ForeignKey(
        "taxonomy.Category",
        verbose_name=_("问题类别"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    area = models.ForeignKey(
        "grids.Area",
        verbose_name=_("区域"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    proposed_by = models.ForeignKey(
        USER, verbose_name=_("提出人"), on_delete=models.PROTECT, related_name="+"
    )
    proposed_at = models.DateTimeField(_("提出时间"), default=timezone.now)
    submitted_at = models.DateTimeField(_("提交审批时间"), null=True, blank=True)
    decided_by = models.ForeignKey(
        USER,
        verbose_name=_("审批人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("审批时间"), null=True, blank=True)
    published_at = models.DateTimeField(_("发布时间"), null=True, blank=True, db_index=True)
    reject_reason = models.CharField(_("不通过理由"), max_length=300, blank=True)
    withdrawn_by = models.ForeignKey(
        USER,
        verbose_name=_("撤回人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    withdrawn_at = models.DateTimeField(_("撤回时间"), null=True, blank=True)
    withdraw_reason = models.CharField(_("撤回理由"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("曝光")
        verbose_name_plural = _("曝光台")
        ordering = ["-published_at", "-proposed_at", "-pk"]
        indexes = [models.Index(fields=["state", "published_at"], name="exposure_state_published")]

    def __str__(self) -> str:
        return self.title

    @property
    def number(self) -> str:
        return f"BG{self.pk:06d}"
