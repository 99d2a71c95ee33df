"""Case endpoints. Thin: parse, call the action, shape the answer."""

import binascii
import math
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db.models import Q
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext
from ninja import File, Form, Query, Router, Schema
from ninja import Status as Answer
from ninja.files import UploadedFile
from pydantic import Field, field_validator

from gridcity.accounts.models import Department, User
from gridcity.cases import actions
from gridcity.cases.models import (
    OPEN,
    AttachmentKind,
    Case,
    Channel,
    Report,
    Status,
    SupervisionOrder,
)
from gridcity.cases.photos import max_bytes, max_count
from gridcity.cases.presenters import case_created, case_detail, case_summary, order_out
from gridcity.cases.scope import visible_to
from gridcity.dispatch.actions import cached_category
from gridcity.grids.api import parse_bbox
from gridcity.grids.models import Area
from gridcity.lib.bounds import MAX_PAGE, check_date
from gridcity.lib.coords import CRS
from gridcity.lib.errors import Forbidden, InvalidInput, NotFound
from gridcity.taxonomy.actions import resolve_category
from gridcity.taxonomy.models import FilingCondition

router = Router(tags=["案件"])


def _decode_photos(items: list[str]) -> list[tuple[str, bytes]]:
    """The count and each photo's size are checked on the base64 text, before anything is
    decoded; a2b_base64 reads the text in place (b64decode would copy it first)."""
    if len(items) > max_count():
        raise InvalidInput(
            gettext("一次最多上传 %(max_count)s 张照片（收到 %(count)s 张）")
            % {"max_count": max_count(), "count": len(items)},
            field="photos",
        )
    out = []
    for i, item in enumerate(items):
        data = item[item.index(",") + 1 :] if item.startswith("data:") and "," in item else item
        size = len(data) * 3 // 4
        if size > max_bytes() + 2:
            raise InvalidInput(
                gettext("照片“photo%(value)s”大小约 %(value2)s MB，超过上限 %(value3)s MB")
                % {
                    "value": i + 1,
                    "value2": format(size / 1024 / 1024, ".1f"),
                    "value3": format(max_bytes() / 1024 / 1024, ".0f"),
                },
                field=f"photos[{i}]",
            )
        try:
            out.append((f"photo{i + 1}", binascii.a2b_base64(data, strict_mode=True)))
        except (binascii.Error, ValueError) as exc:
            raise InvalidInput(gettext("照片应为 base64 编码的图片"), field=f"photos[{i}]") from exc
    return out


class CaseIn(Schema):
    category: str = Field(..., description="类别：`matter:06042`、`component:01002` 或 5 位代码")
    lon: float | None = Field(None, description="经度")
    lat: float | None = Field(None, description="纬度")
    crs: CRS = Field(CRS.WGS84, description="坐标系 wgs84 / gcj02 / bd09")
    address: str = Field("", max_length=300)
    description: str = Field("", max_length=4000)
    channel: Channel | None = Field(
        None,
        description=(
            "来源，由上报人决定：网格员 inspector、领导 leader；受理员可选 hotline（默认）"
            "或 citizen。与角色不符时 403"
        ),
    )
    filing_condition: int | None = None
    component: str = Field("", max_length=17)
    reporter_name: str = Field("", max_length=50)
    reporter_phone: str = Field("", max_length=32)
    photos: list[str] = Field(default_factory=list, description="base64 图片（JPEG/PNG/WebP）")
    idempotency_key: str | None = Field(None, max_length=100, description="客户端生成的幂等键")
    reported_at: datetime | None = Field(
        None,
        description=(
            "原始上报时间（ISO 8601，须带时区）：时限和重复判断从此刻起算。"
            "仅限获准的对接系统（用户设置“可设定原始上报时间”），其他账号给出时 403"
        ),
    )
    external_id: str | None = Field(
        None,
        max_length=100,
        description=(
            "对接系统自己的记录编号：同一系统重复发送同一编号时返回原案件（200），"
            "不再新建。仅限获准的对接系统"
        ),
    )

    @field_validator("lon", "lat")
    @classmethod
    def finite(cls, v):
        if v is not None and not math.isfinite(v):
            raise ValueError(gettext("不能是 NaN 或无穷大"))
        return v


