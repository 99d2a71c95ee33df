"""A rule saved by one process reaches the rules every other process holds within the stamp
check interval, and only once the save is committed."""

import pytest
from django.db import transaction

from gridcity.dispatch import actions
from gridcity.dispatch.models import ResponsibilityRule
from gridcity.system import stamps
from gridcity.taxonomy.actions import resolve_category
from gridcity.testing import MID_LAT, build_city


def another_process():
    """The rules as a second process (another gunicorn worker or node) holds them."""
    held = stamps.stamped(stamps.DISPATCH, actions._load_rule_config)
    held.check_every = 0
    return held


def hubin_rule_departments(held) -> set[str]:
    rules = held.get()["rules"]
    rows = [r for rows in rules.by_category.values() for r in rows]
    return {r.department_name for r in rows if r.area_name == "湖滨街道"}


@pytest.mark.django_db
def test_a_saved_rule_reaches_other_processes_and_a_rolled_back_one_does_not():
    city = build_city()
    category = resolve_category("06042")
    other = another_process()
    before = hubin_rule_departments(other)
    assert "城市管理执法科室" not in before
    hubin = city.streets[0]
    try:
        with transaction.atomic():
            ResponsibilityRule.objects.create(
                category=category, area=hubin, department=city.departments["CGZF"], priority=9
            )
            raise RuntimeError("the admin's form failed after the save")
    except RuntimeError:
        pass
    assert hubin_rule_departments(other) == before
    stamp = stamps.read(stamps.DISPATCH)

    ResponsibilityRule.objects.create(
        category=category, area=hubin, department=city.departments["CGZF"], priority=9
    )
    assert stamps.read(stamps.DISPATCH) != stamp
    assert "城市管理执法科室" in hubin_rule_departments(other)
    cell = city.cell(120.163, MID_LAT + 0.001)
    assert actions.decide_for(category, cell.path).department_name == "城市管理执法科室"
