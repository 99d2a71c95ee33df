"""The 曝光台 in Debian's Chromium: a clerk proposes a closed case from its page, a leader
approves it on the board, the public sees it with its before/after photos, then it is withdrawn
and gone. Screenshots in ./screenshots/ (look at them)."""

import pytest

from gridcity.publicity.tests.helpers import REPORTER_NAME, REPORTER_PHONE, citizen_case
from gridcity.testing import build_city
from gridcity.web.tests.conftest import login, new_page, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TITLE = "菜场垃圾箱满溢多日无人清运"


def loaded_images(page, selector: str) -> int:
    return page.evaluate(
        f"[...document.querySelectorAll('{selector}')]"
        ".filter(img => img.complete && img.naturalWidth > 0).length"
    )


def test_an_exposure_is_proposed_approved_published_and_withdrawn(browser, live_server):
    city = build_city()
    case = citizen_case(city)

    clerk = new_page(browser)
    login(clerk, live_server, "intake")
    clerk.goto(f"{live_server.url}/cases/{case.number}/")
    clerk.click("#case-exposures >> text=拟曝光")
    clerk.wait_for_selector("img.ba-after")
    clerk.fill("#f-title", TITLE)
    clerk.fill("#f-text", "湖滨街道某菜场旁垃圾箱多日满溢，经督促已清运并增加清运频次。")
    shot(clerk, "publicity-propose")
    clerk.click("text=保存并提交审批")
    clerk.wait_for_selector("text=已提交审批")
    assert "待审批" in clerk.inner_text("h1")
    clerk.context.close()

    leader = new_page(browser)
    login(leader, live_server, "leader")
    leader.click("nav.mainnav >> text=曝光台")
    leader.click(".expo-tabs >> text=待审批")
    row = leader.locator(".expo-row", has_text=TITLE)
    row.locator("text=审批通过并发布").click()
    leader.wait_for_selector(f".expo-row[data-state=published]:has-text('{TITLE}')")
    shot(leader, "publicity-board")

    public = new_page(browser, phone=True)
    public.goto(f"{live_server.url}/public/exposures/")
    card = public.locator(".expo-card", has_text=TITLE)
    assert "已整改" in card.inner_text() and "环境卫生科室" in card.inner_text()
    public.wait_for_function(
        "[...document.querySelectorAll('.expo-card img')].every(i => i.complete)"
    )
    assert loaded_images(public, ".expo-card img.ba-before") == 1
    assert loaded_images(public, ".expo-card img.ba-after") == 1
    html = public.content()
    assert REPORTER_NAME not in html and REPORTER_PHONE not in html and "受理员小李" not in html
    assert public.evaluate("document.documentElement.scrollWidth") <= 360
    shot(public, "publicity-public-360")
    public.click(f"text={TITLE}")
    public.wait_for_selector("#rectification")
    shot(public, "publicity-public-detail-360")
    detail_url = public.url

    leader.click(f"text={TITLE}")
    leader.click("summary:has-text('撤回')")
    leader.fill("input[name=reason]", "整改对象有误")
    leader.click("text=确认撤回")
    leader.wait_for_selector("text=已撤回，公众页面不再显示")
    assert "撤回：整改对象有误" in leader.inner_text(".expo-history")
    shot(leader, "publicity-detail-withdrawn")
    leader.context.close()

    public.goto(f"{live_server.url}/public/exposures/")
    assert TITLE not in public.content()
    assert public.goto(detail_url).status == 404
    public.context.close()
