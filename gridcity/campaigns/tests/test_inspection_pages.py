"""Inspections and detections run from the pages: a plan made and refused, a reproducible
sample, an undercover check hidden from the unit until it is done, the notice in Word and PDF,
the re-inspection, and the review of camera detections — each with who may and may not, and
the audit rows left behind."""

import io
from datetime import date, timedelta

import pytest
from django.utils import timezone
from docx import Document

from gridcity.accounts.models import AuditEntry
from gridcity.campaigns.actions import (
    do_create_plan,
    do_finish_inspection,
    do_ingest_detection,
    do_record_finding,
    do_reschedule_inspection,
    do_schedule_inspection,
    do_transition_ledger_row,
    sample_cells,
)
from gridcity.campaigns.models import (
    Finding,
    FindingOutcome,
    Inspection,
    InspectionPlan,
    LedgerStatus,
    RectificationNotice,
)
from gridcity.campaigns.tests.helpers import WEST_A, WEST_B, bins
from gridcity.cases.models import Case, Channel
from gridcity.grids.models import Area, AreaLevel
from gridcity.lib.errors import Conflict, Forbidden, InvalidInput
from gridcity.testing import build_city, tiny_jpeg

pytestmark = pytest.mark.django_db


@pytest.fixture
def city():
    return build_city()


def as_(client, city, who):
    client.force_login(city.people[who])
    return client


def audit_actions(obj) -> list[str]:
    return list(
        AuditEntry.objects.filter(
            object_type=obj._meta.label_lower, object_id=str(obj.pk)
        ).values_list("action", flat=True)
    )


def plan(city, openness="undercover", method="random", **kw):
    return do_create_plan(
        acting_user=city.people["leader"],
        name=kw.pop("name", "垃圾桶满冒暗访"),
        content="垃圾桶满冒、周边散落垃圾",
        method=method,
        openness=openness,
        scope="thematic",
        frequency="once",
        area=city.streets[0],
        sample_size=4,
        items=[("垃圾桶满冒", 2)],
        **kw,
    )


def scheduled(city, p, who="inspector"):
    return do_schedule_inspection(
        p, acting_user=city.people["leader"], inspector=city.people[who], on=timezone.localdate()
    )


def found(city, insp, where=WEST_A, text="湖滨路垃圾桶满冒"):
    return do_record_finding(
        insp,
        acting_user=city.people["inspector"],
        description=text,
        lon=where[0],
        lat=where[1],
        category=bins(),
        checklist_item=insp.plan.items.first(),
        photos=[("bin.jpg", tiny_jpeg())],
    )


PLAN_FORM = {
    "name": "消防通道随机抽查",
    "content": "占用消防通道、堆放杂物",
    "method": "random",
    "openness": "undercover",
    "scope": "thematic",
    "frequency": "weekly",
    "sample_size": 3,
    "items": "占用消防通道 3\n堆放杂物",
}


def test_it_creates_a_plan_from_the_page_and_names_the_bad_field(client, city):
    data = {**PLAN_FORM, "area": city.streets[0].pk}
    assert (
        as_(client, city, "inspector").post("/campaigns/inspections/plans/new/", data).status_code
        == 403
    )
    c = as_(client, city, "leader")
    r = c.post("/campaigns/inspections/plans/new/", {**data, "name": ""})
    assert r.status_code == 200 and "这个字段是必填项" in r.content.decode()
    r = c.post("/campaigns/inspections/plans/new/", {**data, "sample_size": 0})
    assert 'id="field-sample_size"' in r.content.decode() and "error" in r.content.decode()
    r = c.post("/campaigns/inspections/plans/new/", {**data, "items": "占用消防通道 500"})
    assert "扣分应在 0 到 100 之间" in r.content.decode()
    assert not InspectionPlan.objects.exists()
    r = c.post("/campaigns/inspections/plans/new/", data, follow=True)
    p = InspectionPlan.objects.get()
    assert r.redirect_chain[-1][0] == f"/campaigns/inspections/plans/{p.pk}/"
    assert [(i.text, i.deduction) for i in p.items.all()] == [("占用消防通道", 3), ("堆放杂物", 1)]
    assert (p.method, p.openness, p.frequency, p.owner) == (
        "random",
        "undercover",
        "weekly",
        city.people["leader"],
    )
    assert audit_actions(p) == ["create"]
    assert "制定督查计划“消防通道随机抽查”" in r.content.decode()  # 操作记录


