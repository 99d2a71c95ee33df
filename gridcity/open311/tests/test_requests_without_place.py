"""Open311 POST for a request about no place: a place-free service needs no location and is
routed by type; a (0,0) point is flagged as no position, not placed."""

import pytest

from gridcity.accounts.models import Department
from gridcity.cases.actions import TransitionInput, do_transition_case
from gridcity.cases.models import Case, Status
from gridcity.dispatch.models import ResponsibilityRule
from gridcity.taxonomy.models import Category, CategoryKind

pytestmark = pytest.mark.django_db


@pytest.fixture
def account_question(city) -> Category:
    category = Category.objects.create(
        kind=CategoryKind.MATTER,
        code="19001",
        major_code="19",
        major_name="咨询服务",
        name="账户咨询",
        is_local=True,
        place_free=True,
    )
    desk = Department.objects.create(code="SMFW", name="市民服务科")
    ResponsibilityRule.objects.create(category=category, department=desk)
    return category


def test_a_place_free_service_is_taken_without_a_location(post, account_question, city):
    r = post(service_code="matter-19001", lat=None, long=None, description="无法登录账户")
    assert r.status_code == 200, r.content
    case = Case.objects.get(number=r.json()[0]["service_request_id"])
    # Not 待定位: it waits for the clerk to file it like any Open311 request, and filing
    # routes it by type.
    assert case.status == Status.REPORTED
    assert case.lon is None and case.position_problem == ""
    do_transition_case(case, "file", acting_user=city.people["intake"], data=TransitionInput())
    case.refresh_from_db()
    assert case.suggested_department.name == "市民服务科"


def test_another_service_still_needs_a_location(post, city):
    r = post(lat=None, long=None)
    assert r.status_code == 400
    assert "a location is required" in r.json()[0]["description"]
    assert not Case.objects.exists()


def test_a_point_at_zero_is_flagged(post, city):
    r = post(lat="0", long="0")
    assert r.status_code == 200, r.content
    case = Case.objects.get(number=r.json()[0]["service_request_id"])
    assert case.status == Status.UNLOCATED
    assert case.position_problem == "zero"
    assert case.cell_id is None
    assert (case.lon, case.lat) == (0, 0)
