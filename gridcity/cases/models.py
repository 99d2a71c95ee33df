from django.db import models
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _

from gridcity.cases.reference import new_public_reference
from gridcity.grids.models import PositionProblem
from gridcity.taxonomy.models import CLOCK_CHOICES

# The workflow's steps by their names in the standard (see workflow.TRANSITIONS).
STEP_LABELS = {
    "file": gettext_noop("立案"),
    "verify": gettext_noop("核实"),
    "dispatch": gettext_noop("派遣"),
    "sign": gettext_noop("签收"),
    "handle": gettext_noop("处置"),
    "check": gettext_noop("核查"),
    "close": gettext_noop("结案"),
}


class Status(models.TextChoices):
    UNLOCATED = "unlocated", _("待定位")
    REPORTED = "reported", _("待立案")
    VERIFYING = "verifying", _("待核实")
    FILED = "filed", _("待派遣")
    DISPATCHED = "dispatched", _("待签收")
    HANDLING = "handling", _("处置中")
    EXTENSION_REQUESTED = "extension_requested", _("延期申请中")
    HOLD_REQUESTED = "hold_requested", _("挂账申请中")
    ON_HOLD = "on_hold", _("挂账")
    RETURNED = "returned", _("已回退")
    HANDLED = "handled", _("待核查")
    CHECKED = "checked", _("待结案")
    CLOSED = "closed", _("已结案")
    VOIDED = "voided", _("已作废")
    MERGED = "merged", _("已合并")


TERMINAL = frozenset({Status.CLOSED, Status.VOIDED, Status.MERGED})
OPEN = frozenset(set(Status) - TERMINAL)
# Statuses in which the case sits with a department.
AT_DEPARTMENT = frozenset(
    {
        Status.DISPATCHED,
        Status.HANDLING,
        Status.EXTENSION_REQUESTED,
        Status.HOLD_REQUESTED,
        Status.ON_HOLD,
    }
)


class Channel(models.TextChoices):
    INSPECTOR = "inspector", _("网格员上报")
    CITIZEN = "citizen", _("市民上报")
    HOTLINE = "hotline", _("12345热线")
    SENSOR = "sensor", _("物联感知")
    CAMERA = "camera", _("视频发现")
    LEADER = "leader", _("领导交办")
    OPEN311 = "open311", _("Open311 接口")


# Problems the public found (citizens, the hotline, Open311): in a grid manager's beat, each one
# filed is a problem the patrol missed (漏报).
PUBLIC_CHANNELS = (Channel.CITIZEN, Channel.HOTLINE, Channel.OPEN311)


