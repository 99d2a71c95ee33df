"""The 14:00 scenario against 06042 垃圾站（箱）满溢 in 湖滨街道: cases are tagged, ledger rows
are made, an overdue row raises 督办, rows are signed off with evidence, progress shows, and
a problem that returns in the same cell after the campaign raises a rebound warning."""

from datetime import date

import pytest

from gridcity.campaigns.actions import (
    do_attach_ledger_photos,
    do_transition_ledger_row,
    sweep_ledger,
    tag_campaign,
    tag_case,
)
from gridcity.campaigns.models import (
    CampaignCase,
    LedgerRow,
    LedgerStatus,
    LedgerSupervision,
    ReboundWarning,
)
from gridcity.campaigns.progress import campaign_progress, daily_series
from gridcity.campaigns.tests.helpers import EAST_A, WEST_A, WEST_B, at, bin_campaign, report
from gridcity.cases.models import SupervisionOrder
from gridcity.lib.errors import Conflict, Forbidden, IllegalTransition, InvalidInput
from gridcity.testing import build_city, tiny_jpeg

pytestmark = pytest.mark.django_db


@pytest.fixture
def city():
    return build_city()


def test_it_tags_cases_of_the_target_category_in_the_area_during_the_period(city):
    campaign = bin_campaign(city)
    inside = report(city, WEST_A, at(3))
    east = report(city, EAST_A, at(3))
    before = report(city, WEST_B, at(20, month=5))
    for case in (inside, east, before):
        tag_case(case, now=case.reported_at)
    tagged = set(CampaignCase.objects.filter(campaign=campaign).values_list("case", flat=True))
    assert tagged == {inside.pk}
    row = LedgerRow.objects.get(campaign=campaign)
    assert row.case == inside and row.department == city.departments["HJWS"]
    assert row.status == LedgerStatus.PENDING and row.number.startswith("TZ")
    assert row.events.get().action == "create"
    # Tagging again changes nothing.
    assert tag_case(inside) == []
    assert LedgerRow.objects.filter(campaign=campaign).count() == 1


def test_it_backfills_cases_reported_before_the_campaign_was_created(city):
    early = report(city, WEST_A, at(2))
    campaign = bin_campaign(city)  # created after the report: the backfill tags it
    assert campaign.tags.get().case == early
    assert tag_campaign(campaign) == 0


def test_an_overdue_row_raises_one_supervision_and_a_case_order(city):
    campaign = bin_campaign(city)
    case = report(city, WEST_A, at(3), tag=True)
    row = campaign.ledger_rows.get()
    result = sweep_ledger(now=at(29))
    row.refresh_from_db()
    assert row.status == LedgerStatus.OVERDUE
    assert (result.marked, result.orders, result.case_orders) == (1, 1, 1)
    order = LedgerSupervision.objects.get(row=row)
    assert order.number.startswith("TD") and order.case_order.case == case
    assert SupervisionOrder.objects.filter(case=case).count() == 1
    assert [e.action for e in row.events.all()] == ["create", "mark_overdue", "supervise"]
    # A second sweep neither marks nor chases again.
    again = sweep_ledger(now=at(29, 12))
    assert (again.marked, again.orders) == (0, 0)


def test_rows_are_signed_off_only_with_after_evidence_and_a_reason(city):
    campaign = bin_campaign(city)
    report(city, WEST_A, at(3), tag=True)
    row = campaign.ledger_rows.get()
    sanitation, shift_lead = city.people["sanitation"], city.people["shift_lead"]
    do_transition_ledger_row(row, "start", acting_user=sanitation, now=at(4))
    do_transition_ledger_row(row, "submit", acting_user=sanitation, note="已清运", now=at(4, 11))
    with pytest.raises(Forbidden):  # the unit never signs off its own work
        do_transition_ledger_row(row, "sign_off", acting_user=sanitation, note="好了")
    with pytest.raises(InvalidInput):
        do_transition_ledger_row(row, "sign_off", acting_user=shift_lead, note="")
    with pytest.raises(Conflict, match="整改后照片"):
        do_transition_ledger_row(row, "sign_off", acting_user=shift_lead, note="现场已整改")
    do_attach_ledger_photos(
        row,
        acting_user=sanitation,
        kind="after",
        photos=[("after.jpg", tiny_jpeg())],
        now=at(4, 12),
    )
    row = do_transition_ledger_row(
        row, "sign_off", acting_user=shift_lead, note="现场核实已清运", now=at(5)
    )
    assert row.status == LedgerStatus.SIGNED_OFF and row.sign_off_reason == "现场核实已清运"
    assert row.signed_off_by == shift_lead and row.signed_off_at == at(5)
    with pytest.raises(IllegalTransition):
        do_transition_ledger_row(row, "submit", acting_user=sanitation)
    assert [e.action for e in row.events.all()] == [
        "create",
        "start",
        "submit",
        "attach",
        "sign_off",
    ]


def test_a_unit_acts_only_on_its_own_rows(city):
    campaign = bin_campaign(city)
    report(city, WEST_A, at(3), tag=True)
    row = campaign.ledger_rows.get()
    from gridcity.lib.errors import NotFound

    with pytest.raises(NotFound):
        do_transition_ledger_row(row, "start", acting_user=city.people["enforcement"])


def test_progress_counts_cases_rows_and_sign_offs(city):
    campaign = bin_campaign(city)
    for i, where in enumerate((WEST_A, WEST_B)):
        report(city, where, at(3 + i), tag=True)
    first = campaign.ledger_rows.order_by("pk").first()
    do_transition_ledger_row(
        first,
        "submit",
        acting_user=city.people["sanitation"],
        photos=[("a.jpg", tiny_jpeg())],
        now=at(4),
    )
    do_transition_ledger_row(first, "sign_off", acting_user=city.people["shift_lead"], note="ok")
    p = campaign_progress(campaign, today=date(2026, 6, 10))
    assert (p["cases"], p["ledger_total"], p["signed_off"], p["signed_off_rate"]) == (2, 2, 1, 50.0)
    assert p["phase"] == "进行中" and p["days_gone"] == 10
    assert {x["status"]: x["count"] for x in p["ledger"]}["pending"] == 1
    series = daily_series(campaign, today=date(2026, 6, 5))
    assert [d["tagged"] for d in series] == [0, 0, 1, 1, 0]


def test_a_problem_returning_in_the_same_cell_after_the_campaign_raises_a_rebound(city):
    campaign = bin_campaign(city)
    report(city, WEST_A, at(3), tag=True)
    # After the campaign: the same cell again (a warning), another cell (none).
    back = report(city, (WEST_A[0] + 0.0001, WEST_A[1]), at(8, month=7))
    elsewhere = report(city, WEST_B, at(8, month=7))
    late = report(city, WEST_A, at(20, month=8))  # after the 30-day window
    for case in (back, elsewhere, late):
        tag_case(case, now=case.reported_at)
    warning = ReboundWarning.objects.get()
    assert warning.campaign == campaign and warning.case == back
    assert warning.cell_id == back.cell_id and "第 8 天" in warning.note
    assert campaign_progress(campaign, today=date(2026, 7, 9))["phase"] == "反弹观察期"
