"""The office pages, driven with Django's test client: the supervision centre, the command
centre, the overdue board, the department desk and the case page."""

import pytest
from django.urls import reverse

from gridcity.cases.actions import (
    ReportInput,
    TransitionInput,
    do_create_supervision,
    do_report_case,
    do_transition_case,
)
from gridcity.cases.models import Case, CaseEvent, Channel, Status, SupervisionOrder
from gridcity.taxonomy.actions import resolve_category
from gridcity.testing import SOUTH, WEST, build_city, tiny_jpeg


@pytest.fixture
def city(db):
    return build_city()


def point(i: int) -> tuple[float, float]:
    """Points ~45 m apart in the west street, so no two reports look like duplicates."""
    return WEST + 0.0006 + 0.00045 * (i % 12), SOUTH + 0.0006 + 0.0009 * (i // 12)


def report(city, i=0, *, channel=Channel.INSPECTOR, code="06042", **kw) -> Case:
    lon, lat = kw.pop("at", point(i))
    reporter = city.people["inspector"] if channel == Channel.INSPECTOR else None
    return do_report_case(
        ReportInput(
            category=resolve_category(code),
            channel=channel,
            lon=lon,
            lat=lat,
            description=f"垃圾桶满了 {i}",
            address=f"湖滨路{i}号",
            **kw,
        ),
        acting_user=reporter,
    ).case


def filed(city, settings, i=0) -> Case:
    settings.GRIDCITY_AUTO_DISPATCH = False
    case = report(city, i)
    settings.GRIDCITY_AUTO_DISPATCH = True
    assert case.status == Status.FILED
    return case


def move(case, action, user, **data) -> Case:
    return do_transition_case(case, action, acting_user=user, data=TransitionInput(**data))


def handled(city, i=0) -> Case:
    case = report(city, i)
    assert case.status == Status.DISPATCHED
    move(case, "sign", city.people["sanitation"])
    return move(case, "report_back", city.people["sanitation"], photos=[("a.jpg", tiny_jpeg())])


def login(client, city, who):
    client.force_login(city.people[who])


# ---------------------------------------------------------------------------------------------
# Each page for its role


PAGES = [
    ("web:supervision_centre", "intake", "监督中心"),
    ("web:supervision_centre", "shift_lead", "受理队列"),
    ("web:hotline_new", "intake", "登记 12345 热线来电"),
    ("web:triage", "intake", "待定位案件"),
    ("web:command_centre", "dispatcher", "待派遣"),
    ("web:overdue_board", "dispatcher", "超期督办看板"),
    ("web:overdue_board", "leader", "超期督办看板"),
    ("web:supervision_orders", "dispatcher", "督办单"),
    ("web:desk", "sanitation", "部门工作台"),
    ("web:desk", "sanitation_lead", "本部门在办案件"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("name,who,text", PAGES)
def test_it_renders_each_office_page_for_its_role(client, city, name, who, text):
    report(city, 0)
    login(client, city, who)
    r = client.get(reverse(name))
    assert r.status_code == 200
    assert text in r.content.decode()


WRONG_ROLE = [
    ("web:supervision_centre", "dispatcher"),
    ("web:supervision_centre", "sanitation"),
    ("web:hotline_new", "sanitation"),
    ("web:triage", "inspector"),
    ("web:command_centre", "intake"),
    ("web:command_centre", "sanitation"),
    ("web:overdue_board", "sanitation"),
    ("web:supervision_orders", "sanitation"),
    ("web:desk", "dispatcher"),
    ("web:desk", "inspector"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("name,who", WRONG_ROLE)
def test_it_refuses_a_page_to_other_roles_with_a_403_that_links_home(client, city, name, who):
    login(client, city, who)
    r = client.get(reverse(name))
    assert r.status_code == 403
    body = r.content.decode()
    assert "无权访问此页面" in body
    assert reverse("web:home") in body


@pytest.mark.django_db
def test_it_sends_an_outsider_to_the_login_page(client, city):
    r = client.get(reverse("web:command_centre"))
    assert r.status_code == 302
    assert r["Location"].startswith(reverse("web:login"))


# ---------------------------------------------------------------------------------------------
# The case page


@pytest.mark.django_db
def test_it_shows_a_case_with_timeline_explanation_deadline_and_its_moves(client, city):
    case = report(city, 0)
    login(client, city, "sanitation")
    r = client.get(reverse("web:case_detail", args=[case.number]))
    assert r.status_code == 200
    body = r.content.decode()
    assert "垃圾站（箱）满溢" in body
    assert "按责任规则自动派遣" in body  # the timeline
    assert "06042" in case.dispatch_explanation["reason"]
    assert case.dispatch_explanation["reason"] in body
    assert "light-green" in body
    assert f'action="/cases/{case.number}/action/sign/"' in body
    assert "/action/close/" not in body
    assert "case-map-data" in body


@pytest.mark.django_db
def test_it_hides_a_case_the_user_may_not_see(client, city):
    case = report(city, 0)
    login(client, city, "municipal")
    assert client.get(reverse("web:case_detail", args=[case.number])).status_code == 404


@pytest.mark.django_db
def test_it_offers_a_handler_no_close_and_refuses_a_forced_close_in_chinese(client, city):
    case = handled(city, 0)
    move(case, "check_pass", city.people["inspector"])
    login(client, city, "sanitation")
    page = client.get(reverse("web:case_detail", args=[case.number])).content.decode()
    assert "/action/close/" not in page
    r = client.post(reverse("web:case_action", args=[case.number, "close"]))
    assert r.status_code == 403
    assert "当前角色不能执行“结案”" in r.content.decode()
    case.refresh_from_db()
    assert case.status == Status.CHECKED


@pytest.mark.django_db
def test_it_puts_the_missing_note_error_next_to_the_note_and_changes_nothing(client, city):
    case = report(city, 0)
    login(client, city, "sanitation")
    events = CaseEvent.objects.filter(case=case).count()
    r = client.post(reverse("web:case_action", args=[case.number, "return"]), {"note": " "})
    assert r.status_code == 422
    body = r.content.decode()
    assert f'id="return-{case.number}-note-err"' in body
    assert "“回退（非本部门职责）”需要填写原因或说明" in body
    assert '<details class="action" open>' in body
    case.refresh_from_db()
    assert case.status == Status.DISPATCHED
    assert CaseEvent.objects.filter(case=case).count() == events


@pytest.mark.django_db
def test_it_requires_an_after_photo_to_report_back(client, city):
    case = report(city, 0)
    move(case, "sign", city.people["sanitation"])
    login(client, city, "sanitation")
    r = client.post(reverse("web:case_action", args=[case.number, "report_back"]), {"note": "ok"})
    assert r.status_code == 422
    assert "处置反馈需要上传处置后照片" in r.content.decode()
    case.refresh_from_db()
    assert case.status == Status.HANDLING


@pytest.mark.django_db
def test_it_reports_back_with_an_uploaded_photo(client, city, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    case = report(city, 0)
    move(case, "sign", city.people["sanitation"])
    login(client, city, "sanitation")
    photo = SimpleUploadedFile("after.jpg", tiny_jpeg(), content_type="image/jpeg")
    r = client.post(
        reverse("web:case_action", args=[case.number, "report_back"]),
        {"note": "已清运", "photos": [photo]},
    )
    assert r.status_code == 302
    case.refresh_from_db()
    assert case.status == Status.HANDLED
    assert case.attachments.filter(kind="after").count() == 1


@pytest.mark.django_db
def test_it_asks_for_a_reason_when_the_dispatcher_overrides_the_suggestion(client, city, settings):
    case = filed(city, settings, 0)
    login(client, city, "dispatcher")
    other = city.departments["CGZF"]
    r = client.post(
        reverse("web:case_action", args=[case.number, "dispatch"]), {"department": other.pk}
    )
    assert r.status_code == 422
    assert "改派到与建议不同的部门时，需要填写原因" in r.content.decode()
    r = client.post(
        reverse("web:case_action", args=[case.number, "dispatch"]),
        {"department": other.pk, "note": "占道经营，属执法"},
    )
    assert r.status_code == 302
    case.refresh_from_db()
    assert case.department == other


@pytest.mark.django_db
def test_it_shows_an_unknown_extension_text_next_to_the_extension(client, city):
    case = report(city, 0)
    move(case, "sign", city.people["sanitation"])
    login(client, city, "sanitation")
    r = client.post(
        reverse("web:case_action", args=[case.number, "request_extension"]),
        {"note": "车辆外出", "extension": "两天"},
    )
    assert r.status_code == 422
    assert "无法识别的时限" in r.content.decode()
    r = client.post(
        reverse("web:case_action", args=[case.number, "request_extension"]),
        {"note": "车辆外出", "extension": "2工作日", "next": reverse("web:desk")},
    )
    assert r.status_code == 302 and r["Location"] == reverse("web:desk")
    case.refresh_from_db()
    assert case.status == Status.EXTENSION_REQUESTED


@pytest.mark.django_db
def test_it_lets_the_dispatcher_open_a_supervision_order(client, city):
    case = report(city, 0)
    login(client, city, "dispatcher")
    r = client.post(reverse("web:case_supervise", args=[case.number]), {"note": ""})
    assert r.status_code == 422
    assert "请填写督办要求" in r.content.decode()
    r = client.post(
        reverse("web:case_supervise", args=[case.number]), {"note": "今天内处理", "kind": "leader"}
    )
    assert r.status_code == 302
    assert SupervisionOrder.objects.filter(case=case).count() == 1


@pytest.mark.django_db
def test_it_lets_the_department_answer_a_supervision_order_from_its_desk(client, city):
    case = report(city, 0)
    order = do_create_supervision(case, acting_user=city.people["leader"], note="尽快")
    login(client, city, "sanitation")
    desk = client.get(reverse("web:desk")).content.decode()
    assert order.number in desk
    r = client.post(
        reverse("web:supervision_reply", args=[order.pk]),
        {"reply": "已安排车辆", "next": reverse("web:desk")},
    )
    assert r.status_code == 302
    order.refresh_from_db()
    assert order.reply == "已安排车辆"


@pytest.mark.django_db
def test_it_unlinks_a_duplicate_report_for_intake_staff(client, city):
    case = report(city, 0)
    dup = report(city, 0, at=point(0))
    assert dup.pk == case.pk
    login(client, city, "intake")
    page = client.get(reverse("web:case_detail", args=[case.number])).content.decode()
    assert "取消关联" in page
    linked = case.reports.get(is_duplicate=True)
    r = client.post(reverse("web:report_unlink", args=[case.number, linked.pk]))
    assert r.status_code == 302
    linked.refresh_from_db()
    assert linked.case_id != case.pk


# ---------------------------------------------------------------------------------------------
# Supervision centre


@pytest.mark.django_db
def test_it_enters_a_hotline_call_and_opens_its_case(client, city):
    login(client, city, "intake")
    cat = resolve_category("06042")
    lon, lat = point(3)
    r = client.post(
        reverse("web:hotline_new"),
        {
            "category": cat.pk,
            "area": city.streets[0].pk,
            "address": "湖滨路 3 号",
            "lon": lon,
            "lat": lat,
            "description": "垃圾满了没人收",
            "reporter_name": "王先生",
            "reporter_phone": "13800000000",
        },
    )
    assert r.status_code == 302
    case = Case.objects.get(channel=Channel.HOTLINE)
    assert r["Location"] == reverse("web:case_detail", args=[case.number])
    assert case.status == Status.VERIFYING  # a hotline report is verified first
    assert case.address.startswith("湖滨街道")
    assert case.reporter_name == "王先生"


@pytest.mark.django_db
def test_it_shows_hotline_form_errors_next_to_the_fields(client, city):
    login(client, city, "intake")
    r = client.post(reverse("web:hotline_new"), {"description": ""})
    assert r.status_code == 200
    body = r.content.decode()
    assert "请选择问题类别" in body and "请填写问题描述" in body
    cat = resolve_category("06042")
    r = client.post(reverse("web:hotline_new"), {"category": cat.pk, "description": "满了"})
    assert "请提供位置（经纬度）或地址" in r.content.decode()
    assert not Case.objects.exists()


@pytest.mark.django_db
def test_it_finds_areas_by_name_for_the_hotline_form(client, city):
    login(client, city, "intake")
    r = client.get(reverse("web:area_search"), {"q": "湖滨"}, HTTP_HX_REQUEST="true")
    body = r.content.decode()
    assert "湖滨街道" in body and "湖滨北社区" in body
    assert "清波" not in body


@pytest.mark.django_db
def test_it_places_an_unlocated_report_from_the_triage_queue(client, city):
    case = report(city, 0, channel=Channel.HOTLINE, at=(121.0, 31.0))
    assert case.status == Status.UNLOCATED
    login(client, city, "intake")
    assert case.number in client.get(reverse("web:triage")).content.decode()
    lon, lat = point(5)
    r = client.post(
        reverse("web:case_action", args=[case.number, "locate"]),
        {"lon": lon, "lat": lat, "next": reverse("web:triage")},
    )
    assert r.status_code == 302 and r["Location"] == reverse("web:triage")
    case.refresh_from_db()
    assert case.status == Status.REPORTED and case.cell_id


@pytest.mark.django_db
def test_it_lists_the_centre_queues(client, city):
    verifying = report(city, 0, channel=Channel.HOTLINE)
    checked = handled(city, 1)
    move(checked, "check_pass", city.people["inspector"])
    login(client, city, "shift_lead")
    body = client.get(reverse("web:supervision_centre")).content.decode()
    assert verifying.number in body and checked.number in body
    assert "网格员小赵" in body  # the verify task's assignee


# ---------------------------------------------------------------------------------------------
# Command centre


@pytest.mark.django_db
def test_it_confirms_the_suggested_dispatch_in_one_click(client, city, settings):
    case = filed(city, settings, 0)
    login(client, city, "dispatcher")
    board = client.get(reverse("web:command_centre")).content.decode()
    assert case.number in board and "环境卫生科室" in board
    assert case.dispatch_explanation["reason"] in board
    r = client.post(
        reverse("web:case_action", args=[case.number, "dispatch"]),
        {"department": case.suggested_department_id, "next": reverse("web:command_centre")},
    )
    assert r.status_code == 302 and r["Location"] == reverse("web:command_centre")
    case.refresh_from_db()
    assert case.status == Status.DISPATCHED
    assert case.department_id == case.suggested_department_id


@pytest.mark.django_db
def test_it_lists_extension_requests_for_approval(client, city):
    case = report(city, 0)
    move(case, "sign", city.people["sanitation"])
    move(case, "request_extension", city.people["sanitation"], note="车坏了", extension="2工作日")
    login(client, city, "dispatcher")
    body = client.get(reverse("web:command_centre")).content.decode()
    assert "车坏了" in body and "2工作日" in body
    assert f"/cases/{case.number}/action/approve_extension/" in body
    r = client.post(reverse("web:case_action", args=[case.number, "approve_extension"]))
    assert r.status_code == 302
    case.refresh_from_db()
    assert case.status == Status.HANDLING


@pytest.mark.django_db
def test_the_overdue_board_shows_only_what_is_still_late(client, city):
    from django.utils import timezone

    late = report(city, 0)
    # The deadline passed a day ago (no sweep has run yet: the light alone says red).
    Case.objects.filter(pk=late.pk).update(
        step_started_at=timezone.now() - timezone.timedelta(days=5),
        step_deadline=timezone.now() - timezone.timedelta(days=1),
    )
    fresh = report(city, 1)
    login(client, city, "dispatcher")
    body = client.get(reverse("web:overdue_board")).content.decode()
    assert late.number in body and fresh.number not in body
    assert "已超期" in body
    partial = client.get(reverse("web:overdue_board"), HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in partial and late.number in partial
    # Once the late step is done the case leaves the board.
    move(late, "sign", city.people["sanitation"])
    body = client.get(reverse("web:overdue_board")).content.decode()
    assert late.number not in body


# ---------------------------------------------------------------------------------------------
# Query counts do not grow with the number of cases


def _populate(city, settings, start: int, stop: int) -> None:
    """A mix: filed, dispatched and supervised, handling, hotline verifying, unlocated."""
    for i in range(start, stop):
        kind = i % 4
        if kind == 0:
            filed(city, settings, i)
        elif kind == 1:
            c = report(city, i)
            do_create_supervision(c, acting_user=city.people["leader"], note="快")
        elif kind == 2:
            c = report(city, i)
            move(c, "sign", city.people["sanitation"])
        elif i % 8 == 7:
            report(city, i, channel=Channel.HOTLINE)
        else:
            report(city, i, channel=Channel.HOTLINE, at=(121.0, 31.0))  # in the river


LIST_PAGES = [
    ("web:supervision_centre", "intake"),
    ("web:command_centre", "dispatcher"),
    ("web:overdue_board", "dispatcher"),
    ("web:supervision_orders", "leader"),
    ("web:desk", "sanitation"),
    ("web:desk", "sanitation_lead"),
    ("web:triage", "intake"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("name,who", LIST_PAGES)
def test_it_uses_the_same_number_of_queries_for_5_and_20_cases(
    client, city, settings, django_assert_max_num_queries, name, who
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _populate(city, settings, 0, 5)
    login(client, city, who)
    with CaptureQueriesContext(connection) as few:
        assert client.get(reverse(name)).status_code == 200
    _populate(city, settings, 5, 20)
    with django_assert_max_num_queries(len(few)):
        assert client.get(reverse(name)).status_code == 200
