"""Every page of the team and pairing work in both languages: with English chosen no Chinese is
left outside the data, in Chinese (the default) no English creeps in; the patrol page's script
takes its words from the JavaScript catalogue."""

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone

from gridcity.campaigns.tests.language import (
    chinese_left,
    compile_catalogues,
    english_client,
    english_left,
    headings,
    stored_values,
)
from gridcity.people.actions import (
    PointIn,
    ProblemIn,
    VisitIn,
    do_answer_survey,
    do_assess_pairing,
    do_create_pairing,
    do_create_score_sheet,
    do_create_survey,
    do_create_training,
    do_end_patrol,
    do_record_activity,
    do_record_attendance,
    do_record_commendation,
    do_record_points,
    do_record_visit,
    do_set_village_rule,
    do_start_patrol,
)
from gridcity.people.models import ManagerProfile
from gridcity.people.tests.test_patrol_api import ROUTE

NOW = "2026-05-20 10:00 +0800"
TZ = ZoneInfo("Asia/Shanghai")

compile_catalogues()


@pytest.fixture(autouse=True)
def _fresh_catalogues(settings):
    # Setting LOCALE_PATHS again empties Django's per-process catalogue cache, which another
    # test may have filled before the .mo files existed.
    settings.LOCALE_PATHS = list(settings.LOCALE_PATHS)


@pytest.fixture
def world(city):
    """A day's patrol, a pairing with a visit, a ledger problem and an assessment, a survey with
    an answer, an activity, a training with attendance, a commendation and a village rule."""
    leader, admin, organiser = (
        city.people["leader"],
        city.people["admin"],
        city.people["shift_lead"],
    )
    zhao = city.people["inspector"]
    t0 = timezone.now() - timedelta(minutes=75)
    do_start_patrol(key="k", started_at=t0, acting_user=zhao)
    points = [
        PointIn(i, t0 + timedelta(minutes=i), lon, lat, 5) for i, (lon, lat) in enumerate(ROUTE)
    ]
    do_record_points("k", points, acting_user=zhao)
    do_end_patrol("k", acting_user=zhao)
    ManagerProfile.objects.create(user=zhao, hire_date=date(2024, 3, 1), phone="13800000000")
    pairing = do_create_pairing(
        leader=leader,
        community=city.communities[0],
        starts_on=date(2026, 1, 1),
        tasks="帮助解决环境卫生问题",
        acting_user=leader,
    )
    do_record_visit(
        pairing,
        VisitIn(
            visited_on=date(2026, 5, 18),
            people="王书记、李主任",
            findings="巷口堆放建筑垃圾",
            problems=[ProblemIn(description="巷口建筑垃圾未清运", route="ledger")],
        ),
        acting_user=leader,
    )
    sheet = do_create_score_sheet(
        name="包村居季度考核表", items=[("走访频次", 30), ("问题解决", 70)], acting_user=admin
    )
    do_assess_pairing(
        pairing,
        sheet=sheet,
        year=2026,
        quarter=1,
        scores={"走访频次": 25, "问题解决": 60},
        acting_user=admin,
    )
    survey = do_create_survey(title="村规民约知晓率调查", acting_user=organiser)
    do_answer_survey(
        survey,
        community_code=city.communities[0].code,
        answers={"awareness": 5, "participation": 4, "support": 2},
    )
    activity = do_record_activity(
        station="湖滨街道新时代文明实践站",
        kind="lecture",
        theme="垃圾分类进社区",
        held_at=datetime(2026, 5, 10, 9, tzinfo=TZ),
        place="湖滨社区文化家园",
        attendance=40,
        acting_user=organiser,
    )
    training = do_create_training(
        title="部件普查规范培训",
        held_on=date(2026, 5, 12),
        qualification="网格员上岗资格",
        qualification_years=3,
        acting_user=organiser,
    )
    do_record_attendance(training, attendees=[zhao], acting_user=organiser)
    do_record_commendation(
        user=zhao,
        title="月度优秀网格员",
        awarded_on=date(2026, 4, 1),
        reason="上报有效案件 120 件",
        amount=Decimal(200),
        acting_user=organiser,
    )
    do_set_village_rule(community=city.communities[0], text="门前三包", acting_user=organiser)
    return {
        "pairing": pairing,
        "sheet": sheet,
        "survey": survey,
        "activity": activity,
        "training": training,
    }


