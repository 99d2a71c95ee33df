"""Campaigns (专项整治), the rectification ledger (整改台账) with its events and 督办, rebound
warnings, and inspections (督查检查) with findings and rectification notices (整改通知书)."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class ClosedCasePolicy(models.TextChoices):
    """What a campaign does with a case that is already closed when it is tagged. A row made
    while its case was open always follows the case: its closing sends the row on to
    sign-off."""

    AWAIT = "await", _("入台账，待验收销号")
    SIGN_OFF = "sign_off", _("入台账并直接销号")
    EXCLUDE = "exclude", _("不入台账（仅计入纳入案件）")


class Campaign(models.Model):
    name = models.CharField(_("整治主题"), max_length=100)
    starts_on = models.DateField(_("开始日期"))
    ends_on = models.DateField(_("结束日期"))
    categories = models.ManyToManyField(
        "taxonomy.Category", verbose_name=_("整治类别"), related_name="campaigns"
    )
    areas = models.ManyToManyField(
        "grids.Area",
        verbose_name=_("整治区域"),
        related_name="campaigns",
        help_text=_("任意层级；区域下的全部网格都在范围内。"),
    )
    lead_department = models.ForeignKey(
        "accounts.Department",
        verbose_name=_("牵头部门"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="led_campaigns",
    )
    member_departments = models.ManyToManyField(
        "accounts.Department",
        verbose_name=_("配合部门"),
        blank=True,
        related_name="member_campaigns",
    )
    goals = models.TextField(_("整治目标"), blank=True)
    # Tagged cases also become ledger rows (the usual practice: every problem gets a row).
    ledger_from_cases = models.BooleanField(_("案件自动入台账"), default=True)
    closed_cases = models.CharField(
        _("已结案案件"),
        max_length=16,
        choices=ClosedCasePolicy.choices,
        default=ClosedCasePolicy.AWAIT,
        help_text=_("纳入时已结案的案件如何进入台账；整治期间结案的案件，其台账自动转为待验收。"),
    )
    default_days = models.PositiveSmallIntegerField(_("默认整改天数"), default=7)
    rebound_days = models.PositiveSmallIntegerField(_("反弹观察期（天）"), default=30)
    created_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("创建时间"))
    # An archived campaign leaves the list of current work; its rows and warnings stay.
    archived_at = models.DateTimeField(_("归档时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("专项整治")
        verbose_name_plural = _("专项整治")
        ordering = ["-starts_on", "-pk"]

    def __str__(self) -> str:
        return self.name


class CampaignCase(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="tags")
    case = models.ForeignKey("cases.Case", on_delete=models.PROTECT, related_name="campaign_tags")
    tagged_at = models.DateTimeField()

    class Meta:
        verbose_name = _("整治案件")
        verbose_name_plural = _("整治案件")
        constraints = [
            models.UniqueConstraint(fields=["campaign", "case"], name="one_tag_per_campaign_case")
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}:{self.case_id}"


class LedgerStatus(models.TextChoices):
    PENDING = "pending", _("未整改")
    RECTIFYING = "rectifying", _("整改中")
    AWAITING = "awaiting", _("待验收")
    SIGNED_OFF = "signed_off", _("已销号")
    OVERDUE = "overdue", _("逾期")
    # The row's case was voided, or merged into a case that already has a row: there is
    # nothing left to rectify. Not counted in the sign-off rate.
    CANCELLED = "cancelled", _("已撤销")


LEDGER_DONE = frozenset({LedgerStatus.SIGNED_OFF, LedgerStatus.CANCELLED})
LEDGER_OPEN = frozenset(set(LedgerStatus) - LEDGER_DONE)
# Statuses whose deadline the sweep watches: the unit still has to act.
LEDGER_CHASED = frozenset({LedgerStatus.PENDING, LedgerStatus.RECTIFYING})


class LedgerSource(models.TextChoices):
    CASE = "case", _("案件")
    FINDING = "finding", _("督查发现")
    IMPORT = "import", _("批量导入")
    MANUAL = "manual", _("手工录入")


class LedgerRow(models.Model):
    number = models.CharField(_("台账编号"), max_length=24, unique=True)
    campaign = models.ForeignKey(
        Campaign,
        verbose_name=_("专项整治"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="ledger_rows",
    )
    source = models.CharField(_("来源"), max_length=16, choices=LedgerSource.choices)
    case = models.ForeignKey(
        "cases.Case",
        verbose_name=_("关联案件"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="ledger_rows",
    )
    category = models.ForeignKey(
        "taxonomy.Category",
        verbose_name=_("类别"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    description = models.TextField(_("问题描述"))
    address = models.CharField(_("位置"), max_length=300, blank=True)
    lon = models.FloatField(_("经度"), null=True, blank=True)
    lat = models.FloatField(_("纬度"), null=True, blank=True)
    cell = models.ForeignKey(
        "grids.Area",
        verbose_name=_("单元网格"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    area_path = models.CharField(max_length=255, blank=True, db_index=True)
    department = models.ForeignKey(
        "accounts.Department",
        verbose_name=_("责任单位"),
        on_delete=models.PROTECT,
        related_name="ledger_rows",
    )
    measures = models.TextField(_("整改措施"), blank=True)
    deadline = models.DateField(_("整改时限"), db_index=True)
    status = models.CharField(
        _("整改状态"),
        max_length=16,
        choices=LedgerStatus.choices,
        default=LedgerStatus.PENDING,
        db_index=True,
    )
    remark = models.TextField(_("备注"), blank=True)
    signed_off_at = models.DateTimeField(_("销号时间"), null=True, blank=True)
    signed_off_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    sign_off_reason = models.TextField(_("销号理由"), blank=True)
    overdue_at = models.DateTimeField(_("逾期时间"), null=True, blank=True)
    created_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("录入时间"))

    class Meta:
        verbose_name = _("整改台账")
        verbose_name_plural = _("整改台账")
        ordering = ["pk"]
        constraints = [
            # A case enters one campaign's ledger once, however often tagging runs.
            models.UniqueConstraint(
                fields=["campaign", "case"],
                condition=models.Q(case__isnull=False),
                name="one_ledger_row_per_campaign_case",
            )
        ]

    def __str__(self) -> str:
        return self.number


class LedgerEvent(models.Model):
    """Append-only: every change to a ledger row."""

    row = models.ForeignKey(LedgerRow, on_delete=models.PROTECT, related_name="events")
    action = models.CharField(_("动作"), max_length=32)
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16, blank=True)
    actor = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_role = models.CharField(max_length=16, blank=True)
    at = models.DateTimeField(db_index=True)
    note = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("台账记录")
        verbose_name_plural = _("台账记录")
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.action} {self.from_status}→{self.to_status}"


class EvidenceKind(models.TextChoices):
    BEFORE = "before", _("整改前")
    AFTER = "after", _("整改后")
    FINDING = "finding", _("现场照片")


class EvidencePhoto(models.Model):
    row = models.ForeignKey(
        LedgerRow, null=True, blank=True, on_delete=models.PROTECT, related_name="photos"
    )
    finding = models.ForeignKey(
        "Finding", null=True, blank=True, on_delete=models.PROTECT, related_name="photos"
    )
    kind = models.CharField(max_length=16, choices=EvidenceKind.choices)
    file = models.FileField(upload_to="campaigns/%Y/%m/")
    content_type = models.CharField(max_length=32)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    exif_gps = models.JSONField(null=True, blank=True)
    uploaded_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    uploaded_at = models.DateTimeField()

    class Meta:
        verbose_name = _("佐证照片")
        verbose_name_plural = _("佐证照片")
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.pk}"


class LedgerSupervision(models.Model):
    """督办 of an overdue ledger row. Every overdue row gets one (per missed deadline); when the
    row comes from a case that is still open, the case also gets a SupervisionOrder, linked
    here, so the department sees it in its usual 督办 list."""

    number = models.CharField(_("督办单号"), max_length=24, unique=True)
    row = models.ForeignKey(LedgerRow, on_delete=models.PROTECT, related_name="supervisions")
    missed_deadline = models.DateField(_("错过的时限"))
    case_order = models.ForeignKey(
        "cases.SupervisionOrder",
        verbose_name=_("案件督办单"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    note = models.TextField(_("督办要求"))
    created_at = models.DateTimeField(_("督办时间"))

    class Meta:
        verbose_name = _("台账督办")
        verbose_name_plural = _("台账督办")
        ordering = ["-created_at", "-pk"]
        constraints = [
            # The sweeper may run twice at once: one order per row and missed deadline.
            models.UniqueConstraint(
                fields=["row", "missed_deadline"], name="one_ledger_order_per_deadline"
            )
        ]

    def __str__(self) -> str:
        return self.number


class ReboundWarning(models.Model):
    """A target problem came back in a cell of an ended campaign within its watch window."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="rebounds")
    cell = models.ForeignKey("grids.Area", on_delete=models.PROTECT, related_name="+")
    case = models.ForeignKey("cases.Case", on_delete=models.PROTECT, related_name="+")
    detected_at = models.DateTimeField(_("发现时间"))
    note = models.TextField(blank=True)

    class Meta:
        verbose_name = _("反弹预警")
        verbose_name_plural = _("反弹预警")
        ordering = ["-detected_at"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "case"], name="one_rebound_per_case")
        ]

    def __str__(self) -> str:
        return f"{self.campaign} · {self.cell}"


