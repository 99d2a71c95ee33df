"""Who gets a case and why: the most specific rule wins, a component's owner beats every rule,
the street office takes what no rule covers, and every decision names its reason."""

import pytest

from gridcity.dispatch.actions import decide_for
from gridcity.dispatch.engine import Fallback, RuleRow, RuleSet, decide
from gridcity.dispatch.models import ResponsibilityRule
from gridcity.grids.models import Area, Component
from gridcity.taxonomy.actions import resolve_category
from gridcity.testing import MID_LAT, build_city

# -- the pure engine ---------------------------------------------------------------------------

CATEGORY = 42  # 06042 垃圾站（箱）满溢, class 06, a matter
CELL = "/330102/330102001/330102001001/330102001001007/"
DISTRICT = "/330102/"
STREET = "/330102/330102001/"
OTHER_STREET = "/330102/330102002/"


def rule(
    id: int,
    dept: str,
    *,
    category: int | None = None,
    major: str = "",
    kind: str = "",
    area: str = "",
    condition: int | None = None,
    priority: int = 0,
) -> RuleRow:
    level = area.count("/") - 1 if area else 0
    return RuleRow(
        id=id,
        category_id=category,
        major_code=major,
        kind=kind,
        area_path=area,
        area_level=level,
        area_name=area.strip("/").split("/")[-1] if area else "全辖区",
        condition_id=condition,
        department_id=id * 10,
        department_name=dept,
        priority=priority,
        label=f"规则{id}",
    )


def winner(*rules: RuleRow, condition: int | None = None, area: str = CELL, **kw) -> str:
    decision = decide(
        RuleSet(list(rules)),
        category_id=CATEGORY,
        category_label="06042 垃圾站（箱）满溢",
        major_code="06",
        kind="matter",
        area_path=area,
        condition_id=condition,
        **kw,
    )
    return decision.department_name


def test_a_category_rule_beats_a_class_rule_even_over_a_deeper_area():
    assert (
        winner(
            rule(1, "大类部门", major="06", area=STREET),
            rule(2, "小类部门", category=CATEGORY, area=DISTRICT),
        )
        == "小类部门"
    )


def test_a_class_rule_beats_a_catch_all():
    assert winner(rule(1, "兜底规则"), rule(2, "大类部门", major="06")) == "大类部门"


def test_a_deeper_area_beats_a_wider_one():
    assert (
        winner(
            rule(1, "区级", category=CATEGORY, area=DISTRICT),
            rule(2, "街道级", category=CATEGORY, area=STREET),
            rule(3, "全辖区", category=CATEGORY),
        )
        == "街道级"
    )


def test_a_rule_for_another_area_never_matches():
    assert winner(rule(1, "清波", category=CATEGORY, area=OTHER_STREET)) == ""


def test_a_condition_rule_wins_only_for_that_condition():
    rules = (
        rule(1, "普通", category=CATEGORY, area=STREET),
        rule(2, "紧急", category=CATEGORY, area=DISTRICT, condition=7),
    )
    assert winner(*rules, condition=7) == "紧急"
    assert winner(*rules, condition=8) == "普通"
    assert winner(*rules) == "普通"


def test_priority_breaks_a_tie_and_then_the_older_rule_wins():
    assert (
        winner(
            rule(1, "低", category=CATEGORY, area=STREET),
            rule(2, "高", category=CATEGORY, area=STREET, priority=5),
        )
        == "高"
    )
    assert winner(rule(1, "先建", category=CATEGORY), rule(2, "后建", category=CATEGORY)) == "先建"


def test_a_kind_restricted_class_rule_skips_the_other_kind():
    assert winner(rule(1, "部件", major="06", kind="component")) == ""
    assert winner(rule(1, "事件", major="06", kind="matter")) == "事件"


