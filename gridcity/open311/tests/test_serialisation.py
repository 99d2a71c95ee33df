"""The lean list and detail answers say exactly what the model-instance serialiser
(`services.request_out`, which webhooks still use) says for the same data: every field, in JSON
and XML, for the public and for a key that may see internal detail, with and without
`extensions`. Written against the answers before the lean path existed."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from gridcity.cases.actions import ReportInput, TransitionInput, do_report_case, do_transition_case
from gridcity.cases.models import Case, Channel
from gridcity.open311 import services as s
from gridcity.open311.keys import do_create_api_key
from gridcity.open311.models import ApiKey
from gridcity.open311.render import xml_document
from gridcity.taxonomy.actions import resolve_category
from gridcity.testing import MID_LAT, MID_LON, tiny_jpeg

pytestmark = pytest.mark.django_db

BASE = "http://testserver"


def _report(city, i: int, **kw):
    inp = ReportInput(
        category=resolve_category(kw.pop("category", "06042")),
        channel=kw.pop("channel", Channel.INSPECTOR),
        lon=MID_LON - 0.003 + i * 0.001,
        lat=MID_LAT + 0.0012,
        description=f"现场问题 {i}",
        address=f"湖滨路{i}号",
        **kw,
    )
    user = city.people["inspector"] if inp.channel == Channel.INSPECTOR else None
    return do_report_case(inp, acting_user=user).case


def _act(city, case, action, who, **data):
    photos = data.pop("photos", [])
    do_transition_case(
        case, action, acting_user=city.people[who], data=TransitionInput(photos=photos, **data)
    )


@pytest.fixture
def cases(city, post):
    """Open and closed cases, with and without a photo, a department, a deadline, a note."""
    made = [post(description="市民上报", address_string="湖滨路").json()[0]["service_request_id"]]
    a = _report(city, 1, photos=[("a.jpg", tiny_jpeg())])
    made.append(a.number)
    b = _report(city, 2)
    for action, who, data in [
        ("sign", "sanitation", {}),
        ("report_back", "sanitation", {"note": "已清运", "photos": [("b.jpg", tiny_jpeg())]}),
        ("check_pass", "inspector", {}),
        ("close", "shift_lead", {}),
    ]:
        _act(city, b, action, who, **data)
    made.append(b.number)
    c = _report(city, 3)
    _act(city, c, "return", "sanitation", note="此处为绿化带，应由园林绿化处理")
    made.append(c.number)
    return made


def _expected(numbers, *, fmt, extensions, internal, many=True):
    qs = s.with_request_fields(
        Case.objects.filter(number__in=numbers), extensions=extensions, internal=internal
    ).order_by("-reported_at", "-pk")
    body = [
        s.request_out(c, absolute=lambda p: BASE + p, extensions=extensions, internal=internal)
        for c in qs
    ]
    if fmt == "xml":
        return xml_document("service_requests", "request", body)
    return json.loads(json.dumps(body))


def _drop_none(value):
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


@pytest.fixture
def internal_key(city):
    key = do_create_api_key("区社会治理中心")
    ApiKey.objects.filter(name="区社会治理中心").update(may_see_internal=True)
    return key


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize("extensions", [False, True])
@pytest.mark.parametrize("internal", [False, True])
def test_list_and_detail_say_what_the_instance_serialiser_says(
    client, cases, internal_key, fmt, extensions, internal
):
    params = {"extensions": "true"} if extensions else {}
    if internal:
        params["api_key"] = internal_key
    r = client.get(f"/open311/v2/requests.{fmt}", params)
    assert r.status_code == 200
    expected = _expected(cases, fmt=fmt, extensions=extensions, internal=internal)
    if fmt == "json":
        assert r.json() == _drop_none(expected)
        assert len(expected) == len(cases)
    else:
        assert r.content == expected
    for number in cases:
        r = client.get(f"/open311/v2/requests/{number}.{fmt}", params)
        assert r.status_code == 200
        one = _expected([number], fmt=fmt, extensions=extensions, internal=internal)
        if fmt == "json":
            assert r.json() == _drop_none(one)
        else:
            assert r.content == one


def test_the_data_covers_what_the_fields_can_say(client, cases, internal_key):
    """The comparison above is only as good as its data: closed and open, a photo, an agency,
    a deadline, an internal note, public and internal steps."""
    body = client.get("/open311/v2/requests.json", {"extensions": "true", "api_key": internal_key})
    rows = body.json()
    assert {r["status"] for r in rows} == {"open", "closed"}
    assert any(r.get("media_url", "").startswith(BASE) for r in rows)
    assert any("agency_responsible" in r for r in rows)
    assert any("agency_responsible" not in r for r in rows)
    assert any("expected_datetime" in r for r in rows)
    assert "此处为绿化带，应由园林绿化处理" in {r["status_notes"] for r in rows}
    public = client.get("/open311/v2/requests.json", {"extensions": "true"}).json()
    kinds = {n["type"] for r in public for n in r["notes"]}
    assert "return" not in kinds and "close" in kinds


def _statements(client, path, params) -> int:
    with CaptureQueriesContext(connection) as ctx:
        r = client.get(path, params)
    assert r.status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("extensions", [False, True])
def test_statements_per_list_do_not_grow_with_the_items(
    client, city, post, internal_key, extensions, settings
):
    # The key's stamp is read at most every this many seconds: not within this test.
    settings.GRIDCITY_STAMP_CHECK_SECONDS = 3600
    params = {"api_key": internal_key, "extensions": "true" if extensions else "false"}
    post()
    # Warm the key and the service caches, which the first request fills.
    client.get("/open311/v2/requests.json", params)
    one = _statements(client, "/open311/v2/requests.json", params)
    for i in range(6):
        _report(city, 10 + i, photos=[("p.jpg", tiny_jpeg())] if i % 2 else [])
    many = _statements(client, "/open311/v2/requests.json", params)
    assert Case.objects.count() == 7
    assert many == one
    numbers = list(Case.objects.values_list("number", flat=True))
    detail = _statements(client, f"/open311/v2/requests/{numbers[0]}.json", params)
    assert detail <= one
