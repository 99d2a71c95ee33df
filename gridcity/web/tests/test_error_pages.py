"""Errors with DEBUG off: the product's own pages in the user's language (Chinese by default,
English by cookie or Accept-Language), JSON under /api/ and GeoReport errors under /open311/."""

import json
import re
from xml.etree import ElementTree as ET

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.test import Client, RequestFactory
from django.urls import path

from gridcity import urls as root_urls
from gridcity.accounts.models import Role
from gridcity.testing import make_person
from gridcity.web.errors import csrf_failure

# The English catalogue is compiled from the .po before any page is rendered.
call_command("compile-translations", verbosity=0)

CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


def boom(request):
    raise RuntimeError("a bug in a view")


def forbidden(request):
    raise PermissionDenied


# This module is also the URL configuration of the tests that need a view that fails.
urlpatterns = [
    path("test-boom/", boom),
    path("test-forbidden/", forbidden),
    path("api/test-boom", boom),
    path("open311/v2/test-boom.xml", boom),
    *root_urls.urlpatterns,
]
handler400 = root_urls.handler400
handler403 = root_urls.handler403
handler404 = root_urls.handler404
handler500 = root_urls.handler500


@pytest.fixture(autouse=True)
def _debug_off_and_fresh_catalogues(settings):
    settings.DEBUG = False
    # No collectstatic before the tests: the plain storage, whatever the environment says (the
    # root conftest's GRIDCITY_STATIC_MANIFEST=0 comes too late for a run without xdist).
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    # Setting LOCALE_PATHS again empties Django's per-process catalogue cache, which another
    # test may have filled before the .mo existed.
    settings.LOCALE_PATHS = list(settings.LOCALE_PATHS)


@pytest.fixture
def client():
    return Client(raise_request_exception=False)


@pytest.fixture
def english(client):
    client.cookies["django_language"] = "en"
    return client


def main_text(response) -> str:
    html = response.content.decode()
    return html[html.index('<main id="main">') : html.index("</main>")]


# --- 404 -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_answers_an_unknown_page_with_its_own_404_in_chinese(client):
    r = client.get("/no-such-page")
    assert r.status_code == 404
    body = r.content.decode()
    assert "找不到这个页面" in body
    assert "<code>/no-such-page</code>" in body
    assert "/public/lookup/" in body and "/login/" in body
    assert 'href="/static/web/app.css"' in body  # the site's own layout
    assert "URLconf" not in body and "Django" not in body
    assert '<html lang="zh-hans">' in body


@pytest.mark.django_db
def test_it_answers_in_english_to_the_language_cookie(english):
    r = english.get("/no-such-page")
    assert r.status_code == 404
    assert "Page not found" in r.content.decode()
    assert '<html lang="en">' in r.content.decode()
    # Every word on the page itself is translated (the top bar keeps the brand name).
    assert not CJK.findall(main_text(r))


