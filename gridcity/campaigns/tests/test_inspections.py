"""Inspections: a random spot check draws the same cells with the same seed; findings become
ledger rows or cases; the notice PDF renders Chinese; the re-inspection closes the loop."""

import shutil
import subprocess
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from gridcity.campaigns.actions import (
    deductions_by_department,
    do_create_plan,
    do_finish_inspection,
    do_issue_notice,
    do_record_finding,
    do_schedule_inspection,
    do_transition_ledger_row,
    sample_cells,
)
from gridcity.campaigns.documents import notice_pdf
from gridcity.campaigns.models import FindingOutcome, LedgerSource, LedgerStatus
from gridcity.campaigns.tests.helpers import WEST_A, WEST_B, at, bin_campaign, bins
from gridcity.lib.errors import Conflict, Forbidden
from gridcity.testing import build_city, tiny_jpeg

pytestmark = pytest.mark.django_db
SCREENSHOTS = Path(__file__).resolve().parents[3] / "screenshots"


@pytest.fixture
def city():
    return build_city()


def spot_check_plan(city, campaign=None):
    return do_create_plan(
        acting_user=city.people["leader"],
        name="垃圾桶满冒随机抽查",
        content="检查垃圾桶是否满冒、周边是否有散落垃圾",
        method="random",
        openness="undercover",
        scope="thematic",
        frequency="weekly",
        area=city.streets[0],
        sample_size=4,
        campaign=campaign,
        items=[("垃圾桶满冒", 2), ("周边散落垃圾", 1)],
        now=at(1, 9),
    )


def test_sampling_is_a_pure_function_of_codes_size_and_seed():
    codes = [f"C{i:03d}" for i in range(50)]
    assert sample_cells(codes, 5, "s1") == sample_cells(list(reversed(codes)), 5, "s1")
    assert sample_cells(codes, 5, "s1") != sample_cells(codes, 5, "s2")
    assert sample_cells(codes, 99, "s1") == sorted(codes)


def test_the_same_seed_draws_the_same_cells(city):
    plan = spot_check_plan(city)
    kw = dict(acting_user=city.people["leader"], inspector=city.people["inspector"])
    a = do_schedule_inspection(plan, on=date(2026, 6, 8), seed="week-24", **kw)
    b = do_schedule_inspection(plan, on=date(2026, 6, 9), seed="week-24", **kw)
    c = do_schedule_inspection(plan, on=date(2026, 6, 8), seed="week-25", **kw)
    cells = lambda i: sorted(i.cells.values_list("code", flat=True))  # noqa: E731
    assert len(cells(a)) == 4 and cells(a) == cells(b) != cells(c)
    assert all(code.startswith("330102001") for code in cells(a))
    # Without a seed the plan and the day make one, so a day's draw can be repeated.
    d1 = do_schedule_inspection(plan, on=date(2026, 6, 10), **kw)
    d2 = do_schedule_inspection(plan, on=date(2026, 6, 10), **kw)
    assert d1.seed == d2.seed and cells(d1) == cells(d2)


def test_findings_become_ledger_rows_and_cases(city):
    campaign = bin_campaign(city)
    plan = spot_check_plan(city, campaign)
    insp = do_schedule_inspection(
        plan,
        acting_user=city.people["leader"],
        inspector=city.people["inspector"],
        on=date(2026, 6, 8),
    )
    item = plan.items.first()
    f = do_record_finding(
        insp,
        acting_user=city.people["inspector"],
        description="3 号垃圾桶满冒",
        lon=WEST_A[0],
        lat=WEST_A[1],
        category=bins(),
        checklist_item=item,
        measures="增加清运频次",
        deadline=date(2026, 6, 10),
        photos=[("bin.jpg", tiny_jpeg())],
        now=at(8),
    )
    row = f.ledger_row
    assert row.source == LedgerSource.FINDING and row.campaign == campaign
    assert row.department == city.departments["HJWS"]  # from the responsibility rules
    assert row.cell_id == f.cell_id and row.photos.get().kind == "before"
    assert f.photos.count() == 1 and f.deduction == Decimal(2)
    g = do_record_finding(
        insp,
        acting_user=city.people["inspector"],
        description="垃圾桶满冒，需立即清运",
        lon=WEST_B[0],
        lat=WEST_B[1],
        category=bins(),
        outcome=FindingOutcome.CASE,
        now=at(8, 11),
    )
    assert g.case is not None and g.case.cell_id == g.cell_id and g.ledger_row is None
    with pytest.raises(Forbidden):
        do_record_finding(
            insp,
            acting_user=city.people["inspector2"],
            description="x",
            department=city.departments["HJWS"],
        )
    assert deductions_by_department(date(2026, 6, 1), date(2026, 6, 30)) == {
        city.departments["HJWS"].pk: Decimal(2)
    }


