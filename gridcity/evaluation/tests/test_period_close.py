"""Freezing, publishing, the 通报, the pages and the API, on the September scenario."""

from decimal import Decimal

import pytest
from django.test import Client

from gridcity.cases.models import Case
from gridcity.evaluation.actions import (
    do_file_appeal,
    do_freeze_period,
    do_publish_period,
    do_review_appeal,
)
from gridcity.evaluation.compute import drilldown, get_ranking
from gridcity.evaluation.reports import bulletin_pdf, bulletin_xlsx
from gridcity.evaluation.tests.scenario import act, at, build_september
from gridcity.lib.errors import Conflict, Forbidden


@pytest.fixture
def september(city):
    return build_september(city)


def enforcement(period="2025-09"):
    r = get_ranking(period, "department")
    return next(u for u in r.units if u.unit.name == "城市管理执法科室")


def test_a_frozen_period_does_not_change_when_its_cases_change(city, september):
    do_freeze_period("2025-09", acting_user=city.people["leader"], now=at(10, 10, 9))
    before = enforcement()
    assert before.figures["close_rate"].value == Decimal("80.00")
    # G is signed, handled and closed later; B's late handling is forgiven on appeal.
    g = september["G"]
    act(city, g, "sign", "enforcement", at(10, 11, 9))
    act(city, g, "report_back", "enforcement", at(10, 11, 9, 30))
    act(city, g, "check_pass", "inspector", at(10, 11, 9, 40))
    act(city, g, "close", "shift_lead", at(10, 11, 9, 50))
    a = do_file_appeal(september["B"], acting_user=city.people["enforcement"], reason="封路")
    do_review_appeal(a, acting_user=city.people["dispatcher"], approve=True)
    do_review_appeal(a, acting_user=city.people["leader"], approve=True)
    Case.objects.filter(pk=september["A"].pk).update(number="EDITED")
    after = enforcement()
    assert after.figures == before.figures and after.score == before.score
    rows = drilldown("handle_due", "department", str(city.departments["CGZF"].pk), "2025-09")
    assert september["A"].number in {r["case_number"] for r in rows["numerator"]}


def test_it_freezes_only_ended_periods_once_and_publishes_by_a_leader(city, september):
    with pytest.raises(Conflict):
        do_freeze_period("2025-10", acting_user=city.people["leader"], now=at(10, 10, 9))
    with pytest.raises(Forbidden):
        do_freeze_period("2025-09", acting_user=city.people["sanitation"], now=at(10, 10, 9))
    do_freeze_period("2025-09", acting_user=city.people["shift_lead"], now=at(10, 10, 9))
    with pytest.raises(Conflict):
        do_freeze_period("2025-09", acting_user=city.people["leader"], now=at(10, 10, 9))
    with pytest.raises(Forbidden):
        do_publish_period("2025-09", acting_user=city.people["shift_lead"])
    assert do_publish_period("2025-09", acting_user=city.people["leader"]).status == "published"
    with pytest.raises(Conflict):
        do_publish_period("2025-09", acting_user=city.people["leader"])


def test_an_appeal_is_one_per_closed_case_and_needs_two_reviewers(city, september):
    with pytest.raises(Conflict):  # A was never late
        do_file_appeal(september["A"], acting_user=city.people["enforcement"], reason="x")
    with pytest.raises(Forbidden):
        do_file_appeal(september["B"], acting_user=city.people["dispatcher"], reason="x")
    a = do_file_appeal(september["B"], acting_user=city.people["enforcement"], reason="封路")
    with pytest.raises(Conflict):
        do_file_appeal(september["B"], acting_user=city.people["enforcement"], reason="再诉")
    with pytest.raises(Forbidden):  # a leader reviews second, not first
        do_review_appeal(a, acting_user=city.people["enforcement"], approve=True)
    a = do_review_appeal(a, acting_user=city.people["dispatcher"], approve=True)
    assert a.status == "first_approved"
    with pytest.raises(Forbidden):
        do_review_appeal(a, acting_user=city.people["dispatcher"], approve=True)
    a = do_review_appeal(a, acting_user=city.people["leader"], approve=False, note="理由不足")
    assert a.status == "rejected" and a.log.count() == 3
    assert enforcement().figures["closed_on_time"].value == 3


def test_it_writes_the_bulletin_in_chinese(city, september):
    do_freeze_period("2025-09", acting_user=city.people["leader"], now=at(10, 10, 9))
    pdf = bulletin_pdf("2025-09")
    assert pdf.startswith(b"%PDF") and len(pdf) > 2000
    from io import BytesIO

    from openpyxl import load_workbook

    wb = load_workbook(BytesIO(bulletin_xlsx("2025-09")))
    assert wb.sheetnames[:5] == ["部门排名", "通报表扬", "通报批评", "超期案件", "推诿（回退）案件"]
    names = [r[1] for r in wb["部门排名"].iter_rows(min_row=5, values_only=True)]
    assert names[:2] == ["市政设施科室", "城市管理执法科室"]
    returned = [r[0] for r in wb["推诿（回退）案件"].iter_rows(min_row=2, values_only=True)]
    assert returned == [september["D"].number]


