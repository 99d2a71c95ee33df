"""Every write in the people app: patrols and their points, pairing visits and assessments,
survey answers. One transaction each, the parent row locked, errors as CaseError so the API
and the pages answer with a message that names the field."""

from __future__ import annotations

import hashlib
import math
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from gridcity.accounts.models import Role, User
from gridcity.cases.actions import ReportInput, do_report_case, effective_role
from gridcity.cases.errors import Conflict, Forbidden, InvalidInput, NotFound
from gridcity.cases.models import Channel
from gridcity.cases.photos import check_photos
from gridcity.grids.models import Area, AreaLevel, Beat
from gridcity.grids.spatial import get_index
from gridcity.people import track
from gridcity.people.models import (
    AnnualRecord,
    Pairing,
    PairingAssessment,
    PairingVisit,
    Patrol,
    PatrolCellVisit,
    PatrolPoint,
    PatrolStatus,
    ProblemRoute,
    ScoreSheet,
    Survey,
    SurveyResponse,
    VisitPhoto,
    VisitProblem,
)
from gridcity.taxonomy.models import Category

MAX_POINTS_PER_BATCH = 500
# A phone's clock may run a little fast; a fix from further in the future is refused.
FUTURE_SLACK = timedelta(minutes=10)
SUPERVISOR_ROLES = {Role.SHIFT_LEAD, Role.LEADER, Role.ADMIN, Role.INTAKE, Role.DISPATCHER}
ASSESSOR_ROLES = {Role.LEADER, Role.ADMIN}

# ---------------------------------------------------------------------------------------------
# Patrols


def _check_key(key: str) -> str:
    key = (key or "").strip()
    if not key or len(key) > 64:
        raise InvalidInput("巡查标识应为1–64个字符", field="key")
    return key


def _aware(t: datetime, name: str) -> datetime:
    if timezone.is_naive(t):
        raise InvalidInput("时间须带时区（如 +08:00）", field=name)
    return t


def do_start_patrol(
    *, key: str, started_at: datetime | None = None, acting_user: User
) -> tuple[Patrol, bool]:
    """Open a patrol, or return the one this key already opened (a retried start)."""
    key = _check_key(key)
    if effective_role(acting_user) not in {Role.INSPECTOR, Role.ADMIN}:
        raise Forbidden("只有网格员可以开始巡查")
    now = timezone.now()
    started_at = _aware(started_at, "started_at") if started_at else now
    if started_at > now + FUTURE_SLACK:
        raise InvalidInput("开始时间晚于当前时间", field="started_at")
    existing = Patrol.objects.filter(key=key).first()
    if existing is not None:
        return _own(existing, acting_user), False
    beat = Beat.objects.filter(manager=acting_user).order_by("code").first()
    try:
        with transaction.atomic():
            patrol = Patrol.objects.create(
                key=key,
                manager=acting_user,
                beat=beat,
                started_at=started_at,
                beat_cells=beat.cells.count() if beat else 0,
            )
    except IntegrityError:
        # Two copies of the same start raced; the other one created the row.
        return _own(Patrol.objects.get(key=key), acting_user), False
    return patrol, True


def _own(patrol: Patrol, user: User) -> Patrol:
    if patrol.manager_id != user.pk:
        raise Forbidden("这不是您的巡查", field="key")
    return patrol


def patrol_for(key: str, user: User) -> Patrol:
    patrol = Patrol.objects.filter(key=key).first()
    if patrol is None:
        raise NotFound("巡查不存在", field="key")
    return _own(patrol, user)


@dataclass
class PointIn:
    seq: int
    t: datetime
    lon: float
    lat: float
    accuracy: float | None = None


@dataclass
class PointsResult:
    patrol: Patrol
    accepted: int
    duplicates: int


def _check_point(i: int, p: PointIn, now: datetime) -> None:
    if p.seq < 0 or p.seq > 10_000_000:
        raise InvalidInput("序号应为非负整数", field=f"points[{i}].seq")
    _aware(p.t, f"points[{i}].t")
    if p.t > now + FUTURE_SLACK:
        raise InvalidInput("定位时间晚于当前时间", field=f"points[{i}].t")
    for name, v, lim in (("lon", p.lon, 180), ("lat", p.lat, 90)):
        if not isinstance(v, int | float) or not math.isfinite(v) or abs(v) > lim:
            raise InvalidInput(
                f"{'经度' if name == 'lon' else '纬度'}超出范围", field=f"points[{i}].{name}"
            )
    if p.accuracy is not None and (not math.isfinite(p.accuracy) or p.accuracy < 0):
        raise InvalidInput("定位精度应为非负数", field=f"points[{i}].accuracy")


