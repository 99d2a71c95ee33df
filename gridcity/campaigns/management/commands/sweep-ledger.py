import time

from django.core.management.base import BaseCommand

from gridcity.campaigns.actions import sweep_ledger


class Command(BaseCommand):
    help = (
        "整改台账逾期扫描：超过整改时限的问题标记逾期并督办（每个时限只督办一次）；"
        "检查反弹；安排本周期的例行督查。--loop 持续运行。"
    )

    def add_arguments(self, parser):
        parser.add_argument("--loop", action="store_true")
        parser.add_argument("--interval", type=float, default=300.0, help="--loop 时的间隔秒数")

    def handle(self, *args, **o):
        while True:
            r = sweep_ledger()
            self.stdout.write(
                f"标记逾期 {r.marked}，新督办 {r.orders}（其中案件督办单 {r.case_orders}），"
                f"新反弹预警 {r.rebounds}，新例行督查 {r.inspections}"
            )
            if not o["loop"]:
                return
            time.sleep(o["interval"])
