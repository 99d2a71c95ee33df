"""Every page of every role in both languages, in a real browser: with English chosen in the
language select, the interface (top bar, headings, labels, buttons, table headers) has no
Chinese; in Chinese (the default) it has no English words. Data stays as entered, so the
city's own names, descriptions and usernames are set aside before the check."""

import re

import pytest
from django.apps import apps
from django.db import models
from playwright.sync_api import expect

from gridcity.web.tests.conftest import login, new_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROME = (
    "header.topbar a, header.topbar button, header.topbar label, h1, h2, h3, th, label, "
    "button, legend, summary, dt, caption, .tile-t"
)
CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
ENGLISH_WORD = re.compile(r"[A-Za-z]{2,}")
# Names that are the same in both languages: the product, formats, standards.
SAME_IN_BOTH = {"GridCity", "XLSX", "PDF", "CSV", "WGS", "API", "Open", "HTTP", "ID", "GB", "URL"}
# The language select names each language in its own tongue.
LANGUAGE_NAMES = ("简体中文", "English")

ROLES = ["intake", "dispatcher", "sanitation", "leader", "inspector", "admin"]
ADMIN_PAGES = ["/admin/", "/admin/accounts/user/", "/admin/taxonomy/category/"]


@pytest.fixture
def city(transactional_db, settings):
    """The test city with a case at each desk, so that the pages show their rows and buttons."""
    from gridcity.cases.models import Channel
    from gridcity.testing import build_city
    from gridcity.web.tests.test_office_pages import handled, report

    city = build_city()
    city.cases = [report(city, 0)]  # dispatched: the department's to sign for
    city.cases.append(handled(city, 1))  # handled: the grid manager's to check
    city.cases.append(report(city, 2, channel=Channel.HOTLINE))
    settings.GRIDCITY_AUTO_DISPATCH = False
    city.cases.append(report(city, 3))  # filed: the dispatcher's to dispatch
    return city


def data_strings() -> list[str]:
    """Every text value stored in the database, longest first: what the city entered."""
    found = set()
    for model in apps.get_models():
        fields = [
            f.name
            for f in model._meta.concrete_fields
            if isinstance(f, models.CharField | models.TextField) and not f.choices
        ]
        for field in fields:
            for value in model.objects.values_list(field, flat=True).distinct()[:2000]:
                # Codes and numbers ("02") are left: removing them would cut words apart.
                if value and len(value) > 1 and re.search(r"[A-Za-z\u4e00-\u9fff]", value):
                    found.add(value)
    return sorted(found, key=len, reverse=True)


def interface_text(page, data: list[str]) -> list[str]:
    texts = []
    for text in page.locator(CHROME).all_inner_texts():
        text = " ".join(text.split())
        for value in (*LANGUAGE_NAMES, *data):
            if value in text:
                text = text.replace(value, " ")
        if text.strip():
            texts.append(text)
    return texts


def pages_of(page, role: str, *, english: bool, cases: list) -> list[str]:
    links = page.locator("nav.mainnav a")
    urls = [links.nth(i).get_attribute("href") for i in range(links.count())]
    urls.append("/account/")
    if role != "inspector":
        urls += [f"/cases/{case.number}/" for case in cases]
    # The admin's own words come from Django and third-party apps (whose Chinese catalogues are
    # not complete): in Chinese only the product's pages are held to "no English".
    if role == "admin" and english:
        urls += ADMIN_PAGES
    return list(dict.fromkeys(urls))


def walk(browser, live_server, city, role: str, *, english: bool) -> list[str]:
    data = data_strings()
    page = new_page(browser)
    login(page, live_server, role)
    if english:
        # The select posts its form on change: wait for that navigation, not for "idle".
        with page.expect_navigation():
            page.select_option("#lang", "en")
        expect(page.locator("html")).to_have_attribute("lang", "en")
    problems = []
    for url in pages_of(page, role, english=english, cases=city.cases):
        page.goto(f"{live_server.url}{url}")
        assert page.locator("html").get_attribute("lang") == ("en" if english else "zh-hans")
        for text in interface_text(page, data):
            if english and CJK.search(text):
                problems.append(f"{role} {url}: {text[:120]}")
            if not english:
                words = set(ENGLISH_WORD.findall(text)) - SAME_IN_BOTH
                if words:
                    problems.append(f"{role} {url}: {sorted(words)} in {text[:120]}")
    page.context.close()
    return problems


@pytest.mark.parametrize("role", ROLES)
def test_it_shows_every_page_in_english_when_english_is_chosen(browser, live_server, city, role):
    problems = walk(browser, live_server, city, role, english=True)
    assert not problems, "Chinese interface text in English:\n" + "\n".join(problems)


@pytest.mark.parametrize("role", ROLES)
def test_it_shows_every_page_in_chinese_by_default(browser, live_server, city, role):
    problems = walk(browser, live_server, city, role, english=False)
    assert not problems, "English interface text in Chinese:\n" + "\n".join(problems)
