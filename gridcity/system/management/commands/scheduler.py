import signal
import threading

from django.core.management.base import BaseCommand

from gridcity.system import scheduling


class Command(BaseCommand):
    help = (
        "定时任务调度器：到点把定时任务放进后台任务队列（由 gridcity db_worker 执行）。"
        "可在每个节点各运行一个：每个任务每个周期在整个集群只运行一次。"
    )

    def add_arguments(self, parser):
        parser.add_argument("--list", action="store_true", help="列出定时任务及其间隔后退出")
        parser.add_argument("--once", action="store_true", help="认领此刻到期的任务后退出")

    def handle(self, *args, **o):
        if o["list"]:
            for job in scheduling.jobs():
                self.stdout.write(f"{job.name:<20} 每 {job.every:g} 秒  {job.description}")
            return
        if o["once"]:
            for run in scheduling.claim_due():
                self.stdout.write(self._line(run))
            return
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        names = ", ".join(f"{j.name}/{j.every:g}s" for j in scheduling.jobs())
        self.stdout.write(f"调度器 {scheduling.process_name()} 启动：{names}", ending="\n")
        self.stdout.flush()
        # Every tick claimed is listed with -v 2; by default only ticks skipped because the
        # previous run is still going, which is worth a look.
        verbose = o["verbosity"] >= 2
        scheduling.run_forever(
            stop, out=lambda run: (verbose or run.status == "skipped") and self._write(run)
        )
        self.stdout.write("调度器已停止")

    def _write(self, run) -> None:
        self.stdout.write(self._line(run))
        self.stdout.flush()

    @staticmethod
    def _line(run) -> str:
        state = "跳过：" + run.outcome if run.status == "skipped" else "已排队"
        return f"{run.job} #{run.tick}（{run.due_at:%H:%M:%S} UTC）{state}"
