"""The people app's records outside the patrol loop, driven from the working pages: pairings
set up, changed and ended by a leader; score sheets; quarterly assessments and the annual
record compiled from them; surveys; practice-station activities; training with attendance.
Each action checks who may act, refuses bad input naming the field, and leaves an audit row
that the record's page shows as 操作记录. Also: visit photos are served, the patrol board
counts every cell, team lists sort 第2 before 第10."""

import io
from datetime import date, timedelta

import pytest
import time_machine
from django.test import override_settings
from django.utils import timezone
from PIL import Image

from gridcity.accounts.models import AuditEntry, Role
from gridcity.grids.models import Area, AreaLevel, Beat
from gridcity.lib.errors import Conflict, Forbidden, InvalidInput
from gridcity.people.actions import (
    PointIn,
    VisitIn,
    do_add_civilised_family,
    do_answer_survey,
    do_assess_pairing,
    do_close_survey,
    do_compile_annual_record,
    do_create_pairing,
    do_create_score_sheet,
    do_create_survey,
    do_create_training,
    do_end_pairing,
    do_record_activity,
    do_record_attendance,
    do_record_commendation,
    do_record_points,
    do_record_visit,
    do_set_village_rule,
    do_start_patrol,
    do_update_pairing,
)
from gridcity.people.models import (
    AnnualRecord,
    ManagerProfile,
    Pairing,
    Qualification,
    ScoreSheet,
    StationActivity,
    Survey,
)
from gridcity.people.naming import natural_key
from gridcity.people.tests.test_patrol_api import ROUTE
from gridcity.testing import MID_LAT, WEST, make_person, tiny_jpeg

NOW = "2026-05-20 10:00 +0800"
SHEET = [("走访频次", 30), ("问题解决", 40), ("群众评价", 30)]


def actions_on(obj) -> list[str]:
    return list(
        AuditEntry.objects.filter(
            object_type=obj._meta.label_lower, object_id=str(obj.pk)
        ).values_list("action", flat=True)
    )[::-1]


def pair(city, **extra) -> Pairing:
    return do_create_pairing(
        leader=city.people["leader"],
        community=city.communities[0],
        starts_on=date(2026, 1, 1),
        tasks="帮助解决环境卫生问题",
        acting_user=city.people["leader"],
        **extra,
    )


def sheet(city, items=SHEET, name="包村居季度考核表") -> ScoreSheet:
    return do_create_score_sheet(name=name, items=items, acting_user=city.people["admin"])


def has_exif(data: bytes) -> bool:
    with Image.open(io.BytesIO(data)) as img:
        return bool(img.getexif()) or "exif" in img.info


# ---------------------------------------------------------------------------------------------
# Pairings


@time_machine.travel(NOW, tick=False)
def test_it_creates_changes_and_ends_a_pairing_with_an_audit_row_for_each(city):
    leader = city.people["leader"]
    p = pair(city, visits_per_month=2)
    p = do_update_pairing(
        p,
        tasks="帮助解决环境卫生问题\n每季度召开一次议事会",
        requirements="每月至少走访两次",
        visits_per_month=2,
        ends_on=date(2026, 12, 31),
        acting_user=leader,
    )
    assert p.task_list() == ["帮助解决环境卫生问题", "每季度召开一次议事会"]
    do_record_visit(p, VisitIn(date(2026, 5, 10), "陈主任"), acting_user=leader)
    with pytest.raises(InvalidInput) as exc:
        do_end_pairing(p, ends_on=date(2026, 5, 1), reason="换届", acting_user=leader)
    assert exc.value.field == "ends_on"  # a visit on 05-10 lies after that day
    p = do_end_pairing(p, ends_on=date(2026, 5, 15), reason="换届调整", acting_user=leader)
    assert p.ends_on == date(2026, 5, 15)
    assert actions_on(p) == ["create_pairing", "update_pairing", "record_visit", "end_pairing"]
    with pytest.raises(InvalidInput, match="包联期限"):
        do_record_visit(p, VisitIn(date(2026, 5, 18), "陈主任"), acting_user=leader)
    with pytest.raises(Conflict):
        do_end_pairing(p, reason="再次结束", acting_user=leader)


