"""Issue #14, point 7: no input makes a 500, and under /api/ and /open311/ every error is JSON
(Open311: its error list, in JSON or XML by the path's extension), never an HTML page.

Dates are bounded to 2000-01-01..2100-12-31, page numbers to 100,000 and every time limit or
extension to a year (gridcity.lib.bounds): year 1, year 9999, a twenty-digit page and an
extension of 99,999,999 days are each a 4xx naming the field. The errors that Django or a
library would answer as a page (405, 413, a 404 or a 500 with DEBUG on or off, a failed CSRF
check) are answered in the machine's format, with the status kept."""

import json
from datetime import date
from xml.etree import ElementTree as ET

import pytest
from django.test import Client

from gridcity.accounts.actions import do_create_token
from gridcity.cases.actions import ReportInput, TransitionInput, do_report_case, do_transition_case
from gridcity.cases.models import Case, CaseEvent, Channel
from gridcity.open311.keys import do_create_api_key
from gridcity.open311.models import ApiKey
from gridcity.taxonomy.actions import resolve_category
from gridcity.testing import MID_LAT, MID_LON, build_city

WEST_POINT = (120.1630, MID_LAT + 0.0012)


@pytest.fixture
def city(db):
    return build_city()


@pytest.fixture
def api(city):
    """A client per persona, each with its own bearer token; a 500 is an answer, not raised."""
    tokens = {}
    client = Client(raise_request_exception=False)

    def call(method, path, body=None, *, who="dispatcher", **extra):
        if who not in tokens:
            tokens[who] = do_create_token(city.people[who])
        extra["HTTP_AUTHORIZATION"] = f"Bearer {tokens[who]}"
        if body is not None:
            return getattr(client, method)(
                path, json.dumps(body), content_type="application/json", **extra
            )
        return getattr(client, method)(path, **extra)

    return call


def dispatched_case(city) -> Case:
    inp = ReportInput(
        category=resolve_category("06042"),
        channel=Channel.INSPECTOR,
        lon=WEST_POINT[0],
        lat=WEST_POINT[1],
        description="垃圾桶满溢",
    )
    return do_report_case(inp, acting_user=city.people["inspector"]).case


def api_error(r, status: int, field: str | None = None) -> dict:
    assert r.status_code == status, r.content[:300]
    assert r["Content-Type"].startswith("application/json"), r["Content-Type"]
    body = r.json()
    assert body["error"]
    if field is not None:
        assert body["field"] == field, body
    return body


def georeport_error(r, status: int, fmt: str = "json") -> str:
    assert r.status_code == status, r.content[:300]
    if fmt == "json":
        assert r["Content-Type"].startswith("application/json"), r["Content-Type"]
        (error,) = r.json()
        assert error["code"] == status
        return error["description"]
    assert r["Content-Type"].startswith("text/xml"), r["Content-Type"]
    doc = ET.fromstring(r.content)
    assert doc.tag == "errors"
    assert doc.find("error/code").text == str(status)
    return doc.find("error/description").text


# --- dates and pages ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("reported_from=0001-01-01", "reported_from"),
        ("reported_to=9999-12-31", "reported_to"),
        ("reported_from=1999-12-31", "reported_from"),
        ("reported_to=2101-01-01", "reported_to"),
        ("page=99999999999999999999", "page"),
        ("page=100001", "page"),
    ],
)
def test_a_list_asked_for_beyond_the_bounds_is_a_4xx_naming_the_field(api, city, query, field):
    dispatched_case(city)
    body = api_error(api("get", f"/api/cases?{query}"), 422, field)
    assert field in body["error"]


def test_the_bounds_themselves_are_answered(api, city):
    dispatched_case(city)
    r = api("get", "/api/cases?reported_from=2000-01-01&reported_to=2100-12-31&page=1")
    assert r.status_code == 200
    assert r.json()["count"] == 1
    assert api("get", "/api/cases?page=100000").json()["results"] == []


def test_the_case_export_refuses_year_one_and_year_9999_naming_the_field(api, city):
    for fmt in ("csv", "xlsx", "geojson"):
        r = api("get", f"/open311/export/cases.{fmt}?reported_from=0001-01-01")
        api_error(r, 400, "reported_from")
        r = api("get", f"/open311/export/cases.{fmt}?reported_to=9999-12-31")
        api_error(r, 400, "reported_to")


def test_supervision_orders_refuse_a_twenty_digit_page(api, city):
    api_error(api("get", "/api/supervision-orders?page=99999999999999999999"), 422, "page")