class Case(models.Model):
    number = models.CharField(_("案件编号"), max_length=20, unique=True)
    # What the citizen looks the case up with: random, where the number is a sequence.
    public_reference = models.CharField(
        _("查询码"), max_length=10, unique=True, default=new_public_reference, editable=False
    )
    status = models.CharField(
        _("状态"), max_length=24, choices=Status.choices, default=Status.REPORTED, db_index=True
    )
    channel = models.CharField(_("来源"), max_length=16, choices=Channel.choices)
    category = models.ForeignKey(
        "taxonomy.Category", verbose_name=_("类别"), on_delete=models.PROTECT, related_name="cases"
    )
    filing_condition = models.ForeignKey(
        "taxonomy.FilingCondition",
        verbose_name=_("立案条件"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
    )
    component = models.ForeignKey(
        "grids.Component", verbose_name=_("部件"), null=True, blank=True, on_delete=models.SET_NULL
    )
    description = models.TextField(_("问题描述"), blank=True)
    address = models.CharField(_("地址"), max_length=300, blank=True)
    lon = models.FloatField(_("经度"), null=True, blank=True)
    lat = models.FloatField(_("纬度"), null=True, blank=True)
    cell = models.ForeignKey(
        "grids.Area",
        verbose_name=_("单元网格"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="cases",
    )
    # Path of the cell at report time, for subtree filters without joins.
    area_path = models.CharField(max_length=255, blank=True, db_index=True)
    # Set when the reported point (kept in lon/lat) is no real position in the city; such a case
    # is not placed in a cell.
    position_problem = models.CharField(
        _("位置问题"), max_length=16, blank=True, choices=PositionProblem.choices
    )
    department = models.ForeignKey(
        "accounts.Department",
        verbose_name=_("责任部门"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="cases",
    )
    suggested_department = models.ForeignKey(
        "accounts.Department",
        verbose_name=_("建议派遣部门"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    dispatch_explanation = models.JSONField(_("派遣依据"), default=dict, blank=True)
    assignee = models.ForeignKey(
        "accounts.User",
        verbose_name=_("核实/核查人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_cases",
    )
    reporter = models.ForeignKey(
        "accounts.User",
        verbose_name=_("上报人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reported_cases",
    )
    reporter_name = models.CharField(_("上报人姓名"), max_length=50, blank=True)
    reporter_phone = models.CharField(_("上报人电话"), max_length=32, blank=True)
    verified = models.BooleanField(_("已核实"), null=True, blank=True)
    is_urgent = models.BooleanField(_("紧急"), default=False)
    merged_into = models.ForeignKey(
        "self",
        verbose_name=_("合并至"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="merged_cases",
    )

    reported_at = models.DateTimeField(_("上报时间"), db_index=True)
    filed_at = models.DateTimeField(_("立案时间"), null=True, blank=True)
    dispatched_at = models.DateTimeField(_("派遣时间"), null=True, blank=True)
    signed_at = models.DateTimeField(_("签收时间"), null=True, blank=True)
    handled_at = models.DateTimeField(_("处置反馈时间"), null=True, blank=True)
    checked_at = models.DateTimeField(_("核查时间"), null=True, blank=True)
    closed_at = models.DateTimeField(_("结案时间"), null=True, blank=True, db_index=True)

    # The handling deadline of the whole case (from the filing condition, plus extensions).
    handle_deadline = models.DateTimeField(_("处置时限"), null=True, blank=True)
    handle_amount = models.FloatField(null=True, blank=True)
    handle_clock = models.CharField(max_length=16, choices=CLOCK_CHOICES, blank=True)
    # The current step's clock: reset by every transition.
    step = models.CharField(_("当前环节"), max_length=16, blank=True)
    step_started_at = models.DateTimeField(null=True, blank=True)
    step_deadline = models.DateTimeField(_("环节时限"), null=True, blank=True, db_index=True)
    step_amount = models.FloatField(null=True, blank=True)
    step_clock = models.CharField(max_length=16, choices=CLOCK_CHOICES, blank=True)
    step_overdue_at = models.DateTimeField(_("环节超期时间"), null=True, blank=True)
    supervision_level = models.PositiveSmallIntegerField(_("督办级别"), default=0)
    # Handling time left when a hold was approved, restored when the case resumes.
    handle_remaining = models.FloatField(null=True, blank=True)
    rework_count = models.PositiveSmallIntegerField(_("返工次数"), default=0)
    return_count = models.PositiveSmallIntegerField(_("回退次数"), default=0)

    version = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("案件")
        verbose_name_plural = _("案件")
        ordering = ["-reported_at", "-pk"]
        indexes = [
            models.Index(fields=["department", "status"], name="case_department_status"),
            models.Index(fields=["category", "status"], name="case_category_status"),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def is_open(self) -> bool:
        return self.status in OPEN


class Report(models.Model):
    """One report from one channel. Several reports of the same problem share a case."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="reports")
    channel = models.CharField(_("来源"), max_length=16, choices=Channel.choices)
    reporter = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reporter_name = models.CharField(max_length=50, blank=True)
    reporter_phone = models.CharField(max_length=32, blank=True)
    reporter_email = models.CharField(max_length=254, blank=True)
    description = models.TextField(blank=True)
    address = models.CharField(max_length=300, blank=True)
    lon = models.FloatField(null=True, blank=True)
    lat = models.FloatField(null=True, blank=True)
    input_crs = models.CharField(max_length=8, default="wgs84")
    reported_at = models.DateTimeField()
    idempotency_key = models.CharField(max_length=100, null=True, blank=True, unique=True)
    fingerprint = models.CharField(max_length=64, blank=True)
    is_duplicate = models.BooleanField(default=False)
    external_id = models.CharField(max_length=100, blank=True, db_index=True)
    # "<integration's user id>:<external_id>" when an integration sent its own record id as the
    # report's identity: sending the same record again answers with the same case.
    integration_key = models.CharField(max_length=130, null=True, blank=True, unique=True)
    extra = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("上报记录")
        verbose_name_plural = _("上报记录")
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} {self.reported_at:%Y-%m-%d %H:%M}"


class CaseEvent(models.Model):
    """Append-only: who did what to a case, when, from which status to which."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="events")
    action = models.CharField(_("动作"), max_length=32)
    from_status = models.CharField(max_length=24, blank=True)
    to_status = models.CharField(max_length=24, blank=True)
    actor = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_role = models.CharField(max_length=16, blank=True)
    actor_department = models.ForeignKey(
        "accounts.Department", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The department that holds the case after this event (for evaluation per department).
    department = models.ForeignKey(
        "accounts.Department", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField(db_index=True)
    note = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    step = models.CharField(max_length=16, blank=True)
    step_elapsed = models.FloatField(null=True, blank=True)
    step_amount = models.FloatField(null=True, blank=True)
    step_clock = models.CharField(max_length=16, blank=True)
    overdue = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("案件流转记录")
        verbose_name_plural = _("案件流转记录")
        ordering = ["at", "pk"]
        indexes = [models.Index(fields=["action", "at"], name="event_action_at")]

    def __str__(self) -> str:
        return f"{self.action} {self.from_status}→{self.to_status}"


class AttachmentKind(models.TextChoices):
    REPORT = "report", _("上报照片")
    BEFORE = "before", _("处置前")
    AFTER = "after", _("处置后")
    VERIFY = "verify", _("核实照片")
    CHECK = "check", _("核查照片")
    OTHER = "other", _("其他")


class Attachment(models.Model):
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="attachments")
    event = models.ForeignKey(
        CaseEvent, null=True, blank=True, on_delete=models.PROTECT, related_name="attachments"
    )
    kind = models.CharField(max_length=16, choices=AttachmentKind.choices)
    file = models.FileField(upload_to="cases/%Y/%m/")
    public_file = models.FileField(upload_to="public/%Y/%m/", blank=True)
    thumbnail = models.FileField(upload_to="thumbs/%Y/%m/", blank=True)
    content_type = models.CharField(max_length=32)
    size = models.PositiveIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    exif_gps = models.JSONField(null=True, blank=True)
    uploaded_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    uploaded_at = models.DateTimeField()

    class Meta:
        verbose_name = _("附件")
        verbose_name_plural = _("附件")
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.pk}"


class SupervisionKind(models.TextChoices):
    OVERDUE = "overdue", _("超期督办")
    LEADER = "leader", _("领导督办")
    KEY_CASE = "key_case", _("重点案件督办")


class Addressee(models.TextChoices):
    """Who must act on a supervision order: whoever owns the step it chases."""

    DEPARTMENT = "department", _("责任部门")
    FIELD = "field", _("网格员")
    CENTRE = "centre", _("监督指挥中心")


class SupervisionOrder(models.Model):
    number = models.CharField(_("督办单号"), max_length=24, unique=True)
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="supervision_orders")
    kind = models.CharField(_("类型"), max_length=16, choices=SupervisionKind.choices)
    level = models.PositiveSmallIntegerField(_("级别"), default=1)
    department = models.ForeignKey(
        "accounts.Department",
        verbose_name=_("被督办部门"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="supervision_orders",
    )
    addressee_kind = models.CharField(
        _("督办对象"), max_length=16, choices=Addressee.choices, default=Addressee.DEPARTMENT
    )
    addressee = models.ForeignKey(
        "accounts.User",
        verbose_name=_("被督办人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="supervision_orders",
        help_text=_("网格员环节（核实、核查）的督办单发给负责的网格员。"),
    )
    step = models.CharField(_("超期环节"), max_length=16, blank=True)
    step_started_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(_("督办要求"), blank=True)
    created_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("督办时间"))
    reply_deadline = models.DateTimeField(_("答复时限"), null=True, blank=True)
    reply = models.TextField(_("答复"), blank=True)
    replied_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    replied_at = models.DateTimeField(_("答复时间"), null=True, blank=True)
    # Settled (办结) when the step it chases is done or the case ends; the reason says which.
    settled_at = models.DateTimeField(_("办结时间"), null=True, blank=True, db_index=True)
    settled_reason = models.CharField(_("办结原因"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("督办单")
        verbose_name_plural = _("督办单")
        ordering = ["-created_at", "-pk"]
        constraints = [
            # The sweeper may run twice at once: one overdue order per case, step and level.
            models.UniqueConstraint(
                fields=["case", "kind", "step", "step_started_at", "level"],
                condition=models.Q(kind="overdue"),
                name="one_overdue_order_per_step_level",
            )
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def is_answered(self) -> bool:
        return self.replied_at is not None

    @property
    def is_settled(self) -> bool:
        return self.settled_at is not None

    def get_step_display(self) -> str:
        return gettext(STEP_LABELS.get(self.step, self.step))

    @property
    def awaits_reply(self) -> bool:
        """Still standing and not yet answered: what the addressee's desk lists."""
        return self.settled_at is None and self.replied_at is None


class FactColumns(models.Model):
    """One counted row of one evaluation measure, derived from one CaseEvent (see facts.py).
    Plain columns, no foreign keys: a frozen copy must outlive any later edit."""

    measure = models.CharField(max_length=24)
    event_id = models.BigIntegerField()
    case_id = models.BigIntegerField()
    case_number = models.CharField(max_length=20)
    channel = models.CharField(max_length=16, blank=True)
    at = models.DateTimeField()
    # Overdue marks: when the marked step ended (facts.NOT_ENDED while it runs).
    ended_at = models.DateTimeField(null=True)
    # Handling: hours since the dispatch or rework this report-back answers.
    hours = models.FloatField(null=True)
    u_dept = models.BigIntegerField(null=True)
    u_actor = models.BigIntegerField(null=True)  # the person the row is attributed to
    u_cell = models.BigIntegerField(null=True)
    u_area = models.BigIntegerField(null=True)  # the area just above the cell (community)
    f1 = models.BooleanField(default=False)
    f2 = models.BooleanField(default=False)
    raw_overdue = models.BooleanField(default=False)
    appealed = models.BooleanField(default=False)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.measure} {self.case_number}"


class CaseFact(FactColumns):
    """The evaluation's reading of the case record, kept current by the case actions: every
    action that writes a CaseEvent rewrites its case's facts in the same transaction. Derived,
    never edited by hand: `gridcity rebuild-facts` recomputes all of it from the events."""

    class Meta:
        verbose_name = _("考评事实（实时）")
        verbose_name_plural = _("考评事实（实时）")
        indexes = [
            models.Index(fields=["case_id"], name="casefact_case"),
            models.Index(fields=["measure", "at"], name="casefact_measure_at"),
            # The overdue marks, by when their step ended: the steps open at a period's end.
            models.Index(
                fields=["measure", "ended_at"],
                name="casefact_open_steps",
                condition=models.Q(measure__in=("overdue_open", "overdue_field", "overdue_centre")),
            ),
        ]


class FactDay(models.Model):
    """The facts of one local day counted per measure and unit, for each unit column: what a
    period's figures add up, so a month is ~30 × a few thousand rows, not millions of facts.
    Rebuilt from CaseFact for the days marked stale (see facts.refresh_stale_days)."""

    day = models.DateField()
    dimension = models.CharField(max_length=8)  # the unit column: u_dept, u_actor or u_area
    measure = models.CharField(max_length=24)
    unit = models.BigIntegerField()
    n = models.IntegerField()
    c1 = models.IntegerField()
    c2 = models.IntegerField()
    hours = models.FloatField()

    class Meta:
        indexes = [models.Index(fields=["day"], name="factday_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.dimension}={self.unit} {self.measure}: {self.n}"


class StaleDay(models.Model):
    """A local day whose facts changed since its FactDay rows were counted."""

    day = models.DateField(primary_key=True)

    def __str__(self) -> str:
        return str(self.day)
