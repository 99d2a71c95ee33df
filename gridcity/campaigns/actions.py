"""Every write to campaigns, ledger rows and inspections goes through these actions: one
transaction, the row locked, one event row per change, side effects after commit."""

import random
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext

from gridcity.accounts import audit
from gridcity.accounts.actions import get_system_user
from gridcity.accounts.models import Department, Role, User
from gridcity.campaigns.ledger_workflow import (
    BY_ACTION,
    CASE_AT_UNIT,
    CENTRE,
    FOLLOW_RANK,
    UNIT,
    LedgerTransition,
    closed_case_target,
    row_status_for_case,
)
from gridcity.campaigns.models import (
    LEDGER_CHASED,
    LEDGER_DONE,
    LEDGER_OPEN,
    Campaign,
    CampaignCase,
    ChecklistItem,
    ClosedCasePolicy,
    EvidenceKind,
    EvidencePhoto,
    Finding,
    FindingOutcome,
    FindingSource,
    Frequency,
    Inspection,
    InspectionPlan,
    InspectionStatus,
    LedgerEvent,
    LedgerRow,
    LedgerSource,
    LedgerStatus,
    LedgerSupervision,
    PlanMethod,
    PlanOpenness,
    PlanScope,
    ReboundWarning,
    RectificationNotice,
)
from gridcity.cases.models import OPEN, TERMINAL, AttachmentKind, Case, Channel, SupervisionKind
from gridcity.cases.models import Status as CaseStatus
from gridcity.cases.photos import CheckedPhoto, check_photos
from gridcity.grids.actions import locate
from gridcity.grids.models import Area, AreaLevel
from gridcity.lib.bounds import check_date
from gridcity.lib.coords import validate_lonlat
from gridcity.lib.errors import Conflict, Forbidden, IllegalTransition, InvalidInput, NotFound
from gridcity.taxonomy.models import Category

Photos = Sequence[tuple[str, bytes]]


def effective_role(user: User) -> str:
    if user.is_superuser and user.role != Role.SYSTEM:
        return Role.ADMIN
    return user.role


def _local_date(dt: datetime) -> date:
    return timezone.localtime(dt).date()


def _day_start(d: date) -> datetime:
    return timezone.make_aware(datetime.combine(d, time.min))


def _save_photos(
    checked: list[CheckedPhoto],
    kind: str,
    user: User | None,
    now: datetime,
    *,
    row: LedgerRow | None = None,
    finding: Finding | None = None,
) -> list[EvidencePhoto]:
    saved = []
    for p in checked:
        photo = EvidencePhoto(
            row=row,
            finding=finding,
            kind=kind,
            content_type=p.content_type,
            width=p.width,
            height=p.height,
            sha256=p.sha256,
            exif_gps=p.exif_gps,
            uploaded_by=user if user and user.pk else None,
            uploaded_at=now,
        )
        photo.file.save(f"{uuid.uuid4().hex}.{p.extension}", ContentFile(p.data), save=False)
        photo.save()
        saved.append(photo)
    return saved


def _place(lon: float | None, lat: float | None) -> tuple[int | None, str]:
    if lon is None or lat is None:
        return None, ""
    try:
        validate_lonlat(lon, lat)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="lon") from exc
    loc = locate(lon, lat)
    return loc.cell_id, loc.path


# ---------------------------------------------------------------------------------------------
# Campaigns and tagging


def _require_centre(user: User, what: str) -> None:
    if effective_role(user) not in CENTRE:
        raise Forbidden(gettext("只有指挥中心、值班长或领导可以%(what)s") % {"what": what})


def _clean_campaign(
    *,
    name: str,
    starts_on: date | None,
    ends_on: date | None,
    categories: Iterable[Category],
    areas: Iterable[Area],
    closed_cases: str,
    default_days: int,
    rebound_days: int,
) -> tuple[str, list[Category], list[Area]]:
    categories, areas = list(categories), list(areas)
    if not name.strip():
        raise InvalidInput(gettext("请填写整治主题"), field="name")
    if starts_on is None:
        raise InvalidInput(gettext("请填写开始日期"), field="starts_on")
    if ends_on is None:
        raise InvalidInput(gettext("请填写结束日期"), field="ends_on")
    for field_name, day in (("starts_on", starts_on), ("ends_on", ends_on)):
        try:
            check_date(day)
        except ValueError as exc:
            raise InvalidInput(str(exc), field=field_name) from exc
    if ends_on < starts_on:
        raise InvalidInput(gettext("结束日期不能早于开始日期"), field="ends_on")
    if not categories:
        raise InvalidInput(gettext("请至少选择一个整治类别"), field="categories")
    if not areas:
        raise InvalidInput(gettext("请至少选择一个整治区域"), field="areas")
    if closed_cases not in ClosedCasePolicy.values:
        raise InvalidInput(gettext("请选择已结案案件的处理方式"), field="closed_cases")
    if not 1 <= default_days <= 365:
        raise InvalidInput(gettext("默认整改天数应在 1 到 365 之间"), field="default_days")
    if not 0 <= rebound_days <= 365:
        raise InvalidInput(gettext("反弹观察期应在 0 到 365 天之间"), field="rebound_days")
    return name.strip()[:100], categories, areas


def _campaign_snapshot(campaign: Campaign) -> dict[str, str]:
    """The campaign's settings as the audit row shows them (names, not ids)."""
    return {
        "name": campaign.name,
        "starts_on": campaign.starts_on.isoformat(),
        "ends_on": campaign.ends_on.isoformat(),
        "categories": "、".join(str(c) for c in campaign.categories.order_by("code")),
        "areas": "、".join(a.name for a in campaign.areas.order_by("code")),
        "lead_department": campaign.lead_department.name if campaign.lead_department else "",
        "member_departments": "、".join(
            d.name for d in campaign.member_departments.order_by("code")
        ),
        "goals": campaign.goals,
        "ledger_from_cases": "是" if campaign.ledger_from_cases else "否",
        "closed_cases": campaign.get_closed_cases_display(),
        "default_days": str(campaign.default_days),
        "rebound_days": str(campaign.rebound_days),
    }


def do_create_campaign(
    *,
    acting_user: User,
    name: str,
    starts_on: date,
    ends_on: date,
    categories: Iterable[Category],
    areas: Iterable[Area],
    lead_department: Department | None = None,
    member_departments: Iterable[Department] = (),
    goals: str = "",
    ledger_from_cases: bool = True,
    closed_cases: str = ClosedCasePolicy.AWAIT,
    default_days: int = 7,
    rebound_days: int = 30,
    tag_existing: bool = True,
    now: datetime | None = None,
) -> Campaign:
    """Create a campaign and tag the cases it already covers. With tag_existing=False only
    cases reported or placed from now on are tagged (by the case hooks): for a campaign set up
    ahead of its start, or a history replayed in order (the demo)."""
    _require_centre(acting_user, gettext("发起专项整治"))
    name, categories, areas = _clean_campaign(
        name=name,
        starts_on=starts_on,
        ends_on=ends_on,
        categories=categories,
        areas=areas,
        closed_cases=closed_cases,
        default_days=default_days,
        rebound_days=rebound_days,
    )
    now = now or timezone.now()
    with transaction.atomic():
        campaign = Campaign.objects.create(
            name=name,
            starts_on=starts_on,
            ends_on=ends_on,
            lead_department=lead_department,
            goals=goals.strip(),
            ledger_from_cases=ledger_from_cases,
            closed_cases=closed_cases,
            default_days=default_days,
            rebound_days=rebound_days,
            created_by=acting_user,
            created_at=now,
        )
        campaign.categories.set(categories)
        campaign.areas.set(areas)
        campaign.member_departments.set(list(member_departments))
        tagged = tag_campaign(campaign, now=now) if tag_existing else 0
        audit.record(
            campaign,
            "create",
            actor=acting_user,
            summary=f"发起专项整治“{campaign.name}”，纳入 {tagged} 件案件",
            data={**_campaign_snapshot(campaign), "tagged": tagged},
            at=now,
        )
    return campaign


def _locked_campaign(campaign: Campaign | int) -> Campaign:
    pk = campaign.pk if isinstance(campaign, Campaign) else campaign
    locked = Campaign.objects.select_for_update().filter(pk=pk).first()
    if locked is None:
        raise NotFound(gettext("专项整治不存在"))
    return locked


