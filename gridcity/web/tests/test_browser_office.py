"""The office pages in a real browser: the dispatcher confirms, the department signs for and
reports back with a photo, the shift lead closes; a handler cannot close. Every page is
photographed at 360 and 1920 px into ./screenshots/."""

import re

import pytest

from gridcity.cases.actions import do_create_supervision
from gridcity.cases.models import Case, Channel, Status
from gridcity.web.tests.conftest import login, new_page, shot
from gridcity.web.tests.test_office_pages import handled, move, report

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def city(transactional_db):
    from gridcity.testing import build_city

    return build_city()


def _message(page) -> str:
    return page.locator(".messages").inner_text()


def test_it_runs_a_case_from_the_board_to_closing(browser, live_server, city, settings, tmp_path):
    from gridcity.testing import tiny_jpeg

    settings.GRIDCITY_AUTO_DISPATCH = False
    case = report(city, 0)
    settings.GRIDCITY_AUTO_DISPATCH = True
    assert case.status == Status.FILED

    # The dispatcher confirms the engine's suggestion in one click.
    page = new_page(browser)
    login(page, live_server, "dispatcher")
    page.goto(f"{live_server.url}/centre/command/")
    row = page.locator(f"tr[data-case='{case.number}']")
    assert "环境卫生科室" in row.inner_text()
    row.get_by_role("button", name=re.compile("确认派遣")).click()
    assert "已完成：派遣" in _message(page)
    case.refresh_from_db()
    assert case.status == Status.DISPATCHED
    page.context.close()

    # The sanitation clerk signs for it and reports back with an "after" photo.
    photo = tmp_path / "after.jpg"
    photo.write_bytes(tiny_jpeg())
    page = new_page(browser, phone=True)
    login(page, live_server, "sanitation")
    assert page.url.endswith("/desk/")
    card = page.locator(f"article[data-case='{case.number}']")
    card.get_by_role("button", name="签收").click()
    assert "已完成：签收" in _message(page)
    card = page.locator(f"article[data-case='{case.number}']")
    card.locator("summary", has_text="处置反馈").click()
    form = card.locator("form[data-action=report_back]")
    form.locator("input[type=file]").set_input_files(str(photo))
    form.locator("textarea[name=note]").fill("已清运")
    form.get_by_role("button", name=re.compile("处置反馈")).click()
    assert "已完成：处置反馈" in _message(page)
    case.refresh_from_db()
    assert case.status == Status.HANDLED
    assert case.attachments.filter(kind="after").count() == 1
    page.context.close()

    # The grid manager's check happens on the phone pages; here through the action.
    move(case, "check_pass", city.people["inspector"])

    # The shift lead closes it from the case page.
    page = new_page(browser)
    login(page, live_server, "shift_lead")
    page.goto(f"{live_server.url}/cases/{case.number}/")
    page.get_by_role("button", name="结案").click()
    assert "已完成：结案" in _message(page)
    case.refresh_from_db()
    assert case.status == Status.CLOSED
    shot(page, "office-case-closed-1920")
    page.context.close()


def test_it_gives_a_handler_no_close_button_and_refuses_a_forced_close(browser, live_server, city):
    case = handled(city, 0)
    move(case, "check_pass", city.people["inspector"])
    page = new_page(browser)
    login(page, live_server, "sanitation")
    page.goto(f"{live_server.url}/cases/{case.number}/")
    assert page.get_by_role("button", name="结案").count() == 0
    status, body = page.evaluate(
        """async (url) => {
            const token = JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRFToken'];
            const r = await fetch(url, {method: 'POST', headers: {'X-CSRFToken': token}});
            return [r.status, await r.text()];
        }""",
        f"{live_server.url}/cases/{case.number}/action/close/",
    )
    assert status == 403
    assert "当前角色不能执行“结案”" in body
    case.refresh_from_db()
    assert case.status == Status.CHECKED
    page.context.close()


def test_it_photographs_every_office_page_at_phone_and_desktop_width(
    browser, live_server, city, settings
):
    from gridcity.testing import tiny_jpeg

    settings.GRIDCITY_AUTO_DISPATCH = False
    filed = report(city, 0)
    settings.GRIDCITY_AUTO_DISPATCH = True
    dispatched = report(city, 1)
    do_create_supervision(dispatched, acting_user=city.people["leader"], note="今天下班前处理完")
    handling = report(city, 2, code="06010")
    move(handling, "sign", city.people["sanitation"])
    move(
        handling,
        "request_extension",
        city.people["sanitation"],
        note="车辆外出",
        extension="2工作日",
    )
    report(city, 3, channel=Channel.HOTLINE, reporter_name="王先生")
    report(city, 4, channel=Channel.HOTLINE, at=(121.0, 31.0))
    done = handled(city, 5)
    move(done, "check_pass", city.people["inspector"], photos=[("c.jpg", tiny_jpeg((40, 160, 60)))])
    Case.objects.filter(pk=dispatched.pk).update(
        step_deadline=dispatched.step_started_at  # red on the overdue board
    )

    pages = {
        "intake": [
            ("supervision", "/centre/supervision/"),
            ("hotline", "/centre/hotline/new/"),
            ("triage", "/centre/triage/"),
            ("case-reported", f"/cases/{filed.number}/"),
        ],
        "dispatcher": [
            ("command", "/centre/command/"),
            ("overdue", "/centre/overdue/"),
            ("orders", "/centre/supervision-orders/"),
            ("case-filed", f"/cases/{filed.number}/"),
        ],
        "sanitation": [("desk", "/desk/"), ("case-handled", f"/cases/{done.number}/")],
        "shift_lead": [("case-checked", f"/cases/{done.number}/")],
    }
    for phone, width in ((True, 360), (False, 1920)):
        for who, urls in pages.items():
            page = new_page(browser, phone=phone)
            login(page, live_server, who)
            for name, url in urls:
                page.goto(f"{live_server.url}{url}")
                page.wait_for_load_state("networkidle")
                assert page.locator("h1").first.is_visible()
                shot(page, f"office-{name}-{width}")
                # No page may scroll sideways on a phone.
                overflow = page.evaluate(
                    "document.documentElement.scrollWidth - document.documentElement.clientWidth"
                )
                assert overflow <= 0, f"{name} scrolls sideways by {overflow}px at {width}px"
            page.context.close()
