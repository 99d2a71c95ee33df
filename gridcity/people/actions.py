"""Every write in the people app: patrols and their points; pairings, their visits, quarterly
assessments against a score sheet and the annual records they feed; surveys and their answers;
practice-station activities; training sessions and who attended. One transaction each, the
parent row locked, errors as CaseError so the API and the pages answer with a message that
names the field. Records outside the patrol loop get an audit row in the same transaction."""

from __future__ import annotations

import hashlib
import math
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from gridcity.accounts import audit
from gridcity.accounts.models import Department, DepartmentKind, Role, User
from gridcity.cases.actions import ReportInput, do_report_case, effective_role
from gridcity.cases.models import Channel
from gridcity.cases.photos import check_photos
from gridcity.grids.models import Area, AreaLevel, Beat
from gridcity.grids.spatial import get_index
from gridcity.lib.errors import Conflict, Forbidden, InvalidInput, NotFound
from gridcity.lib.text import clean_text
from gridcity.people import track
from gridcity.people.models import (
    ActivityKind,
    AnnualRecord,
    CheckIn,
    CheckInKind,
    CivilisedFamily,
    Commendation,
    ManagerProfile,
    Pairing,
    PairingAssessment,
    PairingVisit,
    Patrol,
    PatrolCellVisit,
    PatrolPoint,
    PatrolStatus,
    ProblemRoute,
    Qualification,
    ScoreSheet,
    Showcase,
    StationActivity,
    Survey,
    SurveyResponse,
    TrainingSession,
    VillageRule,
    VisitPhoto,
    VisitProblem,
)
from gridcity.taxonomy.models import Category

MAX_POINTS_PER_BATCH = 500
# A phone's clock may run a little fast; a fix from further in the future is refused.
FUTURE_SLACK = timedelta(minutes=10)
SUPERVISOR_ROLES = {Role.SHIFT_LEAD, Role.LEADER, Role.ADMIN, Role.INTAKE, Role.DISPATCHER}
ASSESSOR_ROLES = {Role.LEADER, Role.ADMIN}
# The centre staff who run the team's training, the surveys and the stations' calendar.
ORGANISER_ROLES = {Role.LEADER, Role.ADMIN, Role.SHIFT_LEAD}

# ---------------------------------------------------------------------------------------------
# Patrols


def _check_key(key: str) -> str:
    key = (key or "").strip()
    if not key or len(key) > 64:
        raise InvalidInput(gettext("巡查标识应为1–64个字符"), field="key")
    return key


def _aware(t: datetime, name: str) -> datetime:
    if timezone.is_naive(t):
        raise InvalidInput(gettext("时间须带时区（如 +08:00）"), field=name)
    return t


def do_start_patrol(
    *, key: str, started_at: datetime | None = None, acting_user: User
) -> tuple[Patrol, bool]:
    """Open a patrol, or return the one this key already opened (a retried start)."""
    key = _check_key(key)
    if effective_role(acting_user) not in {Role.INSPECTOR, Role.ADMIN}:
        raise Forbidden(gettext("只有网格员可以开始巡查"))
    now = timezone.now()
    started_at = _aware(started_at, "started_at") if started_at else now
    if started_at > now + FUTURE_SLACK:
        raise InvalidInput(gettext("开始时间晚于当前时间"), field="started_at")
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
        raise Forbidden(gettext("这不是您的巡查"), field="key")
    return patrol


def patrol_for(key: str, user: User) -> Patrol:
    patrol = Patrol.objects.filter(key=key).first()
    if patrol is None:
        raise NotFound(gettext("巡查不存在"), field="key")
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
        raise InvalidInput(gettext("序号应为非负整数"), field=f"points[{i}].seq")
    _aware(p.t, f"points[{i}].t")
    if p.t > now + FUTURE_SLACK:
        raise InvalidInput(gettext("定位时间晚于当前时间"), field=f"points[{i}].t")
    for name, v, lim in (("lon", p.lon, 180), ("lat", p.lat, 90)):
        if not isinstance(v, int | float) or not math.isfinite(v) or abs(v) > lim:
            raise InvalidInput(
                gettext("经度超出范围") if name == "lon" else gettext("纬度超出范围"),
                field=f"points[{i}].{name}",
            )
    if p.accuracy is not None and (not math.isfinite(p.accuracy) or p.accuracy < 0):
        raise InvalidInput(gettext("定位精度应为非负数"), field=f"points[{i}].accuracy")


def do_record_points(key: str, points: list[PointIn], *, acting_user: User) -> PointsResult:
    """Store a batch of fixes. A fix is identified by its sequence number within the patrol,
    so a batch sent twice (lost answer, offline resend) stores every fix once."""
    if len(points) > MAX_POINTS_PER_BATCH:
        raise InvalidInput(
            gettext("一批最多 %(n)s 个点") % {"n": MAX_POINTS_PER_BATCH}, field="points"
        )
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
            raise InvalidInput(gettext("结束时间早于开始时间"), field="ended_at")
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
# Check-ins (打卡)

# A check-in queued on a phone that stayed offline for a week is still accepted; an older one
# is more likely a wrong clock than a real day's work.
MAX_CHECKIN_AGE = timedelta(days=7)


