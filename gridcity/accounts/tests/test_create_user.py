"""`gridcity create-user`: an account with its role, department and beat, without the shell;
every wrong value refused with the valid choices."""

import io
import re

import pytest
from django.core.management import CommandError, call_command
from django.utils import translation

from gridcity.accounts.models import AuditEntry, Department, Role, User
from gridcity.grids.models import Beat

pytestmark = pytest.mark.django_db

# Roles named in English need the English catalogue.
call_command("compile-translations", verbosity=0)
CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


@pytest.fixture
def city():
    sanitation = Department.objects.create(code="HJWS", name="环境卫生科室")
    Department.objects.create(code="ZX", name="城市运行管理服务中心")
    old_hand = User.objects.create_user("old_hand", role=Role.INSPECTOR)
    lakeside = Beat.objects.create(code="B001", name="湖滨街道责任网格", manager=old_hand)
    Beat.objects.create(code="B002", name="清波街道责任网格")
    return {"sanitation": sanitation, "old_hand": old_hand, "lakeside": lakeside}


def create(*args: str, stdin: str | None = None) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    extra = {"stdin": io.StringIO(stdin)} if stdin is not None else {}
    call_command("create-user", *args, stdout=out, stderr=err, **extra)
    return out.getvalue(), err.getvalue()


def refused(*args: str) -> str:
    with pytest.raises(CommandError) as exc:
        create(*args)
    return str(exc.value)


def test_it_makes_a_department_handler_who_can_sign_in_with_the_printed_password(city):
    out, err = create(
        "zhang.wei",
        "--role=handler",
        "--department=HJWS",
        "--full-name=张伟",
        "--email=zhang.wei@example.org",
    )
    clerk = User.objects.get(username="zhang.wei")
    assert (clerk.role, clerk.department, clerk.display_name, clerk.email) == (
        Role.HANDLER,
        city["sanitation"],
        "张伟",
        "zhang.wei@example.org",
    )
    password = out.strip()
    assert len(password) >= 10 and clerk.check_password(password)
    assert "已新建用户 zhang.wei：部门处置人员，部门 HJWS" in err
    assert not clerk.is_staff
    entry = AuditEntry.objects.get(action="create_user", object_id=str(clerk.pk))
    assert entry.data["department"] == "HJWS"


@pytest.mark.parametrize("role", ["dept_lead", "部门负责人", "Department lead", "department_lead"])
def test_a_role_is_named_by_its_code_or_its_chinese_or_english_label(city, role):
    with translation.override("en"):
        english = str(Role.DEPT_LEAD.label)
    assert english == "Department lead"  # the catalogue's label, so the test below means it
    create("lead", f"--role={role}", "--department=环境卫生科室")
    assert User.objects.get(username="lead").role == Role.DEPT_LEAD


def test_a_grid_manager_takes_over_the_beat_from_its_previous_manager(city):
    _, err = create("zhao", "--role=网格员", "--beat=B001", "--beat=清波街道责任网格")
    zhao = User.objects.get(username="zhao")
    assert set(zhao.beats.values_list("code", flat=True)) == {"B001", "B002"}
    assert not city["old_hand"].beats.exists()
    assert "责任网格 B001 原由 old_hand 负责，已改由 zhao 负责" in err
    handover = AuditEntry.objects.get(action="set_beat_manager", object_id=str(city["lakeside"].pk))
    assert handover.data == {"previous": "old_hand", "manager": "zhao"}


def test_a_password_can_come_from_stdin_and_is_checked_against_the_rules(city):
    out, _ = create("chen", "--role=leader", "--password-stdin", stdin="Lakeside-Evening-42\n")
    assert out == ""
    assert User.objects.get(username="chen").check_password("Lakeside-Evening-42")
    with pytest.raises(CommandError, match="密码不符合要求"):
        create("li", "--role=leader", "--password-stdin", stdin="12345\n")
    assert not User.objects.filter(username="li").exists()


def test_a_system_administrator_may_use_the_admin_site(city):
    create("root2", "--role=系统管理员")
    admin = User.objects.get(username="root2")
    assert admin.is_staff and admin.is_superuser


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--role=mayor"],
            "--role：角色“mayor”不存在；可选：inspector（网格员）, intake（受理员）",
        ),
        (["--role=system"], "--role：角色“system”不存在"),
        (
            ["--role=handler", "--department=NOPE"],
            "--department：部门“NOPE”不存在；可选：HJWS, ZX",
        ),
        (["--role=handler"], "--department：部门处置人员必须属于一个部门"),
        (["--role=inspector", "--beat=B999"], "--beat：网格“B999”不存在；可选：B001, B002"),
        (
            ["--role=dispatcher", "--beat=B002"],
            "--beat：只有网格员负责责任网格，派遣员不能指定网格",
        ),
        (["--role=intake", "--email=not-an-address"], "--email："),
        (["--role=intake", "--full-name=" + "长" * 51], "--full-name："),
    ],
)
def test_a_wrong_value_is_refused_and_nothing_is_made(city, args, message):
    assert message in refused("newcomer", *args)
    assert not User.objects.filter(username="newcomer").exists()
    assert city["lakeside"].manager == city["old_hand"]


def test_an_existing_username_is_refused(city):
    assert "用户“old_hand”已存在" in refused("old_hand", "--role=inspector")


def test_an_unknown_department_is_listed_with_every_active_department(city):
    Department.objects.create(code="GONE", name="撤销的科室", is_active=False)
    message = refused("newcomer", "--role=handler", "--department=GONE")
    assert "部门“GONE”已停用" in message
    assert "GONE" not in refused("x", "--role=handler", "--department=NOPE").split("可选：")[1]


def test_a_city_working_in_english_reads_the_refusal_in_english(city):
    with translation.override("en"):
        message = refused("newcomer", "--role=mayor")
    assert message.startswith("--role: ")
    assert "“mayor”" in message and "inspector (Grid manager), intake (" in message
    assert not CJK.search(message)


@pytest.mark.parametrize("name", ["create-user", "import-users"])
def test_the_help_is_shown_in_the_citys_language(name):
    from django.core.management import load_command_class

    command = load_command_class("gridcity.accounts", name)
    assert "网格" in command.create_parser("gridcity", name).format_help()
    with translation.override("en"):
        english = command.create_parser("gridcity", name).format_help()
    # The role option's help names a role in Chinese on purpose: 网格员 is accepted as typed.
    assert not CJK.search(english.replace("网格员", ""))
