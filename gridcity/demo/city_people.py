"""The demo city's team and communities, made through the people app's actions by the people
who would do it: the director pairs herself and four departments with communities, they visit
(with photos and the problems they find), the centre writes a score sheet and assesses the
past quarters, the annual records are compiled; a certifying course and a refresher with their
sign-in sheets, commendations; a survey answered by residents; the practice stations' past
and coming activities; community rules; showcases of fixed problems; and the grid managers'
patrols of the past week and of today, walked through their beats with fixes every minute.

Dates are relative to the demo's "now" (`ctx.now`), so the same seed builds the same city."""

from __future__ import annotations

import io
import math
import random
from datetime import date, datetime, time, timedelta

from django.db.models import Exists, OuterRef
from django.utils import timezone
from PIL import Image, ImageDraw
from shapely.geometry import shape

from gridcity.accounts.models import User
from gridcity.cases.models import Attachment, AttachmentKind, Case, Status
from gridcity.demo.context import DemoContext, local_time
from gridcity.grids.models import Area, AreaLevel, Beat
from gridcity.lib.errors import CaseError
from gridcity.people.actions import (
    SURVEY_QUESTIONS,
    PointIn,
    ProblemIn,
    VisitIn,
    do_add_civilised_family,
    do_answer_survey,
    do_assess_pairing,
    do_check_in,
    do_compile_annual_record,
    do_create_pairing,
    do_create_score_sheet,
    do_create_showcase,
    do_create_survey,
    do_create_training,
    do_end_patrol,
    do_record_activity,
    do_record_attendance,
    do_record_commendation,
    do_record_points,
    do_record_visit,
    do_resolve_problem,
    do_set_village_rule,
    do_start_patrol,
)
from gridcity.people.models import (
    AnnualRecord,
    CheckInKind,
    ProblemRoute,
    SurveyResponse,
    VisitProblem,
)

SHEET_ITEMS = [
    ("走访频次", 20),
    ("问题发现与解决", 30),
    ("台账与资料", 15),
    ("群众满意度", 25),
    ("创新举措", 10),
]
DEPARTMENT_PAIRS = ["HJWS", "SZSS", "CGZF", "YLLH"]  # codes tried in order; missing ones skipped
LEDGER_PROBLEMS = [
    "老旧小区缺少休闲座椅",
    "楼道堆放杂物，存在消防隐患",
    "背街小巷路灯损坏两处",
    "垃圾分类投放点标识褪色",
    "小区出入口非机动车乱停放",
    "健身器材松动需维修",
    "雨水井盖周边积水",
    "居民反映夜间广场舞噪音扰民",
]
FINDINGS = [
    "走访社区党群服务中心，了解垃圾分类推进情况，与网格员一同查看背街小巷。",
    "召开居民议事会，听取对老旧小区改造的意见建议。",
    "实地查看农贸市场周边环境秩序，督促落实门前三包。",
    "走访困难家庭三户，协调解决生活困难。",
    "检查上次走访问题整改情况，大部分已销号。",
]
ACTIVITIES = [
    ("lecture", "党的二十届三中全会精神宣讲"),
    ("volunteer", "垃圾分类志愿服务进小区"),
    ("exhibition", "城市治理成果图片展"),
    ("performance", "邻里节文艺演出"),
    ("volunteer", "文明交通劝导"),
    ("lecture", "反诈宣传进社区"),
    ("other", "邻里议事会"),
    ("volunteer", "银龄互助结对服务"),
]
COLOURS = [(196, 72, 56), (62, 120, 180), (80, 150, 90), (210, 160, 60), (120, 90, 160)]
WALK_M_PER_MIN = 70.0  # a patrol on foot, with stops


def build(ctx: DemoContext) -> dict[str, int]:
    rng = random.Random(ctx.rng.random())
    today = timezone.localtime(ctx.now).date()
    counts: dict[str, int] = {}
    communities = list(
        Area.objects.filter(level=AreaLevel.COMMUNITY, is_active=True).order_by("code")
    )
    counts |= _pairings(ctx, rng, today, communities)
    counts |= _training(ctx, rng, today)
    counts |= _surveys(ctx, rng, communities)
    counts |= _stations(ctx, rng, communities)
    counts |= _showcases(ctx)
    counts |= _patrols(ctx, rng)
    return counts


