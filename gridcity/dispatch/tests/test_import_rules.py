"""`gridcity import-rules`: a responsibility matrix from CSV, all or nothing, every bad cell
named by line and column."""

import io
import tempfile
from pathlib import Path

from django.core.management import CommandError, call_command
from django.test import TestCase

from gridcity.dispatch.actions import decide_for
from gridcity.dispatch.models import ResponsibilityRule
from gridcity.taxonomy.actions import resolve_category
from gridcity.testing import MID_LAT, build_city

HEADER = "category_code,area_code,filing_condition,department_code,priority"
WEST_POINT = (120.163, MID_LAT + 0.001)

BAD_ROWS = [
    ("06042,330102,,NOPE,0", "第3行 [department_code]：部门 NOPE 不存在"),
    ("06042,999999,,HJWS,0", "第3行 [area_code]：区域 999999 不存在"),
    ("06999,330102,,HJWS,0", "第3行 [category_code]：类别 06999 不存在"),
    ("0604,330102,,HJWS,0", "第3行 [category_code]：“0604”应为5位小类或2位大类代码"),
    ("06042,330102,,HJWS,high", "第3行 [priority]：“high”不是整数"),
    (
        "06042,,不存在的条件,HJWS,0",
        "第3行 [filing_condition]：类别 06042 没有立案条件“不存在的条件”",
    ),
    ("06,,垃圾满溢、散落地面,HJWS,0", "第3行 [filing_condition]：按大类的规则不能指定立案条件"),
]


class ImportRulesTest(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.city = build_city(rules=False)

    def setUp(self) -> None:
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.tmp = Path(tmp.name)

    def write(self, *rows: str, header: str = HEADER) -> str:
        path = self.tmp / "rules.csv"
        path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
        return str(path)

    def run_command(self, path: str) -> str:
        out = io.StringIO()
        call_command("import-rules", path, stdout=out, stderr=io.StringIO())
        return out.getvalue()

    def rejected(self, path: str) -> str:
        err = io.StringIO()
        with self.assertRaisesMessage(CommandError, "未写入任何数据"):
            call_command("import-rules", path, stdout=io.StringIO(), stderr=err)
        return err.getvalue()

    def test_it_imports_rules_and_the_engine_uses_them(self) -> None:
        path = self.write(
            "# the sanitation office cleans 湖滨; enforcement takes class 06 elsewhere",
            "06042,330102001,,HJWS,0",
            "06,330102,,CGZF,0",
        )
        self.assertIn("新建 2，更新 0，拒绝 0", self.run_command(path))
        cell = self.city.cell(*WEST_POINT)
        decision = decide_for(resolve_category("06042"), cell.path)
        self.assertEqual(decision.department_name, "环境卫生科室")
        decision = decide_for(resolve_category("06001"), cell.path)
        self.assertEqual(decision.department_name, "城市管理执法科室")
        self.assertIn("大类 06 匹配", decision.reason)

    def test_a_reimport_updates_instead_of_duplicating(self) -> None:
        self.run_command(self.write("06042,330102001,,HJWS,0"))
        out = self.run_command(self.write("06042,330102001,,CGZF,5"))
        self.assertIn("新建 0，更新 1", out)
        rule = ResponsibilityRule.objects.get()
        self.assertEqual((rule.department.code, rule.priority), ("CGZF", 5))

    def test_a_filing_condition_is_matched_by_its_text(self) -> None:
        self.run_command(self.write("06042,,垃圾满溢、散落地面,HJWS,0"))
        rule = ResponsibilityRule.objects.get()
        self.assertEqual(rule.filing_condition.text, "垃圾满溢、散落地面")
        self.assertIsNone(rule.area)

    def test_a_shared_code_makes_a_rule_per_kind_unless_the_kind_is_named(self) -> None:
        # GB/T 47678.5: component 01002 and the matter "01002 …异常" share the code.
        self.assertIn("新建 2", self.run_command(self.write("01002,,,SZSS,0")))
        ResponsibilityRule.objects.all().delete()
        self.assertIn("新建 1", self.run_command(self.write("component:01002,,,SZSS,0")))
        self.assertEqual(ResponsibilityRule.objects.get().category.kind, "component")

    def test_a_bad_row_is_named_and_nothing_is_imported(self) -> None:
        for row, message in BAD_ROWS:
            with self.subTest(row=row):
                err = self.rejected(self.write("06010,330102,,HJWS,0", row))
                self.assertIn(f"拒绝：{message}", err)
                self.assertFalse(ResponsibilityRule.objects.exists())

    def test_a_missing_column_is_rejected(self) -> None:
        err = self.rejected(self.write("06042,HJWS", header="category_code,department_code"))
        self.assertIn("第1行：缺少列 area_code, filing_condition, priority", err)

    def test_every_bad_row_is_listed(self) -> None:
        err = self.rejected(self.write("06042,,,NOPE,0", "06042,999999,,HJWS,0"))
        self.assertIn("第2行 [department_code]", err)
        self.assertIn("第3行 [area_code]", err)

    def test_a_line_number_counts_comment_lines(self) -> None:
        err = self.rejected(self.write("# 湖滨街道", "06042,,,NOPE,0"))
        self.assertIn("第3行 [department_code]", err)

    def test_a_missing_file_is_rejected(self) -> None:
        self.assertIn("无法读取文件", self.rejected(str(self.tmp / "nope.csv")))
