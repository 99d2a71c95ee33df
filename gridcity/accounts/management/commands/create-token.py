from django.core.management.base import BaseCommand, CommandError

from gridcity.accounts.actions import do_create_token
from gridcity.accounts.models import User


class Command(BaseCommand):
    help = "为用户生成 API 令牌（只显示一次；数据库只存哈希）。"

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="设备名称")

    def handle(self, *args, **o):
        user = User.objects.filter(username=o["username"]).first()
        if user is None:
            raise CommandError(f"用户 {o['username']} 不存在")
        self.stdout.write(do_create_token(user, name=o["name"]))
