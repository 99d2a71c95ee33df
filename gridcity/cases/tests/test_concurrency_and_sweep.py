import threading
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone

from gridcity.cases.actions import (
    ReportInput,
    do_reply_supervision,
    do_report_case,
    do_transition_case,
    sweep_deadlines,
)
from gridcity.cases.models import CaseEvent, Channel, Status, SupervisionOrder
from gridcity.lib.errors import CaseError
from gridcity.taxonomy.actions import resolve_category
from gridcity.taxonomy.models import Category
from gridcity.testing import MID_LAT, build_city

POINT = (120.1630, MID_LAT + 0.0012)


def new_case(city, description="满溢"):
    inp = ReportInput(
        category=resolve_category("06042"),
        channel=Channel.INSPECTOR,
        lon=POINT[0],
        lat=POINT[1],
        description=description,
    )
    return do_report_case(inp, acting_user=city.people["inspector"]).case


def run_together(*calls):
    barrier = threading.Barrier(len(calls))
    outcomes = [None] * len(calls)

    def runner(i, fn):
        try:
            barrier.wait()
            outcomes[i] = ("ok", fn())
        except CaseError as exc:
            outcomes[i] = ("refused", exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=runner, args=(i, fn)) for i, fn in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return outcomes


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_people_acting_at_once_never_both_succeed():
    if connection.vendor != "postgresql":
        pytest.skip("row locks are tested on PostgreSQL")
    city = build_city()
    Category.objects.filter(code="06042").update(duplicate_radius_m=0)
    for i in range(5):
        case = new_case(city, description=f"满溢 {i}")
        # Two clerks of the department sign for the same case at the same moment.
        outcomes = run_together(
            lambda c=case: do_transition_case(c.pk, "sign", acting_user=city.people["sanitation"]),
            lambda c=case: do_transition_case(
                c.pk, "sign", acting_user=city.people["sanitation_lead"]
            ),
        )
        assert sorted(k for k, _ in outcomes) == ["ok", "refused"], outcomes
        refused = next(exc for k, exc in outcomes if k == "refused")
        assert refused.status_code == 409
        case.refresh_from_db()
        assert case.events.exclude(action__in=["report", "file", "dispatch"]).count() == 1


@pytest.mark.django_db
def test_the_sweep_marks_an_overdue_step_once_and_escalates(time_machine):
    time_machine.move_to(
        timezone.datetime(2026, 11, 24, 9, 0, tzinfo=timezone.get_current_timezone())
    )
    city = build_city()
    case = new_case(city)
    assert case.step == "sign"  # 1 working hour to sign for
    time_machine.move_to(timezone.now() + timedelta(hours=2))
    first = sweep_deadlines()
    again = sweep_deadlines()
    assert first.marked == 1 and again.marked == 0
    assert CaseEvent.objects.filter(case=case, action="overdue").count() == 1
    orders = SupervisionOrder.objects.filter(case=case)
    assert [o.level for o in orders] == [1]
    assert orders[0].department.code == "HJWS"
    time_machine.move_to(timezone.now() + timedelta(hours=9))
    third = sweep_deadlines()
    assert third.marked == 0 and third.orders == 1
    assert sorted(SupervisionOrder.objects.filter(case=case).values_list("level", flat=True)) == [
        1,
        2,
    ]
    order = SupervisionOrder.objects.get(case=case, level=1)
    do_reply_supervision(order, acting_user=city.people["sanitation"], reply="已安排车辆")
    order.refresh_from_db()
    assert (
        order.replied_at
        and CaseEvent.objects.filter(case=case, action="supervision_reply").exists()
    )
    # The step's clock restarts after the department acts: a new step is not yet overdue.
    do_transition_case(case, "sign", acting_user=city.people["sanitation"])
    case.refresh_from_db()
    assert case.status == Status.HANDLING and case.step_overdue_at is None
    sign = case.events.get(action="sign")
    assert sign.overdue is True


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_sweepers_never_double_mark(time_machine):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent sweepers are tested on PostgreSQL")
    city = build_city()
    Category.objects.filter(code="06042").update(duplicate_radius_m=0)
    cases = [new_case(city, description=f"第{i}处") for i in range(8)]
    later = timezone.now() + timedelta(days=3)
    outcomes = run_together(lambda: sweep_deadlines(later), lambda: sweep_deadlines(later))
    assert all(k == "ok" for k, _ in outcomes)
    marked = sum(r.marked for _, r in outcomes)
    assert marked == len(cases)
    assert CaseEvent.objects.filter(action="overdue").count() == len(cases)
    for c in cases:
        levels = list(SupervisionOrder.objects.filter(case=c).values_list("level", flat=True))
        assert sorted(levels) == sorted(set(levels))
