import time

from django.core.management.base import BaseCommand

from gridcity.cases.actions import sweep_deadlines


class Command(BaseCommand):
    help = "标记超期环节（每个环节只标一次）并按督办阶梯生成督办单。--loop 持续运行。"

    def add_arguments(self, parser):
        parser.add_argument("--loop", action="store_true")
        parser.add_argument("--interval", type=float, default=60.0, help="--loop 时的间隔秒数")

    def handle(self, *args, **o):
        while True:
            r = sweep_deadlines()
            self.stdout.write(f"标记超期 {r.marked}，新督办单 {r.orders}")
            if not o["loop"]:
                return
            time.sleep(o["interval"])