def test_the_plan_action_refuses_bad_choices_and_outsiders(city):
    with pytest.raises(InvalidInput) as e:
        plan(city, openness="secret")
    assert e.value.field == "openness"
    with pytest.raises(Forbidden):
        do_create_plan(
            acting_user=city.people["sanitation"],
            name="x",
            content="y",
            method="planned",
            openness="open",
            scope="thematic",
            frequency="once",
            area=city.district,
        )
    p = plan(city)
    with pytest.raises(Forbidden):
        do_schedule_inspection(
            p,
            acting_user=city.people["inspector"],
            inspector=city.people["inspector"],
            on=date.today(),
        )
    with pytest.raises(InvalidInput) as e:
        do_schedule_inspection(
            p,
            acting_user=city.people["leader"],
            inspector=city.people["sanitation"],
            on=date.today(),
        )
    assert e.value.field == "inspector"


def test_the_sample_is_previewed_scheduled_and_reproducible(client, city):
    p = plan(city)
    c = as_(client, city, "leader")
    url = f"/campaigns/inspections/plans/{p.pk}/"
    query = {"inspector": city.people["inspector"].pk, "on": "2026-12-07", "seed": "第49周"}
    html = c.get(url, query).content.decode()
    street_cells = Area.objects.filter(level=AreaLevel.CELL, path__startswith=city.streets[0].path)
    codes = sample_cells(list(street_cells.values_list("code", flat=True)), 4, "第49周")
    assert len(codes) == 4 and all(f'data-code="{code}"' in html for code in codes)
    assert c.get(url, query).content.decode().count('data-code="') == 4
    r = c.post(url, query, follow=True)
    insp = Inspection.objects.get()
    assert sorted(insp.cells.values_list("code", flat=True)) == codes and insp.seed == "第49周"
    assert r.redirect_chain[-1][0] == f"/campaigns/inspections/{insp.pk}/onsite/"
    assert "抽中网格（4）" in r.content.decode()
    entry = AuditEntry.objects.get(object_type="campaigns.inspection", action="schedule")
    assert entry.data["seed"] == "第49周" and entry.data["cells"] == codes
    r = c.post(url, {**query, "inspector": ""})
    assert "这个字段是必填项" in r.content.decode() and Inspection.objects.count() == 1


def test_an_undercover_check_is_hidden_from_the_unit_until_it_is_done(client, city):
    secret = scheduled(city, plan(city))
    announced = scheduled(city, plan(city, openness="open", method="planned", name="明察"))
    unit = as_(client, city, "sanitation")
    listing = unit.get("/campaigns/inspections/").content.decode()
    assert announced.number in listing and secret.number not in listing
    assert unit.get(f"/campaigns/inspections/{secret.pk}/onsite/").status_code == 404
    found(city, secret)
    assert unit.get(f"/campaigns/inspections/{secret.pk}/onsite/").status_code == 404
    do_finish_inspection(secret, acting_user=city.people["inspector"])
    page = unit.get(f"/campaigns/inspections/{secret.pk}/onsite/").content.decode()
    assert "湖滨路垃圾桶满冒" in page and 'id="finding-form"' not in page
    assert (
        unit.post(f"/campaigns/inspections/{announced.pk}/onsite/", {"op": "finish"}).status_code
        == 403
    )
    # Another unit with nothing found never sees the undercover check.
    other = as_(client, city, "enforcement")
    assert other.get(f"/campaigns/inspections/{secret.pk}/onsite/").status_code == 404


