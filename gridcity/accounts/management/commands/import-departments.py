from django.core.management.base import BaseCommand, CommandError

from gridcity.accounts.actions import DepartmentsRejected, import_departments


class Command(BaseCommand):
    help = "导入部门 CSV：code,name,parent_code"

    def add_arguments(self, parser):
        parser.add_argument("file")

    def handle(self, *args, **o):
        try:
            r = import_departments(o["file"])
        except DepartmentsRejected as exc:
            for e in exc.errors:
                self.stderr.write(f"拒绝：{e}")
            raise CommandError(f"导入失败，{len(exc.errors)} 个错误，未写入任何数据") from exc
        self.stdout.write(f"新建 {len(r.created)}，更新 {len(r.updated)}，拒绝 0")
