"""The 曝光台: proposing, approving and withdrawing exposures, who may do what, what the public
sees, and what evaluation counts."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from gridcity.accounts.models import AuditEntry
from gridcity.evaluation import sources
from gridcity.lib.errors import Conflict, Forbidden, InvalidInput, NotFound
from gridcity.publicity.actions import (
    do_approve_exposure,
    do_propose_exposure,
    do_reject_exposure,
    do_submit_exposure,
    do_withdraw_exposure,
)
from gridcity.publicity.models import Exposure, ExposureState
from gridcity.publicity.rectification import rectification_of
from gridcity.publicity.tests.helpers import REPORTER_NAME, REPORTER_PHONE, act, citizen_case
from gridcity.testing import tiny_jpeg

pytestmark = pytest.mark.django_db

TEXT = "湖滨街道某菜场旁垃圾箱多日满溢未清运，经曝光后已清运并增加清运频次。"


def propose(city, case, who="intake", **kw):
    kw.setdefault("title", "菜场垃圾箱满溢多日无人清运")
    kw.setdefault("text", TEXT)
    return do_propose_exposure(acting_user=city.people[who], kind="case", case=case, **kw)


def published(city, case, **kw):
    exposure = propose(city, case, **kw)
    do_submit_exposure(exposure, acting_user=exposure.proposed_by)
    return do_approve_exposure(exposure, acting_user=city.people["leader"])


def history(exposure):
    return [
        (a.action, a.actor.username)
        for a in AuditEntry.objects.filter(
            object_type="publicity.exposure", object_id=str(exposure.pk)
        ).order_by("at", "pk")
    ]


def test_it_walks_an_exposure_from_proposal_to_publication_and_withdrawal(city):
    case = citizen_case(city)
    exposure = propose(city, case)
    assert exposure.state == ExposureState.DRAFT
    assert exposure.department == city.departments["HJWS"]
    assert exposure.category == case.category and exposure.area.name == "湖滨北社区"
    do_submit_exposure(exposure, acting_user=city.people["intake"])
    do_approve_exposure(exposure, acting_user=city.people["leader"])
    exposure.refresh_from_db()
    assert exposure.state == ExposureState.PUBLISHED
    assert exposure.decided_by == city.people["leader"] and exposure.published_at is not None
    do_withdraw_exposure(exposure, acting_user=city.people["shift_lead"], reason="涉及隐私，撤回")
    exposure.refresh_from_db()
    assert exposure.state == ExposureState.WITHDRAWN
    assert exposure.withdraw_reason == "涉及隐私，撤回"
    assert history(exposure) == [
        ("propose", "intake"),
        ("submit", "intake"),
        ("approve", "leader"),
        ("withdraw", "shift_lead"),
    ]


def test_a_rejection_needs_a_reason_and_is_audited(city):
    exposure = propose(city, citizen_case(city))
    do_submit_exposure(exposure, acting_user=city.people["intake"])
    with pytest.raises(InvalidInput) as err:
        do_reject_exposure(exposure, acting_user=city.people["shift_lead"], reason=" ")
    assert err.value.field == "reason"
    do_reject_exposure(exposure, acting_user=city.people["shift_lead"], reason="证据不足")
    exposure.refresh_from_db()
    assert (exposure.state, exposure.reject_reason) == (ExposureState.REJECTED, "证据不足")
    assert history(exposure)[-1] == ("reject", "shift_lead")
    with pytest.raises(Conflict):
        do_approve_exposure(exposure, acting_user=city.people["leader"])


def test_the_proposer_may_not_approve_their_own_exposure(city):
    exposure = propose(city, citizen_case(city), who="shift_lead")
    do_submit_exposure(exposure, acting_user=city.people["shift_lead"])
    with pytest.raises(Forbidden, match="自己"):
        do_approve_exposure(exposure, acting_user=city.people["shift_lead"])
    with pytest.raises(Forbidden):
        do_reject_exposure(exposure, acting_user=city.people["shift_lead"], reason="算了")
    exposure.refresh_from_db()
    assert exposure.state == ExposureState.SUBMITTED
    do_approve_exposure(exposure, acting_user=city.people["admin"])
    assert Exposure.objects.get(pk=exposure.pk).state == ExposureState.PUBLISHED


@pytest.mark.parametrize("who", ["intake", "dispatcher", "sanitation", "inspector"])
def test_only_leaders_shift_leads_and_admins_approve(city, who):
    exposure = propose(city, citizen_case(city), who="leader")
    do_submit_exposure(exposure, acting_user=city.people["leader"])
    with pytest.raises(Forbidden):
        do_approve_exposure(exposure, acting_user=city.people[who])


@pytest.mark.parametrize("who", ["sanitation", "sanitation_lead", "inspector"])
def test_only_centre_staff_propose(city, who):
    with pytest.raises(Forbidden):
        propose(city, citizen_case(city), who=who)
    assert not Exposure.objects.exists() and not AuditEntry.objects.exists()


def test_only_the_proposer_submits_and_only_approvers_withdraw_what_is_published(city):
    case = citizen_case(city)
    exposure = propose(city, case)
    with pytest.raises(Forbidden):
        do_submit_exposure(exposure, acting_user=city.people["dispatcher"])
    do_submit_exposure(exposure, acting_user=city.people["intake"])
    do_approve_exposure(exposure, acting_user=city.people["leader"])
    with pytest.raises(Forbidden):
        do_withdraw_exposure(exposure, acting_user=city.people["intake"], reason="不想曝光了")
    # A draft may be withdrawn by the one who wrote it.
    draft = propose(city, case, tone="positive", title="及时清运的好做法")
    do_withdraw_exposure(draft, acting_user=city.people["intake"], reason="重复")
    assert Exposure.objects.get(pk=draft.pk).state == ExposureState.WITHDRAWN


def test_bad_input_names_the_field(city):
    case = citizen_case(city, until="handling")
    with pytest.raises(InvalidInput) as err:
        propose(city, case, title="  ")
    assert err.value.field == "title"
    with pytest.raises(InvalidInput) as err:
        propose(city, case, text="")
    assert err.value.field == "text"
    with pytest.raises(NotFound) as err:
        propose(city, "20990101999999")
    assert err.value.field == "case"
    with pytest.raises(InvalidInput) as err:
        do_propose_exposure(
            acting_user=city.people["intake"], kind="person", title="x", text="y", case=case
        )
    assert err.value.field == "kind"
    with pytest.raises(InvalidInput, match="已结案"):
        propose(city, case, tone="positive")
    with pytest.raises(InvalidInput) as err:
        do_propose_exposure(
            acting_user=city.people["intake"],
            kind="unit",
            department=city.departments["CGZF"],
            case_numbers=[case.number],
            title="执法科室多次超期",
            text=TEXT,
        )
    assert err.value.field == "cases" and "城市管理执法科室" in err.value.message
    assert not Exposure.objects.exists()


def test_the_public_text_may_carry_no_personal_data(city):
    case = citizen_case(city)
    for text in (f"{REPORTER_NAME}反映的问题已解决", "详情请致电13800138000"):
        with pytest.raises(InvalidInput) as err:
            propose(city, case, text=text)
        assert err.value.field == "text"
    with pytest.raises(InvalidInput):
        propose(city, case, title=f"{REPORTER_PHONE}反映")


def test_one_standing_exposure_per_case_and_tone(city):
    case = citizen_case(city)
    first = propose(city, case)
    with pytest.raises(Conflict):
        propose(city, case)
    propose(city, case, tone="positive", title="好的做法")  # praise is a different exposure
    do_withdraw_exposure(first, acting_user=city.people["intake"], reason="写错了")
    propose(city, case, title="重新拟稿")


def test_the_rectification_state_follows_the_case(city):
    case = citizen_case(city, until="handling")
    exposure = published(city, case)
    assert rectification_of(exposure).label == "处置中"
    act(city, case, "report_back", "sanitation", note="已清运", photos=[("a.jpg", tiny_jpeg())])
    exposure = Exposure.objects.get(pk=exposure.pk)
    assert rectification_of(exposure).code == "checking"
    act(city, case, "check_pass", "inspector")
    act(city, case, "close", "shift_lead")
    exposure = Exposure.objects.get(pk=exposure.pk)
    assert rectification_of(exposure).label == "已整改"


def test_a_unit_exposure_counts_its_cases_rectified(city):
    done = citizen_case(city)
    open_case = citizen_case(city, until="handling", point=(120.1640, 30.2420))
    exposure = do_propose_exposure(
        acting_user=city.people["dispatcher"],
        kind="unit",
        department=city.departments["HJWS"],
        case_numbers=[done.number, open_case.number, done.number],
        title="环境卫生科室垃圾满溢问题反复出现",
        text="近期同类问题多次超期处置。",
    )
    assert exposure.department == city.departments["HJWS"] and exposure.case is None
    assert exposure.cases.count() == 2
    rect = rectification_of(exposure)
    assert (rect.code, rect.done, rect.total) == ("handling", 1, 2)
    assert rect.label == "整改中（已整改 1 / 2 件）"
    with pytest.raises(Conflict):
        do_propose_exposure(
            acting_user=city.people["intake"],
            kind="unit",
            department=city.departments["HJWS"],
            case_numbers=[done.number],
            title="再次曝光",
            text="同上",
        )


def test_the_public_page_shows_only_published_exposures_and_no_personal_data(client, city):
    shown = published(city, citizen_case(city), title="已发布的曝光")
    waiting = propose(city, citizen_case(city, point=(120.1640, 30.2420)), title="待审批的曝光")
    do_submit_exposure(waiting, acting_user=city.people["intake"])
    gone = published(
        city, citizen_case(city, point=(120.1650, 30.2430)), title="已撤回的曝光", who="dispatcher"
    )
    do_withdraw_exposure(gone, acting_user=city.people["leader"], reason="整改对象有误")

    response = client.get("/public/exposures/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "已发布的曝光" in html
    assert "待审批的曝光" not in html and "已撤回的曝光" not in html
    assert "已整改" in html and "环境卫生科室" in html
    case = shown.case
    before = case.attachments.get(kind="report")
    after = case.attachments.get(kind="after")
    assert before.public_file.url in html and after.public_file.url in html
    assert before.file.url not in html and after.file.url not in html
    staff = ["受理员小李", "陈主任", "环卫小张", "网格员小赵", "值班长老周", "派遣员小王"]
    for private in [REPORTER_NAME, REPORTER_PHONE, case.number, *staff]:
        assert private not in html

    detail = client.get(f"/public/exposures/{shown.pk}/")
    assert detail.status_code == 200
    page = detail.content.decode()
    assert TEXT in page and before.public_file.url in page
    for private in [REPORTER_NAME, REPORTER_PHONE, *staff]:
        assert private not in page
    assert client.get(f"/public/exposures/{waiting.pk}/").status_code == 404
    assert client.get(f"/public/exposures/{gone.pk}/").status_code == 404
    # The public copy is served to anyone; the original (with GPS) is not.
    assert client.get(before.public_file.url).status_code == 200
    assert client.get(before.file.url).status_code == 404


def test_the_public_list_reads_a_fixed_number_of_queries(
    client, city, django_assert_max_num_queries
):
    published(city, citizen_case(city))
    with django_assert_max_num_queries(12) as one:
        client.get("/public/exposures/")
    for i, point in enumerate([(120.1640, 30.2420), (120.1650, 30.2430)]):
        published(city, citizen_case(city, point=point), title=f"曝光{i}")
    with django_assert_max_num_queries(len(one.captured_queries)):
        html = client.get("/public/exposures/").content.decode()
    assert html.count('class="card expo-card"') == 3


def test_evaluation_counts_published_negative_exposures_per_department(city):
    source = sources.get("exposures")
    assert source is not None and source.label == "曝光次数"
    today = timezone.localdate()
    first = published(city, citizen_case(city))
    published(city, citizen_case(city, point=(120.1640, 30.2420)))
    praise = propose(city, first.case, tone="positive", title="清运及时")
    do_submit_exposure(praise, acting_user=city.people["intake"])
    do_approve_exposure(praise, acting_user=city.people["leader"])
    waiting = propose(city, citizen_case(city, point=(120.1650, 30.2430)), title="待审批")
    do_submit_exposure(waiting, acting_user=city.people["intake"])

    sanitation = city.departments["HJWS"].pk
    assert source.compute(today, today) == {sanitation: Decimal(2)}
    assert source.compute(today - timedelta(days=30), today - timedelta(days=1)) == {}
    do_withdraw_exposure(first, acting_user=city.people["leader"], reason="撤回")
    assert source.compute(today.replace(day=1), today) == {sanitation: Decimal(1)}
    url = source.detail_url(sanitation, today, today)
    assert url.startswith("/publicity/?") and f"department={sanitation}" in url


# --- the office pages ---------------------------------------------------------------------


def test_the_board_is_for_the_centre_only(client, city):
    client.force_login(city.people["sanitation"])
    assert client.get("/publicity/").status_code == 403
    assert client.get("/publicity/new/").status_code == 403
    client.force_login(city.people["intake"])
    assert client.get("/publicity/").status_code == 200


def test_the_board_approves_in_place_and_shows_a_refusal_in_the_row(client, city):
    exposure = propose(city, citizen_case(city), who="shift_lead")
    do_submit_exposure(exposure, acting_user=city.people["shift_lead"])
    client.force_login(city.people["shift_lead"])
    html = client.get("/publicity/?state=submitted").content.decode()
    assert exposure.title in html and "审批通过并发布" not in html  # not for its proposer
    refused = client.post(f"/publicity/{exposure.pk}/approve/", HTTP_HX_REQUEST="true")
    assert "不能审批自己提出的曝光" in refused.content.decode()
    assert Exposure.objects.get(pk=exposure.pk).state == ExposureState.SUBMITTED

    client.force_login(city.people["leader"])
    html = client.get("/publicity/?state=submitted").content.decode()
    assert "审批通过并发布" in html
    row = client.post(f"/publicity/{exposure.pk}/approve/", HTTP_HX_REQUEST="true")
    assert row.status_code == 200
    assert (
        f'id="exposure-{exposure.pk}"' in row.content.decode() and "已发布" in row.content.decode()
    )
    assert Exposure.objects.get(pk=exposure.pk).state == ExposureState.PUBLISHED


def test_a_withdrawal_without_a_reason_is_a_form_error(client, city):
    exposure = published(city, citizen_case(city))
    client.force_login(city.people["leader"])
    response = client.post(f"/publicity/{exposure.pk}/withdraw/", {"reason": ""})
    assert response.status_code == 422
    assert "请填写撤回理由" in response.content.decode()
    response = client.post(f"/publicity/{exposure.pk}/withdraw/", {"reason": "对象有误"})
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert "已撤回" in page and "撤回：对象有误" in page  # the 操作记录
    assert client.post(f"/publicity/{exposure.pk}/erase/").status_code == 404


def test_a_case_is_proposed_from_its_page(client, city):
    case = citizen_case(city)
    client.force_login(city.people["sanitation"])
    assert "拟曝光" not in client.get(f"/cases/{case.number}/").content.decode()
    client.force_login(city.people["intake"])
    assert (
        f"/publicity/new/?case={case.number}"
        in client.get(f"/cases/{case.number}/").content.decode()
    )
    form = client.get(f"/publicity/new/?case={case.number}").content.decode()
    assert case.attachments.get(kind="after").public_file.url in form

    bad = client.post("/publicity/new/", {"kind": "case", "case": case.number, "text": TEXT})
    assert bad.status_code == 422
    assert "请填写标题" in bad.content.decode() and TEXT in bad.content.decode()
    ok = client.post(
        "/publicity/new/",
        {"kind": "case", "case": case.number, "title": "菜场垃圾箱", "text": TEXT, "submit": "1"},
    )
    exposure = Exposure.objects.get()
    assert ok["Location"] == f"/publicity/{exposure.pk}/"
    assert exposure.state == ExposureState.SUBMITTED and exposure.proposed_by.username == "intake"


def test_the_unit_form_lists_the_units_troubled_cases(client, city):
    returned = citizen_case(city, until="handling")
    client.force_login(city.people["dispatcher"])
    dept = city.departments["HJWS"].pk
    assert (
        returned.number
        not in client.get(f"/publicity/new/cases/?department={dept}").content.decode()
    )
    act(city, returned, "report_back", "sanitation", photos=[("a.jpg", tiny_jpeg())])
    act(city, returned, "check_fail", "inspector", note="仍有垃圾")
    html = client.get(f"/publicity/new/cases/?department={dept}").content.decode()
    assert returned.number in html and "返工 1 次" in html
    form = client.get(f"/publicity/new/?kind=unit&department={dept}").content.decode()
    assert f'value="{returned.number}"' in form and 'hx-get="/publicity/new/cases/"' in form
    response = client.post(
        "/publicity/new/",
        {
            "kind": "unit",
            "department": dept,
            "cases": [returned.number],
            "title": "返工",
            "text": "x",
        },
    )
    assert response.status_code == 302
    assert Exposure.objects.get().cases.get() == returned
