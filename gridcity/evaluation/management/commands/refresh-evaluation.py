from django.core.management.base import BaseCommand

from gridcity.evaluation.tasks import refresh_evaluation_job


class Command(BaseCommand):
    help = (
        "立即重新统计有变动的日期的考评日汇总（考评页面也会按需统计）。"
        "平时由 gridcity scheduler 每分钟安排。"
    )

    def handle(self, *args, **o):
        self.stdout.write(refresh_evaluation_job())
