"""Every path through the workflow, each checked by its timeline."""

import pytest
from django.utils import timezone

from gridcity.cases.actions import (
    ReportInput,
    TransitionInput,
    do_report_case,
    do_transition_case,
    do_unlink_report,
)
from gridcity.cases.models import Case, Channel, Status
from gridcity.lib.errors import Forbidden, IllegalTransition, InvalidInput, NotFound
from gridcity.taxonomy.actions import resolve_category
from gridcity.testing import MID_LAT, tiny_jpeg

WEST_POINT = (120.1630, MID_LAT + 0.0012)  # in the west street (beat of "inspector")


def report(city, *, channel=Channel.INSPECTOR, category="06042", point=WEST_POINT, user=None, **kw):
    user = user or (city.people["inspector"] if channel == Channel.INSPECTOR else None)
    inp = ReportInput(
        category=resolve_category(category),
        channel=channel,
        lon=point[0],
        lat=point[1],
        description="现场问题",
        **kw,
    )
    return do_report_case(inp, acting_user=user).case


def act(city, case, action, who, **data):
    photos = data.pop("photos", [])
    return do_transition_case(
        case, action, acting_user=city.people[who], data=TransitionInput(photos=photos, **data)
    )


def timeline(case):
    return [(e.action, e.from_status, e.to_status) for e in case.events.order_by("at", "pk")]


AFTER = [("after.jpg", tiny_jpeg((20, 160, 20)))]


@pytest.mark.django_db
def test_it_walks_a_grid_managers_report_to_closed(city):
    case = report(city)
    assert case.status == Status.DISPATCHED
    assert case.department.name == "环境卫生科室"
    act(city, case, "sign", "sanitation")
    act(city, case, "report_back", "sanitation", note="已清运", photos=AFTER)
    case.refresh_from_db()
    assert case.assignee == city.people["inspector"]  # the check goes to the beat's manager
    act(city, case, "check_pass", "inspector")
    act(city, case, "close", "shift_lead")
    case.refresh_from_db()
    assert case.status == Status.CLOSED
    assert case.closed_at is not None
    assert timeline(case) == [
        ("report", "", "reported"),
        ("file", "reported", "filed"),
        ("dispatch", "filed", "dispatched"),
        ("sign", "dispatched", "handling"),
        ("report_back", "handling", "handled"),
        ("check_pass", "handled", "checked"),
        ("close", "checked", "closed"),
    ]
    back = case.events.get(action="report_back")
    assert back.attachments.filter(kind="after").count() == 1
    assert back.step == "handle" and back.step_elapsed is not None and back.overdue is False


@pytest.mark.django_db
def test_it_verifies_a_citizen_report_before_filing(city):
    case = report(city, channel=Channel.CITIZEN, category="09999")
    assert case.status == Status.VERIFYING
    assert case.assignee == city.people["inspector"]
    act(city, case, "verify", "inspector", verified=True, note="属实")
    act(city, case, "file", "intake")
    case.refresh_from_db()
    assert case.status == Status.FILED
    assert case.suggested_department.name == "城市管理执法科室"
    act(city, case, "dispatch", "dispatcher")
    case.refresh_from_db()
    assert case.department.name == "城市管理执法科室"
    assert [a for a, _, _ in timeline(case)] == ["report", "verify", "file", "dispatch"]


@pytest.mark.django_db
def test_it_returns_and_redispatches(city):
    case = report(city)
    act(city, case, "return", "sanitation", note="此处为绿化带，应由园林绿化处理")
    case.refresh_from_db()
    assert case.status == Status.RETURNED
    with pytest.raises(InvalidInput) as exc:
        act(city, case, "dispatch", "dispatcher", department=city.departments["YLLH"])
    assert exc.value.field == "note"  # overriding the suggestion needs a reason
    act(city, case, "dispatch", "dispatcher", department=city.departments["YLLH"], note="绿化带内")
    case.refresh_from_db()
    assert case.department.code == "YLLH"
    redispatch = case.events.get(action="dispatch", from_status="returned")
    assert redispatch.data["redispatch"] is True and redispatch.data["override"] is True
    assert [a for a, _, _ in timeline(case)][-2:] == ["return", "dispatch"]


@pytest.mark.django_db
def test_it_extends_a_deadline_when_approved(city):
    case = report(city)
    act(city, case, "sign", "sanitation")
    case.refresh_from_db()
    before = case.handle_deadline
    act(city, case, "request_extension", "sanitation", note="清运车辆外出", extension="2工作日")
    act(city, case, "approve_extension", "dispatcher")
    case.refresh_from_db()
    assert case.status == Status.HANDLING
    assert case.handle_deadline > before
    assert case.step_deadline == case.handle_deadline


@pytest.mark.django_db
def test_it_keeps_the_deadline_when_an_extension_is_refused(city):
    case = report(city)
    act(city, case, "sign", "sanitation")
    case.refresh_from_db()
    before = case.handle_deadline
    act(city, case, "request_extension", "sanitation", note="人手不足", extension="1工作日")
    with pytest.raises(InvalidInput):
        act(city, case, "refuse_extension", "dispatcher")  # a refusal needs a reason
    act(city, case, "refuse_extension", "dispatcher", note="可调配其他班组")
    case.refresh_from_db()
    assert case.status == Status.HANDLING and case.handle_deadline == before
    assert [a for a, _, _ in timeline(case)][-2:] == ["request_extension", "refuse_extension"]


