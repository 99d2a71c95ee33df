"""Requests about no place, and points that are no place.

An account question has no location: when its category is place-free it is routed by type (the
rules for the whole jurisdiction) instead of waiting in 待定位 forever. A point at (0,0), or one
outside every area of the city, is flagged with the reason and kept as sent, never placed; a
real point in the city that just lacks a cell waits to be placed by hand, as before."""

import json

import pytest

from gridcity.accounts.actions import do_create_token
from gridcity.accounts.models import Department
from gridcity.cases.actions import ReportInput, TransitionInput, do_report_case, do_transition_case
from gridcity.cases.models import Case, Channel, Status
from gridcity.dispatch.models import ResponsibilityRule
from gridcity.grids.actions import bump_layer_version
from gridcity.grids.models import Area, PositionProblem
from gridcity.taxonomy.models import Category, CategoryKind
from gridcity.testing import MID_LAT, MID_LON

IN_THE_CITY = {"lon": 120.1630, "lat": MID_LAT + 0.0012}
FAR_AWAY = {"lon": -71.06, "lat": 42.36}  # Boston: no area of this city holds it


@pytest.fixture
def account_desk(city) -> Department:
    """The department that answers account questions, city-wide."""
    return Department.objects.create(code="SMFW", name="市民服务科")


@pytest.fixture
def account_question(city, account_desk) -> Category:
    category = Category.objects.create(
        kind=CategoryKind.MATTER,
        code="19001",
        major_code="19",
        major_name="咨询服务",
        name="账户咨询",
        is_local=True,
        place_free=True,
    )
    # A rule for the whole jurisdiction, and a district rule that a located report would match
    # first: a report without a place can only match the former.
    ResponsibilityRule.objects.create(category=category, department=account_desk)
    ResponsibilityRule.objects.create(
        category=category, area=city.district, department=city.departments["HJWS"]
    )
    return category


@pytest.fixture
def api(client, city):
    tokens = {}

    def call(body, *, who="inspector"):
        if who not in tokens:
            tokens[who] = do_create_token(city.people[who])
        return client.post(
            "/api/cases",
            json.dumps(body),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {tokens[who]}",
        )

    return call


@pytest.mark.django_db
def test_a_place_free_request_without_location_is_routed_by_type(api, account_question):
    r = api({"category": "matter:19001", "description": "无法登录账户"})
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["status"] == Status.DISPATCHED
    assert body["department"] == "市民服务科"
    assert body["cell"] is None and body["lon"] is None
    assert body["position_problem"] is None
    assert body["dispatch_explanation"]["place_free"] is True
    assert "适用于整个辖区" in body["dispatch_explanation"]["reason"]
    case = Case.objects.get(number=body["number"])
    assert case.area_path == ""
    report_event = case.events.order_by("pk").first()
    assert report_event.note == "该类别无需位置，按类别派遣"


@pytest.mark.django_db
def test_a_place_free_request_with_a_point_in_the_city_goes_by_place(api, account_question):
    r = api({"category": "matter:19001", **IN_THE_CITY})
    assert r.status_code == 201, r.content
    assert r.json()["department"] == "环境卫生科室"
    assert r.json()["cell"]


@pytest.mark.django_db
def test_a_place_free_hotline_call_waits_for_filing_not_for_a_place(api, account_question, city):
    r = api({"category": "matter:19001", "description": "咨询缴费"}, who="intake")
    assert r.status_code == 201, r.content
    case = Case.objects.get(number=r.json()["number"])
    assert case.status == Status.REPORTED
    do_transition_case(case, "file", acting_user=city.people["intake"], data=TransitionInput())
    case.refresh_from_db()
    assert case.status == Status.FILED
    assert case.suggested_department.name == "市民服务科"


@pytest.mark.django_db
def test_a_place_free_request_at_zero_is_routed_by_type_and_flagged(api, account_question):
    r = api({"category": "matter:19001", "lon": 0, "lat": 0})
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["department"] == "市民服务科"
    assert body["position_problem"] == PositionProblem.ZERO


@pytest.mark.django_db
def test_a_request_without_any_location_still_needs_one_unless_place_free(api):
    r = api({"category": "06042", "description": "垃圾桶满溢"})
    assert r.status_code == 422
    assert r.json()["field"] == "lon"
    assert not Case.objects.exists()


@pytest.mark.django_db
def test_a_point_at_zero_is_flagged_not_placed(api):
    r = api({"category": "06042", "lon": 0, "lat": 0, "description": "垃圾桶满溢"})
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["status"] == Status.UNLOCATED
    assert body["position_problem"] == "zero"
    # The coordinates are kept as sent.
    assert (body["lon"], body["lat"]) == (0, 0)
    case = Case.objects.get(number=body["number"])
    assert case.cell_id is None and case.area_path == ""
    event = case.events.get(action="report")
    assert event.note == "上报坐标为(0,0)，不是有效位置，进入待定位队列"
    assert event.data["position_problem"] == "zero"


@pytest.mark.django_db
def test_a_point_outside_every_area_is_flagged_not_placed(api):
    r = api({"category": "06042", **FAR_AWAY})
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["status"] == Status.UNLOCATED
    assert body["position_problem"] == "outside"
    assert (body["lon"], body["lat"]) == (FAR_AWAY["lon"], FAR_AWAY["lat"])


@pytest.mark.django_db
def test_a_real_point_in_the_city_without_a_cell_waits_to_be_placed_as_before(api, city):
    cell = city.cell(IN_THE_CITY["lon"], IN_THE_CITY["lat"])
    Area.objects.filter(pk=cell.pk).update(is_active=False)
    bump_layer_version()
    r = api({"category": "06042", **IN_THE_CITY})
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["status"] == Status.UNLOCATED
    assert body["position_problem"] is None
    case = Case.objects.get(number=body["number"])
    assert case.events.get(action="report").note == "位置不在任何网格内，进入待定位队列"


@pytest.mark.django_db
def test_placing_a_flagged_case_by_hand_clears_the_flag_and_keeps_the_old_point(city):
    case = do_report_case(
        ReportInput(
            category=Category.objects.get(kind=CategoryKind.MATTER, code="06042"),
            channel=Channel.HOTLINE,
            lon=0,
            lat=0,
            address="湖滨路 1 号",
        ),
        acting_user=city.people["intake"],
    ).case
    assert case.position_problem == PositionProblem.ZERO
    do_transition_case(
        case,
        "locate",
        acting_user=city.people["intake"],
        data=TransitionInput(lon=MID_LON - 0.003, lat=MID_LAT + 0.0012),
    )
    case.refresh_from_db()
    assert case.status == Status.REPORTED and case.cell_id
    assert case.position_problem == ""
    event = case.events.get(action="locate")
    assert event.data["replaced_position"] == {"lon": 0.0, "lat": 0.0, "problem": "zero"}
