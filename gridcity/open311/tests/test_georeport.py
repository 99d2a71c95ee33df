"""GeoReport v2: every method in XML and JSON, shapes checked against the Swagger file and
the real cities' answers."""

import json

import pytest

from gridcity.cases.models import Case, Channel, Report
from gridcity.open311.keys import do_create_api_key
from gridcity.open311.models import ApiKey
from gridcity.open311.tests.conftest import (
    DATA,
    GARBAGE,
    check,
    check_xml,
    sample_json,
    xml_fields,
    xml_items,
)
from gridcity.taxonomy.models import Category, FilingCondition

pytestmark = pytest.mark.django_db


def test_it_lists_services_in_json_like_bloomington(client, city):
    r = client.get("/open311/v2/services.json")
    assert r.status_code == 200
    assert r["Content-Type"].startswith("application/json")
    body = r.json()
    check(body, "Service", many=True)
    assert len(body) == Category.objects.filter(is_active=True).count()
    garbage = next(s for s in body if s["service_code"] == GARBAGE)
    assert garbage["group"] == "市容环境类"
    assert garbage["type"] == "realtime"
    assert garbage["metadata"] is True
    assert set(garbage) == set(sample_json("bloomington_in_services.json")[0])
    no_conditions = Category.objects.filter(kind="matter", conditions__isnull=True).first()
    row = next(s for s in body if s["service_code"] == f"matter-{no_conditions.code}")
    assert row["metadata"] is False


def test_it_lists_services_in_xml_like_giessen(client, city):
    r = client.get("/open311/v2/services.xml")
    assert r.status_code == 200
    assert r["Content-Type"].startswith("text/xml")
    items = xml_items(r.content, "services", "service")
    for el in items[:50]:
        check_xml(el, "Service")
    giessen = xml_items((DATA / "giessen_services.xml").read_bytes(), "services", "service")
    assert set(xml_fields(giessen[0])) <= set(xml_fields(items[0]))


def test_it_defines_a_service_with_the_filing_conditions(client, city):
    r = client.get(f"/open311/v2/services/{GARBAGE}.json")
    assert r.status_code == 200
    body = r.json()
    assert isinstance(body, dict)
    check(body, "ServiceDefinition")
    (attr,) = body["attributes"]
    for v in attr["values"]:
        check(v, "AttributeValue")
    assert attr["code"] == "condition"
    assert attr["datatype"] == "singlevaluelist"
    conditions = FilingCondition.objects.filter(category__code="06042", category__kind="matter")
    assert {v["key"] for v in attr["values"]} == {str(fc.pk) for fc in conditions}

    x = client.get(f"/open311/v2/services/{GARBAGE}.xml")
    import xml.etree.ElementTree as ET

    doc = ET.fromstring(x.content)
    assert doc.tag == "service_definition"
    assert doc.findtext("service_code") == GARBAGE
    (attr_el,) = doc.findall("attributes/attribute")
    check_xml(attr_el, "ServiceAttribute")
    assert [v.findtext("key") for v in attr_el.findall("values/value")] == [
        v["key"] for v in attr["values"]
    ]


def test_it_answers_404_for_an_unknown_service(client, city):
    for fmt in ("json", "xml"):
        r = client.get(f"/open311/v2/services/matter-99999.{fmt}")
        assert r.status_code == 404
    assert r.content.startswith(b"<?xml")
    r = client.get("/open311/v2/services/matter-99999.json")
    assert r.json()[0]["code"] == 404


def test_it_serves_discovery(client, city):
    body = client.get("/open311/v2/discovery.json").json()
    (endpoint,) = body["endpoints"]
    assert endpoint["url"].endswith("/open311/v2")
    assert "text/xml" in endpoint["formats"]
    x = client.get("/open311/v2/discovery.xml")
    assert b"<specification>http://wiki.open311.org/GeoReport_v2</specification>" in x.content