@pytest.mark.parametrize("who", ["dispatcher", "shift_lead", "sanitation_lead", "inspector"])
def test_only_a_leader_or_an_admin_sets_up_a_pairing(city, who):
    with pytest.raises(Forbidden):
        do_create_pairing(
            department=city.departments["HJWS"],
            community=city.communities[1],
            starts_on=date(2026, 1, 1),
            acting_user=city.people[who],
        )
    assert not Pairing.objects.exists() and not AuditEntry.objects.exists()


def test_bad_pairing_input_names_the_field(city):
    admin = city.people["admin"]
    base = {"community": city.communities[0], "starts_on": date(2026, 1, 1), "acting_user": admin}
    cases = [
        ({"leader": city.people["leader"], "department": city.departments["HJWS"]}, "leader"),
        ({}, "leader"),
        ({"leader": city.people["leader"], "ends_on": date(2025, 12, 1)}, "ends_on"),
        ({"leader": city.people["leader"], "visits_per_month": 0}, "visits_per_month"),
        ({"leader": city.people["leader"], "community": city.streets[0]}, "community"),
    ]
    for extra, field in cases:
        with pytest.raises(InvalidInput) as exc:
            do_create_pairing(**{**base, **extra})
        assert exc.value.field == field, extra
    pair(city)
    with pytest.raises(Conflict, match="已有结对"):
        do_create_pairing(**base, leader=city.people["leader"])
    assert Pairing.objects.count() == 1


@time_machine.travel(NOW, tick=False)
def test_the_pairing_pages_create_one_refuse_bad_input_and_show_the_history(client, city):
    client.force_login(city.people["dispatcher"])
    assert client.get("/people/pairings/new/").status_code == 403
    client.force_login(city.people["leader"])
    form = {
        "department": city.departments["HJWS"].pk,
        "community": city.communities[1].pk,
        "starts_on": "2026-03-01",
        "ends_on": "2026-02-01",
        "visits_per_month": "1",
        "tasks": "垃圾分类督导",
    }
    r = client.post("/people/pairings/new/", form)
    assert r.status_code == 200 and not Pairing.objects.exists()
    assert "结束日期：结束日期不能早于开始日期" in r.content.decode()
    r = client.post("/people/pairings/new/", {**form, "ends_on": ""})
    p = Pairing.objects.get()
    assert r.status_code == 302 and r["Location"] == f"/people/pairings/{p.pk}/"
    r = client.post(
        f"/people/pairings/{p.pk}/",
        {"form": "update", "u-visits_per_month": "40", "u-tasks": "x"},
    )
    assert r.status_code == 422
    assert "每月应走访次数应在 1–31 之间" in r.content.decode()
    r = client.post(
        f"/people/pairings/{p.pk}/",
        {"form": "end", "e-ends_on": "2026-05-20", "e-reason": "机构调整"},
    )
    assert r.status_code == 302
    html = client.get(f"/people/pairings/{p.pk}/").content.decode()
    assert "操作记录" in html and "结束结对（2026-05-20）：机构调整" in html
    assert "建立结对：环境卫生科室" in html


# ---------------------------------------------------------------------------------------------
# Score sheets, quarterly assessments and the annual record


def test_a_score_sheet_needs_named_items_with_positive_marks(city):
    for items, match in [
        ([], "至少"),
        ([("走访", 30), ("走访", 20)], "重复"),
        ([("走访", 0)], "大于 0"),
        ([("走访", "三十")], "数字"),
    ]:
        with pytest.raises(InvalidInput, match=match) as exc:
            sheet(city, items=items)
        assert exc.value.field == "items"
    with pytest.raises(Forbidden):
        do_create_score_sheet(name="x", items=SHEET, acting_user=city.people["shift_lead"])
    s = sheet(city)
    assert s.full_marks == 100 and actions_on(s) == ["create_score_sheet"]