def do_record_points(key: str, points: list[PointIn], *, acting_user: User) -> PointsResult:
    """Store a batch of fixes. A fix is identified by its sequence number within the patrol,
    so a batch sent twice (lost answer, offline resend) stores every fix once."""
    if len(points) > MAX_POINTS_PER_BATCH:
        raise InvalidInput(f"一批最多 {MAX_POINTS_PER_BATCH} 个点", field="points")
    now = timezone.now()
    for i, p in enumerate(points):
        _check_point(i, p, now)
    patrol = patrol_for(_check_key(key), acting_user)
    index = get_index()
    with transaction.atomic():
        patrol = Patrol.objects.select_for_update().get(pk=patrol.pk)
        known = set(
            PatrolPoint.objects.filter(patrol=patrol, seq__in=[p.seq for p in points]).values_list(
                "seq", flat=True
            )
        )
        fresh: dict[int, PointIn] = {}
        for p in points:
            if p.seq not in known:
                fresh.setdefault(p.seq, p)
        rows = []
        for p in fresh.values():
            cell = index.locate(p.lon, p.lat)
            rows.append(
                PatrolPoint(
                    patrol=patrol,
                    seq=p.seq,
                    t=p.t,
                    lon=p.lon,
                    lat=p.lat,
                    accuracy=p.accuracy,
                    cell_id=cell.id if cell else None,
                    received_at=now,
                )
            )
        PatrolPoint.objects.bulk_create(rows)
        if rows:
            _recompute(patrol)
    return PointsResult(patrol, len(rows), len(points) - len(rows))


def do_end_patrol(
    key: str, *, ended_at: datetime | None = None, acting_user: User
) -> tuple[Patrol, bool]:
    """End a patrol; ending it again answers with the patrol as it was ended."""
    patrol = patrol_for(_check_key(key), acting_user)
    now = timezone.now()
    ended_at = _aware(ended_at, "ended_at") if ended_at else now
    with transaction.atomic():
        patrol = Patrol.objects.select_for_update().get(pk=patrol.pk)
        if patrol.status == PatrolStatus.ENDED:
            return patrol, False
        if ended_at < patrol.started_at:
            raise InvalidInput("结束时间早于开始时间", field="ended_at")
        patrol.status = PatrolStatus.ENDED
        patrol.ended_at = min(ended_at, now + FUTURE_SLACK)
        _recompute(patrol)
    return patrol, True


def _recompute(patrol: Patrol) -> None:
    """Judge the whole track again: a late batch can fill a gap, which changes which later
    fixes are trusted. Called with the patrol row locked."""
    rows = list(PatrolPoint.objects.filter(patrol=patrol).order_by("seq"))
    fixes = [track.Fix(r.seq, r.t, r.lon, r.lat, r.accuracy) for r in rows]
    judged = track.judge(fixes)
    changed = []
    for r, j in zip(rows, judged, strict=True):
        if r.flag != j.flag:
            r.flag = j.flag
            changed.append(r)
    PatrolPoint.objects.bulk_update(changed, ["flag"])
    summary = track.summarise(judged)

    visits: dict[int, list[datetime]] = {}
    for r in rows:
        if r.trusted and r.cell_id:
            span = visits.setdefault(r.cell_id, [r.t, r.t])
            span[0], span[1] = min(span[0], r.t), max(span[1], r.t)
    PatrolCellVisit.objects.filter(patrol=patrol).delete()
    PatrolCellVisit.objects.bulk_create(
        PatrolCellVisit(patrol=patrol, cell_id=c, first_at=a, last_at=b)
        for c, (a, b) in visits.items()
    )
    beat_cells = set(patrol.beat.cells.values_list("pk", flat=True)) if patrol.beat_id else set()
    patrol.distance_m = round(summary.distance_m, 1)
    patrol.points_total = summary.points
    patrol.points_flagged = summary.flagged
    patrol.beat_cells = len(beat_cells)
    patrol.cells_visited = len(set(visits) & beat_cells)
    patrol.coverage = track.coverage(set(visits), beat_cells)
    patrol.duty_seconds = track.duty_seconds(patrol.started_at, patrol.ended_at, summary.last_t)
    patrol.save(
        update_fields=[
            "status",
            "ended_at",
            "distance_m",
            "points_total",
            "points_flagged",
            "beat_cells",
            "cells_visited",
            "coverage",
            "duty_seconds",
        ]
    )


# ---------------------------------------------------------------------------------------------
# Community pairing