def test_it_creates_a_request_through_intake(post, city):
    condition = FilingCondition.objects.filter(category__code="06042").first()
    r = post(
        "json",
        email="li@example.com",
        phone="13800000000",
        first_name="李",
        last_name="雷",
        device_id="dev-1",
        account_id="acc-9",
        media_url="https://example.com/p.jpg",
        **{"attribute[condition]": str(condition.pk), "attribute[colour][]": "red"},
    )
    assert r.status_code == 200, r.content
    body = r.json()
    check(body, "RequestResponse", many=True)
    (answer,) = body
    assert answer["account_id"] == "acc-9"
    case = Case.objects.get(number=answer["service_request_id"])
    assert case.channel == Channel.OPEN311
    assert case.filing_condition == condition
    assert case.reporter_name == "李 雷"
    report = case.reports.get()
    assert report.reporter_email == "li@example.com"
    assert report.extra["open311"]["attributes"] == {"colour": ["red"]}
    assert report.extra["open311"]["media_url"] == "https://example.com/p.jpg"


def test_it_answers_a_post_in_xml(post, city):
    r = post("xml")
    assert r.status_code == 200
    (item,) = xml_items(r.content, "service_requests", "request")
    check_xml(item, "RequestResponse")
    assert Case.objects.filter(number=item.findtext("service_request_id")).exists()


def test_it_accepts_an_address_instead_of_a_point(post, city):
    r = post(lat=None, long=None, address_string="湖滨路 1 号")
    assert r.status_code == 200
    case = Case.objects.get(number=r.json()[0]["service_request_id"])
    assert case.status == "unlocated"


def test_it_accepts_a_grid_cell_as_address_id(post, city):
    cell = city.cell(120.163, 30.243)
    r = post(lat=None, long=None, address_id=cell.code)
    assert r.status_code == 200, r.content
    assert Case.objects.get(number=r.json()[0]["service_request_id"]).cell == cell


def test_it_is_idempotent_by_header_or_attribute(client, post, api_key, city):
    first = post(**{"attribute[idempotency_key]": "k-1"})
    again = post(**{"attribute[idempotency_key]": "k-1"})
    assert first.json() == again.json()
    data = {"service_code": GARBAGE, "lat": "30.244", "long": "120.162", "api_key": api_key}
    a = client.post("/open311/v2/requests.json", data, HTTP_IDEMPOTENCY_KEY="h-1")
    b = client.post("/open311/v2/requests.json", data, HTTP_IDEMPOTENCY_KEY="h-1")
    assert a.json() == b.json()
    assert Report.objects.count() == 2


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"key": None}, 403),
        ({"key": "o311_wrong"}, 403),
        ({"lat": "north"}, 400),
        ({"lat": "95"}, 400),
        ({"lat": "nan"}, 400),
        ({"long": None}, 400),
        ({"lat": None, "long": None}, 400),
        ({"service_code": None}, 400),
        ({"service_code": "matter-99999"}, 404),
        ({"description": "长" * 4001}, 400),
        ({"email": "not-an-email"}, 400),
        ({"media_url": "ftp://x/y"}, 400),
        ({"attribute[condition]": "999999"}, 400),
        ({"attribute[condition]": "abc"}, 400),
        ({"description": "a\x00b"}, 400),
        ({"jurisdiction_id": "nowhere"}, 404),
    ],
)
def test_it_rejects_bad_posts(post, city, fields, status):
    for fmt in ("json", "xml"):
        r = post(fmt, **fields)
        assert r.status_code == status, (fmt, r.content)
        if fmt == "json":
            (err,) = r.json()
            assert err["code"] == status and err["description"]
        else:
            (err,) = xml_items(r.content, "errors", "error")
            assert set(xml_fields(err)) == {"code", "description"}
    assert Case.objects.count() == 0


def test_it_takes_a_description_of_exactly_4000(post, city):
    assert post(description="长" * 4000).status_code == 200


def test_a_revoked_key_is_refused(post, city, api_key):
    from gridcity.open311.keys import do_revoke_api_key

    assert do_revoke_api_key("hotline-12345")
    assert post().status_code == 403


def _three_cases(post):
    return [
        post(
            description=f"第{i}件", lat=str(30.2412 + i * 0.002), address_string=f"湖滨路{i}号"
        ).json()[0]
        for i in range(3)
    ]