def test_the_sheet_page_makes_a_sheet_from_lines(client, city):
    client.force_login(city.people["leader"])
    r = client.post("/people/sheets/", {"name": "年度考核表", "items": "走访频次 30\n问题解决"})
    assert r.status_code == 422 and "第 2 行应为“名称 满分”" in r.content.decode()
    r = client.post("/people/sheets/", {"name": "年度考核表", "items": "走访 频次 30\n问题解决 70"})
    s = ScoreSheet.objects.get()
    assert r.status_code == 302 and s.items == [
        {"name": "走访 频次", "max": 30},
        {"name": "问题解决", "max": 70},
    ]
    html = client.get(f"/people/sheets/{s.pk}/").content.decode()
    assert "制定评分表「年度考核表」：2 项，满分 100" in html
    client.force_login(city.people["shift_lead"])
    assert client.post("/people/sheets/", {"name": "y", "items": "a 1"}).status_code == 403


@time_machine.travel(NOW, tick=False)
def test_an_assessment_refuses_a_future_quarter_and_a_retired_sheet(city):
    p, s = pair(city), sheet(city)
    scores = {"走访频次": 20, "问题解决": 30, "群众评价": 20}
    admin = city.people["admin"]
    with pytest.raises(InvalidInput) as exc:
        do_assess_pairing(p, sheet=s, year=2026, quarter=3, scores=scores, acting_user=admin)
    assert exc.value.field == "quarter"
    with pytest.raises(InvalidInput, match="包联期限"):
        do_assess_pairing(p, sheet=s, year=2025, quarter=4, scores=scores, acting_user=admin)
    s.is_active = False
    s.save()
    with pytest.raises(InvalidInput) as exc:
        do_assess_pairing(p, sheet=s, year=2026, quarter=1, scores=scores, acting_user=admin)
    assert exc.value.field == "sheet"


@time_machine.travel(NOW, tick=False)
def test_the_annual_record_is_the_mean_of_the_quarters_as_percentages(city):
    leader, admin = city.people["leader"], city.people["admin"]
    p = pair(city)
    of_100 = sheet(city)
    of_120 = sheet(city, items=[("走访频次", 60), ("问题解决", 60)], name="加权考核表")
    do_assess_pairing(
        p,
        sheet=of_100,
        year=2026,
        quarter=1,
        scores={"走访频次": 28, "问题解决": 36, "群众评价": 27},  # 91 %
        acting_user=admin,
    )
    record = AnnualRecord.objects.get(user=leader, year=2026)
    with pytest.raises(Forbidden):
        do_compile_annual_record(record, acting_user=city.people["shift_lead"])
    record = do_compile_annual_record(record, acting_user=admin)
    assert (record.score, record.grade, record.is_stale) == (91.0, "A", False)
    do_assess_pairing(
        p,
        sheet=of_120,
        year=2026,
        quarter=2,
        scores={"走访频次": 40, "问题解决": 32},  # 72 of 120 = 60 %
        acting_user=admin,
    )
    assert record.is_stale
    record = do_compile_annual_record(record, acting_user=leader)
    assert (record.score, record.grade, record.assessments_counted) == (75.5, "B", 2)
    assert actions_on(record) == ["compile_annual_record", "compile_annual_record"]
    assert actions_on(p).count("assess_pairing") == 2
    empty = AnnualRecord.objects.create(department=city.departments["HJWS"], year=2026)
    with pytest.raises(Conflict, match="还没有季度考核"):
        do_compile_annual_record(empty, acting_user=admin)


