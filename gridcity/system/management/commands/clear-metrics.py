from django.core.management.base import BaseCommand

from gridcity.system.metrics import clear_multiproc_dir


class Command(BaseCommand):
    help = (
        "清空本节点的指标文件（PROMETHEUS_MULTIPROC_DIR）。只在节点的所有进程启动之前运行"
        "（make run 和 systemd 的 ExecStartPre 会运行它）。"
    )

    def handle(self, *args, **o):
        clear_multiproc_dir()
