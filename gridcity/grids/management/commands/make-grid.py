from django.core.management.base import BaseCommand, CommandError

from gridcity.grids.actions import ImportRejected, InvalidCodeTemplate, make_grid
from gridcity.grids.models import Area


class Command(BaseCommand):
    help = (
        "把区域切分为约 N 米见方的单元网格。默认按社区切分，编码为15位（社区12位编码+3位顺序码）；"
        "用 --code-template 可按任意编码方案从任一层级的区域直接切分，不限网格数量。"
    )

    def add_arguments(self, parser):
        parser.add_argument("area", help="区域编码")
        parser.add_argument("--cell-size", type=float, default=100.0, help="网格边长（米）")
        parser.add_argument(
            "--code-template",
            help=(
                '网格编码模板，如 "BOS-{row:03d}-{col:03d}" 或 "BOS{seq:05d}"。占位符：'
                "{row} 行号（自北向南，从1起）、{col} 列号（自西向东，从1起）、"
                "{seq} 顺序号（自西向东、自北向南，从1起；模板含 {parent} 时每个区域各自编号）、"
                "{parent} 所切分区域的编码。须含 {seq} 或同时含 {row} 和 {col}。"
            ),
        )

    def handle(self, *args, **o):
        area = Area.objects.filter(code=o["area"]).first()
        if area is None:
            raise CommandError(f"区域 {o['area']} 不存在")
        if not 10 <= o["cell_size"] <= 5000:
            raise CommandError("--cell-size 应在 10 到 5000 米之间")
        try:
            result = make_grid(area, cell_size_m=o["cell_size"], code_template=o["code_template"])
        except InvalidCodeTemplate as exc:
            raise CommandError(f"--code-template 无效：{exc}") from exc
        except ImportRejected as exc:
            for e in exc.errors:
                self.stderr.write(f"拒绝：{e}")
            raise CommandError("划分失败，未写入任何数据") from exc
        for w in result.warnings:
            self.stderr.write(f"警告：{w}")
        self.stdout.write(f"新建 {len(result.created)}，更新 {len(result.updated)}，拒绝 0")
