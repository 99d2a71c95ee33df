"""A case's ledger row follows the case: tagged closed it enters as rectified and awaiting
sign-off (or signed off, or not at all, as the campaign chose); signed for by the unit it is
整改中; closed it waits for sign-off with the case's after-photos; voided or merged away it is
withdrawn; and a problem returning in a signed-off cell raises a rebound warning."""

from datetime import date

import pytest

from gridcity.campaigns.actions import (
    do_create_campaign,
    do_transition_ledger_row,
    follow_case_rows,
    sweep_ledger,
    tag_case,
)
from gridcity.campaigns.models import (
    ClosedCasePolicy,
    EvidenceKind,
    LedgerRow,
    LedgerStatus,
    ReboundWarning,
)
from gridcity.campaigns.progress import campaign_progress
from gridcity.campaigns.tests.helpers import WEST_A, WEST_B, at, bin_campaign, bins, report
from gridcity.cases.actions import ReportInput, TransitionInput, do_report_case, do_transition_case
from gridcity.cases.models import Case, Channel, Status
from gridcity.testing import build_city, tiny_jpeg

pytestmark = pytest.mark.django_db
AFTER = tiny_jpeg((20, 160, 20))


@pytest.fixture
def city():
    return build_city()


def act(city, case, action, who, when, **data):
    user = who if not isinstance(who, str) else city.people[who]
    return do_transition_case(
        case, action, acting_user=user, data=TransitionInput(**data), now=when
    )


def close(city, case: Case, day: int) -> Case:
    """The unit signs, clears the bins with an after-photo, the grid manager checks, the shift
    lead closes: the case loop as it runs every day."""
    act(city, case, "sign", "sanitation", at(day, 9))
    act(
        city,
        case,
        "report_back",
        "sanitation",
        at(day, 11),
        note="已清运",
        photos=[("a.jpg", AFTER)],
    )
    case.refresh_from_db()
    act(city, case, "check_pass", case.assignee, at(day, 14))
    return act(city, case, "close", "shift_lead", at(day, 16))


def citizen_report(city, where, when) -> Case:
    """A citizen's report waits for the intake desk (it may still be voided or merged)."""
    return do_report_case(
        ReportInput(
            category=bins(),
            channel=Channel.CITIZEN,
            lon=where[0],
            lat=where[1],
            description="垃圾桶满了",
            reported_at=when,
        ),
        acting_user=None,
        now=when,
    ).case


def test_it_moves_a_row_to_awaiting_sign_off_with_the_cases_after_photo_when_the_case_closes(
    city, django_capture_on_commit_callbacks
):
    campaign = bin_campaign(city)
    case = report(city, WEST_A, at(3), tag=True)
    row = campaign.ledger_rows.get()
    assert row.status == LedgerStatus.PENDING
    # The hooks run after commit, as in production.
    with django_capture_on_commit_callbacks(execute=True):
        act(city, case, "sign", "sanitation", at(4, 9))
    row.refresh_from_db()
    assert row.status == LedgerStatus.RECTIFYING
    with django_capture_on_commit_callbacks(execute=True):
        act(city, case, "report_back", "sanitation", at(4, 11), photos=[("a.jpg", AFTER)])
        case.refresh_from_db()
        act(city, case, "check_pass", case.assignee, at(4, 14))
        act(city, case, "close", "shift_lead", at(4, 16))
    row.refresh_from_db()
    assert row.status == LedgerStatus.AWAITING
    event = row.events.last()
    assert (event.action, event.from_status, event.to_status) == (
        "case_closed",
        "rectifying",
        "awaiting",
    )
    assert case.number in event.note and "待验收" in event.note
    photo = row.photos.get()
    assert photo.kind == EvidenceKind.AFTER and photo.file.read() == AFTER
    # The centre signs off on the case's evidence without uploading it again.
    do_transition_ledger_row(
        row, "sign_off", acting_user=city.people["shift_lead"], note="核查照片确认已清运"
    )
    row.refresh_from_db()
    assert row.status == LedgerStatus.SIGNED_OFF
    # A sweep after the deadline chases nothing: the row is done.
    assert sweep_ledger(now=at(29)).marked == 0