def do_check_in(
    *,
    client_key: str,
    kind: str,
    lon: float,
    lat: float,
    at: datetime,
    acting_user: User,
    received_at: datetime | None = None,
) -> tuple[CheckIn, bool]:
    """Record a check-in or check-out from the phone. The phone's key makes a resend (lost
    answer, offline outbox) return the check-in it already made, whatever its age.
    `received_at` (default now) is when the server heard of it: the demo's history sets it."""
    client_key = (client_key or "").strip()
    # Control characters (a NUL above all, which PostgreSQL refuses) are never in a phone's key.
    if not client_key or len(client_key) > 64 or not client_key.isprintable():
        raise InvalidInput(gettext("打卡标识应为1–64个字符"), field="client_key")
    if effective_role(acting_user) not in {Role.INSPECTOR, Role.ADMIN}:
        raise Forbidden(gettext("只有网格员可以打卡"))
    existing = CheckIn.objects.filter(client_key=client_key).first()
    if existing is not None:
        return _own_checkin(existing, acting_user), False
    if kind not in CheckInKind.values:
        raise InvalidInput(gettext("打卡类型应为 in（上班）或 out（下班）"), field="kind")
    for name, v, lim in (("lon", lon, 180), ("lat", lat, 90)):
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise InvalidInput(gettext("应为数字"), field=name)
        if abs(v) > lim:
            raise InvalidInput(
                gettext("经度超出范围") if name == "lon" else gettext("纬度超出范围"), field=name
            )
    if not isinstance(at, datetime) or timezone.is_naive(at):
        raise InvalidInput(gettext("时间须带时区（如 +08:00）"), field="at")
    now = received_at or timezone.now()
    if at > now + FUTURE_SLACK:
        raise InvalidInput(gettext("打卡时间晚于当前时间，请检查手机时间"), field="at")
    if at < now - MAX_CHECKIN_AGE:
        raise InvalidInput(gettext("打卡时间早于7天前，不能补打"), field="at")
    try:
        with transaction.atomic():
            checkin = CheckIn.objects.create(
                client_key=client_key,
                manager=acting_user,
                kind=kind,
                lon=float(lon),
                lat=float(lat),
                at=at,
                received_at=now,
            )
    except IntegrityError:
        # Two copies of the same check-in raced; the other one stored it.
        return _own_checkin(CheckIn.objects.get(client_key=client_key), acting_user), False
    return checkin, True


def _own_checkin(checkin: CheckIn, user: User) -> CheckIn:
    # A 409, not a 403: an outbox retries a 403 (an expired login) but must drop this one.
    if checkin.manager_id != user.pk:
        raise Conflict(gettext("该打卡标识已被他人使用"), field="client_key")
    return checkin


def checkins_of_day(user: User, day: date) -> list[CheckIn]:
    """The user's own check-ins of one local day, in time order."""
    start = timezone.make_aware(datetime.combine(day, datetime.min.time()))
    return list(
        CheckIn.objects.filter(
            manager=user, at__gte=start, at__lt=start + timedelta(days=1)
        ).order_by("at", "pk")
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
    pairing: Pairing,
    data: VisitIn,
    *,
    acting_user: User,
    now: datetime | None = None,
    idempotency_key: str = "",
) -> PairingVisit:
    """Record a visit; each problem found becomes a case (through the intake action, so it
    is located, filed and dispatched like any other) or a ledger row of the pair."""
    if not may_record_visit(acting_user, pairing):
        raise Forbidden(gettext("只有包联领导、包联单位或中心领导可以记录走访"))
    if not data.people.strip():
        raise InvalidInput(gettext("请填写参加人员"), field="people")
    if data.visited_on > timezone.localdate(now):
        raise InvalidInput(gettext("走访日期不能晚于今天"), field="visited_on")
    if data.visited_on < pairing.starts_on or (
        pairing.ends_on and data.visited_on > pairing.ends_on
    ):
        raise InvalidInput(gettext("走访日期不在包联期限内"), field="visited_on")
    checked = check_photos(data.photos)
    for i, p in enumerate(data.problems):
        if not p.description.strip():
            raise InvalidInput(gettext("请描述发现的问题"), field=f"problems[{i}].description")
        if p.route not in ProblemRoute.values:
            raise InvalidInput(gettext("请选择处理方式"), field=f"problems[{i}].route")
        if p.route == ProblemRoute.CASE and p.category is None:
            raise InvalidInput(gettext("转为案件须选择问题类别"), field=f"problems[{i}].category")
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
        audit.record(
            pairing,
            "record_visit",
            actor=acting_user,
            summary=f"记录 {visit.visited_on} 走访：照片 {len(checked)} 张，问题 {len(data.problems)} 个",
            data={"visit": visit.pk, "photos": len(checked), "problems": len(data.problems)},
            at=now,
        )
    return visit


