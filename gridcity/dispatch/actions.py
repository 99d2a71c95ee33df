"""Loading rules from the database into the pure engine, and importing rules."""

import csv
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction
from django.db.models import Q

from gridcity.accounts.models import Department
from gridcity.dispatch.engine import Decision, Fallback, RuleRow, RuleSet, decide
from gridcity.dispatch.models import ResponsibilityRule
from gridcity.grids.models import Area
from gridcity.lib.tables import field_errors
from gridcity.system import stamps
from gridcity.taxonomy.actions import resolve_category
from gridcity.taxonomy.models import Category, FilingCondition


def rule_label(rule: ResponsibilityRule) -> str:
    if rule.category_id:
        what = f"{rule.category.code} {rule.category.name}"
    elif rule.major_code:
        what = f"大类{rule.major_code}"
    else:
        what = "所有类别"
    where = rule.area.name if rule.area_id else "全辖区"
    cond = f"（{rule.filing_condition.text}）" if rule.filing_condition_id else ""
    return f"{what}{cond} · {where} → {rule.department.name}"


def to_row(rule: ResponsibilityRule) -> RuleRow:
    return RuleRow(
        id=rule.pk,
        category_id=rule.category_id,
        major_code=rule.major_code,
        kind=rule.kind,
        area_path=rule.area.path if rule.area_id else "",
        area_level=rule.area.level if rule.area_id else 0,
        area_name=rule.area.name if rule.area_id else "全辖区",
        condition_id=rule.filing_condition_id,
        department_id=rule.department_id,
        department_name=rule.department.name,
        priority=rule.priority,
        label=rule_label(rule),
    )


# Rules are read by every report and change rarely: each process keeps the whole set and
# reloads it when the dispatch stamp moves (a save anywhere in the cluster; dispatch.signals).
def _load_rule_config() -> dict:
    return {"rules": load_rules(), "fallbacks": load_fallbacks()}


rule_config = stamps.stamped(stamps.DISPATCH, _load_rule_config)


def forget_rules() -> None:
    rule_config.forget()
    catalogue.forget()


# What every report looks up besides the rules — its category, the category's first filing
# condition (auto-filing), the department a case is dispatched to — kept per process under the
# same stamp (categories, conditions and departments all bump it: dispatch.signals).
def _load_catalogue() -> dict:
    categories = list(Category.objects.filter(is_active=True))
    first_condition: dict[int, FilingCondition] = {}
    for condition in FilingCondition.objects.order_by("category", "order", "pk"):
        first_condition.setdefault(condition.category_id, condition)
    by_code: dict[str, list[Category]] = {}
    for c in categories:
        by_code.setdefault(c.code, []).append(c)
    return {
        "by_key": {(c.kind, c.code): c for c in categories},
        "by_code": by_code,
        "first_condition": first_condition,
        "category_ids": {c.pk for c in categories},
        "departments": {d.pk: d for d in Department.objects.all()},
    }


catalogue = stamps.stamped(stamps.DISPATCH, _load_catalogue)


def cached_category(ref: str) -> Category | None:
    """taxonomy.actions.resolve_category from the process's copy of the active categories."""
    ref = (ref or "").strip()
    held = catalogue.get()
    if ":" in ref:
        kind, code = ref.split(":", 1)
        found = held["by_key"].get((kind, code))
        # A miss is asked of the database: the category may have been seeded in bulk since.
        return found if found is not None else resolve_category(ref)
    matches = held["by_code"].get(ref, [])
    if not matches:
        return resolve_category(ref)
    if len(matches) == 1:
        return matches[0]
    preferred = "component" if ref[:2] in {"01", "02", "03", "04", "05"} else "matter"
    return next((c for c in matches if c.kind == preferred), matches[0])


def first_condition(category_id: int) -> FilingCondition | None:
    """The category's first filing condition, the one auto-filing chooses."""
    held = catalogue.get()
    if category_id in held["first_condition"] or category_id in held["category_ids"]:
        return held["first_condition"].get(category_id)
    # A category seeded in bulk (no signal) after the copy was made.
    return FilingCondition.objects.filter(category_id=category_id).first()


def cached_department(pk: int | None) -> Department | None:
    if pk is None:
        return None
    found = catalogue.get()["departments"].get(pk)
    return found if found is not None else Department.objects.filter(pk=pk).first()


def cached_rules() -> RuleSet:
    return rule_config.get()["rules"]


def load_rules(category: Category | None = None) -> RuleSet:
    qs = (
        ResponsibilityRule.objects.filter(is_active=True)
        .select_related("category", "area", "department", "filing_condition")
        .defer("area__geometry")
    )
    if category is not None:
        qs = qs.filter(
            Q(category=category)
            | Q(category__isnull=True, major_code__in=[category.major_code, ""])
        )
    return RuleSet([to_row(r) for r in qs])