# What only an integration allowed to replay another system's reports may send.
INTEGRATION_FIELDS = ("reported_at", "external_id")


@router.post("/cases", response={200: dict, 201: dict}, summary="上报案件（幂等）")
def create_case(request, payload: CaseIn):
    for name in INTEGRATION_FIELDS:
        if getattr(payload, name) is not None and not request.user.may_set_report_times:
            raise Forbidden(
                gettext("只有获准的对接系统可以提供 %(name)s（用户设置“可设定原始上报时间”）")
                % {"name": name},
                field=name,
            )
    category = cached_category(payload.category)
    if category is None:
        raise InvalidInput(
            gettext("类别 %(category)s 不存在") % {"category": payload.category}, field="category"
        )
    condition = None
    if payload.filing_condition is not None:
        condition = FilingCondition.objects.filter(pk=payload.filing_condition).first()
        if condition is None:
            raise InvalidInput(gettext("立案条件不存在"), field="filing_condition")
    key = request.headers.get("Idempotency-Key") or payload.idempotency_key
    inp = actions.ReportInput(
        category=category,
        channel=actions.report_channel(request.user, payload.channel),
        lon=payload.lon,
        lat=payload.lat,
        crs=payload.crs,
        address=payload.address,
        description=payload.description,
        reporter_name=payload.reporter_name,
        reporter_phone=payload.reporter_phone,
        filing_condition=condition,
        component_code=payload.component,
        photos=_decode_photos(payload.photos),
        reported_at=payload.reported_at,
        external_id=payload.external_id or "",
    )
    result = actions.do_report_case(
        inp,
        acting_user=request.user,
        idempotency_key=key,
        external_id_is_key=bool(payload.external_id),
    )
    body = case_created(result.case)
    body["linked_to_existing"] = result.linked_to_existing
    return Answer(201 if result.created else 200, body)


class CaseFilter(Schema):
    status: list[Status] = Field(default_factory=list)
    open: bool | None = None
    category: str | None = None
    area: str | None = Field(None, description="区域编码（含其子树）")
    department: str | None = Field(None, description="部门编码")
    overdue: bool | None = None
    channel: Channel | None = None
    reported_from: date | None = Field(None, description="上报日期起（含），2000–2100 年")
    reported_to: date | None = Field(None, description="上报日期止（含），2000–2100 年")
    bbox: str | None = None
    q: str | None = Field(None, max_length=100, description="编号、地址或描述")
    page: int = Field(1, ge=1, le=MAX_PAGE)
    page_size: int = Field(50, ge=1, le=500)

    @field_validator("reported_from", "reported_to")
    @classmethod
    def within_range(cls, v):
        return None if v is None else check_date(v)


def filter_cases(qs, f: CaseFilter):
    if f.status:
        qs = qs.filter(status__in=f.status)
    if f.open is True:
        qs = qs.filter(status__in=OPEN)
    elif f.open is False:
        qs = qs.exclude(status__in=OPEN)
    if f.category:
        cat = resolve_category(f.category)
        if cat is None:
            raise InvalidInput(
                gettext("类别 %(category)s 不存在") % {"category": f.category}, field="category"
            )
        qs = qs.filter(category=cat)
    if f.area:
        area = Area.objects.filter(code=f.area).only("path").first()
        if area is None:
            raise InvalidInput(gettext("区域 %(area)s 不存在") % {"area": f.area}, field="area")
        qs = qs.filter(area_path__startswith=area.path)
    if f.department:
        dept = Department.objects.filter(code=f.department).first()
        if dept is None:
            raise InvalidInput(
                gettext("部门 %(department)s 不存在") % {"department": f.department},
                field="department",
            )
        qs = qs.filter(department=dept)
    if f.overdue is True:
        qs = qs.filter(status__in=OPEN, step_deadline__lt=timezone.now())
    elif f.overdue is False:
        qs = qs.exclude(status__in=OPEN, step_deadline__lt=timezone.now())
    if f.channel:
        qs = qs.filter(channel=f.channel)
    tz = timezone.get_current_timezone()
    if f.reported_from:
        qs = qs.filter(reported_at__gte=datetime.combine(f.reported_from, time.min, tz))
    if f.reported_to:
        qs = qs.filter(
            reported_at__lt=datetime.combine(f.reported_to + timedelta(days=1), time.min, tz)
        )
    if f.bbox:
        a, b, c, d = parse_bbox(f.bbox)
        qs = qs.filter(lon__gte=a, lon__lte=c, lat__gte=b, lat__lte=d)
    if f.q:
        qs = qs.filter(
            Q(number__startswith=f.q) | Q(address__icontains=f.q) | Q(description__icontains=f.q)
        )
    return qs


