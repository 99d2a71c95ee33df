import time

from django.core.management.base import BaseCommand

from gridcity.cases.facts import refresh_stale_days


class Command(BaseCommand):
    help = "重新统计有变动的日期的考评日汇总（考评页面也会按需统计）。--loop 持续运行。"

    def add_arguments(self, parser):
        parser.add_argument("--loop", action="store_true")
        parser.add_argument("--interval", type=float, default=60.0, help="--loop 时的间隔秒数")

    def handle(self, *args, **o):
        while True:
            days = refresh_stale_days()
            self.stdout.write(f"已重新统计 {days} 天")
            if not o["loop"]:
                return
            time.sleep(o["interval"])
