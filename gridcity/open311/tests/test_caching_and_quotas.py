"""Service documents cached with validators, paged lists that say their size, and per-key
quotas."""

import email.utils

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from gridcity.open311 import catalog, views
from gridcity.open311 import services as s
from gridcity.open311.keys import do_create_api_key
from gridcity.open311.models import ApiKey
from gridcity.open311.render import document
from gridcity.open311.tests.conftest import GARBAGE
from gridcity.taxonomy.models import Category, FilingCondition

pytestmark = pytest.mark.django_db

SERVICES = "/open311/v2/services.json"


def test_services_are_the_uncached_rendering_with_validators(client, city):
    for fmt in ("json", "xml"):
        r = client.get(f"/open311/v2/services.{fmt}")
        assert r.status_code == 200
        rows = [s.service_out(c) for c in s.active_categories()]
        assert r.content == document(fmt, "services", "service", rows)
        assert len(rows) > 400
        assert r["ETag"].startswith('"') and r["Last-Modified"]
        assert "no-cache" in r["Cache-Control"]


def test_a_client_with_the_current_copy_gets_304(client, city):
    first = client.get(SERVICES)
    etag, modified = first["ETag"], first["Last-Modified"]
    again = client.get(SERVICES, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == etag
    assert client.get(SERVICES, HTTP_IF_NONE_MATCH=f'"other", {etag}').status_code == 304
    assert client.get(SERVICES, HTTP_IF_MODIFIED_SINCE=modified).status_code == 304
    older = email.utils.formatdate(
        email.utils.parsedate_to_datetime(modified).timestamp() - 3600, usegmt=True
    )
    assert client.get(SERVICES, HTTP_IF_MODIFIED_SINCE=older).status_code == 200
    assert client.get(SERVICES, HTTP_IF_NONE_MATCH='"stale"').status_code == 200
    definition = f"/open311/v2/services/{GARBAGE}.json"
    d = client.get(definition)
    assert d.status_code == 200 and d["ETag"] != etag
    assert client.get(definition, HTTP_IF_NONE_MATCH=d["ETag"]).status_code == 304


def test_a_changed_category_shows_at_once(client, city):
    first = client.get(SERVICES)
    cat = Category.objects.get(kind="matter", code="06042")
    cat.name = "垃圾箱满溢（新名称）"
    cat.save()
    r = client.get(SERVICES)
    row = next(x for x in r.json() if x["service_code"] == GARBAGE)
    assert row["service_name"] == "垃圾箱满溢（新名称）"
    assert r["ETag"] != first["ETag"]
    assert client.get(SERVICES, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 200
    cat.is_active = False
    cat.save()
    assert GARBAGE not in {x["service_code"] for x in client.get(SERVICES).json()}
    assert client.get(f"/open311/v2/services/{GARBAGE}.json").status_code == 404


def test_a_changed_filing_condition_shows_in_the_definition_at_once(client, city):
    path = f"/open311/v2/services/{GARBAGE}.json"
    before = client.get(path).json()["attributes"][0]["values"]
    fc = FilingCondition.objects.filter(category__code="06042", category__kind="matter").first()
    fc.text = "新的立案条件"
    fc.save()
    after = client.get(path).json()["attributes"][0]["values"]
    assert after != before
    assert any(v["name"].startswith("新的立案条件") for v in after)
    fc.delete()
    attributes = client.get(path).json()["attributes"]
    left = next((a["values"] for a in attributes if a["code"] == "condition"), [])
    assert len(left) == len(before) - 1


def test_another_process_reads_the_shared_rendering(client, city):
    content = client.get(SERVICES).content
    catalog.forget()  # as if another worker: nothing in its memory
    with CaptureQueriesContext(connection) as ctx:
        r = client.get(SERVICES)
    assert r.content == content
    # Only the category map of the new process; the document came from the shared cache.
    assert len(ctx.captured_queries) == 1
    assert "COUNT" not in ctx.captured_queries[0]["sql"].upper()


def _cases(post, n):
    # Points 200 m apart: each report is its own case, not a duplicate of the one before.
    return [
        post(description=f"第{i}件", lat=str(30.2412 + i * 0.002)).json()[0]["service_request_id"]
        for i in range(n)
    ]


def test_lists_say_how_many_match_and_link_the_pages(client, post, city, monkeypatch):
    made = _cases(post, 5)
    r = client.get("/open311/v2/requests.json", {"page_size": 2, "api_key": "secret"})
    assert r["X-Result-Count"] == "5"
    assert [x["service_request_id"] for x in r.json()] == made[::-1][:2]
    assert 'rel="next"' in r["Link"] and "page=2" in r["Link"] and 'rel="prev"' not in r["Link"]
    assert "api_key" not in r["Link"]
    last = client.get("/open311/v2/requests.json", {"page_size": 2, "page": 3})
    assert last["X-Result-Count"] == "5" and len(last.json()) == 1
    assert 'rel="prev"' in last["Link"] and 'rel="next"' not in last["Link"]
    past = client.get("/open311/v2/requests.json", {"page_size": 2, "page": 9})
    assert past.json() == [] and past["X-Result-Count"] == "5"
    whole = client.get("/open311/v2/requests.xml")
    assert whole["X-Result-Count"] == "5" and "Link" not in whole
    monkeypatch.setattr(views, "DEFAULT_PAGE_SIZE", 3)
    default = client.get("/open311/v2/requests.json")
    assert len(default.json()) == 3 and default["X-Result-Count"] == "5"


def test_the_default_page_is_a_hundred():
    assert views.DEFAULT_PAGE_SIZE == 100


@pytest.mark.parametrize("page", ["0", "100001", "-1"])
def test_pages_are_bounded(client, city, page):
    r = client.get("/open311/v2/requests.json", {"page": page})
    assert r.status_code == 400
    assert r.json()[0]["description"].startswith("page ")


def test_a_key_can_be_given_its_own_quota(client, city, settings):
    settings.GRIDCITY_OPEN311_RATE_LIMITS = {"read_per_ip": (2, 60), "read_per_key": (4, 60)}
    partner = do_create_api_key("partner")
    other = do_create_api_key("other")
    key = ApiKey.objects.get(name="partner")
    key.reads_per_minute = 6
    key.save()  # as the admin saves it
    for _ in range(6):
        assert client.get(SERVICES, {"api_key": partner}).status_code == 200
    refused = client.get(SERVICES, {"api_key": partner})
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) >= 1
    assert "6 requests per 60 s" in refused.json()[0]["description"]
    # Another key keeps its own (default) quota; the public keep theirs, strict.
    for _ in range(4):
        assert client.get(SERVICES, HTTP_X_API_KEY=other).status_code == 200
    assert client.get(SERVICES, HTTP_X_API_KEY=other).status_code == 429
    for _ in range(2):
        assert client.get(SERVICES).status_code == 200
    assert client.get(SERVICES).status_code == 429


def test_a_key_can_be_given_its_own_write_quota(post, city, settings, api_key):
    settings.GRIDCITY_OPEN311_RATE_LIMITS = {"write_per_key": (1, 60)}
    ApiKey.objects.filter(name="hotline-12345").update(writes_per_minute=3)
    from gridcity.open311.keys import keys_changed

    keys_changed()
    for i in range(3):
        assert post(description=f"第{i}件", lat=str(30.2412 + i * 0.002)).status_code == 200
    assert post(description="第4件").status_code == 429
    other = do_create_api_key("other")
    assert post(key=other, lat="30.2312").status_code == 200
    assert post(key=other, lat="30.2332").status_code == 429


def test_a_revoked_or_changed_key_takes_effect_at_once(client, city):
    from gridcity.open311.keys import do_revoke_api_key

    raw = do_create_api_key("partner")
    assert client.get("/open311/v2/requests.json", {"api_key": raw}).status_code == 200
    key = ApiKey.objects.get(name="partner")
    key.may_see_internal = True
    key.save()
    from gridcity.open311.keys import authenticate_key

    assert authenticate_key(raw).may_see_internal is True
    assert do_revoke_api_key("partner")
    assert authenticate_key(raw) is None