def test_a_notice_is_issued_reinspected_and_closed(city, tmp_path):
    plan = spot_check_plan(city)
    leader, inspector = city.people["leader"], city.people["inspector"]
    insp = do_schedule_inspection(
        plan, acting_user=leader, inspector=inspector, on=date(2026, 6, 8)
    )
    finding = do_record_finding(
        insp,
        acting_user=inspector,
        description="湖滨路 12 号垃圾箱满溢，周边散落垃圾",
        lon=WEST_A[0],
        lat=WEST_A[1],
        category=bins(),
        checklist_item=plan.items.first(),
        now=at(8),
    )
    do_finish_inspection(insp, acting_user=inspector, now=at(8, 12))
    notice = do_issue_notice(
        insp,
        acting_user=leader,
        department=city.departments["HJWS"],
        deadline=date(2026, 6, 12),
        now=at(8, 15),
    )
    assert notice.number == "督整改〔2026〕001号"
    assert notice.reinspection.scheduled_for == date(2026, 6, 13)
    row = finding.ledger_row
    row.refresh_from_db()
    assert row.deadline == date(2026, 6, 12)

    pdf = notice_pdf(notice)
    assert pdf.startswith(b"%PDF")
    if shutil.which("pdftoppm"):
        out = tmp_path / "notice"
        subprocess.run(
            ["pdftoppm", "-png", "-r", "60", "-singlefile", "-", str(out)], input=pdf, check=True
        )
        SCREENSHOTS.mkdir(exist_ok=True)
        shutil.copy(f"{out}.png", SCREENSHOTS / "campaigns-notice.png")

    re = notice.reinspection
    with pytest.raises(Conflict, match=row.number):
        do_finish_inspection(re, acting_user=inspector, passed=True, now=at(13))
    sanitation = city.people["sanitation"]
    do_transition_ledger_row(
        row,
        "submit",
        acting_user=sanitation,
        photos=[("after.jpg", tiny_jpeg((20, 160, 20)))],
        now=at(11),
    )
    do_transition_ledger_row(row, "sign_off", acting_user=inspector, note="复查已清理", now=at(12))
    done = do_finish_inspection(re, acting_user=inspector, passed=True, now=at(13))
    notice.refresh_from_db()
    assert done.passed is True and notice.closed_at == at(13)
    row.refresh_from_db()
    assert row.status == LedgerStatus.SIGNED_OFF


def test_a_failed_reinspection_schedules_another(city):
    plan = spot_check_plan(city)
    leader, inspector = city.people["leader"], city.people["inspector"]
    insp = do_schedule_inspection(
        plan, acting_user=leader, inspector=inspector, on=date(2026, 6, 8)
    )
    do_record_finding(
        insp,
        acting_user=inspector,
        description="满溢",
        lon=WEST_A[0],
        lat=WEST_A[1],
        category=bins(),
        now=at(8),
    )
    notice = do_issue_notice(
        insp,
        acting_user=leader,
        department=city.departments["HJWS"],
        deadline=date(2026, 6, 12),
        now=at(8, 15),
    )
    first = notice.reinspection
    do_finish_inspection(first, acting_user=inspector, passed=False, note="仍满溢", now=at(13))
    notice.refresh_from_db()
    assert notice.reinspection != first and notice.closed_at is None
    assert notice.reinspection.scheduled_for == date(2026, 6, 16)


def test_a_weekly_fire_lane_check_is_scheduled_once_per_week(city):
    from gridcity.campaigns.actions import schedule_recurring

    plan = do_create_plan(
        acting_user=city.people["leader"],
        name="消防通道每周检查",
        content="占用消防通道",
        method="random",
        openness="open",
        scope="thematic",
        frequency="weekly",
        area=city.district,
        inspector=city.people["inspector2"],
        sample_size=3,
    )
    assert schedule_recurring(today=date(2026, 6, 8)) == 1  # a Monday
    assert schedule_recurring(today=date(2026, 6, 12)) == 0  # the same ISO week
    assert schedule_recurring(today=date(2026, 6, 15)) == 1
    first, second = plan.inspections.order_by("scheduled_for")
    assert (first.period, second.period) == ("2026-W24", "2026-W25")
    assert first.inspector == city.people["inspector2"] and first.cells.count() == 3


def test_the_sweep_and_backfill_commands_run(city):
    from io import StringIO

    from django.core.management import call_command

    bin_campaign(city)
    out = StringIO()
    call_command("tag-campaigns", stdout=out)
    call_command("sweep-ledger", stdout=out)
    assert "新纳入案件 0" in out.getvalue() and "标记逾期 0" in out.getvalue()
