"""Community pairing: a deputy director's visits, a problem that becomes a case, another that
stays a ledger row, and a quarterly assessment that lands in her annual record."""

from datetime import date

import pytest
import time_machine

from gridcity.cases.models import Case, Channel
from gridcity.lib.errors import Conflict, Forbidden, InvalidInput
from gridcity.people.actions import (
    ProblemIn,
    VisitIn,
    do_assess_pairing,
    do_record_visit,
    do_resolve_problem,
)
from gridcity.people.models import AnnualRecord, Pairing, ProblemRoute, ScoreSheet
from gridcity.taxonomy.actions import resolve_category
from gridcity.testing import MID_LAT, WEST, tiny_jpeg

SHEET = [
    {"name": "走访频次", "max": 30},
    {"name": "问题解决", "max": 40},
    {"name": "群众评价", "max": 30},
]


@pytest.fixture
def pairing(city):
    return Pairing.objects.create(
        leader=city.people["leader"],
        community=city.communities[0],
        starts_on=date(2026, 1, 1),
        ends_on=date(2026, 12, 31),
        tasks="帮助解决环境卫生问题\n每季度召开一次议事会",
        requirements="每月至少走访一次",
    )


@pytest.fixture
def sheet(db):
    return ScoreSheet.objects.create(name="包村居季度考核表", items=SHEET)


@time_machine.travel("2026-05-20 10:00 +0800", tick=False)
def test_it_records_two_visits_turns_a_problem_into_a_case_and_assesses_the_quarter(
    city, pairing, sheet
):
    leader = city.people["leader"]
    do_record_visit(
        pairing,
        VisitIn(date(2026, 4, 10), "陈主任、社区书记", "了解垃圾分类推进情况"),
        acting_user=leader,
    )
    visit = do_record_visit(
        pairing,
        VisitIn(
            date(2026, 5, 18),
            "陈主任",
            "走访背街小巷",
            photos=[("a.jpg", tiny_jpeg())],
            problems=[
                ProblemIn(
                    "菜场门口垃圾箱满溢",
                    ProblemRoute.CASE,
                    resolve_category("matter:06042"),
                    WEST + 0.001,
                    MID_LAT + 0.001,
                ),
                ProblemIn("老旧小区缺少休闲座椅", ProblemRoute.LEDGER),
            ],
        ),
        acting_user=leader,
        idempotency_key="visit-2",
    )
    assert pairing.visits.count() == 2
    assert visit.photos.count() == 1
    case_problem = visit.problems.get(route=ProblemRoute.CASE)
    case = Case.objects.get()
    assert case_problem.case == case
    assert case.channel == Channel.LEADER and case.department.name == "环境卫生科室"
    ledger = visit.problems.get(route=ProblemRoute.LEDGER)
    assert ledger.case is None
    do_resolve_problem(ledger, measures="协调街道增设座椅 6 张", acting_user=leader)

    a = do_assess_pairing(
        pairing,
        sheet=sheet,
        year=2026,
        quarter=2,
        scores={"走访频次": 28, "问题解决": 36, "群众评价": 27},
        note="走访扎实",
        acting_user=city.people["admin"],
    )
    assert a.total == 91 and a.grade == "A"
    record = AnnualRecord.objects.get(user=leader, year=2026)
    assert list(record.assessments.all()) == [a]
    with pytest.raises(Conflict):
        do_assess_pairing(
            pairing,
            sheet=sheet,
            year=2026,
            quarter=2,
            scores={"走访频次": 1, "问题解决": 1, "群众评价": 1},
            acting_user=city.people["admin"],
        )


def test_a_department_pairing_feeds_the_units_record(city, sheet):
    dept = city.departments["HJWS"]
    p = Pairing.objects.create(
        department=dept, community=city.communities[1], starts_on=date(2026, 1, 1)
    )
    do_assess_pairing(
        p,
        sheet=sheet,
        year=2026,
        quarter=1,
        scores={"走访频次": 20, "问题解决": 30, "群众评价": 20},
        acting_user=city.people["leader"],
    )
    record = AnnualRecord.objects.get(department=dept, year=2026)
    assert record.assessments.get().grade == "C"


def test_a_score_above_the_item_maximum_is_refused(city, pairing, sheet):
    with pytest.raises(InvalidInput, match="走访频次"):
        do_assess_pairing(
            pairing,
            sheet=sheet,
            year=2026,
            quarter=1,
            scores={"走访频次": 31, "问题解决": 1, "群众评价": 1},
            acting_user=city.people["leader"],
        )


def test_an_outsider_cannot_record_a_visit_or_assess(city, pairing, sheet):
    with pytest.raises(Forbidden):
        do_record_visit(
            pairing, VisitIn(date(2026, 4, 1), "某人"), acting_user=city.people["sanitation"]
        )
    with pytest.raises(Forbidden):
        do_assess_pairing(
            pairing, sheet=sheet, year=2026, quarter=1, scores={}, acting_user=city.people["intake"]
        )


@time_machine.travel("2026-05-20 10:00 +0800", tick=False)
def test_a_broken_photo_is_refused_and_nothing_is_saved(city, pairing):
    with pytest.raises(InvalidInput) as exc:
        do_record_visit(
            pairing,
            VisitIn(date(2026, 5, 1), "陈主任", photos=[("x.jpg", b"not an image")]),
            acting_user=city.people["leader"],
        )
    assert exc.value.field == "photos[0]"
    assert pairing.visits.count() == 0


@time_machine.travel("2026-05-20 10:00 +0800", tick=False)
def test_the_visit_page_saves_a_visit_with_a_case(client, city, pairing):
    client.force_login(city.people["leader"])
    r = client.get(f"/people/pairings/{pairing.pk}/visit/")
    assert r.status_code == 200
    r = client.post(
        f"/people/pairings/{pairing.pk}/visit/",
        {
            "visited_on": "2026-05-19",
            "people": "陈主任",
            "findings": "走访",
            "problem-0": "路灯不亮",
            "route-0": "ledger",
            "problem-1": "垃圾箱满溢",
            "route-1": "case",
            "category-1": "matter:06042",
            "lon": str(WEST + 0.001),
            "lat": str(MID_LAT + 0.001),
            "key": "k1",
        },
    )
    assert r.status_code == 302, r.content.decode()[:2000]
    assert Case.objects.count() == 1
    board = client.get("/people/pairings/")
    assert "陈主任" in board.content.decode()
    detail = client.get(f"/people/pairings/{pairing.pk}/").content.decode()
    assert Case.objects.get().number in detail
