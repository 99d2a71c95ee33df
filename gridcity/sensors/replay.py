"""Real published sensor files turned into device streams, for the replay command and tests.

Each reader answers a `Stream`: the devices it needs (code → kind, name) and the readings as
`(time, device, metric, raw value)` sorted by time. Raw values are passed through untouched,
so the sentinels (−99999) and blanks of the real files meet the real validation.
"""

from __future__ import annotations

import csv
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")
CHICAGO = ZoneInfo("America/Chicago")
SHANGHAI = ZoneInfo("Asia/Shanghai")

EDINBURGH_FILL = "Fill level before collection (%) [Nb 100% is actually a bin that's 80% full]"
EDINBURGH_TIME = "Date & Time of bin collection (Europe/London)"


@dataclass
class Stream:
    kind: str
    devices: dict[str, str] = field(default_factory=dict)  # code -> name
    readings: list[tuple[datetime, str, str, object]] = field(default_factory=list)
    # Edinburgh only: (device, collection time, fill before, previous collection time)
    collections: list[tuple[str, datetime, float, datetime | None]] = field(default_factory=list)


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


def edinburgh(path: Path, *, every_minutes: int = 60, sites: int | None = None) -> Stream:
    """The Edinburgh file has one row per collection: the fill level just before the bin was
    emptied and the level after (always 0). It has no readings in between. To replay it as a
    sensor stream we draw a straight line from the level after one collection to the level
    before the next and sample it every `every_minutes` on the clock, then emit the real
    pre-collection level at the collection time and the real after-level one minute later.

    So the end points of every curve are real and the points between are ours: the replay
    shows the rules firing in time on a bin that fills at its real average rate, not how real
    bins fill hour by hour (lunchtime surges, weekends). Say so wherever its numbers are used.
    """
    by_site: dict[str, list[tuple[datetime, float, float]]] = defaultdict(list)
    names: dict[str, str] = {}
    for r in _rows(path):
        try:
            t = datetime.fromisoformat(r[EDINBURGH_TIME]).replace(tzinfo=LONDON)
            before = float(r[EDINBURGH_FILL])
            after = float(r.get("Fill level after") or 0)
        except (KeyError, ValueError):
            continue
        code = f"EDI-{r['Site']}"
        names[code] = (r.get("Site name") or "")[:100]
        by_site[code].append((t.astimezone(UTC), before, after))
    codes = sorted(by_site)
    if sites is not None:
        codes = codes[:sites]
    stream = Stream(kind="bin_fill")
    step = timedelta(minutes=every_minutes)
    for code in codes:
        stream.devices[code] = names[code]
        events = sorted(set(by_site[code]))
        prev: tuple[datetime, float, float] | None = None
        for t, before, after in events:
            if prev is not None and t - prev[0] > timedelta(minutes=2):
                t0, a0 = prev[0] + timedelta(minutes=1), prev[2]
                span = (t - t0).total_seconds()
                # First grid point strictly after t0.
                s = datetime.fromtimestamp(
                    math.floor(t0.timestamp() / step.total_seconds() + 1) * step.total_seconds(),
                    tz=UTC,
                )
                while s < t:
                    v = a0 + (before - a0) * (s - t0).total_seconds() / span
                    stream.readings.append((s, code, "fill", round(v)))
                    s += step
            stream.collections.append((code, t, before, prev[0] if prev else None))
            stream.readings.append((t, code, "fill", before))
            stream.readings.append((t + timedelta(minutes=1), code, "fill", after))
            prev = (t, before, after)
    stream.readings.sort(key=lambda r: (r[0], r[1]))
    return stream


CHICAGO_METRICS = {
    "Water Temperature": "water_temperature",
    "Turbidity": "turbidity",
    "Transducer Depth": "level",
    "Wave Height": "wave_height",
    "Wave Period": "wave_period",
    "Battery Life": "battery",
}


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").upper()


def chicago_water(path: Path) -> Stream:
    """Hourly beach sensors; blanks are skipped (no reading), −99999 goes through to be
    rejected as a sentinel."""
    stream = Stream(kind="water_level")
    for r in _rows(path):
        name = r["Beach Name"]
        code = f"CHI-{_slug(name)}"
        try:
            t = datetime.strptime(r["Measurement Timestamp"], "%m/%d/%Y %I:%M:%S %p")
        except ValueError:
            continue
        t = t.replace(tzinfo=CHICAGO).astimezone(UTC)
        stream.devices[code] = name
        for col, metric in CHICAGO_METRICS.items():
            raw = (r.get(col) or "").strip()
            if raw:
                stream.readings.append((t, code, metric, raw))
    stream.readings.sort(key=lambda r: (r[0], r[1], r[2]))
    return stream


BEIJING_METRICS = {
    "PM2.5": "pm25",
    "PM10": "pm10",
    "SO2": "so2",
    "NO2": "no2",
    "CO": "co",
    "O3": "o3",
}


def beijing_air(path: Path) -> Stream:
    """Hourly air quality at one station; "NA" goes through and is rejected as non-numeric."""
    stream = Stream(kind="air_quality")
    for r in _rows(path):
        station = r.get("station") or "Dongsi"
        code = f"BJ-AIR-{station.upper()}"
        stream.devices[code] = f"{station} 空气质量监测站"
        t = datetime(
            int(r["year"]), int(r["month"]), int(r["day"]), int(r["hour"]), tzinfo=SHANGHAI
        ).astimezone(UTC)
        for col, metric in BEIJING_METRICS.items():
            stream.readings.append((t, code, metric, r.get(col, "")))
    stream.readings.sort(key=lambda r: (r[0], r[1], r[2]))
    return stream


