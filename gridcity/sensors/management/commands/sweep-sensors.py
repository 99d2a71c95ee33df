from django.core.management.base import BaseCommand

from gridcity.sensors.tasks import purge_readings_job, sweep_sensors_job


class Command(BaseCommand):
    help = (
        "立即检查一次失联设备（超过 k 倍上报间隔未上报）并按保留天数清理旧读数。"
        "平时由 gridcity scheduler 安排（失联每分钟，清理每小时）。"
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--retention-days",
            type=int,
            default=None,
            help="读数保留天数（默认取 GRIDCITY_SENSOR_RETENTION_DAYS，0 表示不清理）",
        )

    def handle(self, *args, **o):
        self.stdout.write(sweep_sensors_job())
        self.stdout.write(purge_readings_job(o["retention_days"]))
