"""Bins predicted full in the next hours, in clearance-route order."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from gridcity.sensors import rules as R
from gridcity.sensors.actions import MAX_POINTS, _recent_series, device_rules
from gridcity.sensors.models import Device, DeviceKind, DeviceState


@dataclass
class Stop:
    device: Device
    value: float
    predicted_at: datetime
    rate_per_hour: float | None
    stale: bool
    order: int = 0
    leg_m: float = 0.0


def forecast_bins(
    *, hours: float, depot: tuple[float, float] | None, now: datetime | None = None
) -> tuple[list[Stop], float]:
    """Each bin's time to its 'full' level from its recent fill rate; those due within
    `hours` (or already full), ordered nearest-neighbour from the depot. Returns the stops and
    the route length in metres."""
    now = now or timezone.now()
    devices = list(
        Device.objects.filter(kind=DeviceKind.BIN_FILL, last_seen_at__isnull=False).exclude(
            state=DeviceState.DISABLED
        )
    )
    windows = {
        d.pk: d.last_seen_at - timedelta(seconds=d.interval_s * MAX_POINTS * 2) for d in devices
    }
    series = _recent_series(windows, {"fill"})
    stops = []
    for d in devices:
        spec = next((s for s in device_rules(d) if s.name == "predict_full"), None)
        level = float(spec.params.get("level", 100)) if spec else 100.0
        s = series.get((d.pk, "fill"))
        if not s:
            continue
        at, rate = R.time_to_level(s, level=level)
        if at is None or at > now + timedelta(hours=hours):
            continue
        stale = (now - d.last_seen_at).total_seconds() > 3 * d.interval_s
        stops.append(Stop(d, s[-1][1], at, rate, stale))
    located = [s for s in stops if s.device.lon is not None]
    unlocated = [s for s in stops if s.device.lon is None]
    total = 0.0
    if located:
        start = depot or (located[0].device.lon, located[0].device.lat)
        order, legs = R.clearance_order(start, [(s.device.lon, s.device.lat) for s in located])
        located = [located[i] for i in order]
        for i, (stop, leg) in enumerate(zip(located, legs, strict=True), start=1):
            stop.order, stop.leg_m = i, leg
        total = sum(legs)
    return located + sorted(unlocated, key=lambda s: s.predicted_at), total
