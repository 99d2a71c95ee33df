"""`gridcity demo`: the demo city of 上城区 with six months of history, built through the real
actions."""

import unicodedata

from django.core.management.base import BaseCommand, CommandError

from gridcity.demo.builder import PASSWORD, DemoOptions, build_demo, has_data


class Command(BaseCommand):
    help = "生成演示数据：上城区的街道、社区、单元网格、部门、人员和约六个月的案件历史。"

    def add_arguments(self, parser):
        parser.add_argument(
            "--seed", type=int, default=1, help="随机种子（默认 1），同一种子结果相同"
        )
        parser.add_argument("--months", type=float, default=6, help="历史月数（默认 6）")
        parser.add_argument("--cases", type=int, default=2500, help="案件数（默认 2500）")
        parser.add_argument(
            "--cell-size", type=float, default=100.0, help="单元网格边长（米，默认 100）"
        )
        parser.add_argument(
            "--if-empty", action="store_true", help="数据库中已有区域数据时什么也不做"
        )

    def handle(self, *args, **o):
        if has_data():
            if o["if_empty"]:
                self.stdout.write("数据库中已有数据，跳过演示数据生成。")
                return
            raise CommandError(
                "数据库中已有数据，演示数据只能在空数据库中生成。"
                "请换一个 GRIDCITY_DATA_DIR（或清空数据库）后重试；加 --if-empty 可在已有数据时跳过。"
            )
        if o["cases"] < 0 or o["months"] <= 0 or o["cell_size"] < 20:
            raise CommandError(
                "参数无效：--cases 不能为负，--months 须大于 0，--cell-size 至少 20 米"
            )
        opts = DemoOptions(
            seed=o["seed"], months=o["months"], cases=o["cases"], cell_size_m=o["cell_size"]
        )
        r = build_demo(opts, log=self.stdout.write)
        w = self.stdout.write
        w("")
        w(self.style.SUCCESS("演示数据已生成"))
        w(
            f"  街道 {r.streets} 个，社区 {r.communities} 个，单元网格 {r.cells} 个，"
            f"责任网格 {r.beats} 个"
        )
        w(
            f"  案件 {r.cases} 件（上报 {r.reports} 次），流转记录 {r.events} 条，督办单 {r.orders} 张"
        )
        w(
            "  当前状态："
            + "，".join(f"{_status_label(s)} {n}" for s, n in sorted(r.statuses.items()))
        )
        if r.skipped:
            w("  跳过的动作：" + "；".join(f"{k} ×{n}" for k, n in r.skipped.most_common(5)))
        w(f"  用时 {r.seconds:.1f} 秒")
        w("")
        w(f"演示账号（密码均为 {PASSWORD}）：")
        rows = [("用户名", "角色", "部门", "姓名")]
        rows += [(x.username, x.role, x.department or "—", x.display_name) for x in r.logins]
        widths = [max(_width(row[i]) for row in rows) + 2 for i in range(3)]
        for row in rows:
            w("  " + "".join(_pad(c, n) for c, n in zip(row, widths, strict=False)) + row[3])
        w("")
        w(f"inspector1 的 API 令牌（只显示这一次）：{r.token}")


def _status_label(value: str) -> str:
    from gridcity.cases.models import Status

    return str(Status(value).label)


def _width(text: str) -> int:
    """Display width: CJK characters take two columns in a terminal."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))
