"""A city marks its place-free categories (account questions and the like) in the 立结案标准 file
with an optional 无需位置 column, or in the admin; the export carries the mark back."""

import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from gridcity.accounts.models import Role, User
from gridcity.taxonomy.actions import PLACE_FREE_COLUMN, TEMPLATE_COLUMNS, standards_rows
from gridcity.taxonomy.models import Category

pytestmark = pytest.mark.django_db

HEADER = ",".join([*TEMPLATE_COLUMNS, PLACE_FREE_COLUMN])
ACCOUNT = "19,咨询服务,19001,账户咨询,市民服务科,市民服务科,无法登录账户,已答复,1工作日"
GARBAGE = "06,市容环境类,06042,垃圾站（箱）满溢,环境卫生科室,环境卫生科室,满溢,清运,4工作时"


def write(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "standards.csv"
    path.write_text("\n".join([HEADER, *rows]), encoding="utf-8")
    return path


def run(path: Path) -> None:
    call_command("import-standards", str(path), stdout=io.StringIO(), stderr=io.StringIO())


def test_the_column_marks_a_category_place_free_and_the_export_keeps_it(tmp_path):
    run(write(tmp_path, f"{ACCOUNT},是", f"{GARBAGE},否"))
    assert Category.objects.get(code="19001").place_free is True
    assert Category.objects.get(code="06042").place_free is False
    rows = standards_rows()
    assert rows[0][-1] == "无需位置"
    by_code = {r[2]: r[-1] for r in rows[1:]}
    assert by_code == {"19001": "是", "06042": "否"}


def test_an_empty_cell_leaves_the_mark_as_it_was_and_no_unmarks_it(tmp_path):
    run(write(tmp_path, f"{ACCOUNT},yes"))
    run(write(tmp_path, f"{ACCOUNT},"))
    assert Category.objects.get(code="19001").place_free is True
    run(write(tmp_path, f"{ACCOUNT},否"))
    assert Category.objects.get(code="19001").place_free is False


def test_a_file_without_the_column_still_imports(tmp_path):
    path = tmp_path / "standards.csv"
    path.write_text("\n".join([",".join(TEMPLATE_COLUMNS), ACCOUNT]), encoding="utf-8")
    run(path)
    assert Category.objects.get(code="19001").place_free is False


def test_a_value_that_is_not_yes_or_no_is_rejected_by_line_and_column(tmp_path):
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command(
            "import-standards",
            str(write(tmp_path, f"{ACCOUNT},也许")),
            stdout=io.StringIO(),
            stderr=err,
        )
    assert "第2行 [无需位置]：“也许”应为“是”或“否”" in err.getvalue()
    assert not Category.objects.filter(code="19001").exists()


def test_the_admin_lists_and_filters_place_free_categories(client):
    admin = User.objects.create_user(
        username="admin", password="x", role=Role.ADMIN, is_staff=True, is_superuser=True
    )
    client.force_login(admin)
    Category.objects.create(
        kind="matter",
        code="19001",
        major_code="19",
        major_name="咨询服务",
        name="账户咨询",
        place_free=True,
    )
    url = reverse("admin:taxonomy_category_changelist")
    body = client.get(url, {"place_free__exact": "1"}).content.decode()
    assert "账户咨询" in body
    assert "无需位置" in body
    change = client.get(reverse("admin:taxonomy_category_add")).content.decode()
    assert 'name="place_free"' in change
