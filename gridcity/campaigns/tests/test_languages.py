"""Every campaign and inspection page in both languages: with English chosen no Chinese is left
outside the data, in Chinese (the default) no English creeps in; the ledger sheet and the
rectification notice are written in the reader's language, and an English sheet reads back."""

import io
from datetime import timedelta

import pytest
from django.utils import timezone, translation
from docx import Document
from openpyxl import load_workbook

from gridcity.campaigns.actions import (
    do_create_plan,
    do_finish_inspection,
    do_ingest_detection,
    do_issue_notice,
    do_record_finding,
    do_schedule_inspection,
)
from gridcity.campaigns.documents import notice_content, notice_docx, notice_pdf
from gridcity.campaigns.ledger_io import export_ledger_xlsx, parse_ledger_xlsx
from gridcity.campaigns.models import Inspection, LedgerRow
from gridcity.campaigns.tests.helpers import WEST_A, WEST_B, at, bin_campaign, bins, report
from gridcity.campaigns.tests.language import (
    chinese_left,
    compile_catalogues,
    english_client,
    english_left,
    headings,
    stored_values,
)
from gridcity.testing import build_city, tiny_jpeg

pytestmark = pytest.mark.django_db

compile_catalogues()


@pytest.fixture(autouse=True)
def _fresh_catalogues(settings):
    # Setting LOCALE_PATHS again empties Django's per-process catalogue cache, which another
    # test may have filled before the .mo files existed.
    settings.LOCALE_PATHS = list(settings.LOCALE_PATHS)


@pytest.fixture
def city():
    return build_city()


@pytest.fixture
def world(city):
    """A running campaign with ledger rows, a plan with a done inspection that led to a notice
    and a re-inspection, one still to do, and a camera detection waiting for review."""
    campaign = bin_campaign(city)
    report(city, WEST_A, at(3), tag=True)
    report(city, WEST_B, at(4), tag=True)
    leader, inspector = city.people["leader"], city.people["inspector"]
    plan = do_create_plan(
        acting_user=leader,
        name="垃圾桶满冒暗访",
        content="垃圾桶满冒、周边散落垃圾",
        method="random",
        openness="undercover",
        scope="thematic",
        frequency="once",
        area=city.streets[0],
        sample_size=4,
        items=[("垃圾桶满冒", 2)],
    )
    today = timezone.localdate()
    done = do_schedule_inspection(plan, acting_user=leader, inspector=inspector, on=today)
    do_record_finding(
        done,
        acting_user=inspector,
        description="湖滨路垃圾桶满冒",
        lon=WEST_A[0],
        lat=WEST_A[1],
        category=bins(),
        checklist_item=plan.items.first(),
        photos=[("bin.jpg", tiny_jpeg())],
    )
    do_finish_inspection(done, acting_user=inspector)
    notice = do_issue_notice(
        done,
        acting_user=leader,
        department=city.departments["HJWS"],
        deadline=today + timedelta(days=5),
    )
    todo = do_schedule_inspection(plan, acting_user=leader, inspector=inspector, on=today)
    do_ingest_detection(
        acting_user=leader,
        category=bins(),
        confidence=0.6,
        image=tiny_jpeg(),
        lon=WEST_B[0],
        lat=WEST_B[1],
        source="camera",
        device_id="CAM-7",
    )
    row = LedgerRow.objects.filter(campaign=campaign).order_by("pk").first()
    return {
        "campaign": campaign,
        "plan": plan,
        "done": done,
        "todo": todo,
        "re": Inspection.objects.get(reinspection_of=done),
        "notice": notice,
        "row": row,
    }


def pages(city, w) -> list[tuple[str, str]]:
    """(who, url) for every page of the app, each as a role that works with it."""
    c = w["campaign"].pk
    return [
        ("leader", "/campaigns/"),
        ("leader", "/campaigns/?archived=1"),
        ("leader", "/campaigns/new/"),
        ("leader", f"/campaigns/{c}/"),
        ("leader", f"/campaigns/{c}/edit/"),
        ("shift_lead", f"/campaigns/{c}/ledger/"),
        ("shift_lead", "/campaigns/ledger/"),
        ("shift_lead", f"/campaigns/ledger/{w['row'].pk}/"),
        ("sanitation", f"/campaigns/ledger/{w['row'].pk}/"),
        ("leader", "/campaigns/inspections/"),
        ("leader", "/campaigns/inspections/plans/new/"),
        ("leader", f"/campaigns/inspections/plans/{w['plan'].pk}/"),
        ("leader", f"/campaigns/inspections/{w['done'].pk}/onsite/"),
        ("inspector", f"/campaigns/inspections/{w['todo'].pk}/onsite/"),
        ("inspector", f"/campaigns/inspections/{w['re'].pk}/onsite/"),
        ("leader", "/campaigns/detections/"),
    ]


