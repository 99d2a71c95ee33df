from django.core.management.base import BaseCommand, CommandError

from gridcity.grids.actions import ImportRejected, make_grid
from gridcity.grids.models import Area


class Command(BaseCommand):
    help = "把区域（区/街道/社区）按社区切分为约 N 米见方的单元网格，编码为15位。"

    def add_arguments(self, parser):
        parser.add_argument("area", help="区域编码")
        parser.add_argument("--cell-size", type=float, default=100.0, help="网格边长（米）")

    def handle(self, *args, **o):
        area = Area.objects.filter(code=o["area"]).first()
        if area is None:
            raise CommandError(f"区域 {o['area']} 不存在")
        if not 10 <= o["cell_size"] <= 5000:
            raise CommandError("--cell-size 应在 10 到 5000 米之间")
        try:
            result = make_grid(area, cell_size_m=o["cell_size"])
        except ImportRejected as exc:
            for e in exc.errors:
                self.stderr.write(f"拒绝：{e}")
            raise CommandError("划分失败，未写入任何数据") from exc
        for w in result.warnings:
            self.stderr.write(f"警告：{w}")
        self.stdout.write(f"新建 {len(result.created)}，更新 {len(result.updated)}，拒绝 0")