def do_update_campaign(
    campaign: Campaign | int,
    *,
    acting_user: User,
    name: str,
    starts_on: date,
    ends_on: date,
    categories: Iterable[Category],
    areas: Iterable[Area],
    lead_department: Department | None = None,
    member_departments: Iterable[Department] = (),
    goals: str = "",
    ledger_from_cases: bool = True,
    closed_cases: str = ClosedCasePolicy.AWAIT,
    default_days: int = 7,
    rebound_days: int = 30,
    now: datetime | None = None,
) -> tuple[Campaign, dict[str, list[str]]]:
    """Change a campaign's settings; returns it and what changed ({field: [before, after]}).
    A wider scope tags the cases it now covers; cases tagged before stay in the campaign and
    their rows stay in the ledger, since the work on them has been done or is under way."""
    _require_centre(acting_user, gettext("修改专项整治"))
    name, categories, areas = _clean_campaign(
        name=name,
        starts_on=starts_on,
        ends_on=ends_on,
        categories=categories,
        areas=areas,
        closed_cases=closed_cases,
        default_days=default_days,
        rebound_days=rebound_days,
    )
    now = now or timezone.now()
    with transaction.atomic():
        locked = _locked_campaign(campaign)
        if locked.archived_at is not None:
            raise Conflict(gettext("已归档的专项整治不能修改"))
        before = _campaign_snapshot(locked)
        locked.name, locked.starts_on, locked.ends_on = name, starts_on, ends_on
        locked.lead_department, locked.goals = lead_department, goals.strip()
        locked.ledger_from_cases, locked.closed_cases = ledger_from_cases, closed_cases
        locked.default_days, locked.rebound_days = default_days, rebound_days
        locked.save()
        locked.categories.set(categories)
        locked.areas.set(areas)
        locked.member_departments.set(list(member_departments))
        after = _campaign_snapshot(locked)
        changes = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
        if not changes:
            return locked, {}
        tagged = tag_campaign(locked, now=now)
        labels = "、".join(str(Campaign._meta.get_field(k).verbose_name) for k in changes)
        audit.record(
            locked,
            "update",
            actor=acting_user,
            summary=f"修改{labels}" + (f"，新纳入 {tagged} 件案件" if tagged else ""),
            data={"changes": changes, "tagged": tagged},
            at=now,
        )
    return locked, changes


def do_end_campaign(
    campaign: Campaign | int,
    *,
    acting_user: User,
    note: str,
    now: datetime | None = None,
) -> Campaign:
    """End a running campaign today (提前结束): tagging stops tomorrow and the rebound watch
    starts. Its open rows stay in the ledger until they are signed off."""
    _require_centre(acting_user, gettext("结束专项整治"))
    if not note.strip():
        raise InvalidInput(gettext("请填写提前结束的原因"), field="note")
    now = now or timezone.now()
    today = _local_date(now)
    with transaction.atomic():
        locked = _locked_campaign(campaign)
        if locked.archived_at is not None:
            raise Conflict(gettext("已归档的专项整治不能结束"))
        if locked.starts_on > today:
            raise Conflict(gettext("整治尚未开始，请修改开始和结束日期"))
        if locked.ends_on <= today:
            raise Conflict(gettext("整治已经结束"))
        old_end = locked.ends_on
        locked.ends_on = today
        locked.save(update_fields=["ends_on"])
        audit.record(
            locked,
            "end",
            actor=acting_user,
            summary=f"提前结束（原定 {old_end:%Y-%m-%d}）：{note.strip()}"[:200],
            data={"from": old_end.isoformat(), "to": today.isoformat(), "note": note.strip()},
            at=now,
        )
    return locked


def do_archive_campaign(
    campaign: Campaign | int, *, acting_user: User, now: datetime | None = None
) -> Campaign:
    """Take an ended campaign off the list of current work; nothing of it is deleted."""
    _require_centre(acting_user, gettext("归档专项整治"))
    now = now or timezone.now()
    with transaction.atomic():
        locked = _locked_campaign(campaign)
        if locked.archived_at is not None:
            raise Conflict(gettext("该专项整治已归档"))
        if locked.ends_on >= _local_date(now):
            raise Conflict(gettext("整治尚未结束，不能归档"))
        open_rows = locked.ledger_rows.filter(status__in=LEDGER_OPEN).count()
        locked.archived_at = now
        locked.save(update_fields=["archived_at"])
        audit.record(
            locked,
            "archive",
            actor=acting_user,
            summary="归档" + (f"（仍有 {open_rows} 条台账未销号）" if open_rows else ""),
            data={"open_rows": open_rows},
            at=now,
        )
    return locked


def _area_paths(campaign: Campaign) -> list[str]:
    return list(campaign.areas.values_list("path", flat=True))


def _covers(campaign: Campaign, case: Case) -> bool:
    if not case.area_path or not campaign.categories.filter(pk=case.category_id).exists():
        return False
    if not any(case.area_path.startswith(p) for p in _area_paths(campaign)):
        return False
    return campaign.starts_on <= _local_date(case.reported_at) <= campaign.ends_on


def _row_from_case(campaign: Campaign, case: Case, now: datetime) -> LedgerRow | None:
    """The case's row, made straight in the state the case has reached: a case already closed
    enters as rectified and awaiting sign-off (or signed off, or not at all, as the campaign
    chose), one the unit has signed for as 整改中."""
    status = row_status_for_case(case.status, campaign.closed_cases)
    if status is None:
        return None
    dept_id = case.department_id or case.suggested_department_id or campaign.lead_department_id
    if dept_id is None:
        return None  # no unit to hold responsible yet; the row is made when one is known
    if case.handle_deadline:
        deadline = _local_date(case.handle_deadline)
    else:
        deadline = _local_date(case.reported_at) + timedelta(days=campaign.default_days)
    system = get_system_user()
    note = f"由案件 {case.number} 自动生成"
    signed = {}
    if status == LedgerStatus.AWAITING:
        note += "；案件已处置、核查并结案，待验收销号"
    elif status == LedgerStatus.SIGNED_OFF:
        reason = f"案件 {case.number} 已处置、核查并结案，按整治设置直接销号"
        signed = {"signed_off_at": now, "signed_off_by": system, "sign_off_reason": reason}
        note += "；" + reason
    elif status == LedgerStatus.RECTIFYING:
        note += "；责任单位已签收，整改中"
    row = LedgerRow.objects.create(
        number=uuid.uuid4().hex[:20],
        campaign=campaign,
        source=LedgerSource.CASE,
        case=case,
        category_id=case.category_id,
        description=case.description or str(case.category),
        address=case.address,
        lon=case.lon,
        lat=case.lat,
        cell_id=case.cell_id,
        area_path=case.area_path,
        department_id=dept_id,
        deadline=deadline,
        status=status,
        created_at=now,
        **signed,
    )
    _finish_new_row(row, system, now, note=note)
    if case.status == CaseStatus.CLOSED:
        _copy_case_evidence(row, case)
    return row


def tag_case(case: Case | int, *, now: datetime | None = None) -> list[CampaignCase]:
    """Tag a case to every campaign that covers it (target category, area, period), add a
    ledger row where the campaign wants one, and raise a rebound warning when it is a target
    problem coming back after a campaign. Idempotent: safe to call again for the same case."""
    case = Case.objects.get(pk=case) if isinstance(case, int) else case
    now = now or timezone.now()
    tags = []
    if not case.area_path:
        return tags
    reported = _local_date(case.reported_at)
    candidates = Campaign.objects.filter(
        categories=case.category_id, starts_on__lte=reported, ends_on__gte=reported
    ).distinct()
    for campaign in candidates:
        if not _covers(campaign, case):
            continue
        with transaction.atomic():
            tag, created = CampaignCase.objects.get_or_create(
                campaign=campaign, case=case, defaults={"tagged_at": now}
            )
            if not created:
                continue
            tags.append(tag)
            if campaign.ledger_from_cases and not case.merged_into_id:
                if not LedgerRow.objects.filter(campaign=campaign, case=case).exists():
                    _row_from_case(campaign, case, now)
    check_rebound(case, now=now)
    return tags


def tag_campaign(campaign: Campaign, *, now: datetime | None = None) -> int:
    """Backfill: tag every case the campaign covers. Returns the number of new tags."""
    paths = _area_paths(campaign)
    if not paths:
        return 0
    area_q = Q()
    for p in paths:
        area_q |= Q(area_path__startswith=p)
    cases = (
        Case.objects.filter(area_q)
        .filter(
            category__in=campaign.categories.all(),
            reported_at__gte=_day_start(campaign.starts_on),
            reported_at__lt=_day_start(campaign.ends_on + timedelta(days=1)),
        )
        .exclude(campaign_tags__campaign=campaign)
        .order_by("reported_at", "pk")
    )
    return sum(len(tag_case(c, now=now)) for c in cases)


