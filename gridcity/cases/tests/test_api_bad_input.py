"""Bad input gets a clear error naming the field, and changes nothing."""

import base64
import json

import pytest

from gridcity.accounts.actions import do_create_token
from gridcity.cases.models import Case, CaseEvent
from gridcity.testing import MID_LAT, tiny_jpeg

POINT = {"lon": 120.1630, "lat": MID_LAT + 0.0012}


@pytest.fixture
def api(client, city):
    tokens = {}

    def call(method, path, body=None, *, who="inspector", raw=None, **headers):
        if who not in tokens:
            tokens[who] = do_create_token(city.people[who])
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        kwargs = {"HTTP_AUTHORIZATION": f"Bearer {tokens[who]}", **headers}
        if data is not None:
            kwargs["content_type"] = "application/json"
            return getattr(client, method)(path, data, **kwargs)
        return getattr(client, method)(path, **kwargs)

    return call


def report_body(**kw):
    return {"category": "06042", "description": "垃圾桶满溢", **POINT, **kw}


def assert_nothing_stored():
    assert Case.objects.count() == 0
    assert CaseEvent.objects.count() == 0


@pytest.mark.django_db
def test_malformed_json_is_a_400(api):
    r = api("post", "/api/cases", raw='{"category": "06042", "lon": ')
    assert r.status_code in (400, 422)
    assert "error" in r.json()
    assert_nothing_stored()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change, field",
    [
        ({"lon": "东经120度"}, "lon"),
        ({"lat": None, "lon": None, "address": ""}, "lon"),
        ({"lat": 95.0}, "lat"),
        ({"lon": 181.0}, "lon"),
        ({"category": "99999"}, "category"),
        ({"crs": "utm"}, "crs"),
        ({"description": "很" * 4001}, "description"),
    ],
)
def test_bad_fields_are_named(api, change, field):
    r = api("post", "/api/cases", report_body(**change))
    assert r.status_code == 422, r.content
    body = r.json()
    assert body["field"] == field, body
    assert body["error"]
    assert_nothing_stored()


@pytest.mark.django_db
def test_nan_coordinates_are_refused(api):
    r = api("post", "/api/cases", raw=json.dumps(report_body(lon=float("nan"))))
    assert r.status_code == 422
    assert r.json()["field"] == "lon"
    assert_nothing_stored()


@pytest.mark.django_db
def test_a_text_file_posing_as_a_photo_is_refused(api, settings):
    fake = base64.b64encode(b"this is not a picture\n" * 1000).decode()
    r = api("post", "/api/cases", report_body(photos=[fake]))
    assert r.status_code == 422
    assert r.json()["field"] == "photos[0]"
    assert "图片" in r.json()["error"]
    assert_nothing_stored()