READERS = {"bin_fill": edinburgh, "water": chicago_water, "air": beijing_air}


@dataclass
class EarlyWarningShare:
    eligible: int
    warned: int
    lead_minutes: list[float]

    @property
    def share(self) -> float:
        return self.warned / self.eligible if self.eligible else 0.0

    def median_lead(self) -> float | None:
        if not self.lead_minutes:
            return None
        xs = sorted(self.lead_minutes)
        return xs[len(xs) // 2]


def early_warning_share(
    collections: list[tuple[str, datetime, float, datetime | None]],
    warnings_by_device: dict[str, list[datetime]],
    *,
    over: float = 80,
) -> EarlyWarningShare:
    """Of the collections where the bin was over `over` % when emptied (and a curve before it
    exists), how many had a warning opened strictly before the collection time and after the
    previous one."""
    eligible = warned = 0
    leads = []
    for code, t, before, prev in collections:
        if prev is None or before < over:
            continue
        eligible += 1
        opened = [w for w in warnings_by_device.get(code, ()) if prev < w < t]
        if opened:
            warned += 1
            leads.append((t - min(opened)).total_seconds() / 60)
    return EarlyWarningShare(eligible, warned, leads)


@dataclass
class ReplayResult:
    devices_created: int = 0
    readings: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    warnings_opened: int = 0
    cases_filed: int = 0
    seconds: float = 0.0


def synthetic_points(n: int) -> list[tuple[float, float]]:
    """`n` points inside the city's cells, spread over them in a fixed order: the real files
    have no coordinates (or coordinates in another country), so devices are placed here."""
    from gridcity.grids.models import Area, AreaLevel

    cells = list(
        Area.objects.filter(level=AreaLevel.CELL, is_active=True)
        .exclude(centroid_lon=None)
        .order_by("code")
        .values_list("centroid_lon", "centroid_lat", "min_lon", "min_lat", "max_lon", "max_lat")
    )
    if not cells:
        return [(None, None)] * n  # type: ignore[list-item]
    stride = max(1, len(cells) // max(n, 1))
    out = []
    for i in range(n):
        lon, lat, x0, y0, x1, y1 = cells[(i * stride) % len(cells)]
        # Off the centroid by a fixed fraction so two devices in one cell do not coincide.
        k = i // len(cells)
        out.append((lon + (x1 - x0) * 0.1 * (k % 4), lat + (y1 - y0) * 0.1 * (k // 4 % 4)))
    return out


def run_replay(
    stream: Stream,
    *,
    batch: int = 5000,
    file_cases: bool = False,
    interval_s: int | None = None,
    per_step: bool = True,
    progress=None,
) -> ReplayResult:
    """Create the stream's devices where missing, then feed its readings in time order
    through the same action the API and MQTT use.

    The rules of a batch look at each device's newest reading only (a device catching up on
    a backlog should not fire stale warnings). A replay wants to see every step, as a live
    device would send it, so by default a batch ends before any device's second reading;
    `per_step=False` sends plain batches of `batch` rows (faster, rules see batch ends)."""
    import time

    from gridcity.sensors.actions import do_ingest_readings, do_register_device
    from gridcity.sensors.models import Device

    result = ReplayResult()
    started = time.monotonic()
    existing = set(Device.objects.filter(code__in=stream.devices).values_list("code", flat=True))
    missing = [c for c in stream.devices if c not in existing]
    interval = interval_s or (
        3600 if stream.kind in ("bin_fill", "water_level", "air_quality") else 600
    )
    for code, (lon, lat) in zip(missing, synthetic_points(len(missing)), strict=True):
        do_register_device(
            code,
            stream.kind,
            acting_user=None,
            name=stream.devices[code],
            lon=lon,
            lat=lat,
            place="回放数据（坐标为合成点）",
            interval_s=interval,
        )
        result.devices_created += 1
    for chunk in _batches(stream.readings, batch, per_step=per_step):
        r = do_ingest_readings(chunk, file_cases=file_cases)
        result.readings += len(chunk)
        result.stored += r.stored
        result.duplicates += r.duplicates
        result.rejected += len(r.rejected)
        for rej in r.rejected:
            key = re.sub(r"[-\d.]+", "N", rej.reason) if "哨兵" not in rej.reason else rej.reason
            result.reasons[key] = result.reasons.get(key, 0) + 1
        result.warnings_opened += r.warnings_opened
        result.cases_filed += r.cases_filed
        if progress:
            progress(result)
    result.seconds = time.monotonic() - started
    return result


def _batches(rows, size: int, *, per_step: bool):
    chunk: list[dict] = []
    seen: set[tuple[str, str]] = set()
    for t, d, m, v in rows:
        if len(chunk) >= size or (per_step and (d, m) in seen):
            yield chunk
            chunk, seen = [], set()
        chunk.append({"device": d, "time": t.isoformat(), "metric": m, "value": v})
        seen.add((d, m))
    if chunk:
        yield chunk


def edinburgh_report(stream: Stream) -> EarlyWarningShare:
    from gridcity.sensors.models import SensorWarning
    from gridcity.sensors.rules import SILENCE

    opened: dict[str, list[datetime]] = defaultdict(list)
    for code, at in (
        SensorWarning.objects.filter(device__code__in=stream.devices)
        .exclude(rule=SILENCE.name)
        .values_list("device__code", "opened_at")
    ):
        opened[code].append(at)
    return early_warning_share(stream.collections, opened)