@pytest.mark.django_db
def test_it_answers_in_english_to_accept_language(client):
    r = client.get("/no-such-page", HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.9")
    assert r.status_code == 404
    assert "Page not found" in r.content.decode()


@pytest.mark.django_db
def test_it_offers_a_logged_in_user_their_work_page(client):
    client.force_login(make_person("dispatcher", Role.DISPATCHER))
    r = client.get("/no-such-page")
    assert r.status_code == 404
    assert "回到我的工作页" in r.content.decode()
    assert "dispatcher · 派遣员" in r.content.decode()


@pytest.mark.django_db
def test_it_escapes_the_path_it_names(client):
    r = client.get("/<script>alert(1)</script>")
    assert r.status_code == 404
    assert "<script>alert" not in r.content.decode()


@pytest.mark.django_db
def test_it_answers_an_unknown_api_endpoint_with_the_apis_json(client):
    r = client.get("/api/no-such-endpoint")
    assert r.status_code == 404
    assert r["Content-Type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error", "field"}
    assert body["field"] is None
    assert "/api/no-such-endpoint" in body["error"] and "没有这个接口" in body["error"]


@pytest.mark.django_db
def test_it_answers_an_unknown_georeport_path_with_a_georeport_error(client):
    r = client.get("/open311/v2/nothing.json")
    assert r.status_code == 404
    assert r["Content-Type"].startswith("application/json")
    [error] = json.loads(r.content)
    assert error["code"] == 404 and "/open311/v2/nothing.json" in error["description"]

    r = client.get("/open311/v2/nothing.xml")
    assert r.status_code == 404
    root = ET.fromstring(r.content)
    assert root.tag == "errors" and root.find("error/code").text == "404"


# --- 400 -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_answers_a_bad_host_header_with_its_own_400(client):
    # Refused in CommonMiddleware, before the user is known: still the page, not a 500.
    r = client.get("/", HTTP_HOST="evil.example")
    assert r.status_code == 400
    assert "请求无效" in r.content.decode()

    r = client.get("/api/cases", HTTP_HOST="evil.example")
    assert r.status_code == 400
    assert r.json() == {"error": "请求无效", "field": None}


def test_it_renders_the_400_page_with_no_context_at_all():
    from django.template import loader

    assert "请求无效" in loader.get_template("400.html").render()


# --- 500 -------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_it_answers_a_failing_view_with_its_own_500_in_chinese(client):
    r = client.get("/test-boom/")
    assert r.status_code == 500
    body = r.content.decode()
    assert "服务器出错了" in body and "/public/lookup/" in body
    assert "a bug in a view" not in body and "Traceback" not in body
    assert "/static/" not in body  # self-contained: no manifest needed


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_it_answers_a_failing_view_in_english(english):
    r = english.get("/test-boom/")
    assert r.status_code == 500
    assert "Something went wrong on our side" in r.content.decode()
    assert not CJK.findall(main_text(r))


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_it_answers_a_failing_api_call_and_georeport_call_in_their_formats(client):
    r = client.get("/api/test-boom")
    assert r.status_code == 500
    assert r.json()["field"] is None and r.json()["error"]

    r = client.get("/open311/v2/test-boom.xml")
    assert r.status_code == 500
    assert ET.fromstring(r.content).find("error/code").text == "500"


def test_it_renders_the_500_page_with_no_context_at_all():
    # Django's server_error renders it like this: no request, no context processors.
    from django.template import loader

    html = loader.get_template("500.html").render()
    assert "服务器出错了" in html


# --- 403 -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_says_the_page_expired_when_the_csrf_token_is_missing():
    client = Client(enforce_csrf_checks=True)
    r = client.post("/login/", {"username": "someone", "password": "x"})
    assert r.status_code == 403
    body = r.content.decode()
    assert "页面已过期" in body and "刷新" in body
    assert "CSRF verification failed" not in body  # not Django's page


@pytest.mark.django_db
def test_it_offers_to_reopen_the_page_the_form_came_from():
    client = Client(enforce_csrf_checks=True)
    client.cookies["django_language"] = "en"
    r = client.post(
        "/login/", {"username": "x"}, HTTP_REFERER="http://testserver/login/?next=/desk/"
    )
    assert r.status_code == 403
    body = r.content.decode()
    assert "This page has expired" in body
    assert 'href="http://testserver/login/?next=/desk/"' in body
    assert not CJK.findall(main_text(r))

    # Never a link to another site.
    r = client.post("/login/", {"username": "x"}, HTTP_REFERER="https://evil.example/")
    assert "evil.example" not in r.content.decode()


def test_it_answers_an_api_csrf_failure_in_json():
    r = csrf_failure(RequestFactory().post("/api/cases"), reason="CSRF token missing.")
    assert r.status_code == 403
    assert json.loads(r.content)["field"] is None


@pytest.mark.django_db
def test_it_answers_a_wrong_role_with_its_own_403(client):
    # The grid manager's phone pages raise PermissionDenied for other roles.
    client.force_login(make_person("dispatcher", Role.DISPATCHER))
    r = client.get("/field/")
    assert r.status_code == 403
    body = r.content.decode()
    assert "无权访问此页面" in body and "派遣员" in body and "回到我的工作页" in body

    client.cookies["django_language"] = "en"
    r = client.get("/field/")
    assert r.status_code == 403
    assert "You may not open this page" in r.content.decode()
    assert "Dispatcher" in r.content.decode()
    assert not CJK.findall(main_text(r))


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_it_offers_a_logged_out_visitor_the_login_page(client):
    r = client.get("/test-forbidden/")
    assert r.status_code == 403
    body = r.content.decode()
    assert "这个页面需要登录后才能使用" in body
    assert "/login/?next=/test-forbidden/" in body
