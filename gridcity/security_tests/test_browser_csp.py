"""The Content-Security-Policy in a real browser (Debian's Chromium): every role's pages, the
public pages, the admin and the API docs run under the policy the server sends without one
violation and without one uncaught script error; and an area whose name is markup, brought in
by an import file, shows as text in the map tooltips and labels and runs nothing."""

from datetime import date

import pytest
from django.utils import timezone
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from gridcity.grids.actions import import_areas
from gridcity.grids.models import Area, AreaLevel
from gridcity.web.tests.conftest import login, new_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAYLOAD = "<img src=x onerror=alert(1)>"

# Chromium reports a blocked script or style to the page as a `securitypolicyviolation` event;
# the page's own scripts never see this listener, which Playwright installs before them.
WATCH = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__violations.push(e.effectiveDirective + " blocked " + (e.blockedURI || "inline") +
    " at " + e.sourceFile + ":" + e.lineNumber + " " + (e.sample || ""));
});
"""


class Watcher:
    """What the browser says while pages load: CSP violations (from the console and from the
    event), uncaught errors, and any dialog a script opens."""

    def __init__(self, browser, **context_args):
        self.page = new_page(browser, **context_args)
        self.page.context.add_init_script(WATCH)
        self.problems: list[str] = []
        self.here = ""
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.problems.append(f"{self.here}: error {e}"))
        self.page.on("dialog", self._dialog)

    def _console(self, msg) -> None:
        if "Content Security Policy" in msg.text or "Content-Security-Policy" in msg.text:
            self.problems.append(f"{self.here}: console {msg.text}")

    def _dialog(self, dialog) -> None:
        self.problems.append(f"{self.here}: a script opened a {dialog.type} ({dialog.message})")
        dialog.dismiss()

    def visit(self, url: str) -> None:
        self.here = url
        response = self.page.goto(url, wait_until="load")
        assert response is not None and response.status < 400, f"{url}: {response.status}"
        if self.page.locator(".leaflet-container, #swagger-ui").count():
            # Maps and the API docs draw from what they fetch after the page has loaded.
            self.page.wait_for_load_state("networkidle")
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe" not in policy
        self.collect()

    def collect(self) -> None:
        for v in self.page.evaluate("window.__violations || []"):
            self.problems.append(f"{self.here}: {v}")
        self.page.evaluate("window.__violations = []")

    def close(self) -> None:
        self.page.context.close()


def _nav_links(page) -> list[str]:
    return page.eval_on_selector_all("nav.mainnav a", "els => els.map(a => a.pathname)")


@pytest.fixture
def town(transactional_db):
    """The test city with something on every page: cases (one handled), a campaign, an
    inspection, a sensor, a pairing with a score sheet."""
    from gridcity.campaigns.actions import do_create_plan, do_schedule_inspection
    from gridcity.campaigns.tests.helpers import bin_campaign
    from gridcity.people.actions import do_create_pairing, do_create_score_sheet
    from gridcity.sensors.actions import do_register_device
    from gridcity.testing import MID_LAT, MID_LON, build_city
    from gridcity.web.tests.test_office_pages import handled, report

    city = build_city()
    city.cases = [report(city, 0), handled(city, 1)]
    city.campaign = bin_campaign(city)
    plan = do_create_plan(
        acting_user=city.people["leader"],
        name="垃圾桶满冒暗访",
        content="垃圾桶满冒、周边散落垃圾",
        method="planned",
        openness="open",
        scope="thematic",
        frequency="once",
        area=city.streets[0],
        items=[("垃圾桶满冒", 2)],
    )
    city.inspection = do_schedule_inspection(
        plan,
        acting_user=city.people["leader"],
        inspector=city.people["inspector"],
        on=timezone.localdate(),
    )
    city.device, _ = do_register_device(
        "BIN-001",
        "bin_fill",
        acting_user=city.people["admin"],
        name="解放路12号垃圾箱",
        lon=MID_LON - 0.003,
        lat=MID_LAT + 0.0012,
    )
    do_create_score_sheet(
        name="包村居季度考核表",
        items=[("走访", 50), ("解决", 50)],
        acting_user=city.people["leader"],
    )
    city.pairing = do_create_pairing(
        community=city.communities[0],
        starts_on=date(timezone.localdate().year, 1, 1),
        leader=city.people["leader"],
        acting_user=city.people["leader"],
    )
    return city


def test_every_roles_pages_run_under_the_policy_without_a_violation(browser, live_server, town):
    base = live_server.url
    open_case, done_case = (c.number for c in town.cases)
    pk = {
        "campaign": town.campaign.pk,
        "inspection": town.inspection.pk,
        "pairing": town.pairing.pk,
        "area": town.streets[0].pk,
        "user": town.people["inspector"].pk,
    }
    walks = {
        None: [
            "/public/",
            "/public/lookup/",
            "/public/exposures/",
            "/people/public/",
            "/login/",
        ],
        "inspector": [
            "/field/report/",
            f"/field/tasks/{done_case}/",
            f"/campaigns/inspections/{pk['inspection']}/onsite/",
        ],
        "shift_lead": [
            "/centre/hotline/new/",
            "/centre/triage/",
            f"/cases/{open_case}/",
            f"/sensors/devices/{town.device.code}/",
            "/publicity/new/",
        ],
        "leader": [
            "/evaluation/map/",
            "/campaigns/new/",
            f"/campaigns/{pk['campaign']}/",
            f"/people/pairings/{pk['pairing']}/",
            f"/people/pairings/{pk['pairing']}/visit/",
            "/people/sheets/",
            "/people/team/",
        ],
        "sanitation": [f"/cases/{done_case}/"],
        "admin": [
            "/admin/",
            f"/admin/grids/area/{pk['area']}/change/",
            f"/admin/accounts/user/{pk['user']}/change/",
            "/admin/dispatch/responsibilityrule/",
            "/api/docs",
        ],
    }
    seen: set[str] = set()
    problems: list[str] = []
    for role, extra in walks.items():
        w = Watcher(browser, phone=role == "inspector")
        if role is None:
            pages = extra
        else:
            login(w.page, live_server, role)
            w.here = f"{role}'s home"
            w.collect()
            pages = _nav_links(w.page) + extra
        # A page several roles share is walked once, by the first of them.
        for path in [p for p in dict.fromkeys(pages) if p not in seen]:
            w.visit(base + path)
            seen.add(path)
        problems += w.problems
        w.close()
    # A missing page is a page too (the 404 template carries its own style block).
    w = Watcher(browser)
    w.here = "/no-such-page/"
    response = w.page.goto(base + "/no-such-page/", wait_until="networkidle")
    assert response.status == 404
    w.collect()
    problems += w.problems
    w.close()
    assert len(seen) >= 40
    assert problems == []


def test_the_controls_that_had_inline_handlers_still_work_from_the_shared_script(
    browser, live_server
):
    from gridcity.people.actions import do_create_pairing, do_create_score_sheet
    from gridcity.testing import build_city

    city = build_city(rules=False)
    leader = city.people["leader"]
    for name in ("季度考核表甲", "季度考核表乙"):
        do_create_score_sheet(name=name, items=[("走访", 50), ("解决", 50)], acting_user=leader)
    pairing = do_create_pairing(
        community=city.communities[0],
        starts_on=date(timezone.localdate().year, 1, 1),
        leader=leader,
        acting_user=leader,
    )
    w = Watcher(browser)
    login(w.page, live_server, "leader")

    # The score sheet picker shows (and sends) only the chosen sheet's fields.
    w.visit(f"{live_server.url}/people/pairings/{pairing.pk}/")
    visible = "#assess-form fieldset:not([hidden]):not([disabled]) legend"
    first = w.page.inner_text(visible)
    other = "季度考核表乙" if first == "季度考核表甲" else "季度考核表甲"
    w.page.select_option(
        "#sheet", w.page.locator("#sheet option", has_text=other).get_attribute("value")
    )
    assert w.page.inner_text(visible) == other
    assert w.page.locator("#assess-form fieldset[data-sheet]:not([hidden])").count() == 1

    # The back button of the missing-page page goes back.
    w.page.goto(f"{live_server.url}/no-such-page/")
    w.page.click("button[data-back]")
    w.page.wait_for_url(f"{live_server.url}/people/pairings/{pairing.pk}/")

    # The language picker sends its form when changed.
    with w.page.expect_navigation():
        w.page.select_option("#lang", "en")
    w.page.wait_for_load_state("networkidle")
    assert w.page.locator("html").get_attribute("lang") == "en"
    w.collect()
    problems = w.problems
    w.close()
    assert problems == []


def _markup_named_areas() -> None:
    """The attack arrives in an import file: re-importing a street and a community by code
    renames them."""
    street = Area.objects.get(code="330102001")
    community = Area.objects.get(code="330102001001")
    for area, level in ((street, AreaLevel.STREET), (community, AreaLevel.COMMUNITY)):
        props = {"code": area.code, "name": PAYLOAD}
        if area.parent_id:
            props["parent"] = area.parent.code
        import_areas(
            {
                "type": "FeatureCollection",
                "features": [{"type": "Feature", "properties": props, "geometry": area.geometry}],
            },
            level=level,
            code_field="code",
            name_field="name",
            parent_field="parent",
        )
    assert Area.objects.get(code="330102001").name == PAYLOAD


def _zoom_out_until(w: Watcher, level: int) -> None:
    """Click the map's zoom-out button until it has fetched and drawn areas of `level` (the
    maps draw grid cells close up, communities and streets further out)."""
    for _ in range(8):
        with w.page.expect_response(lambda r: "/api/areas?" in r.url) as fetched:
            w.page.click(".leaflet-control-zoom-out")
        w.page.wait_for_load_state("networkidle")
        if f"level={level}&" in fetched.value.url:
            return
    raise AssertionError(f"the map never drew level {level}")


def _tooltip_text(w: Watcher, map_selector: str) -> str:
    """Hover each area drawn on a map until the tooltip of the markup-named one opens; the
    texts of the tooltips seen."""
    seen = []
    paths = w.page.locator(f"{map_selector} path.leaflet-interactive")
    for i in range(min(paths.count(), 40)):
        box = paths.nth(i).bounding_box()
        if not box:
            continue
        w.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        tip = w.page.locator(".leaflet-tooltip").first
        try:
            tip.wait_for(state="visible", timeout=1000)
        except PlaywrightTimeout:
            continue
        seen.append(tip.text_content())
        if PAYLOAD in seen[-1]:
            break
    return " | ".join(seen)


def _no_injected_image(w: Watcher) -> None:
    assert w.page.locator("img[src='x']").count() == 0
    assert w.page.locator(".leaflet-tooltip img, .area-label img").count() == 0


def test_an_area_named_with_markup_shows_as_text_in_map_tooltips_and_labels(browser, live_server):
    from gridcity.testing import build_city

    build_city(rules=False)
    _markup_named_areas()
    base = live_server.url

    # The hotline form's map: the streets, with their names as sticky tooltips.
    w = Watcher(browser)
    login(w.page, live_server, "shift_lead")
    w.visit(base + "/centre/hotline/new/")
    w.page.wait_for_selector("[data-map] path.leaflet-interactive")
    assert PAYLOAD in _tooltip_text(w, "[data-map]")
    _no_injected_image(w)

    # The case map, zoomed out until it draws streets rather than grid cells.
    w.visit(base + "/map/")
    w.page.wait_for_selector("#case-map path.leaflet-interactive")
    _zoom_out_until(w, 2)
    assert PAYLOAD in _tooltip_text(w, "#case-map")
    _no_injected_image(w)
    w.collect()
    problems = w.problems
    w.close()

    # The citizens' page: area names are labels on the map once it is zoomed out.
    w = Watcher(browser)
    w.visit(base + "/public/")
    w.page.wait_for_selector(".leaflet-container")
    _zoom_out_until(w, 3)
    w.page.wait_for_selector(".area-label")
    labels = w.page.eval_on_selector_all(".area-label", "els => els.map(e => e.textContent)")
    assert PAYLOAD in labels
    _no_injected_image(w)
    w.collect()
    problems += w.problems
    w.close()
    assert problems == []