def treated_cells(campaign: Campaign) -> set[int]:
    """The cells a campaign worked on: those of its tagged cases and its ledger rows."""
    cells = set(
        campaign.tags.filter(case__cell__isnull=False).values_list("case__cell_id", flat=True)
    )
    cells |= set(campaign.ledger_rows.filter(cell__isnull=False).values_list("cell_id", flat=True))
    return cells


def _signed_off_in_cell(campaign: Campaign, case: Case) -> LedgerRow | None:
    """The latest row of the campaign signed off in the case's cell before it was reported."""
    return (
        campaign.ledger_rows.filter(
            status=LedgerStatus.SIGNED_OFF,
            cell_id=case.cell_id,
            signed_off_at__lt=case.reported_at,
        )
        .exclude(case=case)
        .order_by("-signed_off_at")
        .first()
    )


def check_rebound(case: Case, *, now: datetime | None = None) -> list[ReboundWarning]:
    """防止问题反弹: a target problem reported again in a cell the campaign has treated raises a
    warning — during the campaign, once a row in that cell has been signed off (销号); after
    it, in any treated cell within the watch window."""
    if case.cell_id is None or case.status in (CaseStatus.VOIDED, CaseStatus.MERGED):
        return []
    now = now or timezone.now()
    reported = _local_date(case.reported_at)
    warnings = []
    for campaign in Campaign.objects.filter(
        categories=case.category_id, starts_on__lte=reported
    ).distinct():
        if reported > campaign.ends_on + timedelta(days=campaign.rebound_days):
            continue
        if reported <= campaign.ends_on:
            signed = _signed_off_in_cell(campaign, case)
            if signed is None:
                continue
            note = (
                f"台账 {signed.number} 于 {timezone.localtime(signed.signed_off_at):%m-%d} 销号后，"
                f"同一网格再次出现{case.category.name}"
            )
        else:
            if case.cell_id not in treated_cells(campaign):
                continue
            days = (reported - campaign.ends_on).days
            note = f"整治结束后第 {days} 天同一网格再次出现{case.category.name}"
        try:
            with transaction.atomic():
                w, created = ReboundWarning.objects.get_or_create(
                    campaign=campaign,
                    case=case,
                    defaults={"cell_id": case.cell_id, "detected_at": now, "note": note},
                )
        except IntegrityError:
            continue
        if created:
            warnings.append(w)
    return warnings


def sweep_rebounds(*, now: datetime | None = None) -> int:
    """Check the cases a missed hook may have left unchecked: those reported in the watch window
    of a recently ended campaign, and those reported lately in a running campaign's signed-off
    cells."""
    now = now or timezone.now()
    today = _local_date(now)
    found = 0
    for campaign in Campaign.objects.filter(starts_on__lte=today, archived_at__isnull=True):
        window_end = campaign.ends_on + timedelta(days=campaign.rebound_days)
        if window_end < today - timedelta(days=1):
            continue
        target = Case.objects.filter(category__in=campaign.categories.all())
        after_end = target.filter(
            cell_id__in=treated_cells(campaign),
            reported_at__gte=_day_start(campaign.ends_on + timedelta(days=1)),
            reported_at__lt=_day_start(window_end + timedelta(days=1)),
        )
        signed = campaign.ledger_rows.filter(
            status=LedgerStatus.SIGNED_OFF, cell__isnull=False, signed_off_at__isnull=False
        )
        during = target.none()
        if signed.exists():
            # The hook checks each case as it is tagged; the sweep only looks back two days.
            during = target.filter(
                cell_id__in=set(signed.values_list("cell_id", flat=True)),
                reported_at__gte=now - timedelta(days=2),
                reported_at__lt=_day_start(campaign.ends_on + timedelta(days=1)),
            )
        for case in (after_end | during).exclude(rebound_warnings_of(campaign)):
            found += len(check_rebound(case, now=now))
    return found


def rebound_warnings_of(campaign: Campaign) -> Q:
    """Cases that already have a warning of this campaign (to skip them in a sweep)."""
    return Q(pk__in=ReboundWarning.objects.filter(campaign=campaign).values("case_id"))


# ---------------------------------------------------------------------------------------------
# Ledger rows


def _event(row: LedgerRow, action: str, user: User, now: datetime, **kw) -> LedgerEvent:
    return LedgerEvent.objects.create(
        row=row, action=action, actor=user, actor_role=effective_role(user), at=now, **kw
    )


def _finish_new_row(row: LedgerRow, user: User, now: datetime, note: str = "") -> LedgerEvent:
    row.number = f"TZ{timezone.localtime(now):%Y%m%d}{row.pk:05d}"
    row.save(update_fields=["number"])
    return _event(row, "create", user, now, to_status=row.status, note=note)


def do_create_ledger_row(
    *,
    acting_user: User,
    description: str,
    department: Department,
    deadline: date,
    campaign: Campaign | None = None,
    measures: str = "",
    address: str = "",
    lon: float | None = None,
    lat: float | None = None,
    category: Category | None = None,
    source: str = LedgerSource.MANUAL,
    case: Case | None = None,
    remark: str = "",
    photos: Photos = (),
    now: datetime | None = None,
) -> LedgerRow:
    role = effective_role(acting_user)
    if role not in CENTRE | {Role.INSPECTOR, Role.INTAKE}:
        raise Forbidden(gettext("只有监督指挥中心或网格员可以录入问题清单"))
    if not description.strip():
        raise InvalidInput(gettext("请填写问题描述"), field="description")
    if department is None:
        raise InvalidInput(gettext("请选择责任单位"), field="department")
    if deadline is None:
        raise InvalidInput(gettext("请填写整改时限"), field="deadline")
    checked = check_photos(photos)
    cell_id, path = _place(lon, lat)
    now = now or timezone.now()
    with transaction.atomic():
        row = LedgerRow.objects.create(
            number=uuid.uuid4().hex[:20],
            campaign=campaign,
            source=source,
            case=case,
            category=category,
            description=description.strip(),
            address=address.strip()[:300],
            lon=lon,
            lat=lat,
            cell_id=cell_id,
            area_path=path,
            department=department,
            measures=measures.strip(),
            deadline=deadline,
            remark=remark,
            created_by=acting_user,
            created_at=now,
        )
        _finish_new_row(row, acting_user, now)
        _save_photos(checked, EvidenceKind.BEFORE, acting_user, now, row=row)
    return row


def ledger_rows_visible_to(user: User, qs: QuerySet | None = None) -> QuerySet:
    """Centre staff and grid managers see every row; a unit sees its own (a lead also its
    sub-units')."""
    qs = LedgerRow.objects.all() if qs is None else qs
    if not user.is_authenticated or not user.is_active:
        return qs.none()
    role = effective_role(user)
    if role in CENTRE | {Role.INTAKE, Role.INSPECTOR, Role.SYSTEM}:
        return qs
    if role in UNIT and user.department_id:
        ids = user.department.subtree_ids() if role == Role.DEPT_LEAD else {user.department_id}
        return qs.filter(department_id__in=ids)
    return qs.none()


def may_take(row: LedgerRow, t: LedgerTransition, user: User) -> str | None:
    """None if `user` may take `t` on `row` now, else the reason."""
    role = effective_role(user)
    if row.status not in t.sources:
        return gettext("台账状态为“%(status)s”，不能执行“%(action)s”") % {
            "status": row.get_status_display(),
            "action": t.label,
        }
    if role not in t.roles:
        return gettext("当前角色不能执行“%(action)s”") % {"action": t.label}
    if t.unit_scope and role in UNIT:
        ids = (
            user.department.subtree_ids()
            if role == Role.DEPT_LEAD and user.department
            else {user.department_id}
        )
        if row.department_id not in ids:
            return gettext("该问题不属于本单位")
    return None


def available_ledger_actions(row: LedgerRow, user: User) -> list[LedgerTransition]:
    from gridcity.campaigns.ledger_workflow import transitions_from

    return [t for t in transitions_from(row.status) if may_take(row, t, user) is None]