def test_the_pages_and_api_answer_the_leader_and_not_the_outsider(city, september):
    do_freeze_period("2025-09", acting_user=city.people["leader"], now=at(10, 10, 9))
    dept = city.departments["CGZF"].pk
    leader, clerk, outsider = Client(), Client(), Client()
    leader.force_login(city.people["leader"])
    clerk.force_login(city.people["sanitation"])
    for url in (
        "/evaluation/?period=2025-09",
        "/evaluation/?period=2025-09&unit_type=area&level=3",
        f"/evaluation/unit/department/{dept}/?period=2025-09",
        f"/evaluation/drilldown/?indicator=close_rate&unit_type=department&unit={dept}&period=2025-09",
        "/evaluation/map/?period=2025-09",
        f"/evaluation/accountability/{dept}/?period=2025-09",
        "/evaluation/appeals/",
        "/evaluation/bulletin/2025-09.xlsx",
    ):
        assert leader.get(url).status_code == 200, url
    assert outsider.get("/evaluation/").status_code == 302
    assert clerk.get("/evaluation/?period=2025-09").status_code == 403
    assert clerk.get(f"/evaluation/unit/department/{dept}/?period=2025-09").status_code == 403
    body = leader.get(
        f"/api/evaluation/drilldown?indicator=reworks&unit_type=department&unit={dept}&period=2025-09"
    ).json()
    assert body["cases"] == [september["C"].number] and len(body["numerator"]) == 2
    body = leader.get("/api/evaluation/indicators?unit_type=department&period=2025-09").json()
    cg = next(u for u in body["units"] if u["name"] == "城市管理执法科室")
    assert cg["indicators"]["close_rate"] == {
        "name": "结案率",
        "value": "80.00",
        "numerator": 4,
        "denominator": 5,
        "drilldown": cg["indicators"]["close_rate"]["drilldown"],
    }
    assert (
        clerk.get("/api/evaluation/indicators?unit_type=department&period=2025-09").status_code
        == 403
    )
    assert leader.get("/api/evaluation/indicators?unit_type=x&period=2025-09").status_code == 422
    assert leader.get("/api/evaluation/indicators?unit_type=area&period=2025-13").status_code == 422


def test_a_long_drilldown_comes_a_page_at_a_time(city, september, monkeypatch):
    from gridcity.evaluation import compute

    monkeypatch.setattr(compute, "DRILL_PAGE", 2)
    dept = city.departments["CGZF"].pk
    leader = Client()
    leader.force_login(city.people["leader"])
    url = (
        f"/api/evaluation/drilldown?indicator=handle_on_time_rate&unit_type=department"
        f"&unit={dept}&period=2025-09"
    )
    pages = [leader.get(f"{url}&page={p}").json() for p in (1, 2, 3)]
    assert [p["numerator_total"] for p in pages] == [5, 5, 5]  # A, C ×3, F
    assert [len(p["numerator"]) for p in pages] == [2, 2, 1]
    assert [p["pages"] for p in pages] == [3, 3, 3]
    seen = [r["case"] for p in pages for r in p["numerator"]]
    assert sorted(seen) == sorted(
        [september[k].number for k in "ACCCF"]
    )  # every row once, in order of time
    assert leader.get(f"{url}&page=0").status_code == 422
    page = leader.get(f"/evaluation/drilldown/?{url.split('?')[1]}&page=2")
    assert "第 2 / 3 页" in page.content.decode() and "计入分子（5）" in page.content.decode()


def test_a_period_is_frozen_from_the_command_line(city, september):
    import io

    from django.core.management import CommandError, call_command

    out = io.StringIO()
    call_command("freeze-period", "2025-09", "--user", "leader", stdout=out)
    assert "2025-09 已冻结" in out.getvalue()
    assert get_ranking("2025-09", "department").frozen
    with pytest.raises(CommandError, match="已冻结"):
        call_command("freeze-period", "2025-09", "--user", "leader")
    with pytest.raises(CommandError, match="只有领导或值班长"):
        call_command("freeze-period", "2025-08", "--user", "sanitation")


def test_a_big_month_is_frozen_by_the_task_worker(city, september, settings, monkeypatch):
    from django_tasks import task_backends

    from gridcity.evaluation import actions

    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    backend = task_backends["default"]
    backend.clear()
    monkeypatch.setattr(actions, "FREEZE_INLINE_FACTS", 10)  # September has more facts
    get_ranking("2025-09", "department")  # the day counts the size is read from
    leader = Client()
    leader.force_login(city.people["leader"])
    page = leader.post("/evaluation/close/", {"period": "2025-09"}, follow=True)
    assert "已转入后台冻结" in page.content.decode()
    assert not get_ranking("2025-09", "department").frozen  # not yet
    (queued,) = backend.results
    assert queued.task.call(*queued.args, **queued.kwargs) == "2025-09"
    assert get_ranking("2025-09", "department").frozen
    # Refusals come back at once, not from the worker.
    clerk = Client()
    clerk.force_login(city.people["shift_lead"])
    page = clerk.post("/evaluation/close/", {"period": "2099-01"}, follow=True)
    assert "尚未结束" in page.content.decode() and len(backend.results) == 1