def load_fallbacks() -> list[Fallback]:
    """Every area's territorial fallback department (属地兜底); `decide` picks the deepest one
    on a case's path."""
    return [
        Fallback(a.path, a.name, a.fallback_department_id, a.fallback_department.name)
        for a in Area.objects.filter(fallback_department__isnull=False)
        .select_related("fallback_department")
        .only("path", "name", "fallback_department__name")
    ]


def decide_for(
    category: Category,
    area_path: str,
    condition: FilingCondition | None = None,
    component=None,
) -> Decision:
    owner = None
    if component is not None:
        dept = component.owner or component.maintainer
        if dept is not None:
            owner = (dept.pk, dept.name, component.code)
    return decide(
        cached_rules(),
        category_id=category.pk,
        category_label=f"{category.code} {category.name}",
        major_code=category.major_code,
        kind=category.kind,
        area_path=area_path,
        condition_id=condition.pk if condition else None,
        component_owner=owner,
        fallbacks=rule_config.get()["fallbacks"],
    )


class RulesRejected(Exception):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass
class RulesResult:
    created: int = 0
    updated: int = 0
    warnings: list[str] = field(default_factory=list)


RULE_COLUMNS = ["category_code", "area_code", "filing_condition", "department_code", "priority"]


def import_rules(path: Path) -> RulesResult:
    """CSV `category_code,area_code,filing_condition,department_code,priority`. A 5-digit code
    names a subclass (of either kind, or `component:01002` for one), a 2-digit code a class;
    an empty area is the whole jurisdiction. All or nothing."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesRejected([f"无法读取文件：{exc}"]) from exc
    # Comment lines become blank lines so that line numbers in messages match the file.
    reader = csv.DictReader("" if ln.startswith("#") else ln for ln in text.splitlines())
    missing = [c for c in RULE_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise RulesRejected([f"第1行：缺少列 {', '.join(missing)}"])
    errors: list[str] = []
    planned = []
    departments = {d.code: d for d in Department.objects.all()}
    for row in reader:
        line = reader.line_num
        code = (row["category_code"] or "").strip()
        area_code = (row["area_code"] or "").strip()
        cond_text = (row["filing_condition"] or "").strip()
        dept_code = (row["department_code"] or "").strip()
        prio_text = (row["priority"] or "0").strip() or "0"
        # A value longer than the column it is looked up in names nothing: say so, rather
        # than that no such thing exists.
        too_long = (
            field_errors(line, Area, {"code": area_code}, columns={"code": "area_code"})
            + field_errors(
                line, FilingCondition, {"text": cond_text}, columns={"text": "filing_condition"}
            )
            + field_errors(
                line, Department, {"code": dept_code}, columns={"code": "department_code"}
            )
        )
        if too_long:
            errors.extend(str(e) for e in too_long)
            continue
        kind = ""
        if ":" in code:
            kind, code = code.split(":", 1)
        categories = []
        major = ""
        if len(code) == 5 and code.isdigit():
            qs = Category.objects.filter(code=code)
            if kind:
                qs = qs.filter(kind=kind)
            categories = list(qs)
            if not categories:
                errors.append(f"第{line}行 [category_code]：类别 {code} 不存在")
                continue
        elif len(code) == 2 and code.isdigit():
            major = code
        elif code:
            errors.append(f"第{line}行 [category_code]：“{code}”应为5位小类或2位大类代码")
            continue
        area = None
        if area_code:
            area = Area.objects.filter(code=area_code).first()
            if area is None:
                errors.append(f"第{line}行 [area_code]：区域 {area_code} 不存在")
                continue
        dept = departments.get(dept_code)
        if dept is None:
            errors.append(f"第{line}行 [department_code]：部门 {dept_code} 不存在")
            continue
        try:
            priority = int(prio_text)
        except ValueError:
            errors.append(f"第{line}行 [priority]：“{prio_text}”不是整数")
            continue
        too_long = field_errors(line, ResponsibilityRule, {"priority": priority})
        if too_long:
            errors.extend(str(e) for e in too_long)
            continue
        for category in categories or [None]:
            condition = None
            if cond_text:
                if category is None:
                    errors.append(f"第{line}行 [filing_condition]：按大类的规则不能指定立案条件")
                    break
                condition = FilingCondition.objects.filter(
                    category=category, text=cond_text
                ).first()
                if condition is None:
                    errors.append(
                        f"第{line}行 [filing_condition]：类别 {category.code} 没有立案条件“{cond_text}”"
                    )
                    break
            planned.append(
                (category, major, kind if not categories else "", area, condition, dept, priority)
            )
    if errors:
        raise RulesRejected(errors)
    result = RulesResult()
    with transaction.atomic():
        for category, major, kind, area, condition, dept, priority in planned:
            _, created = ResponsibilityRule.objects.update_or_create(
                category=category,
                major_code=major,
                kind=kind,
                area=area,
                filing_condition=condition,
                defaults={"department": dept, "priority": priority, "is_active": True},
            )
            if created:
                result.created += 1
            else:
                result.updated += 1
    return result
