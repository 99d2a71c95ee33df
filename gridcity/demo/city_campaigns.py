"""The demo's campaigns (专项整治), built after the case history through the real actions.

One campaign is half-way: it started three weeks before "now" and runs three weeks more, on the
commonest problems of the history (full and overflowing bins, rubbish left out) in the streets
where they are reported most. Its ledger holds rows in every state: rows of closed cases
awaiting sign-off or signed off, rows of open cases waiting or being worked, rows past their
deadline marked overdue (with 督办) by the sweep, rows entered by hand and imported from a
spreadsheet, and a problem back in a signed-off cell (反弹). The other campaign is finished and
fully signed off.

The history is replayed in order: each campaign is launched on its first day without tagging
what the history holds, and each case is then tagged at the time the hooks would have tagged
it — when it was reported, or for a case the unit had already signed for or closed, then — so
every row is made in the state its case had reached and no row is dated before its case."""

from __future__ import annotations

import io
from collections import Counter
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone
from openpyxl import Workbook

from gridcity.accounts.models import User
from gridcity.campaigns.actions import (
    check_rebound,
    do_create_campaign,
    do_create_ledger_row,
    do_transition_ledger_row,
    do_update_campaign,
    sweep_ledger,
    tag_case,
)
from gridcity.campaigns.ledger_io import do_import_ledger
from gridcity.campaigns.ledger_workflow import CASE_AT_UNIT
from gridcity.campaigns.models import (
    Campaign,
    LedgerRow,
    LedgerSource,
    LedgerStatus,
    LedgerSupervision,
    ReboundWarning,
)
from gridcity.cases.actions import ReportInput, do_report_case
from gridcity.cases.models import Case, Channel, Status
from gridcity.demo.context import DemoContext, local_time
from gridcity.grids.models import Area, AreaLevel
from gridcity.lib.errors import CaseError
from gridcity.taxonomy.actions import resolve_category
from gridcity.testing import tiny_jpeg

SIGN_OFF_NOTES = [
    "现场复核已清运，周边无散落垃圾",
    "核查照片与现场一致，问题已整改",
    "复查合格，同意销号",
    "已增加清运频次，现场整洁",
]
BEFORE = tiny_jpeg((150, 120, 80), size=(48, 36))
AFTER = tiny_jpeg((60, 140, 70), size=(48, 36))


def _local(dt: datetime) -> datetime:
    return timezone.localtime(dt)


def _top_streets(codes: list[str], since: datetime, until: datetime) -> list[Area]:
    """The streets with the most reports of these categories in the period: as few as hold
    two thirds of them, at most four."""
    paths = Case.objects.filter(
        category__code__in=codes,
        category__kind="matter",
        reported_at__gte=since,
        reported_at__lt=until,
        area_path__gt="",
    ).values_list("area_path", flat=True)
    counts = Counter(p.strip("/").split("/")[1] for p in paths if p.count("/") > 2)
    total, picked, held = sum(counts.values()), [], 0
    for code, n in counts.most_common(4):
        picked.append(code)
        held += n
        if held >= total * 2 / 3:
            break
    streets = list(Area.objects.filter(level=AreaLevel.STREET, code__in=picked).order_by("code"))
    return streets or list(Area.objects.filter(level=AreaLevel.STREET).order_by("code")[:2])


def _tag_time(case: Case, ceiling: datetime) -> datetime:
    """When the hooks would have tagged the case with its present state: on report, or once
    the unit signed for it or it was closed."""
    t = case.reported_at
    if case.status == Status.CLOSED and case.closed_at:
        t = case.closed_at
    elif case.status in CASE_AT_UNIT and case.signed_at:
        t = case.signed_at
    return min(t + timedelta(minutes=10), ceiling)


def _replay_tagging(campaign: Campaign, now: datetime) -> int:
    paths = list(campaign.areas.values_list("path", flat=True))
    area_q = Q()
    for p in paths:
        area_q |= Q(area_path__startswith=p)
    cases = Case.objects.filter(
        area_q,
        category__in=campaign.categories.all(),
        reported_at__gte=local_time(campaign.starts_on, 0),
        reported_at__lt=min(local_time(campaign.ends_on + timedelta(days=1), 0), now),
    )
    tagged = 0
    for case in sorted(cases, key=lambda c: (_tag_time(c, now), c.pk)):
        tagged += len(tag_case(case, now=_tag_time(case, now)))
    return tagged


