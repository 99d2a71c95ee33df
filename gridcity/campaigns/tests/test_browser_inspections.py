"""An inspection round and the review of camera detections, walked from the pages in Debian's
Chromium: a random undercover plan → its sample → the check on a phone with a photo → a
finding → the notice in Word and PDF → the re-inspection that closes it; one detection
accepted into a case and one rejected. Screenshots in ./screenshots/ (look at them)."""

import io
from pathlib import Path

import pytest
from django.utils import timezone
from docx import Document

from gridcity.campaigns.actions import do_ingest_detection
from gridcity.campaigns.models import Finding, FindingOutcome, Inspection, RectificationNotice
from gridcity.campaigns.tests.helpers import WEST_A, WEST_B, bins
from gridcity.cases.models import Channel
from gridcity.testing import build_city, tiny_jpeg
from gridcity.web.tests.conftest import login, new_page, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_inspection_round_and_a_detection_review_from_the_pages(
    browser, live_server, tmp_path: Path
):  # noqa: F811
    city = build_city()
    today = timezone.localdate()
    photo = tmp_path / "bin.jpg"
    photo.write_bytes(tiny_jpeg())
    after = tmp_path / "after.jpg"
    after.write_bytes(tiny_jpeg((30, 160, 30)))

    # The supervision centre makes a random undercover plan and draws its sample.
    page = new_page(browser)
    login(page, live_server, "leader")
    page.goto(f"{live_server.url}/campaigns/inspections/")
    page.click("text=制定督查计划")
    page.fill("#id_name", "垃圾桶满冒暗访抽查")
    page.fill("#id_content", "垃圾桶满冒、周边散落垃圾")
    page.check("input[name=method][value=random]")
    page.check("input[name=openness][value=undercover]")
    page.select_option("#id_area", str(city.streets[0].pk))
    page.fill("#id_sample_size", "0")
    page.fill("#id_items", "垃圾桶满冒 2\n周边散落垃圾 1")
    page.click("#plan-form button[type=submit]")
    page.wait_for_selector("#field-sample_size .error")  # refused, and the rest is kept
    assert page.input_value("#id_items") == "垃圾桶满冒 2\n周边散落垃圾 1"
    page.fill("#id_sample_size", "4")
    page.click("#plan-form button[type=submit]")
    page.wait_for_selector("#schedule-form")
    shot(page, "inspections-plan")
    page.select_option("#id_inspector", str(city.people["inspector"].pk))
    page.fill("#id_on", today.isoformat())
    page.fill("#id_seed", "第49周")
    page.click("#preview-sample")
    page.wait_for_selector("#sample-preview")
    drawn = page.eval_on_selector_all("#sample-preview li", "els => els.map(e => e.dataset.code)")
    assert len(drawn) == 4
    shot(page, "inspections-sample")
    page.click("#schedule")
    page.wait_for_selector(".messages:has-text('已安排检查')")
    insp = Inspection.objects.get()
    assert sorted(insp.cells.values_list("code", flat=True)) == sorted(drawn)

    # Undercover: the unit does not see it while it is going on.
    unit = new_page(browser)
    login(unit, live_server, "sanitation")
    unit.goto(f"{live_server.url}/campaigns/inspections/")
    assert insp.number not in unit.content()

    # The grid manager walks it on her phone: a finding with a photo, then finishes.
    phone = new_page(
        browser,
        phone=True,
        geolocation={"longitude": WEST_A[0], "latitude": WEST_A[1]},
        permissions=["geolocation"],
    )
    login(phone, live_server, "inspector")
    phone.goto(f"{live_server.url}/campaigns/inspections/")
    phone.click(f"text={insp.number}")
    phone.wait_for_selector("#pos-text:has-text('已定位')")
    phone.set_input_files("#f-photos", str(photo))
    phone.fill("#f-desc", "湖滨路 3 号垃圾桶满冒，周边散落")
    phone.select_option("#f-item", label="垃圾桶满冒（-2）")
    phone.fill("#f-cat", "06042")
    phone.fill("#f-measures", "当日清运，增加频次")
    phone.click("#finding-form button[type=submit]")
    phone.wait_for_selector(".messages:has-text('已记录发现')")
    assert phone.locator("#findings .insp-thumbs img").count() == 1
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360
    shot(phone, "inspections-onsite-360")
    phone.click("#finish-form button[type=submit]")
    phone.wait_for_selector(".messages:has-text('检查已完成')")
    finding = Finding.objects.get()
    row = finding.ledger_row
    assert row.department == city.departments["HJWS"] and finding.photos.count() == 1

    unit.goto(f"{live_server.url}/campaigns/inspections/")
    assert insp.number in unit.content()  # finished: now the unit may see it

    # The centre issues the notice and downloads it as Word and as PDF.
    page.goto(f"{live_server.url}/campaigns/inspections/{insp.pk}/onsite/")
    page.click("#notice-form button[type=submit]")
    page.wait_for_selector(".messages:has-text('已下发整改通知书')")
    notice = RectificationNotice.objects.get()
    with page.expect_download() as dl:
        page.click("#notices a.docx")
    doc = Document(io.BytesIO(Path(dl.value.path()).read_bytes()))
    assert notice.number in "\n".join(p.text for p in doc.paragraphs)
    assert doc.tables[0].rows[1].cells[3].text == row.number
    pdf = page.request.get(f"{live_server.url}/campaigns/notices/{notice.pk}.pdf")
    assert pdf.body().startswith(b"%PDF")
    shot(page, "inspections-notice-issued")

    # The unit fixes it and submits with an "after" photo, from the ledger row's page.
    unit.goto(f"{live_server.url}/campaigns/ledger/{row.pk}/")
    submit = unit.locator("form.camp-move", has=unit.locator("input[name=action][value=submit]"))
    submit.locator("input[type=file]").set_input_files(str(after))
    submit.locator("button[type=submit]").click()
    unit.wait_for_load_state("networkidle")

    # The re-inspection: she signs the problem off on site, then passes it.
    phone.goto(f"{live_server.url}/campaigns/inspections/?kind=re")
    phone.click(f"text={notice.reinspection.number}")
    phone.fill(f"#v-note-{row.pk}", "复查已清运，无散落")
    phone.click(".verify-form button[type=submit]")
    phone.wait_for_selector(".messages:has-text('已验收销号')")
    phone.check("input[name=passed][value=yes]")
    phone.click("#finish-form button[type=submit]")
    phone.wait_for_selector(".messages:has-text('检查已完成')")
    shot(phone, "inspections-reinspection-360")
    notice.refresh_from_db()
    assert notice.closed_at is not None and notice.reinspection.passed is True
    phone.context.close()
    unit.context.close()
    page.context.close()

    # Two camera detections wait for review: one is accepted into a case, one rejected.
    detections = [
        do_ingest_detection(
            acting_user=city.people["leader"],
            category=bins(),
            confidence=conf,
            image=tiny_jpeg(),
            lon=where[0],
            lat=where[1],
            source="camera",
            device_id=device,
        ).finding
        for conf, where, device in (
            (0.78, WEST_A, "CAM-湖滨-01"),
            (0.56, WEST_B, "CAM-湖滨-07"),
            (0.66, WEST_B, "UAV-03"),
        )
    ]
    desk = new_page(browser)
    login(desk, live_server, "intake")
    desk.goto(f"{live_server.url}/campaigns/detections/")
    desk.wait_for_selector(".det-map[data-ready='1'] path.leaflet-interactive")
    shot(desk, "inspections-detections")
    keep, drop, _waiting = detections
    desk.fill(f"#note-{keep.pk}", "画面清晰，确有满溢")
    desk.click(f"#det-{keep.pk} .accept-form button")
    desk.wait_for_selector(".messages:has-text('已立案')")
    desk.click(f"#det-{drop.pk} .reject-form button")  # no reason: the browser refuses
    assert Finding.objects.get(pk=drop.pk).outcome == FindingOutcome.REVIEW
    desk.fill(f"#reason-{drop.pk}", "误识别：垃圾桶旁为临时堆放的快递箱")
    desk.click(f"#det-{drop.pk} .reject-form button")
    desk.wait_for_selector(".messages:has-text('已驳回')")
    assert desk.locator("#decided li").count() == 2
    assert desk.locator(".det-card").count() == 1  # the third still waits
    keep.refresh_from_db()
    drop.refresh_from_db()
    assert keep.case.channel == Channel.CAMERA and keep.case.department == city.departments["HJWS"]
    assert drop.outcome == FindingOutcome.REJECTED and drop.case is None
    desk.context.close()

    small = new_page(browser, phone=True)
    login(small, live_server, "intake")
    small.goto(f"{live_server.url}/campaigns/detections/")
    small.wait_for_selector(".det-map[data-ready='1']")
    shot(small, "inspections-detections-360")
    assert small.evaluate("document.documentElement.scrollWidth") <= 360
    small.context.close()
