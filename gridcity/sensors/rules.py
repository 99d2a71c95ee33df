"""Rule evaluation and prediction over plain values: no models, no database, no clock.

A series is a list of `(time, value)` pairs sorted by time. Every evaluator answers a
`Verdict`: `firing` is True or False, or None when the data cannot decide (too few points),
in which case the caller keeps whatever state the warning is in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

Series = Sequence[tuple[datetime, float]]


class RuleKind:
    THRESHOLD = "threshold"
    DURATION = "duration"
    RATE = "rate"
    SILENCE = "silence"
    PREDICT = "predict"


@dataclass(frozen=True)
class RuleSpec:
    name: str  # unique per device: the key of per-device overrides and of warnings
    kind: str
    metric: str = ""
    label: str = ""
    params: Mapping = field(default_factory=dict)
    # Category reference (resolve_category) of the case a firing files; "" = warning only.
    category: str = ""
    file_case: bool = False

    def lookback(self) -> timedelta:
        """How much history the rule reads."""
        p = self.params
        if self.kind == RuleKind.DURATION:
            return timedelta(minutes=float(p.get("minutes", 30)) * 2)
        if self.kind == RuleKind.RATE:
            return timedelta(minutes=float(p.get("window_minutes", 60)) * 2)
        if self.kind == RuleKind.PREDICT:
            return timedelta(hours=float(p.get("lookback_hours", 72)))
        return timedelta(0)


@dataclass(frozen=True)
class Verdict:
    firing: bool | None
    reason: str = ""
    value: float | None = None
    predicted_at: datetime | None = None


UNDECIDED = Verdict(None)


def _fmt(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".") if math.isfinite(v) else str(v)


def _cmp(value: float, *, above: float | None, below: float | None) -> bool:
    if above is not None and value >= above:
        return True
    return below is not None and value <= below


# ---------------------------------------------------------------------------------------------
# Evaluators


def threshold(
    series: Series,
    *,
    above: float | None = None,
    below: float | None = None,
    clear: float | None = None,
    is_open: bool = False,
    unit: str = "",
) -> Verdict:
    """The latest value crosses a limit. While open, it clears only past `clear` (hysteresis)
    so a value hovering at the limit does not open and clear a warning every reading."""
    if not series:
        return UNDECIDED
    _, v = series[-1]
    if _cmp(v, above=above, below=below):
        limit = f"≥ {_fmt(above)}" if above is not None and v >= above else f"≤ {_fmt(below)}"
        return Verdict(True, f"当前值 {_fmt(v)}{unit} {limit}{unit}", v)
    if is_open and clear is not None:
        still = v > clear if above is not None else v < clear
        if still:
            return Verdict(True, f"当前值 {_fmt(v)}{unit}，尚未恢复到 {_fmt(clear)}{unit}", v)
    return Verdict(False, f"当前值 {_fmt(v)}{unit} 已恢复正常", v)


def duration(
    series: Series,
    *,
    minutes: float,
    above: float | None = None,
    below: float | None = None,
    unit: str = "",
) -> Verdict:
    """Every reading of the last `minutes` is past the limit, and the series covers the whole
    span (a single reading is not 'for N minutes')."""
    if not series:
        return UNDECIDED
    end = series[-1][0]
    start = end - timedelta(minutes=minutes)
    if not _cmp(series[-1][1], above=above, below=below):
        return Verdict(False, f"当前值 {_fmt(series[-1][1])}{unit} 未超限", series[-1][1])
    # Walk back while readings stay past the limit; the run must reach back to `start`.
    run_start = end
    for t, v in reversed(series):
        if not _cmp(v, above=above, below=below):
            break
        run_start = t
    if run_start <= start:
        limit = f"≥ {_fmt(above)}" if above is not None else f"≤ {_fmt(below)}"
        held = (end - run_start).total_seconds() / 60
        return Verdict(
            True,
            f"持续 {held:.0f} 分钟 {limit}{unit}（当前 {_fmt(series[-1][1])}{unit}）",
            series[-1][1],
        )
    return Verdict(False, "超限未达持续时长", series[-1][1])


def rate_of_change(
    series: Series,
    *,
    per_hour: float,
    window_minutes: float = 60,
    unit: str = "",
) -> Verdict:
    """The value moved by more than `per_hour` per hour over the last window (either way if
    `per_hour` is positive it watches rises, negative watches falls)."""
    if len(series) < 2:
        return UNDECIDED
    end, v_end = series[-1]
    start = end - timedelta(minutes=window_minutes)
    base = [(t, v) for t, v in series if t >= start]
    if len(base) < 2:
        return UNDECIDED
    t0, v0 = base[0]
    hours = (end - t0).total_seconds() / 3600
    if hours <= 0:
        return UNDECIDED
    rate = (v_end - v0) / hours
    if (per_hour > 0 and rate >= per_hour) or (per_hour < 0 and rate <= per_hour):
        word = "上升" if rate > 0 else "下降"
        return Verdict(True, f"{word}过快：每小时 {_fmt(abs(rate))}{unit}", v_end)
    return Verdict(False, f"变化速率 {_fmt(rate)}{unit}/小时", v_end)


def silence(
    last_seen: datetime | None, *, now: datetime, interval_s: float, factor: float = 3
) -> Verdict:
    """The device has not reported for more than `factor` × its expected interval."""
    if last_seen is None:
        return UNDECIDED
    gap = (now - last_seen).total_seconds()
    if gap > factor * interval_s:
        return Verdict(
            True, f"设备已 {gap / 60:.0f} 分钟未上报（应每 {interval_s / 60:.0f} 分钟一次）"
        )
    return Verdict(False, "设备已恢复上报")


def since_last_emptying(series: Series, *, drop: float) -> list[tuple[datetime, float]]:
    """The tail of a fill series after its last emptying: a fall of more than `drop` points
    between two readings means the bin was emptied."""
    start = 0
    for i in range(1, len(series)):
        if series[i - 1][1] - series[i][1] > drop:
            start = i
    return list(series[start:])


def linear_fit(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float] | None:
    """Least squares (slope, intercept), or None when x does not vary."""
    n = len(xs)
    if n < 2:
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    slope = sxy / sxx
    return slope, my - slope * mx


def time_to_level(
    series: Series, *, level: float, drop: float = 15, max_points: int = 12, min_points: int = 3
) -> tuple[datetime | None, float | None]:
    """When the fill is expected to reach `level`, by a straight line through the recent
    readings since the last emptying. Returns (time, rate per hour): time is None when the
    bin is not filling or there are too few points; a bin already at the level answers the
    time of its latest reading."""
    tail = since_last_emptying(series, drop=drop)[-max_points:]
    if not tail:
        return None, None
    end, v_end = tail[-1]
    if v_end >= level:
        return end, None
    if len(tail) < min_points:
        return None, None
    xs = [(t - end).total_seconds() / 3600 for t, _ in tail]
    fit = linear_fit(xs, [v for _, v in tail])
    if fit is None:
        return None, None
    slope, intercept = fit
    if slope <= 1e-9:
        return None, slope
    # Project from the fitted value now, not the raw last reading: one noisy reading should
    # not move the forecast by hours.
    hours = max(0.0, (level - intercept) / slope)
    if hours > 24 * 365:
        return None, slope
    return end + timedelta(hours=hours), slope


def predict(
    series: Series,
    *,
    level: float,
    horizon_minutes: float,
    drop: float = 15,
    max_points: int = 12,
    min_points: int = 3,
    unit: str = "%",
) -> Verdict:
    """Fires when the fill is predicted to reach `level` within `horizon_minutes` of the
    latest reading."""
    if not series:
        return UNDECIDED
    at, rate = time_to_level(
        series, level=level, drop=drop, max_points=max_points, min_points=min_points
    )
    end, v_end = series[-1]
    if at is None:
        if rate is None and len(since_last_emptying(series, drop=drop)) < min_points:
            # Too few readings since the last emptying to fit a line: a just-emptied bin is
            # by definition not about to overflow.
            return Verdict(False, "刚清运或读数不足", v_end) if v_end < level else UNDECIDED
        return Verdict(False, f"当前 {_fmt(v_end)}{unit}，未在上涨", v_end)
    minutes = (at - end).total_seconds() / 60
    if minutes <= horizon_minutes:
        when = "已达到" if minutes <= 0 else f"预计 {minutes:.0f} 分钟后达到"
        rate_text = f"，每小时上涨 {_fmt(rate)}{unit}" if rate else ""
        return Verdict(
            True, f"当前 {_fmt(v_end)}{unit}{rate_text}，{when} {_fmt(level)}{unit}", v_end, at
        )
    return Verdict(False, f"预计 {minutes / 60:.1f} 小时后达到 {_fmt(level)}{unit}", v_end, at)


def evaluate(
    spec: RuleSpec,
    series: Series,
    *,
    now: datetime,
    last_seen: datetime | None = None,
    interval_s: float = 600,
    is_open: bool = False,
) -> Verdict:
    p = dict(spec.params)
    if spec.kind == RuleKind.THRESHOLD:
        return threshold(series, is_open=is_open, **p)
    if spec.kind == RuleKind.DURATION:
        return duration(series, **p)
    if spec.kind == RuleKind.RATE:
        return rate_of_change(series, **p)
    if spec.kind == RuleKind.SILENCE:
        return silence(last_seen, now=now, interval_s=interval_s, factor=p.get("factor", 3))
    if spec.kind == RuleKind.PREDICT:
        return predict(series, **p)
    raise ValueError(f"未知的规则类型：{spec.kind}")


# ---------------------------------------------------------------------------------------------
# Configuration: per-kind defaults, settings, per-device overrides

DEFAULT_METRIC = {
    "bin_fill": "fill",
    "manhole_tilt": "tilt",
    "water_level": "level",
    "street_light": "lux",
    "air_quality": "pm25",
    "noise": "db",
    "generic": "value",
}

SILENCE = RuleSpec("silence", RuleKind.SILENCE, label="设备失联", params={"factor": 3})

DEFAULT_RULES: dict[str, list[RuleSpec]] = {
    "bin_fill": [
        # The early warning: the bin will pass 80 % within two hours. A warning only, so the
        # clearance list can plan a round before anyone needs a case.
        RuleSpec(
            "predict_high",
            RuleKind.PREDICT,
            "fill",
            "即将高位（80%）",
            {"level": 80, "horizon_minutes": 120},
        ),
        # Predicted full within two hours: file 06042 ahead of time (SCENARIOS 15:30).
        RuleSpec(
            "predict_full",
            RuleKind.PREDICT,
            "fill",
            "预计满溢",
            {"level": 100, "horizon_minutes": 120},
            category="matter:06042",
            file_case=True,
        ),
        SILENCE,
    ],
    "manhole_tilt": [
        RuleSpec(
            "tilt",
            RuleKind.THRESHOLD,
            "tilt",
            "井盖倾斜/位移",
            {"above": 15, "clear": 5, "unit": "°"},
            category="matter:01002",
            file_case=True,
        ),
        replace(SILENCE, params={"factor": 4}),
    ],
    "water_level": [
        RuleSpec(
            "high_water",
            RuleKind.DURATION,
            "level",
            "水位持续偏高",
            {"above": 1.5, "minutes": 30, "unit": "m"},
        ),
        RuleSpec(
            "rising_fast",
            RuleKind.RATE,
            "level",
            "水位上涨过快",
            {"per_hour": 0.3, "window_minutes": 60, "unit": "m"},
        ),
        SILENCE,
    ],
    "street_light": [
        RuleSpec(
            "dark",
            RuleKind.DURATION,
            "lux",
            "路灯不亮",
            {"below": 5, "minutes": 60, "unit": "lx"},
            category="component:01037",
            file_case=False,
        ),
        SILENCE,
    ],
    "air_quality": [
        RuleSpec(
            "pm25_high",
            RuleKind.DURATION,
            "pm25",
            "PM2.5 重度污染",
            {"above": 150, "minutes": 180, "unit": "µg/m³"},
        ),
        RuleSpec(
            "pm25_jump",
            RuleKind.RATE,
            "pm25",
            "PM2.5 快速上升",
            {"per_hour": 80, "window_minutes": 180, "unit": "µg/m³"},
        ),
        SILENCE,
    ],
    "noise": [
        RuleSpec(
            "loud",
            RuleKind.DURATION,
            "db",
            "噪声持续超标",
            {"above": 70, "minutes": 30, "unit": "dB"},
            category="matter:06028",
            file_case=False,
        ),
        SILENCE,
    ],
    "generic": [SILENCE],
}


def rules_for(
    kind: str,
    overrides: Mapping | None = None,
    settings_overrides: Mapping | None = None,
) -> list[RuleSpec]:
    """The rules of a device: the kind's defaults, changed by the city's settings and then by
    the device's own overrides. An override maps a rule name to changed fields (`params` are
    merged key by key) or to null to switch the rule off; a new name adds a rule and must give
    its `kind`."""
    rules = {r.name: r for r in DEFAULT_RULES.get(kind, DEFAULT_RULES["generic"])}
    for layer in (settings_overrides or {}).get(kind, {}), overrides or {}:
        for name, change in layer.items():
            if change is None:
                rules.pop(name, None)
                continue
            change = dict(change)
            base = rules.get(name) or RuleSpec(
                name, change.get("kind", ""), DEFAULT_METRIC.get(kind, "value")
            )
            params = {**base.params, **change.pop("params", {})}
            fields = {k: v for k, v in change.items() if k in RuleSpec.__dataclass_fields__}
            rules[name] = replace(base, **fields, params=params)
    for r in rules.values():
        if r.kind not in vars(RuleKind).values():
            raise ValueError(f"规则 {r.name} 的类型无效：{r.kind!r}")
    return list(rules.values())


# ---------------------------------------------------------------------------------------------
# Clearance route


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(math.sqrt(a))


def clearance_order(
    depot: tuple[float, float], stops: Sequence[tuple[float, float]]
) -> tuple[list[int], list[float]]:
    """Nearest-neighbour tour from the depot: the indices of `stops` in visiting order and the
    length of each leg in metres. Not optimal (it can be ~25 % longer than the best tour) but
    predictable, and a crew can follow it without a map."""
    left = set(range(len(stops)))
    here = depot
    order, legs = [], []
    while left:
        nxt = min(left, key=lambda i: (haversine_m(*here, *stops[i]), i))
        legs.append(haversine_m(*here, *stops[nxt]))
        order.append(nxt)
        here = stops[nxt]
        left.remove(nxt)
    return order, legs
