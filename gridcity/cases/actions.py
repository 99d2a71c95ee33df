"""Every write to a case goes through these actions: one transaction, the case row locked,
one immutable event per state change, side effects after commit."""

import hashlib
import json
import math
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext

from gridcity.accounts.access import effective_role
from gridcity.accounts.actions import get_system_user
from gridcity.accounts.models import CENTRE_ROLES, Department, Role, User
from gridcity.cases import hooks
from gridcity.cases.facts import CaseRow, EventRow, refresh_case_facts, write_new_case_facts
from gridcity.cases.models import (
    OPEN,
    PUBLIC_CHANNELS,
    Addressee,
    Attachment,
    AttachmentKind,
    Case,
    CaseEvent,
    Channel,
    Report,
    StaleDay,
    Status,
    SupervisionKind,
    SupervisionOrder,
)
from gridcity.cases.photos import CheckedPhoto, PhotoError, check_photo, check_photos
from gridcity.cases.rows import insert_rows, insert_sql, mark_saved
from gridcity.cases.scope import jurisdiction_path, visible_to
from gridcity.cases.workflow import (
    BY_ACTION,
    STEP_LABELS,
    STEP_OF_STATUS,
    STEP_OWNERS,
    Scope,
    Transition,
    transitions_from,
)
from gridcity.dispatch.actions import cached_department, decide_for, first_condition
from gridcity.grids.actions import beat_manager_for_cell, locate, position_problem
from gridcity.grids.models import Area, Beat, Component, PositionProblem
from gridcity.lib.bounds import check_date, check_time_limit
from gridcity.lib.coords import CRS, to_wgs84, validate_lonlat
from gridcity.lib.errors import Conflict, Forbidden, IllegalTransition, InvalidInput, NotFound
from gridcity.lib.text import clean_text
from gridcity.lib.workcalendar import Clock, WorkCalendar, parse_time_limit
from gridcity.system.metrics import count_intake
from gridcity.taxonomy.actions import get_calendar, handle_limit, step_limit
from gridcity.taxonomy.models import Category, FilingCondition

# ---------------------------------------------------------------------------------------------
# Intake


@dataclass
class ReportInput:
    category: Category
    # Empty: the channel follows from who reports (`report_channel`).
    channel: str = ""
    lon: float | None = None
    lat: float | None = None
    crs: str = CRS.WGS84
    address: str = ""
    description: str = ""
    reporter_name: str = ""
    reporter_phone: str = ""
    reporter_email: str = ""
    filing_condition: FilingCondition | None = None
    component_code: str = ""
    photos: list[tuple[str, bytes]] = field(default_factory=list)
    reported_at: datetime | None = None
    external_id: str = ""
    extra: dict = field(default_factory=dict)

    def fingerprint(self) -> str:
        """What makes two submissions 'the same report' for idempotency."""
        body = {
            "category": self.category.pk,
            "channel": self.channel,
            "lon": None if self.lon is None else round(float(self.lon), 7),
            "lat": None if self.lat is None else round(float(self.lat), 7),
            "crs": str(self.crs),
            "address": self.address.strip(),
            "description": self.description.strip(),
            "condition": self.filing_condition.pk if self.filing_condition else None,
            "component": self.component_code,
            "photos": sorted(hashlib.sha256(d).hexdigest() for _, d in self.photos),
        }
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


# Who may report through which channel; the first is the one a report without a channel gets.
# The channel decides whether a case is trusted (filed and dispatched at once) and whose beat a
# problem the public found is charged to, so it follows from who reports, never from what a
# request says. A sensor reports through its device token (gridcity.sensors), a partner system
# through its Open311 key (channel open311) and a citizen through /public/ (channel citizen):
# each of those entries sets the channel itself. A clerk taking calls may record a caller who
# came in person as a citizen's report; both are verified on site before filing. Department
# staff answer cases and do not report them (their pages have no report form).
REPORT_CHANNELS: dict[str, tuple[str, ...]] = {
    Role.INSPECTOR: (Channel.INSPECTOR,),
    Role.LEADER: (Channel.LEADER,),
    Role.INTAKE: (Channel.HOTLINE, Channel.CITIZEN),
    Role.SHIFT_LEAD: (Channel.HOTLINE, Channel.CITIZEN),
    Role.ADMIN: (Channel.HOTLINE, Channel.CITIZEN),
    Role.SYSTEM: (Channel.SENSOR, Channel.CAMERA),
}


def report_channel(user: User, requested: str | None = None) -> str:
    """The channel of a report `user` sends, `requested` being what the request asked for:
    the user's own channel, or one of the few its role may choose between."""
    allowed = REPORT_CHANNELS.get(effective_role(user), ())
    if not allowed:
        raise Forbidden(
            gettext("您的角色不能上报案件：部门人员在处置中发现的新问题请报监督指挥中心")
        )
    if not requested:
        return allowed[0]
    if requested not in allowed:
        names = "、".join(f"{c}（{Channel(c).label}）" for c in allowed)
        raise Forbidden(
            gettext("不能以“%(value)s”渠道上报：您的角色只能使用 %(names)s")
            % {
                "value": Channel(requested).label if requested in Channel.values else requested,
                "names": names,
            },
            field="channel",
        )
    return requested


def _cleaned(inp: ReportInput) -> ReportInput:
    """The input with its typed text cleaned (gridcity.lib.text); the caller's object is left
    as it was."""
    return replace(
        inp,
        address=clean_text(inp.address),
        description=clean_text(inp.description, multiline=True),
        reporter_name=clean_text(inp.reporter_name),
        reporter_phone=clean_text(inp.reporter_phone),
        reporter_email=clean_text(inp.reporter_email),
        component_code=clean_text(inp.component_code),
        external_id=clean_text(inp.external_id),
    )


@dataclass
class IntakeResult:
    case: Case
    report: Report
    created: bool  # False when an idempotent retry returned the earlier result
    linked_to_existing: bool = False


def _check_input(inp: ReportInput) -> tuple[float | None, float | None, list[CheckedPhoto]]:
    if inp.channel not in Channel.values:
        raise InvalidInput(
            gettext("未知的上报渠道：%(channel)s") % {"channel": inp.channel}, field="channel"
        )
    if len(inp.description) > 4000:
        raise InvalidInput(gettext("问题描述不能超过4000字"), field="description")
    lon = lat = None
    if inp.lon is not None or inp.lat is not None:
        if inp.lon is None or inp.lat is None:
            raise InvalidInput(
                gettext("经度和纬度必须同时提供"), field="lon" if inp.lon is None else "lat"
            )
        try:
            validate_lonlat(inp.lon, inp.lat)
            lon, lat = to_wgs84(float(inp.lon), float(inp.lat), CRS(inp.crs))
        except ValueError as exc:
            msg = str(exc)
            raise InvalidInput(
                msg, field="lat" if "纬度" in msg else ("crs" if "坐标系" in msg else "lon")
            ) from exc
    elif not inp.address.strip() and not inp.category.place_free:
        raise InvalidInput(gettext("请提供位置（经纬度）或地址"), field="lon")
    if inp.filing_condition and inp.filing_condition.category_id != inp.category.pk:
        raise InvalidInput(gettext("立案条件不属于该类别"), field="filing_condition")
    return lon, lat, check_photos(inp.photos)


