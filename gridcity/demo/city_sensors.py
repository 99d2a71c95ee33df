"""The demo city's sensors: real published sensor series replayed into 上城区.

Three real files, trimmed into `data/` (see data/sensors_README.md), are read by the same
readers as the replay command and fed in time order through `do_ingest_readings`, so the
warnings, their clearing and the cases filed from them are what the rules really do with that
data. Each series is moved in time to end at the demo's "now", keeping its local clock time (a
bin emptied at 10:15 in Edinburgh is emptied at 10:15 here) and, for the bins, its weekday:

- 24 Edinburgh litter-bin fill sensors (2016-07) → bins around 湖滨、小营、清波. The file holds
  only the fill level at each collection; the readings between are the replay's straight line
  (see `replay.edinburgh`), so each curve's end points are real and its middle is not.
- 6 Chicago beach water-depth gauges (2014-07) → river and riverside gauges. Two of them really
  stopped sending depth inside the window, so both have an open silence warning at "now" (one
  also keeps the high-water warning it had when it went quiet).
- The Dongsi (东四, Beijing) air-quality station (2016-12, a month of heavy smog) → one station.

Manhole-cover tilt sensors are registered too, but no real tilt series exists in the shared
data, so they have no readings: their pages say 暂无读数 and the board counts them as 正常
(the sensors app has no "never reported" state, and the silence sweep skips them).

Case filing is switched on for the last `FILE_CASES_FOR` only: the older warnings stand for
bins that the real collections then emptied, while the case history (built separately) holds
that past work; the recent ones file 06042 cases as a live deployment would.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import shapely
from django.utils import timezone
from shapely.geometry import shape

from gridcity.demo.context import DemoContext
from gridcity.grids.models import Area, AreaLevel
from gridcity.sensors import replay
from gridcity.sensors import rules as R
from gridcity.sensors.actions import (
    device_rules,
    do_ingest_readings,
    do_register_device,
    sweep_silence,
)
from gridcity.sensors.models import Device, Reading, SensorWarning

DATA_DIR = Path(__file__).resolve().parent / "data"
BINS_FILE = DATA_DIR / "sensors_edinburgh_bins_2016-07.csv"
WATER_FILE = DATA_DIR / "sensors_chicago_beaches_2014-07.csv"
AIR_FILE = DATA_DIR / "sensors_beijing_dongsi_2016-12.csv"

TZ = ZoneInfo("Asia/Shanghai")
WINDOW = timedelta(days=14)
FILE_CASES_FOR = timedelta(hours=12)

# The week of the Edinburgh file the bins' "now" falls in (Wednesday 2016-07-20 to Tuesday
# 07-26): every site has a collection before the window and after its end in the trimmed file.
BINS_WEEK = date(2016, 7, 20)
# The day of the Chicago file that is "today": two gauges have stopped by then.
WATER_DAY = date(2014, 7, 27)
# The day of the Beijing file that is "today", after the smog of 16–22 December.
AIR_DAY = date(2016, 12, 25)

# Where the bins stand: (street, the roads named on them, how many bins).
BIN_STREETS = [
    ("湖滨街道", ["延安路", "平海路", "湖滨路", "东坡路", "南山路"], 12),
    ("小营街道", ["解放路", "中山中路", "庆春路"], 6),
    ("清波街道", ["河坊街", "南山路", "清波街"], 6),
]

# Chicago beach → (street, gauge name, 警戒水位 in m). A river authority sets a warning line
# per station; these sit above each gauge's usual summer depth in the file (the Chicago data
# has no such line, and the kind's default 1.5 m is below the usual depth of most of them).
WATER_GAUGES = {
    "63rd Street Beach": ("南星街道", "钱塘江南星桥水位站", 2.0),
    "Calumet Beach": ("望江街道", "中河望江门水位计", 1.65),
    "Montrose Beach": ("小营街道", "东河水位计", 1.83),
    "Ohio Street Beach": ("采荷街道", "贴沙河水位计", 1.9),
    "Osterman Beach": ("闸弄口街道", "新开河水位计", 1.5),
    "Rainbow Beach": ("九堡街道", "钱塘江九堡段水位站", 1.85),
}

MANHOLES = [
    ("小营街道", "解放路"),
    ("湖滨街道", "延安路"),
    ("紫阳街道", "中山南路"),
    ("凯旋街道", "凯旋路"),
]

AIR_STATION = ("望江街道", "望江空气质量监测站")


@dataclass
class _Placer:
    """Random points inside the active cells of a street (by name)."""

    ctx: DemoContext

    def __post_init__(self) -> None:
        self.cells: dict[str, list[int]] = {}

    def point(self, street_name: str) -> tuple[float, float]:
        if street_name not in self.cells:
            street = Area.objects.filter(level=AreaLevel.STREET, name=street_name).first()
            qs = Area.objects.filter(level=AreaLevel.CELL, is_active=True).exclude(geometry=None)
            if street is not None:
                qs = qs.filter(path__startswith=street.path)
            self.cells[street_name] = list(qs.order_by("code").values_list("pk", flat=True))
        rng = self.ctx.rng
        g = shape(Area.objects.get(pk=rng.choice(self.cells[street_name])).geometry)
        minx, miny, maxx, maxy = g.bounds
        for _ in range(50):
            x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
            if g.contains(shapely.Point(x, y)):
                return x, y
        p = g.representative_point()
        return p.x, p.y


def _cut(day: date, tz: ZoneInfo, now: datetime) -> datetime:
    """The moment in a file that becomes `now`: `day` at now's local clock time."""
    local = timezone.localtime(now, TZ)
    return datetime.combine(day, time(local.hour, local.minute, local.second), tzinfo=tz)


