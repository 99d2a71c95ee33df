"""`gridcity prune-orphan-files`: see gridcity/system/orphans.py."""

from django.core.management.base import BaseCommand

from gridcity.system.orphans import prune_orphan_files


class Command(BaseCommand):
    help = (
        "删除存储中没有任何记录引用、且早于 --hours 小时的文件（进程在写入照片之后、"
        "提交之前被强制结束时留下的）。"
    )

    def add_arguments(self, parser):
        parser.add_argument("--hours", type=float, default=24, help="只删除早于这么多小时的文件")
        parser.add_argument("--dry-run", action="store_true", help="只列出，不删除")

    def handle(self, *args, **o):
        pruned = prune_orphan_files(hours=o["hours"], dry_run=o["dry_run"])
        for name in pruned:
            self.stdout.write(name)
        verb = "将删除" if o["dry_run"] else "已删除"
        self.stdout.write(f"{verb} {len(pruned)} 个无记录引用的文件")