@router.get("/cases", summary="案件列表（分页、筛选）")
def list_cases(request, filters: Query[CaseFilter]):
    qs = filter_cases(visible_to(request.user), filters).select_related("category", "department")
    total = qs.count()
    start = (filters.page - 1) * filters.page_size
    rows = qs.order_by("-reported_at", "-pk")[start : start + filters.page_size]
    return {
        "count": total,
        "page": filters.page,
        "page_size": filters.page_size,
        "results": [case_summary(c) for c in rows],
    }


def _get_case(request, number: str) -> Case:
    case = visible_to(request.user).filter(number=number).first()
    if case is None:
        raise NotFound(gettext("案件不存在或无权查看"), field="number")
    return case


@router.get("/cases/{number}", summary="案件详情（含流转记录与派遣依据）")
def get_case(request, number: str):
    return case_detail(_get_case(request, number), request.user)


class TransitionIn(Schema):
    action: str = Field(..., description="动作，见详情中的 actions")
    note: str = Field("", max_length=2000)
    department: str | None = Field(None, description="派遣部门编码")
    filing_condition: int | None = None
    assignee: str | None = Field(None, description="网格员用户名")
    merge_into: str | None = Field(None, description="合并到的案件编号")
    extension: str = Field("", max_length=20, description="延期时长，如 2工作日（至多一年）")
    verified: bool | None = None
    lon: float | None = None
    lat: float | None = None
    crs: CRS = CRS.WGS84
    photos: list[str] = Field(default_factory=list)
    satisfaction: int | None = Field(None, ge=1, le=5, description="回访满意度 1–5")
    version: int | None = Field(None, description="乐观锁：案件版本号，不一致时返回 409")


@router.post("/cases/{number}/transitions", summary="执行流转动作")
def transition(request, number: str, payload: TransitionIn):
    case = _get_case(request, number)
    if payload.version is not None and payload.version != case.version:
        from gridcity.lib.errors import Conflict

        raise Conflict(
            gettext("案件已被他人更新，请刷新后重试"), field="version", version=case.version
        )
    data = actions.TransitionInput(
        note=payload.note,
        extension=payload.extension,
        verified=payload.verified,
        lon=payload.lon,
        lat=payload.lat,
        crs=payload.crs,
        photos=_decode_photos(payload.photos),
        satisfaction=payload.satisfaction,
    )
    if payload.department:
        data.department = Department.objects.filter(code=payload.department, is_active=True).first()
        if data.department is None:
            raise InvalidInput(
                gettext("部门 %(department)s 不存在") % {"department": payload.department},
                field="department",
            )
    if payload.filing_condition is not None:
        data.filing_condition = FilingCondition.objects.filter(pk=payload.filing_condition).first()
        if data.filing_condition is None:
            raise InvalidInput(gettext("立案条件不存在"), field="filing_condition")
    if payload.assignee:
        data.assignee = User.objects.filter(username=payload.assignee, is_active=True).first()
        if data.assignee is None:
            raise InvalidInput(
                gettext("用户 %(assignee)s 不存在") % {"assignee": payload.assignee},
                field="assignee",
            )
    if payload.merge_into:
        data.merge_into = visible_to(request.user).filter(number=payload.merge_into).first()
        if data.merge_into is None:
            raise InvalidInput(
                gettext("案件 %(merge_into)s 不存在") % {"merge_into": payload.merge_into},
                field="merge_into",
            )
    case = actions.do_transition_case(case, payload.action, acting_user=request.user, data=data)
    return case_detail(case, request.user)