class PlanMethod(models.TextChoices):
    PLANNED = "planned", _("计划检查")
    RANDOM = "random", _("随机抽查")


class PlanOpenness(models.TextChoices):
    OPEN = "open", _("明察")
    UNDERCOVER = "undercover", _("暗访")


class PlanScope(models.TextChoices):
    THEMATIC = "thematic", _("专项督查")
    COMPREHENSIVE = "comprehensive", _("综合督查")


class Frequency(models.TextChoices):
    ONCE = "once", _("一次")
    DAILY = "daily", _("每日")
    WEEKLY = "weekly", _("每周")
    MONTHLY = "monthly", _("每月")


class InspectionPlan(models.Model):
    name = models.CharField(_("计划名称"), max_length=100)
    content = models.TextField(_("检查内容"))
    method = models.CharField(_("方式"), max_length=16, choices=PlanMethod.choices)
    openness = models.CharField(_("明察/暗访"), max_length=16, choices=PlanOpenness.choices)
    scope = models.CharField(_("类型"), max_length=16, choices=PlanScope.choices)
    frequency = models.CharField(_("频次"), max_length=16, choices=Frequency.choices)
    owner = models.ForeignKey(
        "accounts.User", verbose_name=_("负责人"), on_delete=models.PROTECT, related_name="+"
    )
    area = models.ForeignKey(
        "grids.Area",
        verbose_name=_("检查范围"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    # Who walks the recurring checks the sweep schedules (none: the owner schedules by hand).
    inspector = models.ForeignKey(
        "accounts.User",
        verbose_name=_("默认检查人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    sample_size = models.PositiveSmallIntegerField(_("抽查网格数"), default=5)
    campaign = models.ForeignKey(
        Campaign,
        verbose_name=_("所属专项整治"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="plans",
    )
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = _("督查计划")
        verbose_name_plural = _("督查计划")
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return self.name


class ChecklistItem(models.Model):
    plan = models.ForeignKey(InspectionPlan, on_delete=models.CASCADE, related_name="items")
    text = models.CharField(_("检查项"), max_length=200)
    deduction = models.DecimalField(_("每处扣分"), max_digits=5, decimal_places=2, default=1)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name = _("检查项")
        verbose_name_plural = _("检查项")
        ordering = ["position", "pk"]

    def __str__(self) -> str:
        return self.text


class InspectionStatus(models.TextChoices):
    SCHEDULED = "scheduled", _("待检查")
    DONE = "done", _("已完成")


class Inspection(models.Model):
    number = models.CharField(_("检查编号"), max_length=24, unique=True)
    plan = models.ForeignKey(InspectionPlan, on_delete=models.PROTECT, related_name="inspections")
    inspector = models.ForeignKey(
        "accounts.User", verbose_name=_("检查人"), on_delete=models.PROTECT, related_name="+"
    )
    scheduled_for = models.DateField(_("检查日期"))
    seed = models.CharField(_("抽样种子"), max_length=64, blank=True)
    # For checks the sweep schedules: the day, ISO week or month they cover.
    period = models.CharField(_("周期"), max_length=16, blank=True)
    cells = models.ManyToManyField("grids.Area", verbose_name=_("抽中网格"), related_name="+")
    reinspection_of = models.ForeignKey(
        "self",
        verbose_name=_("复查对象"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reinspections",
    )
    status = models.CharField(
        max_length=16, choices=InspectionStatus.choices, default=InspectionStatus.SCHEDULED
    )
    passed = models.BooleanField(_("复查通过"), null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = _("督查检查")
        verbose_name_plural = _("督查检查")
        ordering = ["-scheduled_for", "-pk"]
        constraints = [
            # Two sweeps at once must not schedule a period's recurring check twice.
            models.UniqueConstraint(
                fields=["plan", "period"],
                condition=~models.Q(period=""),
                name="one_recurring_inspection_per_period",
            )
        ]

    def __str__(self) -> str:
        return self.number


class FindingSource(models.TextChoices):
    INSPECTION = "inspection", _("督查检查")
    DRONE = "drone", _("无人机")
    CAMERA = "camera", _("视频监控")


class FindingOutcome(models.TextChoices):
    LEDGER = "ledger", _("入整改台账")
    CASE = "case", _("转案件")
    REVIEW = "review", _("待人工研判")
    REJECTED = "rejected", _("研判驳回")


class Finding(models.Model):
    inspection = models.ForeignKey(
        Inspection, null=True, blank=True, on_delete=models.PROTECT, related_name="findings"
    )
    checklist_item = models.ForeignKey(
        ChecklistItem, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(_("来源"), max_length=16, choices=FindingSource.choices)
    device_id = models.CharField(_("设备编号"), max_length=64, blank=True)
    confidence = models.FloatField(_("置信度"), null=True, blank=True)
    category = models.ForeignKey(
        "taxonomy.Category", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    description = models.TextField(_("问题描述"))
    lon = models.FloatField(null=True, blank=True)
    lat = models.FloatField(null=True, blank=True)
    cell = models.ForeignKey(
        "grids.Area", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    department = models.ForeignKey(
        "accounts.Department",
        verbose_name=_("责任单位"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="findings",
    )
    deduction = models.DecimalField(_("扣分"), max_digits=5, decimal_places=2, default=0)
    outcome = models.CharField(_("处理"), max_length=16, choices=FindingOutcome.choices)
    ledger_row = models.OneToOneField(
        LedgerRow, null=True, blank=True, on_delete=models.PROTECT, related_name="finding"
    )
    case = models.ForeignKey(
        "cases.Case", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(db_index=True)
    # A detection held for review: who decided, when, and why it was rejected or accepted.
    reviewed_by = models.ForeignKey(
        "accounts.User",
        verbose_name=_("研判人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    reviewed_at = models.DateTimeField(_("研判时间"), null=True, blank=True)
    review_note = models.TextField(_("研判意见"), blank=True)

    class Meta:
        verbose_name = _("检查发现")
        verbose_name_plural = _("检查发现")
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.description[:30]


class RectificationNotice(models.Model):
    number = models.CharField(_("通知书编号"), max_length=24, unique=True)
    inspection = models.ForeignKey(Inspection, on_delete=models.PROTECT, related_name="notices")
    department = models.ForeignKey(
        "accounts.Department", verbose_name=_("受文单位"), on_delete=models.PROTECT
    )
    deadline = models.DateField(_("整改期限"))
    reinspection = models.OneToOneField(
        Inspection,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="notice_checked",
    )
    issued_by = models.ForeignKey("accounts.User", on_delete=models.PROTECT, related_name="+")
    issued_at = models.DateTimeField(_("下发时间"))
    closed_at = models.DateTimeField(_("闭环时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("整改通知书")
        verbose_name_plural = _("整改通知书")
        ordering = ["-issued_at"]

    def __str__(self) -> str:
        return self.number
