"""Long lists a page at a time, what matters first: the department desk shows the cases due
soonest and the orders to answer soonest, the overdue board the most overdue case; the counts
cover every case, whichever page or filter is shown."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from gridcity.cases.actions import do_create_supervision
from gridcity.cases.models import Case, Status, SupervisionOrder
from gridcity.web.office import BOARD_PAGE, DESK_ORDERS_PAGE, DESK_PAGE
from gridcity.web.tests.test_office_pages import login, move, report


@pytest.fixture
def city(db):
    from gridcity.testing import build_city

    return build_city()


def numbers_in(html: str, attr: str = "data-case") -> list[str]:
    return re.findall(rf'{attr}="([^"]+)"', html)


def figure(html: str, name: str) -> int:
    return int(re.search(rf'data-fig="{name}">(\d+)<', html).group(1))


def deadlines(cases: list[Case], hours: list[float]) -> None:
    """Give each case a deadline `hours` from now (negative: already passed)."""
    now = timezone.now()
    for case, h in zip(cases, hours, strict=True):
        Case.objects.filter(pk=case.pk).update(
            step_started_at=now - timedelta(days=3), step_deadline=now + timedelta(hours=h)
        )


@pytest.mark.django_db
def test_the_desk_shows_the_cases_due_soonest_first_a_page_at_a_time(client, city):
    n = DESK_PAGE + 5
    cases = [report(city, i) for i in range(n)]
    assert all(c.status == Status.DISPATCHED for c in cases)
    move(cases[0], "sign", city.people["sanitation"])
    # Deadlines in shuffled order; three have passed.
    hours = [((i * 7) % n) - 3 + 0.5 for i in range(n)]
    deadlines(cases, hours)
    by_deadline = [c.number for _h, c in sorted(zip(hours, cases, strict=True))]
    late = [c.number for h, c in sorted(zip(hours, cases, strict=True)) if h < 0]
    assert len(late) == 3

    login(client, city, "sanitation")
    first = client.get(reverse("web:desk")).content.decode()
    assert numbers_in(first) == by_deadline[:DESK_PAGE]
    assert figure(first, "all") == n and figure(first, "late") == 3
    assert figure(first, "new") == n - 1 and figure(first, "handling") == 1
    assert 'rel="next"' in first and "?page=2" in first

    second = client.get(reverse("web:desk") + "?page=2").content.decode()
    assert numbers_in(second) == by_deadline[DESK_PAGE:]
    assert figure(second, "all") == n and figure(second, "late") == 3

    only_late = client.get(reverse("web:desk") + "?show=late").content.decode()
    assert numbers_in(only_late) == late
    assert figure(only_late, "all") == n  # the tiles still count every case
    handling = client.get(reverse("web:desk") + "?show=handling").content.decode()
    assert numbers_in(handling) == [cases[0].number]
    # A move made from page 2 comes back to page 2.
    assert 'name="next" value="/desk/?page=2"' in second


@pytest.mark.django_db
def test_the_desk_lists_the_orders_to_answer_soonest_first_ten_at_a_time(client, city):
    n = DESK_ORDERS_PAGE + 2
    cases = [report(city, i) for i in range(n)]
    leader = city.people["leader"]
    orders = [
        do_create_supervision(c, acting_user=leader, note=f"请加快 {i}")
        for i, c in enumerate(cases)
    ]
    # The earliest order has the latest reply deadline: the list follows the deadline.
    for i, o in enumerate(orders):
        SupervisionOrder.objects.filter(pk=o.pk).update(
            reply_deadline=timezone.now() + timedelta(hours=n - i)
        )
    login(client, city, "sanitation")
    first = client.get(reverse("web:desk")).content.decode()
    shown = numbers_in(first, "data-order")
    assert shown == [o.number for o in reversed(orders)][:DESK_ORDERS_PAGE]
    assert figure(first, "orders") == n
    assert 'href="?orders=2#orders"' in first
    second = client.get(reverse("web:desk") + "?orders=2").content.decode()
    assert (
        numbers_in(second, "data-order") == [o.number for o in reversed(orders)][DESK_ORDERS_PAGE:]
    )
    # The cases' list is not moved by the orders' pages.
    assert numbers_in(second) == numbers_in(first)


@pytest.mark.django_db
def test_the_overdue_board_shows_the_most_overdue_first_a_page_at_a_time(client, city):
    n = BOARD_PAGE + 3
    cases = [report(city, i) for i in range(n + 2)]
    # n cases late by 1 … n hours in shuffled order, two still in time.
    hours = [-(((i * 11) % n) + 1) for i in range(n)] + [30, 40]
    deadlines(cases, hours)
    most_overdue_first = [c.number for h, c in sorted(zip(hours, cases, strict=True)) if h < 0]

    login(client, city, "dispatcher")
    first = client.get(reverse("web:overdue_board")).content.decode()
    rows = re.findall(r'href="/cases/(\d+)/"', first)
    assert rows == most_overdue_first[:BOARD_PAGE]
    assert figure(first, "late") == n
    second = client.get(reverse("web:overdue_board") + "?show=late&page=2").content.decode()
    assert re.findall(r'href="/cases/(\d+)/"', second) == most_overdue_first[BOARD_PAGE:]
    assert figure(second, "late") == n
    # The half-minute refresh keeps the page it is on.
    assert 'hx-get="/centre/overdue/?show=late&amp;page=2"' in second
    partial = client.get(
        reverse("web:overdue_board") + "?show=late&page=2", HTTP_HX_REQUEST="true"
    ).content.decode()
    assert re.findall(r'href="/cases/(\d+)/"', partial) == most_overdue_first[BOARD_PAGE:]
