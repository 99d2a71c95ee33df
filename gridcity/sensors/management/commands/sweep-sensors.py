import time

from django.core.management.base import BaseCommand

from gridcity.sensors.actions import purge_old_readings, retention_days, sweep_silence


class Command(BaseCommand):
    help = "检查失联设备（超过 k 倍上报间隔未上报）并按保留天数清理旧读数。--loop 持续运行。"

    def add_arguments(self, parser):
        parser.add_argument("--loop", action="store_true")
        parser.add_argument("--interval", type=float, default=60.0, help="--loop 时的间隔秒数")
        parser.add_argument(
            "--retention-days",
            type=int,
            default=None,
            help="读数保留天数（默认取 GRIDCITY_SENSOR_RETENTION_DAYS，0 表示不清理）",
        )

    def handle(self, *args, **o):
        days = retention_days() if o["retention_days"] is None else o["retention_days"]
        last_purge = 0.0
        while True:
            r = sweep_silence()
            msg = f"新失联设备 {r.silent}"
            # Retention is cheap to skip: once an hour is plenty.
            if time.monotonic() - last_purge > 3600:
                msg += f"，清理超过 {days} 天的读数 {purge_old_readings(days=days)} 条"
                last_purge = time.monotonic()
            self.stdout.write(msg)
            if not o["loop"]:
                return
            time.sleep(o["interval"])