def do_resolve_problem(
    problem: VisitProblem, *, measures: str, acting_user: User, now: datetime | None = None
) -> VisitProblem:
    """Sign off (销号) a ledger row; a problem that became a case closes with its case."""
    if problem.route != ProblemRoute.LEDGER:
        raise Conflict(gettext("已转为案件的问题随案件结案，不能在台账销号"))
    if not may_record_visit(acting_user, problem.visit.pairing):
        raise Forbidden(gettext("无权销号"))
    if not measures.strip():
        raise InvalidInput(gettext("请填写整改措施"), field="measures")
    with transaction.atomic():
        n = VisitProblem.objects.filter(pk=problem.pk, resolved_at__isnull=True).update(
            measures=measures.strip(), resolved_at=(now or timezone.now())
        )
        if n != 1:
            raise Conflict(gettext("该问题已销号"))
        audit.record(
            problem.visit.pairing,
            "resolve_problem",
            actor=acting_user,
            summary=f"销号：{problem.description[:60]}",
            data={"problem": problem.pk, "measures": measures.strip()},
            at=now,
        )
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
    now: datetime | None = None,
) -> PairingAssessment:
    """Score one quarter against the sheet; the result joins the paired person's or unit's
    annual record."""
    if effective_role(acting_user) not in ASSESSOR_ROLES:
        raise Forbidden(gettext("只有领导或管理员可以考核"))
    if quarter not in (1, 2, 3, 4):
        raise InvalidInput(gettext("季度应为 1–4"), field="quarter")
    if not 2000 <= year <= 2100:
        raise InvalidInput(gettext("年度无效"), field="year")
    today = timezone.localdate(now)
    if (year, quarter) > (today.year, (today.month - 1) // 3 + 1):
        raise InvalidInput(
            gettext("%(year)s年第%(quarter)s季度尚未开始，不能考核")
            % {"year": year, "quarter": quarter},
            field="quarter",
        )
    q_first = date(year, 3 * quarter - 2, 1)
    q_last = (date(year, 3 * quarter + 1, 1) if quarter < 4 else date(year + 1, 1, 1)) - timedelta(
        days=1
    )
    if pairing.starts_on > q_last or (pairing.ends_on and pairing.ends_on < q_first):
        raise InvalidInput(
            gettext("%(year)s年第%(quarter)s季度不在包联期限内")
            % {"year": year, "quarter": quarter},
            field="quarter",
        )
    if not sheet.is_active:
        raise InvalidInput(gettext("该评分表已停用，请选择启用的评分表"), field="sheet")
    clean: dict[str, float] = {}
    for item in sheet.items:
        name, top = item["name"], float(item["max"])
        raw = scores.get(name)
        if raw is None or raw == "":
            raise InvalidInput(
                gettext("「%(item)s」未打分") % {"item": name}, field=f"scores.{name}"
            )
        try:
            v = float(raw)
        except (TypeError, ValueError):
            raise InvalidInput(
                gettext("「%(item)s」应为数字") % {"item": name}, field=f"scores.{name}"
            ) from None
        if not math.isfinite(v) or v < 0 or v > top:
            raise InvalidInput(
                gettext("「%(item)s」应在 0–%(top)s 分之间") % {"item": name, "top": f"{top:g}"},
                field=f"scores.{name}",
            )
        clean[name] = v
    unknown = set(scores) - set(clean)
    if unknown:
        raise InvalidInput(
            gettext("评分表中没有「%(item)s」") % {"item": sorted(unknown)[0]}, field="scores"
        )
    total = sum(clean.values())
    full = sheet.full_marks or 1.0
    with transaction.atomic():
        Pairing.objects.select_for_update().get(pk=pairing.pk)
        if PairingAssessment.objects.filter(pairing=pairing, year=year, quarter=quarter).exists():
            raise Conflict(
                gettext("%(year)s年第%(quarter)s季度已考核") % {"year": year, "quarter": quarter}
            )
        if pairing.leader_id:
            record, _ = AnnualRecord.objects.get_or_create(user_id=pairing.leader_id, year=year)
        else:
            record, _ = AnnualRecord.objects.get_or_create(
                department_id=pairing.department_id, year=year
            )
        assessment = PairingAssessment.objects.create(
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
        audit.record(
            pairing,
            "assess_pairing",
            actor=acting_user,
            summary=(
                f"{year}年第{quarter}季度考核（{sheet.name}）：{assessment.total:g} 分，"
                f"{assessment.grade}"
            ),
            data={"assessment": assessment.pk, "sheet": sheet.pk, "scores": clean},
            at=now,
        )
    return assessment


# ---------------------------------------------------------------------------------------------
# Surveys

SURVEY_QUESTIONS = [
    ("awareness", gettext_noop("知晓程度")),
    ("participation", gettext_noop("参与程度")),
    ("support", gettext_noop("支持程度")),
]


def do_answer_survey(survey: Survey, *, community_code: str, answers: dict) -> SurveyResponse:
    if not survey.is_open:
        raise Conflict(gettext("该调查已结束"))
    community = Area.objects.filter(
        code=community_code, level=AreaLevel.COMMUNITY, is_active=True
    ).first()
    if community is None:
        raise InvalidInput(gettext("请选择所在村(社区)"), field="community")
    values = {}
    for name, label in SURVEY_QUESTIONS:
        raw = answers.get(name)
        try:
            v = int(str(raw).strip())
        except (TypeError, ValueError):
            raise InvalidInput(
                gettext("「%(question)s」请选择 1–%(top)s 之间的分值")
                % {"question": gettext(label), "top": survey.scale_max},
                field=name,
            ) from None
        if not 1 <= v <= survey.scale_max:
            raise InvalidInput(
                gettext("「%(question)s」的回答应在 1–%(top)s 之间，收到的是 %(value)s")
                % {"question": gettext(label), "top": survey.scale_max, "value": v},
                field=name,
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


# ---------------------------------------------------------------------------------------------
# Pairings, score sheets and annual records: set up and closed by the centre's leaders


def _require(user: User, roles: set[str], message: str) -> None:
    if effective_role(user) not in roles:
        raise Forbidden(message)


def _clean_text(value: str, limit: int, label: str, name: str, *, required: bool = False) -> str:
    # Names, titles and places (up to 200 characters) are one line; tasks, reasons and the
    # village rules are paragraphs and keep their line breaks.
    value = clean_text(value, multiline=limit > 200)
    if required and not value:
        raise InvalidInput(gettext("请填写%(label)s") % {"label": label}, field=name)
    if len(value) > limit:
        raise InvalidInput(
            gettext("%(label)s最多 %(n)s 个字") % {"label": label, "n": limit}, field=name
        )
    return value


def _visits_per_month(value) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise InvalidInput(gettext("每月应走访次数应为整数"), field="visits_per_month") from None
    if not 1 <= n <= 31:
        raise InvalidInput(gettext("每月应走访次数应在 1–31 之间"), field="visits_per_month")
    return n


def do_create_pairing(
    *,
    community: Area,
    starts_on: date,
    leader: User | None = None,
    department: Department | None = None,
    ends_on: date | None = None,
    tasks: str = "",
    requirements: str = "",
    visits_per_month: int = 1,
    acting_user: User,
    now: datetime | None = None,
) -> Pairing:
    """Pair a leader or a department with a village or community for a period. The same
    subject may not be paired twice with one community over overlapping periods."""
    _require(acting_user, ASSESSOR_ROLES, gettext("只有领导或管理员可以建立包村居结对"))
    if (leader is None) == (department is None):
        raise InvalidInput(gettext("请选择包联领导或包联单位（二选一）"), field="leader")
    if leader is not None and not leader.is_active:
        raise InvalidInput(gettext("该用户已停用"), field="leader")
    if community is None or community.level != AreaLevel.COMMUNITY or not community.is_active:
        raise InvalidInput(gettext("请选择村(社区)"), field="community")
    if ends_on is not None and ends_on < starts_on:
        raise InvalidInput(gettext("结束日期不能早于开始日期"), field="ends_on")
    tasks = _clean_text(tasks, 2000, gettext("包联任务"), "tasks")
    requirements = _clean_text(requirements, 2000, gettext("工作要求"), "requirements")
    per_month = _visits_per_month(visits_per_month)
    with transaction.atomic():
        # Lock the community so two leaders' simultaneous forms cannot both pass the overlap check.
        Area.objects.select_for_update().filter(pk=community.pk).first()
        same = Pairing.objects.filter(community=community).filter(
            Q(leader=leader) if leader is not None else Q(department=department)
        )
        overlapping = same.filter(Q(ends_on__isnull=True) | Q(ends_on__gte=starts_on))
        if ends_on is not None:
            overlapping = overlapping.filter(starts_on__lte=ends_on)
        if overlapping.exists():
            who = str(leader or department)
            raise Conflict(
                gettext("%(who)s与%(community)s在该期限内已有结对")
                % {"who": who, "community": community.name},
                field="community",
            )
        pairing = Pairing.objects.create(
            leader=leader,
            department=department,
            community=community,
            starts_on=starts_on,
            ends_on=ends_on,
            tasks=tasks,
            requirements=requirements,
            visits_per_month=per_month,
        )
        audit.record(
            pairing,
            "create_pairing",
            actor=acting_user,
            summary=f"建立结对：{pairing.subject_name} ↔ {community.name}，自 {starts_on} 起",
            data={
                "leader": leader.pk if leader else None,
                "department": department.pk if department else None,
                "community": community.code,
                "starts_on": starts_on.isoformat(),
                "ends_on": ends_on.isoformat() if ends_on else None,
            },
            at=now,
        )
    return pairing


def do_update_pairing(
    pairing: Pairing,
    *,
    tasks: str,
    requirements: str,
    visits_per_month: int,
    ends_on: date | None,
    acting_user: User,
) -> Pairing:
    """Change the tasks, the requirements, the visit frequency or the planned end of a pairing
    that is still running (a pairing ended early is closed with do_end_pairing)."""
    _require(acting_user, ASSESSOR_ROLES, gettext("只有领导或管理员可以修改结对"))
    tasks = _clean_text(tasks, 2000, gettext("包联任务"), "tasks")
    requirements = _clean_text(requirements, 2000, gettext("工作要求"), "requirements")
    per_month = _visits_per_month(visits_per_month)
    today = timezone.localdate()
    with transaction.atomic():
        pairing = Pairing.objects.select_for_update().get(pk=pairing.pk)
        if pairing.ends_on is not None and pairing.ends_on < today:
            raise Conflict(gettext("结对已结束，不能修改"))
        if ends_on is not None and ends_on < max(pairing.starts_on, today):
            raise InvalidInput(
                gettext("计划结束日期不能早于今天；提前结束请用“结束结对”"), field="ends_on"
            )
        new = {
            "tasks": tasks,
            "requirements": requirements,
            "visits_per_month": per_month,
            "ends_on": ends_on,
        }
        changed = {k: v for k, v in new.items() if getattr(pairing, k) != v}
        if not changed:
            return pairing
        for k, v in changed.items():
            setattr(pairing, k, v)
        pairing.save(update_fields=list(changed))
        labels = {
            "tasks": "包联任务",
            "requirements": "工作要求",
            "visits_per_month": "走访频次",
            "ends_on": "结束日期",
        }
        audit.record(
            pairing,
            "update_pairing",
            actor=acting_user,
            summary="修改" + "、".join(labels[k] for k in changed),
            data={k: (v.isoformat() if isinstance(v, date) else v) for k, v in changed.items()},
        )
    return pairing


def do_end_pairing(
    pairing: Pairing, *, ends_on: date | None = None, reason: str, acting_user: User
) -> Pairing:
    """End a pairing on a day (today by default): no visit or assessment after it."""
    _require(acting_user, ASSESSOR_ROLES, gettext("只有领导或管理员可以结束结对"))
    reason = _clean_text(reason, 300, gettext("结束原因"), "reason", required=True)
    today = timezone.localdate()
    ends_on = ends_on or today
    if ends_on > today:
        raise InvalidInput(
            gettext("结束日期不能晚于今天；计划结束日期请在“修改结对”中设置"), field="ends_on"
        )
    with transaction.atomic():
        pairing = Pairing.objects.select_for_update().get(pk=pairing.pk)
        if pairing.ends_on is not None and pairing.ends_on < today:
            raise Conflict(gettext("结对已于 %(day)s 结束") % {"day": pairing.ends_on})
        if ends_on < pairing.starts_on:
            raise InvalidInput(gettext("结束日期不能早于开始日期"), field="ends_on")
        last_visit = pairing.visits.order_by("-visited_on").values_list("visited_on", flat=True)
        if last_visit and last_visit[0] > ends_on:
            raise InvalidInput(
                gettext("%(day)s 还有走访记录，结束日期不能早于它") % {"day": last_visit[0]},
                field="ends_on",
            )
        pairing.ends_on = ends_on
        pairing.save(update_fields=["ends_on"])
        audit.record(
            pairing,
            "end_pairing",
            actor=acting_user,
            summary=f"结束结对（{ends_on}）：{reason}",
            data={"ends_on": ends_on.isoformat(), "reason": reason},
        )
    return pairing


def _score_items(items: list[tuple[str, object]]) -> list[dict]:
    clean: list[dict] = []
    seen: set[str] = set()
    for i, (name, top) in enumerate(items):
        name = (name or "").strip()
        if not name:
            raise InvalidInput(gettext("第 %(n)s 项缺少名称") % {"n": i + 1}, field="items")
        if len(name) > 50:
            raise InvalidInput(
                gettext("评分项「%(item)s…」名称过长（最多 50 字）") % {"item": name[:20]},
                field="items",
            )
        if name in seen:
            raise InvalidInput(gettext("评分项「%(item)s」重复") % {"item": name}, field="items")
        try:
            v = float(top)
        except (TypeError, ValueError):
            raise InvalidInput(
                gettext("评分项「%(item)s」的满分应为数字") % {"item": name}, field="items"
            ) from None
        if not math.isfinite(v) or not 0 < v <= 1000:
            raise InvalidInput(
                gettext("评分项「%(item)s」的满分应大于 0、不超过 1000") % {"item": name},
                field="items",
            )
        seen.add(name)
        clean.append({"name": name, "max": int(v) if v.is_integer() else v})
    if not clean:
        raise InvalidInput(gettext("评分表至少要有一个评分项"), field="items")
    if len(clean) > 30:
        raise InvalidInput(gettext("评分表最多 30 个评分项"), field="items")
    return clean


def do_create_score_sheet(
    *, name: str, items: list[tuple[str, object]], acting_user: User, now: datetime | None = None
) -> ScoreSheet:
    """The centre's assessment criteria: named items with their full marks."""
    _require(acting_user, ASSESSOR_ROLES, gettext("只有领导或管理员可以制定考核评分表"))
    name = _clean_text(name, 100, gettext("评分表名称"), "name", required=True)
    clean = _score_items(items)
    with transaction.atomic():
        if ScoreSheet.objects.filter(name=name, is_active=True).exists():
            raise Conflict(gettext("已有启用的评分表「%(name)s」") % {"name": name}, field="name")
        sheet = ScoreSheet.objects.create(name=name, items=clean)
        audit.record(
            sheet,
            "create_score_sheet",
            actor=acting_user,
            summary=f"制定评分表「{name}」：{len(clean)} 项，满分 {sheet.full_marks:g}",
            data={"items": clean},
            at=now,
        )
    return sheet


def do_set_score_sheet_active(sheet: ScoreSheet, *, active: bool, acting_user: User) -> ScoreSheet:
    """Retire a sheet (assessments already made with it keep it) or bring it back."""
    _require(acting_user, ASSESSOR_ROLES, gettext("只有领导或管理员可以停用或启用评分表"))
    with transaction.atomic():
        sheet = ScoreSheet.objects.select_for_update().get(pk=sheet.pk)
        if sheet.is_active == active:
            return sheet
        sheet.is_active = active
        sheet.save(update_fields=["is_active"])
        audit.record(
            sheet,
            "enable_score_sheet" if active else "disable_score_sheet",
            actor=acting_user,
            summary="启用评分表" if active else "停用评分表",
        )
    return sheet


def annual_score(percentages: list[float]) -> tuple[float, str]:
    """The year's score is the mean of its quarterly results as percentages of full marks (a
    sheet may total 100 or 120); the grade uses the same bands as a quarter."""
    score = round(sum(percentages) / len(percentages), 1)
    return score, grade_of(score)


def do_compile_annual_record(
    record: AnnualRecord, *, acting_user: User, now: datetime | None = None
) -> AnnualRecord:
    """Compute and store the year's score and grade from its quarterly assessments; run again
    after a later quarter is assessed."""
    _require(acting_user, ASSESSOR_ROLES, gettext("只有领导或管理员可以计算年度绩效"))
    with transaction.atomic():
        record = AnnualRecord.objects.select_for_update().get(pk=record.pk)
        assessments = list(record.assessments.select_related("sheet"))
        if not assessments:
            raise Conflict(gettext("%(year)s年度还没有季度考核，无法计算") % {"year": record.year})
        percentages = [100 * a.total / (a.sheet.full_marks or 1.0) for a in assessments]
        score, grade = annual_score(percentages)
        before = (record.score, record.grade)
        record.score, record.grade = score, grade
        record.assessments_counted = len(assessments)
        record.compiled_at = now or timezone.now()
        record.compiled_by = acting_user
        record.save(
            update_fields=["score", "grade", "assessments_counted", "compiled_at", "compiled_by"]
        )
        audit.record(
            record,
            "compile_annual_record",
            actor=acting_user,
            summary=f"按 {len(assessments)} 次季度考核计算年度绩效：{score:g} 分，{grade}",
            data={
                "score": score,
                "grade": grade,
                "assessments": [a.pk for a in assessments],
                "before": {"score": before[0], "grade": before[1]},
            },
            at=now,
        )
    return record


# ---------------------------------------------------------------------------------------------
# Surveys


def survey_questions(survey: Survey) -> list[tuple[str, str]]:
    """(answer column, wording) of the survey's three questions."""
    wording = survey.questions or {}
    return [(name, wording.get(name) or label) for name, label in SURVEY_QUESTIONS]


def do_create_survey(
    *,
    title: str,
    questions: dict[str, str] | None = None,
    scale_max: int = 5,
    positive_from: int = 4,
    acting_user: User,
    now: datetime | None = None,
) -> Survey:
    """A questionnaire for the public: three questions answered on a scale, counted as
    知晓率, 参与率 and 支持率 per community."""
    _require(acting_user, ORGANISER_ROLES, gettext("只有中心领导、值班长或管理员可以发起调查"))
    title = _clean_text(title, 200, gettext("调查名称"), "title", required=True)
    try:
        scale_max, positive_from = int(scale_max), int(positive_from)
    except (TypeError, ValueError):
        raise InvalidInput(gettext("量表分值应为整数"), field="scale_max") from None
    if not 3 <= scale_max <= 10:
        raise InvalidInput(gettext("量表最高分应在 3–10 之间"), field="scale_max")
    if not 2 <= positive_from <= scale_max:
        raise InvalidInput(
            gettext("计为肯定的最低分应在 2–%(top)s 之间") % {"top": scale_max},
            field="positive_from",
        )
    wording = {}
    for name, label in SURVEY_QUESTIONS:
        text = _clean_text(
            (questions or {}).get(name, ""),
            200,
            gettext("「%(question)s」题目") % {"question": gettext(label)},
            name,
        )
        wording[name] = text or f"您对本社区城市治理工作的{label}"
    with transaction.atomic():
        survey = Survey.objects.create(
            title=title, scale_max=scale_max, positive_from=positive_from, questions=wording
        )
        audit.record(
            survey,
            "create_survey",
            actor=acting_user,
            summary=f"发起调查「{title}」（1–{scale_max} 分，≥{positive_from} 计为肯定）",
            data={"questions": wording},
            at=now,
        )
    return survey


def do_close_survey(survey: Survey, *, acting_user: User) -> Survey:
    _require(acting_user, ORGANISER_ROLES, gettext("只有中心领导、值班长或管理员可以结束调查"))
    with transaction.atomic():
        n = Survey.objects.filter(pk=survey.pk, is_open=True).update(is_open=False)
        if n != 1:
            raise Conflict(gettext("该调查已结束"))
        audit.record(
            survey,
            "close_survey",
            actor=acting_user,
            summary=f"结束调查，共 {survey.responses.count()} 份回答",
        )
    survey.refresh_from_db()
    return survey


# ---------------------------------------------------------------------------------------------
# Practice-station activities (新时代文明实践站)


def may_record_activity(user: User, community: Area | None = None) -> bool:
    """The centre's organisers for any community; a street office's staff for the
    communities of their street (the stations are run by the streets)."""
    if effective_role(user) in ORGANISER_ROLES:
        return True
    dept = user.department if user.department_id else None
    if dept is None or dept.kind != DepartmentKind.TERRITORIAL:
        return False
    if community is None:
        return True
    return (
        bool(community.parent_id)
        and Area.objects.filter(pk=community.parent_id, fallback_department=dept).exists()
    )


def do_record_activity(
    *,
    station: str,
    kind: str,
    theme: str,
    held_at: datetime,
    place: str,
    community: Area | None = None,
    attendance: int | None = None,
    photo: tuple[str, bytes] | None = None,
    acting_user: User,
    now: datetime | None = None,
) -> StationActivity:
    """An activity of a practice station, announced or held. Its photo goes on the public
    page, so only a copy stripped of every piece of metadata (EXIF GPS, camera) is stored."""
    if not may_record_activity(acting_user, community):
        raise Forbidden(gettext("只有中心或所在街道的工作人员可以登记文明实践活动"))
    station = _clean_text(station, 100, gettext("文明实践站"), "station", required=True)
    theme = _clean_text(theme, 200, gettext("活动主题"), "theme", required=True)
    place = _clean_text(place, 200, gettext("活动地点"), "place", required=True)
    if kind not in ActivityKind.values:
        raise InvalidInput(gettext("请选择活动类型"), field="kind")
    _aware(held_at, "held_at")
    if community is not None and community.level != AreaLevel.COMMUNITY:
        raise InvalidInput(gettext("请选择村(社区)"), field="community")
    if attendance is not None:
        if attendance < 0 or attendance > 100_000:
            raise InvalidInput(gettext("参与人数应为 0–100000 之间的整数"), field="attendance")
        if held_at > (now or timezone.now()):
            raise InvalidInput(gettext("活动尚未举行，不能填写参与人数"), field="attendance")
    checked = check_photos([photo], field="photo")[0] if photo else None
    with transaction.atomic():
        activity = StationActivity(
            station=station,
            community=community,
            kind=kind,
            theme=theme,
            held_at=held_at,
            place=place,
            attendance=attendance,
        )
        if checked is not None:
            activity.photo.save(
                f"{uuid.uuid4().hex}.{checked.extension}",
                ContentFile(checked.public_data),
                save=False,
            )
        activity.save()
        audit.record(
            activity,
            "record_activity",
            actor=acting_user,
            summary=f"登记活动「{theme}」（{station}）",
            data={"held_at": held_at.isoformat(), "photo": bool(checked)},
            at=now,
        )
    return activity


# ---------------------------------------------------------------------------------------------
# Training


def do_create_training(
    *,
    title: str,
    held_on: date,
    place: str = "",
    hours: object = 2,
    qualification: str = "",
    qualification_years: int | None = None,
    acting_user: User,
    now: datetime | None = None,
) -> TrainingSession:
    """A training course for the grid managers; a certifying course names the qualification
    each attendee gets."""
    _require(acting_user, ORGANISER_ROLES, gettext("只有中心领导、值班长或管理员可以安排培训"))
    title = _clean_text(title, 200, gettext("培训主题"), "title", required=True)
    place = _clean_text(place, 200, gettext("地点"), "place")
    qualification = _clean_text(qualification, 200, gettext("结业取得资格"), "qualification")
    try:
        hrs = Decimal(str(hours)).quantize(Decimal("0.1"))
    except (InvalidOperation, ValueError):
        raise InvalidInput(gettext("学时应为数字，如 2 或 1.5"), field="hours") from None
    if not Decimal("0.5") <= hrs <= Decimal("99"):
        raise InvalidInput(gettext("学时应在 0.5–99 之间"), field="hours")
    if qualification_years is not None and not 1 <= qualification_years <= 20:
        raise InvalidInput(gettext("资格有效期应在 1–20 年之间"), field="qualification_years")
    if qualification_years and not qualification:
        raise InvalidInput(gettext("填写了有效期，请同时填写取得的资格"), field="qualification")
    with transaction.atomic():
        session = TrainingSession.objects.create(
            title=title,
            held_on=held_on,
            place=place,
            hours=hrs,
            qualification=qualification,
            qualification_years=qualification_years,
        )
        audit.record(
            session,
            "create_training",
            actor=acting_user,
            summary=f"安排培训「{title}」（{held_on}，{hrs} 学时）",
            data={"qualification": qualification, "years": qualification_years},
            at=now,
        )
    return session


def _years_later(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


def do_record_attendance(
    session: TrainingSession,
    *,
    attendees: list[User],
    acting_user: User,
    now: datetime | None = None,
) -> TrainingSession:
    """Set who attended a course that has taken place. Each attendee gets a team record
    (ManagerProfile) if she had none and, for a certifying course, its qualification; one
    taken off the list loses the qualification this course gave her."""
    _require(acting_user, ORGANISER_ROLES, gettext("只有中心领导、值班长或管理员可以登记培训签到"))
    if session.held_on > timezone.localdate(now):
        raise InvalidInput(gettext("培训尚未举行，不能登记签到"), field="attendees")
    for u in attendees:
        if u.role != Role.INSPECTOR or not u.is_active:
            raise InvalidInput(gettext("%(user)s 不是在职网格员") % {"user": u}, field="attendees")
    wanted = {u.pk: u for u in attendees}
    with transaction.atomic():
        session = TrainingSession.objects.select_for_update().get(pk=session.pk)
        present = set(session.attendees.values_list("pk", flat=True))
        added = [wanted[pk] for pk in wanted if pk not in present]
        removed = sorted(present - set(wanted))
        if not added and not removed:
            return session
        session.attendees.add(*added)
        session.attendees.remove(*removed)
        for u in added:
            ManagerProfile.objects.get_or_create(user=u)
        if session.qualification:
            expires = (
                _years_later(session.held_on, session.qualification_years)
                if session.qualification_years
                else None
            )
            have = set(
                Qualification.objects.filter(training=session).values_list("user_id", flat=True)
            )
            Qualification.objects.bulk_create(
                Qualification(
                    user=u,
                    name=session.qualification,
                    issued_on=session.held_on,
                    expires_on=expires,
                    training=session,
                )
                for u in added
                if u.pk not in have
            )
        Qualification.objects.filter(training=session, user_id__in=removed).delete()
        audit.record(
            session,
            "record_attendance",
            actor=acting_user,
            summary=f"登记签到：新增 {len(added)} 人，移除 {len(removed)} 人，"
            f"共 {len(wanted)} 人参训",
            data={"added": [u.pk for u in added], "removed": removed, "total": len(wanted)},
            at=now,
        )
    return session


# ---------------------------------------------------------------------------------------------
# Commendations, community rules and showcases


def do_record_commendation(
    *,
    user: User,
    title: str,
    awarded_on: date,
    reason: str,
    amount: Decimal | None = None,
    acting_user: User,
    now: datetime | None = None,
) -> Commendation:
    """A commendation or reward of a grid manager, shown on her page."""
    _require(acting_user, ORGANISER_ROLES, gettext("只有中心领导、值班长或管理员可以记录表彰奖励"))
    if user.role != Role.INSPECTOR:
        raise InvalidInput(gettext("%(user)s 不是网格员") % {"user": user}, field="user")
    title = _clean_text(title, 200, gettext("表彰奖励"), "title", required=True)
    reason = _clean_text(reason, 2000, gettext("事由"), "reason", required=True)
    if awarded_on > timezone.localdate(now):
        raise InvalidInput(gettext("日期不能晚于今天"), field="awarded_on")
    if amount is not None and not Decimal("0") <= Decimal(amount) < Decimal("10000000"):
        raise InvalidInput(gettext("奖金应为非负金额"), field="amount")
    with transaction.atomic():
        commendation = Commendation.objects.create(
            user=user, title=title, awarded_on=awarded_on, reason=reason, amount=amount
        )
        audit.record(
            commendation,
            "record_commendation",
            actor=acting_user,
            summary=f"{user}：{title}",
            data={"amount": str(amount) if amount is not None else None},
            at=now,
        )
    return commendation


def do_set_village_rule(
    *,
    community: Area,
    text: str,
    adopted_on: date | None = None,
    acting_user: User,
    now: datetime | None = None,
) -> VillageRule:
    """Record a community's rules (村规民约) as adopted, replacing the earlier text."""
    if not may_record_activity(acting_user, community):
        raise Forbidden(gettext("只有中心或所在街道的工作人员可以录入村规民约"))
    if community.level != AreaLevel.COMMUNITY:
        raise InvalidInput(gettext("请选择村(社区)"), field="community")
    text = _clean_text(text, 10_000, gettext("村规民约"), "text", required=True)
    with transaction.atomic():
        rule, created = VillageRule.objects.update_or_create(
            community=community, defaults={"text": text, "adopted_on": adopted_on}
        )
        audit.record(
            rule,
            "set_village_rule",
            actor=acting_user,
            summary=f"{'录入' if created else '修订'}{community.name}村规民约",
            data={"adopted_on": adopted_on.isoformat() if adopted_on else None},
            at=now,
        )
    return rule


def do_add_civilised_family(
    *,
    community: Area,
    year: int,
    family: str,
    reason: str = "",
    acting_user: User,
    now: datetime | None = None,
) -> CivilisedFamily:
    if not may_record_activity(acting_user, community):
        raise Forbidden(gettext("只有中心或所在街道的工作人员可以录入文明家庭"))
    if community.level != AreaLevel.COMMUNITY:
        raise InvalidInput(gettext("请选择村(社区)"), field="community")
    if not 2000 <= year <= timezone.localdate(now).year:
        raise InvalidInput(gettext("年度无效"), field="year")
    family = _clean_text(family, 100, gettext("家庭"), "family", required=True)
    reason = _clean_text(reason, 2000, gettext("事迹"), "reason")
    with transaction.atomic():
        row = CivilisedFamily.objects.create(
            community=community, year=year, family=family, reason=reason
        )
        audit.record(
            row,
            "add_civilised_family",
            actor=acting_user,
            summary=f"{community.name} {year} 年度文明家庭：{family}",
            at=now,
        )
    return row


def do_create_showcase(
    *, case, before, after, caption: str, acting_user: User, now: datetime | None = None
) -> Showcase:
    """Show a fixed problem on the public page: only the stripped public copies of its photos,
    and nothing about who reported it."""
    _require(acting_user, ORGANISER_ROLES, gettext("只有中心领导、值班长或管理员可以发布整改成效"))
    caption = _clean_text(caption, 200, gettext("说明"), "caption", required=True)
    showcase = Showcase(
        case=case, before=before, after=after, caption=caption, chosen_by=acting_user
    )
    try:
        showcase.clean()
    except DjangoValidationError as exc:
        fields = getattr(exc, "error_dict", {})
        name = next(iter(fields), None)
        raise InvalidInput(gettext("；").join(exc.messages), field=name or "case") from None
    with transaction.atomic():
        if Showcase.objects.filter(case=case).exists():
            raise Conflict(gettext("该案件已展示"), field="case")
        showcase.save()
        audit.record(
            showcase,
            "create_showcase",
            actor=acting_user,
            summary=f"发布整改成效：{caption}（{case.number}）",
            at=now,
        )
    return showcase