def _bins_cut(now: datetime) -> datetime:
    weekday = timezone.localtime(now, TZ).weekday()
    day = BINS_WEEK + timedelta(days=(weekday - BINS_WEEK.weekday()) % 7)
    return _cut(day, replay.LONDON, now)


def _shifted(stream: replay.Stream, codes: dict[str, str], cut: datetime, now: datetime):
    """The stream's readings of the window before `cut`, moved to end at `now`, renamed."""
    shift = now - cut
    start = cut - WINDOW
    return [
        (t + shift, codes[d], m, v)
        for t, d, m, v in stream.readings
        if start < t <= cut and d in codes
    ]


def _register_bins(
    ctx: DemoContext, placer: _Placer, admin, stream: replay.Stream
) -> dict[str, str]:
    sites = sorted(stream.devices)
    codes: dict[str, str] = {}
    i = 0
    for street, roads, n in BIN_STREETS:
        for _ in range(n):
            if i >= len(sites):
                break
            site = sites[i]
            i += 1
            lon, lat = placer.point(street)
            road = ctx.rng.choice(roads)
            code = f"SC-BIN-{i:03d}"
            do_register_device(
                code,
                "bin_fill",
                acting_user=admin,
                name=f"{road}{ctx.rng.randint(1, 299)}号垃圾箱",
                lon=lon,
                lat=lat,
                place=f"{street}{road}；读数回放自爱丁堡垃圾箱传感器 {site.removeprefix('EDI-')}",
                interval_s=3600,
            )
            codes[site] = code
    return codes


def _register_water(placer: _Placer, admin, stream: replay.Stream) -> dict[str, str]:
    beaches = {beach: code for code, beach in stream.devices.items()}
    codes = {}
    for i, (beach, (street, name, line)) in enumerate(WATER_GAUGES.items(), start=1):
        lon, lat = placer.point(street)
        code = f"SC-WL-{i:03d}"
        do_register_device(
            code,
            "water_level",
            acting_user=admin,
            name=name,
            lon=lon,
            lat=lat,
            place=f"{street}；读数回放自芝加哥 {beach} 水深传感器",
            interval_s=3600,
            rules={"high_water": {"params": {"above": line}}},
        )
        codes[beaches[beach]] = code
    return codes


