"""The department desk in a real browser, a page at a time: the clerk turns the page of the
supervision orders without losing her place among the cases, and answers an order from the
second page; the address says which page she is on."""

import re

import pytest
from playwright.sync_api import expect

from gridcity.cases.actions import do_create_supervision
from gridcity.cases.models import SupervisionOrder
from gridcity.web.office import DESK_ORDERS_PAGE
from gridcity.web.tests.conftest import login, new_page, shot
from gridcity.web.tests.test_office_pages import report

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def city(transactional_db):
    from gridcity.testing import build_city

    return build_city()


def test_the_clerk_pages_through_her_orders_and_answers_one(browser, live_server, city):
    n = DESK_ORDERS_PAGE + 2
    cases = [report(city, i) for i in range(n)]
    leader = city.people["leader"]
    orders = [
        do_create_supervision(c, acting_user=leader, note=f"请加快 {i}")
        for i, c in enumerate(cases)
    ]
    by_deadline = list(
        SupervisionOrder.objects.filter(pk__in=[o.pk for o in orders]).order_by(
            "reply_deadline", "pk"
        )
    )

    page = new_page(browser, phone=True)
    login(page, live_server, "sanitation")
    assert page.url.endswith("/desk/")
    orders_list = page.locator("#orders")
    expect(orders_list.locator("article[data-order]")).to_have_count(DESK_ORDERS_PAGE)
    expect(page.locator("[data-fig=orders]")).to_have_text(str(n))
    first_cases = page.locator("#desk-cases article[data-case]").all_inner_texts()

    orders_list.get_by_role("link", name="下一页").click()
    expect(page).to_have_url(re.compile(r"/desk/\?orders=2$"))
    expect(page.locator("#orders article[data-order]")).to_have_count(2)
    assert page.locator("#desk-cases article[data-case]").all_inner_texts() == first_cases
    last = by_deadline[-1]
    card = page.locator(f"article[data-order='{last.number}']")
    shot(page, "desk-orders-page-2")

    card.locator("textarea[name=reply]").fill("已安排车辆清运")
    card.get_by_role("button", name="提交答复").click()
    expect(page.locator(".messages")).to_contain_text(f"已答复督办单 {last.number}")
    # Back on the page she answered from, one order fewer to answer.
    expect(page).to_have_url(re.compile(r"/desk/\?orders=2$"))
    expect(page.locator("[data-fig=orders]")).to_have_text(str(n - 1))
    last.refresh_from_db()
    assert last.reply == "已安排车辆清运"
    page.context.close()