def may_record_visit(user: User, pairing: Pairing) -> bool:
    role = effective_role(user)
    if role in ASSESSOR_ROLES:
        return True
    if pairing.leader_id:
        return pairing.leader_id == user.pk
    return bool(user.department_id and user.department_id == pairing.department_id)


def pairings_visible_to(user: User):
    qs = Pairing.objects.select_related("leader", "department", "community")
    if effective_role(user) in SUPERVISOR_ROLES:
        return qs
    return qs.filter(Q(leader=user) | Q(department_id=user.department_id, leader__isnull=True))


@dataclass
class ProblemIn:
    description: str
    route: str
    category: Category | None = None
    lon: float | None = None
    lat: float | None = None
    address: str = ""


@dataclass
class VisitIn:
    visited_on: date
    people: str
    findings: str = ""
    photos: list[tuple[str, bytes]] = field(default_factory=list)
    problems: list[ProblemIn] = field(default_factory=list)


def do_record_visit(
    pairing: Pairing, data: VisitIn, *, acting_user: User, idempotency_key: str = ""
) -> PairingVisit:
    """Record a visit; each problem found becomes a case (through the intake action, so it
    is located, filed and dispatched like any other) or a ledger row of the pair."""
    if not may_record_visit(acting_user, pairing):
        raise Forbidden("只有包联领导、包联单位或中心领导可以记录走访")
    if not data.people.strip():
        raise InvalidInput("请填写参加人员", field="people")
    if data.visited_on > timezone.localdate():
        raise InvalidInput("走访日期不能晚于今天", field="visited_on")
    if data.visited_on < pairing.starts_on or (
        pairing.ends_on and data.visited_on > pairing.ends_on
    ):
        raise InvalidInput("走访日期不在包联期限内", field="visited_on")
    checked = check_photos(data.photos)
    for i, p in enumerate(data.problems):
        if not p.description.strip():
            raise InvalidInput("请描述发现的问题", field=f"problems[{i}].description")
        if p.route not in ProblemRoute.values:
            raise InvalidInput("请选择处理方式", field=f"problems[{i}].route")
        if p.route == ProblemRoute.CASE and p.category is None:
            raise InvalidInput("转为案件须选择问题类别", field=f"problems[{i}].category")
    with transaction.atomic():
        visit = PairingVisit.objects.create(
            pairing=pairing,
            visited_on=data.visited_on,
            people=data.people.strip(),
            findings=data.findings.strip(),
            recorded_by=acting_user,
        )
        for p in checked:
            stem = uuid.uuid4().hex
            photo = VisitPhoto(visit=visit, content_type=p.content_type, sha256=p.sha256)
            photo.file.save(f"{stem}.{p.extension}", ContentFile(p.public_data), save=False)
            photo.thumbnail.save(f"{stem}.jpg", ContentFile(p.thumbnail), save=False)
            photo.save()
        for i, p in enumerate(data.problems):
            problem = VisitProblem(visit=visit, description=p.description.strip(), route=p.route)
            if p.route == ProblemRoute.CASE:
                address = p.address.strip() or pairing.community.name
                key = ""
                if idempotency_key:
                    key = hashlib.sha256(f"{idempotency_key}:{i}".encode()).hexdigest()[:40]
                result = do_report_case(
                    ReportInput(
                        category=p.category,
                        channel=Channel.LEADER,
                        lon=p.lon,
                        lat=p.lat,
                        address=address,
                        description=f"【包村居走访】{p.description.strip()}",
                        reporter_name=str(acting_user),
                    ),
                    acting_user=acting_user,
                    idempotency_key=key or None,
                )
                problem.case = result.case
            problem.save()
    return visit


def do_resolve_problem(problem: VisitProblem, *, measures: str, acting_user: User) -> VisitProblem:
    """Sign off (销号) a ledger row; a problem that became a case closes with its case."""
    if problem.route != ProblemRoute.LEDGER:
        raise Conflict("已转为案件的问题随案件结案，不能在台账销号")
    if not may_record_visit(acting_user, problem.visit.pairing):
        raise Forbidden("无权销号")
    if not measures.strip():
        raise InvalidInput("请填写整改措施", field="measures")
    with transaction.atomic():
        n = VisitProblem.objects.filter(pk=problem.pk, resolved_at__isnull=True).update(
            measures=measures.strip(), resolved_at=timezone.now()
        )
        if n != 1:
            raise Conflict("该问题已销号")
    problem.refresh_from_db()
    return problem