def _photo(rng: random.Random, label: str) -> bytes:
    """A small generated picture: a sky, a street, a few houses; the label in a corner."""
    img = Image.new("RGB", (480, 360), (178, 208, 232))
    draw = ImageDraw.Draw(img)
    draw.rectangle([0, 250, 480, 360], fill=(150, 150, 150))
    x = 10
    while x < 470:
        w, h = rng.randint(50, 110), rng.randint(80, 200)
        draw.rectangle([x, 250 - h, x + w, 250], fill=rng.choice(COLOURS))
        for wy in range(250 - h + 12, 240, 28):
            draw.rectangle([x + 8, wy, x + 20, wy + 12], fill=(240, 236, 200))
        x += w + rng.randint(6, 20)
    draw.text((12, 330), label, fill=(255, 255, 255))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=80)
    return buf.getvalue()


def _on(ctx: DemoContext, day: date, hour: int) -> datetime:
    """When a record of that day was entered: at that hour, but never after the demo's now."""
    return min(local_time(day, hour), ctx.now - timedelta(minutes=5))


def _quarter_of(d: date) -> tuple[int, int]:
    return d.year, (d.month - 1) // 3 + 1


def _previous(year: int, quarter: int) -> tuple[int, int]:
    return (year - 1, 4) if quarter == 1 else (year, quarter - 1)


# ---------------------------------------------------------------------------------------------
# 包村居


