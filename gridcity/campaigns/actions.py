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

from gridcity.accounts.actions import get_system_user
from gridcity.accounts.models import Department, Role, User
from gridcity.campaigns.ledger_workflow import BY_ACTION, CENTRE, UNIT, LedgerTransition
from gridcity.campaigns.models import (
    LEDGER_CHASED,
    Campaign,
    CampaignCase,
    ChecklistItem,
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
    ReboundWarning,
    RectificationNotice,
)
from gridcity.cases.errors import Conflict, Forbidden, IllegalTransition, InvalidInput, NotFound
from gridcity.cases.models import OPEN, Case, Channel, SupervisionKind
from gridcity.cases.photos import CheckedPhoto, check_photos
from gridcity.grids.actions import locate
from gridcity.grids.models import Area, AreaLevel
from gridcity.lib.coords import validate_lonlat
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
        raise Forbidden(f"只有指挥中心、值班长或领导可以{what}")


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
    default_days: int = 7,
    rebound_days: int = 30,
    now: datetime | None = None,
) -> Campaign:
    """Create a campaign and tag the cases it already covers."""
    _require_centre(acting_user, "发起专项整治")
    categories, areas = list(categories), list(areas)
    if not name.strip():
        raise InvalidInput("请填写整治主题", field="name")
    if ends_on < starts_on:
        raise InvalidInput("结束日期不能早于开始日期", field="ends_on")
    if not categories:
        raise InvalidInput("请至少选择一个整治类别", field="categories")
    if not areas:
        raise InvalidInput("请至少选择一个整治区域", field="areas")
    now = now or timezone.now()
    with transaction.atomic():
        campaign = Campaign.objects.create(
            name=name.strip(),
            starts_on=starts_on,
            ends_on=ends_on,
            lead_department=lead_department,
            goals=goals,
            ledger_from_cases=ledger_from_cases,
            default_days=default_days,
            rebound_days=rebound_days,
            created_by=acting_user,
            created_at=now,
        )
        campaign.categories.set(categories)
        campaign.areas.set(areas)
        campaign.member_departments.set(list(member_departments))
        tag_campaign(campaign, now=now)
    return campaign


def _area_paths(campaign: Campaign) -> list[str]:
    return list(campaign.areas.values_list("path", flat=True))


def _covers(campaign: Campaign, case: Case) -> bool:
    if not case.area_path or not campaign.categories.filter(pk=case.category_id).exists():
        return False
    if not any(case.area_path.startswith(p) for p in _area_paths(campaign)):
        return False
    return campaign.starts_on <= _local_date(case.reported_at) <= campaign.ends_on


def _row_from_case(campaign: Campaign, case: Case, now: datetime) -> LedgerRow | None:
    dept_id = case.department_id or case.suggested_department_id or campaign.lead_department_id
    if dept_id is None:
        return None  # no unit to hold responsible yet; the row is made when one is known
    if case.handle_deadline:
        deadline = _local_date(case.handle_deadline)
    else:
        deadline = _local_date(case.reported_at) + timedelta(days=campaign.default_days)
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
        created_at=now,
    )
    _finish_new_row(row, get_system_user(), now, note=f"由案件 {case.number} 自动生成")
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


def check_rebound(case: Case, *, now: datetime | None = None) -> list[ReboundWarning]:
    """防止问题反弹: a target problem reported in a treated cell after the campaign ended, within
    the campaign's watch window, raises a warning."""
    if case.cell_id is None:
        return []
    now = now or timezone.now()
    reported = _local_date(case.reported_at)
    warnings = []
    for campaign in Campaign.objects.filter(
        categories=case.category_id, ends_on__lt=reported
    ).distinct():
        if reported > campaign.ends_on + timedelta(days=campaign.rebound_days):
            continue
        if case.cell_id not in treated_cells(campaign):
            continue
        days = (reported - campaign.ends_on).days
        try:
            with transaction.atomic():
                w, created = ReboundWarning.objects.get_or_create(
                    campaign=campaign,
                    case=case,
                    defaults={
                        "cell_id": case.cell_id,
                        "detected_at": now,
                        "note": f"整治结束后第 {days} 天同一网格再次出现{case.category.name}",
                    },
                )
        except IntegrityError:
            continue
        if created:
            warnings.append(w)
    return warnings


