"""The whole day's loop in one browser session per person, as the issue tells it: a grid
manager reports on her phone, the dispatcher confirms, the department reports back with a
photo, the grid manager checks on site, the shift lead closes, the leader's dashboard counts
it."""

import re

import pytest

from gridcity.cases.models import Case, Status
from gridcity.testing import build_city, tiny_jpeg
from gridcity.web.tests.conftest import login, new_page, shot
from gridcity.web.tests.test_browser_field import compose, phone

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_report_goes_from_the_phone_to_the_leaders_dashboard(
    browser, live_server, settings, tmp_path
):
    # The command centre confirms every dispatch in this city.
    settings.GRIDCITY_AUTO_DISPATCH = False
    build_city()

    page = phone(browser, live_server, "inspector")
    page.goto(f"{live_server.url}/field/report/")
    compose(page, tmp_path, "垃圾箱满溢，周边散落")
    page.click("#send")
    page.wait_for_selector("#sent:has-text('上报成功')")
    case = Case.objects.get()
    assert case.status == Status.FILED
    assert case.suggested_department.name == "环境卫生科室"
    page.context.close()

    page = new_page(browser)
    login(page, live_server, "dispatcher")
    page.goto(f"{live_server.url}/centre/command/")
    row = page.locator(f"tr[data-case='{case.number}']")
    assert "06042" in row.inner_text()
    row.get_by_role("button", name=re.compile("确认派遣")).click()
    page.wait_for_selector(".messages")
    case.refresh_from_db()
    assert case.status == Status.DISPATCHED and case.department.name == "环境卫生科室"
    page.context.close()

    after = tmp_path / "after.jpg"
    after.write_bytes(tiny_jpeg((20, 160, 20)))
    page = new_page(browser, phone=True)
    login(page, live_server, "sanitation")
    card = page.locator(f"article[data-case='{case.number}']")
    card.get_by_role("button", name="签收").click()
    page.wait_for_selector(".messages")
    card = page.locator(f"article[data-case='{case.number}']")
    card.locator("summary", has_text="处置反馈").click()
    form = card.locator("form[data-action=report_back]")
    form.locator("input[type=file]").set_input_files(str(after))
    form.locator("textarea[name=note]").fill("已清运")
    form.get_by_role("button", name=re.compile("处置反馈")).click()
    page.wait_for_selector(".messages")
    case.refresh_from_db()
    assert case.status == Status.HANDLED
    page.context.close()

    page = phone(browser, live_server, "inspector")
    page.goto(f"{live_server.url}/field/")
    page.click(f"a[href='/field/tasks/{case.number}/']")
    page.check("input[name=result][value=yes]")
    page.set_input_files("#id_photo", str(after))
    page.click("button[type=submit].primary")
    page.wait_for_selector(".messages")
    case.refresh_from_db()
    assert case.status == Status.CHECKED
    page.context.close()

    page = new_page(browser)
    login(page, live_server, "shift_lead")
    page.goto(f"{live_server.url}/cases/{case.number}/")
    page.get_by_role("button", name="结案").click()
    page.wait_for_selector(".messages")
    case.refresh_from_db()
    assert case.status == Status.CLOSED
    assert [e.action for e in case.events.order_by("at", "pk")] == [
        "report",
        "file",
        "dispatch",
        "sign",
        "report_back",
        "check_pass",
        "close",
    ]
    page.context.close()

    page = new_page(browser)
    login(page, live_server, "leader")
    page.goto(f"{live_server.url}/dashboard/")
    today = page.locator(".figures").first
    assert today.locator(".figure", has_text="结案").first.locator(".fig-value").inner_text() == "1"
    assert today.locator(".figure", has_text="上报").first.locator(".fig-value").inner_text() == "1"
    shot(page, "whole-loop-dashboard-1920")
    page.context.close()
