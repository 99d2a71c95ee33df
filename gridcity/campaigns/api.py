"""Campaign endpoints: detections from drones and cameras, and ledger rows. Thin: parse, call
the action, shape the answer."""

import base64
import binascii
import math
from datetime import date, datetime

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext
from ninja import Router, Schema
from ninja import Status as Answer
from pydantic import Field, field_validator

from gridcity.accounts.models import CENTRE_ROLES, Role
from gridcity.campaigns import actions
from gridcity.campaigns.models import FindingSource, LedgerRow
from gridcity.lib.errors import Forbidden, InvalidInput
from gridcity.taxonomy.actions import resolve_category

router = Router(tags=["专项整治与督查"])

# Detectors post as a device account (role 系统) or as centre staff.
DETECTOR_ROLES = CENTRE_ROLES | {Role.SYSTEM}


class DetectionIn(Schema):
    category: str = Field(..., description="类别：`matter:06042` 或 5 位代码")
    confidence: float = Field(..., ge=0, le=1, description="识别置信度 0–1")
    image: str = Field(..., description="base64 图片（JPEG/PNG/WebP），可带 data: 前缀")
    lon: float = Field(..., description="经度（WGS84）")
    lat: float = Field(..., description="纬度（WGS84）")
    source: FindingSource = Field(..., description="drone 或 camera")
    device_id: str = Field(..., min_length=1, max_length=64, description="设备编号")

    @field_validator("lon", "lat", "confidence")
    @classmethod
    def finite(cls, v):
        if not math.isfinite(v):
            raise ValueError("不能是 NaN 或无穷大")
        return v


class DetectionOut(Schema):
    outcome: str = Field(
        ..., description="case（已立案）/ review（待人工研判）/ ignored（置信度过低）"
    )
    finding_id: int | None = None
    case_number: str | None = None


@router.post(
    "/campaigns/detections",
    response={201: DetectionOut, 200: DetectionOut},
    summary="无人机/摄像头识别结果上报",
)
def post_detection(request, body: DetectionIn):
    """置信度 ≥ `GRIDCITY_DETECTION_CASE_CONFIDENCE`（默认 0.85）直接生成案件；
    ≥ `GRIDCITY_DETECTION_REVIEW_CONFIDENCE`（默认 0.5）记为待研判的发现；否则忽略。"""
    user = request.user
    if actions.effective_role(user) not in DETECTOR_ROLES:
        raise Forbidden(gettext("只有设备账号或中心人员可以上报识别结果"))
    if body.source not in (FindingSource.DRONE, FindingSource.CAMERA):
        raise InvalidInput(gettext("来源应为 drone 或 camera"), field="source")
    category = resolve_category(body.category)
    if category is None:
        raise InvalidInput(
            gettext("未知类别：%(category)s") % {"category": body.category}, field="category"
        )
    raw = body.image.split(",", 1)[1] if body.image.startswith("data:") else body.image
    try:
        image = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput(gettext("图片应为 base64 编码"), field="image") from exc
    result = actions.do_ingest_detection(
        acting_user=user,
        category=category,
        confidence=body.confidence,
        image=image,
        lon=body.lon,
        lat=body.lat,
        source=body.source,
        device_id=body.device_id,
    )
    out = DetectionOut(
        outcome=result.outcome,
        finding_id=result.finding.pk if result.finding else None,
        case_number=result.case.number if result.case else None,
    )
    return Answer(200 if result.outcome == "ignored" else 201, out)


class ReviewItemOut(Schema):
    id: int
    source: str
    device_id: str
    confidence: float | None
    category: str | None
    lon: float | None
    lat: float | None
    cell: str | None
    created_at: datetime


@router.get(
    "/campaigns/detections/review", response=list[ReviewItemOut], summary="待人工研判的识别结果"
)
def list_detections_for_review(request):
    if actions.effective_role(request.user) not in actions.DETECTION_REVIEWERS:
        raise Forbidden(gettext("只有监督指挥中心人员可以研判识别结果"))
    qs = actions.detections_for_review().select_related("category", "cell").order_by("created_at")
    return [
        {
            "id": f.pk,
            "source": f.source,
            "device_id": f.device_id,
            "confidence": f.confidence,
            "category": f"{f.category.kind}:{f.category.code}" if f.category_id else None,
            "lon": f.lon,
            "lat": f.lat,
            "cell": f.cell.code if f.cell_id else None,
            "created_at": f.created_at,
        }
        for f in qs[:200]
    ]