def grade_of(percent: float) -> str:
    for grade, floor in (("A", 90), ("B", 75), ("C", 60), ("D", 40)):
        if percent >= floor:
            return grade
    return "E"


def do_assess_pairing(
    pairing: Pairing,
    *,
    sheet: ScoreSheet,
    year: int,
    quarter: int,
    scores: dict[str, float],
    note: str = "",
    acting_user: User,
) -> PairingAssessment:
    """Score one quarter against the sheet; the result joins the paired person's or unit's
    annual record."""
    if effective_role(acting_user) not in ASSESSOR_ROLES:
        raise Forbidden("只有领导或管理员可以考核")
    if quarter not in (1, 2, 3, 4):
        raise InvalidInput("季度应为 1–4", field="quarter")
    if not 2000 <= year <= 2100:
        raise InvalidInput("年度无效", field="year")
    clean: dict[str, float] = {}
    for item in sheet.items:
        name, top = item["name"], float(item["max"])
        raw = scores.get(name)
        if raw is None or raw == "":
            raise InvalidInput(f"「{name}」未打分", field=f"scores.{name}")
        try:
            v = float(raw)
        except (TypeError, ValueError):
            raise InvalidInput(f"「{name}」应为数字", field=f"scores.{name}") from None
        if not math.isfinite(v) or v < 0 or v > top:
            raise InvalidInput(f"「{name}」应在 0–{top:g} 分之间", field=f"scores.{name}")
        clean[name] = v
    unknown = set(scores) - set(clean)
    if unknown:
        raise InvalidInput(f"评分表中没有「{sorted(unknown)[0]}」", field="scores")
    total = sum(clean.values())
    full = sheet.full_marks or 1.0
    with transaction.atomic():
        Pairing.objects.select_for_update().get(pk=pairing.pk)
        if PairingAssessment.objects.filter(pairing=pairing, year=year, quarter=quarter).exists():
            raise Conflict(f"{year}年第{quarter}季度已考核")
        if pairing.leader_id:
            record, _ = AnnualRecord.objects.get_or_create(user_id=pairing.leader_id, year=year)
        else:
            record, _ = AnnualRecord.objects.get_or_create(
                department_id=pairing.department_id, year=year
            )
        return PairingAssessment.objects.create(
            pairing=pairing,
            sheet=sheet,
            annual_record=record,
            year=year,
            quarter=quarter,
            scores=clean,
            total=round(total, 2),
            grade=grade_of(100 * total / full),
            note=note.strip(),
            assessed_by=acting_user,
        )


# ---------------------------------------------------------------------------------------------
# Surveys

SURVEY_QUESTIONS = [
    ("awareness", "知晓程度"),
    ("participation", "参与程度"),
    ("support", "支持程度"),
]


def do_answer_survey(survey: Survey, *, community_code: str, answers: dict) -> SurveyResponse:
    if not survey.is_open:
        raise Conflict("该调查已结束")
    community = Area.objects.filter(
        code=community_code, level=AreaLevel.COMMUNITY, is_active=True
    ).first()
    if community is None:
        raise InvalidInput("请选择所在村(社区)", field="community")
    values = {}
    for name, label in SURVEY_QUESTIONS:
        raw = answers.get(name)
        try:
            v = int(str(raw).strip())
        except (TypeError, ValueError):
            raise InvalidInput(
                f"「{label}」请选择 1–{survey.scale_max} 之间的分值", field=name
            ) from None
        if not 1 <= v <= survey.scale_max:
            raise InvalidInput(
                f"「{label}」的回答应在 1–{survey.scale_max} 之间，收到的是 {v}", field=name
            )
        values[name] = v
    return SurveyResponse.objects.create(survey=survey, community=community, **values)


@dataclass
class SurveyRow:
    community: Area
    responses: int
    awareness: float
    participation: float
    support: float


def survey_results(survey: Survey) -> list[SurveyRow]:
    """知晓率, 参与率, 支持率 per community: the share answering at or above `positive_from`."""
    by: dict[int, list[SurveyResponse]] = {}
    for r in survey.responses.all():
        by.setdefault(r.community_id, []).append(r)
    areas = Area.objects.in_bulk(list(by)) if by else {}
    rows = []
    for cid, rs in sorted(by.items(), key=lambda kv: areas[kv[0]].code):
        n = len(rs)

        def rate(name: str, rs=rs, n=n) -> float:
            return sum(1 for r in rs if getattr(r, name) >= survey.positive_from) / n

        rows.append(
            SurveyRow(areas[cid], n, rate("awareness"), rate("participation"), rate("support"))
        )
    return rows