def _search_box(category: Category, lon: float, lat: float) -> tuple[float, float]:
    """Half the width and height, in degrees, of the box around a point that holds every point
    within the category's duplicate radius."""
    radius = category.duplicate_radius_m
    return (
        radius / (111_320.0 * max(math.cos(math.radians(lat)), 0.01)),
        radius / 110_574.0,
    )


def _find_duplicate(
    category: Category, lon: float, lat: float, reported_at: datetime
) -> Case | None:
    """The nearest open case of the category within its radius whose report time lies within
    the duplicate window of this report's: a report replayed years later is never the same
    problem as one reported today."""
    radius = category.duplicate_radius_m
    if radius <= 0:
        return None
    dlon, dlat = _search_box(category, lon, lat)
    window = timedelta(hours=category.duplicate_window_hours)
    candidates = Case.objects.filter(
        category=category,
        status__in=OPEN - {Status.UNLOCATED},
        reported_at__gte=reported_at - window,
        reported_at__lte=reported_at + window,
        lon__range=(lon - dlon, lon + dlon),
        lat__range=(lat - dlat, lat + dlat),
    ).only("pk", "lon", "lat")
    best, best_d = None, None
    for c in candidates:
        d = haversine_m(lon, lat, c.lon, c.lat)
        if d <= radius and (best_d is None or d < best_d):
            best, best_d = c, d
    return best


# The duplicate lock's buckets: 0.01° (about 1 km), far wider than any duplicate radius, so a
# search box touches one to four of them. Cells would be too fine: two reports 20 m apart on
# either side of a cell's border must still wait for each other.
LOCK_BUCKET_DEGREES = 0.01
LOCK_MAX_BUCKETS = 16


def duplicate_lock_keys(category: Category, lon: float, lat: float) -> list[int]:
    """The advisory lock keys a report must hold before it searches for a duplicate: one per
    (category, bucket) its search box touches, in ascending order so that two reports never
    wait for each other in a circle."""
    dlon, dlat = _search_box(category, lon, lat)
    size = LOCK_BUCKET_DEGREES
    xs = range(math.floor((lon - dlon) / size), math.floor((lon + dlon) / size) + 1)
    ys = range(math.floor((lat - dlat) / size), math.floor((lat + dlat) / size) + 1)
    names = [f"case-duplicates:{category.pk}:{x}:{y}" for x in xs for y in ys]
    if len(names) > LOCK_MAX_BUCKETS:
        names = [f"case-duplicates:{category.pk}"]  # a vast radius: the category at once
    keys = {
        int.from_bytes(hashlib.blake2b(n.encode(), digest_size=8).digest(), "big", signed=True)
        for n in names
    }
    return sorted(keys)


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(math.sqrt(a))


def _save_photos(
    case: Case,
    event: CaseEvent | None,
    photos: list[CheckedPhoto],
    kind: str,
    user: User | None,
    now: datetime,
) -> list[Attachment]:
    saved = []
    for p in photos:
        ext = p.extension
        stem = uuid.uuid4().hex
        att = Attachment(
            case=case,
            event=event,
            kind=kind,
            content_type=p.content_type,
            size=len(p.data),
            width=p.width,
            height=p.height,
            sha256=p.sha256,
            exif_gps=p.exif_gps,
            uploaded_by=user if user and user.pk else None,
            uploaded_at=now,
        )
        att.file.save(f"{stem}.{ext}", ContentFile(p.data), save=False)
        att.public_file.save(f"{stem}.{ext}", ContentFile(p.public_data), save=False)
        att.thumbnail.save(f"{stem}.jpg", ContentFile(p.thumbnail), save=False)
        att.save()
        saved.append(att)
    return saved


def _beat_manager(case: Case, known: User | None = None) -> dict:
    """For a problem the public found: the grid manager whose beat it was in, that day (the
    漏报 is theirs even if beats are redrawn later)."""
    if case.channel not in PUBLIC_CHANNELS or case.cell_id is None:
        return {}
    manager = known or beat_manager_for_cell(case.cell_id)
    return {"beat_manager": manager.pk} if manager else {}


_batch = threading.local()


@contextmanager
def _facts_once():
    """Inside an action's transaction: the cases its events touch get their evaluation facts
    rewritten once, at the end (an intake writes report, file and dispatch events)."""
    if getattr(_batch, "case_ids", None) is not None:
        yield
        return
    _batch.case_ids = set()
    try:
        yield
        if _batch.case_ids:
            refresh_case_facts(_batch.case_ids)
    finally:
        _batch.case_ids = None


def _add_event(**fields) -> CaseEvent:
    """Write one event and bring its case's evaluation facts up to date, in the caller's
    transaction: every event of a case is written here."""
    event = CaseEvent.objects.create(**fields)
    pending = getattr(_batch, "case_ids", None)
    if pending is None:
        refresh_case_facts([event.case_id])
    else:
        pending.add(event.case_id)
    return event


def add_case_event(
    case: Case,
    action: str,
    *,
    acting_user: User,
    now: datetime,
    note: str = "",
    department_id: int | None = None,
    data: dict | None = None,
) -> CaseEvent:
    """An event that changes no status (e.g. an appeal decided by the evaluation), written by
    another app inside its own transaction."""
    return _add_event(
        case=case,
        action=action,
        from_status=case.status,
        to_status=case.status,
        at=now,
        note=note,
        department_id=department_id,
        data=data or {},
        **_actor_fields(acting_user),
    )


def _actor_fields(user: User) -> dict:
    return {
        "actor": user if user.pk else None,
        "actor_role": "admin" if user.is_superuser and user.role not in Role.values else user.role,
        "actor_department_id": user.department_id,
    }


# A report time an integration sends may run this far ahead of our clock (its clock's drift);
# beyond it the time is a mistake, and within it the report is taken as made now.
REPORT_CLOCK_SKEW = timedelta(minutes=5)


def check_reported_at(value: datetime | None, now: datetime) -> datetime:
    """The moment a report was first made, checked: aware, 2000–2100, not in the future."""
    if value is None:
        return now
    if timezone.is_naive(value):
        raise InvalidInput(
            gettext("上报时间须带时区，如 2024-05-01T08:30:00+08:00"), field="reported_at"
        )
    try:
        check_date(value)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="reported_at") from exc
    if value > now + REPORT_CLOCK_SKEW:
        raise InvalidInput(
            gettext("上报时间 %(localtime)s 晚于当前时间")
            % {"localtime": format(timezone.localtime(value), "%Y-%m-%d %H:%M")},
            field="reported_at",
        )
    return min(value, now)