def test_a_notice_comes_as_word_and_pdf_and_the_reinspection_closes_it(client, city):
    insp = scheduled(city, plan(city))
    finding = found(city, insp)
    c = as_(client, city, "leader")
    url = f"/campaigns/inspections/{insp.pk}/onsite/"
    r = c.post(
        url,
        {"op": "notice", "department": city.departments["HJWS"].pk, "deadline": ""},
        follow=True,
    )
    assert "整改期限：请填写整改期限" in r.content.decode()
    deadline = timezone.localdate() + timedelta(days=5)
    r = c.post(
        url,
        {
            "op": "notice",
            "department": city.departments["HJWS"].pk,
            "deadline": deadline.isoformat(),
        },
        follow=True,
    )
    notice = RectificationNotice.objects.get()
    assert f"已下发整改通知书 {notice.number}" in r.content.decode()
    assert audit_actions(notice) == ["issue"]
    assert audit_actions(notice.reinspection) == ["schedule"]

    r = as_(client, city, "sanitation").get(f"/campaigns/notices/{notice.pk}.docx")
    assert r.status_code == 200 and "attachment" in r["Content-Disposition"]
    doc = Document(io.BytesIO(r.content))
    text = "\n".join(p.text for p in doc.paragraphs)
    assert "整改通知书" in text and notice.number in text and "环境卫生科室：" in text
    assert f"{deadline:%Y年%m月%d日}" in text
    table = doc.tables[0]
    assert [cell.text for cell in table.rows[0].cells] == [
        "序号",
        "问题描述",
        "位置",
        "台账编号",
        "扣分",
    ]
    assert table.rows[1].cells[1].text == "湖滨路垃圾桶满冒"
    assert table.rows[1].cells[3].text == finding.ledger_row.number
    assert c.get(f"/campaigns/notices/{notice.pk}.pdf").content.startswith(b"%PDF")
    assert (
        as_(client, city, "enforcement").get(f"/campaigns/notices/{notice.pk}.docx").status_code
        == 404
    )

    re_url = f"/campaigns/inspections/{notice.reinspection.pk}/onsite/"
    ins = as_(client, city, "inspector")
    assert "责任单位尚未提交整改" in ins.get(re_url).content.decode()
    r = ins.post(re_url, {"op": "finish", "passed": "yes"}, follow=True)
    assert "尚未销号，复查不能通过" in r.content.decode()
    row = finding.ledger_row
    do_transition_ledger_row(
        row,
        "submit",
        acting_user=city.people["sanitation"],
        photos=[("a.jpg", tiny_jpeg((9, 160, 9)))],
    )
    r = ins.post(re_url, {"op": "verify", "row": row.pk, "note": ""}, follow=True)
    assert "销号须填写理由" in r.content.decode()
    ins.post(re_url, {"op": "verify", "row": row.pk, "note": "复查已清运"})
    row.refresh_from_db()
    assert row.status == LedgerStatus.SIGNED_OFF
    ins.post(re_url, {"op": "finish", "passed": "yes", "note": "已整改"})
    notice.refresh_from_db()
    assert notice.closed_at is not None and notice.reinspection.passed is True
    assert audit_actions(notice) == ["close", "issue"]
    assert "finish" in audit_actions(notice.reinspection)


def test_a_scheduled_check_is_moved_but_a_finished_one_is_not(city):
    insp = scheduled(city, plan(city))
    later = timezone.localdate() + timedelta(days=2)
    do_reschedule_inspection(
        insp, acting_user=city.people["shift_lead"], on=later, inspector=city.people["inspector2"]
    )
    insp.refresh_from_db()
    assert (insp.scheduled_for, insp.inspector) == (later, city.people["inspector2"])
    assert audit_actions(insp) == ["reschedule", "schedule"]
    with pytest.raises(Forbidden):
        do_reschedule_inspection(insp, acting_user=city.people["inspector2"], on=later)
    do_finish_inspection(insp, acting_user=city.people["inspector2"])
    with pytest.raises(Conflict):
        do_reschedule_inspection(insp, acting_user=city.people["leader"], on=later)


