"""The demo city's 曝光台: typical cases with before/after photos published on the public
page, a unit exposed for repeated failures, one exposure awaiting approval and one withdrawn,
all made through the 曝光台's actions by the centre's staff."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Exists, OuterRef, Q

from gridcity.cases.models import Attachment, Case, Status
from gridcity.demo.context import DemoContext
from gridcity.lib.errors import CaseError
from gridcity.publicity.actions import (
    community_of,
    do_approve_exposure,
    do_propose_exposure,
    do_submit_exposure,
    do_withdraw_exposure,
)
from gridcity.publicity.models import Exposure, ExposureKind, Tone
from gridcity.publicity.rectification import AFTER_KINDS, BEFORE_KINDS

NEGATIVE_TEXT = (
    "群众反映{place}{problem}，监督指挥中心立案后派遣{unit}处置。"
    "该问题影响市容环境和群众出行，现予以曝光。{result}"
)
POSITIVE_TEXT = "{place}{problem}问题，{unit}接到派遣后迅速到场处置，当日整改到位，做法值得推广。"


def _with_photos():
    """Closed cases that have a public copy of a photo before and of one after the fix."""
    photo = Attachment.objects.filter(case=OuterRef("pk")).exclude(public_file="")
    return (
        Case.objects.filter(status=Status.CLOSED, department__isnull=False)
        .filter(Exists(photo.filter(kind__in=BEFORE_KINDS)))
        .filter(Exists(photo.filter(kind__in=AFTER_KINDS)))
        .select_related("category", "department")
        .order_by("-closed_at", "pk")
    )


def _place(case: Case) -> str:
    area = community_of(case)
    return area.name if area else "辖区内"


def _at(ctx: DemoContext, case: Case, hours: float) -> datetime:
    """Some hours after the case closed, never later than the demo's "now"."""
    base = case.closed_at or ctx.now - timedelta(days=1)
    return min(base + timedelta(hours=hours), ctx.now - timedelta(minutes=30))


def build(ctx: DemoContext) -> dict[str, int]:
    centre = ctx.people.centre
    proposers = [centre["intake"], centre["dispatcher"]]
    approvers = [centre["leader"], centre["shiftlead"]]
    made: list[Exposure] = []
    cases = list(_with_photos()[:40])
    # The plan for the first cases that take an exposure: (tone, what happens to it).
    plan = [
        (Tone.NEGATIVE, "publish"),
        (Tone.NEGATIVE, "publish"),
        (Tone.POSITIVE, "publish"),
        (Tone.NEGATIVE, "publish"),
        (Tone.NEGATIVE, "await"),
        (Tone.NEGATIVE, "withdraw"),
    ]
    counts = {"published": 0, "awaiting": 0, "withdrawn": 0}
    for case in cases:
        if not plan:
            break
        tone, fate = plan[0]
        i = len(made)
        proposer, approver = proposers[i % 2], approvers[i % 2]
        place, problem = _place(case), case.category.name
        text_vars = {
            "place": place,
            "problem": problem,
            "unit": case.department.name,
            "result": "经督促，责任单位已整改到位。",
        }
        template = POSITIVE_TEXT if tone == Tone.POSITIVE else NEGATIVE_TEXT
        title = (
            f"{place}{problem}及时整改" if tone == Tone.POSITIVE else f"{place}{problem}问题曝光"
        )
        try:
            exposure = do_propose_exposure(
                acting_user=proposer,
                kind=ExposureKind.CASE,
                tone=tone,
                case=case,
                title=title[:100],
                text=template.format(**text_vars),
                now=_at(ctx, case, 1),
            )
        except CaseError:
            continue  # this case cannot be shown (its text would name a reporter, …)
        plan.pop(0)
        made.append(exposure)
        do_submit_exposure(exposure, acting_user=proposer, now=_at(ctx, case, 1.5))
        if fate == "await":
            counts["awaiting"] += 1
            continue
        do_approve_exposure(exposure, acting_user=approver, now=_at(ctx, case, 3))
        if fate == "withdraw":
            do_withdraw_exposure(
                exposure,
                acting_user=centre["leader"],
                reason="所涉地点信息有误，核实后重新发布",
                now=_at(ctx, case, 5),
            )
            counts["withdrawn"] += 1
        else:
            counts["published"] += 1
    unit = _expose_a_unit(ctx)
    if unit is not None:
        made.append(unit)
        counts["published"] += 1
    counts["exposures"] = len(made)
    return counts


def _expose_a_unit(ctx: DemoContext) -> Exposure | None:
    """The department with the most reworked or returned cases, exposed for them."""
    troubled = (
        Case.objects.filter(Q(rework_count__gt=0) | Q(return_count__gt=0))
        .exclude(department__isnull=True)
        .exclude(status__in=(Status.VOIDED, Status.MERGED))
        .select_related("department")
        .order_by("department_id", "reported_at", "pk")
    )
    by_department: dict[int, list[Case]] = {}
    for case in troubled:
        by_department.setdefault(case.department_id, []).append(case)
    if not by_department:
        return None
    cases = max(by_department.values(), key=lambda cs: (len(cs), -cs[0].department_id))[:8]
    department = cases[0].department
    centre = ctx.people.centre
    when = ctx.now - timedelta(days=2)
    try:
        exposure = do_propose_exposure(
            acting_user=centre["dispatcher"],
            kind=ExposureKind.UNIT,
            department=department,
            case_numbers=[c.number for c in cases],
            title=f"{department.name}处置质量不高、问题反复",
            text=(
                f"近一个月来，{department.name}承办的 {len(cases)} 件案件出现核查不通过返工"
                "或回退推诿，群众反映强烈。监督指挥中心予以曝光，责令限期整改。"
            ),
            now=when,
        )
    except CaseError:
        return None
    do_submit_exposure(exposure, acting_user=centre["dispatcher"], now=when + timedelta(hours=1))
    do_approve_exposure(exposure, acting_user=centre["leader"], now=when + timedelta(hours=3))
    return exposure
