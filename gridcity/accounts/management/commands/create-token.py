from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from gridcity.accounts.actions import do_create_token
from gridcity.accounts.models import ApiToken, User, hash_token


class Command(BaseCommand):
    help = "为用户生成 API 令牌（只显示一次；数据库只存哈希）。令牌到期后失效。"

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="设备名称")
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help="有效天数（默认 GRIDCITY_TOKEN_LIFETIME_DAYS，90 天）",
        )

    def handle(self, *args, **o):
        user = User.objects.filter(username=o["username"]).first()
        if user is None:
            raise CommandError(f"用户 {o['username']} 不存在")
        if o["days"] is not None and not 1 <= o["days"] <= 3650:
            raise CommandError("--days 应为 1–3650")
        raw = do_create_token(user, name=o["name"], days=o["days"])
        token = ApiToken.objects.get(key_hash=hash_token(raw))
        # The token alone on stdout (scripts capture it); its end date on stderr.
        self.stdout.write(raw)
        expires = timezone.localtime(token.expires_at).strftime("%Y-%m-%d %H:%M")
        self.stderr.write(f"令牌有效期至 {expires}")
