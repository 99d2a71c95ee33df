"""The 待定位 queue tells apart a report with no position, a point at (0,0), a point outside the
city and a real point in the city that just needs placing by hand."""

import re

import pytest
from django.urls import reverse
from django.utils import translation

from gridcity.cases.actions import ReportInput, do_report_case
from gridcity.cases.models import Case, Channel, Status
from gridcity.grids.actions import bump_layer_version
from gridcity.grids.models import Area
from gridcity.taxonomy.actions import resolve_category
from gridcity.testing import MID_LAT, build_city

RIVER = (120.1630, MID_LAT + 0.0012)  # a point in the city whose cell is taken away below


@pytest.fixture
def city(db):
    return build_city()


def hotline_call(city, i: int, *, at=None) -> Case:
    lon, lat = at if at is not None else (None, None)
    return do_report_case(
        ReportInput(
            category=resolve_category("06042"),
            channel=Channel.HOTLINE,
            lon=lon,
            lat=lat,
            address=f"湖滨路{i}号",
            description=f"垃圾桶满了 {i}",
        ),
        acting_user=city.people["intake"],
    ).case


def badges(body: str) -> dict[str, tuple[str, str]]:
    """Case number -> (data-position, badge text) for each item of the queue."""
    found = {}
    for item in re.findall(r'<article class="card triage-item".*?</article>', body, re.S):
        number = re.search(r'id="triage-(\w+)"', item).group(1)
        position, text = re.search(r'data-position="([\w-]+)">([^<]+)<', item).groups()
        found[number] = (position, text.strip())
    return found


@pytest.mark.django_db
def test_the_queue_shows_why_each_case_waits(client, city):
    cell = city.cell(*RIVER)
    Area.objects.filter(pk=cell.pk).update(is_active=False)
    bump_layer_version()
    no_point = hotline_call(city, 1)
    zero = hotline_call(city, 2, at=(0, 0))
    outside = hotline_call(city, 3, at=(-71.06, 42.36))
    river = hotline_call(city, 4, at=RIVER)
    assert {c.status for c in (no_point, zero, outside, river)} == {Status.UNLOCATED}

    client.force_login(city.people["intake"])
    body = client.get(reverse("web:triage")).content.decode()
    assert badges(body) == {
        no_point.number: ("missing", "无位置"),
        zero.number: ("zero", "坐标为(0,0)"),
        outside.number: ("outside", "不在辖区内"),
        river.number: ("no-cell", "不在网格内"),
    }
    assert "0.00000, 0.00000 不是有效位置" in body


@pytest.mark.django_db
def test_the_labels_are_translated(client, city):
    zero = hotline_call(city, 2, at=(0, 0))
    no_point = hotline_call(city, 1)
    client.force_login(city.people["intake"])
    with translation.override("en"):
        body = client.get(reverse("web:triage"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
        expected = {zero.number: ("zero", translation.gettext("坐标为(0,0)"))}
    shown = badges(body)
    assert shown[no_point.number] == ("missing", "No location")
    assert shown[zero.number] == expected[zero.number]
    assert shown[zero.number][1].isascii()


@pytest.mark.django_db
def test_the_case_page_names_the_problem_and_draws_no_point(client, city):
    zero = hotline_call(city, 2, at=(0, 0))
    client.force_login(city.people["intake"])
    body = client.get(reverse("web:case_detail", args=[zero.number])).content.decode()
    assert 'data-position="zero">坐标为(0,0)<' in body
    assert '"point": null' in body
    placed = hotline_call(city, 3, at=(120.1630, MID_LAT + 0.0012))
    body = client.get(reverse("web:case_detail", args=[placed.number])).content.decode()
    assert '"point": [' in body and "data-position" not in body
