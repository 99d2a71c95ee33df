import time

from django.core.management.base import BaseCommand, CommandError

from gridcity.accounts.models import User
from gridcity.evaluation.actions import do_freeze_period
from gridcity.lib.errors import Conflict, Forbidden, InvalidInput


class Command(BaseCommand):
    help = "冻结一个已结束的考评期间（快照其考评事实并保存各类排名），例如：freeze-period 2025-09 --user leader"

    def add_arguments(self, parser):
        parser.add_argument("period", help="期间，如 2025-09、2025-Q3")
        parser.add_argument("--user", required=True, help="以哪位领导或值班长的名义冻结（用户名）")

    def handle(self, *args, **o):
        user = User.objects.filter(username=o["user"]).first()
        if user is None:
            raise CommandError(f"用户 {o['user']} 不存在")
        t = time.perf_counter()
        try:
            row = do_freeze_period(o["period"], acting_user=user)
        except (Conflict, Forbidden, InvalidInput) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"{row.key} 已冻结：{row.facts.count():,} 条考评事实，用时 {time.perf_counter() - t:.1f} 秒"
        )