@router.post("/cases/{number}/attachments", response={201: dict}, summary="上传照片")
def upload_attachment(
    request,
    number: str,
    file: File[UploadedFile],
    kind: Form[AttachmentKind] = AttachmentKind.OTHER,
):
    case = _get_case(request, number)
    limit = settings.GRIDCITY_PHOTO_MAX_BYTES
    if file.size and file.size > limit:
        raise InvalidInput(
            gettext("文件大小 %(value)s MB，超过上限 %(value2)s MB")
            % {"value": format(file.size / 1e6, ".1f"), "value2": format(limit / 1e6, ".0f")},
            field="file",
        )
    att = actions.do_attach_photo(
        case, (file.name or "photo", file.read()), kind=kind, acting_user=request.user
    )
    return Answer(
        201,
        {
            "id": att.pk,
            "kind": att.kind,
            "url": att.file.url,
            "thumbnail": att.thumbnail.url,
        },
    )


@router.post("/reports/{report_id}/unlink", summary="取消重复关联，另立新案")
def unlink_report(request, report_id: int):
    if not Report.objects.filter(pk=report_id).exists():
        raise NotFound(gettext("上报记录不存在"), field="report_id")
    case = actions.do_unlink_report(report_id, acting_user=request.user)
    return case_detail(case, request.user)


class SupervisionIn(Schema):
    kind: str = Field("leader", description="leader 领导督办 / key_case 重点案件督办")
    note: str = Field(..., max_length=2000)


@router.post("/cases/{number}/supervision", response={201: dict}, summary="发起督办")
def supervise(request, number: str, payload: SupervisionIn):
    case = _get_case(request, number)
    order = actions.do_create_supervision(
        case, acting_user=request.user, kind=payload.kind, note=payload.note
    )
    return Answer(201, order_out(order))


@router.get("/supervision-orders", summary="督办单列表")
def list_orders(
    request,
    answered: bool | None = None,
    settled: bool | None = None,
    mine: bool = False,
    page: int = 1,
    page_size: int = 50,
):
    """`settled=false` lists the standing orders; `mine=true` those the caller must answer."""
    qs = (
        actions.orders_awaiting(request.user)
        if mine
        else SupervisionOrder.objects.filter(case__in=visible_to(request.user))
    ).select_related("case", "department", "addressee")
    if answered is True:
        qs = qs.filter(replied_at__isnull=False)
    elif answered is False:
        qs = qs.filter(replied_at__isnull=True)
    if settled is not None:
        qs = qs.filter(settled_at__isnull=not settled)
    if not 1 <= page <= MAX_PAGE:
        raise InvalidInput(
            gettext("页码应在 1 至 %(MAX_PAGE)s 之间") % {"MAX_PAGE": MAX_PAGE}, field="page"
        )
    page_size = min(max(page_size, 1), 500)
    total = qs.count()
    rows = qs[(page - 1) * page_size : page * page_size]
    return {
        "count": total,
        "page": page,
        "page_size": page_size,
        "results": [order_out(o) for o in rows],
    }


class ReplyIn(Schema):
    reply: str = Field(..., max_length=2000)


@router.post("/supervision-orders/{number}/reply", summary="答复督办单")
def reply_order(request, number: str, payload: ReplyIn):
    order = get_object_or_404(SupervisionOrder, number=number)
    return order_out(
        actions.do_reply_supervision(order, acting_user=request.user, reply=payload.reply)
    )