def do_report_case(
    inp: ReportInput,
    *,
    acting_user: User | None,
    idempotency_key: str | None = None,
    external_id_is_key: bool = False,
    now: datetime | None = None,
) -> IntakeResult:
    """Locate, de-duplicate, create, and — for trusted channels — file and dispatch. A report
    without a channel gets the acting user's (`report_channel`).

    With `inp.reported_at` the report is taken as made then: its deadlines and its duplicate
    window run from that moment. With `external_id_is_key`, the external id is the acting
    integration's own record id: sending it again answers with the case it made the first
    time."""
    inp = _cleaned(inp)
    if not inp.channel:
        if acting_user is None or not acting_user.is_authenticated:
            raise InvalidInput(gettext("匿名上报须指明渠道"), field="channel")
        inp.channel = report_channel(acting_user)
    if idempotency_key is not None:
        idempotency_key = idempotency_key.strip()
        if not idempotency_key or len(idempotency_key) > 100:
            raise InvalidInput(gettext("幂等键长度应为1–100个字符"), field="idempotency_key")
    actor = acting_user if acting_user is not None and acting_user.is_authenticated else None
    integration_key = None
    if external_id_is_key and inp.external_id:
        if actor is None:
            raise InvalidInput(gettext("外部编号须由已认证的对接系统提供"), field="external_id")
        if len(inp.external_id) > 100:
            raise InvalidInput(gettext("外部编号不能超过100个字符"), field="external_id")
        integration_key = f"{actor.pk}:{inp.external_id}"
        earlier = _replay_external(integration_key)
        if earlier is not None:
            return earlier
    fingerprint = inp.fingerprint()
    if idempotency_key:
        earlier = _replay(idempotency_key, fingerprint)
        if earlier is not None:
            return earlier
    lon, lat, photos = _check_input(inp)
    now = now or timezone.now()
    reported_at = check_reported_at(inp.reported_at, now)
    component = None
    if inp.component_code:
        component = (
            Component.objects.select_related("owner", "maintainer")
            .filter(code=inp.component_code)
            .first()
        )
        if component is None:
            raise InvalidInput(
                gettext("部件 %(component_code)s 不存在") % {"component_code": inp.component_code},
                field="component_code",
            )
    location = locate(lon, lat) if lon is not None else None
    problem = position_problem(lon, lat) if location is not None and not location.located else ""
    try:
        with transaction.atomic(), _facts_once():
            return _report_in_transaction(
                inp,
                actor,
                idempotency_key,
                integration_key,
                fingerprint,
                lon,
                lat,
                photos,
                now,
                reported_at,
                component,
                location,
                problem=problem,
            )
    except IntegrityError:
        # Two retries with the same key raced: the other one won; answer as it did.
        earlier = None
        if integration_key:
            earlier = _replay_external(integration_key)
        if earlier is None and idempotency_key:
            earlier = _replay(idempotency_key, fingerprint)
        if earlier is not None:
            return earlier
        raise


def _replay(key: str, fingerprint: str) -> IntakeResult | None:
    report = Report.objects.select_related("case").filter(idempotency_key=key).first()
    if report is None:
        return None
    if report.fingerprint != fingerprint:
        raise Conflict(
            gettext("该幂等键已用于内容不同的另一次上报"),
            field="idempotency_key",
            case_number=report.case.number,
        )
    return _answered_before(report)


def _answered_before(report: Report) -> IntakeResult:
    return IntakeResult(report.case, report, created=False, linked_to_existing=report.is_duplicate)


def _replay_external(integration_key: str) -> IntakeResult | None:
    """The case an integration's record went into the first time it was sent. The record is the
    integration's to identify, so a resend with changed text still answers with that case (a
    correction goes through the case's own workflow, not through a second report)."""
    report = Report.objects.select_related("case").filter(integration_key=integration_key).first()
    return None if report is None else _answered_before(report)


def _report_in_transaction(
    inp,
    actor,
    key,
    integration_key,
    fingerprint,
    lon,
    lat,
    photos,
    now,
    reported_at,
    component,
    location,
    *,
    problem: str = "",
) -> IntakeResult:
    """`now` is when the report reached us; `reported_at` when it was made, from which its
    clocks run (the same moment but for an integration replaying earlier reports). `problem`
    says why a point that no cell holds is no real position (grids.position_problem)."""
    at = reported_at
    reporter_fields = {
        "reporter_name": inp.reporter_name[:50],
        "reporter_phone": inp.reporter_phone[:32],
    }
    report_kwargs = dict(
        channel=inp.channel,
        reporter=actor,
        reporter_email=inp.reporter_email[:254],
        description=inp.description,
        address=inp.address[:300],
        lon=lon,
        lat=lat,
        input_crs=str(inp.crs),
        reported_at=reported_at,
        idempotency_key=key or None,
        integration_key=integration_key,
        fingerprint=fingerprint,
        external_id=inp.external_id[:100],
        extra=inp.extra,
        **reporter_fields,
    )
    # Where the report was entered later than made, the record keeps both moments.
    entered = {"entered_at": now.isoformat()} if now != at else {}
    located = location is not None and location.located
    # A place-free category (an account question) goes by type when no cell holds its report,
    # instead of waiting to be placed by hand.
    routable = located or inp.category.place_free
    day = timezone.localdate(at)
    # Before the duplicate search: on PostgreSQL this takes the duplicate lock, and gives the
    # id a new case would have (a report linked to an earlier case leaves a gap in the ids).
    prepared = _prepare_intake(
        inp.category if located else None,
        lon,
        lat,
        location.cell_id if located else None,
        day,
    )
    if located:
        duplicate = _find_duplicate(inp.category, lon, lat, reported_at)
        if duplicate is not None:
            case = Case.objects.select_for_update().get(pk=duplicate.pk)
            report = Report.objects.create(case=case, is_duplicate=True, **report_kwargs)
            event = _add_event(
                case=case,
                action="link_report",
                from_status=case.status,
                to_status=case.status,
                at=at,
                department_id=case.department_id,
                note=f"重复上报（{Channel(inp.channel).label}）已并入本案",
                data={"report_id": report.pk, **entered},
                **_actor_fields(actor or get_system_user()),
            )
            _save_photos(case, event, photos, AttachmentKind.REPORT, actor, now)
            return IntakeResult(case, report, created=True, linked_to_existing=True)

    calendar = get_calendar()
    trusted = inp.channel in settings.GRIDCITY_TRUSTED_CHANNELS
    verifier = None
    if not routable:
        status = Status.UNLOCATED
    elif trusted:
        status = Status.REPORTED
    else:
        verifier = beat_manager_for_cell(location.cell_id) if located else None
        status = Status.VERIFYING if verifier else Status.REPORTED
    step = STEP_OF_STATUS[status]
    amount, clock = step_limit(step)
    # The id came first, so that the case's number (day and id) goes in with its row.
    case_id = prepared.case_id
    case = Case(
        pk=case_id,
        number=f"{timezone.localtime(reported_at):%Y%m%d}{case_id:06d}",
        status=status,
        channel=inp.channel,
        category=inp.category,
        filing_condition=inp.filing_condition,
        component=component,
        description=inp.description,
        address=inp.address[:300],
        lon=lon,
        lat=lat,
        cell_id=location.cell_id if located else None,
        area_path=location.path if located else "",
        position_problem=problem,
        reporter=actor,
        assignee=verifier,
        reported_at=reported_at,
        step=step,
        step_started_at=at,
        step_deadline=calendar.add(at, amount, clock),
        step_amount=amount,
        step_clock=clock,
        is_urgent=bool(inp.filing_condition and inp.filing_condition.is_urgent),
        **reporter_fields,
    )
    actor_for_event = actor or get_system_user()
    note = _intake_note(located, routable, problem)
    if verifier:
        note = f"待网格员 {verifier} 现场核实"
    # A new case's events are staged and written together once the case and its report exist:
    # the report event first, then the automatic filing and dispatch, in that order.
    staged = [
        CaseEvent(
            case=case,
            action="report",
            from_status="",
            to_status=status,
            at=at,
            note=note,
            data={
                "channel": inp.channel,
                **_beat_manager(case, verifier),
                **({"position_problem": problem} if problem else {}),
                **entered,
            },
            **_actor_fields(actor_for_event),
        )
    ]
    if routable and trusted:
        system = get_system_user()
        _apply(
            case,
            BY_ACTION["file"],
            system,
            at,
            calendar,
            filing_condition=inp.filing_condition,
            note="可信渠道上报，自动立案",
            staged=staged,
        )
        if settings.GRIDCITY_AUTO_DISPATCH and case.suggested_department_id:
            _apply(
                case,
                BY_ACTION["dispatch"],
                system,
                at,
                calendar,
                department=cached_department(case.suggested_department_id),
                note="按责任规则自动派遣",
                staged=staged,
            )
    report = Report(case=case, **report_kwargs)
    together: list[tuple[str, list]] = []
    if prepared.report_id is not None:
        # PostgreSQL: every id is known, so the case, its report, its events, its facts and
        # the day's mark go in one statement (facts.write_new_case_facts).
        report.pk = prepared.report_id
        for event, pk in zip(staged, prepared.event_ids, strict=False):
            event.pk = pk
    else:
        insert_rows([case], with_pk=True)
        insert_rows([report])
    staged[0].data = {
        "channel": inp.channel,
        "report_id": report.pk,
        **{k: v for k, v in staged[0].data.items() if k != "channel"},
    }
    if prepared.report_id is not None:
        together = [insert_sql([case]), insert_sql([report]), insert_sql(staged)]
    else:
        insert_rows(staged)
    events = staged
    write_new_case_facts(
        CaseRow(case.pk, case.number, case.channel, case.status, case.cell_id, prepared.area_id),
        [
            EventRow(e.pk, e.action, e.at, e.actor_id, e.department_id, e.overdue, e.step, e.data)
            for e in events
        ],
        day_marked=prepared.day_marked,
        together_with=together,
    )
    mark_saved([case, report, *events])
    _save_photos(case, events[0], photos, AttachmentKind.REPORT, actor, now)
    hooks.announce(hooks.CaseChange(case, hooks.CREATED, to_status=case.status))
    count_intake(inp.channel)
    return IntakeResult(case, report, created=True)