def _office_hours(t: datetime, ceiling: datetime) -> datetime:
    """The same moment if the centre is at work then (08:30–17:30), else the next morning."""
    local = _local(t)
    if local.hour >= 18 or (local.hour, local.minute) >= (17, 30):
        local = local.replace(hour=9) + timedelta(days=1)
    elif local.hour < 8 or (local.hour, local.minute) < (8, 30):
        local = local.replace(hour=9)
    return min(local, ceiling)


def _sign_off(row: LedgerRow, user: User, when: datetime, note: str) -> bool:
    try:
        do_transition_ledger_row(row, "sign_off", acting_user=user, note=note, now=when)
    except CaseError:
        return False  # e.g. no after-photo: the row waits for one
    return True


def _unit_user(ctx: DemoContext, row: LedgerRow) -> User:
    return (
        ctx.people.handlers.get(row.department_id)
        or ctx.people.leads.get(row.department_id)
        or ctx.people.centre["shiftlead"]
    )


def _verifier(ctx: DemoContext) -> User:
    return ctx.rng.choice([ctx.people.centre["shiftlead"], *ctx.people.inspectors[:6]])


def _sign_off_closed_case_rows(
    ctx: DemoContext, campaign: Campaign, *, keep_recent: timedelta, keep_share: float
) -> None:
    """The centre verifies rows of closed cases a few hours to two days after closing; the
    latest closures (and a share of the others) still wait for it."""
    now = ctx.now
    rows = campaign.ledger_rows.filter(status=LedgerStatus.AWAITING, case__isnull=False)
    for row in rows.select_related("case").order_by("case__closed_at", "pk"):
        closed = row.case.closed_at
        if closed is None or closed > now - keep_recent or ctx.rng.random() < keep_share:
            continue
        when = _office_hours(
            closed + timedelta(hours=ctx.rng.uniform(3, 48)), now - timedelta(hours=2)
        )
        _sign_off(row, _verifier(ctx), when, ctx.rng.choice(SIGN_OFF_NOTES))


def _near(row: LedgerRow | None, ctx: DemoContext, d: float) -> tuple[float | None, float | None]:
    if row is None or row.lon is None:
        return None, None
    return row.lon + ctx.rng.uniform(-d, d), row.lat + ctx.rng.uniform(-d, d)


def _manual_rows(ctx: DemoContext, campaign: Campaign, dept, anchor: LedgerRow | None) -> int:
    """Problems a grid manager found on his rounds and entered by hand: one signed off, one
    being worked, one left past its deadline (the sweep marks it overdue and raises 督办)."""
    now, inspector, centre = ctx.now, ctx.people.inspectors[1], ctx.people.centre
    unit = ctx.people.handlers.get(dept.pk) or centre["shiftlead"]
    day = _local(now).date()
    plans = [  # (what, entered days ago, deadline in days from today, where it got to)
        ("垃圾房门口堆放装修垃圾，影响通行", 16, -9, "signed_off"),
        ("分类垃圾桶破损，桶盖缺失", 6, 4, "rectifying"),
        ("小区后门垃圾中转点长期满溢，异味明显", 12, -4, "overdue"),
    ]
    for text, days_ago, deadline_in, goal in plans:
        created = now - timedelta(days=days_ago, hours=ctx.rng.uniform(0, 3))
        lon, lat = _near(anchor, ctx, 0.0006)
        row = do_create_ledger_row(
            acting_user=inspector,
            campaign=campaign,
            description=text,
            department=dept,
            deadline=day + timedelta(days=deadline_in),
            measures="清理并恢复，建立日常巡查",
            address="巡查发现",
            lon=lon,
            lat=lat,
            category=campaign.categories.first(),
            photos=[("before.jpg", BEFORE)],
            now=created,
        )
        if goal == "signed_off":
            do_transition_ledger_row(
                row,
                "submit",
                acting_user=unit,
                note="已清运并设置围挡",
                photos=[("after.jpg", AFTER)],
                now=created + timedelta(days=2),
            )
            _sign_off(row, centre["shiftlead"], created + timedelta(days=3), "复查已整改，销号")
        else:
            # The overdue one was started too, and then left: the sweep chases it today.
            do_transition_ledger_row(
                row, "start", acting_user=unit, note="已安排人员", now=created + timedelta(days=1)
            )
    return len(plans)