@pytest.mark.django_db
def test_a_50_mb_upload_is_refused_before_decoding(api, city, client):
    ok = api("post", "/api/cases", report_body())
    number = ok.json()["number"]
    from django.core.files.uploadedfile import SimpleUploadedFile

    big = SimpleUploadedFile("photo.jpg", b"x" * (50 * 1024 * 1024), content_type="image/jpeg")
    token = do_create_token(city.people["sanitation"])
    r = client.post(
        f"/api/cases/{number}/attachments",
        {"file": big, "kind": "after"},
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert r.status_code == 422
    assert r.json()["field"] == "file" and "超过上限" in r.json()["error"]
    assert Case.objects.get(number=number).attachments.count() == 0


@pytest.mark.django_db
def test_photos_keep_gps_for_staff_and_the_public_copy_has_no_exif(api):
    jpeg = tiny_jpeg(gps=(30.2436, 120.163))
    r = api("post", "/api/cases", report_body(photos=[base64.b64encode(jpeg).decode()]))
    assert r.status_code == 201
    case = Case.objects.get(number=r.json()["number"])
    att = case.attachments.get()
    assert att.exif_gps == pytest.approx({"lat": 30.2436, "lon": 120.163}, abs=1e-4)
    from PIL import Image

    with att.public_file.open("rb") as f:
        public = Image.open(f)
        public.load()
        assert not public.getexif().get_ifd(0x8825)
    assert att.thumbnail.size > 0


@pytest.mark.django_db
def test_an_idempotent_retry_returns_the_same_case(api):
    first = api("post", "/api/cases", report_body(), HTTP_IDEMPOTENCY_KEY="phone-1-0001")
    again = api("post", "/api/cases", report_body(), HTTP_IDEMPOTENCY_KEY="phone-1-0001")
    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["number"] == again.json()["number"]
    assert Case.objects.count() == 1


@pytest.mark.django_db
def test_a_reused_key_with_other_content_is_a_409(api):
    api("post", "/api/cases", report_body(), HTTP_IDEMPOTENCY_KEY="phone-1-0002")
    r = api(
        "post",
        "/api/cases",
        report_body(description="别的内容"),
        HTTP_IDEMPOTENCY_KEY="phone-1-0002",
    )
    assert r.status_code == 409
    assert r.json()["field"] == "idempotency_key"
    assert Case.objects.count() == 1


@pytest.mark.django_db
def test_the_wrong_role_gets_a_403_and_the_wrong_state_a_409(api):
    number = api("post", "/api/cases", report_body()).json()["number"]
    r = api("post", f"/api/cases/{number}/transitions", {"action": "close"}, who="sanitation")
    assert r.status_code == 409
    assert r.json()["allowed"] == ["sign", "return"]
    r = api("post", f"/api/cases/{number}/transitions", {"action": "sign"}, who="dispatcher")
    assert r.status_code == 403
    assert "角色" in r.json()["error"]
    assert Case.objects.get(number=number).status == "dispatched"


@pytest.mark.django_db
def test_an_unknown_token_is_a_401(client, city):
    r = client.get("/api/cases", HTTP_AUTHORIZATION="Bearer gc_nope")
    assert r.status_code == 401


@pytest.mark.django_db
def test_the_detail_explains_the_dispatch_and_lists_the_timeline(api):
    number = api("post", "/api/cases", report_body()).json()["number"]
    d = api("get", f"/api/cases/{number}", who="dispatcher").json()
    assert d["dispatch_explanation"]["source"] == "rule"
    assert "环境卫生科室" in d["dispatch_explanation"]["reason"]
    assert [e["action"] for e in d["timeline"]] == ["report", "file", "dispatch"]
    assert d["deadline"]["light"] == "green"


@pytest.mark.django_db
def test_lists_filter_and_scope(api, city):
    api("post", "/api/cases", report_body())
    api("post", "/api/cases", report_body(category="09006", lon=120.170, lat=MID_LAT + 0.001))
    assert api("get", "/api/cases", who="dispatcher").json()["count"] == 2
    assert api("get", "/api/cases?category=09006", who="dispatcher").json()["count"] == 1
    assert api("get", "/api/cases?department=HJWS", who="dispatcher").json()["count"] == 1
    # A department sees only what was dispatched to it; the west grid manager only his beat.
    assert api("get", "/api/cases", who="sanitation").json()["count"] == 1
    assert api("get", "/api/cases", who="inspector2").json()["count"] == 1
    r = api("get", "/api/cases?bbox=1,2,3", who="dispatcher")
    assert r.status_code == 422 and r.json()["field"] == "bbox"


@pytest.mark.django_db
def test_the_original_photo_is_for_staff_only_and_the_public_copy_for_all(api, client, city):
    jpeg = tiny_jpeg(gps=(30.2436, 120.163))
    r = api("post", "/api/cases", report_body(photos=[base64.b64encode(jpeg).decode()]))
    att = Case.objects.get(number=r.json()["number"]).attachments.get()
    assert client.get(att.file.url).status_code == 404  # anonymous
    assert client.get(att.public_file.url).status_code == 200
    token = do_create_token(city.people["dispatcher"])
    staff = client.get(att.file.url, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert staff.status_code == 200
    assert b"".join(staff.streaming_content) == jpeg
    outsider = do_create_token(city.people["enforcement"])
    assert client.get(att.file.url, HTTP_AUTHORIZATION=f"Bearer {outsider}").status_code == 404


@pytest.mark.django_db
def test_nul_characters_are_refused_everywhere(api, client):
    assert client.get("/api/categories?kind=mat\x00ter").status_code == 400
    r = api("post", "/api/cases", report_body(description="垃圾\u0000桶"))
    assert r.status_code == 400 and r.json()["field"] == "body"
    assert_nothing_stored()
