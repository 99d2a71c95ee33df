from django.core.management.base import BaseCommand, CommandError

from gridcity.grids.actions import ImportRejected, import_areas
from gridcity.grids.models import AreaLevel
from gridcity.lib.coords import CRS

LEVELS = {
    "district": AreaLevel.DISTRICT,
    "street": AreaLevel.STREET,
    "community": AreaLevel.COMMUNITY,
    "cell": AreaLevel.CELL,
}


class Command(BaseCommand):
    help = "导入区域边界（GeoJSON FeatureCollection），全部成功才写入；按编码更新已有区域。"

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--level", required=True, choices=sorted(LEVELS))
        parser.add_argument("--code-field", required=True)
        parser.add_argument("--name-field", required=True)
        parser.add_argument("--parent-field")
        parser.add_argument("--crs", default="wgs84", choices=[c.value for c in CRS])
        parser.add_argument("--strict", action="store_true", help="无效多边形直接拒绝，不自动修复")

    def handle(self, *args, **o):
        try:
            result = import_areas(
                o["file"],
                level=LEVELS[o["level"]],
                code_field=o["code_field"],
                name_field=o["name_field"],
                parent_field=o["parent_field"],
                crs=CRS(o["crs"]),
                strict=o["strict"],
            )
        except ImportRejected as exc:
            for w in exc.warnings:
                self.stderr.write(f"警告：{w}")
            for e in exc.errors:
                self.stderr.write(f"拒绝：{e}")
            raise CommandError(f"导入失败，{len(exc.errors)} 个错误，未写入任何数据") from exc
        for w in result.warnings:
            self.stderr.write(f"警告：{w}")
        self.stdout.write(
            f"新建 {len(result.created)}，更新 {len(result.updated)}，拒绝 0，警告 {len(result.warnings)}"
        )