@time_machine.travel(NOW, tick=False)
def test_from_the_pages_a_leader_assesses_a_quarter_and_compiles_the_year(client, city):
    p = pair(city)
    s = sheet(city)
    client.force_login(city.people["admin"])
    form = {
        "form": "assess",
        "sheet": s.pk,
        "year": "2026",
        "quarter": "2",
        f"score-{s.pk}-0": "28",
        f"score-{s.pk}-1": "41",
        f"score-{s.pk}-2": "27",
        "note": "走访扎实",
    }
    r = client.post(f"/people/pairings/{p.pk}/", form)
    html = r.content.decode()
    assert r.status_code == 422 and "「问题解决」应在 0–40 分之间" in html
    assert 'value="28"' in html  # what she typed is still there
    r = client.post(f"/people/pairings/{p.pk}/", {**form, f"score-{s.pk}-1": "36"})
    assert r.status_code == 302
    record = AnnualRecord.objects.get()
    r = client.post("/people/annual/?year=2026", {"record": record.pk})
    assert r.status_code == 302
    html = client.get("/people/annual/?year=2026").content.decode()
    assert "<strong data-score>91.0</strong>" in html and "<strong data-grade>A</strong>" in html
    assert "按 1 次季度考核计算年度绩效：91 分，A" in html
    client.force_login(city.people["sanitation"])
    assert client.post("/people/annual/?year=2026", {"record": record.pk}).status_code == 404


# ---------------------------------------------------------------------------------------------
# Surveys


def test_a_survey_is_worded_answered_in_public_and_closed(client, city):
    with pytest.raises(Forbidden):
        do_create_survey(title="x", acting_user=city.people["intake"])
    with pytest.raises(InvalidInput) as exc:
        do_create_survey(title="x", positive_from=6, acting_user=city.people["leader"])
    assert exc.value.field == "positive_from"
    survey = do_create_survey(
        title="村规民约知晓率调查",
        questions={"awareness": "您是否了解本村的村规民约？"},
        acting_user=city.people["shift_lead"],
    )
    html = client.get(f"/people/surveys/{survey.pk}/").content.decode()
    assert "您是否了解本村的村规民约？" in html and "参与程度" in html
    r = client.post(
        f"/people/surveys/{survey.pk}/",
        {"community": city.communities[0].code, "awareness": "5", "participation": "4"},
    )
    assert r.status_code == 422 and "支持" in r.content.decode()
    do_answer_survey(
        survey,
        community_code=city.communities[0].code,
        answers={"awareness": 5, "participation": 4, "support": 2},
    )
    do_close_survey(survey, acting_user=city.people["leader"])
    with pytest.raises(Conflict):
        do_answer_survey(
            survey,
            community_code=city.communities[0].code,
            answers={"awareness": 5, "participation": 4, "support": 2},
        )
    assert actions_on(survey) == ["create_survey", "close_survey"]
    client.force_login(city.people["leader"])
    html = client.get(f"/people/surveys/{survey.pk}/results/").content.decode()
    assert "结束调查，共 1 份回答" in html and "100%" in html


def test_the_survey_page_creates_a_survey(client, city):
    client.force_login(city.people["leader"])
    r = client.post(
        "/people/surveys/",
        {"title": "", "scale_max": "5", "positive_from": "4"},
    )
    assert r.status_code == 422 and not Survey.objects.exists()
    r = client.post(
        "/people/surveys/",
        {"title": "2026年群众满意度调查", "scale_max": "5", "positive_from": "4"},
    )
    survey = Survey.objects.get()
    assert r.status_code == 302 and r["Location"] == f"/people/surveys/{survey.pk}/results/"
    assert set(survey.questions) == {"awareness", "participation", "support"}


# ---------------------------------------------------------------------------------------------
# Practice-station activities


def test_an_activity_photo_loses_its_gps_and_is_public(client, city):
    when = timezone.now() - timedelta(days=1)
    activity = do_record_activity(
        station="湖滨街道新时代文明实践站",
        community=city.communities[0],
        kind="volunteer",
        theme="垃圾分类志愿服务",
        held_at=when,
        place="湖滨社区广场",
        attendance=45,
        photo=("p.jpg", tiny_jpeg(gps=(MID_LAT, WEST))),
        acting_user=city.people["shift_lead"],
    )
    stored = activity.photo.read()
    assert not has_exif(stored)
    r = client.get(activity.photo.url)
    assert r.status_code == 200 and b"".join(r.streaming_content) == stored
    assert actions_on(activity) == ["record_activity"]


