"""A grid manager's check-ins (打卡) through the API: one row per phone key whatever the
resends, a refusal naming the field for each bad input, her own day read back, and the
shifts counted in the attendance sheet next to her patrols, overlaps once."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client

from gridcity.accounts.actions import do_create_token
from gridcity.people import track
from gridcity.people.actions import do_check_in, do_end_patrol, do_start_patrol
from gridcity.people.models import CheckIn
from gridcity.people.views import attendance_rows
from gridcity.testing import MID_LAT, MID_LON, build_city

CST = ZoneInfo("Asia/Shanghai")
# Monday 4 May 2026, 20:00 in the city: her working day is over.
NOW = datetime(2026, 5, 4, 20, 0, tzinfo=CST)
DAY = NOW.date()


def at(hour: int, minute: int = 0, day=DAY) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=CST)


@pytest.fixture
def town(db):
    return build_city(rules=False)


@pytest.fixture
def inspector(client, town):
    client.force_login(town.people["inspector"])
    return client


def body(key="7f0c1d8e-4b0a-4c1e-9b7e-2d8f6a1c3e5b", kind="in", when=None, **over):
    data = {
        "client_key": key,
        "kind": kind,
        "lon": MID_LON,
        "lat": MID_LAT,
        "at": (when or at(8, 2)).isoformat(),
    }
    data.update(over)
    return data


def post(client, data, **headers):
    return client.post("/api/checkins", data, content_type="application/json", **headers)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


# --- recording --------------------------------------------------------------------------------


def test_it_records_a_check_in_and_answers_a_resend_with_the_same_one(inspector, town):
    first = post(inspector, body())
    assert first.status_code == 201, first.content
    data = first.json()
    assert data["created"] is True
    assert data["kind"] == "in" and data["kind_label"] == "上班打卡"
    assert datetime.fromisoformat(data["at"]) == at(8, 2)
    assert data["lon"] == pytest.approx(MID_LON)

    again = post(inspector, body())
    assert again.status_code == 200
    assert again.json()["created"] is False
    assert again.json()["at"] == data["at"]
    checkin = CheckIn.objects.get()
    assert checkin.manager == town.people["inspector"]
    assert checkin.received_at == NOW


def test_it_takes_the_key_from_the_idempotency_header_too(inspector):
    data = body()
    del data["client_key"]
    r = post(inspector, data, HTTP_IDEMPOTENCY_KEY="hdr-key-1")
    assert r.status_code == 201, r.content
    assert post(inspector, data, HTTP_IDEMPOTENCY_KEY="hdr-key-1").status_code == 200
    assert CheckIn.objects.get().client_key == "hdr-key-1"


def test_it_accepts_a_check_in_queued_offline_days_ago(inspector):
    r = post(inspector, body(when=NOW - timedelta(days=6, hours=23)))
    assert r.status_code == 201, r.content


def test_a_resend_after_a_week_still_finds_the_check_in(inspector, town):
    with time_machine.travel(at(8, 3), tick=False):
        assert post(inspector, body()).status_code == 201
    with time_machine.travel(NOW + timedelta(days=10), tick=False):
        assert post(inspector, body()).status_code == 200
    assert CheckIn.objects.count() == 1


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"kind": "lunch"}, "kind"),
        ({"kind": None}, "kind"),
        ({"lon": 181.0}, "lon"),
        ({"lon": "east"}, "lon"),
        ({"lat": -90.5}, "lat"),
        ({"lat": None}, "lat"),
        ({"at": "2026-05-04T08:00:00"}, "at"),  # no time zone
        ({"at": "yesterday"}, "at"),
        ({"at": (NOW + timedelta(hours=1)).isoformat()}, "at"),
        ({"at": (NOW - timedelta(days=8)).isoformat()}, "at"),
        ({"at": "9999-01-01T00:00:00+08:00"}, "at"),
        ({"client_key": ""}, "client_key"),
        ({"client_key": "k" * 65}, "client_key"),
        ({"client_key": "key\x1b"}, "client_key"),
    ],
)
def test_it_refuses_bad_input_naming_the_field(inspector, over, field):
    r = post(inspector, body(**over))
    assert r.status_code == 422, r.content
    assert r.json()["field"] == field
    assert r.json()["error"]
    assert not CheckIn.objects.exists()


def test_it_refuses_a_body_that_is_not_json(inspector):
    r = inspector.post("/api/checkins", "{not json", content_type="application/json")
    assert r.status_code == 400
    assert not CheckIn.objects.exists()


def test_a_key_used_by_another_grid_manager_is_a_conflict_not_her_check_in(client, town):
    do_check_in(
        client_key="shared-key",
        kind="in",
        lon=MID_LON,
        lat=MID_LAT,
        at=at(8),
        acting_user=town.people["inspector2"],
    )
    client.force_login(town.people["inspector"])
    r = post(client, body(key="shared-key"))
    assert r.status_code == 409
    assert r.json()["field"] == "client_key"
    assert CheckIn.objects.get().manager == town.people["inspector2"]


def test_only_grid_managers_check_in(client, town):
    client.force_login(town.people["sanitation"])
    r = post(client, body())
    assert r.status_code == 403
    assert not CheckIn.objects.exists()


def test_an_anonymous_phone_is_told_to_log_in(client, town):
    assert post(client, body()).status_code == 401
    assert client.get("/api/checkins").status_code == 401


def test_a_phone_with_a_token_needs_no_csrf(town):
    client = Client(enforce_csrf_checks=True)
    token = do_create_token(town.people["inspector"])
    r = post(client, body(), HTTP_AUTHORIZATION=f"Bearer {token}")
    assert r.status_code == 201, r.content


def test_a_session_needs_the_csrf_token(town):
    client = Client(enforce_csrf_checks=True)
    client.force_login(town.people["inspector"])
    assert post(client, body()).status_code == 403
    page = client.get("/people/patrol/")
    assert page.status_code == 200
    token = client.cookies["csrftoken"].value
    r = post(client, body(), HTTP_X_CSRFTOKEN=token)
    assert r.status_code == 201, r.content


# --- reading her day --------------------------------------------------------------------------


def test_she_reads_her_own_day_in_time_order(inspector, town):
    post(inspector, body(key="out", kind="out", when=at(17, 30)))
    post(inspector, body(key="in", kind="in", when=at(8, 5)))
    post(inspector, body(key="yesterday", kind="in", when=at(8, 0, DAY - timedelta(days=1))))
    do_check_in(
        client_key="hers",
        kind="in",
        lon=MID_LON,
        lat=MID_LAT,
        at=at(8, 1),
        acting_user=town.people["inspector2"],
    )
    r = inspector.get(f"/api/checkins?date={DAY.isoformat()}")
    assert r.status_code == 200
    data = r.json()
    assert data["date"] == "2026-05-04"
    assert [(c["client_key"], c["kind"]) for c in data["checkins"]] == [
        ("in", "in"),
        ("out", "out"),
    ]

    assert inspector.get("/api/checkins").json()["checkins"] == data["checkins"]  # today
    earlier = inspector.get("/api/checkins?date=2026-05-03").json()["checkins"]
    assert [c["client_key"] for c in earlier] == ["yesterday"]


@pytest.mark.parametrize("value", ["05/04/2026", "2026-13-01", "1900-01-01"])
def test_a_bad_date_is_refused_naming_it(inspector, value):
    r = inspector.get(f"/api/checkins?date={value}")
    assert r.status_code == 422
    assert r.json()["field"] == "date"


# --- attendance -------------------------------------------------------------------------------


def check(user, key, kind, when):
    do_check_in(client_key=key, kind=kind, lon=MID_LON, lat=MID_LAT, at=when, acting_user=user)


def patrol(user, key, start, end):
    do_start_patrol(key=key, started_at=start, acting_user=user)
    do_end_patrol(key, ended_at=end, acting_user=user)


def day_of(user, day=DAY):
    row = attendance_rows([user], day.replace(day=1))[0]
    return row, row["days"][day.day - 1]


def test_a_checked_in_day_counts_as_on_duty_without_any_patrol(town):
    her = town.people["inspector"]
    check(her, "a", "in", at(8, 2))
    check(her, "b", "out", at(17, 31))
    row, day = day_of(her)
    assert day["s"] == 9 * 3600 + 29 * 60
    assert day["status"] == track.ON_DUTY
    assert day["check_in"].strftime("%H:%M") == "08:02"
    assert day["check_out"].strftime("%H:%M") == "17:31"
    assert row["on_duty"] == 1 and row["hours"] == 9.5


def test_a_patrol_inside_her_shift_is_not_counted_twice(town):
    her = town.people["inspector"]
    check(her, "a", "in", at(8))
    check(her, "b", "out", at(12))
    patrol(her, "p1", at(9), at(10))  # inside the shift
    patrol(her, "p2", at(11, 30), at(13))  # half an hour inside, an hour after
    _, day = day_of(her)
    assert day["s"] == 5 * 3600
    assert day["n"] == 2


def test_a_check_in_without_a_check_out_shows_but_counts_nothing(town):
    her = town.people["inspector"]
    check(her, "a", "in", at(8))
    _, day = day_of(her)
    assert day["s"] == 0 and day["status"] == track.ABSENT
    assert day["check_in"].strftime("%H:%M") == "08:00" and day["check_out"] is None


def test_a_night_shift_counts_on_the_day_it_began(town):
    her = town.people["inspector"]
    check(her, "a", "in", at(22, 0, DAY - timedelta(days=1)))
    check(her, "b", "out", at(6, 0))
    row = attendance_rows([her], DAY.replace(day=1))[0]
    assert row["days"][DAY.day - 2]["s"] == 8 * 3600
    assert row["days"][DAY.day - 1]["s"] == 0
    assert row["days"][DAY.day - 1]["check_out"].strftime("%H:%M") == "06:00"


def test_the_attendance_page_shows_the_days_check_in_and_check_out(client, town):
    her = town.people["inspector"]
    check(her, "a", "in", at(8, 2))
    check(her, "b", "out", at(17, 31))
    client.force_login(town.people["shift_lead"])
    r = client.get(f"/people/attendance/?day={DAY.isoformat()}")
    assert r.status_code == 200
    html = r.content.decode()
    section = html[html.index('id="checkins"') :]
    row = section[section.index("网格员小赵") :].split("</tr>")[0]
    assert "08:02" in row and "17:31" in row and "9.5" in row
    assert "2026-05-04" in section


def test_her_patrol_page_lists_todays_check_ins(inspector, town):
    check(town.people["inspector"], "a", "in", at(8, 2))
    html = inspector.get("/people/patrol/").content.decode()
    assert 'data-checkin="in"' in html and 'data-checkin="out"' in html
    listing = html[html.index('id="checkin-list"') :].split("</ul>")[0]
    assert "上班打卡 08:02" in listing


# --- the pure parts ---------------------------------------------------------------------------


def test_shifts_pair_each_check_out_with_the_open_check_in():
    marks = [
        (at(8), "in"),
        (at(8, 1), "in"),  # a double tap keeps the first time
        (at(12), "out"),
        (at(12, 5), "out"),  # nothing open
        (at(13), "in"),
        (at(17), "out"),
    ]
    assert track.shifts(marks) == [(at(8), at(12)), (at(13), at(17))]


def test_a_forgotten_check_out_does_not_make_a_day_long_shift():
    tomorrow = DAY + timedelta(days=1)
    marks = [(at(8), "in"), (at(8, 0, tomorrow), "in"), (at(17, 0, tomorrow), "out")]
    assert track.shifts(marks) == [(at(8, 0, tomorrow), at(17, 0, tomorrow))]
    assert track.shifts([(at(8), "in"), (at(17, 0, tomorrow), "out")]) == []


def test_union_counts_overlapping_time_once():
    spans = [(at(9), at(10)), (at(8), at(12)), (at(11, 30), at(13)), (at(15), at(15))]
    assert track.union_seconds(spans) == 5 * 3600
    assert track.union_seconds([]) == 0
