from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from gridcity.cases.models import FactColumns
from gridcity.evaluation import sources
from gridcity.evaluation.indicators import PERIOD_KIND_LABELS, UNIT_TYPE_LABELS

UNIT_TYPE_CHOICES = list(UNIT_TYPE_LABELS.items())


class Direction(models.TextChoices):
    HIGHER = "higher", _("越高越好")
    LOWER = "lower", _("越低越好")


class Indicator(models.Model):
    """The indicator library: the formula lives in code (indicators.INDICATORS[key]); its name,
    direction and description are configurable here."""

    key = models.CharField(_("公式键"), max_length=40, unique=True)
    name = models.CharField(_("名称"), max_length=60)
    direction = models.CharField(
        _("方向"), max_length=8, choices=Direction.choices, default=Direction.HIGHER
    )
    definition = models.TextField(_("口径"), blank=True)

    class Meta:
        verbose_name = _("评价指标")
        verbose_name_plural = _("评价指标库")
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.name


class Scheme(models.Model):
    name = models.CharField(_("方案名称"), max_length=60)
    unit_type = models.CharField(_("评价对象"), max_length=16, choices=UNIT_TYPE_CHOICES)
    is_active = models.BooleanField(_("启用"), default=True)
    # [["A", 90], ["B", 75], ["C", 60], ["D", 40]]; below the last: "E".
    grades = models.JSONField(_("等级线"), default=list)
    min_cases_to_rank = models.PositiveIntegerField(
        _("参与排名的最低案件量"),
        default=10,
        help_text=_(
            "期内案件量（口径见排名页）低于此数的对象不参与排名，单列为“案件量不足”。"
            "0 表示不设下限。"
        ),
    )

    class Meta:
        verbose_name = _("考评方案")
        verbose_name_plural = _("考评方案")
        ordering = ["unit_type", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["unit_type"],
                condition=models.Q(is_active=True),
                name="one_active_scheme_per_unit_type",
            )
        ]

    def __str__(self) -> str:
        return self.name


class SchemeItem(models.Model):
    scheme = models.ForeignKey(Scheme, on_delete=models.CASCADE, related_name="items")
    indicator = models.ForeignKey(Indicator, verbose_name=_("指标"), on_delete=models.PROTECT)
    weight = models.DecimalField(_("权重"), max_digits=6, decimal_places=2)
    # [[threshold, percent of the weight], …]; empty: straight line (see indicators.item_share).
    bands = models.JSONField(_("分档表"), default=list, blank=True)
    relative = models.BooleanField(
        _("按最大值折算"), default=False, help_text=_("数量类指标：以同批最大值为满分。")
    )

    class Meta:
        verbose_name = _("方案指标")
        verbose_name_plural = _("方案指标")
        ordering = ["scheme", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["scheme", "indicator"], name="one_item_per_indicator")
        ]

    def __str__(self) -> str:
        return f"{self.indicator} × {self.weight}"


class SchemeDeduction(models.Model):
    """A figure counted by another app (see sources.py) taken off the scheme's scores:
    value × points per unit, at most the cap."""

    scheme = models.ForeignKey(Scheme, on_delete=models.CASCADE, related_name="deductions")
    source = models.CharField(_("扣分来源"), max_length=40)
    points_per_unit = models.DecimalField(
        _("每单位扣分"), max_digits=6, decimal_places=2, default=Decimal(1)
    )
    cap = models.DecimalField(_("扣分上限"), max_digits=6, decimal_places=2, default=Decimal(10))

    class Meta:
        verbose_name = _("外部扣分项")
        verbose_name_plural = _("外部扣分项")
        ordering = ["scheme", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["scheme", "source"], name="one_deduction_per_source")
        ]

    def __str__(self) -> str:
        source = sources.get(self.source)
        return f"{source.label if source else self.source} × {self.points_per_unit}"

    def clean(self) -> None:
        errors = {}
        if sources.get(self.source) is None:
            errors["source"] = _("未注册的扣分来源")
        if self.points_per_unit is not None and self.points_per_unit < 0:
            errors["points_per_unit"] = _("每单位扣分不能为负数")
        if self.cap is not None and self.cap <= 0:
            errors["cap"] = _("扣分上限应大于 0")
        if self.scheme_id and self.scheme.unit_type != "department":
            errors["source"] = _("外部扣分按部门统计，只能用于专业部门考评方案")
        if errors:
            raise ValidationError(errors)


class PeriodStatus(models.TextChoices):
    FROZEN = "frozen", _("已冻结")
    PUBLISHED = "published", _("已发布")


class EvaluationPeriod(models.Model):
    """A closed period: its facts and results are a snapshot taken at `frozen_at`."""

    key = models.CharField(_("期间"), max_length=32, unique=True)
    kind = models.CharField(_("类型"), max_length=8, choices=list(PERIOD_KIND_LABELS.items()))
    start = models.DateField(_("开始"))
    end = models.DateField(_("结束（不含）"))
    status = models.CharField(_("状态"), max_length=12, choices=PeriodStatus.choices)
    frozen_at = models.DateTimeField(_("冻结时间"))
    frozen_by = models.ForeignKey(
        "accounts.User", null=True, on_delete=models.PROTECT, related_name="+"
    )
    published_at = models.DateTimeField(_("发布时间"), null=True, blank=True)
    published_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("考评期间")
        verbose_name_plural = _("考评期间")
        ordering = ["-start", "key"]

    def __str__(self) -> str:
        return self.key


