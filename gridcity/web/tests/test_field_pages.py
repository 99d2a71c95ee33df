"""The working pages in the street and for the leader: the grid manager's phone, the citizens'
page, the case map and the dashboard, through the Django client."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from gridcity.cases.actions import ReportInput, TransitionInput, do_report_case, do_transition_case
from gridcity.cases.models import Case, Channel, Status
from gridcity.cases.reference import format_reference
from gridcity.taxonomy.actions import resolve_category
from gridcity.testing import EAST, MID_LAT, NORTH, SOUTH, WEST, build_city, tiny_jpeg

BIN = (120.163, MID_LAT + 0.001)  # in the west street, the inspector's beat


@pytest.fixture
def city(db):
    return build_city()


def login(client, user):
    client.force_login(user)
    return client


def report(user=None, *, channel=Channel.INSPECTOR, lon=BIN[0], lat=BIN[1], code="06042", **kw):
    return do_report_case(
        ReportInput(
            category=resolve_category(code),
            channel=channel,
            lon=lon,
            lat=lat,
            description=kw.pop("description", "垃圾桶满了"),
            **kw,
        ),
        acting_user=user,
    ).case


def walk_to_handled(city, case):
    people = city.people
    do_transition_case(case, "sign", acting_user=people["sanitation"])
    do_transition_case(
        case,
        "report_back",
        acting_user=people["sanitation"],
        data=TransitionInput(note="已清运", photos=[("after.jpg", tiny_jpeg((10, 200, 10)))]),
    )
    return Case.objects.get(pk=case.pk)


def walk_to_closed(city, case):
    walk_to_handled(city, case)
    do_transition_case(case, "check_pass", acting_user=city.people["inspector"])
    do_transition_case(case, "close", acting_user=city.people["shift_lead"])
    return Case.objects.get(pk=case.pk)


# --- who sees what ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_renders_each_page_for_its_role_in_chinese(client, city):
    p = city.people
    for user, url, text in [
        (p["inspector"], "/field/", "我的任务"),
        (p["inspector"], "/field/report/", "上报问题"),
        (p["dispatcher"], "/map/", "案件地图"),
        (p["leader"], "/map/", "案件地图"),
        (p["leader"], "/dashboard/", "领导驾驶舱"),
        (p["shift_lead"], "/dashboard/", "按期结案率"),
    ]:
        r = login(client, user).get(url)
        assert r.status_code == 200, (user, url)
        assert text in r.content.decode(), (user, url)
    client.logout()
    r = client.get("/public/")
    assert r.status_code == 200
    assert "反映城市管理问题" in r.content.decode()


@pytest.mark.django_db
def test_it_keeps_staff_pages_from_the_wrong_roles(client, city):
    p = city.people
    assert client.get("/field/").status_code == 302  # to the login page
    assert login(client, p["sanitation"]).get("/field/").status_code == 403
    assert login(client, p["inspector"]).get("/dashboard/").status_code == 403
    assert login(client, p["inspector"]).get("/map/cases.json?bbox=0,0,1,1").status_code == 403
    assert login(client, p["sanitation"]).get("/map/").status_code == 403


# --- the grid manager's tasks ----------------------------------------------------------------


@pytest.mark.django_db
def test_it_lists_my_verify_and_check_tasks_nearest_first(client, city):
    near = report(channel=Channel.CITIZEN, lon=BIN[0], lat=BIN[1])
    far = report(channel=Channel.CITIZEN, lon=WEST + 0.0005, lat=NORTH - 0.0005, code="09999")
    check = walk_to_handled(
        city, report(city.people["inspector"], lon=WEST + 0.001, lat=SOUTH + 0.001)
    )
    assert near.status == far.status == Status.VERIFYING
    assert check.status == Status.HANDLED
    body = (
        login(client, city.people["inspector"])
        .get(f"/field/?lon={BIN[0]}&lat={BIN[1]}")
        .content.decode()
    )
    assert body.index(near.number) < body.index(far.number)
    assert check.number in body
    assert "核实" in body and "核查" in body
    # The other grid manager's beat is elsewhere: none of these are theirs.
    other = login(client, city.people["inspector2"]).get("/field/").content.decode()
    assert near.number not in other


@pytest.mark.django_db
def test_the_task_list_costs_a_fixed_number_of_queries(client, city, django_assert_max_num_queries):
    for i in range(6):
        report(channel=Channel.CITIZEN, lon=WEST + 0.0003 + i * 0.0008, lat=BIN[1])
    login(client, city.people["inspector"])
    with django_assert_max_num_queries(8):
        r = client.get("/field/")
    assert r.content.decode().count("/field/tasks/") == 6


@pytest.mark.django_db
def test_a_grid_manager_verifies_a_citizen_report_with_a_photo(client, city):
    case = report(channel=Channel.CITIZEN)
    login(client, city.people["inspector"])
    r = client.post(
        f"/field/tasks/{case.number}/",
        {
            "result": "yes",
            "note": "现场确认",
            "photo": SimpleUploadedFile("v.jpg", tiny_jpeg(), content_type="image/jpeg"),
        },
    )
    assert r.status_code == 302
    case.refresh_from_db()
    assert case.verified is True
    assert case.attachments.filter(kind="verify").count() == 1


@pytest.mark.django_db
def test_a_failed_check_without_a_note_says_why_next_to_the_note(client, city):
    case = walk_to_handled(city, report(city.people["inspector"]))
    login(client, city.people["inspector"])
    r = client.post(f"/field/tasks/{case.number}/", {"result": "no", "note": ""})
    assert r.status_code == 422
    assert "需要填写原因或说明" in r.content.decode()
    case.refresh_from_db()
    assert case.status == Status.HANDLED
    r = client.post(f"/field/tasks/{case.number}/", {"result": "no", "note": "仍有散落垃圾"})
    assert r.status_code == 302
    case.refresh_from_db()
    assert case.status == Status.HANDLING
    assert case.rework_count == 1


@pytest.mark.django_db
def test_a_task_page_of_a_case_outside_my_beat_is_not_found(client, city):
    case = report(channel=Channel.CITIZEN, lon=EAST - 0.001, lat=BIN[1])
    assert (
        login(client, city.people["inspector"]).get(f"/field/tasks/{case.number}/").status_code
        == 404
    )


# --- the citizens' page ----------------------------------------------------------------------


def public_post(client, **overrides):
    client.get("/public/")
    data = {
        "category": "matter:09999",
        "lon": str(BIN[0]),
        "lat": str(BIN[1]),
        "description": "有人遛狗不牵绳",
        "reporter_name": "王大妈",
        "reporter_phone": "13800001234",
        "key": "public-key-1",
        "photo": SimpleUploadedFile("dog.jpg", tiny_jpeg(gps=(30.2, 120.1)), "image/jpeg"),
    }
    data.update(overrides)
    return client.post("/public/", {k: v for k, v in data.items() if v is not None})


@pytest.mark.django_db
def test_a_citizen_reports_without_login_and_gets_a_public_reference(client, city):
    r = public_post(client)
    assert r.status_code == 302
    case = Case.objects.get()
    assert case.channel == Channel.CITIZEN
    assert case.status == Status.VERIFYING
    assert case.reporter_phone == "13800001234"
    r = client.get(r["Location"])
    body = r.content.decode()
    assert format_reference(case.public_reference) in body and "提交成功" in body
    # Sending the same form twice (a double tap) makes one case.
    public_post(client)
    assert Case.objects.count() == 1


@pytest.mark.django_db
def test_a_public_report_without_a_category_shows_a_chinese_error_next_to_it(client, city):
    r = public_post(client, category="")
    assert r.status_code == 422
    body = r.content.decode()
    assert 'id="err-category"' in body
    assert "请选择问题类别" in body.split('id="err-category"')[1][:40]
    assert Case.objects.count() == 0
    r = public_post(client, lon=None, lat=None, address="")
    assert "请在地图上点选位置，或填写地址" in r.content.decode()


@pytest.mark.django_db
def test_the_public_lookup_shows_no_people_and_only_clean_photos(client, city):
    public_post(client)
    case = Case.objects.get()
    do_transition_case(
        case, "verify", acting_user=city.people["inspector"], data=TransitionInput(verified=True)
    )
    do_transition_case(case, "file", acting_user=city.people["intake"])
    do_transition_case(case, "dispatch", acting_user=city.people["dispatcher"])
    client.logout()
    body = client.get(f"/public/lookup/?ref={case.public_reference}").content.decode()
    assert "现场核实" in body and "派遣至责任部门" in body
    for secret in [
        "王大妈",
        "13800001234",
        "inspector",
        "网格员小赵",
        "intake",
        "dispatcher",
        "派遣员小王",
    ]:
        assert secret not in body, secret
    attachment = case.attachments.get(kind="report")
    assert attachment.public_file.url in body
    assert attachment.file.url not in body
    assert "exif" not in body.lower()


@pytest.mark.django_db
def test_the_public_lookup_of_an_unknown_reference_says_so(client, city):
    body = client.get("/public/lookup/?ref=7KQ2M-X9T4B").content.decode()
    assert "未找到该查询码对应的案件" in body


# --- the map ---------------------------------------------------------------------------------


def map_json(client, zoom, **params):
    bbox = f"{WEST - 0.01},{SOUTH - 0.01},{EAST + 0.01},{NORTH + 0.01}"
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return client.get(f"/map/cases.json?bbox={bbox}&zoom={zoom}&{query}")


@pytest.mark.django_db
def test_the_map_clusters_at_low_zoom_and_shows_points_at_high_zoom(
    client, city, django_assert_max_num_queries
):
    for i in range(12):
        report(
            city.people["inspector"],
            lon=WEST + 0.0002 + i * 0.0009,
            lat=BIN[1],
            code="06042" if i % 2 else "09999",
        )
    login(client, city.people["dispatcher"])
    with django_assert_max_num_queries(4):
        low = map_json(client, 12).json()
    assert low["mode"] == "clusters"
    assert low["total"] == 12
    assert len(low["clusters"]) < 12
    with django_assert_max_num_queries(4):
        high = map_json(client, 18).json()
    assert high["mode"] == "points"
    assert len(high["points"]) == 12
    assert {p["number"] for p in high["points"]} == set(
        Case.objects.values_list("number", flat=True)
    )
    only_bins = map_json(client, 18, category="matter:06042").json()
    assert len(only_bins["points"]) == 6
    assert map_json(client, 18, status="closed").json()["points"] == []


@pytest.mark.django_db
def test_the_map_json_refuses_a_bad_bbox_in_chinese(client, city):
    login(client, city.people["dispatcher"])
    r = client.get("/map/cases.json?bbox=a,b&zoom=12")
    assert r.status_code == 400
    assert "bbox" in r.json()["error"]


# --- the dashboard ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_dashboard_counts_a_closed_case(client, city):
    walk_to_closed(city, report(city.people["inspector"]))
    report(city.people["inspector"], lon=WEST + 0.001, lat=SOUTH + 0.001)
    login(client, city.people["leader"])
    from gridcity.web.dashboard import figures

    f = figures(city.people["leader"])
    today = {x.label: x.value for x in f["today"]}
    assert today["上报"] == 2
    assert today["立案"] == 2
    assert today["结案"] == 1
    assert today["按期结案率"] == "100%"
    body = client.get("/dashboard/").content.decode()
    assert "status=closed&amp;closed_from=" in body
    assert 'hx-trigger="every 60s"' in body
    assert "<svg" in body
    partial = client.get("/dashboard/figures/").content.decode()
    assert "<html" not in partial and "按期结案率" in partial
    cells = client.get("/dashboard/cells.json").json()
    assert [f["properties"]["open"] for f in cells["features"]] == [1]
