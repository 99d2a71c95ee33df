"""督办 goes to whoever owns the late step and settles itself when that step is done or the
case ends; each desk lists only the orders it must answer."""

from datetime import timedelta

import pytest
from django.urls import reverse

from gridcity.cases.actions import (
    ReportInput,
    TransitionInput,
    do_create_supervision,
    do_reply_supervision,
    do_report_case,
    do_transition_case,
    orders_awaiting,
    sweep_deadlines,
)
from gridcity.cases.models import Addressee, CaseEvent, Channel, Status, SupervisionOrder
from gridcity.lib.errors import Conflict, Forbidden
from gridcity.taxonomy.actions import resolve_category
from gridcity.testing import MID_LAT, build_city, tiny_jpeg

WEST = (120.1630, MID_LAT + 0.0012)  # in the first grid manager's beat


def hotline_case(city):
    return do_report_case(
        ReportInput(
            category=resolve_category("06042"),
            channel=Channel.HOTLINE,
            lon=WEST[0],
            lat=WEST[1],
            description="市民来电：垃圾桶满溢",
        ),
        acting_user=city.people["intake"],
    ).case


def inspector_case(city):
    return do_report_case(
        ReportInput(
            category=resolve_category("06042"),
            channel=Channel.INSPECTOR,
            lon=WEST[0],
            lat=WEST[1],
            description="垃圾桶满溢",
        ),
        acting_user=city.people["inspector"],
    ).case


def act(case, action, user, **data):
    return do_transition_case(case, action, acting_user=user, data=TransitionInput(**data))


def late(case, days=3):
    """Let the current step run late and sweep, as the scheduler would."""
    case.refresh_from_db()
    sweep_deadlines(now=case.step_deadline + timedelta(days=days))
    return SupervisionOrder.objects.filter(case=case, step=case.step, kind="overdue").order_by(
        "level"
    )


@pytest.fixture
def city(db):
    return build_city()


def test_a_late_handling_step_goes_to_the_department_and_settles_when_it_reports_back(city):
    case = inspector_case(city)
    act(case, "sign", city.people["sanitation"])
    orders = list(late(case))
    assert orders and {o.addressee_kind for o in orders} == {Addressee.DEPARTMENT}
    assert {o.department.code for o in orders} == {"HJWS"}
    assert set(orders_awaiting(city.people["sanitation"])) == set(orders)
    assert not orders_awaiting(city.people["inspector"]).exists()
    with pytest.raises(Forbidden):
        do_reply_supervision(orders[0], acting_user=city.people["inspector"], reply="不归我")

    act(case, "report_back", city.people["sanitation"], photos=[("a.jpg", tiny_jpeg())])
    for o in orders:
        o.refresh_from_db()
        assert o.settled_at is not None
        assert o.settled_reason.startswith("处置环节已完成（")
    event = CaseEvent.objects.get(case=case, action="report_back")
    assert sorted(event.data["settled_orders"]) == sorted(o.number for o in orders)
    assert not orders_awaiting(city.people["sanitation"]).exists()
    with pytest.raises(Conflict):
        do_reply_supervision(orders[0], acting_user=city.people["sanitation"], reply="晚了")


def test_a_late_check_goes_to_the_grid_manager_not_the_department(city):
    case = inspector_case(city)
    act(case, "sign", city.people["sanitation"])
    act(case, "report_back", city.people["sanitation"], photos=[("a.jpg", tiny_jpeg())])
    case.refresh_from_db()
    assert case.status == Status.HANDLED and case.step == "check"
    orders = list(late(case))
    assert orders
    assert {(o.addressee_kind, o.addressee) for o in orders} == {
        (Addressee.FIELD, city.people["inspector"])
    }
    assert not orders_awaiting(city.people["sanitation"]).exists()
    with pytest.raises(Forbidden):
        do_reply_supervision(orders[0], acting_user=city.people["sanitation"], reply="?")
    do_reply_supervision(orders[0], acting_user=city.people["inspector"], reply="今日核查")
    act(case, "check_pass", city.people["inspector"], photos=[("c.jpg", tiny_jpeg())])
    assert not SupervisionOrder.objects.filter(case=case, settled_at__isnull=True).exists()


def test_a_late_dispatch_goes_to_the_centre_and_a_leader_order_ends_with_the_case(city, settings):
    settings.GRIDCITY_AUTO_DISPATCH = False
    case = inspector_case(city)
    assert case.status == Status.FILED
    leader_order = do_create_supervision(
        case, acting_user=city.people["leader"], note="群众反映强烈，今日办结"
    )
    orders = list(late(case))
    assert orders and {o.addressee_kind for o in orders} == {Addressee.CENTRE}
    assert set(orders) <= set(orders_awaiting(city.people["dispatcher"]))
    assert not orders_awaiting(city.people["intake"]).filter(step="dispatch").exists()
    with pytest.raises(Forbidden):
        do_reply_supervision(orders[0], acting_user=city.people["intake"], reply="?")

    hj = city.departments["HJWS"]
    act(case, "dispatch", city.people["dispatcher"], department=hj)
    for o in orders:
        o.refresh_from_db()
        assert o.settled_reason == "派遣环节已完成（派遣）"
    leader_order.refresh_from_db()
    assert leader_order.settled_at is None  # it chases the case, not a step

    act(case, "sign", city.people["sanitation"])
    act(case, "report_back", city.people["sanitation"], photos=[("a.jpg", tiny_jpeg())])
    act(case, "check_pass", city.people["inspector"], photos=[("c.jpg", tiny_jpeg())])
    act(case, "close", city.people["shift_lead"])
    leader_order.refresh_from_db()
    assert leader_order.settled_reason == "案件已结案"
    assert not SupervisionOrder.objects.filter(case=case, settled_at__isnull=True).exists()


def test_the_pages_show_each_party_its_own_orders(client, city):
    case = inspector_case(city)
    act(case, "sign", city.people["sanitation"])
    act(case, "report_back", city.people["sanitation"], photos=[("a.jpg", tiny_jpeg())])
    order = late(case, days=1).first()
    client.force_login(city.people["inspector"])
    home = client.get(reverse("web:field_home")).content.decode()
    assert order.number in home and "提交答复" in home
    r = client.post(
        reverse("web:supervision_reply", args=[order.pk]),
        {"reply": "马上去现场", "next": reverse("web:field_home")},
    )
    assert r.status_code == 302
    order.refresh_from_db()
    assert order.reply == "马上去现场"

    client.force_login(city.people["sanitation"])
    desk = client.get(reverse("web:desk")).content.decode()
    assert f'data-order="{order.number}"' not in desk

    client.force_login(city.people["dispatcher"])
    page = client.get(reverse("web:supervision_orders") + "?state=replied").content.decode()
    assert order.number in page and "网格员小赵" in page
    act(case, "check_pass", city.people["inspector"], photos=[("c.jpg", tiny_jpeg())])
    page = client.get(reverse("web:supervision_orders")).content.decode()
    assert f'data-order="{order.number}"' not in page
    page = client.get(reverse("web:supervision_orders") + "?state=settled").content.decode()
    assert order.number in page and "核查环节已完成" in page


def test_a_hotline_case_late_in_verification_goes_to_its_grid_manager(city):
    case = hotline_case(city)
    case.refresh_from_db()
    assert case.step == "verify"
    orders = list(late(case))
    assert orders and {o.addressee for o in orders} == {city.people["inspector"]}
    act(case, "verify", city.people["inspector"], verified=True)
    for o in orders:
        o.refresh_from_db()
        assert o.settled_reason == "核实环节已完成（提交核实结果）"
