"""Sensor endpoints: readings in (device token or staff token), devices and warnings out."""

import json
from datetime import timedelta

from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.utils.translation import gettext
from ninja import Router, Schema
from ninja.security import APIKeyHeader

from gridcity.api import AUTH
from gridcity.lib.errors import Forbidden, InvalidInput, NotFound
from gridcity.sensors.actions import (
    MAX_BATCH,
    device_for_token,
    do_ingest_readings,
    do_register_device,
)
from gridcity.sensors.models import Device, SensorWarning, WarningState
from gridcity.system.metrics import count_readings_ingested

router = Router(tags=["物联感知"])


class DeviceToken(APIKeyHeader):
    param_name = "X-Device-Token"

    def authenticate(self, request: HttpRequest, key: str | None):
        device = device_for_token(key or "")
        if device is not None:
            request.device = device
        return device


def _json(body: dict, status: int) -> JsonResponse:
    return JsonResponse(body, status=status, json_dumps_params={"ensure_ascii": False})


def _staff(request) -> bool:
    user = getattr(request, "user", None)
    return bool(user and user.is_authenticated and (user.is_centre_staff or user.is_staff))


def _require_staff(request) -> None:
    if not _staff(request):
        raise Forbidden(gettext("仅中心人员可操作物联感知设备"))


@router.post(
    "/sensors/readings",
    auth=[DeviceToken(), *AUTH],
    summary="上报一批读数",
    description=(
        '请求体：`[{"device": "BIN-001", "time": "2026-05-01T15:30:00+08:00", "metric": "fill", '
        '"value": 78}]` 或 `{"readings": [...]}`，一批最多 20000 条。认证：设备令牌 '
        "`X-Device-Token`（只能报本设备）或中心人员的 API 令牌。逐条校验：坏读数带原因列在 "
        "`rejected`，好读数照常入库；同一设备、时间、指标的重复读数只存一次。全部接收 200，"
        "部分拒收 207，全部拒收 422。"
    ),
)
def post_readings(request: HttpRequest):
    device = getattr(request, "device", None)
    if device is None:
        _require_staff(request)
    try:
        body = json.loads(request.body or b"")
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return _json({"error": "请求体不是有效的 JSON", "field": "body"}, 400)
    items = body.get("readings") if isinstance(body, dict) else body
    if isinstance(body, dict) and items is None and "device" in body:
        items = [body]
    if not isinstance(items, list):
        raise InvalidInput(gettext('请求体应为读数数组或 {"readings": [...]}'), field="readings")
    if len(items) > MAX_BATCH:
        return _json({"error": f"一批最多 {MAX_BATCH} 条读数", "field": "readings"}, 413)
    if device is not None:
        # A device token names the device: readings may leave it out.
        items = [
            {**it, "device": it.get("device") or device.code} if isinstance(it, dict) else it
            for it in items
        ]
    result = do_ingest_readings(items, acting_user=request.user, device=device)
    count_readings_ingested("http", result.stored)
    status = 200 if not result.rejected else (207 if result.stored or result.duplicates else 422)
    body = result.as_dict()
    if status == 422:
        body["error"] = (
            f"全部 {len(items)} 条读数被拒收：{result.rejected[0].reason}" if items else "读数为空"
        )
        body["field"] = "readings"
    return _json(body, status)


class DeviceIn(Schema):
    code: str
    kind: str
    name: str = ""
    lon: float | None = None
    lat: float | None = None
    place: str = ""
    interval_s: int = 600
    calibration_scale: float = 1.0
    calibration_offset: float = 0.0
    rules: dict = {}


class DeviceOut(Schema):
    code: str
    name: str
    kind: str
    kind_label: str
    state: str
    state_label: str
    lon: float | None
    lat: float | None
    cell: str | None
    last_seen_at: str | None
    open_warnings: list[str]


def _device_out(d: Device, open_labels: list[str]) -> dict:
    return {
        "code": d.code,
        "name": d.name,
        "kind": d.kind,
        "kind_label": d.get_kind_display(),
        "state": d.state,
        "state_label": d.get_state_display(),
        "lon": d.lon,
        "lat": d.lat,
        "cell": d.cell.code if d.cell_id else None,
        "last_seen_at": d.last_seen_at.isoformat() if d.last_seen_at else None,
        "open_warnings": open_labels,
    }


@router.post("/sensors/devices", summary="登记设备（返回一次性设备令牌）")
def register_device(request, payload: DeviceIn):
    _require_staff(request)
    try:
        device, raw = do_register_device(
            payload.code,
            payload.kind,
            acting_user=request.user,
            name=payload.name,
            lon=payload.lon,
            lat=payload.lat,
            place=payload.place,
            interval_s=payload.interval_s,
            calibration_scale=payload.calibration_scale,
            calibration_offset=payload.calibration_offset,
            rules=payload.rules,
        )
    except ValueError as exc:
        raise InvalidInput(str(exc), field="rules") from exc
    return _json({**_device_out(device, []), "token": raw}, 201)


@router.get("/sensors/devices", response=list[DeviceOut], summary="设备及状态（地图用）")
def list_devices(request, kind: str = "", state: str = ""):
    _require_staff(request)
    qs = Device.objects.select_related("cell").order_by("code")
    if kind:
        qs = qs.filter(kind=kind)
    if state:
        qs = qs.filter(state=state)
    devices = list(qs[:5000])
    labels: dict[int, list[str]] = {}
    for w in SensorWarning.objects.filter(
        device_id__in=[d.pk for d in devices], state=WarningState.OPEN
    ).only("device_id", "label"):
        labels.setdefault(w.device_id, []).append(w.label)
    return [_device_out(d, labels.get(d.pk, [])) for d in devices]


@router.get("/sensors/devices/{code}/readings", summary="设备近期读数")
def device_readings(request, code: str, hours: float = 24, metric: str = ""):
    _require_staff(request)
    device = Device.objects.filter(code=code).first()
    if device is None:
        raise NotFound(gettext("设备 %(code)s 不存在") % {"code": code}, field="code")
    hours = min(max(hours, 0.1), 24 * 31)
    end = device.last_seen_at or timezone.now()
    qs = device.reading_set.filter(time__gte=end - timedelta(hours=hours)).order_by("time")
    if metric:
        qs = qs.filter(metric=metric)
    return [
        {"metric": m, "time": t.isoformat(), "value": v}
        for m, t, v in qs.values_list("metric", "time", "value")[:10000]
    ]


@router.get("/sensors/warnings", summary="预警列表")
def list_warnings(request, state: str = "open", limit: int = 200):
    _require_staff(request)
    qs = SensorWarning.objects.select_related("device", "case").order_by("-opened_at")
    if state:
        qs = qs.filter(state=state)
    return [
        {
            "id": w.pk,
            "device": w.device.code,
            "rule": w.rule,
            "label": w.label,
            "state": w.state,
            "reason": w.reason,
            "opened_at": w.opened_at.isoformat(),
            "cleared_at": w.cleared_at.isoformat() if w.cleared_at else None,
            "predicted_at": w.predicted_at.isoformat() if w.predicted_at else None,
            "case": w.case.number if w.case_id else None,
        }
        for w in qs[: min(max(limit, 1), 1000)]
    ]