def test_it_lists_requests_like_chicago_and_toronto(client, post, city):
    made = _three_cases(post)
    r = client.get("/open311/v2/requests.json")
    body = r.json()
    check(body, "Request", many=True)
    assert [b["service_request_id"] for b in body] == [m["service_request_id"] for m in made][::-1]
    first = body[0]
    assert first["status"] == "open"
    assert first["service_code"] == GARBAGE
    assert first["requested_datetime"][-6:] == "+08:00"
    assert first["expected_datetime"] if Case.objects.first().handle_deadline else True
    chicago = sample_json("chicago_open311_requests_fixture.json")
    # Not dispatched yet (an Open311 report is verified on site first): no agency so far.
    assert set(chicago[1]) - {"agency_responsible"} <= set(first)
    x = client.get("/open311/v2/requests.xml")
    items = xml_items(x.content, "service_requests", "request")
    assert len(items) == 3
    for el in items:
        check_xml(el, "Request")
    toronto = xml_items(
        (DATA / "toronto_open311_requests_many.xml").read_bytes(), "service_requests", "request"
    )
    assert set(xml_fields(toronto[0])) == set(xml_fields(items[0]))


def test_a_list_of_ids_overrides_other_filters(client, post, city):
    made = _three_cases(post)
    ids = ",".join(m["service_request_id"] for m in made[:2])
    r = client.get(
        "/open311/v2/requests.json",
        {"service_request_id": ids, "status": "closed", "start_date": "2001-01-01T00:00:00Z"},
    )
    assert {b["service_request_id"] for b in r.json()} == set(ids.split(","))


def test_it_filters_by_status_code_and_window(client, post, city):
    _three_cases(post)
    assert len(client.get("/open311/v2/requests.json", {"status": "open"}).json()) == 3
    assert client.get("/open311/v2/requests.json", {"status": "closed"}).json() == []
    assert len(client.get("/open311/v2/requests.json", {"status": "open,closed"}).json()) == 3
    assert client.get("/open311/v2/requests.json", {"service_code": "matter-06041"}).json() == []
    assert len(client.get("/open311/v2/requests.json", {"service_code": GARBAGE}).json()) == 3
    old = {"start_date": "2020-01-01T00:00:00+08:00", "end_date": "2020-03-01T00:00:00+08:00"}
    assert client.get("/open311/v2/requests.json", old).json() == []
    assert len(client.get("/open311/v2/requests.json", {"page_size": "2"}).json()) == 2
    assert len(client.get("/open311/v2/requests.json", {"page_size": 2, "page": 2}).json()) == 1


def test_an_empty_optional_parameter_is_like_an_absent_one(client, post, city):
    _three_cases(post)
    plain = client.get("/open311/v2/requests.json").json()
    empty = client.get(
        "/open311/v2/requests.json",
        {
            "service_request_id": "",
            "service_code": "",
            "status": "",
            "start_date": "",
            "end_date": "",
            "jurisdiction_id": "",
            "page": "",
            "page_size": "",
            "extensions": "",
        },
    ).json()
    assert plain == empty
    assert post(address_string="", email="", media_url="").status_code == 200


@pytest.mark.parametrize(
    "params",
    [
        {"start_date": "yesterday"},
        {"start_date": "2024-01-01T00:00:00Z", "end_date": "2024-06-01T00:00:00Z"},
        {"start_date": "2024-02-01T00:00:00Z", "end_date": "2024-01-01T00:00:00Z"},
        {"start_date": "0001-01-01T00:00:00+14:00"},
        {"end_date": "0001-01-01"},
        {"status": "pending"},
        {"service_code": "nope"},
        {"page": "0"},
        {"page_size": "5000"},
        {"page": "x"},
        {"extensions": "maybe"},
        {"status": "open\x00"},
    ],
)
def test_it_rejects_bad_queries_with_400(client, city, params):
    r = client.get("/open311/v2/requests.json", params)
    assert r.status_code == 400, r.content
    assert r.json()[0]["code"] == 400


def test_it_reads_one_request_as_a_one_item_list(client, post, city):
    number = post().json()[0]["service_request_id"]
    for path in (f"/open311/v2/requests/{number}.json", f"/open311/v2/request/{number}.json"):
        body = client.get(path).json()
        check(body, "Request", many=True)
        assert len(body) == 1 and body[0]["service_request_id"] == number
    x = client.get(f"/open311/v2/requests/{number}.xml")
    (el,) = xml_items(x.content, "service_requests", "request")
    toronto = xml_items(
        (DATA / "toronto_open311_request_single.xml").read_bytes(), "service_requests", "request"
    )
    assert set(xml_fields(el)) == set(xml_fields(toronto[0]))
    assert client.get("/open311/v2/requests/nope.json").status_code == 404