def do_transition_ledger_row(
    row: LedgerRow | int,
    action: str,
    *,
    acting_user: User,
    note: str = "",
    deadline: date | None = None,
    photos: Photos = (),
    now: datetime | None = None,
) -> LedgerRow:
    t = BY_ACTION.get(action)
    if t is None:
        raise InvalidInput(
            gettext("未知的台账操作：%(action)s") % {"action": action}, field="action"
        )
    note = note.strip()
    if t.note_required and not note:
        message = gettext("销号须填写理由") if action == "sign_off" else gettext("请填写说明")
        raise InvalidInput(message, field="note")
    if "deadline" in t.needs and deadline is None:
        raise InvalidInput(gettext("请填写新的整改时限"), field="deadline")
    checked = check_photos(photos)
    now = now or timezone.now()
    row_id = row.pk if isinstance(row, LedgerRow) else row
    with transaction.atomic():
        locked = (
            ledger_rows_visible_to(acting_user, LedgerRow.objects.select_for_update())
            .filter(pk=row_id)
            .first()
        )
        if locked is None:
            raise NotFound(gettext("台账不存在或无权查看"))
        if locked.status not in t.sources:
            from gridcity.campaigns.ledger_workflow import allowed_actions

            raise IllegalTransition(
                gettext("台账状态为“%(status)s”，不能执行“%(action)s”")
                % {"status": locked.get_status_display(), "action": t.label},
                allowed=[
                    a.action for a in allowed_actions(locked.status, effective_role(acting_user))
                ],
            )
        reason = may_take(locked, t, acting_user)
        if reason:
            raise Forbidden(reason)
        # Photos sent with a submit or a sign-off prove the fix; otherwise they show the problem.
        kind = EvidenceKind.AFTER if action in ("submit", "sign_off") else EvidenceKind.BEFORE
        if "after_photo" in t.needs and not checked:
            if not locked.photos.filter(kind=EvidenceKind.AFTER).exists():
                raise Conflict(gettext("没有整改后照片，不能销号"), field="photos")
        from_status = locked.status
        fields = ["status"]
        data = {}
        locked.status = t.target
        if action == "sign_off":
            locked.signed_off_at, locked.signed_off_by = now, acting_user
            locked.sign_off_reason = note
            fields += ["signed_off_at", "signed_off_by", "sign_off_reason"]
        if action == "extend":
            data = {"from": locked.deadline.isoformat(), "to": deadline.isoformat()}
            locked.deadline = deadline
            fields.append("deadline")
        if action == "mark_overdue":
            locked.overdue_at = now
            fields.append("overdue_at")
        locked.save(update_fields=fields)
        _event(
            locked,
            action,
            acting_user,
            now,
            from_status=from_status,
            to_status=locked.status,
            note=note,
            data=data,
        )
        _save_photos(checked, kind, acting_user, now, row=locked)
    return locked


def do_attach_ledger_photos(
    row: LedgerRow | int,
    *,
    acting_user: User,
    kind: str,
    photos: Photos,
    now: datetime | None = None,
) -> list[EvidencePhoto]:
    if kind not in (EvidenceKind.BEFORE, EvidenceKind.AFTER):
        raise InvalidInput(gettext("照片类型应为整改前或整改后"), field="kind")
    if not photos:
        raise InvalidInput(gettext("请选择照片"), field="photos")
    checked = check_photos(photos)
    now = now or timezone.now()
    row_id = row.pk if isinstance(row, LedgerRow) else row
    with transaction.atomic():
        locked = (
            ledger_rows_visible_to(acting_user, LedgerRow.objects.select_for_update())
            .filter(pk=row_id)
            .first()
        )
        if locked is None:
            raise NotFound(gettext("台账不存在或无权查看"))
        if locked.status in LEDGER_DONE:
            raise Conflict(
                gettext("%(status)s的问题不能再补充照片") % {"status": locked.get_status_display()},
                field="photos",
            )
        _event(
            locked,
            "attach",
            acting_user,
            now,
            from_status=locked.status,
            to_status=locked.status,
            data={"kind": kind, "count": len(checked)},
        )
        return _save_photos(checked, kind, acting_user, now, row=locked)


def _copy_case_evidence(row: LedgerRow, case: Case) -> int:
    """The case's after-photos (处置后) become the row's after-evidence. They share the stored
    file: neither is ever deleted, and a copy would double the storage."""
    have = set(row.photos.values_list("sha256", flat=True))
    made = 0
    for att in case.attachments.filter(kind=AttachmentKind.AFTER).order_by("pk"):
        if att.sha256 in have:
            continue
        have.add(att.sha256)
        EvidencePhoto.objects.create(
            row=row,
            kind=EvidenceKind.AFTER,
            file=att.file.name,
            content_type=att.content_type,
            width=att.width,
            height=att.height,
            sha256=att.sha256,
            exif_gps=att.exif_gps,
            uploaded_by_id=att.uploaded_by_id,
            uploaded_at=att.uploaded_at,
        )
        made += 1
    return made


def _auto_move(
    row: LedgerRow, target: str, action: str, note: str, now: datetime, data: dict | None = None
) -> LedgerEvent:
    system = get_system_user()
    from_status, row.status = row.status, target
    fields = ["status"]
    if target == LedgerStatus.SIGNED_OFF:
        row.signed_off_at, row.signed_off_by, row.sign_off_reason = now, system, note
        fields += ["signed_off_at", "signed_off_by", "sign_off_reason"]
    row.save(update_fields=fields)
    return _event(
        row, action, system, now, from_status=from_status, to_status=target, note=note, data=data
    )


def _void_reason(case: Case) -> str:
    event = case.events.filter(action="void").order_by("-at", "-pk").first()
    return event.note if event and event.note else ""


def _follow_case(row: LedgerRow, case: Case, now: datetime) -> list[LedgerEvent]:
    """Move one (locked, open) row to where its case has got to; never backwards."""
    data = {"case": case.number}
    if case.status == CaseStatus.MERGED and case.merged_into_id:
        survivor = Case.objects.get(pk=case.merged_into_id)
        twin = (
            LedgerRow.objects.filter(campaign_id=row.campaign_id, case=survivor)
            .exclude(pk=row.pk)
            .first()
        )
        data["merged_into"] = survivor.number
        if twin is not None:
            note = (
                f"案件 {case.number} 已合并到案件 {survivor.number}，"
                f"该问题在台账 {twin.number} 中整改，本条撤销"
            )
            return [_auto_move(row, LedgerStatus.CANCELLED, "case_merged", note, now, data)]
        # The problem is still there: the row now follows the case that carries it on.
        row.case = survivor
        row.save(update_fields=["case"])
        note = f"案件 {case.number} 已合并到案件 {survivor.number}，本条改随该案件整改"
        event = _event(
            row,
            "case_merged",
            get_system_user(),
            now,
            from_status=row.status,
            to_status=row.status,
            note=note,
            data=data,
        )
        return [event, *_follow_case(row, survivor, now)]
    if case.status == CaseStatus.VOIDED:
        reason = _void_reason(case)
        note = f"案件 {case.number} 已作废{f'（{reason}）' if reason else ''}，无需整改，台账撤销"
        return [_auto_move(row, LedgerStatus.CANCELLED, "case_voided", note, now, data)]
    if case.status == CaseStatus.CLOSED:
        policy = row.campaign.closed_cases if row.campaign else ClosedCasePolicy.AWAIT
        target = closed_case_target(policy)
        data["photos"] = _copy_case_evidence(row, case)
        if FOLLOW_RANK[row.status] >= FOLLOW_RANK[target]:
            return []
        if target == LedgerStatus.SIGNED_OFF:
            note = f"案件 {case.number} 已处置、核查并结案，按整治设置自动销号"
        else:
            note = f"案件 {case.number} 已处置、核查并结案，转待验收销号"
        return [_auto_move(row, target, "case_closed", note, now, data)]
    if case.status in CASE_AT_UNIT and row.status == LedgerStatus.PENDING:
        if case.department_id and case.department_id != row.department_id:
            # Dispatch may have chosen another unit than the one suggested when the row was made.
            data["department"] = [row.department_id, case.department_id]
            row.department_id = case.department_id
            row.save(update_fields=["department"])
        note = f"责任单位已签收案件 {case.number}，整改中"
        return [_auto_move(row, LedgerStatus.RECTIFYING, "case_signed", note, now, data)]
    return []


def follow_case_rows(case: Case | int, *, now: datetime | None = None) -> list[LedgerEvent]:
    """Move the open ledger rows of a case to where the case has got to: signed for by the unit
    → 整改中; closed → 待验收 with the case's after-photos (or 已销号 if the campaign says so);
    voided → 已撤销; merged → follows the surviving case (or 已撤销 when that case has its own
    row). Each move is a ledger event by the system user with its reason. Called by the case
    hook after commit, and by the sweep for rows a failed hook left behind."""
    case_id = case.pk if isinstance(case, Case) else case
    now = now or timezone.now()
    _add_missing_rows(case_id, now)
    events: list[LedgerEvent] = []
    ids = LedgerRow.objects.filter(case_id=case_id, status__in=LEDGER_OPEN).values_list(
        "pk", flat=True
    )
    for row_id in list(ids):
        with transaction.atomic():
            row = LedgerRow.objects.select_for_update().filter(pk=row_id).first()
            if row is None or row.status not in LEDGER_OPEN or row.case_id != case_id:
                continue  # moved by someone else meanwhile
            events += _follow_case(row, Case.objects.get(pk=case_id), now)
    return events


