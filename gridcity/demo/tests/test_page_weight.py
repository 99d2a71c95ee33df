"""Every page of every role stays light on a lived-in demo city: at most 300 KB of HTML and
300 ms of server time, the case page and the other pages the lists link to included.

The city is the demo's own, smaller than `gridcity demo` (400 cases over a month, 3,500 cells of
200 m instead of 2,500 cases over six months and 10,000 cells of 100 m) so that it builds in a
test, seen two days after it was built with the deadline sweep run: every late case has its
supervision orders, up to the third level. `python -m bench pages` weighs the full demo.

Server time is measured around the test client's call, the best of three fetches of each page
(a shared CI machine's other work only ever adds to it); a page over the limit is fetched five
more times. On a busy machine (other tests on both cores) even the best wall time counts the
time the test waited for a core: a page is slow when its wall time and its own work (the
thread's CPU time, plus the wall time of its queries on PostgreSQL; the same figure on an idle
machine) are both over the limit."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings as django_settings
from django.db import transaction
from django.test import Client, override_settings

from gridcity.accounts.models import User
from gridcity.cases.actions import sweep_deadlines
from gridcity.demo.builder import DemoOptions, build_demo
from gridcity.demo.pagewalk import heaviest, slowest, table, walk, weigh

NOW = datetime(2026, 11, 25, 15, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
LATER = NOW + timedelta(days=2)
MAX_BYTES = 300 * 1024
MAX_SECONDS = 0.3

# One person of each role; for the department desks the busiest department and a street office.
PEOPLE = [
    "admin",
    "leader",
    "intake",
    "shiftlead",
    "dispatcher",
    "sanitation",
    "sanitation_lead",
    "hubin",
    "inspector1",
]


@pytest.fixture(scope="module")
def lived_in_city(django_db_setup, django_db_blocker):
    md5 = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    with django_db_blocker.unblock(), override_settings(PASSWORD_HASHERS=md5), transaction.atomic():
        build_demo(DemoOptions(seed=1, months=1, cases=400, cell_size_m=200, now=NOW))
        with time_machine.travel(LATER, tick=False):
            sweep_deadlines()
        # The photos were written where the media root was while the city was built.
        yield django_settings.MEDIA_ROOT
        transaction.set_rollback(True)


@pytest.mark.django_db
def test_every_page_of_every_role_is_light(lived_in_city, settings):
    settings.MEDIA_ROOT = lived_in_city
    figures = []
    with time_machine.travel(LATER, tick=False):
        for username in PEOPLE:
            client = Client()
            figures += walk(User.objects.get(username=username), runs=3, client=client)
            for f in figures:
                if f.username == username and f.seconds > MAX_SECONDS:
                    _response, times, works = weigh(client, f.url, partial=f.partial, runs=5)
                    f.add(times, works)

    walked = {(f.username, f.name) for f in figures}
    # The walk reached the pages this limit is about, and the pages they link to.
    for expected in [
        ("shiftlead", "people:patrol_board"),
        ("dispatcher", "web:overdue_board"),
        ("dispatcher", "web:case_detail"),
        ("sanitation", "web:desk"),
        ("sanitation", "web:case_detail"),
        ("inspector1", "web:field_home"),
        ("leader", "web:dashboard"),
    ]:
        assert expected in walked, expected
    assert len(figures) > 150, len(figures)
    broken = [f for f in figures if f.status != 200]
    assert not broken, "pages that did not open:\n" + table(broken)

    heavy = [f for f in figures if f.bytes > MAX_BYTES]
    slow = [f for f in figures if min(f.seconds, f.work_seconds) > MAX_SECONDS]
    print("\nheaviest pages:\n" + table(heaviest(figures, 8)))
    print("slowest pages:\n" + table(slowest(figures, 8, work=True)))
    assert not heavy, "pages over 300 KB of HTML:\n" + table(heaviest(heavy, 20))
    assert not slow, "pages over 300 ms of server time (best of 8):\n" + table(
        slowest(slow, 20, work=True)
    )