def detection(city, where=WEST_A, confidence=0.7, device="CAM-湖滨-01"):
    return do_ingest_detection(
        acting_user=city.people["leader"],
        category=bins(),
        confidence=confidence,
        image=tiny_jpeg(),
        lon=where[0],
        lat=where[1],
        source="camera",
        device_id=device,
    ).finding


def test_detections_are_accepted_into_cases_or_rejected_with_a_reason(client, city):
    keep, drop = detection(city), detection(city, WEST_B, 0.55, "UAV-02")
    assert keep.outcome == FindingOutcome.REVIEW and audit_actions(keep) == ["ingest"]
    assert as_(client, city, "sanitation").get("/campaigns/detections/").status_code == 403
    c = as_(client, city, "intake")
    html = c.get("/campaigns/detections/").content.decode()
    assert f'id="det-{keep.pk}"' in html and f'id="det-{drop.pk}"' in html and "70%" in html
    r = c.post(
        "/campaigns/detections/", {"op": "reject", "finding": drop.pk, "reason": " "}, follow=True
    )
    assert "驳回理由：请填写驳回理由" in r.content.decode()
    assert Finding.objects.get(pk=drop.pk).outcome == FindingOutcome.REVIEW
    r = c.post(
        "/campaigns/detections/",
        {"op": "accept", "finding": keep.pk, "category": "99999"},
        follow=True,
    )
    assert "未知类别：99999" in r.content.decode() and not Case.objects.exists()

    r = c.post(
        "/campaigns/detections/",
        {"op": "accept", "finding": keep.pk, "note": "确有满溢"},
        follow=True,
    )
    keep.refresh_from_db()
    case = keep.case
    assert keep.outcome == FindingOutcome.CASE and keep.reviewed_by == city.people["intake"]
    assert case.channel == Channel.CAMERA and case.cell_id == keep.cell_id
    assert case.department == city.departments["HJWS"]  # filed and dispatched like any report
    assert case.attachments.count() == 1
    assert f"已立案 {case.number}" in r.content.decode()
    assert audit_actions(keep) == ["accept", "ingest"]

    c.post("/campaigns/detections/", {"op": "reject", "finding": drop.pk, "reason": "误识别"})
    drop.refresh_from_db()
    assert drop.outcome == FindingOutcome.REJECTED and drop.review_note == "误识别"
    assert drop.case is None and Case.objects.count() == 1
    entry = AuditEntry.objects.get(
        object_type="campaigns.finding", object_id=str(drop.pk), action="reject"
    )
    assert entry.actor == city.people["intake"] and entry.data["reason"] == "误识别"
    r = c.post("/campaigns/detections/", {"op": "accept", "finding": drop.pk}, follow=True)
    assert "已处理（研判驳回）" in r.content.decode() and Case.objects.count() == 1
    html = c.get("/campaigns/detections/").content.decode()
    assert "没有待研判的识别结果" in html and "驳回（误识别）" in html and case.number in html


def test_the_review_api_accepts_and_rejects(client, city):
    a, b = detection(city), detection(city, WEST_B, 0.6, "UAV-03")
    c = as_(client, city, "shift_lead")
    r = c.get("/api/campaigns/detections/review")
    assert [d["id"] for d in r.json()] == [a.pk, b.pk]
    r = c.post(f"/api/campaigns/detections/{a.pk}/accept", {}, content_type="application/json")
    assert r.status_code == 200 and r.json()["case_number"]
    r = c.post(
        f"/api/campaigns/detections/{b.pk}/reject", {"reason": ""}, content_type="application/json"
    )
    assert r.status_code == 422
    r = c.post(
        f"/api/campaigns/detections/{b.pk}/reject",
        {"reason": "重复"},
        content_type="application/json",
    )
    assert r.json()["outcome"] == "rejected"
    r = c.post(
        f"/api/campaigns/detections/{b.pk}/reject",
        {"reason": "重复"},
        content_type="application/json",
    )
    assert r.status_code == 409
    h = as_(client, city, "sanitation")
    assert h.get("/api/campaigns/detections/review").status_code == 403