def _imported_rows(ctx: DemoContext, campaign: Campaign, dept) -> int:
    """The street office's own list, imported from its spreadsheet: one still waiting, one
    submitted for sign-off, one past its deadline."""
    now = ctx.now
    day = _local(now).date()
    wb = Workbook()
    ws = wb.active
    ws.append(["序号", "问题描述", "位置", "责任单位", "整改措施", "整改时限", "备注"])
    lines = [
        ("农贸市场西侧垃圾桶数量不足，经常满溢", "农贸市场西侧", 8, "增设垃圾桶 4 个"),
        ("沿街商铺垃圾混投，桶边散落", "沿街商铺", 3, "上门宣传，落实门前三包"),
        ("老旧小区垃圾房无人管理", "老旧小区", -2, "明确保洁责任人"),
    ]
    for i, (text, place, days, measures) in enumerate(lines, start=1):
        ws.append([i, text, place, dept.name, measures, day + timedelta(days=days), "街道自查"])
    buf = io.BytesIO()
    wb.save(buf)
    imported_at = now - timedelta(days=9)
    rows = do_import_ledger(
        buf.getvalue(), acting_user=ctx.people.centre["leader"], campaign=campaign, now=imported_at
    )
    unit = ctx.people.handlers.get(dept.pk) or ctx.people.centre["shiftlead"]
    do_transition_ledger_row(
        rows[1],
        "submit",
        acting_user=unit,
        note="已逐户告知并复查",
        photos=[("after.jpg", AFTER)],
        now=now - timedelta(days=1, hours=2),
    )
    return len(rows)


def _rebound(ctx: DemoContext, campaign: Campaign) -> int:
    """Bins full again in a cell whose row was signed off: the grid manager reports it, and
    tagging raises the rebound warning the board shows."""
    signed = (
        campaign.ledger_rows.filter(
            status=LedgerStatus.SIGNED_OFF,
            source=LedgerSource.CASE,
            cell__isnull=False,
            signed_off_at__lt=ctx.now - timedelta(hours=6),
        )
        .select_related("category")
        .order_by("-signed_off_at")
        .first()
    )
    if signed is None:
        return 0
    when = ctx.now - timedelta(hours=3)
    try:
        case = do_report_case(
            ReportInput(
                category=signed.category,
                channel=Channel.INSPECTOR,
                lon=signed.lon + 0.0001,
                lat=signed.lat + 0.0001,
                description="整改后垃圾箱再次满溢，周边散落",
                photos=[("bin.jpg", BEFORE)],
                reported_at=when,
            ),
            acting_user=ctx.people.inspectors[0],
            now=when,
        ).case
    except CaseError:
        return 0
    tag_case(case, now=when + timedelta(minutes=5))
    return ReboundWarning.objects.filter(case=case).count()


def _finish(ctx: DemoContext, campaign: Campaign) -> None:
    """Every row of the finished campaign signed off: rows of closed cases on their evidence,
    any other after the unit submitted its photos."""
    now = ctx.now
    for row in campaign.ledger_rows.exclude(
        status__in=(LedgerStatus.SIGNED_OFF, LedgerStatus.CANCELLED)
    ).select_related("case"):
        done = row.case.closed_at if row.case and row.case.closed_at else None
        if done is None:
            done = local_time(campaign.ends_on, 10)
            do_transition_ledger_row(
                row,
                "submit",
                acting_user=_unit_user(ctx, row),
                note="已整改",
                photos=[("after.jpg", AFTER)],
                now=done,
            )
        when = _office_hours(
            done + timedelta(hours=ctx.rng.uniform(3, 40)), now - timedelta(hours=2)
        )
        _sign_off(row, _verifier(ctx), when, ctx.rng.choice(SIGN_OFF_NOTES))