class AcceptIn(Schema):
    category: str | None = Field(None, description="更正后的类别；不填沿用识别类别")
    note: str = Field("", max_length=2000, description="研判意见")


class RejectIn(Schema):
    reason: str = Field(..., min_length=1, max_length=2000, description="驳回理由")


class ReviewOut(Schema):
    id: int
    outcome: str
    case_number: str | None = None
    review_note: str


@router.post(
    "/campaigns/detections/{finding_id}/accept", response=ReviewOut, summary="研判确认并立案"
)
def accept_detection(request, finding_id: int, body: AcceptIn):
    category = None
    if body.category:
        category = resolve_category(body.category)
        if category is None:
            raise InvalidInput(
                gettext("未知类别：%(category)s") % {"category": body.category}, field="category"
            )
    case = actions.do_accept_detection(
        finding_id, acting_user=request.user, category=category, note=body.note
    )
    return {
        "id": finding_id,
        "outcome": "case",
        "case_number": case.number,
        "review_note": body.note,
    }


@router.post("/campaigns/detections/{finding_id}/reject", response=ReviewOut, summary="研判驳回")
def reject_detection(request, finding_id: int, body: RejectIn):
    f = actions.do_reject_detection(finding_id, acting_user=request.user, reason=body.reason)
    return {"id": f.pk, "outcome": f.outcome, "review_note": f.review_note}


class LedgerRowOut(Schema):
    id: int
    number: str
    campaign_id: int | None
    source: str
    case_number: str | None
    description: str
    address: str
    lon: float | None
    lat: float | None
    cell: str | None
    department: str
    measures: str
    deadline: date
    status: str
    status_label: str
    sign_off_reason: str


def _row_out(row: LedgerRow) -> dict:
    return {
        "id": row.pk,
        "number": row.number,
        "campaign_id": row.campaign_id,
        "source": row.source,
        "case_number": row.case.number if row.case_id else None,
        "description": row.description,
        "address": row.address,
        "lon": row.lon,
        "lat": row.lat,
        "cell": row.cell.code if row.cell_id else None,
        "department": row.department.name,
        "measures": row.measures,
        "deadline": row.deadline,
        "status": row.status,
        "status_label": row.get_status_display(),
        "sign_off_reason": row.sign_off_reason,
    }


@router.get("/campaigns/ledger", response=list[LedgerRowOut], summary="整改台账")
def list_ledger(request, campaign: int | None = None, status: str | None = None):
    qs = actions.ledger_rows_visible_to(request.user).select_related("case", "cell", "department")
    if campaign:
        qs = qs.filter(campaign_id=campaign)
    if status:
        qs = qs.filter(status=status)
    return [_row_out(r) for r in qs[:500]]


class LedgerMoveIn(Schema):
    action: str = Field(..., description="start / submit / sign_off / reject / extend")
    note: str = Field("", max_length=2000)
    deadline: date | None = None
    photos: list[str] = Field(default_factory=list, description="base64 图片")


@router.post("/campaigns/ledger/{row_id}/transition", response=LedgerRowOut, summary="台账流转")
def move_ledger_row(request, row_id: int, body: LedgerMoveIn):
    photos = []
    for i, item in enumerate(body.photos):
        data = item.split(",", 1)[1] if item.startswith("data:") else item
        try:
            photos.append((f"photo{i + 1}", base64.b64decode(data, validate=True)))
        except (binascii.Error, ValueError) as exc:
            raise InvalidInput(gettext("照片应为 base64 编码的图片"), field=f"photos[{i}]") from exc
    row = actions.do_transition_ledger_row(
        row_id,
        body.action,
        acting_user=request.user,
        note=body.note,
        deadline=body.deadline,
        photos=photos,
    )
    row = get_object_or_404(
        LedgerRow.objects.select_related("case", "cell", "department"), pk=row.pk
    )
    return _row_out(row)