def test_open311_refuses_dates_outside_the_range(client, city):
    for name, value in (("start_date", "0001-01-01T00:00:00Z"), ("end_date", "9999-12-31")):
        description = georeport_error(client.get("/open311/v2/requests.json", {name: value}), 400)
        assert name in description
    description = georeport_error(
        client.get("/open311/v2/servicerequestupdates.xml", {"start_date": "0001-01-01"}),
        400,
        "xml",
    )
    assert "start_date" in description


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
def test_pages_given_year_one_or_9999_answer_without_a_500(city, day):
    client = Client(raise_request_exception=False)
    client.force_login(city.people["admin"])
    for url in (
        f"/publicity/?from={day}&to={day}",
        f"/people/patrols/?date={day}",
        f"/people/attendance/?month={day[:7]}",
        f"/evaluation/?period={day[:4]}",
        f"/evaluation/?period={day[:7]}",
        f"/evaluation/?period={day}",
        f"/evaluation/?period={day}~{day}",
        f"/evaluation/bulletin/{day[:7]}.xlsx",
        f"/campaigns/inspections/?from={day}&to={day}",
        f"/map/cases.json?reported_from={day}&reported_to={day}",
    ):
        r = client.get(url)
        assert r.status_code < 500, url
    r = api_get_as(client, city, f"/api/evaluation/indicators?period={day[:7]}")
    assert r.status_code < 500


def api_get_as(client, city, path):
    token = do_create_token(city.people["leader"])
    return client.get(path, HTTP_AUTHORIZATION=f"Bearer {token}")


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00"])
def test_a_patrol_from_a_phone_with_its_clock_at_year_one_or_9999_is_a_4xx(api, city, moment):
    r = api("post", "/api/patrols", {"key": "phone-1", "started_at": moment}, who="inspector")
    api_error(r, 422, "started_at")
    r = api("post", "/api/patrols", {"key": "phone-2"}, who="inspector")
    assert r.status_code == 201
    point = {"seq": 0, "t": moment, "lon": WEST_POINT[0], "lat": WEST_POINT[1]}
    r = api("post", "/api/patrols/phone-2/points", {"points": [point]}, who="inspector")
    api_error(r, 422, "points.0.t")
    r = api("post", "/api/patrols/phone-2/end", {"ended_at": moment}, who="inspector")
    api_error(r, 422, "ended_at")


@pytest.mark.parametrize(
    "moment", ["0001-01-01T00:00:00Z", "0001-01-01T00:00:00+14:00", -62135596800]
)
def test_a_sensor_reading_from_year_one_is_rejected_not_a_500(api, city, moment):
    device = {"code": "BIN-1", "kind": "bin_fill", "lon": WEST_POINT[0], "lat": WEST_POINT[1]}
    assert api("post", "/api/sensors/devices", device, who="admin").status_code == 201
    reading = {"device": "BIN-1", "time": moment, "value": 50}
    r = api("post", "/api/sensors/readings", [reading], who="admin")
    assert r.status_code == 422, r.content
    assert r.json()["stored"] == 0
    assert "时间无效" in r.json()["rejected"][0]["reason"]


def test_a_campaign_cannot_end_in_9999(city):
    from gridcity.campaigns.actions import do_create_campaign
    from gridcity.lib.errors import InvalidInput

    with pytest.raises(InvalidInput) as caught:
        do_create_campaign(
            acting_user=city.people["leader"],
            name="垃圾桶满冒专项整治",
            starts_on=date(2026, 6, 1),
            ends_on=date(9999, 12, 31),
            categories=[resolve_category("06042")],
            areas=[city.streets[0]],
        )
    assert caught.value.field == "ends_on"


# --- durations ------------------------------------------------------------------------------


def test_an_extension_of_99999999_days_is_refused_when_asked_naming_the_field(api, city):
    case = dispatched_case(city)
    api("post", f"/api/cases/{case.number}/transitions", {"action": "sign"}, who="sanitation")
    r = api(
        "post",
        f"/api/cases/{case.number}/transitions",
        {"action": "request_extension", "note": "需要更换设备", "extension": "99999999自然日"},
        who="sanitation",
    )
    body = api_error(r, 422, "extension")
    assert "一年" in body["error"]
    case.refresh_from_db()
    assert case.status == "handling"
    assert not CaseEvent.objects.filter(case=case, action="request_extension").exists()


@pytest.mark.parametrize("text", ["367自然日", "251工作日", "2001工作时", "8785小时"])
def test_every_clock_is_bounded_to_a_year(api, city, text):
    case = dispatched_case(city)
    api("post", f"/api/cases/{case.number}/transitions", {"action": "sign"}, who="sanitation")
    r = api(
        "post",
        f"/api/cases/{case.number}/transitions",
        {"action": "request_extension", "note": "需要更换设备", "extension": text},
        who="sanitation",
    )
    api_error(r, 422, "extension")