def test_status_agency_and_notes_follow_the_workflow(client, city):
    from gridcity.cases.actions import ReportInput, do_report_case

    cat = Category.objects.get(kind="matter", code="06042")
    case = do_report_case(
        ReportInput(category=cat, channel="inspector", lon=120.163, lat=30.243),
        acting_user=city.people["inspector"],
    ).case
    body = client.get(f"/open311/v2/requests/{case.number}.json").json()[0]
    assert set(sample_json("chicago_open311_requests_fixture.json")[0]) - {"address"} <= set(body)
    assert body["agency_responsible"] == "环境卫生科室"
    # The public read the public status label; the note is for a key allowed to see it.
    assert body["status_notes"] == "已派遣"
    assert body["expected_datetime"]
    extended = client.get(
        f"/open311/v2/requests/{case.number}.json", {"extensions": "true"}
    ).json()[0]
    assert extended["extended_attributes"]["status_label"] == "已派遣"
    assert [n["type"] for n in extended["notes"]] == ["report", "file", "dispatch"]
    check(extended, "Request")
    x = client.get(f"/open311/v2/requests/{case.number}.xml", {"extensions": "true"})
    assert b"<notes><note>" in x.content
    key = do_create_api_key("区社会治理中心")
    ApiKey.objects.filter(name="区社会治理中心").update(may_see_internal=True)
    internal = client.get(
        f"/open311/v2/requests/{case.number}.json", {"extensions": "true", "api_key": key}
    ).json()[0]
    assert internal["status_notes"] == "按责任规则自动派遣"
    assert internal["extended_attributes"]["workflow_status"] == "dispatched"
    check(internal, "Request")


def test_jurisdiction_selects_a_district(client, post, city):
    post()
    assert len(client.get("/open311/v2/requests.json", {"jurisdiction_id": "330102"}).json()) == 1
    r = client.get("/open311/v2/requests.json", {"jurisdiction_id": "999999"})
    assert r.status_code == 404
    assert client.get("/open311/v2/services.json", {"jurisdiction_id": "x"}).status_code == 404


def test_updates_list_every_change_oldest_first(client, post, city):
    number = post().json()[0]["service_request_id"]
    body = client.get("/open311/v2/servicerequestupdates.json").json()
    assert [u["service_request_id"] for u in body] == [number]
    assert body[0]["status"] == "open"
    x = client.get("/open311/v2/servicerequestupdates.xml")
    assert b"<service_request_updates><request_update>" in x.content


def test_tokens_are_not_issued(client, city):
    r = client.get("/open311/v2/tokens/abc.json")
    assert r.status_code == 404
    assert r.json()[0]["code"] == 404


def test_posts_are_rate_limited_per_key_and_per_address(post, city, settings):
    settings.GRIDCITY_OPEN311_RATE_LIMITS = {"write_per_key": (2, 60), "write_per_ip": (100, 60)}
    assert post().status_code == 200
    assert post(lat="30.2445").status_code == 200
    r = post(lat="30.2446")
    assert r.status_code == 429
    assert r.json()[0]["code"] == 429
    assert int(r["Retry-After"]) >= 1
    # Without a valid key the address is counted; a valid key has its own quota.
    settings.GRIDCITY_OPEN311_RATE_LIMITS = {"write_per_key": (100, 60), "write_per_ip": (1, 60)}
    assert post(key="wrong").status_code == 403
    assert post(key="wrong").status_code == 429
    assert post(lat="30.2447").status_code == 200


def test_reads_are_rate_limited_per_address(client, city, settings):
    settings.GRIDCITY_OPEN311_RATE_LIMITS = {"read_per_ip": (2, 60)}
    assert client.get("/open311/v2/discovery.json").status_code == 200
    assert client.get("/open311/v2/discovery.json").status_code == 200
    other = client.get("/open311/v2/discovery.json", REMOTE_ADDR="10.0.0.9")
    assert other.status_code == 200
    assert client.get("/open311/v2/discovery.xml").status_code == 429


def test_the_xml_is_utf8(client, city):
    r = client.get("/open311/v2/services.xml")
    assert r.content.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    assert "市容环境类".encode() in r.content
    assert json.loads(client.get("/open311/v2/services.json").content.decode("utf-8"))