POSITION_NOTES = {
    PositionProblem.ZERO: "上报坐标为(0,0)，不是有效位置",
    PositionProblem.OUTSIDE: "上报坐标不在辖区任何区域内",
}


def _intake_note(located: bool, routable: bool, problem: str) -> str:
    """The report event's note: why a case was not placed, and where it goes instead."""
    if located:
        return ""
    if not routable:
        reason = POSITION_NOTES[problem] if problem else "位置不在任何网格内"
        return f"{reason}，进入待定位队列"
    reason = f"{POSITION_NOTES[problem]}；" if problem else ""
    return f"{reason}该类别无需位置，按类别派遣"


def _prepare_intake(
    category: Category | None, lon: float | None, lat: float | None, cell_id: int | None, day
) -> "Prepared":
    """One statement at the start of an intake's transaction: the id a new case gets, the id of
    its cell's parent area (the unit its evaluation facts count for) and whether its day is
    already marked for a recount.

    On PostgreSQL the same statement first takes the duplicate lock of a located report
    (`duplicate_lock_keys`), so that two reports of one problem search one after the other and
    the second finds the first one's case; the id is taken from the table's sequence, unique
    across nodes. SQLite's IMMEDIATE transaction holds the database's write lock until commit,
    which serialises every intake, and the id is the one AUTOINCREMENT gives next."""
    table = Case._meta.db_table
    parent = f"(SELECT parent_id FROM {Area._meta.db_table} WHERE id = %s)"
    marked = f"EXISTS (SELECT 1 FROM {StaleDay._meta.db_table} WHERE day = %s)"
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            keys = (
                duplicate_lock_keys(category, lon, lat)
                if category is not None and category.duplicate_radius_m > 0
                else []
            )
            # The keys come in ascending order and unnest yields them so: no two intakes ever
            # wait for each other in a circle.
            # The report's and the events' ids too, so that the whole case is written in one
            # statement (an intake writes at most three events; unused ids are gaps, as after a
            # rollback).
            reports, events = Report._meta.db_table, CaseEvent._meta.db_table
            cur.execute(
                "SELECT (SELECT count(pg_advisory_xact_lock(k)) FROM unnest(%s::bigint[]) AS k),"
                f" nextval(pg_get_serial_sequence('{table}', 'id')), {parent}, {marked},"
                f" nextval(pg_get_serial_sequence('{reports}', 'id')),"
                f" ARRAY(SELECT nextval(pg_get_serial_sequence('{events}', 'id'))"
                f" FROM generate_series(1, {MAX_INTAKE_EVENTS}))",
                [keys, cell_id, day],
            )
            _, case_id, area_id, day_marked, report_id, event_ids = cur.fetchone()
            return Prepared(int(case_id), area_id, bool(day_marked), report_id, event_ids)
        cur.execute(
            "SELECT max(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = %s), 0),"
            f" COALESCE((SELECT max(id) FROM {table}), 0)) + 1, {parent}, {marked}",
            [table, cell_id, connection.ops.adapt_datefield_value(day)],
        )
        case_id, area_id, day_marked = cur.fetchone()
    return Prepared(int(case_id), area_id, bool(day_marked))


MAX_INTAKE_EVENTS = 3  # report, file, dispatch


@dataclass
class Prepared:
    case_id: int
    area_id: int | None
    day_marked: bool
    # PostgreSQL only: ids taken ahead for the report and the events.
    report_id: int | None = None
    event_ids: list[int] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Transitions


@dataclass
class TransitionInput:
    note: str = ""
    department: Department | None = None
    filing_condition: FilingCondition | None = None
    assignee: User | None = None
    merge_into: Case | None = None
    extension: str = ""  # e.g. "2工作日"
    verified: bool | None = None
    lon: float | None = None
    lat: float | None = None
    crs: str = CRS.WGS84
    photos: list[tuple[str, bytes]] = field(default_factory=list)
    satisfaction: int | None = None  # 1 (very dissatisfied) … 5 (very satisfied)


CALLBACK_CHANNELS = frozenset({Channel.CITIZEN, Channel.HOTLINE, Channel.OPEN311})


def _in_beat(user: User, case: Case) -> bool:
    return (
        case.cell_id is not None
        and Beat.objects.filter(manager=user, cells__id=case.cell_id).exists()
    )


def may_take(case: Case, t: Transition, user: User, *, beat_check: bool = True) -> str | None:
    """None if `user` may take `t` on `case` now; otherwise the reason (Chinese)."""
    role = effective_role(user)
    if role not in t.roles:
        return gettext("当前角色不能执行“%(label)s”") % {"label": gettext(t.label)}
    if t.action == "callback" and case.channel not in CALLBACK_CHANNELS:
        return "只有市民或热线来源的案件需要回访"
    if t.scope == Scope.DEPARTMENT and role in (Role.HANDLER, Role.DEPT_LEAD):
        if user.department_id is None:
            return "您不属于任何部门"
        if role == Role.DEPT_LEAD:
            if case.department_id not in user.department.subtree_ids():
                return "该案件不在本部门"
        elif case.department_id != user.department_id:
            return "该案件不在本部门"
    if t.scope == Scope.FIELD and role == Role.INSPECTOR:
        if case.assignee_id != user.pk and not (beat_check and _in_beat(user, case)):
            return "该任务未指派给您，且案件不在您的责任网格内"
    if role in CENTRE_ROLES and user.jurisdiction_id and case.area_path:
        if not case.area_path.startswith(jurisdiction_path(user)):
            return "该案件不在您的管辖区域"
    return None