@pytest.mark.django_db
def test_it_reworks_after_a_failed_check_then_closes(city):
    case = report(city)
    act(city, case, "sign", "sanitation")
    act(city, case, "report_back", "sanitation", photos=AFTER)
    act(city, case, "check_fail", "inspector", note="仍有垃圾散落")
    case.refresh_from_db()
    assert case.status == Status.HANDLING and case.rework_count == 1
    assert case.department.name == "环境卫生科室"
    act(city, case, "report_back", "sanitation", photos=AFTER)
    act(city, case, "check_pass", "inspector")
    act(city, case, "close", "shift_lead")
    case.refresh_from_db()
    assert case.status == Status.CLOSED
    assert [a for a, _, _ in timeline(case)].count("report_back") == 2
    assert [a for a, _, _ in timeline(case)].count("check_fail") == 1


@pytest.mark.django_db
def test_it_holds_and_resumes_with_the_time_left(city):
    case = report(city)
    act(city, case, "sign", "sanitation")
    act(city, case, "request_hold", "sanitation", note="需等待道路施工结束")
    act(city, case, "approve_hold", "dispatcher")
    case.refresh_from_db()
    assert case.status == Status.ON_HOLD and case.step_deadline is None
    act(city, case, "resume", "sanitation")
    case.refresh_from_db()
    assert case.status == Status.HANDLING and case.handle_deadline is not None


@pytest.mark.django_db
def test_it_voids_with_a_reason(city):
    case = report(city, channel=Channel.HOTLINE, category="06010")
    with pytest.raises(InvalidInput):
        act(city, case, "void", "intake")
    act(city, case, "void", "intake", note="核实不属实")
    case.refresh_from_db()
    assert case.status == Status.VOIDED
    with pytest.raises(IllegalTransition) as exc:
        act(city, case, "file", "intake")
    assert exc.value.allowed == []


@pytest.mark.django_db
def test_it_links_a_duplicate_report_and_a_clerk_unlinks_it(city):
    first = report(city)
    again = do_report_case(
        ReportInput(
            category=first.category,
            channel=Channel.CITIZEN,
            lon=WEST_POINT[0] + 0.0001,
            lat=WEST_POINT[1],
            description="又满了",
        ),
        acting_user=None,
    )
    assert again.linked_to_existing and again.case.pk == first.pk
    assert Case.objects.count() == 1
    assert first.reports.count() == 2
    assert "link_report" in [a for a, _, _ in timeline(first)]
    new_case = do_unlink_report(again.report, acting_user=city.people["intake"])
    assert new_case.pk != first.pk and Case.objects.count() == 2
    assert new_case.events.get(action="report").data["unlinked_from"] == first.number
    assert "unlink_report" in [a for a, _, _ in timeline(first)]


@pytest.mark.django_db
def test_it_merges_a_duplicate_case_at_filing(city):
    first = report(city)
    other = report(
        city,
        channel=Channel.HOTLINE,
        category="06042",
        point=(WEST_POINT[0] + 0.003, WEST_POINT[1]),
    )
    assert other.pk != first.pk
    act(city, other, "merge", "intake", merge_into=first)
    other.refresh_from_db()
    assert other.status == Status.MERGED and other.merged_into == first
    assert first.events.filter(action="merge_in").exists()


@pytest.mark.django_db
def test_it_refuses_the_wrong_role_and_the_wrong_department(city):
    case = report(city)
    with pytest.raises(NotFound):
        act(city, case, "sign", "enforcement")  # another department's case is not even visible
    act(city, case, "sign", "sanitation")
    act(city, case, "report_back", "sanitation", photos=AFTER)
    act(city, case, "check_pass", "inspector")
    with pytest.raises(Forbidden):
        act(city, case, "close", "sanitation")


@pytest.mark.django_db
def test_a_report_outside_every_cell_goes_to_triage_and_is_placed_by_hand(city):
    case = report(city, point=(121.5, 31.2))
    assert case.status == Status.UNLOCATED and case.cell is None
    act(city, case, "locate", "intake", lon=WEST_POINT[0], lat=WEST_POINT[1])
    case.refresh_from_db()
    assert case.status == Status.REPORTED and case.cell is not None


@pytest.mark.django_db
def test_report_back_needs_an_after_photo(city):
    case = report(city)
    act(city, case, "sign", "sanitation")
    with pytest.raises(InvalidInput) as exc:
        act(city, case, "report_back", "sanitation", note="已处理")
    assert exc.value.field == "photos"
    case.refresh_from_db()
    assert case.status == Status.HANDLING


@pytest.mark.django_db
def test_every_event_records_who_and_how_long(city):
    case = report(city)
    act(city, case, "sign", "sanitation")
    sign = case.events.get(action="sign")
    assert sign.actor == city.people["sanitation"]
    assert sign.actor_role == "handler" and sign.actor_department.code == "HJWS"
    assert sign.step == "sign" and sign.step_amount == 1 and sign.step_clock == "work_hours"
    assert sign.at <= timezone.now()


@pytest.mark.django_db
def test_the_centre_calls_a_citizen_back_after_closing(city):
    case = report(city, channel=Channel.CITIZEN, category="09999")
    act(city, case, "verify", "inspector", verified=True)
    act(city, case, "file", "intake")
    act(city, case, "dispatch", "dispatcher")
    act(city, case, "sign", "enforcement")
    act(city, case, "report_back", "enforcement", photos=AFTER)
    act(city, case, "check_pass", "inspector")
    act(city, case, "close", "shift_lead")
    with pytest.raises(InvalidInput) as exc:
        act(city, case, "callback", "intake", satisfaction=9)
    assert exc.value.field == "satisfaction"
    act(city, case, "callback", "intake", satisfaction=5, note="市民表示满意")
    case.refresh_from_db()
    assert case.status == Status.CLOSED
    assert case.events.get(action="callback").data == {"satisfaction": 5, "satisfied": True}
