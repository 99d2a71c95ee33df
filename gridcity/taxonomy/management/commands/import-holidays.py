from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from gridcity.taxonomy.calendar_import import CalendarRejected, import_calendar_days


class Command(BaseCommand):
    help = (
        "导入本地工作日历（休息日和上班日）：CSV 或 XLSX（日期、类型、说明列；07-04 表示每年），"
        "或 ICS（全天事件为休息日）。有任何错误则全部不导入。"
    )

    def add_arguments(self, parser):
        parser.add_argument("file")

    def handle(self, *args, **options):
        try:
            result = import_calendar_days(options["file"])
        except CalendarRejected as exc:
            for error in exc.errors:
                self.stderr.write(
                    _("拒绝：第%(line)d行 [%(column)s]：%(reason)s")
                    % {"line": error.line, "column": error.column, "reason": error.reason}
                )
            raise CommandError(
                _("导入失败，%(count)d 个错误，未写入任何数据") % {"count": len(exc.errors)}
            ) from exc
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise CommandError(_("文件不存在：%s") % options["file"]) from exc
        every_year = sum(1 for e in result.entries if e.every_year)
        self.stdout.write(
            _(
                "导入 %(total)d 天（其中每年重复 %(every_year)d 天）：新建 %(created)d，"
                "更新 %(updated)d，未变 %(unchanged)d，拒绝 0"
            )
            % {
                "total": len(result.entries),
                "every_year": every_year,
                "created": result.created,
                "updated": result.updated,
                "unchanged": result.unchanged,
            }
        )