def build(ctx: DemoContext) -> dict[str, int]:
    now = ctx.now
    today = _local(now).date()
    people = ctx.people
    leader, sanitation = people.centre["leader"], people.depts["HJWS"]

    # -- the running campaign ----------------------------------------------------------------
    codes = ["06042", "06010"]
    starts = today - timedelta(days=21)
    launch = local_time(starts, 8, 30)
    categories = [resolve_category(c) for c in codes]
    running = do_create_campaign(
        acting_user=leader,
        name="生活垃圾满溢与暴露垃圾专项整治",
        starts_on=starts,
        ends_on=today + timedelta(days=21),
        categories=categories,
        areas=_top_streets(codes, launch - timedelta(days=60), now),
        lead_department=sanitation,
        goals="垃圾箱满溢 2 小时内清运；暴露垃圾当日清零；同一网格 7 天内不得反复出现",
        tag_existing=False,
        now=launch,
    )
    tagged = _replay_tagging(running, now)
    do_update_campaign(
        running,
        acting_user=people.centre["shiftlead"],
        **_settings(running, member_departments=[people.depts["CGZF"]]),
        now=launch + timedelta(days=2, hours=2),
    )
    _sign_off_closed_case_rows(ctx, running, keep_recent=timedelta(days=1), keep_share=0.2)
    # Tagging checked each case for a rebound as it came in; with the sign-offs now in place,
    # check them again as of then, as the hooks would have.
    for tag in running.tags.select_related("case", "case__category"):
        check_rebound(tag.case, now=tag.case.reported_at + timedelta(minutes=10))
    anchor = running.ledger_rows.filter(lon__isnull=False).order_by("pk").first()
    manual = _manual_rows(ctx, running, sanitation, anchor)
    imported = _imported_rows(ctx, running, sanitation)

    # -- the finished campaign ---------------------------------------------------------------
    span = max((today - _local(ctx.start).date()).days, 20)
    f_starts = _local(ctx.start).date() + timedelta(days=2)
    f_ends = f_starts + timedelta(days=max(10, round(span * 0.4)))
    f_codes = ["09006", "09009"]
    finished = do_create_campaign(
        acting_user=leader,
        name="占道经营与乱停放集中整治",
        starts_on=f_starts,
        ends_on=f_ends,
        categories=[resolve_category(c) for c in f_codes],
        areas=_top_streets(f_codes, local_time(f_starts, 0), local_time(f_ends, 0)),
        lead_department=people.depts["CGZF"],
        member_departments=[people.depts["JTGL"]],
        goals="主要道路占道经营、机动车乱停放动态清零",
        tag_existing=False,
        now=local_time(f_starts, 8, 30),
    )
    tagged += _replay_tagging(finished, now)
    _finish(ctx, finished)

    # -- today: the scheduled sweep, and a problem coming back -------------------------------
    rebounds = _rebound(ctx, running)
    sweep = sweep_ledger(now=now)

    rows = LedgerRow.objects.filter(campaign__in=(running, finished))
    by_status = Counter(rows.values_list("status", flat=True))
    return {
        "campaigns": 2,
        "cases_tagged": tagged,
        "ledger_rows": rows.count(),
        "manual_rows": manual,
        "imported_rows": imported,
        **{f"rows_{s.value}": by_status.get(s.value, 0) for s in LedgerStatus},
        "supervisions": LedgerSupervision.objects.filter(row__in=rows).count(),
        "rebound_warnings": ReboundWarning.objects.filter(campaign__in=(running, finished)).count(),
        "rebounds_reported_today": rebounds,
        "overdue_marked": sweep.marked,
    }


def _settings(campaign: Campaign, **change) -> dict:
    return {
        "name": campaign.name,
        "starts_on": campaign.starts_on,
        "ends_on": campaign.ends_on,
        "categories": list(campaign.categories.all()),
        "areas": list(campaign.areas.all()),
        "lead_department": campaign.lead_department,
        "member_departments": list(campaign.member_departments.all()),
        "goals": campaign.goals,
        "ledger_from_cases": campaign.ledger_from_cases,
        "closed_cases": campaign.closed_cases,
        "default_days": campaign.default_days,
        "rebound_days": campaign.rebound_days,
        **change,
    }
