import csv
import io

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from gridcity.accounts.actions import UsersRejected, import_users


class Command(BaseCommand):
    @property
    def help(self) -> str:  # in the language of the command's run
        return _(
            "从 CSV 或 XLSX 导入用户：用户名、姓名、角色、部门、网格、邮箱（表头中文或英文均可）。"
            "有任何错误则全部不导入。已有用户按文件更新，不改密码；新用户的初始密码以 CSV 输出到"
            "标准输出，只显示一次。"
        )

    def add_arguments(self, parser):
        parser.add_argument("file", help=_("CSV 或 XLSX 文件"))

    def handle(self, *args, **o):
        try:
            r = import_users(o["file"])
        except UsersRejected as exc:
            for e in exc.errors:
                self.stderr.write(_("拒绝：%(error)s") % {"error": e})
            raise CommandError(
                _("导入失败，%(count)s 个错误，未写入任何数据") % {"count": len(exc.errors)}
            ) from exc
        except FileNotFoundError as exc:
            raise CommandError(_("文件不存在：%(file)s") % {"file": o["file"]}) from exc
        # New users' passwords as CSV on stdout, for the administrator to hand out; the
        # summary on stderr, so that `import-users users.csv > passwords.csv` keeps only them.
        if r.passwords:
            sheet = io.StringIO()
            writer = csv.writer(sheet, lineterminator="\n")
            writer.writerow(["username", "password"])
            writer.writerows(r.passwords.items())
            self.stdout.write(sheet.getvalue(), ending="")
        for handover in r.handovers:
            if handover.previous:
                self.stderr.write(
                    _("责任网格 %(beat)s 原由 %(previous)s 负责，已改由 %(username)s 负责")
                    % {
                        "beat": handover.beat,
                        "previous": handover.previous,
                        "username": handover.manager,
                    }
                )
        self.stderr.write(
            _("新建 %(created)s，更新 %(updated)s，未变 %(unchanged)s，拒绝 0")
            % {
                "created": len(r.created),
                "updated": len(r.updated),
                "unchanged": len(r.unchanged),
            }
        )
