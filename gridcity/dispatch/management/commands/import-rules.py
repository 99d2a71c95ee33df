from django.core.management.base import BaseCommand, CommandError

from gridcity.dispatch.actions import RulesRejected, import_rules


class Command(BaseCommand):
    help = "导入责任规则 CSV：category_code,area_code,filing_condition,department_code,priority"

    def add_arguments(self, parser):
        parser.add_argument("file")

    def handle(self, *args, **o):
        try:
            r = import_rules(o["file"])
        except RulesRejected as exc:
            for e in exc.errors:
                self.stderr.write(f"拒绝：{e}")
            raise CommandError(f"导入失败，{len(exc.errors)} 个错误，未写入任何数据") from exc
        self.stdout.write(f"新建 {r.created}，更新 {r.updated}，拒绝 0")
