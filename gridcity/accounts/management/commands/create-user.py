import sys

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from gridcity.accounts.actions import (
    UserDirectory,
    UserExists,
    check_user_fields,
    do_create_user,
    generate_password,
)
from gridcity.accounts.models import User

OPTION_OF = {
    "username": "NAME",
    "role": "--role",
    "department": "--department",
    "beat": "--beat",
    "email": "--email",
    "full_name": "--full-name",
    "phone": "--phone",
}


class Command(BaseCommand):
    @property
    def help(self) -> str:  # in the language of the command's run
        return _(
            "新建用户，指定角色、部门和（网格员的）责任网格。不用 --password-stdin 时生成一个密码，"
            "只在标准输出显示一次。"
        )

    # Tests hand the password in through call_command(stdin=…).
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        parser.add_argument("username", metavar="NAME", help=_("登录用户名"))
        parser.add_argument(
            "--role",
            required=True,
            help=_("角色：代码或名称（中文或英文），如 inspector、网格员、Grid manager"),
        )
        parser.add_argument(
            "--department", help=_("所属部门的代码或名称（部门处置人员和部门负责人必填）")
        )
        parser.add_argument(
            "--beat",
            action="append",
            help=_("网格员负责的责任网格（代码或名称），可重复"),
        )
        parser.add_argument("--email", help=_("电子邮箱"))
        parser.add_argument("--full-name", help=_("姓名"))
        parser.add_argument("--phone", help=_("电话"))
        parser.add_argument(
            "--password-stdin",
            action="store_true",
            help=_("从标准输入读取密码（第一行），不生成密码"),
        )

    def handle(self, *args, **o):
        directory = UserDirectory()
        described, problems = check_user_fields(
            directory,
            username=o["username"],
            role=o["role"],
            department=o["department"],
            beats=o["beat"],
            email=o["email"],
            full_name=o["full_name"],
            phone=o["phone"],
            list_choices=True,
        )
        if problems:
            raise CommandError(
                "\n".join(
                    _("%(option)s：%(reason)s")
                    % {"option": OPTION_OF.get(name, name), "reason": reason}
                    for name, reason in problems
                )
            )
        if User.objects.filter(username=described.username).exists():
            raise CommandError(_("用户“%(username)s”已存在") % {"username": described.username})
        if o["password_stdin"]:
            stdin = o.get("stdin") or sys.stdin
            password = stdin.readline().rstrip("\r\n")
            candidate = User(
                username=described.username,
                email=described.email,
                display_name=described.full_name,
            )
            if not password:
                raise CommandError(_("标准输入没有密码"))
            try:
                validate_password(password, candidate)
            except ValidationError as exc:
                raise CommandError(
                    _("密码不符合要求：%(reasons)s") % {"reasons": " ".join(exc.messages)}
                ) from exc
            generated = None
        else:
            password = generated = generate_password()
        try:
            user, handovers = do_create_user(described, password=password, acting_user=None)
        except UserExists as exc:
            raise CommandError(str(exc)) from exc
        # The generated password alone on stdout (a script captures it); the rest on stderr.
        if generated:
            self.stdout.write(generated)
        department = user.department.code if user.department_id else _("无")
        self.stderr.write(
            _("已新建用户 %(username)s：%(role)s，部门 %(department)s")
            % {
                "username": user.username,
                "role": user.get_role_display(),
                "department": department,
            }
        )
        for beat in described.beats:
            self.stderr.write(_("负责责任网格 %(beat)s") % {"beat": beat.code})
        for handover in handovers:
            if handover.previous:
                self.stderr.write(
                    _("责任网格 %(beat)s 原由 %(previous)s 负责，已改由 %(username)s 负责")
                    % {
                        "beat": handover.beat,
                        "previous": handover.previous,
                        "username": user.username,
                    }
                )
