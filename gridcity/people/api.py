"""Patrol endpoints for the grid manager's phone: start (idempotent by the phone's key), send
fixes in batches (idempotent by sequence number), end; and her check-ins (打卡), idempotent
by the phone's key."""

from datetime import date, datetime
from typing import Annotated

from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Query, Router, Schema, Status
from pydantic import AfterValidator

from gridcity.lib.bounds import check_date
from gridcity.people.actions import (
    MAX_POINTS_PER_BATCH,
    PointIn,
    checkins_of_day,
    do_check_in,
    do_end_patrol,
    do_record_points,
    do_start_patrol,
)
from gridcity.people.models import CheckIn, Patrol

router = Router(tags=["队伍与包联"])


# A phone's clock can be anything; year 1 or 9999 would overflow once moved to local time.
Moment = Annotated[datetime, AfterValidator(check_date)]


class StartIn(Schema):
    key: str = Field(..., min_length=1, max_length=64, description="手机生成的巡查标识（UUID）")
    started_at: Moment | None = None


class PointSchema(Schema):
    seq: int = Field(..., ge=0, description="本次巡查内的序号，从 0 起，重发时不变")
    t: Moment
    lon: float
    lat: float
    accuracy: float | None = None


class PointsIn(Schema):
    points: list[PointSchema] = Field(..., max_length=MAX_POINTS_PER_BATCH)


class EndIn(Schema):
    ended_at: Moment | None = None


def patrol_json(p: Patrol) -> dict:
    return {
        "key": p.key,
        "status": p.status,
        "beat": p.beat.code if p.beat_id else None,
        "started_at": p.started_at.isoformat(),
        "ended_at": p.ended_at.isoformat() if p.ended_at else None,
        "distance_m": p.distance_m,
        "duty_seconds": p.duty_seconds,
        "beat_cells": p.beat_cells,
        "cells_visited": p.cells_visited,
        "coverage": round(p.coverage, 4),
        "points_total": p.points_total,
        "points_flagged": p.points_flagged,
    }


@router.post(
    "/patrols",
    response={200: dict, 201: dict},
    summary="开始巡查",
    description="同一 `key` 重发返回同一条巡查（200），首次创建 201。",
)
def start_patrol(request: HttpRequest, data: StartIn):
    patrol, created = do_start_patrol(
        key=data.key, started_at=data.started_at, acting_user=request.user
    )
    return Status(201 if created else 200, {**patrol_json(patrol), "created": created})


@router.post(
    "/patrols/{key}/points",
    summary="上传一批轨迹点",
    description=(
        "每点带序号 `seq`；已收到的序号忽略（计入 duplicates）。速度超过 40 m/s 或时间倒序的点"
        "标记为异常，不计入里程和覆盖率，巡查照常保存。"
    ),
)
def post_points(request: HttpRequest, key: str, data: PointsIn):
    points = [PointIn(p.seq, p.t, p.lon, p.lat, p.accuracy) for p in data.points]
    result = do_record_points(key, points, acting_user=request.user)
    return {
        **patrol_json(result.patrol),
        "accepted": result.accepted,
        "duplicates": result.duplicates,
    }


@router.post("/patrols/{key}/end", summary="结束巡查", description="重复结束返回同一结果。")
def end_patrol(request: HttpRequest, key: str, data: EndIn):
    patrol, _ = do_end_patrol(key, ended_at=data.ended_at, acting_user=request.user)
    return patrol_json(patrol)


# ---------------------------------------------------------------------------------------------
# Check-ins


class CheckInBody(Schema):
    client_key: str | None = Field(
        None, max_length=64, description="手机生成的打卡标识（UUID），重发时不变"
    )
    kind: str = Field(..., description="in 上班打卡，out 下班打卡")
    lon: float = Field(..., description="经度（WGS84）")
    lat: float = Field(..., description="纬度（WGS84）")
    at: Moment = Field(..., description="手机上的打卡时间（ISO 8601，带时区）")


Day = Annotated[date, AfterValidator(check_date)]


class CheckInDay(Schema):
    date: Day | None = Field(None, description="日期（YYYY-MM-DD），默认今天")


def checkin_json(c: CheckIn) -> dict:
    return {
        "client_key": c.client_key,
        "kind": c.kind,
        "kind_label": c.get_kind_display(),
        "lon": c.lon,
        "lat": c.lat,
        "at": timezone.localtime(c.at).isoformat(),
        "received_at": timezone.localtime(c.received_at).isoformat(),
    }


@router.post(
    "/checkins",
    response={200: dict, 201: dict},
    summary="上班/下班打卡",
    description=(
        "网格员打卡，带位置和手机上的打卡时间（离线时可稍后补发，7 天内有效）。"
        "同一 `client_key` 重发返回同一条打卡（200），首次创建 201。"
        "`client_key` 也可放在请求头 `Idempotency-Key`。"
    ),
)
def check_in(request: HttpRequest, data: CheckInBody):
    checkin, created = do_check_in(
        client_key=data.client_key or request.headers.get("Idempotency-Key", ""),
        kind=data.kind,
        lon=data.lon,
        lat=data.lat,
        at=data.at,
        acting_user=request.user,
    )
    return Status(201 if created else 200, {**checkin_json(checkin), "created": created})


@router.get("/checkins", summary="本人某日的打卡", description="按打卡时间排序。")
def list_checkins(request: HttpRequest, filters: Query[CheckInDay]):
    day = filters.date or timezone.localdate()
    return {
        "date": day.isoformat(),
        "checkins": [checkin_json(c) for c in checkins_of_day(request.user, day)],
    }
