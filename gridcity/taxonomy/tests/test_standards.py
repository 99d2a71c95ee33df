"""`gridcity import-standards` / `export-standards`: the common 9-column 立结案标准 template, all or
nothing, with every error's line, column and reason."""

import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from gridcity.lib.workcalendar import Clock
from gridcity.taxonomy.actions import TEMPLATE_COLUMNS, standards_rows
from gridcity.taxonomy.models import Category, CategoryKind, FilingCondition

EXAMPLES = Path(__file__).parent / "data" / "standards_examples.csv"
HEADER = ",".join(TEMPLATE_COLUMNS)

pytestmark = pytest.mark.django_db


def run(path) -> str:
    out = io.StringIO()
    call_command("import-standards", str(path), stdout=out, stderr=io.StringIO())
    return out.getvalue()


def rejected(path) -> str:
    err = io.StringIO()
    with pytest.raises(CommandError, match="未写入任何数据"):
        call_command("import-standards", str(path), stdout=io.StringIO(), stderr=err)
    return err.getvalue()


def write(tmp_path: Path, *rows: str, header: str = HEADER, encoding="utf-8") -> Path:
    path = tmp_path / "standards.csv"
    path.write_bytes("\n".join([header, *rows]).encode(encoding))
    return path


def condition(code: str, text: str) -> FilingCondition:
    return FilingCondition.objects.get(category__code=code, text=text)


def test_it_imports_the_shared_example():
    out = run(EXAMPLES)
    assert "新建 12 条立案条件，更新 0 条，新建本地类别 0，拒绝 0" in out
    assert FilingCondition.objects.count() == 12
    assert FilingCondition.objects.filter(category__code="01014").count() == 4


@pytest.mark.parametrize(
    ("code", "text", "amount", "clock"),
    [
        ("01002", "市区污水井盖丢失", 2, Clock.URGENT_HOURS),
        ("01014", "破损超过25平方厘米", 4, Clock.WORK_HOURS),
        ("01037", "连续3盏路灯不亮", 1, Clock.WORK_DAYS),
        ("06001", "违法搭建", 15, Clock.WORK_DAYS),
        ("06029", "未经许可露天烧烤", 2, Clock.URGENT_HOURS),
    ],
)
def test_it_reads_the_time_limits(code, text, amount, clock):
    run(EXAMPLES)
    fc = condition(code, text)
    assert (fc.handle_amount, fc.handle_clock) == (amount, clock)


def test_it_files_class_01_to_05_as_components_and_the_rest_as_matters():
    run(EXAMPLES)
    assert condition("01002", "市区污水井盖丢失").category.kind == CategoryKind.COMPONENT
    assert condition("06010", "成堆、成片").category.kind == CategoryKind.MATTER
    assert condition("06010", "成堆、成片").handling_unit == "环境卫生科室"
    assert condition("06010", "成堆、成片").closing_condition == "清除"


def test_a_reimport_updates_the_same_conditions():
    run(EXAMPLES)
    out = run(EXAMPLES)
    assert "新建 0 条立案条件，更新 12 条" in out
    assert FilingCondition.objects.count() == 12


def test_codes_outside_the_national_standard_become_local_categories(tmp_path):
    path = write(
        tmp_path,
        "09,街面秩序类,09999,不文明养宠,城市管理执法科室,城市管理执法科室,遛狗不牵绳,劝导并登记,1工作日",
        "06,市容环境类,06042,垃圾站（箱）满溢,环境卫生科室,环境卫生科室,满溢,清运干净,2工作时",
    )
    out = run(path)
    assert "新建本地类别：09999 不文明养宠" in out
    assert "新建本地类别 1" in out
    assert Category.objects.get(code="09999").is_local
    assert not Category.objects.get(kind=CategoryKind.MATTER, code="06042").is_local


def test_it_accepts_written_variants_of_a_time_limit(tmp_path):
    row = "06,市容环境类,06010,暴露垃圾,环境卫生科室,环境卫生科室,{},清除,{}"
    run(write(tmp_path, row.format("甲", "５个工作日"), row.format("乙", "30分钟")))
    assert condition("06010", "甲").time_limit_text == "5工作日"
    assert (condition("06010", "乙").handle_amount, condition("06010", "乙").handle_clock) == (
        0.5,
        Clock.URGENT_HOURS,
    )


def test_it_reads_a_gbk_file_from_excel(tmp_path):
    path = write(
        tmp_path,
        "06,市容环境类,06010,暴露垃圾,环境卫生科室,环境卫生科室,成堆、成片,清除,1工作日",
        encoding="gbk",
    )
    run(path)
    assert condition("06010", "成堆、成片").handling_unit == "环境卫生科室"


