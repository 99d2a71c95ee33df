"""Issue #14, point 3: the channel of a case follows from who reports, never from the request.

The channel decides whether a case is trusted (filed and dispatched at once, no verification)
and whose beat a problem found by the public is charged to (漏报). So a grid manager's token
reports as a grid manager, a leader's as a leader, the hotline clerk's as the hotline (or, when
the caller came in person, as a citizen: both are verified on site), an Open311 partner's key
as Open311 and the anonymous /public/ form as a citizen, whatever the body says. A department
handler does not report at all: the desk has no report form. A body naming a channel the
reporter may not use is a 403 naming the field `channel`, and nothing is stored."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from gridcity.accounts.actions import do_create_token
from gridcity.cases.models import Case, CaseEvent, Channel, Report, Status
from gridcity.open311.keys import do_create_api_key
from gridcity.taxonomy.actions import resolve_category
from gridcity.testing import MID_LAT, build_city, tiny_jpeg

# In the west street: the beat of grid manager "inspector" (网格员小赵).
WEST = {"lon": 120.1630, "lat": MID_LAT + 0.0012}


@pytest.fixture
def city(db):
    return build_city()


@pytest.fixture
def report(client, city):
    tokens = {}

    def post(who: str, **body):
        if who not in tokens:
            tokens[who] = do_create_token(city.people[who])
        data = {"category": "06042", "description": "垃圾桶满溢", **WEST, **body}
        return client.post(
            "/api/cases",
            json.dumps(data),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {tokens[who]}",
        )

    return post


def refused_on_channel(r) -> str:
    assert r.status_code == 403, r.content
    body = r.json()
    assert body["field"] == "channel"
    return body["error"]


def beat_charges() -> int:
    """Report events that charge a problem to a grid manager's beat (漏报)."""
    return sum(1 for e in CaseEvent.objects.filter(action="report") if "beat_manager" in e.data)


def test_a_department_handler_claiming_sensor_gets_no_case(report, city):
    r = report("sanitation", channel="sensor")
    assert r.status_code == 403
    assert Case.objects.count() == 0
    assert Report.objects.count() == 0


def test_a_department_handler_cannot_report_through_the_api_at_all(report, city):
    for who in ("sanitation", "sanitation_lead"):
        r = report(who)
        assert r.status_code == 403, r.content
        assert "部门" in r.json()["error"]
    assert Case.objects.count() == 0


def test_a_grid_manager_claiming_citizen_cannot_charge_his_own_beat(report, city):
    message = refused_on_channel(report("inspector", channel="citizen"))
    assert "市民上报" in message and "网格员上报" in message
    assert Case.objects.count() == 0
    assert beat_charges() == 0


@pytest.mark.parametrize("claimed", ["sensor", "camera", "leader", "hotline", "open311"])
def test_a_grid_manager_cannot_claim_another_channel(report, city, claimed):
    refused_on_channel(report("inspector", channel=claimed))
    assert Case.objects.count() == 0


def test_a_grid_manager_reports_as_a_grid_manager_with_or_without_saying_so(report, city):
    for lon, body in ((120.1630, {}), (120.1645, {"channel": "inspector"})):
        r = report("inspector", lon=lon, **body)
        assert r.status_code == 201, r.content
        assert r.json()["channel"] == Channel.INSPECTOR
        assert r.json()["status"] == Status.DISPATCHED  # trusted: filed and dispatched
    assert Case.objects.count() == 2
    assert beat_charges() == 0


def test_a_hotline_clerk_chooses_between_hotline_and_a_citizen_in_person(report, city):
    r = report("intake", description="来电反映垃圾桶满溢")
    assert r.status_code == 201
    assert r.json()["channel"] == Channel.HOTLINE
    r = report("intake", channel="citizen", description="市民来访反映", lon=120.1640)
    assert r.status_code == 201
    case = Case.objects.get(number=r.json()["number"])
    assert case.channel == Channel.CITIZEN
    # Both are verified on site before anything is filed.
    assert set(Case.objects.values_list("status", flat=True)) == {Status.VERIFYING}
    for claimed in ("sensor", "inspector", "leader", "camera"):
        refused_on_channel(report("intake", channel=claimed, description=claimed))
    assert Case.objects.count() == 2


def test_a_leader_reports_as_a_leader(report, city):
    r = report("leader")
    assert r.status_code == 201
    assert r.json()["channel"] == Channel.LEADER
    refused_on_channel(report("leader", channel="sensor", description="again"))


def test_a_dispatcher_does_not_report(report, city):
    r = report("dispatcher", channel="hotline")
    assert r.status_code == 403
    assert Case.objects.count() == 0


def test_an_open311_partner_reports_as_open311_whatever_it_sends(client, city):
    key = do_create_api_key("12345 热线平台")
    r = client.post(
        "/open311/v2/requests.json",
        {
            "api_key": key,
            "service_code": "matter-06042",
            "lat": WEST["lat"],
            "long": WEST["lon"],
            "description": "垃圾桶满溢",
            "channel": "sensor",
            "attribute[channel]": "sensor",
        },
    )
    assert r.status_code == 200, r.content
    case = Case.objects.get()
    assert case.channel == Channel.OPEN311
    assert case.status == Status.VERIFYING
    assert case.department_id is None


def test_the_anonymous_form_reports_as_a_citizen_whatever_it_sends(city):
    client = Client()
    client.get("/public/")
    r = client.post(
        "/public/",
        {
            "category": "matter:06042",
            "lon": str(WEST["lon"]),
            "lat": str(WEST["lat"]),
            "description": "垃圾桶满溢",
            "channel": "sensor",
            "key": "public-1",
            "photo": SimpleUploadedFile("bin.jpg", tiny_jpeg(), "image/jpeg"),
        },
    )
    assert r.status_code == 302, r.content[:500]
    case = Case.objects.get()
    assert case.channel == Channel.CITIZEN
    assert case.status == Status.VERIFYING


def test_the_hotline_form_reports_as_the_hotline_whatever_it_sends(client, city):
    client.force_login(city.people["intake"])
    r = client.post(
        reverse("web:hotline_new"),
        {
            "category": resolve_category("06042").pk,
            "lon": WEST["lon"],
            "lat": WEST["lat"],
            "description": "来电反映垃圾桶满溢",
            "channel": "sensor",
        },
    )
    assert r.status_code == 302, r.content[:500]
    assert Case.objects.get().channel == Channel.HOTLINE
