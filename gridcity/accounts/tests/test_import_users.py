"""`gridcity import-users`: a city's staff from a CSV or XLSX file with a header in Chinese or
English; the whole file checked first, every bad row named by its line, nothing written unless
every row is right; existing users updated, never their password."""

import csv
import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from openpyxl import Workbook

from gridcity.accounts.models import AuditEntry, Department, Role, User
from gridcity.grids.models import Beat

pytestmark = pytest.mark.django_db

ENGLISH_HEADER = ["username", "full name", "role", "department", "beat", "email"]
CHINESE_HEADER = ["用户名", "姓名", "角色", "部门", "网格", "邮箱"]
# A US agency's name as its code: 62 characters.
STREETS = "Public Works Department - Street and Sidewalk Maintenance Unit"


@pytest.fixture
def city():
    Department.objects.create(code="ZX", name="城市运行管理服务中心")
    Department.objects.create(
        code=STREETS,
        name="Bureau of Cleaning",
    )
    Beat.objects.create(code="B001", name="湖滨街道责任网格")
    Beat.objects.create(code="B002", name="清波街道责任网格")


def write_csv(tmp_path: Path, rows: list[list[str]], header=ENGLISH_HEADER) -> Path:
    path = tmp_path / "users.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    return path


def write_xlsx(tmp_path: Path, rows: list[list[str]], header=CHINESE_HEADER) -> Path:
    path = tmp_path / "users.xlsx"
    wb = Workbook()
    for row in [header, *rows]:
        wb.active.append(row)
    wb.save(path)
    return path


def run(path: Path) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import-users", str(path), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def rejected(path: Path) -> str:
    err = io.StringIO()
    with pytest.raises(CommandError, match="未写入任何数据"):
        call_command("import-users", str(path), stdout=io.StringIO(), stderr=err)
    return err.getvalue()


GOOD_ROWS = [
    [
        "mgarcia",
        "Maria Garcia",
        "Department handler",
        STREETS,
        "",
        "mgarcia@example.org",
    ],
    ["dispatch1", "Sam Lee", "dispatcher", "ZX", "", ""],
    ["zhao", "赵网格", "网格员", "", "B001; B002", ""],
]


def test_it_imports_a_csv_with_an_english_header_and_prints_the_new_passwords(city, tmp_path):
    out, err = run(write_csv(tmp_path, GOOD_ROWS))
    assert "新建 3，更新 0，未变 0，拒绝 0" in err
    sheet = list(csv.DictReader(io.StringIO(out)))
    assert [row["username"] for row in sheet] == ["mgarcia", "dispatch1", "zhao"]
    for row in sheet:
        assert User.objects.get(username=row["username"]).check_password(row["password"])
    handler = User.objects.get(username="mgarcia")
    assert (handler.role, handler.display_name, handler.email) == (
        Role.HANDLER,
        "Maria Garcia",
        "mgarcia@example.org",
    )
    assert len(handler.department.code) == 62
    zhao = User.objects.get(username="zhao")
    assert set(zhao.beats.values_list("code", flat=True)) == {"B001", "B002"}


def test_it_imports_an_xlsx_with_a_chinese_header(city, tmp_path):
    _, err = run(
        write_xlsx(tmp_path, [["dispatch1", "李派遣", "派遣员", "城市运行管理服务中心", "", ""]])
    )
    assert "新建 1" in err
    assert User.objects.get(username="dispatch1").department.code == "ZX"


@pytest.mark.parametrize("write", [write_csv, write_xlsx])
def test_bad_rows_are_named_by_line_and_nothing_is_written(city, tmp_path, write):
    User.objects.create_user("dispatch1", password="Evening-Lake-71", role=Role.INTAKE)
    rows = [
        *GOOD_ROWS,
        ["newbie", "New Person", "mayor", "ZX", "", ""],
        ["clerk", "Clerk", "handler", "NOPE", "", ""],
        ["zhao", "又一个赵", "inspector", "", "", ""],
        ["x" * 151, "", "intake", "", "", ""],
    ]
    header = ENGLISH_HEADER if write is write_csv else CHINESE_HEADER
    err = rejected(write(tmp_path, rows, header=header))
    role, dept, name = (
        ("role", "department", "username") if write is write_csv else ("角色", "部门", "用户名")
    )
    assert f"拒绝：第5行 [{role}]：角色“mayor”不存在" in err
    assert f"拒绝：第6行 [{dept}]：部门“NOPE”不存在" in err
    assert f"拒绝：第7行 [{name}]：与第4行重复" in err
    assert f"拒绝：第8行 [{name}]：" in err
    assert err.count("拒绝：") == 4
    assert list(User.objects.values_list("username", flat=True)) == ["dispatch1"]
    assert User.objects.get(username="dispatch1").role == Role.INTAKE
    assert not Beat.objects.filter(manager__isnull=False).exists()


def test_an_existing_user_is_updated_but_keeps_their_password(city, tmp_path):
    sam = User.objects.create_user("dispatch1", password="Evening-Lake-71", role=Role.INTAKE)
    out, err = run(write_csv(tmp_path, GOOD_ROWS))
    assert "新建 2，更新 1，未变 0" in err
    assert "dispatch1" not in out
    sam.refresh_from_db()
    assert (sam.role, sam.department.code, sam.display_name) == (Role.DISPATCHER, "ZX", "Sam Lee")
    assert sam.check_password("Evening-Lake-71")
    change = AuditEntry.objects.get(action="update_user", object_id=str(sam.pk))
    assert change.data["before"]["role"] == Role.INTAKE
    _, err = run(write_csv(tmp_path, GOOD_ROWS))
    assert "新建 0，更新 0，未变 3" in err


def test_a_column_left_out_is_left_as_it_is(city, tmp_path):
    zhao = User.objects.create_user("zhao", role=Role.INSPECTOR, email="zhao@example.org")
    Beat.objects.filter(code="B001").update(manager=zhao)
    run(write_csv(tmp_path, [["zhao", "网格员"]], header=["用户名", "角色"]))
    zhao.refresh_from_db()
    assert zhao.email == "zhao@example.org"
    assert list(zhao.beats.values_list("code", flat=True)) == ["B001"]


def test_a_beat_named_twice_in_the_file_is_refused(city, tmp_path):
    err = rejected(
        write_csv(
            tmp_path,
            [["a", "", "inspector", "", "B001", ""], ["b", "", "inspector", "", "B001", ""]],
        )
    )
    assert "第3行 [beat]：网格“B001”已在第2行分给 a" in err


def test_an_unknown_or_missing_column_is_named(city, tmp_path):
    err = rejected(write_csv(tmp_path, [["a", "inspector"]], header=["usernme", "role"]))
    assert "第1行 [usernme]：不认识的列" in err
    assert "第1行 [username]：缺少此列" in err


def test_a_handler_without_a_department_column_is_refused_by_line(city, tmp_path):
    err = rejected(write_csv(tmp_path, [["clerk", "handler"]], header=["username", "role"]))
    assert "第2行 [department]：部门处置人员必须属于一个部门" in err


def test_the_system_account_cannot_be_changed_from_a_file(city, tmp_path):
    User.objects.create(username="system", role=Role.SYSTEM, is_active=False)
    err = rejected(write_csv(tmp_path, [["system", "admin"]], header=["username", "role"]))
    assert "第2行 [username]：系统账号不能修改" in err
    assert User.objects.get(username="system").role == Role.SYSTEM
