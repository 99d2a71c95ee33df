"""The installable field app through the Django client: manifest, icons, service worker and the
list of what a grid manager's phone keeps for offline work."""

import io
import json

import pytest
from PIL import Image

from gridcity.testing import build_city
from gridcity.web.tests.test_field_pages import report, walk_to_handled


@pytest.fixture
def city(db):
    return build_city()


def test_the_manifest_makes_the_field_pages_an_installable_app(client, db):
    r = client.get("/manifest.webmanifest")
    assert r.status_code == 200
    assert r["Content-Type"] == "application/manifest+json"
    m = json.loads(r.content)
    assert m["start_url"] == "/field/" and m["scope"] == "/"
    assert m["display"] == "standalone"
    assert m["name"] == "网格精治 · 网格员"
    sizes = {(i["sizes"], i.get("purpose", "any")) for i in m["icons"]}
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= sizes
    for icon in m["icons"]:
        img = client.get(icon["src"])
        assert img.status_code == 200 and img["Content-Type"] == "image/png"
        with Image.open(io.BytesIO(img.content)) as png:
            assert f"{png.width}x{png.height}" == icon["sizes"]


def test_the_manifest_speaks_the_users_language(client, db):
    client.cookies["django_language"] = "en"
    m = json.loads(client.get("/manifest.webmanifest").content)
    assert m["name"] == "GridCity · Grid manager"
    assert m["lang"] == "en"


def test_every_page_names_the_manifest_and_the_icons(client, db):
    html = client.get("/login/").content.decode()
    assert '<link rel="manifest" href="/manifest.webmanifest">' in html
    assert 'rel="icon" href="/favicon.ico"' in html
    favicon = client.get("/favicon.ico")
    assert favicon.status_code == 200 and favicon["Content-Type"] == "image/x-icon"
    with Image.open(io.BytesIO(favicon.content)) as ico:
        assert ico.format == "ICO"
    assert client.get("/icons/none.png").status_code == 404


def test_the_service_worker_is_served_from_the_root_for_the_whole_site(client, db):
    r = client.get("/sw.js")
    assert r.status_code == 200
    assert r["Content-Type"].startswith("text/javascript")
    assert r["Service-Worker-Allowed"] == "/"
    assert "no-cache" in r["Cache-Control"] or "max-age=0" in r["Cache-Control"]
    body = r.content.decode()
    # Its script runs under the same strict policy as the pages: no eval, only our files.
    assert "unsafe-eval" not in r["Content-Security-Policy"]
    config = json.loads(body.split("var CONFIG = ", 1)[1].split(";\n", 1)[0])
    assert "/static/web/field.js" in config["static"]
    assert config["outbox"] == "/static/web/outbox.js"
    for url in config["static"]:
        assert url.startswith("/static/")


def test_a_grid_manager_keeps_her_tasks_her_beat_and_the_categories(client, city):
    case = walk_to_handled(city, report(city.people["inspector"]))
    client.force_login(city.people["inspector"])
    shell = client.get("/pwa/shell.json").json()
    assert shell["pages"][:3] == ["/field/", "/field/report/", "/people/patrol/"]
    assert f"/field/tasks/{case.number}/" in shell["pages"]
    assert "/api/categories" in shell["data"]
    areas = [u for u in shell["data"] if u.startswith("/api/areas")]
    assert len(areas) == 3
    for url in areas + shell["pages"]:
        assert client.get(url).status_code == 200, url
    cells = client.get(areas[-1]).json()["features"]
    assert len(cells) >= city.people["inspector"].beats.get().cells.count()
    assert shell["csrf"]
    assert "当前没有网络" in shell["offline_page"]


def test_another_grid_manager_does_not_keep_her_tasks(client, city):
    case = walk_to_handled(city, report(city.people["inspector"]))
    client.force_login(city.people["inspector2"])
    shell = client.get("/pwa/shell.json").json()
    assert f"/field/tasks/{case.number}/" not in shell["pages"]


def test_office_staff_and_visitors_keep_no_field_pages(client, city):
    assert client.get("/pwa/shell.json").json()["pages"] == []
    client.force_login(city.people["dispatcher"])
    shell = client.get("/pwa/shell.json").json()
    assert shell["pages"] == [] and shell["data"] == []


def test_the_offline_page_is_in_the_users_language(client, city):
    client.force_login(city.people["inspector"])
    client.cookies["django_language"] = "en"
    shell = client.get("/pwa/shell.json").json()
    assert "No network" in shell["offline_page"]
    assert "当前没有网络" not in shell["offline_page"]