def _pairings(
    ctx: DemoContext, rng: random.Random, today: date, communities: list[Area]
) -> dict[str, int]:
    centre = ctx.people.centre
    leader, admin = centre["leader"], centre["admin"]
    past_quarters = [_previous(*_quarter_of(today))]
    past_quarters.append(_previous(*past_quarters[0]))
    starts_on = date(min(y for y, _q in past_quarters), 1, 1)
    picks = rng.sample(communities, k=min(len(communities), 6))

    pairings = [
        do_create_pairing(
            leader=leader,
            community=picks[0],
            starts_on=starts_on,
            ends_on=date(today.year + 1, 12, 31),
            tasks="帮助解决环境卫生问题\n推进垃圾分类\n每季度召开一次居民议事会",
            requirements="每月至少走访一次，每季度考核",
            visits_per_month=1,
            acting_user=leader,
            now=_on(ctx, starts_on, 9),
        )
    ]
    subjects = []
    for code in DEPARTMENT_PAIRS:
        dept = ctx.people.depts.get(code)
        lead = ctx.people.leads.get(dept.pk) if dept else None
        if dept is not None and lead is not None:
            subjects.append((dept, lead))
    for (dept, _lead), community in zip(subjects, picks[1:], strict=False):
        pairings.append(
            do_create_pairing(
                department=dept,
                community=community,
                starts_on=starts_on,
                tasks=f"{dept.name}对口帮扶\n协调解决本行业问题",
                requirements="每月至少走访一次",
                visits_per_month=1,
                acting_user=admin,
                now=_on(ctx, starts_on, 10),
            )
        )
    lead_of = {dept.pk: lead for dept, lead in subjects}

    visits = photos = problems = resolved = 0
    first_visit = max(starts_on, today - timedelta(days=150))
    for p in pairings:
        actor = leader if p.leader_id else lead_of[p.department_id]
        people = f"{actor.display_name or actor}、{p.community.name}书记"
        day = first_visit + timedelta(days=rng.randint(0, 12))
        while day < today:
            n_photos = rng.randint(1, 3)
            found = []
            if rng.random() < 0.6:
                found.append(ProblemIn(rng.choice(LEDGER_PROBLEMS), ProblemRoute.LEDGER))
            do_record_visit(
                p,
                VisitIn(
                    visited_on=day,
                    people=people,
                    findings=rng.choice(FINDINGS),
                    photos=[
                        (f"visit{i}.jpg", _photo(rng, f"{p.community.name} {day}"))
                        for i in range(n_photos)
                    ],
                    problems=found,
                ),
                acting_user=actor,
                now=_on(ctx, day, 18),
            )
            visits += 1
            photos += n_photos
            problems += len(found)
            day += timedelta(days=rng.randint(20, 40))
        # The older ledger rows are signed off; the last one or two stay open.
        ledger = list(
            VisitProblem.objects.filter(visit__pairing=p).order_by("visit__visited_on", "pk")
        )
        for problem in ledger[:-1]:
            if rng.random() < 0.7:
                do_resolve_problem(
                    problem,
                    measures="已协调相关单位整改到位",
                    acting_user=actor,
                    now=_on(ctx, problem.visit.visited_on + timedelta(days=rng.randint(3, 15)), 16),
                )
                resolved += 1

    sheet = do_create_score_sheet(
        name="包村居季度考核表", items=SHEET_ITEMS, acting_user=leader, now=_on(ctx, starts_on, 11)
    )
    assessments = 0
    for p in pairings:
        for year, quarter in past_quarters:
            share = rng.uniform(0.62, 0.97)
            scores = {
                name: round(min(top, top * rng.uniform(share - 0.08, share + 0.08)) * 2) / 2
                for name, top in SHEET_ITEMS
            }
            do_assess_pairing(
                p,
                sheet=sheet,
                year=year,
                quarter=quarter,
                scores=scores,
                note=rng.choice(["走访扎实，台账清楚", "问题整改及时", "需加强走访频次"]),
                acting_user=leader,
                # In the first weeks of the next quarter.
                now=_on(ctx, date(year + quarter // 4, quarter % 4 * 3 + 1, 10), 15),
            )
            assessments += 1
    records = 0
    for record in AnnualRecord.objects.filter(assessments__pairing__in=pairings).distinct():
        do_compile_annual_record(record, acting_user=leader, now=ctx.now - timedelta(hours=2))
        records += 1
    return {
        "pairings": len(pairings),
        "visits": visits,
        "visit_photos": photos,
        "visit_problems": problems,
        "problems_resolved": resolved,
        "score_sheets": 1,
        "assessments": assessments,
        "annual_records": records,
    }


# ---------------------------------------------------------------------------------------------
# Training and commendations


def _training(ctx: DemoContext, rng: random.Random, today: date) -> dict[str, int]:
    organiser = ctx.people.centre["shiftlead"]
    managers = ctx.people.inspectors
    certifying = do_create_training(
        title="新入职网格员上岗培训",
        held_on=today - timedelta(days=40),
        place="区城市运行管理服务中心三楼会议室",
        hours="8",
        qualification="网格员上岗资格",
        qualification_years=3,
        acting_user=organiser,
        now=_on(ctx, today - timedelta(days=55), 10),
    )
    do_record_attendance(
        certifying,
        attendees=rng.sample(managers, k=min(8, len(managers))),
        acting_user=organiser,
        now=_on(ctx, today - timedelta(days=40), 17),
    )
    refresher = do_create_training(
        title="部件普查与事件上报规范培训",
        held_on=today - timedelta(days=12),
        place="湖滨街道办事处会议室",
        hours="2.5",
        acting_user=organiser,
        now=_on(ctx, today - timedelta(days=20), 10),
    )
    present = [u for u in managers if rng.random() < 0.85]
    do_record_attendance(
        refresher,
        attendees=present,
        acting_user=organiser,
        now=_on(ctx, today - timedelta(days=12), 17),
    )
    upcoming = do_create_training(
        title="移动端巡查与GPS轨迹使用培训",
        held_on=today + timedelta(days=7),
        place="区城市运行管理服务中心",
        hours="2",
        acting_user=organiser,
        now=_on(ctx, today - timedelta(days=3), 10),
    )
    commended = 0
    for user, title, reason, amount in [
        (managers[0], "月度优秀网格员", "当月上报有效案件数居全区第一", 500),
        (
            managers[3 % len(managers)],
            "月度优秀网格员",
            "及时发现并上报井盖缺失，避免安全事故",
            500,
        ),
        (managers[7 % len(managers)], "先进个人", "连续三个月巡查覆盖率 100%", None),
    ]:
        awarded_on = today - timedelta(days=rng.randint(5, 60))
        do_record_commendation(
            user=user,
            title=title,
            awarded_on=awarded_on,
            reason=reason,
            amount=amount,
            acting_user=ctx.people.centre["leader"],
            now=_on(ctx, awarded_on, 16),
        )
        commended += 1
    return {
        "training_sessions": len([certifying, refresher, upcoming]),
        "training_attendances": certifying.attendees.count() + refresher.attendees.count(),
        "qualifications": certifying.qualifications.count(),
        "commendations": commended,
    }


# ---------------------------------------------------------------------------------------------
# Surveys, community rules, practice stations


def _surveys(ctx: DemoContext, rng: random.Random, communities: list[Area]) -> dict[str, int]:
    survey = do_create_survey(
        title=f"{timezone.localtime(ctx.now).year}年城市治理群众知晓率与满意度调查",
        questions={
            "awareness": "您是否了解“网格精治”和身边的网格员？",
            "participation": "您是否通过热线、随手拍等方式反映过问题？",
            "support": "您是否支持社区开展的城市治理工作？",
        },
        acting_user=ctx.people.centre["leader"],
        now=ctx.now - timedelta(days=31),
    )
    answered = 0
    for community in rng.sample(communities, k=min(len(communities), 12)):
        mood = rng.uniform(2.8, 4.6)
        for _i in range(rng.randint(6, 14)):
            answers = {
                name: max(1, min(5, round(rng.gauss(mood, 0.9)))) for name, _l in SURVEY_QUESTIONS
            }
            do_answer_survey(survey, community_code=community.code, answers=answers)
            answered += 1
    # The answers came in over the past weeks, not all at this instant.
    for r in SurveyResponse.objects.filter(survey=survey):
        r.submitted_at = ctx.now - timedelta(hours=rng.uniform(1, 24 * 30))
        r.save(update_fields=["submitted_at"])
    rules = families = 0
    admin = ctx.people.centre["admin"]
    for community in communities[:6]:
        do_set_village_rule(
            community=community,
            text=(
                "一、爱党爱国，遵纪守法。\n二、门前三包，垃圾分类，不乱堆乱放。\n"
                "三、文明养犬，出门牵绳，及时清理。\n四、邻里和睦，互帮互助。\n"
                "五、移风易俗，婚事新办，丧事简办。"
            ),
            adopted_on=date(timezone.localtime(ctx.now).year, 3, 1),
            acting_user=admin,
            now=_on(ctx, date(timezone.localtime(ctx.now).year, 3, 2), 10),
        )
        rules += 1
        for family in rng.sample(["王建国家庭", "李秀英家庭", "张伟家庭", "陈志强家庭"], k=2):
            do_add_civilised_family(
                community=community,
                year=timezone.localtime(ctx.now).year,
                family=family,
                reason="热心公益，带头参与垃圾分类和志愿服务",
                acting_user=admin,
                now=ctx.now - timedelta(days=rng.randint(10, 90)),
            )
            families += 1
    return {
        "surveys": 1,
        "survey_responses": answered,
        "village_rules": rules,
        "civilised_families": families,
    }


def _stations(ctx: DemoContext, rng: random.Random, communities: list[Area]) -> dict[str, int]:
    organiser = ctx.people.centre["shiftlead"]
    made = 0
    for i, (kind, theme) in enumerate(ACTIVITIES):
        community = communities[(i * 7) % len(communities)]
        street = community.parent.name if community.parent_id else ""
        past = i < 5
        held_at = ctx.now + timedelta(days=(-rng.randint(3, 60) if past else rng.randint(2, 20)))
        held_at = held_at.replace(hour=rng.choice([9, 14, 19]), minute=0, second=0, microsecond=0)
        if past and held_at > ctx.now:
            held_at -= timedelta(days=1)
        do_record_activity(
            station=f"{street}新时代文明实践站",
            community=community,
            kind=kind,
            theme=theme,
            held_at=held_at,
            place=f"{community.name}党群服务中心",
            attendance=rng.randint(30, 180) if past else None,
            photo=("activity.jpg", _photo(rng, theme)) if past else None,
            acting_user=organiser,
            now=min(held_at, ctx.now - timedelta(days=1)) + timedelta(hours=3)
            if past
            else ctx.now - timedelta(days=1),
        )
        made += 1
    return {"station_activities": made}


def _showcases(ctx: DemoContext) -> dict[str, int]:
    photo = Attachment.objects.filter(case=OuterRef("pk")).exclude(public_file="")
    before_kinds = [AttachmentKind.REPORT, AttachmentKind.BEFORE, AttachmentKind.VERIFY]
    after_kinds = [AttachmentKind.AFTER, AttachmentKind.CHECK]
    cases = (
        Case.objects.filter(status=Status.CLOSED)
        .filter(Exists(photo.filter(kind__in=before_kinds)))
        .filter(Exists(photo.filter(kind__in=after_kinds)))
        .select_related("category")
        .order_by("-closed_at", "pk")[:3]
    )
    made = 0
    for case in cases:
        atts = case.attachments.exclude(public_file="").order_by("uploaded_at", "pk")
        before = atts.filter(kind__in=before_kinds).first()
        after = atts.filter(kind__in=after_kinds).last()
        try:
            do_create_showcase(
                case=case,
                before=before,
                after=after,
                caption=f"{case.category.name}及时整改",
                acting_user=ctx.people.centre["leader"],
                now=ctx.now - timedelta(hours=2),
            )
        except CaseError:
            continue
        made += 1
    return {"showcases": made}


# ---------------------------------------------------------------------------------------------
# Patrols: the past week and today


def _route(cells: list[Area], rng: random.Random, limit: int) -> list[tuple[float, float]]:
    """A walk through up to `limit` cells of a beat: from a random cell, always on to the
    nearest cell not yet walked."""
    centres = []
    for c in cells:
        if c.geometry:
            pt = shape(c.geometry).representative_point()
            centres.append((pt.x, pt.y))
    if not centres:
        return []
    here = centres.pop(rng.randrange(len(centres)))
    route = [here]
    while centres and len(route) < limit:
        here = min(centres, key=lambda c: (c[0] - here[0]) ** 2 + (c[1] - here[1]) ** 2)
        centres.remove(here)
        route.append(here)
    return route


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    dx = (b[0] - a[0]) * 111_320 * math.cos(math.radians(a[1]))
    dy = (b[1] - a[1]) * 110_540
    return math.hypot(dx, dy)


def _fixes(
    route: list[tuple[float, float]], start: datetime, end: datetime, rng: random.Random
) -> list[PointIn]:
    """A fix a minute along the route at walking pace, stopping at `end`."""
    points: list[PointIn] = []
    t, seq = start, 0
    for a, b in zip(route, route[1:], strict=False):
        steps = max(1, int(_metres(a, b) / WALK_M_PER_MIN))
        for k in range(steps):
            if t > end:
                return points
            f = k / steps
            jitter = rng.uniform(-0.00003, 0.00003)
            points.append(
                PointIn(
                    seq,
                    t,
                    a[0] + (b[0] - a[0]) * f + jitter,
                    a[1] + (b[1] - a[1]) * f + jitter,
                    rng.uniform(4, 15),
                )
            )
            seq += 1
            t += timedelta(minutes=1)
    return points


def _patrols(ctx: DemoContext, rng: random.Random) -> dict[str, int]:
    now = ctx.now
    today = timezone.localtime(now).date()
    midnight = timezone.make_aware(datetime.combine(today, time.min))
    beats = {
        b.manager_id: b
        for b in Beat.objects.filter(manager__in=ctx.people.inspectors).prefetch_related("cells")
    }
    walkers: list[User] = [u for u in ctx.people.inspectors if u.pk in beats][:10]
    patrols = points = active = checkins = 0
    for n, user in enumerate(walkers):
        cells = list(beats[user.pk].cells.all())
        for days_ago in range(6, -1, -1):
            day = today - timedelta(days=days_ago)
            if days_ago and (day.weekday() == 6 or rng.random() < 0.15):
                continue  # a Sunday off, or a day in the office
            start = timezone.make_aware(
                datetime.combine(day, time(8, 0)) + timedelta(minutes=rng.randint(0, 50))
            )
            length = timedelta(minutes=rng.randint(70, 150) if n % 4 else rng.randint(35, 55))
            still_walking = days_ago == 0 and n % 3 == 0
            if still_walking:
                # Out on her beat right now: set off three quarters of an hour ago.
                start, length = now - timedelta(minutes=45), timedelta(minutes=45)
            if days_ago == 0:
                # Today's walks began this morning (early in the night: just after midnight).
                start = max(
                    midnight + timedelta(minutes=5), min(start, now - timedelta(minutes=45))
                )
            end = min(start + length, now)
            fixes = _fixes(_route(cells, rng, limit=60), start, end, rng)
            if len(fixes) < 2:
                continue
            if days_ago == 0 and n == 1 and len(fixes) > 6:
                # One fix from a bad GPS jump: flagged, kept out of distance and coverage.
                fixes[len(fixes) // 2].lon += 0.05
            key = f"demo-{user.username}-{day.isoformat()}"
            # On duty (打卡) a few minutes before setting off, from where the walk starts.
            do_check_in(
                client_key=f"{key}-in",
                kind=CheckInKind.IN,
                lon=fixes[0].lon,
                lat=fixes[0].lat,
                at=start - timedelta(minutes=rng.randint(3, 15)),
                acting_user=user,
                received_at=now,
            )
            checkins += 1
            do_start_patrol(key=key, started_at=start, acting_user=user)
            for i in range(0, len(fixes), 200):
                do_record_points(key, fixes[i : i + 200], acting_user=user)
            if still_walking:
                active += 1
            else:
                do_end_patrol(key, ended_at=fixes[-1].t + timedelta(minutes=1), acting_user=user)
                if days_ago:
                    do_check_in(
                        client_key=f"{key}-out",
                        kind=CheckInKind.OUT,
                        lon=fixes[-1].lon,
                        lat=fixes[-1].lat,
                        at=fixes[-1].t + timedelta(minutes=rng.randint(5, 20)),
                        acting_user=user,
                        received_at=now,
                    )
                    checkins += 1
            patrols += 1
            points += len(fixes)
    return {
        "patrols": patrols,
        "patrols_active": active,
        "patrol_points": points,
        "checkins": checkins,
    }