def test_a_campaign_can_sign_off_closed_cases_outright(city):
    campaign = bin_campaign(city, closed_cases=ClosedCasePolicy.SIGN_OFF)
    case = report(city, WEST_A, at(3), tag=True)
    close(city, case, 4)
    follow_case_rows(case, now=at(4, 17))
    row = campaign.ledger_rows.get()
    assert row.status == LedgerStatus.SIGNED_OFF and row.signed_off_at == at(4, 17)
    assert "自动销号" in row.sign_off_reason and row.signed_off_by.role == "system"
    assert [e.action for e in row.events.all()] == ["create", "case_closed"]
    assert campaign_progress(campaign, today=date(2026, 6, 5))["signed_off_rate"] == 100.0


@pytest.mark.parametrize(
    "policy, status",
    [
        (ClosedCasePolicy.AWAIT, LedgerStatus.AWAITING),
        (ClosedCasePolicy.SIGN_OFF, LedgerStatus.SIGNED_OFF),
        (ClosedCasePolicy.EXCLUDE, None),
    ],
)
def test_a_case_closed_before_the_campaign_enters_its_ledger_as_the_campaign_chose(
    city, policy, status
):
    closed = report(city, WEST_A, at(2))
    close(city, closed, 3)
    at_unit = report(city, WEST_B, at(3))
    act(city, at_unit, "sign", "sanitation", at(3, 12))
    waiting = report(city, (WEST_A[0] + 0.002, WEST_A[1]), at(4))
    campaign = bin_campaign(city, closed_cases=policy)  # the backfill tags all three
    assert campaign.tags.count() == 3
    rows = {r.case_id: r for r in campaign.ledger_rows.all()}
    assert rows[waiting.pk].status == LedgerStatus.PENDING
    assert rows[at_unit.pk].status == LedgerStatus.RECTIFYING
    if status is None:
        assert closed.pk not in rows
        return
    row = rows[closed.pk]
    assert row.status == status
    # Made straight in that state: one event, and the case's photo as its evidence.
    assert [(e.action, e.to_status) for e in row.events.all()] == [("create", status)]
    assert "结案" in row.events.get().note
    assert row.photos.get().kind == EvidenceKind.AFTER
    p = campaign_progress(campaign, today=date(2026, 6, 5))
    assert (p["cases"], p["cases_closed"], p["ledger_total"]) == (3, 1, 3)


def test_a_voided_case_withdraws_its_row_from_the_ledger_and_the_rate(city):
    campaign = bin_campaign(city)
    case = citizen_report(city, WEST_A, at(3))
    tag_case(case, now=at(3))
    kept = report(city, WEST_B, at(3), tag=True)
    close(city, kept, 4)
    act(city, case, "void", "intake", at(4), note="现场无此问题")
    follow_case_rows(case, now=at(4, 1))
    follow_case_rows(kept, now=at(4, 17))
    row = campaign.ledger_rows.get(case=case)
    assert row.status == LedgerStatus.CANCELLED
    event = row.events.last()
    assert event.action == "case_voided" and "现场无此问题" in event.note
    p = campaign_progress(campaign, today=date(2026, 6, 5))
    assert (p["ledger_total"], p["cancelled"]) == (1, 1)
    # Nobody chases a withdrawn row.
    assert sweep_ledger(now=at(29)).marked == 0


def test_a_merged_case_hands_its_row_to_the_surviving_case_or_withdraws_a_duplicate(city):
    campaign = bin_campaign(city)
    survivor = citizen_report(city, WEST_A, at(3, 9))
    duplicate = citizen_report(city, WEST_B, at(3, 10))
    for c in (survivor, duplicate):
        tag_case(c, now=c.reported_at)
    act(city, duplicate, "merge", "intake", at(3, 11), merge_into=survivor)
    follow_case_rows(duplicate, now=at(3, 12))
    row = campaign.ledger_rows.get(case=duplicate)
    assert row.status == LedgerStatus.CANCELLED and survivor.number in row.events.last().note

    # A survivor outside the campaign (reported before it) carries the row on.
    earlier = citizen_report(city, (WEST_A[0] + 0.002, WEST_A[1]), at(20, 9, month=5))
    late = citizen_report(city, (WEST_A[0] + 0.0025, WEST_A[1]), at(5))
    tag_case(late, now=at(5))
    act(city, late, "merge", "intake", at(5, 11), merge_into=earlier)
    follow_case_rows(late, now=at(5, 12))
    row = campaign.ledger_rows.get(description=late.description, case=earlier)
    assert row.status == LedgerStatus.PENDING and row.events.last().action == "case_merged"