def sweep_rebounds(*, now: datetime | None = None) -> int:
    """Check every case reported in the watch window of a recently ended campaign."""
    now = now or timezone.now()
    today = _local_date(now)
    found = 0
    for campaign in Campaign.objects.filter(ends_on__lt=today):
        window_end = campaign.ends_on + timedelta(days=campaign.rebound_days)
        if window_end < today - timedelta(days=1):
            continue
        cases = Case.objects.filter(
            category__in=campaign.categories.all(),
            cell_id__in=treated_cells(campaign),
            reported_at__gte=_day_start(campaign.ends_on + timedelta(days=1)),
            reported_at__lt=_day_start(window_end + timedelta(days=1)),
        )
        for case in cases:
            found += len(check_rebound(case, now=now))
    return found


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
        raise Forbidden("只有监督指挥中心或网格员可以录入问题清单")
    if not description.strip():
        raise InvalidInput("请填写问题描述", field="description")
    if department is None:
        raise InvalidInput("请选择责任单位", field="department")
    if deadline is None:
        raise InvalidInput("请填写整改时限", field="deadline")
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
        return f"台账状态为“{row.get_status_display()}”，不能执行“{t.label}”"
    if role not in t.roles:
        return f"当前角色不能执行“{t.label}”"
    if t.unit_scope and role in UNIT:
        ids = (
            user.department.subtree_ids()
            if role == Role.DEPT_LEAD and user.department
            else {user.department_id}
        )
        if row.department_id not in ids:
            return "该问题不属于本单位"
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
        raise InvalidInput(f"未知的台账操作：{action}", field="action")
    note = note.strip()
    if t.note_required and not note:
        raise InvalidInput("销号须填写理由" if action == "sign_off" else "请填写说明", field="note")
    if "deadline" in t.needs and deadline is None:
        raise InvalidInput("请填写新的整改时限", field="deadline")
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
            raise NotFound("台账不存在或无权查看")
        if locked.status not in t.sources:
            from gridcity.campaigns.ledger_workflow import allowed_actions

            raise IllegalTransition(
                f"台账状态为“{locked.get_status_display()}”，不能执行“{t.label}”",
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
                raise Conflict("没有整改后照片，不能销号", field="photos")
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
        raise InvalidInput("照片类型应为整改前或整改后", field="kind")
    if not photos:
        raise InvalidInput("请选择照片", field="photos")
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
            raise NotFound("台账不存在或无权查看")
        if locked.status == LedgerStatus.SIGNED_OFF:
            raise Conflict("已销号的问题不能再补充照片", field="photos")
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


@dataclass
class LedgerSweepResult:
    marked: int = 0
    orders: int = 0
    case_orders: int = 0
    rebounds: int = 0
    inspections: int = 0


def sweep_ledger(now: datetime | None = None) -> LedgerSweepResult:
    """Mark rows whose deadline has passed 逾期 and raise a 督办 for each (once per missed
    deadline). A row from a still-open case also puts a SupervisionOrder on the case."""
    now = now or timezone.now()
    today = _local_date(now)
    result = LedgerSweepResult()
    system = get_system_user()
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


def sample_cells(codes: Sequence[str], n: int, seed: str) -> list[str]:
    """A reproducible random sample: the same codes, size and seed give the same cells."""
    pool = sorted(set(codes))
    n = max(0, min(n, len(pool)))
    return sorted(random.Random(f"gridcity-spot-check:{seed}").sample(pool, n))


def do_create_plan(
    *,
    acting_user: User,
    name: str,
    content: str,
    method: str,
    openness: str,
    scope: str,
    frequency: str,
    area: Area,
    owner: User | None = None,
    inspector: User | None = None,
    sample_size: int = 5,
    campaign: Campaign | None = None,
    items: Sequence[tuple[str, Decimal | float | int]] = (),
    now: datetime | None = None,
) -> InspectionPlan:
    _require_centre(acting_user, "制定督查计划")
    if not name.strip() or not content.strip():
        raise InvalidInput(
            "请填写计划名称和检查内容", field="name" if not name.strip() else "content"
        )
    with transaction.atomic():
        plan = InspectionPlan.objects.create(
            name=name.strip(),
            content=content.strip(),
            method=method,
            openness=openness,
            scope=scope,
            frequency=frequency,
            owner=owner or acting_user,
            inspector=inspector,
            area=area,
            sample_size=sample_size,
            campaign=campaign,
            created_at=now or timezone.now(),
        )
        plan.full_clean(exclude=["owner", "area", "campaign"])
        for i, (text, deduction) in enumerate(items):
            ChecklistItem.objects.create(
                plan=plan, text=text, deduction=Decimal(str(deduction)), position=i
            )
    return plan


def _number_inspection(insp: Inspection, now: datetime) -> None:
    insp.number = f"JC{timezone.localtime(now):%Y%m%d}{insp.pk:05d}"
    insp.save(update_fields=["number"])


def do_schedule_inspection(
    plan: InspectionPlan,
    *,
    acting_user: User,
    inspector: User,
    on: date,
    seed: str | None = None,
    now: datetime | None = None,
    period: str = "",
) -> Inspection:
    """Schedule one inspection of a plan. A random spot check draws its cells from the plan's
    area with a seed (by default the plan and the day), so the draw can be repeated and
    audited."""
    if effective_role(acting_user) != Role.SYSTEM:
        _require_centre(acting_user, "安排督查")
    now = now or timezone.now()
    seed = seed if seed is not None else f"{plan.pk}:{on.isoformat()}"
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
        if plan.method == PlanMethod.RANDOM:
            cells = Area.objects.filter(
                level=AreaLevel.CELL, path__startswith=plan.area.path, is_active=True
            )
            codes = sample_cells(list(cells.values_list("code", flat=True)), plan.sample_size, seed)
            insp.cells.set(Area.objects.filter(code__in=codes))
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
        raise InvalidInput("请填写问题描述", field="description")
    if outcome not in (FindingOutcome.LEDGER, FindingOutcome.CASE):
        raise InvalidInput("处理方式应为入台账或转案件", field="outcome")
    if outcome == FindingOutcome.CASE and (category is None or lon is None or lat is None):
        raise InvalidInput("转案件需要类别和位置", field="category" if category is None else "lon")
    checked = check_photos(photos)
    cell_id, path = _place(lon, lat)
    now = now or timezone.now()
    if outcome == FindingOutcome.LEDGER and department is None and category and path:
        from gridcity.dispatch.actions import decide_for

        dept_id = decide_for(category, path).department_id
        department = Department.objects.filter(pk=dept_id).first() if dept_id else None
    if outcome == FindingOutcome.LEDGER and department is None:
        raise InvalidInput("请选择责任单位", field="department")
    with transaction.atomic():
        insp = Inspection.objects.select_for_update().select_related("plan").filter(pk=insp_id)
        insp = insp.first()
        if insp is None:
            raise NotFound("检查不存在")
        if insp.inspector_id != acting_user.pk and effective_role(acting_user) not in CENTRE:
            raise Forbidden("只有本次检查的检查人可以记录发现")
        if insp.status == InspectionStatus.DONE:
            raise Conflict("本次检查已完成，不能再记录发现")
        if checklist_item is not None and checklist_item.plan_id != insp.plan_id:
            raise InvalidInput("检查项不属于本计划", field="checklist_item")
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
        finding.save(update_fields=["ledger_row", "case"])
    return finding


def do_issue_notice(
    inspection: Inspection | int,
    *,
    acting_user: User,
    department: Department,
    deadline: date,
    now: datetime | None = None,
) -> RectificationNotice:
    """整改通知书 to one unit for its findings of an inspection, with a re-inspection scheduled
    for the day after the deadline."""
    _require_centre(acting_user, "下发整改通知书")
    now = now or timezone.now()
    if deadline < _local_date(now):
        raise InvalidInput("整改期限不能早于今天", field="deadline")
    insp_id = inspection.pk if isinstance(inspection, Inspection) else inspection
    with transaction.atomic():
        insp = Inspection.objects.select_for_update().filter(pk=insp_id).first()
        if insp is None:
            raise NotFound("检查不存在")
        findings = insp.findings.filter(department=department)
        if not findings.exists():
            raise Conflict(f"本次检查没有{department.name}的问题，无需下发通知书")
        if insp.notices.filter(department=department).exists():
            raise Conflict("已向该单位下发过本次检查的整改通知书")
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
    insp_id = inspection.pk if isinstance(inspection, Inspection) else inspection
    with transaction.atomic():
        insp = Inspection.objects.select_for_update().filter(pk=insp_id).first()
        if insp is None:
            raise NotFound("检查不存在")
        if insp.inspector_id != acting_user.pk and effective_role(acting_user) not in CENTRE:
            raise Forbidden("只有本次检查的检查人可以完成检查")
        if insp.status == InspectionStatus.DONE:
            raise Conflict("本次检查已完成")
        notice = RectificationNotice.objects.filter(reinspection=insp).first()
        if notice is not None:
            if passed is None:
                raise InvalidInput("复查须给出是否通过", field="passed")
            if passed:
                left = notice_rows(notice).exclude(status=LedgerStatus.SIGNED_OFF)
                if left.exists():
                    numbers = "、".join(left.values_list("number", flat=True))
                    raise Conflict(f"以下问题尚未销号，复查不能通过：{numbers}", field="passed")
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
                insp.status = InspectionStatus.DONE
                insp.passed, insp.finished_at, insp.note = False, now, note
                insp.save(update_fields=["status", "passed", "finished_at", "note"])
                notice.save(update_fields=["reinspection"])
                return insp
        insp.status, insp.finished_at, insp.note = InspectionStatus.DONE, now, note
        insp.passed = passed if notice is not None else None
        insp.save(update_fields=["status", "passed", "finished_at", "note"])
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


# ---------------------------------------------------------------------------------------------
# Detections from drones and cameras


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
    if source not in (FindingSource.DRONE, FindingSource.CAMERA):
        raise InvalidInput("来源应为 drone 或 camera", field="source")
    if not 0 <= confidence <= 1:
        raise InvalidInput("置信度应在 0 到 1 之间", field="confidence")
    if not device_id.strip():
        raise InvalidInput("请提供设备编号", field="device_id")
    checked = check_photos([(f"{source}-{device_id}", image)])
    cell_id, _path = _place(lon, lat)
    if cell_id is None:
        raise InvalidInput("位置不在任何网格内", field="lon")
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
            from gridcity.cases.actions import ReportInput, do_report_case

            result = do_report_case(
                ReportInput(
                    category=category,
                    channel=Channel.CAMERA,
                    lon=lon,
                    lat=lat,
                    description=finding.description,
                    photos=[(f"{source}.jpg", image)],
                    external_id=device_id.strip()[:100],
                    extra={"source": source, "device_id": device_id, "confidence": confidence},
                ),
                acting_user=acting_user,
                now=now,
            )
            case = result.case
            finding.case = case
            finding.save(update_fields=["case"])
            case_pk = case.pk
            transaction.on_commit(lambda: tag_case(case_pk))
    return DetectionResult(outcome, finding, case)