def _add_missing_rows(case_id: int, now: datetime) -> None:
    """A case tagged before any unit was known for it got no row; once a unit has it, it does."""
    tags = CampaignCase.objects.filter(case_id=case_id, campaign__ledger_from_cases=True)
    missing = tags.exclude(campaign__ledger_rows__case_id=case_id).select_related("campaign")
    for tag in missing:
        case = Case.objects.select_related("category").get(pk=case_id)
        if case.merged_into_id:
            return
        try:
            with transaction.atomic():
                _row_from_case(tag.campaign, case, now)
        except IntegrityError:
            continue  # made by a hook running at the same time


# The events that show a row has followed its case's end (a person may move it on from there).
CASE_END_EVENTS = ("case_closed", "case_voided", "case_merged")


def catch_up_case_rows(*, now: datetime | None = None) -> int:
    """Rows still waiting whose case has ended without the row following (a hook that failed,
    or rows made before rows followed their cases). Returns the number of moves made."""
    stale = (
        LedgerRow.objects.filter(
            status__in=LEDGER_CHASED | {LedgerStatus.OVERDUE}, case__status__in=TERMINAL
        )
        .exclude(events__action__in=CASE_END_EVENTS)
        .values_list("case_id", flat=True)
        .distinct()
    )
    return sum(len(follow_case_rows(case_id, now=now)) for case_id in list(stale))


@dataclass
class LedgerSweepResult:
    marked: int = 0
    orders: int = 0
    case_orders: int = 0
    rebounds: int = 0
    inspections: int = 0
    followed: int = 0


def sweep_ledger(now: datetime | None = None) -> LedgerSweepResult:
    """Mark rows whose deadline has passed 逾期 and raise a 督办 for each (once per missed
    deadline). A row from a still-open case also puts a SupervisionOrder on the case. Rows whose
    case ended unnoticed catch up with it first, so they are not chased."""
    now = now or timezone.now()
    today = _local_date(now)
    result = LedgerSweepResult()
    system = get_system_user()
    # First the rows whose case has ended: they are no longer the unit's to chase.
    result.followed = catch_up_case_rows(now=now)
    due = LedgerRow.objects.filter(status__in=LEDGER_CHASED, deadline__lt=today).values_list(
        "pk", flat=True
    )
    for pk in list(due):
        with transaction.atomic():
            row = LedgerRow.objects.select_for_update().get(pk=pk)
            if row.status not in LEDGER_CHASED or row.deadline >= today:
                continue  # someone else moved it meanwhile
            from_status = row.status
            row.status, row.overdue_at = LedgerStatus.OVERDUE, now
            row.save(update_fields=["status", "overdue_at"])
            _event(row, "mark_overdue", system, now, from_status=from_status, to_status=row.status)
            result.marked += 1
            if _supervise_row(row, system, now):
                result.orders += 1
                if row.supervisions.filter(case_order__isnull=False).exists():
                    result.case_orders += 1
    result.rebounds = sweep_rebounds(now=now)
    result.inspections = schedule_recurring(now=now)
    return result


def _supervise_row(row: LedgerRow, system: User, now: datetime) -> LedgerSupervision | None:
    note = f"整改台账 {row.number} 已超过整改时限 {row.deadline:%Y-%m-%d}，请立即整改并反馈"
    try:
        with transaction.atomic():
            order = LedgerSupervision.objects.create(
                number=uuid.uuid4().hex[:20],
                row=row,
                missed_deadline=row.deadline,
                note=note,
                created_at=now,
            )
    except IntegrityError:
        return None  # the same missed deadline was already chased
    order.number = f"TD{timezone.localtime(now):%Y%m%d}{order.pk:05d}"
    fields = ["number"]
    if row.case_id:
        case = Case.objects.select_for_update().get(pk=row.case_id)
        if case.status in OPEN:
            # do_create_supervision refuses the system user (only leaders, dispatchers and
            # shift leads may supervise), so the sweep uses the same internal helper as the
            # case deadline sweep. See the report: a Role.SYSTEM allowance there would do.
            from gridcity.cases.actions import _create_order

            order.case_order = _create_order(
                case,
                kind=SupervisionKind.KEY_CASE,
                level=max(1, case.supervision_level),
                user=system,
                note=note,
                now=now,
            )
            fields.append("case_order")
    order.save(update_fields=fields)
    _event(
        row,
        "supervise",
        system,
        now,
        from_status=row.status,
        to_status=row.status,
        note=note,
        data={"order": order.number},
    )
    return order


# ---------------------------------------------------------------------------------------------
# Inspections

# Who may be sent to inspect: the grid managers who check on site, and the centre's own staff.
INSPECTOR_ROLES = frozenset({Role.INSPECTOR}) | CENTRE
MAX_SAMPLE = 200


def sample_cells(codes: Sequence[str], n: int, seed: str) -> list[str]:
    """A reproducible random sample: the same codes, size and seed give the same cells."""
    pool = sorted(set(codes))
    n = max(0, min(n, len(pool)))
    return sorted(random.Random(f"gridcity-spot-check:{seed}").sample(pool, n))


def _check_inspector(inspector: User | None, field: str = "inspector") -> None:
    if inspector is None:
        raise InvalidInput(gettext("请选择检查人"), field=field)
    if not inspector.is_active or effective_role(inspector) not in INSPECTOR_ROLES:
        raise InvalidInput(gettext("检查人应为在岗的网格员或指挥中心人员"), field=field)


def do_create_plan(
    *,
    acting_user: User,
    name: str,
    content: str,
    method: str,
    openness: str,
    scope: str,
    frequency: str,
    area: Area | None,
    owner: User | None = None,
    inspector: User | None = None,
    sample_size: int = 5,
    campaign: Campaign | None = None,
    items: Sequence[tuple[str, Decimal | float | int]] = (),
    now: datetime | None = None,
) -> InspectionPlan:
    _require_centre(acting_user, gettext("制定督查计划"))
    name, content = name.strip(), content.strip()
    if not name:
        raise InvalidInput(gettext("请填写计划名称"), field="name")
    if not content:
        raise InvalidInput(gettext("请填写检查内容"), field="content")
    for field, value, choices, message in (
        ("method", method, PlanMethod, gettext("请选择检查方式：计划检查或随机抽查")),
        ("openness", openness, PlanOpenness, gettext("请选择明察或暗访")),
        ("scope", scope, PlanScope, gettext("请选择专项督查或综合督查")),
        ("frequency", frequency, Frequency, gettext("请选择检查频次")),
    ):
        if value not in choices.values:
            raise InvalidInput(message, field=field)
    if area is None:
        raise InvalidInput(gettext("请选择检查范围"), field="area")
    if method == PlanMethod.RANDOM and not 1 <= sample_size <= MAX_SAMPLE:
        raise InvalidInput(
            gettext("抽查网格数应在 1 到 %(n)s 之间") % {"n": MAX_SAMPLE}, field="sample_size"
        )
    if inspector is not None:
        _check_inspector(inspector)
    checklist = []
    for text, deduction in items:
        text = (text or "").strip()
        try:
            deduction = Decimal(str(deduction))
        except ArithmeticError as exc:
            raise InvalidInput(
                gettext("检查项“%(item)s”的扣分不是数字") % {"item": text}, field="items"
            ) from exc
        if not text or len(text) > 200:
            raise InvalidInput(gettext("检查项名称不能为空，且不超过 200 字"), field="items")
        if not Decimal(0) <= deduction <= Decimal(100):
            raise InvalidInput(
                gettext("检查项“%(item)s”的扣分应在 0 到 100 之间") % {"item": text}, field="items"
            )
        checklist.append((text, deduction))
    now = now or timezone.now()
    with transaction.atomic():
        plan = InspectionPlan.objects.create(
            name=name[:100],
            content=content,
            method=method,
            openness=openness,
            scope=scope,
            frequency=frequency,
            owner=owner or acting_user,
            inspector=inspector,
            area=area,
            sample_size=sample_size,
            campaign=campaign,
            created_at=now,
        )
        for i, (text, deduction) in enumerate(checklist):
            ChecklistItem.objects.create(plan=plan, text=text, deduction=deduction, position=i)
        audit.record(
            plan,
            "create",
            actor=acting_user,
            at=now,
            summary=f"制定督查计划“{plan.name}”",
            data={
                "method": method,
                "openness": openness,
                "scope": scope,
                "frequency": frequency,
                "area": area.code,
                "sample_size": sample_size,
                "items": [t for t, _d in checklist],
            },
        )
    return plan


