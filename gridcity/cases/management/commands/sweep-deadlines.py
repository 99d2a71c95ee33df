from django.core.management.base import BaseCommand

from gridcity.cases.tasks import sweep_deadlines_job


class Command(BaseCommand):
    help = (
        "立即运行一次超期扫描：标记超期环节（每个环节只标一次）并按督办阶梯生成督办单。"
        "平时由 gridcity scheduler 每分钟安排。"
    )

    def handle(self, *args, **o):
        self.stdout.write(sweep_deadlines_job())
