from datetime import date

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from gridcity.lib.workcalendar import CLOCK_LABELS, Clock, format_time_limit

CLOCK_CHOICES = [(c.value, CLOCK_LABELS[c]) for c in Clock]


class CategoryKind(models.TextChoices):
    COMPONENT = "component", _("部件")
    MATTER = "matter", _("事件")


class Category(models.Model):
    """A GB/T 47678.5 subclass (or a local extension). Kind is part of the key: components
    and matters share codes."""

    kind = models.CharField(_("类型"), max_length=16, choices=CategoryKind.choices)
    code = models.CharField(_("小类代码"), max_length=8)
    major_code = models.CharField(_("大类代码"), max_length=4)
    major_name = models.CharField(_("大类名称"), max_length=50)
    name = models.CharField(_("小类名称"), max_length=100)
    is_local = models.BooleanField(_("本地扩展"), default=False)
    legacy_code = models.CharField(_("旧标准代码"), max_length=16, blank=True)
    keywords = models.CharField(_("关键词"), max_length=200, blank=True)
    service_notice = models.CharField(_("服务提示"), max_length=500, blank=True)
    duplicate_radius_m = models.PositiveIntegerField(_("重复判定半径(米)"), default=30)
    duplicate_window_hours = models.PositiveIntegerField(_("重复判定时间窗(小时)"), default=24)
    place_free = models.BooleanField(
        _("无需位置"),
        default=False,
        help_text=_(
            "如账户咨询等与地点无关的诉求：没有位置的上报不进入待定位队列，按类别派遣"
            "（只匹配不限区域的责任规则）。"
        ),
    )
    is_active = models.BooleanField(_("启用"), default=True)

    class Meta:
        verbose_name = _("问题类别")
        verbose_name_plural = _("问题类别")
        ordering = ["kind", "code"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "code"], name="category_kind_code_unique")
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.code}"


class FilingCondition(models.Model):
    """立案条件 with its handling time limit and closing condition (one row of 立结案标准)."""

    category = models.ForeignKey(
        Category, verbose_name=_("类别"), on_delete=models.CASCADE, related_name="conditions"
    )
    text = models.CharField(_("立案条件"), max_length=300)
    closing_condition = models.CharField(_("结案条件"), max_length=300, blank=True)
    handle_amount = models.FloatField(_("处置时限"))
    handle_clock = models.CharField(_("计时方式"), max_length=16, choices=CLOCK_CHOICES)
    handling_unit = models.CharField(_("处置单位"), max_length=100, blank=True)
    supervising_unit = models.CharField(_("主管部门"), max_length=100, blank=True)
    order = models.PositiveSmallIntegerField(_("顺序"), default=0)

    class Meta:
        verbose_name = _("立案条件")
        verbose_name_plural = _("立案条件")
        ordering = ["category", "order", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["category", "text"], name="condition_text_unique")
        ]

    def __str__(self) -> str:
        return f"{self.text}（{self.time_limit_text}）"

    @property
    def time_limit_text(self) -> str:
        return format_time_limit(self.handle_amount, Clock(self.handle_clock))

    @property
    def is_urgent(self) -> bool:
        return self.handle_clock == Clock.URGENT_HOURS


class StepLimit(models.Model):
    """Overrides GRIDCITY_STEP_LIMITS for one workflow step."""

    step = models.CharField(_("环节"), max_length=16, unique=True)
    amount = models.FloatField(_("时限"))
    clock = models.CharField(_("计时方式"), max_length=16, choices=CLOCK_CHOICES)

    class Meta:
        verbose_name = _("环节时限")
        verbose_name_plural = _("环节时限")

    def __str__(self) -> str:
        return f"{self.step}: {format_time_limit(self.amount, Clock(self.clock))}"


class CalendarDay(models.Model):
    """A local override of the official calendar: this date is (not) a working day."""

    date = models.DateField(_("日期"), unique=True)
    is_workday = models.BooleanField(_("是否工作日"))
    note = models.CharField(_("说明"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("本地工作日历")
        verbose_name_plural = _("本地工作日历")
        ordering = ["date"]

    def __str__(self) -> str:
        return f"{self.date} {'上班' if self.is_workday else '休息'}"


class RecurringCalendarDay(models.Model):
    """A local override that comes back every year on the same month and day (a city's own
    holiday, a day always worked). It wins over the public holiday calendar and loses to a
    CalendarDay for one date, so a single year can still be made different."""

    month = models.PositiveSmallIntegerField(
        _("月"), validators=[MinValueValidator(1), MaxValueValidator(12)]
    )
    day = models.PositiveSmallIntegerField(
        _("日"), validators=[MinValueValidator(1), MaxValueValidator(31)]
    )
    is_workday = models.BooleanField(_("是否工作日"))
    note = models.CharField(_("说明"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("每年重复的本地工作日历")
        verbose_name_plural = _("每年重复的本地工作日历")
        ordering = ["month", "day"]
        constraints = [
            models.UniqueConstraint(fields=["month", "day"], name="recurring_day_unique"),
            models.CheckConstraint(
                condition=models.Q(month__gte=1, month__lte=12, day__gte=1, day__lte=31),
                name="recurring_day_in_range",
            ),
        ]

    def __str__(self) -> str:
        state = _("上班") if self.is_workday else _("休息")
        return f"{self.month:02d}-{self.day:02d} {state}"

    def clean(self) -> None:
        super().clean()
        if self.month and self.day:
            try:
                date(2000, self.month, self.day)  # a leap year: 02-29 is a day that exists
            except ValueError:
                raise ValidationError(
                    {
                        "day": _("%(month)d 月没有 %(day)d 日")
                        % {"month": self.month, "day": self.day}
                    }
                ) from None