class Fact(FactColumns):
    """One counted row of one measure in a frozen period: a copy of the live fact
    (cases.CaseFact) as it stood when the period froze."""

    # No database constraint: freezing a big city's month copies millions of rows, and a
    # foreign-key check per row was a quarter of that time. No index of its own either: every
    # index below starts with it. On PostgreSQL the table is partitioned by period (snapshot.py).
    period = models.ForeignKey(
        EvaluationPeriod,
        on_delete=models.CASCADE,
        related_name="facts",
        db_constraint=False,
        db_index=False,
    )

    class Meta:
        verbose_name = _("考评事实")
        verbose_name_plural = _("考评事实")
        # The drill-down's filter and order, one per unit column: a page and its count are one
        # range of one index, however big the period (compute.drilldown). Cells use their
        # community's range (u_area): each index costs a sort of the month when freezing.
        indexes = [
            models.Index(
                fields=["period", "measure", column, "at", "event_id"], name=f"fact_drill_{name}"
            )
            for column, name in (("u_dept", "dept"), ("u_actor", "actor"), ("u_area", "area"))
        ]


class PeriodResult(models.Model):
    """The scored ranking of one unit type in a frozen period (JSON, as computed then)."""

    period = models.ForeignKey(EvaluationPeriod, on_delete=models.CASCADE, related_name="results")
    unit_type = models.CharField(max_length=16, choices=UNIT_TYPE_CHOICES)
    data = models.JSONField()

    class Meta:
        verbose_name = _("考评结果")
        verbose_name_plural = _("考评结果")
        constraints = [
            models.UniqueConstraint(fields=["period", "unit_type"], name="one_result_per_unit_type")
        ]

    def __str__(self) -> str:
        return f"{self.period} {self.unit_type}"


class FrozenUnitFigure(models.Model):
    """A figure counted by another app (sources.py) for one department, as it stood when the
    period froze: later edits to inspections or exposures do not change the period's scores."""

    period = models.ForeignKey(
        EvaluationPeriod, on_delete=models.CASCADE, related_name="unit_figures"
    )
    source = models.CharField(max_length=40)
    label = models.CharField(max_length=60)
    unit = models.BigIntegerField()  # the department's id
    value = models.DecimalField(max_digits=12, decimal_places=2)

    class Meta:
        verbose_name = _("冻结的外部数字")
        verbose_name_plural = _("冻结的外部数字")
        constraints = [
            models.UniqueConstraint(
                fields=["period", "source", "unit"], name="one_frozen_figure_per_unit"
            )
        ]

    def __str__(self) -> str:
        return f"{self.period} {self.label} {self.unit}"


class AppealStatus(models.TextChoices):
    PENDING = "pending", _("待初审")
    FIRST_APPROVED = "first_approved", _("初审通过，待终审")
    APPROVED = "approved", _("已批准")
    REJECTED = "rejected", _("已驳回")


class Appeal(models.Model):
    """A department's appeal against its overdue mark on a closed case: one per case, reviewed
    first by the command centre, then by a leader. Approved, the mark stops counting in scores;
    the event rows keep `overdue=True`."""

    case = models.OneToOneField(
        "cases.Case", verbose_name=_("案件"), on_delete=models.PROTECT, related_name="appeal"
    )
    department = models.ForeignKey(
        "accounts.Department", verbose_name=_("申诉部门"), on_delete=models.PROTECT
    )
    reason = models.TextField(_("申诉理由"))
    status = models.CharField(
        _("状态"), max_length=16, choices=AppealStatus.choices, default=AppealStatus.PENDING
    )
    filed_by = models.ForeignKey("accounts.User", on_delete=models.PROTECT, related_name="+")
    filed_at = models.DateTimeField(_("申诉时间"))
    first_reviewer = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    first_at = models.DateTimeField(_("初审时间"), null=True, blank=True)
    first_note = models.TextField(_("初审意见"), blank=True)
    final_reviewer = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    final_at = models.DateTimeField(_("终审时间"), null=True, blank=True)
    final_note = models.TextField(_("终审意见"), blank=True)
    decided_at = models.DateTimeField(_("生效时间"), null=True, blank=True, db_index=True)

    class Meta:
        verbose_name = _("超期申诉")
        verbose_name_plural = _("超期申诉")
        ordering = ["-filed_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.case} · {self.get_status_display()}"


class AppealLog(models.Model):
    """Every step of an appeal: who, when, from which status to which, and why."""

    appeal = models.ForeignKey(Appeal, on_delete=models.CASCADE, related_name="log")
    actor = models.ForeignKey("accounts.User", on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField()
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.from_status}→{self.to_status}"


class FrozenDay(models.Model):
    """A frozen period's facts of one local day counted per measure and unit, for each of the
    unit columns u_dept, u_actor and u_area (as cases.FactDay counts the live facts): the
    snapshot's figures add these up, and a drill-down page finds here the days its rows fall
    on, so it reads those days' facts only."""

    period = models.ForeignKey(EvaluationPeriod, on_delete=models.CASCADE, related_name="days")
    day = models.DateField()
    dimension = models.CharField(max_length=8)
    measure = models.CharField(max_length=24)
    unit = models.BigIntegerField()
    n = models.IntegerField()
    c1 = models.IntegerField()
    c2 = models.IntegerField()
    hours = models.FloatField()

    class Meta:
        indexes = [
            models.Index(
                fields=["period", "dimension", "measure", "unit", "day"], name="frozenday_unit"
            )
        ]

    def __str__(self) -> str:
        return f"{self.period} {self.day} {self.dimension}={self.unit} {self.measure}: {self.n}"