def test_a_component_owner_beats_every_rule():
    decision = decide(
        RuleSet([rule(1, "小类部门", category=CATEGORY)]),
        category_id=CATEGORY,
        category_label="06042",
        major_code="06",
        kind="matter",
        area_path=CELL,
        component_owner=(99, "自来水公司", "33010201002000001"),
    )
    assert (decision.department_id, decision.source) == (99, "component_owner")
    assert "部件 33010201002000001 的权属/养护单位为自来水公司" in decision.reason


def test_the_nearest_territorial_fallback_takes_what_no_rule_covers():
    fallbacks = [
        Fallback(DISTRICT, "上城区", 1, "区城管局"),
        Fallback(STREET, "湖滨街道", 2, "湖滨街道办事处"),
        Fallback(OTHER_STREET, "清波街道", 3, "清波街道办事处"),
    ]
    decision = decide(
        RuleSet([rule(1, "清波", category=CATEGORY, area=OTHER_STREET)]),
        category_id=CATEGORY,
        category_label="06042",
        major_code="06",
        kind="matter",
        area_path=CELL,
        fallbacks=fallbacks,
    )
    assert (decision.department_name, decision.source) == ("湖滨街道办事处", "territorial")
    assert decision.reason == "没有匹配的责任规则，按属地兜底：湖滨街道 → 湖滨街道办事处"
    assert decision.considered == 1


def test_with_no_rule_and_no_fallback_a_person_decides():
    decision = decide(
        RuleSet([]),
        category_id=CATEGORY,
        category_label="06042",
        major_code="06",
        kind="matter",
        area_path="",
    )
    assert decision.department_id is None
    assert decision.source == "none"
    assert "需人工派遣" in decision.explanation()["reason"]


def test_the_explanation_names_the_rule_and_why_it_matched():
    rules = RuleSet([rule(1, "普通", category=CATEGORY, area=STREET, condition=7, priority=3)])
    decision = decide(
        rules,
        category_id=CATEGORY,
        category_label="06042 垃圾站（箱）满溢",
        major_code="06",
        kind="matter",
        area_path=CELL,
        condition_id=7,
    )
    explanation = decision.explanation()
    assert explanation["rule_id"] == 1
    assert explanation["rule"] == "规则1"
    assert explanation["source"] == "rule"
    assert explanation["reason"] == (
        "规则“规则1”：小类 06042 垃圾站（箱）满溢 匹配；区域330102001包含该网格；立案条件匹配；"
        "优先级 3，为最具体的匹配规则"
    )


# -- the same through the database --------------------------------------------------------------


@pytest.mark.django_db
def test_decide_for_reads_rules_fallbacks_and_component_owners_from_the_database():
    city = build_city(rules=False)
    category = resolve_category("06042")
    cell = city.cell(120.163, MID_LAT + 0.001)
    hubin = Area.objects.get(code="330102001")
    sanitation, enforcement = city.departments["HJWS"], city.departments["CGZF"]

    decision = decide_for(category, cell.path)
    assert (decision.department_name, decision.source) == ("湖滨街道办事处", "territorial")

    ResponsibilityRule.objects.create(major_code="06", area=city.district, department=enforcement)
    specific = ResponsibilityRule.objects.create(
        category=category, area=hubin, department=sanitation
    )
    decision = decide_for(category, cell.path)
    assert decision.department_id == sanitation.pk
    assert decision.rule_id == specific.pk
    assert "06042 垃圾站（箱）满溢 · 湖滨街道 → 环境卫生科室" in decision.explanation()["reason"]

    # An inactive rule is ignored (saved as the admin saves it, which refreshes the rule cache).
    specific.is_active = False
    specific.save()
    assert decide_for(category, cell.path).department_id == enforcement.pk

    bin_category = resolve_category("component:03008")
    component = Component.objects.create(
        code="33010203008000001",
        category=bin_category,
        owner=city.departments["YLLH"],
        cell=cell,
        lon=120.163,
        lat=MID_LAT + 0.001,
    )
    decision = decide_for(bin_category, cell.path, component=component)
    assert (decision.department_name, decision.source) == ("园林绿化科室", "component_owner")