def available_transitions(case: Case, user: User) -> list[Transition]:
    """The moves a page may offer this user now: exactly those the action would accept."""
    return [t for t in transitions_from(case.status) if may_take(case, t, user) is None]


def do_transition_case(
    case: Case | int,
    action: str,
    *,
    acting_user: User,
    data: TransitionInput | None = None,
    now: datetime | None = None,
) -> Case:
    data = data or TransitionInput()
    t = BY_ACTION.get(action)
    if t is None:
        raise InvalidInput(gettext("未知的动作：%(action)s") % {"action": action}, field="action")
    case_id = case.pk if isinstance(case, Case) else case
    photos = check_photos(data.photos)
    now = now or timezone.now()
    with transaction.atomic(), _facts_once():
        locked = _lock_visible_case(acting_user, case_id)
        if locked.status not in t.sources:
            allowed = [x.action for x in available_transitions(locked, acting_user)]
            raise IllegalTransition(
                gettext("案件当前状态为“%(label)s”，不能执行“%(label2)s”")
                % {"label": Status(locked.status).label, "label2": gettext(t.label)},
                allowed=allowed,
                status=locked.status,
            )
        reason = may_take(locked, t, acting_user)
        if reason:
            raise Forbidden(reason)
        _apply(locked, t, acting_user, now, get_calendar(), photos=photos, **_as_kwargs(data))
    return locked


def _lock_visible_case(user: User, case_id: int) -> Case:
    """Lock a case row for the rest of the transaction; a case the user may not see is 404."""
    locked = visible_to(user, Case.objects.select_for_update()).filter(pk=case_id).first()
    if locked is None:
        raise NotFound(gettext("案件不存在或无权查看"))
    return locked


def _as_kwargs(data: TransitionInput) -> dict:
    return {
        "note": data.note,
        "department": data.department,
        "filing_condition": data.filing_condition,
        "assignee": data.assignee,
        "merge_into": data.merge_into,
        "extension": data.extension,
        "verified": data.verified,
        "lon": data.lon,
        "lat": data.lat,
        "crs": data.crs,
        "satisfaction": data.satisfaction,
    }


