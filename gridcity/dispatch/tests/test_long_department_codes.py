"""A department whose code is an agency's full name, as a US city's 311 data gives it (62
characters), goes through every import whole: import-departments stores it, import-rules
finds it, and a case in the rule's area is routed to it. A code longer than the column is
refused by line, never cut."""

import io
import tempfile
from pathlib import Path

from django.core.management import CommandError, call_command
from django.test import TestCase

from gridcity.accounts.models import Department
from gridcity.dispatch.actions import decide_for
from gridcity.dispatch.models import ResponsibilityRule
from gridcity.taxonomy.actions import resolve_category
from gridcity.testing import MID_LAT, build_city

STREETS = "Public Works Department - Street and Sidewalk Maintenance Unit"
WEST_POINT = (120.163, MID_LAT + 0.001)


class LongDepartmentCodeTest(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.city = build_city(rules=False)

    def setUp(self) -> None:
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.tmp = Path(tmp.name)

    def write(self, name: str, *lines: str) -> str:
        path = self.tmp / name
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return str(path)

    def command(self, *args: str) -> tuple[str, str]:
        out, err = io.StringIO(), io.StringIO()
        call_command(*args, stdout=out, stderr=err)
        return out.getvalue(), err.getvalue()

    def refused(self, *args: str) -> str:
        err = io.StringIO()
        with self.assertRaisesMessage(CommandError, "未写入任何数据"):
            call_command(*args, stdout=io.StringIO(), stderr=err)
        return err.getvalue()

    def test_a_62_character_code_goes_from_the_departments_file_to_routing(self) -> None:
        self.assertEqual(len(STREETS), 62)
        departments = self.write(
            "departments.csv",
            "code,name,parent_code",
            "Public Works,Public Works Department,",
            f"{STREETS},Street and Sidewalk Maintenance,Public Works",
        )
        out, _ = self.command("import-departments", departments)
        self.assertIn("新建 2，更新 0，拒绝 0", out)
        streets = Department.objects.get(code=STREETS)
        self.assertEqual(streets.parent.code, "Public Works")

        rules = self.write(
            "rules.csv",
            "category_code,area_code,filing_condition,department_code,priority",
            f'06042,330102,,"{STREETS}",0',
        )
        out, _ = self.command("import-rules", rules)
        self.assertIn("新建 1，更新 0，拒绝 0", out)
        self.assertEqual(ResponsibilityRule.objects.get().department, streets)
        decision = decide_for(resolve_category("06042"), self.city.cell(*WEST_POINT).path)
        self.assertEqual(decision.department_name, "Street and Sidewalk Maintenance")

    def test_a_code_longer_than_the_column_is_refused_by_line(self) -> None:
        too_long = "D" * 101
        err = self.refused(
            "import-departments",
            self.write("departments.csv", "code,name,parent_code", "OK,好的,", f"{too_long},太长,"),
        )
        self.assertIn("拒绝：第3行 [code]：确保该变量包含不超过 100 字符 (目前字符数 101)", err)
        self.assertFalse(Department.objects.filter(code="OK").exists())

        err = self.refused(
            "import-departments",
            self.write("departments.csv", "code,name,parent_code", f"LONG,{'名' * 101},"),
        )
        self.assertIn("拒绝：第2行 [name]：确保该变量包含不超过 100 字符", err)

    def test_a_rule_naming_a_code_longer_than_the_column_or_an_outsized_priority_is_refused(
        self,
    ) -> None:
        err = self.refused(
            "import-rules",
            self.write(
                "rules.csv",
                "category_code,area_code,filing_condition,department_code,priority",
                "06042,330102,,HJWS,0",
                f"06042,330102001,,{'D' * 101},0",
                "06001,330102,,CGZF,99999999999",
            ),
        )
        self.assertIn(
            "拒绝：第3行 [department_code]：确保该变量包含不超过 100 字符 (目前字符数 101)", err
        )
        self.assertIn("拒绝：第4行 [priority]：", err)
        self.assertFalse(ResponsibilityRule.objects.exists())