def test_the_sweep_catches_up_rows_whose_case_ended_unnoticed_and_marks_the_rest_overdue(city):
    campaign = bin_campaign(city)
    done = report(city, WEST_A, at(3), tag=True)
    open_case = report(city, WEST_B, at(3), tag=True)
    close(city, done, 4)  # no hook runs here (no commit): as if the subscriber had failed
    assert campaign.ledger_rows.get(case=done).status == LedgerStatus.PENDING
    result = sweep_ledger(now=at(29))
    assert (result.followed, result.marked) == (1, 1)
    assert campaign.ledger_rows.get(case=done).status == LedgerStatus.AWAITING
    assert campaign.ledger_rows.get(case=open_case).status == LedgerStatus.OVERDUE
    # A row the centre sent back after the case closed is the unit's again: the sweep does not
    # move it back to awaiting, it chases it.
    row = campaign.ledger_rows.get(case=done)
    do_transition_ledger_row(row, "reject", acting_user=city.people["shift_lead"], note="仍有散落")
    again = sweep_ledger(now=at(29, 12))
    assert (again.followed, again.marked) == (0, 1)
    row.refresh_from_db()
    assert row.status == LedgerStatus.OVERDUE


def test_a_problem_back_in_a_signed_off_cell_during_the_campaign_raises_a_rebound(city):
    campaign = bin_campaign(city)
    first = report(city, WEST_A, at(3), tag=True)
    close(city, first, 4)
    follow_case_rows(first, now=at(4, 17))
    row = campaign.ledger_rows.get()
    do_transition_ledger_row(
        row, "sign_off", acting_user=city.people["shift_lead"], note="已清运", now=at(5)
    )
    elsewhere = report(city, WEST_B, at(9), tag=True)
    back = report(city, (WEST_A[0] + 0.0002, WEST_A[1]), at(10), tag=True)
    warning = ReboundWarning.objects.get()
    assert warning.case == back and warning.cell_id == first.cell_id
    assert row.number in warning.note and "销号后" in warning.note
    assert not ReboundWarning.objects.filter(case=elsewhere).exists()
    assert campaign_progress(campaign)["rebounds"] == 1


def test_rows_of_closed_cases_never_wait_as_pending_after_a_campaign_is_launched(city):
    """The bug as reported: a new campaign listed every row as 未整改 and 0 % 销号."""
    cases = [report(city, (WEST_A[0] + 0.001 * i, WEST_A[1]), at(2 + i)) for i in range(3)]
    for i, case in enumerate(cases[:2]):
        close(city, case, 6 + i)
    campaign = do_create_campaign(
        acting_user=city.people["leader"],
        name="垃圾桶满冒专项整治",
        starts_on=date(2026, 6, 1),
        ends_on=date(2026, 6, 30),
        categories=[bins()],
        areas=[city.streets[0]],
    )
    statuses = LedgerRow.objects.filter(campaign=campaign, case__status=Status.CLOSED)
    assert set(statuses.values_list("status", flat=True)) == {LedgerStatus.AWAITING}
    assert campaign.ledger_rows.filter(status=LedgerStatus.PENDING).count() == 1


def test_a_case_tagged_before_any_unit_was_known_gets_its_row_when_the_unit_signs(city):
    campaign = do_create_campaign(  # no lead department to hold responsible by default
        acting_user=city.people["leader"],
        name="垃圾桶满冒专项整治",
        starts_on=date(2026, 6, 1),
        ends_on=date(2026, 6, 30),
        categories=[bins()],
        areas=[city.streets[0]],
        now=at(1, 8),
    )
    case = citizen_report(city, WEST_A, at(3))
    tag_case(case, now=at(3))
    assert campaign.tags.filter(case=case).exists() and not campaign.ledger_rows.exists()
    act(city, case, "file", "intake", at(3, 11))
    act(city, case, "dispatch", "dispatcher", at(3, 12), department=city.departments["HJWS"])
    act(city, case, "sign", "sanitation", at(3, 13))
    follow_case_rows(case, now=at(3, 14))
    row = campaign.ledger_rows.get()
    assert (row.case, row.department, row.status) == (
        case,
        city.departments["HJWS"],
        LedgerStatus.RECTIFYING,
    )