def _number_inspection(insp: Inspection, now: datetime) -> None:
    insp.number = f"JC{timezone.localtime(now):%Y%m%d}{insp.pk:05d}"
    insp.save(update_fields=["number"])


def do_schedule_inspection(
    plan: InspectionPlan,
    *,
    acting_user: User,
    inspector: User | None,
    on: date | None,
    seed: str | None = None,
    now: datetime | None = None,
    period: str = "",
) -> Inspection:
    """Schedule one inspection of a plan. A random spot check draws its cells from the plan's
    area with a seed (by default the plan and the day), so the draw can be repeated and
    audited."""
    if effective_role(acting_user) != Role.SYSTEM:
        _require_centre(acting_user, gettext("安排督查"))
    _check_inspector(inspector)
    if on is None:
        raise InvalidInput(gettext("请填写检查日期"), field="on")
    seed = (seed or "").strip() or f"{plan.pk}:{on.isoformat()}"
    if len(seed) > 64:
        raise InvalidInput(gettext("抽样种子不能超过 64 个字符"), field="seed")
    codes = draw_sample(plan, seed) if plan.method == PlanMethod.RANDOM else []
    if plan.method == PlanMethod.RANDOM and not codes:
        raise InvalidInput(gettext("检查范围内没有可抽取的网格"), field="plan")
    now = now or timezone.now()
    with transaction.atomic():
        insp = Inspection.objects.create(
            number=uuid.uuid4().hex[:20],
            plan=plan,
            inspector=inspector,
            scheduled_for=on,
            seed=seed if plan.method == PlanMethod.RANDOM else "",
            period=period,
            created_at=now,
        )
        _number_inspection(insp, now)
        if codes:
            insp.cells.set(Area.objects.filter(code__in=codes))
        audit.record(
            insp,
            "schedule",
            actor=acting_user,
            at=now,
            summary=f"安排“{plan.name}”检查：{on:%Y-%m-%d}，检查人 {inspector}",
            data={
                "on": on.isoformat(),
                "inspector": inspector.pk,
                "seed": insp.seed,
                "cells": codes,
                "period": period,
            },
        )
    return insp


def period_key(frequency: str, day: date) -> str | None:
    """The period a recurring check belongs to: one inspection per plan and period."""
    if frequency == Frequency.DAILY:
        return day.isoformat()
    if frequency == Frequency.WEEKLY:
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if frequency == Frequency.MONTHLY:
        return f"{day:%Y-%m}"
    return None


def schedule_recurring(*, today: date | None = None, now: datetime | None = None) -> int:
    """Schedule this period's inspection of every recurring plan that has an inspector and
    none yet (e.g. fire lanes every week). The seed is the plan and period, so a repeated run
    draws the same cells. Returns how many were scheduled."""
    now = now or timezone.now()
    today = today or _local_date(now)
    made = 0
    plans = InspectionPlan.objects.filter(inspector__isnull=False).exclude(frequency=Frequency.ONCE)
    for plan in plans.select_related("owner", "inspector", "area"):
        key = period_key(plan.frequency, today)
        seed = f"{plan.pk}:{key}"
        if plan.inspections.filter(period=key).exists():
            continue
        try:
            do_schedule_inspection(
                plan,
                acting_user=get_system_user(),
                inspector=plan.inspector,
                on=today,
                seed=seed,
                now=now,
                period=key,
            )
        except IntegrityError:
            continue  # another sweep scheduled it a moment ago
        except InvalidInput:
            continue  # the plan's default inspector left, or its area has no cells: by hand
        made += 1
    return made


def do_record_finding(
    inspection: Inspection | int,
    *,
    acting_user: User,
    description: str,
    lon: float | None = None,
    lat: float | None = None,
    category: Category | None = None,
    department: Department | None = None,
    checklist_item: ChecklistItem | None = None,
    outcome: str = FindingOutcome.LEDGER,
    measures: str = "",
    deadline: date | None = None,
    photos: Photos = (),
    now: datetime | None = None,
) -> Finding:
    """A finding on site becomes a ledger row (with a unit and deadline) or a case (reported
    through the normal intake, so it is filed and dispatched like any other)."""
    insp_id = inspection.pk if isinstance(inspection, Inspection) else inspection
    if not description.strip():
        raise InvalidInput(gettext("请填写问题描述"), field="description")
    if outcome not in (FindingOutcome.LEDGER, FindingOutcome.CASE):
        raise InvalidInput(gettext("处理方式应为入台账或转案件"), field="outcome")
    if outcome == FindingOutcome.CASE and (category is None or lon is None or lat is None):
        raise InvalidInput(
            gettext("转案件需要类别和位置"), field="category" if category is None else "lon"
        )
    checked = check_photos(photos)
    cell_id, path = _place(lon, lat)
    now = now or timezone.now()
    if outcome == FindingOutcome.LEDGER and department is None and category and path:
        from gridcity.dispatch.actions import decide_for

        dept_id = decide_for(category, path).department_id
        department = Department.objects.filter(pk=dept_id).first() if dept_id else None
    if outcome == FindingOutcome.LEDGER and department is None:
        raise InvalidInput(gettext("请选择责任单位"), field="department")
    with transaction.atomic():
        insp = Inspection.objects.select_for_update().select_related("plan").filter(pk=insp_id)
        insp = insp.first()
        if insp is None:
            raise NotFound(gettext("检查不存在"))
        if insp.inspector_id != acting_user.pk and effective_role(acting_user) not in CENTRE:
            raise Forbidden(gettext("只有本次检查的检查人可以记录发现"))
        if insp.status == InspectionStatus.DONE:
            raise Conflict(gettext("本次检查已完成，不能再记录发现"))
        if checklist_item is not None and checklist_item.plan_id != insp.plan_id:
            raise InvalidInput(gettext("检查项不属于本计划"), field="checklist_item")
        finding = Finding.objects.create(
            inspection=insp,
            checklist_item=checklist_item,
            source=FindingSource.INSPECTION,
            category=category,
            description=description.strip(),
            lon=lon,
            lat=lat,
            cell_id=cell_id,
            department=department,
            deduction=checklist_item.deduction if checklist_item else Decimal(0),
            outcome=outcome,
            created_by=acting_user,
            created_at=now,
        )
        _save_photos(checked, EvidenceKind.FINDING, acting_user, now, finding=finding)
        if outcome == FindingOutcome.LEDGER:
            row = LedgerRow.objects.create(
                number=uuid.uuid4().hex[:20],
                campaign=insp.plan.campaign,
                source=LedgerSource.FINDING,
                category=category,
                description=description.strip(),
                lon=lon,
                lat=lat,
                cell_id=cell_id,
                area_path=path,
                department=department,
                measures=measures.strip(),
                deadline=deadline or _local_date(now) + timedelta(days=7),
                created_by=acting_user,
                created_at=now,
            )
            _finish_new_row(row, acting_user, now, note=f"督查 {insp.number} 发现")
            _save_photos(checked, EvidenceKind.BEFORE, acting_user, now, row=row)
            finding.ledger_row = row
            made = f"台账 {row.number}"
        else:
            from gridcity.cases.actions import ReportInput, do_report_case

            result = do_report_case(
                ReportInput(
                    category=category,
                    channel=Channel.INSPECTOR,
                    lon=lon,
                    lat=lat,
                    description=f"【督查 {insp.number}】{description.strip()}",
                    photos=list(photos),
                ),
                acting_user=acting_user,
                now=now,
            )
            finding.case = result.case
            case_pk = result.case.pk
            transaction.on_commit(lambda: tag_case(case_pk))
            made = f"案件 {result.case.number}"
        finding.save(update_fields=["ledger_row", "case"])
        audit.record(
            insp,
            "record_finding",
            actor=acting_user,
            at=now,
            summary=f"记录发现：{finding.description[:60]}（{made}）",
            data={
                "finding": finding.pk,
                "outcome": outcome,
                "department": department.pk if department else None,
                "deduction": str(finding.deduction),
                "photos": len(checked),
            },
        )
    return finding


