from django.core.management.base import BaseCommand, CommandError

from gridcity.taxonomy.actions import StandardsRejected, import_standards


class Command(BaseCommand):
    help = (
        "导入立结案标准（9列模板，CSV 或 XLSX；可加一列“无需位置”，填 是/否）。"
        "有任何错误则全部不导入。"
    )

    def add_arguments(self, parser):
        parser.add_argument("file")

    def handle(self, *args, **o):
        try:
            r = import_standards(o["file"])
        except StandardsRejected as exc:
            for e in exc.errors:
                self.stderr.write(f"拒绝：{e}")
            raise CommandError(f"导入失败，{len(exc.errors)} 个错误，未写入任何数据") from exc
        except FileNotFoundError as exc:
            raise CommandError(f"文件不存在：{o['file']}") from exc
        for c in r.created_categories:
            self.stdout.write(f"新建本地类别：{c}")
        self.stdout.write(
            f"新建 {r.created_conditions} 条立案条件，更新 {r.updated_conditions} 条，"
            f"新建本地类别 {len(r.created_categories)}，拒绝 0"
        )
