from django.db import models
from django.utils.translation import gettext_lazy as _


class ConfigStamp(models.Model):
    """The version of a piece of configuration that every process keeps in memory (dispatch
    rules, the working calendar). Written in the same transaction as the change."""

    name = models.CharField(_("配置"), max_length=40, primary_key=True)
    token = models.CharField(_("版本"), max_length=32)
    changed_at = models.DateTimeField(_("修改时间"))

    class Meta:
        verbose_name = _("配置版本")
        verbose_name_plural = _("配置版本")

    def __str__(self) -> str:
        return f"{self.name} {self.token[:8]}"


class RunStatus(models.TextChoices):
    QUEUED = "queued", _("排队中")
    RUNNING = "running", _("运行中")
    DONE = "done", _("完成")
    FAILED = "failed", _("失败")
    SKIPPED = "skipped", _("跳过（上次仍在运行）")


class PeriodicRun(models.Model):
    """One tick of one periodic job. The unique (job, tick) pair is the cluster-wide claim: of
    all the schedulers running, exactly one inserts the row and enqueues the run."""

    job = models.CharField(_("任务"), max_length=80)
    tick = models.BigIntegerField(_("周期序号"))
    due_at = models.DateTimeField(_("应运行时间"))
    claimed_by = models.CharField(_("调度进程"), max_length=120)
    claimed_at = models.DateTimeField(_("认领时间"), auto_now_add=True)
    task_id = models.CharField(_("后台任务"), max_length=64, blank=True)
    status = models.CharField(
        _("状态"), max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED
    )
    runs = models.PositiveIntegerField(_("执行次数"), default=0)
    ran_on = models.CharField(_("执行进程"), max_length=120, blank=True)
    started_at = models.DateTimeField(_("开始"), null=True, blank=True)
    finished_at = models.DateTimeField(_("结束"), null=True, blank=True)
    outcome = models.TextField(_("结果"), blank=True)

    class Meta:
        verbose_name = _("定时任务运行")
        verbose_name_plural = _("定时任务运行")
        ordering = ["-due_at"]
        constraints = [
            models.UniqueConstraint(fields=["job", "tick"], name="periodic_run_once_per_tick")
        ]
        indexes = [models.Index(fields=["job", "-tick"], name="periodic_run_job_tick")]

    def __str__(self) -> str:
        return f"{self.job} #{self.tick}"
