"""The sensors' periodic jobs (run by `gridcity scheduler` and the task worker)."""

from gridcity.sensors.actions import purge_old_readings, retention_days, sweep_silence
from gridcity.system.scheduling import periodic


@periodic(every=60, name="sweep-sensors", priority=10)
def sweep_sensors_job() -> str:
    """检查失联设备（超过 k 倍上报间隔未上报）。"""
    return f"新失联设备 {sweep_silence().silent}"


@periodic(every=3600, name="purge-readings", priority=-20)
def purge_readings_job(days: int | None = None) -> str:
    """按保留天数（GRIDCITY_SENSOR_RETENTION_DAYS）清理旧读数。"""
    days = retention_days() if days is None else days
    return f"清理超过 {days} 天的读数 {purge_old_readings(days=days)} 条"