def test_with_english_chosen_no_page_shows_chinese_outside_the_data(client, city, world):
    english_client(client)
    data = stored_values()
    for who, url in pages(city, world):
        client.force_login(city.people[who])
        r = client.get(url)
        assert r.status_code == 200, url
        assert r.headers["Content-Language"] == "en"
        assert chinese_left(r.content.decode(), data) == [], (who, url)


def test_in_chinese_the_pages_keep_their_chinese_words(client, city, world):
    data = stored_values()
    for who, url in pages(city, world):
        client.force_login(city.people[who])
        page = client.get(url).content.decode()
        assert english_left(page, data) == set(), (who, url)
        for heading in headings(page, data):
            assert any("\u4e00" <= ch <= "\u9fff" for ch in heading), (url, heading)
    client.force_login(city.people["leader"])
    board = client.get(f"/campaigns/{world['campaign'].pk}/").content.decode()
    assert "反弹预警" in board and "整改台账" in board and "台账状态" in board


def test_the_board_reads_in_english(client, city, world):
    english_client(client).force_login(city.people["leader"])
    page = client.get(f"/campaigns/{world['campaign'].pk}/").content.decode()
    for words in ("Rectification ledger", "Rebound warnings", "Cases included", "Ended"):
        assert words in page


def test_the_ledger_sheet_has_english_headings_and_reads_back(city, world):
    rows = list(LedgerRow.objects.filter(campaign=world["campaign"]).order_by("pk"))
    with translation.override("en"):
        data = export_ledger_xlsx(rows, "Bins campaign rectification ledger")
    ws = load_workbook(io.BytesIO(data)).active
    assert ws.title == "Rectification ledger"
    assert [c.value for c in ws[2]] == [
        "No.",
        "Description",
        "Location",
        "Responsible unit",
        "Rectification measures",
        "Deadline",
        "Status",
        "Signed off at",
        "Remarks",
    ]
    assert ws["G3"].value == "Not rectified" and ws["I3"].value.startswith("Case ")
    # The English sheet is read back whatever the reader's language.
    parsed, errors = parse_ledger_xlsx(data)
    assert errors == [] and [r["description"] for r in parsed] == [r.description for r in rows]
    with translation.override("zh-hans"):
        ws = load_workbook(io.BytesIO(export_ledger_xlsx(rows, "台账"))).active
    assert ws["B2"].value == "问题描述" and ws.title == "整改台账"


def test_an_import_error_is_told_in_english(city, world):
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.append(["Description", "Responsible unit", "Deadline", "Colour"])
    buf = io.BytesIO()
    wb.save(buf)
    with translation.override("en"):
        _, errors = parse_ledger_xlsx(buf.getvalue())
        assert str(errors[0]).startswith("Row 1, column D (Colour): Unknown column “Colour”")


def test_the_notice_in_word_is_in_english_for_an_english_reader(city, world):
    notice = world["notice"]
    with translation.override("en"):
        doc = Document(io.BytesIO(notice_docx(notice)))
    text = "\n".join(p.text for p in doc.paragraphs)
    header = [c.text for c in doc.tables[0].rows[0].cells]
    assert header == ["No.", "Description", "Location", "Ledger no.", "Deduction"]
    assert "Rectification notice" in text and "Your unit is required to" in text
    deadline = notice.deadline
    assert f"{deadline.day:02d} {deadline:%B} {deadline.year}" in text
    data = stored_values()
    leftover = [
        line for line in text.splitlines() if any("\u4e00" <= ch <= "\u9fff" for ch in line)
    ]
    for line in leftover:
        for value in data:
            line = line.replace(value, "")
        assert not any("\u4e00" <= ch <= "\u9fff" for ch in line), line
    with translation.override("en"):
        content = notice_content(notice)
        assert notice_pdf(notice).startswith(b"%PDF")
    assert content.reinspection.startswith("Re-inspection: ")
    assert content.signer.startswith("Issued by: ")
    with translation.override("zh-hans"):
        doc = Document(io.BytesIO(notice_docx(notice)))
    assert doc.paragraphs[0].text == "整改通知书"
    assert [c.text for c in doc.tables[0].rows[0].cells][1] == "问题描述"
