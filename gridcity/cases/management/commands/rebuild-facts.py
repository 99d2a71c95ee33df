from django.core.management.base import BaseCommand

from gridcity.cases.facts import rebuild_facts


class Command(BaseCommand):
    help = "从案件流转记录重新计算全部考评事实（升级后或核对时用；案件操作平时会自动保持其最新）。"

    def add_arguments(self, parser):
        parser.add_argument("--batch", type=int, default=20_000, help="每批案件数")

    def handle(self, *args, **o):
        total = rebuild_facts(o["batch"], stdout=self.stdout)
        self.stdout.write(f"考评事实已重建：{total:,} 条")