def do_issue_notice(
    inspection: Inspection | int,
    *,
    acting_user: User,
    department: Department | None,
    deadline: date | None,
    now: datetime | None = None,
) -> RectificationNotice:
    """整改通知书 to one unit for its findings of an inspection, with a re-inspection scheduled
    for the day after the deadline."""
    _require_centre(acting_user, gettext("下发整改通知书"))
    now = now or timezone.now()
    if department is None:
        raise InvalidInput(gettext("请选择受文单位"), field="department")
    if deadline is None:
        raise InvalidInput(gettext("请填写整改期限"), field="deadline")
    if deadline < _local_date(now):
        raise InvalidInput(gettext("整改期限不能早于今天"), field="deadline")
    insp_id = inspection.pk if isinstance(inspection, Inspection) else inspection
    with transaction.atomic():
        insp = Inspection.objects.select_for_update().filter(pk=insp_id).first()
        if insp is None:
            raise NotFound(gettext("检查不存在"))
        findings = insp.findings.filter(department=department)
        if not findings.exists():
            raise Conflict(
                gettext("本次检查没有%(unit)s的问题，无需下发通知书") % {"unit": department.name}
            )
        if insp.notices.filter(department=department).exists():
            raise Conflict(gettext("已向该单位下发过本次检查的整改通知书"))
        re = Inspection.objects.create(
            number=uuid.uuid4().hex[:20],
            plan=insp.plan,
            inspector=insp.inspector,
            scheduled_for=deadline + timedelta(days=1),
            reinspection_of=insp,
            created_at=now,
        )
        _number_inspection(re, now)
        re.cells.set([f.cell_id for f in findings if f.cell_id])
        notice = RectificationNotice.objects.create(
            number=uuid.uuid4().hex[:20],
            inspection=insp,
            department=department,
            deadline=deadline,
            reinspection=re,
            issued_by=acting_user,
            issued_at=now,
        )
        year = timezone.localtime(now).year
        seq = RectificationNotice.objects.filter(issued_at__year=year, pk__lte=notice.pk).count()
        notice.number = f"督整改〔{year}〕{seq:03d}号"
        notice.save(update_fields=["number"])
        # The rows of these findings must be done by the notice's deadline.
        LedgerRow.objects.filter(finding__in=findings, deadline__gt=deadline).update(
            deadline=deadline
        )
        audit.record(
            notice,
            "issue",
            actor=acting_user,
            at=now,
            summary=f"向{department.name}下发整改通知书，期限 {deadline:%Y-%m-%d}",
            data={
                "inspection": insp.number,
                "findings": findings.count(),
                "deadline": deadline.isoformat(),
                "reinspection": re.number,
            },
        )
        audit.record(
            re,
            "schedule",
            actor=acting_user,
            at=now,
            summary=f"复查 {insp.number}（{notice.number}）：{re.scheduled_for:%Y-%m-%d}",
            data={
                "on": re.scheduled_for.isoformat(),
                "inspector": re.inspector_id,
                "notice": notice.number,
                "reinspection_of": insp.number,
            },
        )
    return notice


def notice_rows(notice: RectificationNotice) -> QuerySet:
    return LedgerRow.objects.filter(
        finding__inspection=notice.inspection, finding__department=notice.department
    )


def do_finish_inspection(
    inspection: Inspection | int,
    *,
    acting_user: User,
    passed: bool | None = None,
    note: str = "",
    now: datetime | None = None,
) -> Inspection:
    """Finish an inspection. A re-inspection passes only when every ledger row of its notice
    is signed off; passing closes the notice, failing schedules another re-inspection."""
    now = now or timezone.now()
    note = note.strip()
    insp_id = inspection.pk if isinstance(inspection, Inspection) else inspection
    with transaction.atomic():
        insp = Inspection.objects.select_for_update().filter(pk=insp_id).first()
        if insp is None:
            raise NotFound(gettext("检查不存在"))
        if insp.inspector_id != acting_user.pk and effective_role(acting_user) not in CENTRE:
            raise Forbidden(gettext("只有本次检查的检查人可以完成检查"))
        if insp.status == InspectionStatus.DONE:
            raise Conflict(gettext("本次检查已完成"))
        notice = RectificationNotice.objects.select_for_update().filter(reinspection=insp).first()
        nxt = None
        if notice is not None:
            if passed is None:
                raise InvalidInput(gettext("复查须给出是否通过"), field="passed")
            if passed:
                left = notice_rows(notice).exclude(status=LedgerStatus.SIGNED_OFF)
                if left.exists():
                    numbers = "、".join(left.values_list("number", flat=True))
                    raise Conflict(
                        gettext("以下问题尚未销号，复查不能通过：%(rows)s") % {"rows": numbers},
                        field="passed",
                    )
                notice.closed_at = now
                notice.save(update_fields=["closed_at"])
            else:
                nxt = Inspection.objects.create(
                    number=uuid.uuid4().hex[:20],
                    plan=insp.plan,
                    inspector=insp.inspector,
                    scheduled_for=_local_date(now) + timedelta(days=3),
                    reinspection_of=insp.reinspection_of,
                    created_at=now,
                )
                _number_inspection(nxt, now)
                nxt.cells.set(insp.cells.all())
                notice.reinspection = nxt
                notice.save(update_fields=["reinspection"])
        insp.status, insp.finished_at, insp.note = InspectionStatus.DONE, now, note
        insp.passed = passed if notice is not None else None
        insp.save(update_fields=["status", "passed", "finished_at", "note"])
        if notice is None:
            summary = f"完成检查，发现问题 {insp.findings.count()} 处"
        else:
            summary = f"复查{'通过' if passed else '未通过'}（{notice.number}）"
        audit.record(
            insp,
            "finish",
            actor=acting_user,
            at=now,
            summary=summary + (f"：{note}" if note else ""),
            data={"passed": insp.passed, "findings": insp.findings.count()},
        )
        if notice is not None and passed:
            audit.record(
                notice, "close", actor=acting_user, at=now, summary=f"复查 {insp.number} 通过，闭环"
            )
        elif nxt is not None:
            audit.record(
                notice,
                "reinspect_again",
                actor=acting_user,
                at=now,
                summary=f"复查 {insp.number} 未通过，{nxt.scheduled_for:%Y-%m-%d} 再次复查",
                data={"failed": insp.number, "next": nxt.number},
            )
            audit.record(
                nxt,
                "schedule",
                actor=acting_user,
                at=now,
                summary=f"复查 {insp.number} 未通过，再次复查：{nxt.scheduled_for:%Y-%m-%d}",
                data={"on": nxt.scheduled_for.isoformat(), "notice": notice.number},
            )
    return insp


def deductions_by_department(start: date, end: date) -> dict[int, Decimal]:
    """Inspection score deductions per responsible unit, for findings made in [start, end]
    (local dates). Evaluation can subtract these from a department's score."""
    rows = (
        Finding.objects.filter(
            department__isnull=False,
            created_at__gte=_day_start(start),
            created_at__lt=_day_start(end + timedelta(days=1)),
        )
        .values("department_id")
        .annotate(total=Sum("deduction"))
    )
    return {r["department_id"]: r["total"] for r in rows if r["total"]}


def draw_sample(plan: InspectionPlan, seed: str) -> list[str]:
    """The cell codes a random plan's check draws with `seed`: what the plan page previews and
    what scheduling stores, so anyone can repeat the draw."""
    cells = Area.objects.filter(
        level=AreaLevel.CELL, path__startswith=plan.area.path, is_active=True
    )
    return sample_cells(list(cells.values_list("code", flat=True)), plan.sample_size, seed)


def inspections_visible_to(user: User, qs: QuerySet | None = None) -> QuerySet:
    """The centre sees every inspection; an inspector her own. A unit sees the announced (明察)
    ones, and an undercover (暗访) one only once it is finished and found something of
    theirs, or re-inspects a notice sent to them: until then nobody inspected may know where
    and when it happens."""
    qs = Inspection.objects.all() if qs is None else qs
    if not user.is_authenticated or not user.is_active:
        return qs.none()
    role = effective_role(user)
    if role in CENTRE | {Role.SYSTEM}:
        return qs
    if role in UNIT and user.department_id:
        ids = user.department.subtree_ids() if role == Role.DEPT_LEAD else {user.department_id}
        return qs.filter(
            Q(plan__openness=PlanOpenness.OPEN)
            | Q(status=InspectionStatus.DONE, findings__department_id__in=ids)
            | Q(reinspection_of__notices__department_id__in=ids)
        ).distinct()
    return qs.filter(inspector=user)


def notices_visible_to(user: User, qs: QuerySet | None = None) -> QuerySet:
    """The centre sees every notice, a unit those addressed to it, an inspector those of her
    inspections."""
    qs = RectificationNotice.objects.all() if qs is None else qs
    if not user.is_authenticated or not user.is_active:
        return qs.none()
    role = effective_role(user)
    if role in CENTRE | {Role.SYSTEM}:
        return qs
    if role in UNIT and user.department_id:
        ids = user.department.subtree_ids() if role == Role.DEPT_LEAD else {user.department_id}
        return qs.filter(department_id__in=ids)
    return qs.filter(inspection__inspector=user)


