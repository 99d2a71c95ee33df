"""From the pages alone, in Debian's Chromium: the leader sets up a pairing, records a visit
with photos, writes a score sheet, assesses the quarter and compiles the annual record; the
shift lead arranges a training course and takes attendance. Screenshots in ./screenshots/."""

import pytest
from django.utils import timezone

from gridcity.accounts.models import AuditEntry
from gridcity.people.models import AnnualRecord, Pairing, Qualification, TrainingSession
from gridcity.testing import MID_LAT, WEST, build_city, tiny_jpeg
from gridcity.web.tests.conftest import login, new_page, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_pairing_is_visited_assessed_and_recorded_and_a_course_takes_attendance(
    browser, live_server, tmp_path
):
    city = build_city(rules=False)
    today = timezone.localdate()
    page = new_page(browser)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    login(page, live_server, "leader")

    # A pairing, from the board.
    page.goto(f"{live_server.url}/people/pairings/")
    page.click("#new-pairing")
    page.select_option("#id_leader", label="陈主任")
    page.select_option("#id_community", str(city.communities[0].pk))
    page.fill("#id_starts_on", today.replace(day=1).isoformat())
    page.fill("#id_visits_per_month", "2")
    page.fill("#id_tasks", "帮助解决环境卫生问题\n每季度召开一次议事会")
    page.click("#page-form button[type=submit]")
    page.wait_for_selector("text=结对已建立")
    pairing = Pairing.objects.get()
    assert pairing.leader == city.people["leader"] and pairing.visits_per_month == 2

    # A visit with two photos.
    photos = []
    for i, color in enumerate([(200, 50, 50), (50, 120, 200)]):
        path = tmp_path / f"visit{i}.jpg"
        path.write_bytes(tiny_jpeg(color=color, gps=(MID_LAT, WEST)))
        photos.append(str(path))
    page.click("#record-visit")
    page.fill("#people", "陈主任、社区书记")
    page.fill("#findings", "走访背街小巷，了解垃圾分类推进情况")
    page.set_input_files("#photos", photos)
    page.fill("#problem-0", "老旧小区缺少休闲座椅")
    page.click("#save-visit")
    page.wait_for_selector("text=走访记录已保存")
    # Both thumbnails load (the media view serves them to the pair).
    page.wait_for_function(
        "[...document.querySelectorAll('.photos img')].length === 2 && "
        "[...document.querySelectorAll('.photos img')].every(i => i.complete && i.naturalWidth > 0)"
    )

    # The centre's score sheet, then the quarter's assessment against it.
    page.goto(f"{live_server.url}/people/sheets/")
    page.fill("#id_name", "包村居季度考核表")
    page.fill("#id_items", "走访频次 30\n问题解决 40\n群众评价 30")
    page.click("#sheet-form button[type=submit]")
    page.wait_for_selector("text=评分表已保存")
    page.goto(f"{live_server.url}/people/pairings/{pairing.pk}/")
    inputs = page.locator("#assess-form fieldset:not([hidden]) input")
    for i, score in enumerate(["28", "50", "27"]):
        inputs.nth(i).fill(score)
    page.fill("#note", "走访扎实，问题台账清楚")
    # The browser would stop 50 > 40 itself; the server's message is what counts here.
    page.evaluate("document.getElementById('assess-form').noValidate = true")
    page.click("#save-assessment")
    page.wait_for_selector("#assess-error:has-text('「问题解决」应在 0–40 分之间')")
    page.locator("#assess-form fieldset:not([hidden]) input").nth(1).fill("36")
    page.click("#save-assessment")
    page.wait_for_selector("text=考核结果已记入年度绩效档案")
    assert "91" in page.inner_text("#assessments")
    shot(page, "people-pairing-assessed")

    # The annual record, compiled from the quarter.
    page.click("#assessments >> text=年度绩效档案")
    page.click("[data-compile]")
    page.wait_for_selector("[data-grade]:text-is('A')")
    record = AnnualRecord.objects.get()
    assert (record.score, record.grade) == (91.0, "A")
    shot(page, "people-annual")
    page.goto(f"{live_server.url}/people/pairings/{pairing.pk}/")
    history = page.inner_text("#audit")
    for text in ("建立结对", "记录", "考核"):
        assert text in history
    page.context.close()

    # Training with attendance, on a phone.
    phone = new_page(browser, phone=True)
    login(phone, live_server, "shift_lead")
    phone.goto(f"{live_server.url}/people/training/")
    phone.fill("#id_title", "网格员上岗培训")
    phone.fill("#id_held_on", today.isoformat())
    phone.fill("#id_place", "中心三楼会议室")
    phone.fill("#id_hours", "6")
    phone.fill("#id_qualification", "网格员上岗资格")
    phone.fill("#id_qualification_years", "3")
    phone.click("#training-form button[type=submit]")
    phone.wait_for_selector("text=培训已安排")
    phone.check("#attendance-form label:has-text('网格员小赵') input")
    phone.check("#attendance-form label:has-text('网格员小孙') input")
    shot(phone, "people-training-360")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360
    phone.click("#save-attendance")
    phone.wait_for_selector("text=签到已保存")
    assert phone.locator("#attendees li").count() == 2
    session = TrainingSession.objects.get()
    assert session.attendees.count() == 2
    assert Qualification.objects.filter(training=session).count() == 2
    assert AuditEntry.objects.filter(action="record_attendance").count() == 1
    phone.context.close()
    assert not errors, errors
