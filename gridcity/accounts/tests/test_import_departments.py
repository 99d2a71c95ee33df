"""`gridcity import-departments`: `code,name,parent_code`, parents anywhere in the file, all or
nothing."""

import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from gridcity.accounts.models import Department

pytestmark = pytest.mark.django_db
HEADER = "code,name,parent_code"


def write(tmp_path: Path, *rows: str, header: str = HEADER) -> str:
    path = tmp_path / "departments.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return str(path)


def run(path: str) -> str:
    out = io.StringIO()
    call_command("import-departments", path, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def rejected(path: str) -> str:
    err = io.StringIO()
    with pytest.raises(CommandError, match="未写入任何数据"):
        call_command("import-departments", path, stdout=io.StringIO(), stderr=err)
    return err.getvalue()


def test_it_links_children_to_parents_that_come_later_in_the_file(tmp_path):
    path = write(
        tmp_path,
        "HJWS,环境卫生科室,CGJ",
        "CGZF,城市管理执法科室,CGJ",
        "CGJ,城市管理局,",
    )
    assert "新建 3，更新 0，拒绝 0" in run(path)
    bureau = Department.objects.get(code="CGJ")
    assert bureau.parent is None
    assert set(bureau.children.values_list("code", flat=True)) == {"HJWS", "CGZF"}
    assert bureau.subtree_ids() == set(Department.objects.values_list("pk", flat=True))


def test_a_reimport_updates_names_and_parents(tmp_path):
    run(write(tmp_path, "CGJ,城市管理局,", "HJWS,环卫科,CGJ", "ZX,指挥中心,"))
    out = run(write(tmp_path, "HJWS,环境卫生科室,ZX"))
    assert "新建 0，更新 1" in out
    dept = Department.objects.get(code="HJWS")
    assert (dept.name, dept.parent.code) == ("环境卫生科室", "ZX")
    assert Department.objects.count() == 3


def test_a_parent_may_already_be_in_the_database(tmp_path):
    Department.objects.create(code="CGJ", name="城市管理局")
    run(write(tmp_path, "HJWS,环境卫生科室,CGJ"))
    assert Department.objects.get(code="HJWS").parent.code == "CGJ"


def test_an_unknown_parent_is_rejected_and_nothing_is_imported(tmp_path):
    err = rejected(write(tmp_path, "CGJ,城市管理局,", "HJWS,环境卫生科室,NOPE"))
    assert "拒绝：第3行 [parent_code]：上级部门 NOPE 不存在" in err
    assert not Department.objects.exists()


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (["CGJ,城市管理局,", ",无编码,"], "第3行 [code]：不能为空"),
        (["CGJ,,"], "第2行 [name]：不能为空"),
        (["CGJ,城市管理局,", "CGJ,又一个,"], "第3行 [code]：与第2行重复"),
        (["CGJ,城市管理局,CGJ"], "第2行 [parent_code]：不能以自己为上级"),
    ],
)
def test_a_bad_row_is_named(tmp_path, rows, message):
    assert message in rejected(write(tmp_path, *rows))
    assert not Department.objects.exists()


def test_a_missing_column_is_rejected(tmp_path):
    err = rejected(write(tmp_path, "CGJ,城市管理局", header="code,name"))
    assert "第1行：缺少列 parent_code" in err


def test_a_cycle_of_parents_is_rejected(tmp_path):
    err = rejected(write(tmp_path, "A,甲,B", "B,乙,A"))
    assert "上级" in err