def pages(w) -> list[tuple[str | None, str]]:
    """(who, url) for every page of the app, each as a role that works with it."""
    p = w["pairing"].pk
    return [
        ("inspector", "/people/patrol/"),
        ("shift_lead", "/people/patrols/?days=3"),
        ("shift_lead", "/people/attendance/?month=2026-05"),
        ("shift_lead", "/people/team/"),
        ("shift_lead", "/people/team/inspector/?month=2026-05"),
        ("leader", "/people/pairings/"),
        ("leader", "/people/pairings/new/"),
        ("leader", f"/people/pairings/{p}/"),
        ("leader", f"/people/pairings/{p}/visit/"),
        ("admin", f"/people/pairings/{p}/"),
        ("admin", "/people/annual/?year=2026"),
        ("admin", "/people/sheets/"),
        ("admin", f"/people/sheets/{w['sheet'].pk}/"),
        ("shift_lead", "/people/training/"),
        ("shift_lead", f"/people/training/{w['training'].pk}/"),
        ("shift_lead", "/people/activities/"),
        ("shift_lead", f"/people/activities/{w['activity'].pk}/"),
        ("leader", "/people/communities/"),
        ("leader", "/people/surveys/"),
        ("leader", f"/people/surveys/{w['survey'].pk}/results/"),
        (None, f"/people/surveys/{w['survey'].pk}/"),
        (None, "/people/public/"),
    ]


def get(client, city, who, url):
    if who is None:
        language = client.cookies.get("django_language")
        client.logout()  # which forgets the cookies, the language too
        if language:
            client.cookies["django_language"] = language.value
    else:
        client.force_login(city.people[who])
    r = client.get(url)
    assert r.status_code == 200, (who, url)
    return r


@time_machine.travel(NOW, tick=False)
def test_with_english_chosen_no_page_shows_chinese_outside_the_data(client, city, world):
    english_client(client)
    data = stored_values()
    for who, url in pages(world):
        r = get(client, city, who, url)
        assert r.headers["Content-Language"] == "en"
        assert chinese_left(r.content.decode(), data) == [], (who, url)


@time_machine.travel(NOW, tick=False)
def test_in_chinese_the_pages_keep_their_chinese_words(client, city, world):
    data = stored_values()
    for who, url in pages(world):
        page = get(client, city, who, url).content.decode()
        assert english_left(page, data) == set(), (who, url)
        for heading in headings(page, data):
            assert any("\u4e00" <= ch <= "\u9fff" for ch in heading), (url, heading)
    page = get(client, city, "shift_lead", "/people/attendance/?month=2026-05").content.decode()
    assert "网格员在岗考勤 · 2026年5月" in page


@time_machine.travel(NOW, tick=False)
def test_the_english_pages_read_as_english(client, city, world):
    english_client(client)
    page = get(client, city, "shift_lead", "/people/attendance/?month=2026-05").content.decode()
    assert "Grid manager attendance · May 2026" in page
    page = get(client, city, "inspector", "/people/patrol/").content.decode()
    assert "Start patrol" in page and 'lang="en"' in page
    page = get(client, city, "leader", f"/people/pairings/{world['pairing'].pk}/").content.decode()
    assert "Q1 2026: <strong>85.0</strong> points" in page or "Q1 2026: <strong>85" in page


def test_the_patrol_script_finds_its_words_in_the_javascript_catalogue(client):
    english_client(client)
    catalogue = client.get("/i18n/js/").content.decode()
    for words in ("Patrolling", "Ended, waiting to upload", "Flagged point, not counted"):
        assert words in catalogue
