"""Which department gets a case, and why. The matching is pure (plain values in, a Decision
out) so it is tested without a database and benchmarked over millions of points."""

from collections import defaultdict
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class RuleRow:
    id: int
    category_id: int | None
    major_code: str
    kind: str
    area_path: str  # "" = the whole jurisdiction
    area_level: int
    area_name: str
    condition_id: int | None
    department_id: int
    department_name: str
    priority: int
    label: str

    def specificity(self) -> tuple[int, int, int, int]:
        category = 2 if self.category_id is not None else (1 if self.major_code else 0)
        return (category, 1 if self.condition_id else 0, self.area_level, self.priority)


@dataclass(frozen=True, slots=True)
class Fallback:
    area_path: str
    area_name: str
    department_id: int
    department_name: str


@dataclass(frozen=True)
class Decision:
    department_id: int | None
    department_name: str
    source: str  # "rule" | "component_owner" | "territorial" | "none"
    rule_id: int | None = None
    reason: str = ""
    considered: int = 0
    extra: dict = field(default_factory=dict)

    def explanation(self) -> dict:
        return {
            "source": self.source,
            "rule_id": self.rule_id,
            "department_id": self.department_id,
            "department": self.department_name,
            "reason": self.reason,
            "considered_rules": self.considered,
            **self.extra,
        }


class RuleSet:
    """Rules indexed by what they match on, so a decision looks at a handful of rows."""

    def __init__(self, rules: list[RuleRow]) -> None:
        self.by_category: dict[int, list[RuleRow]] = defaultdict(list)
        self.by_major: dict[str, list[RuleRow]] = defaultdict(list)
        self.generic: list[RuleRow] = []
        for r in rules:
            if r.category_id is not None:
                self.by_category[r.category_id].append(r)
            elif r.major_code:
                self.by_major[r.major_code].append(r)
            else:
                self.generic.append(r)

    def candidates(self, category_id: int, major_code: str) -> list[RuleRow]:
        return [
            *self.by_category.get(category_id, ()),
            *self.by_major.get(major_code, ()),
            *self.generic,
        ]

    def best(
        self,
        *,
        category_id: int,
        major_code: str,
        kind: str,
        area_path: str,
        condition_id: int | None,
    ) -> tuple[RuleRow | None, int]:
        best: RuleRow | None = None
        best_key = None
        considered = 0
        for r in self.candidates(category_id, major_code):
            considered += 1
            if r.kind and r.kind != kind:
                continue
            if r.area_path and not area_path.startswith(r.area_path):
                continue
            if r.condition_id is not None and r.condition_id != condition_id:
                continue
            key = (r.specificity(), -r.id)
            if best_key is None or key > best_key:
                best, best_key = r, key
        return best, considered


def decide(
    rules: RuleSet,
    *,
    category_id: int,
    category_label: str,
    major_code: str,
    kind: str,
    area_path: str,
    condition_id: int | None = None,
    component_owner: tuple[int, str, str] | None = None,
    fallbacks: list[Fallback] = (),
) -> Decision:
    """A component's owner wins for component cases; then the most specific rule; then the
    territorial fallback of the nearest area up the tree (属地兜底)."""
    if component_owner is not None:
        dept_id, dept_name, component_label = component_owner
        return Decision(
            dept_id,
            dept_name,
            "component_owner",
            reason=f"部件 {component_label} 的权属/养护单位为{dept_name}，部件问题由权属单位处置",
        )
    rule, considered = rules.best(
        category_id=category_id,
        major_code=major_code,
        kind=kind,
        area_path=area_path,
        condition_id=condition_id,
    )
    if rule is not None:
        parts = []
        if rule.category_id is not None:
            parts.append(f"小类 {category_label} 匹配")
        elif rule.major_code:
            parts.append(f"大类 {rule.major_code} 匹配")
        else:
            parts.append("适用于所有类别")
        parts.append(f"区域{rule.area_name}包含该网格" if rule.area_path else "适用于整个辖区")
        if rule.condition_id is not None:
            parts.append("立案条件匹配")
        if rule.priority:
            parts.append(f"优先级 {rule.priority}")
        return Decision(
            rule.department_id,
            rule.department_name,
            "rule",
            rule_id=rule.id,
            reason=f"规则“{rule.label}”：" + "；".join(parts) + "，为最具体的匹配规则",
            considered=considered,
            extra={"rule": rule.label},
        )
    deepest = sorted(
        (f for f in fallbacks if area_path.startswith(f.area_path)),
        key=lambda f: len(f.area_path),
        reverse=True,
    )
    if deepest:
        f = deepest[0]
        return Decision(
            f.department_id,
            f.department_name,
            "territorial",
            considered=considered,
            reason=f"没有匹配的责任规则，按属地兜底：{f.area_name} → {f.department_name}",
        )
    return Decision(
        None,
        "",
        "none",
        considered=considered,
        reason="没有匹配的责任规则，也没有属地兜底部门，需人工派遣",
    )