def test_a_street_office_records_activities_of_its_own_street_only(city):
    west_office = city.street_offices[0]
    clerk = make_person("hubin", Role.HANDLER, west_office)
    kwargs = {
        "station": "湖滨街道新时代文明实践站",
        "kind": "lecture",
        "theme": "宣讲",
        "held_at": timezone.now() + timedelta(days=2),
        "place": "文化家园",
        "acting_user": clerk,
    }
    west = [c for c in city.communities if c.code.startswith(city.streets[0].code)][0]
    east = [c for c in city.communities if c.code.startswith(city.streets[1].code)][0]
    assert do_record_activity(community=west, **kwargs).pk
    with pytest.raises(Forbidden):
        do_record_activity(community=east, **kwargs)
    with pytest.raises(Forbidden):
        do_record_activity(community=west, **{**kwargs, "acting_user": city.people["sanitation"]})
    with pytest.raises(InvalidInput) as exc:
        do_record_activity(community=west, attendance=30, **kwargs)
    assert exc.value.field == "attendance"  # not held yet
    with pytest.raises(InvalidInput) as exc:
        do_record_activity(community=west, photo=("x.jpg", b"not a photo"), **kwargs)
    assert exc.value.field == "photo[0]"
    assert StationActivity.objects.count() == 1


def test_an_activity_photo_uploaded_in_the_admin_loses_its_gps_too(client, city):
    client.force_login(city.people["admin"])
    photo = io.BytesIO(tiny_jpeg(gps=(MID_LAT, WEST)))
    photo.name = "activity.jpg"
    r = client.post(
        "/admin/people/stationactivity/add/",
        {
            "station": "清波街道新时代文明实践站",
            "kind": "exhibition",
            "theme": "城市治理成果展",
            "held_at_0": "2026-04-01",
            "held_at_1": "09:00:00",
            "place": "清波文化站",
            "photo": photo,
        },
    )
    assert r.status_code == 302, r.content.decode()[:3000]
    activity = StationActivity.objects.get()
    assert not has_exif(activity.photo.read())
    assert actions_on(activity) == ["record_activity"]


def test_the_activity_page_records_one_with_a_photo(client, city):
    client.force_login(city.people["shift_lead"])
    photo = io.BytesIO(tiny_jpeg(gps=(MID_LAT, WEST)))
    photo.name = "a.jpg"
    form = {
        "station": "湖滨街道新时代文明实践站",
        "kind": "performance",
        "theme": "",
        "held_at": "2026-04-02T19:00",
        "place": "湖滨社区广场",
        "attendance": "120",
    }
    r = client.post("/people/activities/", form)
    assert r.status_code == 422 and "主题：" in r.content.decode()
    r = client.post("/people/activities/", {**form, "theme": "文艺晚会", "photo": photo})
    activity = StationActivity.objects.get()
    assert r.status_code == 302 and not has_exif(activity.photo.read())
    assert "登记活动「文艺晚会」" in client.get(r["Location"]).content.decode()
    client.force_login(city.people["sanitation"])
    assert client.post("/people/activities/", form).status_code == 403


# ---------------------------------------------------------------------------------------------
# Training


