"""Every page answers its audience and refuses the others; the supervisor sees the day's
track and the stale cells; the attendance sheet counts a day on duty; the public page needs no
login and shows no reporter."""

from datetime import date, timedelta

import pytest
import time_machine
from django.utils import timezone

from gridcity.people.actions import PointIn, do_end_patrol, do_record_points, do_start_patrol
from gridcity.people.models import Commendation, ManagerProfile, StationActivity, TrainingSession
from gridcity.people.tests.test_patrol_api import ROUTE

STAFF_PAGES = [
    "/people/patrols/",
    "/people/patrols/map.json",
    "/people/attendance/",
    "/people/team/",
    "/people/annual/",
]


def patrol(city, minutes=75):
    user = city.people["inspector"]
    t0 = timezone.now() - timedelta(minutes=minutes)
    do_start_patrol(key="k", started_at=t0, acting_user=user)
    pts = [PointIn(i, t0 + timedelta(minutes=i), lon, lat, 5) for i, (lon, lat) in enumerate(ROUTE)]
    do_record_points("k", pts, acting_user=user)
    return do_end_patrol("k", acting_user=user)[0]


@pytest.mark.parametrize("url", STAFF_PAGES)
def test_supervisor_pages_answer_the_shift_lead_and_refuse_a_grid_manager(client, city, url):
    client.force_login(city.people["shift_lead"])
    assert client.get(url).status_code == 200
    client.force_login(city.people["inspector"])
    assert client.get(url).status_code == 403


@time_machine.travel("2026-05-20 10:00 +0800", tick=False)
def test_the_patrol_board_shows_the_days_track_and_stale_cells(client, city):
    patrol(city)
    client.force_login(city.people["shift_lead"])
    html = client.get("/people/patrols/?beat=B001&days=3").content.decode()
    assert "网格员小赵" in html
    assert "<strong>42</strong> / 48" in html  # six of the 48 cells walked today


@time_machine.travel("2026-05-20 10:00 +0800", tick=False)
def test_the_attendance_sheet_counts_a_day_on_duty(client, city):
    patrol(city, minutes=75)
    client.force_login(city.people["shift_lead"])
    r = client.get("/people/attendance/?month=2026-05")
    row = next(x for x in r.context["rows"] if x["user"].username == "inspector")
    assert row["on_duty"] == 1
    assert row["days"][19]["status"] == "on_duty"


def test_the_patrol_page_is_for_grid_managers(client, city):
    client.force_login(city.people["inspector"])
    html = client.get("/people/patrol/").content.decode()
    assert "开始巡查" in html and "湖滨街道责任网格" in html
    client.force_login(city.people["sanitation"])
    assert client.get("/people/patrol/").status_code == 403


def test_a_grid_managers_page_lists_training_and_commendations(client, city):
    u = city.people["inspector"]
    ManagerProfile.objects.create(user=u, hire_date=date(2024, 3, 1), phone="13800000000")
    TrainingSession.objects.create(
        title="部件普查规范培训", held_on=date(2026, 3, 5)
    ).attendees.add(u)
    Commendation.objects.create(
        user=u, title="月度优秀网格员", awarded_on=date(2026, 4, 1), reason="上报有效案件 120 件"
    )
    client.force_login(city.people["shift_lead"])
    html = client.get("/people/team/inspector/").content.decode()
    for text in ("部件普查规范培训", "月度优秀网格员", "上报有效案件 120 件", "13800000000"):
        assert text in html
    client.force_login(city.people["inspector2"])
    assert client.get("/people/team/inspector/").status_code == 404


def test_the_public_page_needs_no_login(client, city):
    StationActivity.objects.create(
        station="湖滨街道新时代文明实践站",
        kind="lecture",
        theme="垃圾分类进社区",
        held_at=timezone.now() + timedelta(days=3),
        place="湖滨社区文化家园",
    )
    html = client.get("/people/public/").content.decode()
    assert "垃圾分类进社区" in html and "本月结案" in html
    assert "公众页面" not in html  # no staff navigation


def test_the_communities_page_lists_rules(client, city):
    from gridcity.people.models import CivilisedFamily, VillageRule

    VillageRule.objects.create(community=city.communities[0], text="门前三包，垃圾不落地")
    CivilisedFamily.objects.create(community=city.communities[0], year=2026, family="王建国家庭")
    client.force_login(city.people["leader"])
    html = client.get("/people/communities/").content.decode()
    assert "门前三包" in html and "王建国家庭" in html


def test_a_showcase_shows_public_copies_and_never_the_reporter(client, city):
    from gridcity.cases.actions import ReportInput, do_report_case
    from gridcity.cases.models import Case, Channel, Status
    from gridcity.lib.errors import InvalidInput
    from gridcity.people.actions import do_create_showcase
    from gridcity.people.models import Showcase
    from gridcity.taxonomy.actions import resolve_category
    from gridcity.testing import MID_LAT, WEST, tiny_jpeg

    result = do_report_case(
        ReportInput(
            category=resolve_category("matter:06042"),
            channel=Channel.CITIZEN,
            lon=WEST + 0.001,
            lat=MID_LAT + 0.001,
            description="垃圾箱满溢",
            reporter_name="张三丰",
            reporter_phone="13912345678",
            photos=[("before.jpg", tiny_jpeg(gps=(MID_LAT, WEST)))],
        ),
        acting_user=None,
    )
    case = result.case
    before = case.attachments.get()
    with pytest.raises(InvalidInput, match="已结案"):
        do_create_showcase(
            case=case, before=before, after=before, caption="x", acting_user=city.people["admin"]
        )
    Case.objects.filter(pk=case.pk).update(status=Status.CLOSED, closed_at=timezone.now())
    case.refresh_from_db()
    do_create_showcase(
        case=case,
        before=before,
        after=before,
        caption="菜场垃圾箱及时清运",
        acting_user=city.people["admin"],
    )
    assert Showcase.objects.get().chosen_by == city.people["admin"]
    html = client.get("/people/public/").content.decode()
    assert "菜场垃圾箱及时清运" in html
    assert before.public_file.url in html and before.file.url not in html
    assert "张三丰" not in html and "13912345678" not in html
