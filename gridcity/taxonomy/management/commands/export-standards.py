import sys

from django.core.management.base import BaseCommand

from gridcity.taxonomy.actions import export_standards


class Command(BaseCommand):
    help = "导出立结案标准（9列模板）。"

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=["csv", "xlsx"], default="csv")
        parser.add_argument("--output", "-o", help="输出文件；缺省写到标准输出（仅 CSV）")

    def handle(self, *args, **o):
        data = export_standards(o["format"])
        if o["output"]:
            with open(o["output"], "wb") as f:
                f.write(data)
            self.stdout.write(f"已写入 {o['output']}")
        else:
            sys.stdout.buffer.write(data)
