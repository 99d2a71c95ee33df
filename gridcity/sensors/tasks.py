"""The sensors' periodic jobs (run by `gridcity scheduler` and the task worker)."""

from datetime import timedelta

from django.utils import timezone

from gridcity.sensors import partitions
from gridcity.sensors.actions import purge_old_readings, retention_days, sweep_silence
from gridcity.system.scheduling import periodic


@periodic(every=60, name="sweep-sensors", priority=10)
def sweep_sensors_job() -> str:
    """检查失联设备（超过 k 倍上报间隔未上报）。"""
    return f"新失联设备 {sweep_silence().silent}"


@periodic(every=3600, name="purge-readings", priority=-20)
def purge_readings_job(days: int | None = None) -> str:
    """维护读数分区：预建本月及之后两个月的分区；按保留天数（GRIDCITY_SENSOR_RETENTION_DAYS）清理旧读数。"""
    days = retention_days() if days is None else days
    now = timezone.now()
    if not partitions.is_partitioned():
        return f"清理超过 {days} 天的读数 {purge_old_readings(days=days, now=now)} 条"
    created = partitions.ensure_ahead(now=now)
    dropped = (
        partitions.drop_before(now - timedelta(days=days)) if days > 0 else partitions.DropResult()
    )
    parts = [
        f"新建分区 {len(created)} 个",
        f"删除超过 {days} 天的月分区 {len(dropped.partitions)} 个（约 {dropped.readings} 条读数）",
    ]
    if dropped.waiting:
        parts.append(f"{len(dropped.waiting)} 个分区等锁超时，下次再删")
    return "；".join(parts)