def test_approving_an_extension_asked_before_the_bound_is_a_4xx_not_a_500(api, city):
    case = dispatched_case(city)
    handler = city.people["sanitation"]
    do_transition_case(case, "sign", acting_user=handler)
    do_transition_case(
        case,
        "request_extension",
        acting_user=handler,
        data=TransitionInput(note="需要更换设备", extension="2工作日"),
    )
    # A request stored by an earlier version, which did not bound the length.
    CaseEvent.objects.filter(case=case, action="request_extension").update(
        data={"extension": {"amount": 99999999.0, "clock": "natural_days"}}
    )
    deadline = Case.objects.get(pk=case.pk).handle_deadline
    r = api(
        "post",
        f"/api/cases/{case.number}/transitions",
        {"action": "approve_extension", "note": "同意"},
        who="dispatcher",
    )
    api_error(r, 422, "extension")
    case.refresh_from_db()
    assert case.status == "extension_requested"
    assert case.handle_deadline == deadline
    # A year is still granted.
    CaseEvent.objects.filter(case=case, action="request_extension").update(
        data={"extension": {"amount": 366.0, "clock": "natural_days"}}
    )
    r = api(
        "post",
        f"/api/cases/{case.number}/transitions",
        {"action": "approve_extension", "note": "同意"},
        who="dispatcher",
    )
    assert r.status_code == 200, r.content
    assert r.json()["status"] == "handling"


# --- every error is JSON --------------------------------------------------------------------


@pytest.fixture(params=[False, True], ids=["debug-off", "debug-on"])
def debug(request, settings):
    settings.DEBUG = request.param
    return request.param


def test_a_real_500_under_the_api_is_json(api, city, debug):
    # A row written by hand with a status the product does not know: the detail cannot be
    # shaped, whatever DEBUG says.
    case = dispatched_case(city)
    Case.objects.filter(pk=case.pk).update(status="lost")
    body = api_error(api("get", f"/api/cases/{case.number}"), 500)
    assert "Traceback" not in body["error"] and "lost" not in body["error"]


def test_a_real_500_under_open311_is_its_error_list_in_the_format_asked(city, debug, monkeypatch):
    case = dispatched_case(city)

    def broken(*args, **kwargs):
        # A fault in the serialiser itself: the lean rows tolerate any stored status.
        raise RuntimeError("lost")

    monkeypatch.setattr("gridcity.open311.services.requests_out", broken)
    raw = do_create_api_key("12345 热线平台")
    ApiKey.objects.filter(name="12345 热线平台").update(may_see_internal=True)
    client = Client(raise_request_exception=False)
    params = {"extensions": "true", "api_key": raw}
    r = client.get(f"/open311/v2/requests/{case.number}.json", params)
    assert "internal server error" in georeport_error(r, 500)
    r = client.get(f"/open311/v2/requests/{case.number}.xml", params)
    assert "internal server error" in georeport_error(r, 500, "xml")


def test_an_unknown_path_is_json_with_debug_on_or_off(api, city, debug):
    api_error(api("get", "/api/no-such-thing"), 404)
    georeport_error(Client().get("/open311/v2/no-such-thing.xml"), 404, "xml")


def test_a_method_not_allowed_is_json_and_says_what_is(api, city):
    r = api("delete", "/api/cases")
    api_error(r, 405)
    client = Client()
    r = client.delete("/open311/v2/requests.json")
    assert "DELETE" in georeport_error(r, 405)
    assert "GET" in r["Allow"] and "POST" in r["Allow"]
    r = client.post("/open311/v2/services.xml")
    georeport_error(r, 405, "xml")
    assert r["Allow"] == "GET"


def test_a_body_over_the_limit_is_a_413_in_json(api, city, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
    big = {"category": "06042", "lon": WEST_POINT[0], "lat": WEST_POINT[1]}
    big["description"] = "满" * 40_000  # 120 KB of UTF-8
    r = api("post", "/api/cases", big, who="inspector")
    api_error(r, 413)
    client = Client()
    form = {"service_code": "matter-06042", "lat": MID_LAT, "long": MID_LON}
    r = client.post("/open311/v2/requests.xml", {**form, "description": "满" * 40_000})
    georeport_error(r, 413, "xml")
    assert Case.objects.count() == 0


def test_a_multipart_field_over_the_limit_is_a_413_in_the_georeport_format(city, settings):
    # The request as a whole is under the upload cap, so nothing refuses it by its length:
    # Django finds the oversized field while parsing, which it reports as a bad request.
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
    assert settings.GRIDCITY_UPLOAD_MAX_REQUEST_BYTES > 200 * 1024
    client = Client(raise_request_exception=False)
    form = {"service_code": "matter-06042", "lat": MID_LAT, "long": MID_LON}
    r = client.post("/open311/v2/requests.json", {**form, "description": "满" * 40_000})
    assert r.request["CONTENT_TYPE"].startswith("multipart/form-data")
    georeport_error(r, 413)
    assert Case.objects.count() == 0


def test_a_failed_csrf_check_on_the_api_is_json(city):
    client = Client(enforce_csrf_checks=True)
    client.force_login(city.people["inspector"])
    body = {"category": "06042", "lon": WEST_POINT[0], "lat": WEST_POINT[1]}
    r = client.post("/api/cases", json.dumps(body), content_type="application/json")
    assert r.status_code == 403
    assert r["Content-Type"].startswith("application/json")
    assert "CSRF" in json.dumps(r.json(), ensure_ascii=False)
    assert Case.objects.count() == 0


def test_pages_keep_their_own_html_errors(city, settings):
    settings.DEBUG = False
    r = Client().get("/no-such-page/")
    assert r.status_code == 404
    assert r["Content-Type"].startswith("text/html")
