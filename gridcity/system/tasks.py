"""The task that runs one claimed tick of a periodic job, and the system's own upkeep jobs."""

from datetime import timedelta

from django.utils import timezone

from gridcity.system.models import PeriodicRun

# run_periodic lives beside the scheduler that enqueues it; named here too because queued rows
# written before it moved name it by this module.
from gridcity.system.scheduling import periodic, run_periodic  # noqa: F401

KEEP_DAYS = 14


@periodic(every=3600, name="prune-history", priority=-20)
def prune_history() -> str:
    """清理 14 天前已结束的定时任务记录和后台任务结果。"""
    from django_tasks_db.models import DBTaskResult

    cutoff = timezone.now() - timedelta(days=KEEP_DAYS)
    runs, _ = PeriodicRun.objects.filter(due_at__lt=cutoff).delete()
    results, _ = DBTaskResult.objects.filter(
        finished_at__lt=cutoff, status__in=["SUCCESSFUL", "FAILED"]
    ).delete()
    return f"定时任务记录 {runs}，后台任务结果 {results}"


@periodic(every=86400, name="prune-orphan-files", priority=-30)
def prune_orphan_files_job() -> str:
    """删除一天前写入、却没有任何记录引用的文件（进程在写入照片后、提交前被终止时留下）。"""
    from gridcity.system.orphans import prune_orphan_files

    return f"删除无引用文件 {len(prune_orphan_files(hours=24))} 个"