def _apply(
    case: Case,
    t: Transition,
    user: User,
    now: datetime,
    calendar: WorkCalendar,
    *,
    note: str = "",
    department: Department | None = None,
    filing_condition: FilingCondition | None = None,
    assignee: User | None = None,
    merge_into: Case | None = None,
    extension: str = "",
    verified: bool | None = None,
    lon: float | None = None,
    lat: float | None = None,
    crs: str = CRS.WGS84,
    satisfaction: int | None = None,
    photos: list[CheckedPhoto] = (),
    staged: list[CaseEvent] | None = None,
) -> CaseEvent:
    """Apply a transition to a locked case; the caller holds the transaction. With `staged`,
    the case is one being created in this transaction: it is changed in memory only and the
    event is appended to `staged` for the caller to write with the case."""
    note = clean_text(note, multiline=True)
    if t.note_required and not note:
        raise InvalidInput(
            gettext("“%(label)s”需要填写原因或说明") % {"label": gettext(t.label)}, field="note"
        )
    if len(note) > 2000:
        raise InvalidInput(gettext("说明不能超过2000字"), field="note")
    from_status = case.status
    target = t.target or case.status
    data: dict = {}
    changed: set[str] = {"status", "version"}
    event_department = case.department_id

    if t.action == "locate":
        if lon is None or lat is None:
            raise InvalidInput(gettext("请在地图上选择位置"), field="lon")
        try:
            validate_lonlat(lon, lat)
            wlon, wlat = to_wgs84(float(lon), float(lat), CRS(crs))
        except ValueError as exc:
            raise InvalidInput(str(exc), field="lon") from exc
        loc = locate(wlon, wlat)
        if not loc.located:
            raise InvalidInput(gettext("所选位置不在任何网格内，请重新选择"), field="lon")
        if case.position_problem:
            data["replaced_position"] = {
                "lon": case.lon,
                "lat": case.lat,
                "problem": case.position_problem,
            }
        case.lon, case.lat, case.cell_id, case.area_path = wlon, wlat, loc.cell_id, loc.path
        case.position_problem = ""
        changed |= {"lon", "lat", "cell", "area_path", "position_problem"}
        data["cell"] = loc.cell_code
        data.update(_beat_manager(case))
    elif t.action in ("send_verify", "assign"):
        if assignee is None:
            assignee = beat_manager_for_cell(case.cell_id)
        if assignee is None or assignee.role != Role.INSPECTOR:
            raise InvalidInput(gettext("请选择一名网格员"), field="assignee")
        case.assignee = assignee
        changed.add("assignee")
        data["assignee"] = assignee.pk
        note = note or f"指派网格员 {assignee}"
    elif t.action == "verify":
        if verified is None:
            raise InvalidInput(gettext("请选择核实结果（属实/不属实）"), field="verified")
        case.verified = verified
        changed.add("verified")
        data["verified"] = verified
    elif t.action == "file":
        condition = filing_condition or case.filing_condition
        if condition is None:
            condition = first_condition(case.category_id)
        if condition is not None and condition.category_id != case.category_id:
            raise InvalidInput(gettext("立案条件不属于该类别"), field="filing_condition")
        case.filing_condition = condition
        case.is_urgent = bool(condition and condition.is_urgent)
        decision = decide_for(case.category, case.area_path, condition, case.component)
        case.suggested_department = cached_department(decision.department_id)
        case.dispatch_explanation = decision.explanation()
        if not case.area_path and case.category.place_free:
            # No place to match: only rules for the whole jurisdiction could apply.
            case.dispatch_explanation["place_free"] = True
        changed |= {"filing_condition", "is_urgent", "suggested_department", "dispatch_explanation"}
        data["suggestion"] = decision.explanation()
    elif t.action == "void":
        pass
    elif t.action == "merge":
        if merge_into is None:
            raise InvalidInput(gettext("请选择要合并到的案件"), field="merge_into")
        if merge_into.pk == case.pk or merge_into.status not in OPEN:
            raise InvalidInput(gettext("只能合并到另一个未结案的案件"), field="merge_into")
        case.merged_into = merge_into
        changed.add("merged_into")
        data["merged_into"] = merge_into.number
        _add_event(
            case=merge_into,
            action="merge_in",
            from_status=merge_into.status,
            to_status=merge_into.status,
            at=now,
            note=f"案件 {case.number} 合并入本案",
            department_id=merge_into.department_id,
            data={"case": case.number},
            **_actor_fields(user),
        )
    elif t.action == "dispatch":
        department = department or cached_department(case.suggested_department_id)
        if department is None:
            raise InvalidInput(gettext("请选择派遣部门"), field="department")
        override = case.suggested_department_id not in (None, department.pk)
        if override and user.role != Role.SYSTEM and not note:
            raise InvalidInput(gettext("改派到与建议不同的部门时，需要填写原因"), field="note")
        if from_status == Status.RETURNED:
            data["redispatch"] = True
            data["previous_department"] = case.department_id
        data["override"] = override
        data["suggested_department"] = case.suggested_department_id
        case.department = department
        amount, clock = handle_limit(case.category, case.filing_condition)
        case.handle_amount, case.handle_clock = amount, clock
        case.handle_deadline = calendar.add(now, amount, clock)
        changed |= {"department", "handle_amount", "handle_clock", "handle_deadline"}
        event_department = department.pk
    elif t.action == "return":
        case.return_count += 1
        changed.add("return_count")
    elif t.action == "request_extension":
        try:
            amount, clock = parse_time_limit(extension)
        except ValueError as exc:
            raise InvalidInput(str(exc), field="extension") from exc
        data["extension"] = {"amount": amount, "clock": clock}
    elif t.action == "approve_extension":
        ask = (
            CaseEvent.objects.filter(case=case, action="request_extension")
            .order_by("-at", "-pk")
            .first()
        )
        ext = (ask.data or {}).get("extension") if ask else None
        if not ext:
            raise Conflict(gettext("找不到延期申请"))
        try:
            # Asked for before requests were bounded, an extension may still be out of range.
            check_time_limit(float(ext["amount"]), ext["clock"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(
                gettext("延期申请的时长无效（%(exc)s），请退回后重新申请") % {"exc": exc},
                field="extension",
            ) from exc
        case.handle_deadline = calendar.add(
            case.handle_deadline, ext["amount"], Clock(ext["clock"])
        )
        changed.add("handle_deadline")
        data["extension"] = ext
    elif t.action == "approve_hold":
        remaining = (
            calendar.elapsed(now, case.handle_deadline, Clock(case.handle_clock))
            if case.handle_deadline and case.handle_deadline > now
            else 0.0
        )
        case.handle_remaining = remaining
        changed.add("handle_remaining")
        data["remaining"] = remaining
    elif t.action == "resume":
        remaining = case.handle_remaining or 0.0
        case.handle_deadline = calendar.add(now, remaining, Clock(case.handle_clock))
        case.handle_remaining = None
        changed |= {"handle_deadline", "handle_remaining"}
    elif t.action == "report_back":
        pending = Attachment.objects.filter(
            case=case, event__isnull=True, kind=AttachmentKind.AFTER
        )
        if not photos and not pending.exists():
            raise InvalidInput(gettext("处置反馈需要上传处置后照片"), field="photos")
        pending_ids = list(pending.values_list("pk", flat=True))
        checker = beat_manager_for_cell(case.cell_id)
        case.assignee = checker
        changed.add("assignee")
    elif t.action == "callback":
        if satisfaction not in (1, 2, 3, 4, 5):
            raise InvalidInput(gettext("满意度应为1到5的整数"), field="satisfaction")
        if CaseEvent.objects.filter(case=case, action="callback").exists():
            raise Conflict(gettext("该案件已回访"), field="action")
        data["satisfaction"] = satisfaction
        data["satisfied"] = satisfaction >= 4
    elif t.action == "check_fail":
        case.rework_count += 1
        amount, clock = handle_limit(case.category, case.filing_condition)
        case.handle_amount, case.handle_clock = amount, clock
        case.handle_deadline = calendar.add(now, amount, clock)
        changed |= {"rework_count", "handle_amount", "handle_clock", "handle_deadline"}
        data["rework"] = case.rework_count

    if t.stamp:
        setattr(case, t.stamp, now)
        changed.add(t.stamp)

    # Close the clock of the step that is ending, and record how it went.
    step_fields = {}
    if t.target is not None and case.step:
        elapsed = None
        if case.step_started_at and case.step_clock:
            elapsed = calendar.elapsed(case.step_started_at, now, Clock(case.step_clock))
        step_fields = {
            "step": case.step,
            "step_elapsed": elapsed,
            "step_amount": case.step_amount,
            "step_clock": case.step_clock,
            "overdue": bool(case.step_deadline and now > case.step_deadline),
        }
    case.status = target
    case.version += 1
    if t.target is not None:
        _start_step(case, now, calendar)
        changed |= {
            "step",
            "step_started_at",
            "step_deadline",
            "step_amount",
            "step_clock",
            "step_overdue_at",
        }
    event_fields = dict(
        case=case,
        action=t.action,
        from_status=from_status,
        to_status=target,
        at=now,
        note=note,
        data=data,
        department_id=event_department,
        **step_fields,
        **_actor_fields(user),
    )
    if staged is not None:
        # A case created in this transaction has no row to update and no orders to settle.
        if photos:
            raise ValueError("a staged transition takes no photos")
        event = CaseEvent(**event_fields)
        staged.append(event)
        hooks.announce(hooks.CaseChange(case, t.action, from_status, target))
        return event
    case.save(update_fields=sorted(changed))
    if t.target is not None:
        settled = _settle_orders(case, ended_step=step_fields.get("step", ""), by=t, now=now)
        if settled:
            data["settled_orders"] = settled
    event = _add_event(**event_fields)
    kind = {
        "report_back": AttachmentKind.AFTER,
        "verify": AttachmentKind.VERIFY,
        "check_pass": AttachmentKind.CHECK,
        "check_fail": AttachmentKind.CHECK,
    }.get(t.action, AttachmentKind.OTHER)
    _save_photos(case, event, list(photos), kind, user, now)
    if t.action == "report_back" and pending_ids:
        Attachment.objects.filter(pk__in=pending_ids).update(event=event)
    hooks.announce(hooks.CaseChange(case, t.action, from_status, target))
    return event


def _start_step(case: Case, now: datetime, calendar: WorkCalendar) -> None:
    step = STEP_OF_STATUS.get(case.status, "")
    case.step = step
    case.step_overdue_at = None
    if not step:
        case.step_started_at = case.step_deadline = case.step_amount = None
        case.step_clock = ""
        return
    if step == "handle":
        # The handling clock is the case's: it keeps running through extension and hold
        # requests, and its deadline moves only by approval.
        case.step_started_at = now
        case.step_deadline = case.handle_deadline
        case.step_amount = case.handle_amount
        case.step_clock = case.handle_clock
        return
    amount, clock = step_limit(step)
    case.step_started_at = now
    case.step_deadline = calendar.add(now, amount, clock)
    case.step_amount = amount
    case.step_clock = clock


def do_attach_photo(
    case: Case | int, photo: tuple[str, bytes], *, kind: str, acting_user: User
) -> Attachment:
    """A photo uploaded ahead of the step that uses it (an "after" photo for report_back)."""
    if kind not in AttachmentKind.values:
        raise InvalidInput(gettext("照片类型无效"), field="kind")
    try:
        checked = check_photo(photo[1], photo[0])
    except PhotoError as exc:
        raise InvalidInput(str(exc), field="file") from exc
    case_id = case.pk if isinstance(case, Case) else case
    with transaction.atomic():
        locked = _lock_visible_case(acting_user, case_id)
        if locked.status not in OPEN:
            raise Conflict(gettext("案件已结束，不能再上传照片"), field="file")
        return _save_photos(locked, None, [checked], kind, acting_user, timezone.now())[0]


# ---------------------------------------------------------------------------------------------
# Reports linked as duplicates


def do_unlink_report(report: Report | int, *, acting_user: User) -> Case:
    """Undo a duplicate link: the report becomes a case of its own (filed by its channel's
    usual path)."""
    role = effective_role(acting_user)
    if role not in (Role.INTAKE, Role.SHIFT_LEAD, Role.ADMIN):
        raise Forbidden(gettext("只有受理员或值班长可以取消重复关联"))
    report_id = report.pk if isinstance(report, Report) else report
    with transaction.atomic(), _facts_once():
        report = Report.objects.select_for_update().filter(pk=report_id).first()
        if report is None or not visible_to(acting_user).filter(pk=report.case_id).exists():
            raise NotFound(gettext("上报记录不存在或无权查看"))
        if not report.is_duplicate:
            raise Conflict(gettext("该上报不是重复上报，无需取消关联"), field="report")
        old_case = Case.objects.select_for_update().get(pk=report.case_id)
        now = timezone.now()
        loc = locate(report.lon, report.lat) if report.lon is not None else None
        calendar = get_calendar()
        located = loc is not None and loc.located
        problem = "" if located else position_problem(report.lon, report.lat)
        routable = located or old_case.category.place_free
        status = Status.REPORTED if routable else Status.UNLOCATED
        amount, clock = step_limit("file")
        case = Case.objects.create(
            number=uuid.uuid4().hex[:20],
            status=status,
            channel=report.channel,
            category=old_case.category,
            description=report.description,
            address=report.address,
            lon=report.lon,
            lat=report.lat,
            cell_id=loc.cell_id if located else None,
            area_path=loc.path if located else "",
            position_problem=problem,
            reporter=report.reporter,
            reporter_name=report.reporter_name,
            reporter_phone=report.reporter_phone,
            reported_at=report.reported_at,
            step="file",
            step_started_at=now,
            step_deadline=calendar.add(now, amount, clock),
            step_amount=amount,
            step_clock=clock,
        )
        case.number = f"{timezone.localtime(report.reported_at):%Y%m%d}{case.pk:06d}"
        case.save(update_fields=["number"])
        report.case = case
        report.is_duplicate = False
        report.save(update_fields=["case", "is_duplicate"])
        _add_event(
            case=old_case,
            action="unlink_report",
            from_status=old_case.status,
            to_status=old_case.status,
            at=now,
            department_id=old_case.department_id,
            note=f"取消重复关联，上报另立为案件 {case.number}",
            data={"report_id": report.pk, "new_case": case.number},
            **_actor_fields(acting_user),
        )
        _add_event(
            case=case,
            action="report",
            from_status="",
            to_status=status,
            at=now,
            note=f"由案件 {old_case.number} 的重复上报拆分而来",
            data={"report_id": report.pk, "unlinked_from": old_case.number},
            **_actor_fields(acting_user),
        )
        Attachment.objects.filter(event__data__report_id=report.pk, case=old_case).update(case=case)
        hooks.announce(hooks.CaseChange(case, hooks.SPLIT, to_status=case.status))
    return case


# ---------------------------------------------------------------------------------------------
# Supervision (督办)


def _order_number(order: SupervisionOrder) -> str:
    return f"DB{timezone.localtime(order.created_at):%Y%m%d}{order.pk:05d}"


def do_create_supervision(
    case: Case | int,
    *,
    acting_user: User,
    kind: str = SupervisionKind.LEADER,
    note: str = "",
    now: datetime | None = None,
) -> SupervisionOrder:
    role = effective_role(acting_user)
    if role not in (Role.LEADER, Role.DISPATCHER, Role.SHIFT_LEAD, Role.ADMIN):
        raise Forbidden(gettext("只有领导、派遣员或值班长可以督办"))
    if kind not in SupervisionKind.values or kind == SupervisionKind.OVERDUE:
        raise InvalidInput(gettext("督办类型应为领导督办或重点案件督办"), field="kind")
    note = clean_text(note, multiline=True)
    if not note:
        raise InvalidInput(gettext("请填写督办要求"), field="note")
    if len(note) > 2000:
        raise InvalidInput(gettext("督办要求不能超过2000字"), field="note")
    case_id = case.pk if isinstance(case, Case) else case
    with transaction.atomic():
        locked = _lock_visible_case(acting_user, case_id)
        if locked.status not in OPEN:
            raise Conflict(gettext("案件已结束，不能督办"), field="case")
        return _create_order(
            locked,
            kind=kind,
            level=max(1, locked.supervision_level),
            user=acting_user,
            note=note,
            now=now or timezone.now(),
        )


def addressee_of(case: Case) -> dict:
    """Whoever owns the case's current step: the holding department, the grid manager who must
    verify or check on site, or the centre (filing, dispatching, closing)."""
    kind, _roles = STEP_OWNERS.get(case.step, (Addressee.DEPARTMENT, frozenset()))
    if kind == Addressee.FIELD:
        manager = _field_responsible(case).get("responsible")
        if manager is not None:
            return {
                "addressee_kind": Addressee.FIELD,
                "addressee_id": manager,
                "department_id": None,
            }
        kind = Addressee.CENTRE  # a cell without a grid manager: the centre must see to it
    if kind == Addressee.CENTRE:
        return {"addressee_kind": Addressee.CENTRE, "addressee_id": None, "department_id": None}
    return {
        "addressee_kind": Addressee.DEPARTMENT,
        "addressee_id": None,
        "department_id": case.department_id,
    }


def _create_order(
    case: Case,
    *,
    kind: str,
    level: int,
    user: User,
    note: str,
    now: datetime,
    step: str = "",
    step_started_at: datetime | None = None,
) -> SupervisionOrder:
    calendar = get_calendar()
    order = SupervisionOrder.objects.create(
        number=uuid.uuid4().hex[:20],
        case=case,
        kind=kind,
        level=level,
        **addressee_of(case),
        step=step or case.step,
        step_started_at=step_started_at,
        note=note,
        created_by=user,
        created_at=now,
        reply_deadline=calendar.add(now, 1, Clock.WORK_DAYS),
    )
    order.number = _order_number(order)
    order.save(update_fields=["number"])
    _add_event(
        case=case,
        action="supervise",
        from_status=case.status,
        to_status=case.status,
        at=now,
        note=note,
        department_id=case.department_id,
        data={"order": order.number, "kind": kind, "level": level},
        **_actor_fields(user),
    )
    hooks.announce(
        hooks.CaseChange(case, hooks.SUPERVISED, case.status, case.status, {"order": order})
    )
    return order


def _settle_orders(case: Case, *, ended_step: str, by: Transition, now: datetime) -> list[str]:
    """Settle (办结) the standing orders this transition answers: every order once the case has
    ended, and an overdue order once the step it chases is done. Returns their numbers."""
    standing = SupervisionOrder.objects.filter(case=case, settled_at__isnull=True)
    if case.status not in OPEN:
        reason = f"案件已{by.label}"
    elif ended_step and case.step != ended_step:
        standing = standing.filter(kind=SupervisionKind.OVERDUE, step=ended_step)
        reason = f"{_step_label(ended_step)}环节已完成（{by.label}）"
    else:
        return []
    numbers = list(standing.values_list("number", flat=True))
    if numbers:
        standing.update(settled_at=now, settled_reason=reason)
    return numbers


def may_reply(order: SupervisionOrder, user: User) -> str | None:
    """None if `user` may answer `order`, else why not (in Chinese, for the page)."""
    if order.settled_at is not None:
        return "督办单已办结"
    if order.replied_at is not None:
        return "督办单已答复"
    role = effective_role(user)
    if role == Role.ADMIN:
        return None
    if order.addressee_kind == Addressee.FIELD:
        if order.addressee_id == user.pk:
            return None
        return "该督办单由负责的网格员答复"
    if order.addressee_kind == Addressee.CENTRE:
        if role in centre_answerers(order.step):
            return None
        return f"该督办单由中心负责{_step_label(order.step)}的人员答复"
    if role not in (Role.HANDLER, Role.DEPT_LEAD):
        return "只有被督办部门可以答复督办单"
    if user.department_id == order.department_id or (
        role == Role.DEPT_LEAD and order.department_id in user.department.subtree_ids()
    ):
        return None
    return "该督办单不是督办本部门的"


def orders_awaiting(user: User):
    """The standing, unanswered orders `user` must answer: a desk's, a grid manager's or the
    centre's list."""
    qs = SupervisionOrder.objects.filter(
        case__in=visible_to(user), settled_at__isnull=True, replied_at__isnull=True
    )
    role = effective_role(user)
    if role == Role.ADMIN:
        return qs
    if role == Role.INSPECTOR:
        return qs.filter(addressee_kind=Addressee.FIELD, addressee=user)
    if role in (Role.HANDLER, Role.DEPT_LEAD):
        depts = (
            user.department.subtree_ids()
            if role == Role.DEPT_LEAD and user.department_id
            else {user.department_id}
        )
        return qs.filter(addressee_kind=Addressee.DEPARTMENT, department_id__in=depts)
    steps = [step for step in STEP_OWNERS if role in centre_answerers(step)]
    return qs.filter(addressee_kind=Addressee.CENTRE, step__in=steps)


def centre_answerers(step: str) -> frozenset:
    """The centre roles that answer an order on `step`; a field step that fell to the centre
    (no grid manager for the cell) is the intake desk's."""
    kind, roles = STEP_OWNERS.get(step, (Addressee.CENTRE, frozenset()))
    if kind == Addressee.CENTRE:
        return roles
    return frozenset({Role.INTAKE, Role.SHIFT_LEAD})


def do_reply_supervision(
    order: SupervisionOrder | int, *, acting_user: User, reply: str, now: datetime | None = None
) -> SupervisionOrder:
    order_id = order.pk if isinstance(order, SupervisionOrder) else order
    reply = clean_text(reply, multiline=True)
    if not reply:
        raise InvalidInput(gettext("请填写答复内容"), field="reply")
    if len(reply) > 2000:
        raise InvalidInput(gettext("答复内容不能超过2000字"), field="reply")
    with transaction.atomic():
        order = (
            SupervisionOrder.objects.select_for_update()
            .select_related("case")
            .filter(pk=order_id)
            .first()
        )
        if order is None or not visible_to(acting_user).filter(pk=order.case_id).exists():
            raise NotFound(gettext("督办单不存在或无权查看"))
        if order.settled_at or order.replied_at:
            raise Conflict(may_reply(order, acting_user), field="reply")
        refusal = may_reply(order, acting_user)
        if refusal:
            raise Forbidden(refusal)
        now = now or timezone.now()
        order.reply, order.replied_by, order.replied_at = reply, acting_user, now
        order.save(update_fields=["reply", "replied_by", "replied_at"])
        _add_event(
            case=order.case,
            action="supervision_reply",
            from_status=order.case.status,
            to_status=order.case.status,
            at=now,
            note=reply,
            department_id=order.case.department_id,
            data={"order": order.number},
            **_actor_fields(acting_user),
        )
    return order


# ---------------------------------------------------------------------------------------------
# The deadline sweep


@dataclass
class SweepResult:
    marked: int = 0
    orders: int = 0


def sweep_deadlines(now: datetime | None = None) -> SweepResult:
    """Mark each overdue step once and raise supervision orders along the ladder.

    Safe to run in several processes at once: the overdue mark is a conditional UPDATE whose
    row count says who won, and orders are unique per case, step and level."""
    now = now or timezone.now()
    result = SweepResult()
    system = get_system_user()
    overdue = Case.objects.filter(
        status__in=OPEN, step_deadline__lt=now, step_overdue_at__isnull=True
    ).values_list("pk", "step_deadline")
    for pk, deadline in list(overdue):
        with transaction.atomic():
            won = Case.objects.filter(
                pk=pk, step_overdue_at__isnull=True, step_deadline=deadline
            ).update(step_overdue_at=now)
            if not won:
                continue  # another sweeper marked it first
            case = Case.objects.get(pk=pk)
            _add_event(
                case=case,
                action="overdue",
                from_status=case.status,
                to_status=case.status,
                at=now,
                department_id=case.department_id,
                step=case.step,
                step_amount=case.step_amount,
                step_clock=case.step_clock,
                overdue=True,
                note=f"{_step_label(case.step)}环节超过时限",
                data={"deadline": deadline.isoformat(), **_field_responsible(case)},
                **_actor_fields(system),
            )
            hooks.announce(hooks.CaseChange(case, hooks.OVERDUE, case.status, case.status))
        result.marked += 1
    ladder = sorted(settings.GRIDCITY_ESCALATION_LADDER)
    candidates = Case.objects.filter(
        status__in=OPEN,
        step_overdue_at__isnull=False,
        step_deadline__lt=now,
    ).exclude(status__in=[Status.UNLOCATED])
    for case in candidates.iterator():
        hours_over = (now - case.step_deadline).total_seconds() / 3600
        level = max((lvl for h, lvl in ladder if hours_over >= h), default=0)
        if level <= 0:
            continue
        with transaction.atomic():
            locked = Case.objects.select_for_update().get(pk=case.pk)
            if locked.step_overdue_at is None or locked.step_deadline != case.step_deadline:
                continue
            existing = set(
                SupervisionOrder.objects.filter(
                    case=locked,
                    kind=SupervisionKind.OVERDUE,
                    step=locked.step,
                    step_started_at=locked.step_started_at,
                ).values_list("level", flat=True)
            )
            for lvl in range(1, level + 1):
                if lvl in existing:
                    continue
                try:
                    with transaction.atomic():
                        _create_order(
                            locked,
                            kind=SupervisionKind.OVERDUE,
                            level=lvl,
                            user=system,
                            note=f"{_step_label(locked.step)}环节已超期 {hours_over:.1f} 小时，请立即处理并答复",
                            now=now,
                            step=locked.step,
                            step_started_at=locked.step_started_at,
                        )
                except IntegrityError:
                    continue  # another sweeper created it first
                result.orders += 1
            Case.objects.filter(pk=locked.pk, supervision_level__lt=level).update(
                supervision_level=level
            )
    return result


def _field_responsible(case: Case) -> dict:
    """A late verify or check step is the assigned grid manager's (else the beat's)."""
    if case.step not in ("verify", "check"):
        return {}
    manager_id = case.assignee_id
    if manager_id is None:
        manager = beat_manager_for_cell(case.cell_id)
        manager_id = manager.pk if manager else None
    return {"responsible": manager_id} if manager_id else {}


def _step_label(step: str) -> str:
    # Written into supervision orders' notes and reasons: data, kept in the source language.
    return STEP_LABELS.get(step, step)


__all__ = [
    "ReportInput",
    "IntakeResult",
    "TransitionInput",
    "do_report_case",
    "report_channel",
    "do_transition_case",
    "do_unlink_report",
    "do_attach_photo",
    "do_create_supervision",
    "do_reply_supervision",
    "may_reply",
    "orders_awaiting",
    "addressee_of",
    "sweep_deadlines",
    "available_transitions",
    "may_take",
]
