from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from gridcity.cases.models import Channel
from gridcity.history.importer import ImportRejected, import_cases
from gridcity.lib.coords import CRS


class Command(BaseCommand):
    help = (
        "导入旧系统（数字城管、12345/311）的历史案件（CSV 或 XLSX）。先检查整个文件，有任何一行"
        "被拒绝则不导入（除非 --skip-invalid）；分批提交，中断后用同一命令重跑即从断点继续，"
        "按外部编号绝不重复导入。"
    )

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument(
            "--source", default="legacy", help="来源系统名称，与外部编号一起作为唯一键"
        )
        parser.add_argument(
            "--channel",
            default=Channel.INSPECTOR,
            choices=Channel.values,
            help="文件没有“来源”列时各行的来源",
        )
        parser.add_argument("--crs", default="wgs84", choices=[c.value for c in CRS])
        parser.add_argument(
            "--skip-invalid", action="store_true", help="跳过被拒绝的行，导入其余行"
        )
        parser.add_argument("--chunk-size", type=int, default=10_000)
        parser.add_argument("--limit", type=int, help="本次最多导入的行数（其余留待重跑）")

    def handle(self, *args, **o):
        if o["chunk_size"] < 1 or (o["limit"] is not None and o["limit"] < 0):
            raise CommandError(_("--chunk-size 须为正数，--limit 不能为负数"))
        try:
            summary = import_cases(
                o["file"],
                source=o["source"][:50],
                channel=o["channel"],
                crs=o["crs"],
                skip_invalid=o["skip_invalid"],
                chunk_size=o["chunk_size"],
                limit=o["limit"],
                progress=lambda msg: self.stdout.write("  " + msg),
            )
        except FileNotFoundError as exc:
            raise CommandError(_("找不到文件：%(file)s") % {"file": o["file"]}) from exc
        except ImportRejected as exc:
            for r in exc.rejections:
                self.stderr.write(_("拒绝：%(rejection)s") % {"rejection": r})
            lines = len({r.line for r in exc.rejections})
            raise CommandError(
                _("检查未通过：%(lines)s 行被拒绝，未导入任何案件") % {"lines": lines}
            ) from exc
        for w in summary.warnings:
            self.stderr.write(_("警告：%(warning)s") % {"warning": w})
        for r in summary.rejections:
            self.stderr.write(_("已跳过：%(rejection)s") % {"rejection": r})
        if summary.resumed:
            self.stdout.write(_("继续上次未完成的导入（批次 %(run)s）") % {"run": summary.run.pk})
        self.stdout.write(
            _(
                "共 %(total)s 行：导入 %(imported)s，已存在跳过 %(skipped)s，拒绝 %(rejected)s，"
                "未定位到网格 %(unlocated)s"
            )
            % {
                "total": summary.total,
                "imported": summary.imported,
                "skipped": summary.skipped,
                "rejected": summary.rejected,
                "unlocated": summary.unlocated,
            }
        )
        if summary.remaining:
            self.stdout.write(
                _("还有 %(rest)s 行未导入：重新运行同一命令即可继续") % {"rest": summary.remaining}
            )
        else:
            self.stdout.write(
                _("导入完成（批次 %(run)s）。考评数据将在下次 refresh-evaluation 时重新统计。")
                % {"run": summary.run.pk}
            )
