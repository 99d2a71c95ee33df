from django.core.management.base import BaseCommand

from gridcity.campaigns.tasks import sweep_ledger_job


class Command(BaseCommand):
    help = (
        "立即运行一次整改台账扫描：逾期标记并督办（每个时限只督办一次）、检查反弹、"
        "安排本周期的例行督查。平时由 gridcity scheduler 每 5 分钟安排。"
    )

    def handle(self, *args, **o):
        self.stdout.write(sweep_ledger_job())
