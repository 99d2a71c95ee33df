from django.db import models
from django.utils.translation import gettext_lazy as _


class RunStatus(models.TextChoices):
    RUNNING = "running", _("导入中")
    FINISHED = "finished", _("已完成")
    REJECTED = "rejected", _("已拒绝")


class ImportRun(models.Model):
    """One `gridcity import-cases` of one file. A rerun of the same file (same SHA-256) takes
    the unfinished run up again; the rows it already brought in are found by external id."""

    source = models.CharField(_("来源系统"), max_length=50)
    file_name = models.CharField(_("文件"), max_length=255)
    file_sha256 = models.CharField(max_length=64, db_index=True)
    status = models.CharField(
        _("状态"), max_length=16, choices=RunStatus.choices, default=RunStatus.RUNNING
    )
    rows = models.PositiveIntegerField(_("数据行数"), default=0)
    imported = models.PositiveIntegerField(_("已导入"), default=0)
    # Rows found already imported (by an earlier run, or this run before an interruption).
    skipped = models.PositiveIntegerField(_("已存在跳过"), default=0)
    rejected = models.PositiveIntegerField(_("拒绝"), default=0)
    unlocated = models.PositiveIntegerField(_("未定位"), default=0)
    # The last file line committed: what `--limit` and an interruption leave behind.
    last_line = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(_("开始时间"))
    updated_at = models.DateTimeField(_("更新时间"))
    finished_at = models.DateTimeField(_("完成时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("历史导入批次")
        verbose_name_plural = _("历史导入批次")
        ordering = ["-started_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.get_status_display()})"


class ImportedCase(models.Model):
    """Where an imported case came from: the key that makes an import idempotent (source and
    external id) and the old system's own number, which staff keep quoting for years."""

    case = models.OneToOneField(
        "cases.Case",
        primary_key=True,
        on_delete=models.PROTECT,
        related_name="imported_from",
        verbose_name=_("案件"),
    )
    source = models.CharField(_("来源系统"), max_length=50)
    external_id = models.CharField(_("外部编号"), max_length=100)
    original_number = models.CharField(_("原案件编号"), max_length=50, blank=True, db_index=True)
    run = models.ForeignKey(ImportRun, on_delete=models.PROTECT, related_name="cases")
    line = models.PositiveIntegerField(_("文件行号"))

    class Meta:
        verbose_name = _("导入的历史案件")
        verbose_name_plural = _("导入的历史案件")
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"], name="imported_case_source_external_id"
            )
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.external_id}"
