"""`gridcity import-standards` refuses a value longer than the column that would store it,
naming the line and the column, instead of storing it (or having the database cut it) and
reporting the row as created."""

import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from gridcity.taxonomy.actions import TEMPLATE_COLUMNS
from gridcity.taxonomy.models import Category, FilingCondition

pytestmark = pytest.mark.django_db

GOOD = "06,市容环境类,06010,暴露垃圾,环境卫生科室,环境卫生科室,成堆、成片,清除,1工作日"


def rejected(tmp_path: Path, *rows: str) -> str:
    path = tmp_path / "standards.csv"
    path.write_text("\n".join([",".join(TEMPLATE_COLUMNS), *rows]), encoding="utf-8")
    err = io.StringIO()
    with pytest.raises(CommandError, match="未写入任何数据"):
        call_command("import-standards", str(path), stdout=io.StringIO(), stderr=err)
    return err.getvalue()


def test_a_class_name_of_56_characters_is_refused_by_line(tmp_path):
    long_class = "市容环境类" * 11 + "类"  # 56 characters; the column holds 50
    err = rejected(tmp_path, GOOD, f"09,{long_class},09999,新类别,城管,城管,乱堆,清除,1工作日")
    assert "拒绝：第3行 [大类名称]：确保该变量包含不超过 50 字符 (目前字符数 56)" in err
    assert not Category.objects.filter(code="09999").exists()
    assert not FilingCondition.objects.exists()


def test_a_subclass_name_of_150_characters_is_refused_by_line(tmp_path):
    long_name = "不文明养宠物" * 25  # 150 characters; the column holds 100
    err = rejected(tmp_path, f"09,街面秩序类,09999,{long_name},城管,城管,遛狗不牵绳,劝导,1工作日")
    assert "拒绝：第2行 [小类名称]：确保该变量包含不超过 100 字符 (目前字符数 150)" in err
    assert not Category.objects.filter(code="09999").exists()


def test_a_long_filing_condition_and_handling_unit_are_refused(tmp_path):
    condition, unit = "甲" * 301, "乙" * 101
    err = rejected(tmp_path, f"06,市容环境类,06010,暴露垃圾,{unit},城管,{condition},清除,1工作日")
    assert "第2行 [立案条件]：确保该变量包含不超过 300 字符 (目前字符数 301)" in err
    assert "第2行 [处置单位]：确保该变量包含不超过 100 字符 (目前字符数 101)" in err
