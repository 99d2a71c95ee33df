"""The JSON API answers in the language the request asks for (Accept-Language): Chinese by
default, English when asked; the field names stay as they are."""

import json

import pytest
from django.core.management import call_command

from gridcity.accounts.actions import do_create_token
from gridcity.testing import MID_LAT, build_city

pytestmark = pytest.mark.django_db

# The English catalogue is compiled from the .po before any answer is written.
call_command("compile-translations", verbosity=0)

ENGLISH = {"HTTP_ACCEPT_LANGUAGE": "en"}
CHINESE = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9"}


@pytest.fixture
def city():
    return build_city()


@pytest.fixture
def post_report(client, city):
    token = do_create_token(city.people["inspector"])

    def post(body: dict, **headers):
        report = {"category": "06042", "lon": 120.1630, "lat": MID_LAT + 0.0012, **body}
        return client.post(
            "/api/cases",
            json.dumps(report),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
            **headers,
        )

    return post


def test_it_refuses_an_unknown_token_in_the_requested_language(client, city):
    english = client.get("/api/cases", HTTP_AUTHORIZATION="Bearer gc_nope", **ENGLISH)
    chinese = client.get("/api/cases", HTTP_AUTHORIZATION="Bearer gc_nope", **CHINESE)
    assert english.status_code == chinese.status_code == 401
    assert english.json()["error"] == "Not signed in or invalid token"
    assert chinese.json()["error"] == "未登录或令牌无效"


def test_it_names_a_refused_field_in_english(post_report):
    r = post_report({"lon": None, "lat": None, "address": ""}, **ENGLISH)
    assert r.status_code == 422
    assert r.json() == {
        "error": "Please give a location (longitude and latitude) or an address",
        "field": "lon",
    }


def test_it_names_a_refused_field_in_chinese_by_default(post_report):
    r = post_report({"lon": None, "lat": None, "address": ""})
    assert r.status_code == 422
    assert r.json()["error"] == "请提供位置（经纬度）或地址"


def test_it_explains_a_value_out_of_bounds_in_english(post_report):
    r = post_report({"description": "很" * 4001}, **ENGLISH)
    assert r.status_code == 422
    assert r.json()["error"] == "description: Too long"


def test_it_explains_a_value_of_the_wrong_type_in_english(post_report):
    r = post_report({"lon": "东经120度"}, **ENGLISH)
    assert r.status_code == 422
    assert r.json()["field"] == "lon"
    assert r.json()["error"] == "lon: Should be a number"


def test_it_says_an_unknown_category_in_english(post_report):
    r = post_report({"category": "99999"}, **ENGLISH)
    assert r.status_code == 422
    assert r.json() == {"error": "Category 99999 does not exist", "field": "category"}


def test_it_answers_an_unknown_endpoint_in_english(client, settings):
    settings.DEBUG = False
    r = client.get("/api/no-such-thing", **ENGLISH)
    assert r.status_code == 404
    assert r.json()["error"].startswith("No such endpoint: /api/no-such-thing")
