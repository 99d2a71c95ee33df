"""A line chart as SVG, drawn on the server: no chart library, readable without JavaScript."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape

from django.utils import timezone

COLOURS = ["#0b5cad", "#d23a2c", "#2e9d4f", "#e0a800", "#7b3fa0", "#5b6675"]


def line_chart(
    series: dict[str, Sequence[tuple[datetime, float]]],
    *,
    width: int = 720,
    height: int = 240,
    levels: Sequence[tuple[float, str]] = (),
    title: str = "",
) -> str:
    """One polyline per metric, a time axis in Beijing time, horizontal lines at `levels`
    (value, label). Scales to its container (viewBox), so it fits a 360 px phone."""
    pad_l, pad_r, pad_t, pad_b = 44, 10, 12, 28
    points = [p for s in series.values() for p in s]
    label = escape(title or "读数曲线")
    if not points:
        return (
            f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{label}">'
            f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" fill="#5b6675">暂无读数</text></svg>'
        )
    t0 = min(t for t, _ in points).timestamp()
    t1 = max(t for t, _ in points).timestamp()
    values = [v for _, v in points] + [lv for lv, _ in levels]
    v0, v1 = min(values), max(values)
    if v1 - v0 < 1e-9:
        v0, v1 = v0 - 1, v1 + 1
    span_t = max(t1 - t0, 1.0)
    w, h = width - pad_l - pad_r, height - pad_t - pad_b

    def x(t: datetime) -> float:
        return pad_l + (t.timestamp() - t0) / span_t * w

    def y(v: float) -> float:
        return pad_t + (1 - (v - v0) / (v1 - v0)) * h

    out = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{label}" '
        'preserveAspectRatio="none" xmlns="http://www.w3.org/2000/svg">',
        f'<rect x="{pad_l}" y="{pad_t}" width="{w}" height="{h}" fill="#fff" stroke="#dde3ea"/>',
    ]
    for i in range(5):
        v = v0 + (v1 - v0) * i / 4
        out.append(
            f'<text x="{pad_l - 4}" y="{y(v) + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#5b6675">{v:.4g}</text>'
        )
    for i in range(5):
        ts = t0 + span_t * i / 4
        # The axis in the city's time zone (TIME_ZONE), as every other time on the pages.
        lt = datetime.fromtimestamp(ts, tz=timezone.get_current_timezone())
        out.append(
            f'<text x="{pad_l + w * i / 4:.1f}" y="{height - 8}" text-anchor="middle" '
            f'font-size="11" fill="#5b6675">{lt:%m-%d %H:%M}</text>'
        )
    for lv, lab in levels:
        out.append(
            f'<line x1="{pad_l}" x2="{pad_l + w}" y1="{y(lv):.1f}" y2="{y(lv):.1f}" '
            'stroke="#d23a2c" stroke-dasharray="4 3"/>'
            f'<text x="{pad_l + w - 2}" y="{y(lv) - 3:.1f}" text-anchor="end" font-size="11" '
            f'fill="#d23a2c">{escape(lab)}</text>'
        )
    for i, (name, s) in enumerate(series.items()):
        colour = COLOURS[i % len(COLOURS)]
        pts = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in s)
        out.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="1.6" points="{pts}">'
            f"<title>{escape(name)}</title></polyline>"
        )
        out.append(
            f'<text x="{pad_l + 6 + 90 * i}" y="{pad_t + 14}" font-size="12" fill="{colour}">'
            f"{escape(name)}</text>"
        )
    out.append("</svg>")
    return "".join(out)
