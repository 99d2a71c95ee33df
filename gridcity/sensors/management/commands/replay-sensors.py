from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from gridcity.sensors import replay


class Command(BaseCommand):
    help = (
        "把真实数据文件当作设备数据流回放（设备按需登记，坐标为城市网格内的合成点），"
        "观察规则在真实序列上的表现。--kind bin_fill|water|air"
    )

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--kind", required=True, choices=sorted(replay.READERS))
        parser.add_argument("--batch", type=int, default=5000)
        parser.add_argument("--sites", type=int, default=None, help="只回放前 N 个站点（bin_fill）")
        parser.add_argument(
            "--every", type=int, default=60, help="bin_fill：两次清运之间插值的采样间隔（分钟）"
        )
        parser.add_argument(
            "--cases", action="store_true", help="规则触发时按配置立案（默认只产生预警）"
        )

    def handle(self, *args, **o):
        path = Path(o["file"])
        if not path.exists():
            raise CommandError(f"文件不存在：{path}")
        if o["kind"] == "bin_fill":
            stream = replay.edinburgh(path, every_minutes=o["every"], sites=o["sites"])
        else:
            stream = replay.READERS[o["kind"]](path)
        self.stdout.write(f"{len(stream.devices)} 台设备，{len(stream.readings)} 条读数，开始回放…")
        r = replay.run_replay(stream, batch=o["batch"], file_cases=o["cases"])
        rate = r.readings / r.seconds if r.seconds else 0
        self.stdout.write(
            f"新登记设备 {r.devices_created}；读数 {r.readings}，入库 {r.stored}，重复 {r.duplicates}，"
            f"拒收 {r.rejected}；新预警 {r.warnings_opened}，立案 {r.cases_filed}；"
            f"{r.seconds:.1f} 秒（{rate:,.0f} 条/秒）"
        )
        for reason, n in sorted(r.reasons.items(), key=lambda kv: -kv[1])[:8]:
            self.stdout.write(f"  拒收 {n}：{reason}")
        if o["kind"] == "bin_fill":
            share = replay.edinburgh_report(stream)
            lead = share.median_lead()
            self.stdout.write(
                f"清运时满溢度 ≥ 80% 的 {share.eligible} 次清运中，{share.warned} 次在清运前已有预警："
                f"{share.share:.1%}"
                + (f"，提前量中位数 {lead / 60:.1f} 小时" if lead is not None else "")
            )
            self.stdout.write(
                "注：该文件只有每次清运时的满溢度，两次清运之间的读数是直线插值（见 replay.edinburgh）。"
            )
