"""Pages: the warnings board with its map, a device's page, and the clearance forecast."""

from __future__ import annotations

import contextlib
from datetime import timedelta

from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import gettext

from gridcity.accounts.access import role_required
from gridcity.accounts.models import CENTRE_ROLES
from gridcity.grids.maps import map_settings
from gridcity.grids.models import Area, AreaLevel
from gridcity.sensors import rules as R
from gridcity.sensors.actions import device_rules, readings_of
from gridcity.sensors.charts import line_chart
from gridcity.sensors.forecast import forecast_bins
from gridcity.sensors.models import Device, DeviceState, SensorWarning, WarningState

STAFF = set(CENTRE_ROLES)
COLOUR = {
    DeviceState.NORMAL: "#2e9d4f",
    DeviceState.WARNING: "#d23a2c",
    DeviceState.SILENT: "#e0a800",
    DeviceState.DISABLED: "#8a94a3",
}


@role_required(STAFF)
def board(request: HttpRequest) -> HttpResponse:
    warnings = list(
        SensorWarning.objects.filter(state=WarningState.OPEN)
        .select_related("device", "case")
        .order_by("-opened_at")[:200]
    )
    counts = dict(Device.objects.values_list("state").annotate(n=Count("id")))
    devices = [
        {
            "code": d["code"],
            "name": d["name"] or d["code"],
            "lon": d["lon"],
            "lat": d["lat"],
            "state": d["state"],
            "colour": COLOUR.get(d["state"], "#8a94a3"),
            "label": DeviceState(d["state"]).label,
        }
        for d in Device.objects.exclude(lon=None).values("code", "name", "lon", "lat", "state")[
            :5000
        ]
    ]
    return render(
        request,
        "sensors/board.html",
        {
            "warnings": warnings,
            "states": [(s.label, counts.get(s.value, 0), COLOUR[s]) for s in DeviceState],
            "map": {**map_settings(), "devices": devices},
        },
    )


@role_required(STAFF)
def device_page(request: HttpRequest, code: str) -> HttpResponse:
    device = Device.objects.select_related("cell", "component").filter(code=code).first()
    if device is None:
        raise Http404(gettext("设备不存在"))
    hours = 48
    with contextlib.suppress(ValueError):
        hours = min(max(float(request.GET.get("hours", 48)), 1), 24 * 31)
    end = device.last_seen_at or timezone.now()
    by_metric: dict[str, list] = {}
    for metric, t, v in readings_of(device, since=end - timedelta(hours=hours)):
        by_metric.setdefault(metric, []).append((t, v))
    specs = device_rules(device)
    levels = []
    for s in specs:
        p = s.params
        for key in ("level", "above", "below"):
            if key in p and (s.metric in by_metric or not by_metric):
                levels.append((float(p[key]), f"{s.label} {p[key]}"))
                break
    chart = line_chart(
        by_metric,
        levels=levels[:3],
        title=gettext("%(device)s 近 %(hours)s 小时读数")
        % {"device": device, "hours": format(hours, ".0f")},
    )
    warnings = list(device.warnings.select_related("case").order_by("-opened_at")[:50])
    cases = []
    seen = set()
    for w in warnings:
        if w.case_id and w.case_id not in seen:
            seen.add(w.case_id)
            cases.append(w.case)
    return render(
        request,
        "sensors/device.html",
        {
            "device": device,
            "chart": mark_safe(chart),  # built from numbers and escaped labels only
            "hours": hours,
            "warnings": warnings,
            "cases": cases,
            "rules": specs,
            "latest": {m: s[-1] for m, s in by_metric.items()},
            "colour": COLOUR.get(device.state),
        },
    )


def _depot(request: HttpRequest) -> tuple[float, float] | None:
    raw = request.GET.get("depot", "")
    try:
        lon, lat = (float(x) for x in raw.split(","))
        if -180 <= lon <= 180 and -90 <= lat <= 90:
            return lon, lat
    except ValueError:
        pass
    root = Area.objects.filter(level=AreaLevel.DISTRICT).exclude(centroid_lon=None).first()
    return (root.centroid_lon, root.centroid_lat) if root else None


@role_required(STAFF)
def forecast(request: HttpRequest) -> HttpResponse:
    try:
        hours = min(max(float(request.GET.get("hours", 4)), 0.5), 48)
    except ValueError:
        hours = 4.0
    depot = _depot(request)
    stops, total_m = forecast_bins(hours=hours, depot=depot, now=None)
    return render(
        request,
        "sensors/forecast.html",
        {
            "stops": stops,
            "hours": hours,
            "depot": depot,
            "total_km": total_m / 1000,
            "full_level": next(
                (
                    s.params.get("level")
                    for s in R.DEFAULT_RULES["bin_fill"]
                    if s.name == "predict_full"
                ),
                100,
            ),
        },
    )
