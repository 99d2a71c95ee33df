"""The demo city's 督查检查 and its drone and camera detections, made through the inspection
actions by the centre's staff and two grid managers: a weekly open (明察) plan and a random
undercover (暗访) one; an undercover round ten days ago with photographed findings, two
notices, one re-inspection passed and one due in the coming days; and detections — two
confident ones filed at once, two accepted by the intake clerk, one rejected, three waiting."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from shapely.geometry import shape

from gridcity.accounts.actions import get_system_user
from gridcity.campaigns.actions import (
    do_accept_detection,
    do_create_plan,
    do_finish_inspection,
    do_ingest_detection,
    do_issue_notice,
    do_record_finding,
    do_reject_detection,
    do_schedule_inspection,
    do_transition_ledger_row,
    notice_rows,
)
from gridcity.campaigns.models import Finding, FindingOutcome, Inspection
from gridcity.demo.context import DemoContext, local_time
from gridcity.grids.models import Area, AreaLevel
from gridcity.taxonomy.actions import resolve_category
from gridcity.testing import tiny_jpeg

# What the undercover round finds: (category, unit code, what the inspector wrote, checklist
# item index or None).
ROUND_FINDINGS = [
    ("06042", "HJWS", "垃圾箱满溢，周边散落生活垃圾", 0),
    ("06010", "HJWS", "背街小巷暴露垃圾成堆，无人清运", 1),
    ("09006", "CGZF", "路口早餐摊占道经营，油污未清理", 2),
    ("06036", "CGZF", "商铺门前乱堆纸箱杂物", 2),
]
# Detections: (source, device, category, confidence, what the review decides).
DETECTIONS = [
    ("camera", "CAM-湖滨-01", "06042", 0.93, "auto"),
    ("drone", "UAV-上城-02", "06036", 0.88, "auto"),
    ("camera", "CAM-清波-04", "09006", 0.78, "accept"),
    ("drone", "UAV-上城-02", "06010", 0.71, "accept"),
    ("camera", "CAM-湖滨-07", "06042", 0.56, "reject"),
    ("camera", "CAM-望江-03", "09009", 0.74, "wait"),
    ("drone", "UAV-上城-01", "06001", 0.66, "wait"),
    ("camera", "CAM-南星-02", "06042", 0.61, "wait"),
]


def _point(cell: Area) -> tuple[float, float]:
    p = shape(cell.geometry).representative_point()
    return p.x, p.y


def build(ctx: DemoContext) -> dict[str, int]:
    centre, depts = ctx.people.centre, ctx.people.depts
    leader, shift, intake = centre["leader"], centre["shiftlead"], centre["intake"]
    walker, other = ctx.people.inspectors[0], ctx.people.inspectors[1]
    today = timezone.localtime(ctx.now).date()
    streets = list(Area.objects.filter(level=AreaLevel.STREET).order_by("code"))
    planned_at = max(ctx.start, ctx.now - timedelta(days=20))

    weekly = do_create_plan(
        acting_user=leader,
        name="市容秩序每周明察",
        content="主次干道市容环境、街面秩序；检查前通知属地街道和责任部门",
        method="planned",
        openness="open",
        scope="comprehensive",
        frequency="weekly",
        area=streets[1],
        inspector=other,
        items=[("垃圾满溢", 1), ("占道经营", 2), ("乱停放", 1)],
        now=planned_at,
    )
    spot = do_create_plan(
        acting_user=leader,
        name="环境卫生随机暗访",
        content="随机抽取网格暗访垃圾满溢、暴露垃圾和占道经营，不提前通知",
        method="random",
        openness="undercover",
        scope="thematic",
        frequency="once",
        area=streets[0],
        sample_size=5,
        items=[("垃圾站（箱）满溢", 2), ("暴露垃圾", 2), ("占道经营、乱堆物料", 1)],
        now=planned_at,
    )

    # Last week's open check, done with nothing to report; this week's is still ahead.
    last_week = today - timedelta(days=7)
    done = do_schedule_inspection(
        weekly, acting_user=shift, inspector=other, on=last_week, now=local_time(last_week, 8)
    )
    do_finish_inspection(done, acting_user=other, note="未发现问题", now=local_time(last_week, 11))
    ahead = today + timedelta(days=2)
    do_schedule_inspection(
        weekly, acting_user=shift, inspector=other, on=ahead, now=ctx.now - timedelta(hours=2)
    )

    # The undercover round, ten days ago: a finding with a photo in each of four sampled cells.
    day = today - timedelta(days=10)
    round_ = do_schedule_inspection(
        spot,
        acting_user=leader,
        inspector=walker,
        on=day,
        seed=f"暗访-{day:%Y%m%d}",
        now=local_time(day - timedelta(days=1), 16),
    )
    cells = list(round_.cells.order_by("code"))
    items = list(spot.items.all())
    findings: list[Finding] = []
    for i, (code, unit, text, item) in enumerate(ROUND_FINDINGS):
        lon, lat = _point(cells[i % len(cells)])
        findings.append(
            do_record_finding(
                round_,
                acting_user=walker,
                description=text,
                lon=lon,
                lat=lat,
                category=resolve_category(code),
                department=depts[unit],
                checklist_item=items[item] if item is not None else None,
                measures="立即整改，拍照上传整改前后对比",
                photos=[("finding.jpg", tiny_jpeg((120 + 30 * i, 70, 60)))],
                now=local_time(day, 9 + i, 20),
            )
        )
    do_finish_inspection(round_, acting_user=walker, note="暗访 5 个网格", now=local_time(day, 15))

    # Sanitation: notice, rectified, re-inspected and passed. Enforcement: notice still open,
    # its re-inspection in the coming days.
    issued = local_time(day + timedelta(days=1), 9)
    sanitation = do_issue_notice(
        round_,
        acting_user=leader,
        department=depts["HJWS"],
        deadline=today - timedelta(days=4),
        now=issued,
    )
    enforcement = do_issue_notice(
        round_,
        acting_user=leader,
        department=depts["CGZF"],
        deadline=today + timedelta(days=2),
        now=issued + timedelta(minutes=10),
    )
    handler = ctx.people.handlers[depts["HJWS"].pk]
    for n, row in enumerate(notice_rows(sanitation)):
        do_transition_ledger_row(
            row,
            "submit",
            acting_user=handler,
            note="已清运并增加清运频次",
            photos=[("after.jpg", tiny_jpeg((60, 150, 70)))],
            now=local_time(today - timedelta(days=6), 14, 10 * n),
        )
    recheck = sanitation.reinspection
    on = today - timedelta(days=3)
    for n, row in enumerate(notice_rows(sanitation)):
        do_transition_ledger_row(
            row,
            "sign_off",
            acting_user=walker,
            note="复查：已清理干净",
            photos=[("recheck.jpg", tiny_jpeg((50, 140, 90)))],
            now=local_time(on, 10, 10 * n),
        )
    do_finish_inspection(
        recheck, acting_user=walker, passed=True, note="整改到位", now=local_time(on, 11)
    )
    sanitation.refresh_from_db()

    # Drones and cameras report through the device account; the intake clerk reviews.
    system = get_system_user()
    all_cells = list(Area.objects.filter(level=AreaLevel.CELL, is_active=True).order_by("code"))
    decided = {"auto": 0, "accept": 0, "reject": 0, "wait": 0}
    for i, (source, device, code, confidence, fate) in enumerate(DETECTIONS):
        seen = ctx.now - timedelta(hours=70 - 8 * i)
        lon, lat = _point(ctx.rng.choice(all_cells))
        result = do_ingest_detection(
            acting_user=system,
            category=resolve_category(code),
            confidence=confidence,
            image=tiny_jpeg((90 + 15 * i, 90, 140 - 10 * i), size=(96, 72)),
            lon=lon,
            lat=lat,
            source=source,
            device_id=device,
            now=seen,
        )
        review = seen + timedelta(minutes=40)
        if fate == "accept":
            do_accept_detection(
                result.finding, acting_user=intake, note="画面清晰，确认属实", now=review
            )
        elif fate == "reject":
            do_reject_detection(
                result.finding,
                acting_user=intake,
                reason="误识别：画面中为环卫车正在作业",
                now=review,
            )
        decided[fate] += 1
    return {
        "plans": 2,
        "inspections": Inspection.objects.filter(plan__in=[weekly, spot]).count(),
        "findings": len(findings),
        "notices": 2,
        "notices_closed": sum(1 for n in (sanitation, enforcement) if n.closed_at),
        "detections": len(DETECTIONS),
        "detection_cases": decided["auto"] + decided["accept"],
        "detections_rejected": decided["reject"],
        "detections_waiting": Finding.objects.filter(outcome=FindingOutcome.REVIEW).count(),
    }