def _register_air(placer: _Placer, admin) -> dict[str, str]:
    street, name = AIR_STATION
    lon, lat = placer.point(street)
    do_register_device(
        "SC-AQ-001",
        "air_quality",
        acting_user=admin,
        name=name,
        lon=lon,
        lat=lat,
        place=f"{street}；读数回放自北京东四站（2016年12月）",
        interval_s=3600,
    )
    return {"BJ-AIR-DONGSI": "SC-AQ-001"}


def _register_manholes(ctx: DemoContext, placer: _Placer, admin) -> None:
    for i, (street, road) in enumerate(MANHOLES, start=1):
        lon, lat = placer.point(street)
        do_register_device(
            f"SC-MH-{i:03d}",
            "manhole_tilt",
            acting_user=admin,
            name=f"{road}{ctx.rng.randint(1, 299)}号污水井盖",
            lon=lon,
            lat=lat,
            place=f"{street}{road}；新装，尚无读数",
            interval_s=4 * 3600,
        )


def _hours(rows):
    """The readings in batches of one clock hour, each with the time of its newest reading.
    Every replayed device reports hourly, so the rules (which look at each device's newest
    reading of a batch) see nearly every step; hourly batches keep the replay fast."""
    chunk: list[dict] = []
    hour = at = None
    for t, d, m, v in rows:
        h = t.replace(minute=0, second=0, microsecond=0)
        if chunk and h != hour:
            yield at, chunk
            chunk = []
        hour, at = h, t
        chunk.append({"device": d, "time": t.isoformat(), "metric": m, "value": v})
    if chunk:
        yield at, chunk


def _replay(rows, *, file_from: datetime) -> None:
    """Ingest the rows in time order, running the silence sweep when a device has been quiet
    past its limit (the live sweep runs every minute; here it runs when it has work)."""
    limits = {}
    for d in Device.objects.filter(code__in={r[1] for r in rows}):
        spec = next(s for s in device_rules(d) if s.kind == R.RuleKind.SILENCE)
        limits[d.code] = timedelta(seconds=d.interval_s * spec.params.get("factor", 3))
    last: dict[str, datetime] = {}
    swept: set[str] = set()

    def sweep_until(t: datetime) -> None:
        while True:
            due = [last[c] + limits[c] for c in last if c not in swept and last[c] + limits[c] < t]
            if not due:
                return
            at = min(due) + timedelta(minutes=1)
            sweep_silence(now=at)
            swept.update(c for c in last if last[c] + limits[c] < at)

    for at, chunk in _hours(rows):
        sweep_until(at)
        do_ingest_readings(chunk, now=at, file_cases=at >= file_from)
        for r in chunk:
            last[r["device"]] = max(last.get(r["device"], at), datetime.fromisoformat(r["time"]))
            swept.discard(r["device"])


def build(ctx: DemoContext) -> dict[str, int]:
    now = ctx.now
    admin = ctx.people.centre["admin"]
    placer = _Placer(ctx)
    bins, water, air = (
        replay.edinburgh(BINS_FILE),
        replay.chicago_water(WATER_FILE),
        replay.beijing_air(AIR_FILE),
    )
    bin_codes = _register_bins(ctx, placer, admin, bins)
    water_codes = _register_water(placer, admin, water)
    air_codes = _register_air(placer, admin)
    _register_manholes(ctx, placer, admin)

    rows = (
        _shifted(bins, bin_codes, _bins_cut(now), now)
        + _shifted(water, water_codes, _cut(WATER_DAY, replay.CHICAGO, now), now)
        + _shifted(air, air_codes, _cut(AIR_DAY, replay.SHANGHAI, now), now)
    )
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    _replay(rows, file_from=now - FILE_CASES_FOR)
    sweep_silence(now=now)

    demo_devices = Device.objects.filter(code__startswith="SC-")
    return {
        "devices": demo_devices.count(),
        "readings": Reading.objects.filter(device__in=demo_devices).count(),
        "warnings": SensorWarning.objects.filter(device__in=demo_devices).count(),
        "cases": SensorWarning.objects.filter(device__in=demo_devices, case__isnull=False)
        .values("case")
        .distinct()
        .count(),
    }