def test_a_bad_time_limit_is_reported_with_line_and_column_and_nothing_is_imported(tmp_path):
    run(EXAMPLES)
    before = FilingCondition.objects.count()
    path = write(
        tmp_path,
        "06,市容环境类,06010,暴露垃圾,环境卫生科室,环境卫生科室,新条件甲,清除,1工作日",
        "06,市容环境类,06011,积存垃圾渣土,环境卫生科室,环境卫生科室,新条件乙,清除,尽快",
    )
    err = rejected(path)
    assert "拒绝：第3行 [处置时限]：无法识别的时限：“尽快”" in err
    assert FilingCondition.objects.count() == before
    assert not FilingCondition.objects.filter(text="新条件甲").exists()


def test_a_four_digit_code_is_reported(tmp_path):
    path = write(
        tmp_path, "06,市容环境类,0601,暴露垃圾,环境卫生科室,环境卫生科室,成堆,清除,1工作日"
    )
    err = rejected(path)
    assert "第2行 [小类代码]：“0601”应为5位数字" in err
    assert not FilingCondition.objects.exists()


def test_a_code_outside_its_class_is_reported(tmp_path):
    path = write(
        tmp_path, "09,街面秩序类,06010,暴露垃圾,环境卫生科室,环境卫生科室,成堆,清除,1工作日"
    )
    assert "第2行 [小类代码]：“06010”不属于大类 09" in rejected(path)


def test_a_missing_column_is_reported(tmp_path):
    header = HEADER.replace(",处置时限", "")
    path = write(
        tmp_path, "06,市容环境类,06010,暴露垃圾,环境卫生科室,环境卫生科室,成堆,清除", header=header
    )
    assert "第1行 [处置时限]：缺少此列" in rejected(path)
    assert not FilingCondition.objects.exists()


def test_a_short_row_is_reported_cell_by_cell(tmp_path):
    path = write(
        tmp_path,
        "06,市容环境类,06010,暴露垃圾,环境卫生科室,环境卫生科室,成堆,清除,1工作日",
        "06,市容环境类,06011,积存垃圾渣土",
    )
    err = rejected(path)
    assert "第3行 [立案条件]：不能为空" in err
    assert "第3行 [处置时限]：不能为空" in err
    assert not FilingCondition.objects.exists()


def test_every_error_is_listed_not_only_the_first(tmp_path):
    path = write(
        tmp_path,
        "06,市容环境类,0601,暴露垃圾,环境卫生科室,环境卫生科室,成堆,清除,1工作日",
        "06,市容环境类,06011,积存垃圾渣土,环境卫生科室,环境卫生科室,超时,清除,0工作日",
    )
    err = rejected(path)
    assert "第2行 [小类代码]" in err
    assert "第3行 [处置时限]：时限必须大于零" in err


def test_an_empty_file_and_a_header_only_file_are_rejected(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert "文件为空" in rejected(empty)
    assert "没有任何数据行" in rejected(write(tmp_path))


def test_a_broken_xlsx_is_rejected(tmp_path):
    path = tmp_path / "standards.xlsx"
    path.write_bytes(b"not a zip file")
    assert "无法读取 XLSX 文件" in rejected(path)


def test_a_missing_file_is_a_command_error(tmp_path):
    with pytest.raises(CommandError, match="文件不存在"):
        call_command("import-standards", str(tmp_path / "nope.csv"))


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_an_export_imports_back_unchanged(tmp_path, fmt):
    run(EXAMPLES)
    before = standards_rows()
    exported = tmp_path / f"export.{fmt}"
    call_command("export-standards", "--format", fmt, "-o", str(exported), stdout=io.StringIO())
    FilingCondition.objects.all().delete()
    out = run(exported)
    assert "新建 12 条立案条件" in out
    assert standards_rows() == before


def test_a_rejected_file_creates_no_local_category(tmp_path):
    path = write(
        tmp_path,
        "09,街面秩序类,09999,不文明养宠,城市管理执法科室,城市管理执法科室,遛狗不牵绳,劝导,1工作日",
        "09,街面秩序类,09998,遛狗不牵绳,城市管理执法科室,城市管理执法科室,未牵绳,劝导,一天",
    )
    categories = Category.objects.count()
    assert "第3行 [处置时限]" in rejected(path)
    assert Category.objects.count() == categories
    assert not Category.objects.filter(code="09999").exists()
