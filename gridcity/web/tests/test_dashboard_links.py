"""The leader's dashboard leads somewhere: each figure opens a plain list of the cases behind it
(the case map's filter, paginated, each row a link to the case), and an administrator finds the
admin site from the top bar."""

from datetime import timedelta

import pytest
from django.utils import timezone

from gridcity.accounts.models import Role
from gridcity.cases.actions import ReportInput, TransitionInput, do_report_case, do_transition_case
from gridcity.cases.models import Channel
from gridcity.taxonomy.actions import resolve_category
from gridcity.testing import MID_LAT, build_city, make_person, tiny_jpeg
from gridcity.web import dashboard
from gridcity.web.dashboard import figures

BIN = (120.163, MID_LAT + 0.001)  # in the west street, the inspector's beat


@pytest.fixture
def city(db):
    return build_city()


def report(city, *, lon=BIN[0], lat=BIN[1], now=None):
    inp = ReportInput(
        category=resolve_category("06042"),
        channel=Channel.INSPECTOR,
        lon=lon,
        lat=lat,
        description="垃圾桶满了",
    )
    return do_report_case(inp, acting_user=city.people["inspector"], now=now).case


def walk_to_closed(city, case):
    people = city.people
    photos = [("after.jpg", tiny_jpeg((10, 200, 10)))]
    for action, who, data in (
        ("sign", "sanitation", None),
        ("report_back", "sanitation", TransitionInput(note="已清运", photos=photos)),
        ("check_pass", "inspector", None),
        ("close", "shift_lead", None),
    ):
        do_transition_case(case, action, acting_user=people[who], data=data)
    return case


def get(client, user, url: str, status: int = 200) -> str:
    client.force_login(user)
    resp = client.get(url)
    assert resp.status_code == status, (url, resp.status_code)
    return resp.content.decode()


def listed(body: str) -> list[str]:
    """The case numbers the list links to, in order."""
    return [part.split('/"')[0] for part in body.split('<a href="/cases/')[1:]]


def test_administrators_see_a_link_to_the_admin_site(client, city):
    people = city.people
    assert 'href="/admin/"' in get(client, people["admin"], "/dashboard/")  # a superuser
    clerk = make_person("sysadmin", Role.ADMIN, city.departments["CGZF"], is_staff=True)
    body = get(client, clerk, "/dashboard/")
    assert 'href="/admin/"' in body and "系统管理" in body
    assert 'href="/admin/"' not in get(client, people["leader"], "/dashboard/")
    assert 'href="/admin/"' not in get(client, people["dispatcher"], "/centre/command/")


def test_each_figure_opens_the_list_of_its_cases(client, city):
    leader = city.people["leader"]
    closed = walk_to_closed(city, report(city))
    still_open = report(city, lon=BIN[0] + 0.003)
    long_ago = report(
        city,
        lon=BIN[0] + 0.006,
        lat=MID_LAT - 0.002,
        now=timezone.now() - timedelta(days=40),
    )
    f = figures(leader)
    today = {x.label: x for x in f["today"]}
    body = get(client, leader, "/dashboard/")
    for x in (*f["today"], *f["month"], *f["now"]):
        assert x.list_url.startswith("/dashboard/cases/?")
        assert x.list_url.replace("&", "&amp;") in body

    reported = get(client, leader, today["上报"].list_url)
    assert today["上报"].value == 2 and "共 2 件" in reported
    assert sorted(listed(reported)) == sorted([closed.number, still_open.number])
    assert long_ago.number not in reported
    assert listed(get(client, leader, today["结案"].list_url)) == [closed.number]
    in_progress = {x.label: x for x in f["now"]}["在办案件"]
    assert sorted(listed(get(client, leader, in_progress.list_url))) == sorted(
        [still_open.number, long_ago.number]
    )
    # The top problems list the same way.
    top = f["top_categories"][0]
    assert top["n"] == 2 and len(listed(get(client, leader, top["list_url"]))) == 2
    # Every row opens the case.
    assert get(client, leader, f"/cases/{closed.number}/")


def test_the_case_list_pages_and_refuses_what_it_cannot_read(client, city, monkeypatch):
    leader = city.people["leader"]
    first = report(city)
    second = report(city, lon=BIN[0] + 0.003)
    monkeypatch.setattr(dashboard, "CASE_LIST_PAGE", 1)
    url = "/dashboard/cases/?status=all"
    page1, page2 = get(client, leader, url), get(client, leader, url + "&page=2")
    assert "第 1 / 2 页" in page1 and "status=all&amp;page=2" in page1
    assert listed(page1) + listed(page2) == [second.number, first.number]  # newest first

    body = get(client, leader, "/dashboard/cases/?reported_from=9月1日", status=400)
    assert "筛选条件无效" in body and "上报起始日期" in body
    get(client, city.people["inspector"], url, status=403)