def do_reschedule_inspection(
    inspection: Inspection | int,
    *,
    acting_user: User,
    on: date | None,
    inspector: User | None = None,
    now: datetime | None = None,
) -> Inspection:
    """Move a scheduled inspection (a re-inspection too) to another day or inspector. The seed
    and the drawn cells stay, so the sample remains the one that was published."""
    _require_centre(acting_user, gettext("调整督查安排"))
    if on is None:
        raise InvalidInput(gettext("请填写检查日期"), field="on")
    if inspector is not None:
        _check_inspector(inspector)
    now = now or timezone.now()
    insp_id = inspection.pk if isinstance(inspection, Inspection) else inspection
    with transaction.atomic():
        insp = Inspection.objects.select_for_update().filter(pk=insp_id).first()
        if insp is None:
            raise NotFound(gettext("检查不存在"))
        if insp.status != InspectionStatus.SCHEDULED:
            raise Conflict(gettext("检查已完成，不能再调整"))
        before = {"on": insp.scheduled_for.isoformat(), "inspector": insp.inspector_id}
        insp.scheduled_for = on
        if inspector is not None:
            insp.inspector = inspector
        insp.save(update_fields=["scheduled_for", "inspector"])
        audit.record(
            insp,
            "reschedule",
            actor=acting_user,
            at=now,
            summary=f"调整为 {on:%Y-%m-%d}，检查人 {insp.inspector}",
            data={"from": before, "to": {"on": on.isoformat(), "inspector": insp.inspector_id}},
        )
    return insp


# ---------------------------------------------------------------------------------------------
# Detections from drones and cameras

# Who reviews the detections held for a person: the supervision centre, intake clerks included.
DETECTION_REVIEWERS = CENTRE | {Role.INTAKE}
DETECTION_SOURCES = (FindingSource.DRONE, FindingSource.CAMERA)


def detection_thresholds() -> tuple[float, float]:
    """(file a case at or above, record a finding for review at or above)."""
    case_at = getattr(settings, "GRIDCITY_DETECTION_CASE_CONFIDENCE", 0.85)
    review_at = getattr(settings, "GRIDCITY_DETECTION_REVIEW_CONFIDENCE", 0.5)
    return case_at, review_at


def decide_detection(confidence: float) -> str:
    """Pure rule: a confident detection becomes a case, a plausible one a finding that a
    person reviews, anything else is dropped."""
    case_at, review_at = detection_thresholds()
    if confidence >= case_at:
        return FindingOutcome.CASE
    if confidence >= review_at:
        return FindingOutcome.REVIEW
    return "ignored"


@dataclass
class DetectionResult:
    outcome: str
    finding: Finding | None = None
    case: Case | None = None


def do_ingest_detection(
    *,
    acting_user: User,
    category: Category,
    confidence: float,
    image: bytes,
    lon: float,
    lat: float,
    source: str,
    device_id: str,
    now: datetime | None = None,
) -> DetectionResult:
    if source not in DETECTION_SOURCES:
        raise InvalidInput(gettext("来源应为 drone 或 camera"), field="source")
    if not 0 <= confidence <= 1:
        raise InvalidInput(gettext("置信度应在 0 到 1 之间"), field="confidence")
    if not device_id.strip():
        raise InvalidInput(gettext("请提供设备编号"), field="device_id")
    checked = check_photos([(f"{source}-{device_id}", image)])
    cell_id, _path = _place(lon, lat)
    if cell_id is None:
        raise InvalidInput(gettext("位置不在任何网格内"), field="lon")
    outcome = decide_detection(confidence)
    if outcome == "ignored":
        return DetectionResult("ignored")
    now = now or timezone.now()
    label = "无人机" if source == FindingSource.DRONE else "视频监控"
    with transaction.atomic():
        finding = Finding.objects.create(
            source=source,
            device_id=device_id.strip()[:64],
            confidence=confidence,
            category=category,
            description=f"{label} {device_id} 识别：{category.name}（置信度 {confidence:.2f}）",
            lon=lon,
            lat=lat,
            cell_id=cell_id,
            outcome=outcome,
            created_by=acting_user,
            created_at=now,
        )
        _save_photos(checked, EvidenceKind.FINDING, acting_user, now, finding=finding)
        case = None
        if outcome == FindingOutcome.CASE:
            case = _report_detection(
                finding, category, [(f"{source}.jpg", image)], acting_user, now
            )
        audit.record(
            finding,
            "ingest",
            actor=acting_user,
            at=now,
            summary=f"{label}识别{'，自动立案 ' + case.number if case else '，待人工研判'}",
            data={"confidence": confidence, "device_id": finding.device_id, "outcome": outcome},
        )
    return DetectionResult(outcome, finding, case)


def _report_detection(
    finding: Finding, category: Category, photos: Photos, user: User, now: datetime, note: str = ""
) -> Case:
    """File a detection through the normal intake (channel 视频监控: trusted, so it is filed and
    dispatched at once) and link it to the finding."""
    from gridcity.cases.actions import ReportInput, do_report_case

    result = do_report_case(
        ReportInput(
            category=category,
            channel=Channel.CAMERA,
            lon=finding.lon,
            lat=finding.lat,
            description=finding.description + (f"。研判意见：{note}" if note else ""),
            photos=list(photos),
            external_id=finding.device_id[:100],
            extra={
                "source": finding.source,
                "device_id": finding.device_id,
                "confidence": finding.confidence,
                "finding": finding.pk,
            },
        ),
        acting_user=user,
        now=now,
    )
    finding.case = result.case
    finding.save(update_fields=["case"])
    case_pk = result.case.pk
    transaction.on_commit(lambda: tag_case(case_pk))
    return result.case


def detections_for_review() -> QuerySet:
    return Finding.objects.filter(source__in=DETECTION_SOURCES, outcome=FindingOutcome.REVIEW)


def _lock_detection(finding: Finding | int, user: User) -> Finding:
    if effective_role(user) not in DETECTION_REVIEWERS:
        raise Forbidden(gettext("只有监督指挥中心人员可以研判识别结果"))
    pk = finding.pk if isinstance(finding, Finding) else finding
    locked = Finding.objects.select_for_update().filter(pk=pk, source__in=DETECTION_SOURCES).first()
    if locked is None:
        raise NotFound(gettext("识别结果不存在"))
    if locked.outcome != FindingOutcome.REVIEW:
        raise Conflict(f"该识别结果已处理（{locked.get_outcome_display()}），不能重复研判")
    return locked


def do_accept_detection(
    finding: Finding | int,
    *,
    acting_user: User,
    category: Category | None = None,
    note: str = "",
    now: datetime | None = None,
) -> Case:
    """A person confirms a detection held for review: it becomes a case through the normal
    intake, with the detector's photo; the reviewer may correct the category."""
    now = now or timezone.now()
    note = note.strip()
    with transaction.atomic():
        f = _lock_detection(finding, acting_user)
        category = category or f.category
        if category is None:
            raise InvalidInput(gettext("请选择问题类别"), field="category")
        photos = []
        for p in f.photos.all():
            with p.file.open("rb") as fh:
                photos.append((p.file.name.rsplit("/", 1)[-1], fh.read()))
        case = _report_detection(f, category, photos, acting_user, now, note)
        f.outcome, f.category = FindingOutcome.CASE, category
        f.reviewed_by, f.reviewed_at, f.review_note = acting_user, now, note
        f.save(update_fields=["outcome", "category", "reviewed_by", "reviewed_at", "review_note"])
        audit.record(
            f,
            "accept",
            actor=acting_user,
            at=now,
            summary=f"研判确认，立案 {case.number}" + (f"：{note}" if note else ""),
            data={"case": case.number, "category": category.code},
        )
    return case


def do_reject_detection(
    finding: Finding | int, *, acting_user: User, reason: str, now: datetime | None = None
) -> Finding:
    """A person rejects a detection (a false alarm, not a problem, a duplicate): no case, the
    reason kept."""
    reason = reason.strip()
    if not reason:
        raise InvalidInput(gettext("请填写驳回理由"), field="reason")
    now = now or timezone.now()
    with transaction.atomic():
        f = _lock_detection(finding, acting_user)
        f.outcome = FindingOutcome.REJECTED
        f.reviewed_by, f.reviewed_at, f.review_note = acting_user, now, reason[:2000]
        f.save(update_fields=["outcome", "reviewed_by", "reviewed_at", "review_note"])
        audit.record(
            f,
            "reject",
            actor=acting_user,
            at=now,
            summary=f"研判驳回：{reason[:150]}",
            data={"reason": reason[:2000]},
        )
    return f