@time_machine.travel(NOW, tick=False)
def test_attendance_feeds_the_team_records_and_the_qualification(city):
    zhao, sun = city.people["inspector"], city.people["inspector2"]
    organiser = city.people["shift_lead"]
    with pytest.raises(Forbidden):
        do_create_training(
            title="x", held_on=date(2026, 5, 1), acting_user=city.people["dispatcher"]
        )
    with pytest.raises(InvalidInput) as exc:
        do_create_training(title="x", held_on=date(2026, 5, 1), hours="两", acting_user=organiser)
    assert exc.value.field == "hours"
    course = do_create_training(
        title="网格员上岗培训",
        held_on=date(2024, 2, 29),
        place="中心三楼会议室",
        hours="6",
        qualification="网格员上岗资格",
        qualification_years=3,
        acting_user=organiser,
    )
    with pytest.raises(InvalidInput) as exc:
        do_record_attendance(course, attendees=[zhao, city.people["leader"]], acting_user=organiser)
    assert exc.value.field == "attendees"
    do_record_attendance(course, attendees=[zhao, sun], acting_user=organiser)
    q = Qualification.objects.get(user=zhao)
    assert (q.name, q.issued_on, q.expires_on) == (
        "网格员上岗资格",
        course.held_on,
        date(2027, 2, 28),
    )
    assert ManagerProfile.objects.filter(user__in=[zhao, sun]).count() == 2
    do_record_attendance(course, attendees=[zhao], acting_user=organiser)
    assert not Qualification.objects.filter(user=sun).exists()
    assert list(course.attendees.all()) == [zhao]
    assert actions_on(course) == ["create_training", "record_attendance", "record_attendance"]
    later = do_create_training(title="下周培训", held_on=date(2026, 5, 27), acting_user=organiser)
    with pytest.raises(InvalidInput, match="尚未举行"):
        do_record_attendance(later, attendees=[zhao], acting_user=organiser)


@time_machine.travel(NOW, tick=False)
def test_the_training_pages_arrange_a_course_and_take_attendance(client, city):
    zhao = city.people["inspector"]
    client.force_login(city.people["leader"])
    r = client.post(
        "/people/training/",
        {"title": "部件普查规范培训", "held_on": "2026-05-18", "place": "", "hours": "2"},
    )
    assert r.status_code == 302
    url = r["Location"]
    page = client.get(url).content.decode()
    assert page.index("网格员小孙") > 0 and "勾选到场的网格员" in page
    ids = [str(zhao.pk)]
    assert client.post(url, {"attendees": ids}).status_code == 302
    html = client.get(url).content.decode()
    assert "参训人员（1）" in html and "登记签到：新增 1 人" in html
    assert "部件普查规范培训" in client.get("/people/team/inspector/").content.decode()
    client.force_login(city.people["intake"])
    assert client.post(url, {"attendees": []}).status_code == 403


# ---------------------------------------------------------------------------------------------
# Commendations and community rules


def test_commendations_go_to_grid_managers_and_rules_to_their_street(city):
    with pytest.raises(Forbidden):
        do_record_commendation(
            user=city.people["inspector"],
            title="月度优秀网格员",
            awarded_on=date(2026, 4, 1),
            reason="上报有效案件 120 件",
            acting_user=city.people["dispatcher"],
        )
    with pytest.raises(InvalidInput) as exc:
        do_record_commendation(
            user=city.people["sanitation"],
            title="月度优秀网格员",
            awarded_on=date(2026, 4, 1),
            reason="x",
            acting_user=city.people["leader"],
        )
    assert exc.value.field == "user"
    c = do_record_commendation(
        user=city.people["inspector"],
        title="月度优秀网格员",
        awarded_on=date(2026, 4, 1),
        reason="上报有效案件 120 件",
        amount=500,
        acting_user=city.people["leader"],
    )
    assert actions_on(c) == ["record_commendation"]
    west_clerk = make_person("hubin", Role.HANDLER, city.street_offices[0])
    east = [c for c in city.communities if c.code.startswith(city.streets[1].code)][0]
    west = [c for c in city.communities if c.code.startswith(city.streets[0].code)][0]
    with pytest.raises(Forbidden):
        do_set_village_rule(community=east, text="门前三包", acting_user=west_clerk)
    do_set_village_rule(community=west, text="门前三包", acting_user=west_clerk)
    rule = do_set_village_rule(community=west, text="门前三包，垃圾不落地", acting_user=west_clerk)
    assert rule.text == "门前三包，垃圾不落地"
    assert actions_on(rule) == ["set_village_rule", "set_village_rule"]
    family = do_add_civilised_family(
        community=west, year=2026, family="王建国家庭", acting_user=west_clerk
    )
    assert actions_on(family) == ["add_civilised_family"]


