"""The detection API (drones and cameras) and the ledger endpoints."""

import base64

import pytest

from gridcity.accounts.actions import do_create_token, get_system_user
from gridcity.accounts.models import Role, User
from gridcity.campaigns.models import Finding, FindingOutcome, LedgerStatus
from gridcity.campaigns.tests.helpers import WEST_A, at, bin_campaign, report
from gridcity.cases.models import Case, Channel
from gridcity.testing import build_city, tiny_jpeg

pytestmark = pytest.mark.django_db
URL = "/api/campaigns/detections"


@pytest.fixture
def city():
    return build_city()


@pytest.fixture
def drone(city):
    device = User.objects.create_user(username="drone-07", role=Role.SYSTEM, password="x")
    return {"HTTP_AUTHORIZATION": f"Bearer {do_create_token(device)}"}


def detection(**kw):
    body = {
        "category": "06042",
        "confidence": 0.93,
        "image": base64.b64encode(tiny_jpeg()).decode(),
        "lon": WEST_A[0],
        "lat": WEST_A[1],
        "source": "drone",
        "device_id": "UAV-07",
    }
    return {**body, **kw}


def test_a_confident_detection_becomes_a_case(client, drone):
    r = client.post(URL, detection(), content_type="application/json", **drone)
    assert r.status_code == 201, r.content
    assert r.json()["outcome"] == "case"
    case = Case.objects.get(number=r.json()["case_number"])
    assert case.channel == Channel.CAMERA and case.attachments.count() == 1
    finding = Finding.objects.get()
    assert (finding.source, finding.device_id, finding.case) == ("drone", "UAV-07", case)


def test_a_plausible_detection_waits_for_review_and_a_weak_one_is_ignored(client, drone):
    r = client.post(
        URL, detection(confidence=0.6, source="camera"), content_type="application/json", **drone
    )
    assert r.status_code == 201 and r.json()["outcome"] == "review"
    assert Finding.objects.get().outcome == FindingOutcome.REVIEW and not Case.objects.exists()
    r = client.post(URL, detection(confidence=0.2), content_type="application/json", **drone)
    assert r.status_code == 200 and r.json()["outcome"] == "ignored"
    assert Finding.objects.count() == 1


@pytest.mark.parametrize(
    "change,field",
    [
        ({"source": "satellite"}, "source"),
        ({"confidence": 1.5}, "confidence"),
        ({"image": "not base64!"}, "image"),
        ({"image": base64.b64encode(b"text").decode()}, "photos[0]"),
        ({"category": "99999"}, "category"),
        ({"lon": 100.0, "lat": 20.0}, "lon"),
    ],
)
def test_bad_detections_name_the_field(client, drone, change, field):
    r = client.post(URL, detection(**change), content_type="application/json", **drone)
    assert r.status_code in (400, 422) and r.json()["field"] == field, r.content
    assert not Finding.objects.exists()


def test_a_grid_manager_cannot_post_detections(client, city):
    client.force_login(city.people["inspector"])
    r = client.post(URL, detection(), content_type="application/json")
    assert r.status_code == 403


def test_the_ledger_api_moves_a_row_and_refuses_a_sign_off_without_evidence(client, city):
    campaign = bin_campaign(city)
    report(city, WEST_A, at(3), tag=True)
    row = campaign.ledger_rows.get()
    client.force_login(city.people["sanitation"])
    r = client.get(f"/api/campaigns/ledger?campaign={campaign.pk}")
    assert [x["number"] for x in r.json()] == [row.number]
    url = f"/api/campaigns/ledger/{row.pk}/transition"
    r = client.post(url, {"action": "submit"}, content_type="application/json")
    assert r.status_code == 200 and r.json()["status"] == LedgerStatus.AWAITING
    client.force_login(city.people["shift_lead"])
    r = client.post(url, {"action": "sign_off", "note": "已清"}, content_type="application/json")
    assert r.status_code == 409 and "整改后照片" in r.json()["error"]
    r = client.post(url, {"action": "start"}, content_type="application/json")
    assert r.status_code == 409 and r.json()["allowed"] == ["sign_off", "reject"]
    client.force_login(city.people["enforcement"])  # another unit: cannot see it at all
    assert client.get(f"/api/campaigns/ledger?campaign={campaign.pk}").json() == []
    assert get_system_user().role == Role.SYSTEM
