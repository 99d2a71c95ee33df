"""An older 数字城管 system replays its reports through POST /api/cases: with their original
times (deadlines and the duplicate window run from them) and their own record ids (sending one
again answers with the same case). Only an integration allowed to in the admin may do so."""

import json
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from gridcity.accounts.actions import do_create_token
from gridcity.accounts.models import Role
from gridcity.cases.models import Case, CaseEvent, Report, Status
from gridcity.taxonomy.actions import get_calendar, step_limit
from gridcity.testing import MID_LAT, make_person

SPOT = {"lon": 120.1630, "lat": MID_LAT + 0.0012}
pytestmark = pytest.mark.django_db


@pytest.fixture
def post(client, city):
    # The old system's account: it reports as its grid inspectors did (trusted, auto-filed).
    legacy = make_person("legacy_szcg", Role.INSPECTOR, display_name="旧数字城管对接")
    legacy.may_set_report_times = True
    legacy.save()
    other = make_person("hotline_link", Role.INSPECTOR, display_name="热线对接")
    other.may_set_report_times = True
    other.save()
    people = {**city.people, "legacy": legacy, "other_integration": other}
    tokens = {}

    def call(body, *, who="legacy"):
        if who not in tokens:
            tokens[who] = do_create_token(people[who])
        return client.post(
            "/api/cases",
            json.dumps({"category": "06042", "description": "垃圾满溢", **SPOT, **body}),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {tokens[who]}",
        )

    return call


def local(*args) -> datetime:
    return timezone.make_aware(datetime(*args))


@pytest.mark.parametrize(
    "field, value",
    [("reported_at", "2024-05-01T08:30:00+08:00"), ("external_id", "SZCG-2024-000123")],
)
def test_an_inspectors_app_may_not_set_report_times_or_external_ids(post, field, value):
    r = post({field: value}, who="inspector")
    assert r.status_code == 403, r.content
    assert r.json()["field"] == field
    assert field in r.json()["error"]
    assert Case.objects.count() == 0


def test_a_replayed_report_runs_its_clocks_from_when_it_was_made(post):
    made = local(2024, 5, 6, 9, 0)
    r = post({"reported_at": made.isoformat(), "external_id": "SZCG-1"})
    assert r.status_code == 201, r.content
    case = Case.objects.get(number=r.json()["number"])
    assert case.reported_at == made
    assert case.number.startswith("20240506")
    assert case.status == Status.DISPATCHED
    assert case.filed_at == case.dispatched_at == made
    amount, clock = case.handle_amount, case.handle_clock
    assert case.handle_deadline == get_calendar().add(made, amount, clock)
    report_event = CaseEvent.objects.get(case=case, action="report")
    assert report_event.at == made
    # The record keeps when the report really reached GridCity.
    entered = datetime.fromisoformat(report_event.data["entered_at"])
    assert timezone.now() - entered < timedelta(minutes=1)
    assert Report.objects.get(case=case).external_id == "SZCG-1"


def test_reports_years_apart_are_not_linked_as_duplicates(post):
    first = post({"reported_at": local(2021, 3, 1, 10, 0).isoformat()})
    later = post({"reported_at": local(2024, 3, 1, 10, 0).isoformat()})
    assert first.status_code == later.status_code == 201
    assert first.json()["number"] != later.json()["number"]
    assert later.json()["linked_to_existing"] is False
    # Within the window of the earlier report's own time, a second report is linked.
    again = post({"reported_at": local(2024, 3, 1, 13, 0).isoformat()})
    assert again.json()["linked_to_existing"] is True
    assert again.json()["number"] == later.json()["number"]


def test_sending_a_record_again_answers_with_the_same_case(post):
    first = post({"external_id": "SZCG-77", "reported_at": local(2024, 1, 2, 8, 0).isoformat()})
    again = post({"external_id": "SZCG-77", "reported_at": local(2024, 1, 2, 8, 0).isoformat()})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["number"] == first.json()["number"]
    assert Report.objects.filter(external_id="SZCG-77").count() == 1
    # The same id from another integration is another system's record.
    theirs = post(
        {"external_id": "SZCG-77", "reported_at": local(2023, 1, 2, 8, 0).isoformat()},
        who="other_integration",
    )
    assert theirs.status_code == 201
    assert theirs.json()["number"] != first.json()["number"]


@pytest.mark.parametrize(
    "value",
    [
        "1999-12-31T23:00:00+08:00",  # before 2000
        "2101-01-01T00:00:00+08:00",  # after 2100
        "2024-05-01T08:30:00",  # no time zone
        "下周一",
    ],
)
def test_a_report_time_out_of_bounds_is_refused_by_name(post, value):
    r = post({"reported_at": value})
    assert r.status_code in (400, 422), r.content
    assert "reported_at" in json.dumps(r.json())
    assert Case.objects.count() == 0


def test_a_report_time_in_the_future_is_refused_beyond_a_small_clock_skew(post):
    r = post({"reported_at": (timezone.now() + timedelta(hours=1)).isoformat()})
    assert r.status_code == 422 and r.json()["field"] == "reported_at"
    # A clock a minute fast is taken as now.
    r = post({"reported_at": (timezone.now() + timedelta(minutes=1)).isoformat()})
    assert r.status_code == 201
    case = Case.objects.get(number=r.json()["number"])
    assert case.reported_at <= timezone.now()


def test_the_report_step_clock_starts_at_the_report_time_for_an_untrusted_channel(city, client):
    # A hotline integration replays a call: it waits for filing, its clock from the call.
    desk = make_person("hotline_sync", Role.INTAKE, display_name="12345 热线对接")
    desk.may_set_report_times = True
    desk.save()
    made = timezone.now() - timedelta(hours=3)
    r = client.post(
        "/api/cases",
        json.dumps({"category": "06042", **SPOT, "reported_at": made.isoformat()}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {do_create_token(desk)}",
    )
    assert r.status_code == 201, r.content
    case = Case.objects.get(number=r.json()["number"])
    amount, clock = step_limit(case.step)
    assert case.step_started_at == made
    assert case.step_deadline == get_calendar().add(made, amount, clock)