# ---------------------------------------------------------------------------------------------
# Fixes: visit photos, the patrol board's counts, natural order


@time_machine.travel(NOW, tick=False)
def test_visit_photos_and_thumbnails_are_served_to_the_pair_and_not_to_others(client, city):
    p = pair(city)
    visit = do_record_visit(
        p,
        VisitIn(date(2026, 5, 18), "陈主任", photos=[("v.jpg", tiny_jpeg(gps=(MID_LAT, WEST)))]),
        acting_user=city.people["leader"],
    )
    photo = visit.photos.get()
    client.force_login(city.people["leader"])
    html = client.get(f"/people/pairings/{p.pk}/").content.decode()
    for f in (photo.file, photo.thumbnail):
        assert f.url in html
        r = client.get(f.url)
        assert r.status_code == 200 and r["Content-Type"] == "image/jpeg"
        assert not has_exif(b"".join(r.streaming_content))
    for outsider in ("sanitation", "inspector"):
        client.force_login(city.people[outsider])
        assert client.get(photo.file.url).status_code == 404
        assert client.get(photo.thumbnail.url).status_code == 404


@time_machine.travel(NOW, tick=False)
@override_settings(GRIDCITY_PATROL_MAP_CELLS=10)
def test_the_patrol_board_counts_every_cell_when_the_map_shows_only_some(client, city):
    user = city.people["inspector"]
    t0 = timezone.now() - timedelta(minutes=20)
    do_start_patrol(key="k", started_at=t0, acting_user=user)
    pts = [PointIn(i, t0 + timedelta(minutes=i), lon, lat, 5) for i, (lon, lat) in enumerate(ROUTE)]
    do_record_points("k", pts, acting_user=user)
    client.force_login(city.people["shift_lead"])
    r = client.get("/people/patrols/?days=3")
    html = r.content.decode()
    east = Beat.objects.get(code="B002")
    n_east = east.cells.count()
    assert "<strong>42</strong> / 48" in html  # six of the west beat's 48 cells walked today
    assert f"<strong>{n_east}</strong> / {n_east}" in html  # beyond the map's ten cells
    assert 'id="map-capped"' in html
    # The map's data comes apart from the page, for the same day, beat and days.
    assert 'data-src="/people/patrols/map.json?date=' in html and "&amp;days=3" in html
    data = client.get("/people/patrols/map.json?days=3").json()
    assert len(data["cells"]["features"]) == 10
    stale = [f for f in data["cells"]["features"] if f["properties"]["stale"]]
    assert len(stale) == 10  # the map draws the cells nobody walked first
    assert [t["name"] for t in data["tracks"]] == [str(user)]


def test_team_lists_put_the_second_beat_before_the_tenth(client, city):
    assert sorted(["第10责任网格", "第2责任网格", "第1责任网格"], key=natural_key) == [
        "第1责任网格",
        "第2责任网格",
        "第10责任网格",
    ]
    cells = list(Area.objects.filter(level=AreaLevel.CELL).order_by("code")[:12])
    Beat.objects.all().delete()
    for n in (10, 2, 11, 1):
        u = make_person(f"gm{n}", Role.INSPECTOR, display_name=f"网格员{n}号")
        Beat.objects.create(code=f"B{n}", name=f"第{n}责任网格", manager=u).cells.add(cells[n])
    client.force_login(city.people["shift_lead"])
    html = client.get("/people/team/").content.decode()
    order = [html.index(f"第{n}责任网格") for n in (1, 2, 10, 11)]
    assert order == sorted(order)
    rows = client.get("/people/attendance/").context["rows"]
    usernames = [r["user"].username for r in rows]
    assert usernames[:4] == ["gm1", "gm2", "gm10", "gm11"]
    assert set(usernames[4:]) == {"inspector", "inspector2"}  # those without a beat last
