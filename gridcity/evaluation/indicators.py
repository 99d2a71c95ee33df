"""The evaluation's arithmetic, as plain functions over plain values (no database).

* Periods: a period key ("2025-09", "2025-Q3", "2025-W38", "2025", "2025-09-15",
  "2025-09-01~2025-09-20") names a half-open span of local dates.
* Measures: each indicator is a ratio (or a count, or an average) of *measures*; a measure is a
  set of event rows counted from the case record (see compute.py), each row with up to two
  flags. `MeasureRef("handle", "f1")` is "the handling steps finished in the period, on time".
* Rates: percent, Decimal, rounded half-up to 2 places: 911 of 972 is 93.72.
* Scores: a band table (or a straight line) maps an indicator's value to a share of its
  weight; the weights of indicators without data are shared out among the rest; grades by
  thresholds (A ≥ 90, B ≥ 75, C ≥ 60, D ≥ 40, E below).

The definitions here are the ones published in gridcity/evaluation/README.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.utils.translation import gettext, gettext_noop

from gridcity.lib.bounds import EARLIEST_DATE, LATEST_DATE

# ---------------------------------------------------------------------------------------------
# Periods


class PeriodKind:
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"
    CUSTOM = "custom"


PERIOD_KIND_LABELS = {
    "day": "日",
    "week": "周",
    "month": "月",
    "quarter": "季度",
    "year": "年",
    "custom": "自定义",
}


@dataclass(frozen=True)
class Period:
    key: str
    kind: str
    start: date  # first day, inclusive
    end: date  # first day after the period (exclusive)

    @property
    def label(self) -> str:
        last = self.end - timedelta(days=1)
        if self.kind == PeriodKind.MONTH:
            return gettext("%(year)s年%(month)s月") % {
                "year": self.start.year,
                "month": self.start.month,
            }
        if self.kind == PeriodKind.QUARTER:
            quarter = (self.start.month - 1) // 3 + 1
            return gettext("%(year)s年第%(quarter)s季度") % {
                "year": self.start.year,
                "quarter": quarter,
            }
        if self.kind == PeriodKind.YEAR:
            return gettext("%(year)s年") % {"year": self.start.year}
        if self.kind == PeriodKind.DAY:
            return f"{self.start:%Y-%m-%d}"
        return gettext("%(first)s 至 %(last)s") % {
            "first": f"{self.start:%Y-%m-%d}",
            "last": f"{last:%Y-%m-%d}",
        }

    def previous(self, n: int = 1) -> Period:
        """The period of the same kind n steps back (custom: the same length, just before)."""
        p = self
        for _ in range(n):
            p = parse_period(_shift_key(p))
        return p


def _add_months(d: date, months: int) -> date:
    m = d.month - 1 + months
    return date(d.year + m // 12, m % 12 + 1, 1)


def _shift_key(p: Period) -> str:
    if p.kind == PeriodKind.DAY:
        return (p.start - timedelta(days=1)).isoformat()
    if p.kind == PeriodKind.WEEK:
        y, w, _ = (p.start - timedelta(days=7)).isocalendar()
        return f"{y}-W{w:02d}"
    if p.kind == PeriodKind.MONTH:
        d = _add_months(p.start, -1)
        return f"{d.year}-{d.month:02d}"
    if p.kind == PeriodKind.QUARTER:
        d = _add_months(p.start, -3)
        return f"{d.year}-Q{(d.month - 1) // 3 + 1}"
    if p.kind == PeriodKind.YEAR:
        return str(p.start.year - 1)
    length = p.end - p.start
    return f"{p.start - length}~{p.start - timedelta(days=1)}"


_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_YEAR = re.compile(r"^(\d{4})$")
_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_CUSTOM = re.compile(r"^(\d{4}-\d{2}-\d{2})~(\d{4}-\d{2}-\d{2})$")
_YEARS = re.compile(r"(?<!\d)\d{4}(?!\d)")


def parse_period(key: str) -> Period:
    """Raises ValueError (message in Chinese) for a key that names no period."""
    key = (key or "").strip()
    # Every form of key starts its dates with a four-digit year.
    if any(not EARLIEST_DATE.year <= int(y) <= LATEST_DATE.year for y in _YEARS.findall(key)):
        raise ValueError(
            f"期间“{key}”超出范围：年份应在 {EARLIEST_DATE.year} 至 {LATEST_DATE.year} 之间"
        )
    try:
        if m := _MONTH.match(key):
            start = date(int(m[1]), int(m[2]), 1)
            return Period(key, PeriodKind.MONTH, start, _add_months(start, 1))
        if m := _QUARTER.match(key):
            start = date(int(m[1]), 3 * int(m[2]) - 2, 1)
            return Period(key, PeriodKind.QUARTER, start, _add_months(start, 3))
        if m := _WEEK.match(key):
            start = date.fromisocalendar(int(m[1]), int(m[2]), 1)
            return Period(key, PeriodKind.WEEK, start, start + timedelta(days=7))
        if m := _YEAR.match(key):
            return Period(key, PeriodKind.YEAR, date(int(key), 1, 1), date(int(key) + 1, 1, 1))
        if m := _DAY.match(key):
            start = date(int(m[1]), int(m[2]), int(m[3]))
            return Period(key, PeriodKind.DAY, start, start + timedelta(days=1))
        if m := _CUSTOM.match(key):
            start, last = date.fromisoformat(m[1]), date.fromisoformat(m[2])
            if last < start:
                raise ValueError("自定义期间的结束日期不能早于开始日期")
            if (last - start).days > 3660:
                raise ValueError("自定义期间不能超过十年")
            return Period(key, PeriodKind.CUSTOM, start, last + timedelta(days=1))
    except ValueError as exc:
        if "期间" in str(exc):
            raise
        raise ValueError(f"期间“{key}”的日期无效") from exc
    raise ValueError(
        f"无法识别的期间“{key}”：应为 2025-09、2025-Q3、2025-W38、2025、2025-09-15 "
        "或 2025-09-01~2025-09-20"
    )


def month_key(d: date) -> str:
    return f"{d.year}-{d.month:02d}"


# ---------------------------------------------------------------------------------------------
# Rates

HUNDRED = Decimal(100)
CENT = Decimal("0.01")


def rate(numerator: int, denominator: int) -> Decimal | None:
    """Percent, rounded half-up to 2 places; None when nothing was due."""
    if not denominator:
        return None
    return (Decimal(numerator) * HUNDRED / Decimal(denominator)).quantize(CENT, ROUND_HALF_UP)


def average(total: float, n: int) -> Decimal | None:
    if not n:
        return None
    return (Decimal(str(total)) / Decimal(n)).quantize(CENT, ROUND_HALF_UP)


# ---------------------------------------------------------------------------------------------
# Units


class UnitType:
    DEPARTMENT = "department"
    INSPECTOR = "inspector"
    INTAKE = "intake"
    SHIFT_LEAD = "shift_lead"
    DISPATCHER = "dispatcher"
    AREA = "area"
    CELL = "cell"


UNIT_TYPE_LABELS = {
    "department": gettext_noop("专业部门"),
    "inspector": gettext_noop("网格员"),
    "intake": gettext_noop("受理员"),
    "shift_lead": gettext_noop("值班长"),
    "dispatcher": gettext_noop("派遣员"),
    "area": gettext_noop("区域"),
    "cell": gettext_noop("单元网格"),
}
PEOPLE_UNIT_TYPES = ("inspector", "intake", "shift_lead", "dispatcher")


# ---------------------------------------------------------------------------------------------
# Measures and indicators

D, G, K, S, P, A = "department", "inspector", "intake", "shift_lead", "dispatcher", "area"


@dataclass(frozen=True)
class MeasureDef:
    key: str
    label: str
    units: frozenset[str]
    f1: str = ""  # what flag 1 means, e.g. "按时"
    f2: str = ""


MEASURES: dict[str, MeasureDef] = {
    m.key: m
    for m in (
        MeasureDef("report", "上报", frozenset({G, K, A}), "有效（已立案）", "网格员上报且有效"),
        MeasureDef("missed", "公众渠道发现并立案的问题（漏报）", frozenset({G, A})),
        MeasureDef("verify", "核实", frozenset({G, K, S, A}), "按时"),
        MeasureDef("check", "核查", frozenset({G, K, S, A}), "按时"),
        MeasureDef("file", "立案", frozenset({K, S, A}), "按时", "准确（未再作废或合并）"),
        MeasureDef("dispatch", "派遣", frozenset({P, S, D, A}), "按时", "准确（未改派他部门）"),
        MeasureDef("sign", "签收", frozenset({D, A}), "按时"),
        MeasureDef("handle", "处置", frozenset({D, A}), "按时"),
        MeasureDef("overdue_open", "期末超期未处置", frozenset({D, A})),
        MeasureDef("overdue_field", "期末超期未核实核查", frozenset({G, A})),
        MeasureDef("overdue_centre", "期末超期未立案派遣结案", frozenset({A})),
        MeasureDef("rework", "返工", frozenset({D, A})),
        MeasureDef("return", "回退", frozenset({D, A})),
        MeasureDef("extension", "延期", frozenset({D, A})),
        MeasureDef("hold", "挂账", frozenset({D, A})),
        MeasureDef("due_close", "应结案", frozenset({D, A}), "已结案", "按期结案"),
        MeasureDef("close", "结案操作", frozenset({S, D, A}), "按时"),
        MeasureDef("hotline_sign", "热线签收", frozenset({D, A}), "按时"),
        MeasureDef("hotline_close", "热线应办结", frozenset({D, A}), "已办结", "按时办结"),
        MeasureDef("callback", "回访", frozenset({D, A}), "满意"),
    )
}


# A cell is counted like the areas above it: every measure that an area has, a cell has too.
MEASURES = {
    k: replace(m, units=m.units | {UnitType.CELL}) if A in m.units else m
    for k, m in MEASURES.items()
}


# Counted at the period's end (open steps), not over the period: see compute.in_window.
STOCK_MEASURES = ("overdue_open", "overdue_field", "overdue_centre")


@dataclass(frozen=True)
class MeasureRef:
    measure: str
    flag: str = ""  # "", "f1" or "f2"


class Kind:
    COUNT = "count"
    RATE = "rate"
    AVERAGE = "average"


class Direction:
    HIGHER = "higher"
    LOWER = "lower"


@dataclass(frozen=True)
class IndicatorDef:
    key: str
    name: str
    kind: str
    numerator: MeasureRef
    denominator: tuple[MeasureRef, ...] = ()
    direction: str = Direction.HIGHER
    definition: str = ""
    hotline: bool = False

    @property
    def measures(self) -> set[str]:
        return {self.numerator.measure} | {r.measure for r in self.denominator}

    def applies_to(self, unit_type: str) -> bool:
        return all(unit_type in MEASURES[m].units for m in self.measures)


def _m(measure: str, flag: str = "") -> MeasureRef:
    return MeasureRef(measure, flag)


def _count(key, name, ref, definition, direction=Direction.HIGHER, **kw) -> IndicatorDef:
    return IndicatorDef(key, name, Kind.COUNT, ref, (), direction, definition, **kw)


def _rate(key, name, num, den, definition, direction=Direction.HIGHER, **kw) -> IndicatorDef:
    return IndicatorDef(key, name, Kind.RATE, num, tuple(den), direction, definition, **kw)


L = Direction.LOWER
INDICATORS: dict[str, IndicatorDef] = {
    i.key: i
    for i in (
        _count(
            "reported",
            gettext_noop("上报数"),
            _m("report"),
            "期内上报记录数：期内的 report（新上报）与 link_report（重复上报并入已有案件）事件。",
        ),
        _count(
            "valid_reports",
            gettext_noop("有效上报数"),
            _m("report", "f1"),
            "期内 report 事件中，其案件在计算时点前有 file（立案）事件的条数；重复上报不算有效。",
        ),
        _rate(
            "valid_report_rate",
            gettext_noop("有效上报率"),
            _m("report", "f1"),
            [_m("report")],
            "有效上报数 ÷ 上报数。",
        ),
        _count(
            "missed",
            gettext_noop("漏报数"),
            _m("missed"),
            "期内由市民、12345 热线或 Open311 上报（案件来源）且已立案的案件数；归属上报当时该网格"
            "所在责任区的网格员（事后调整责任区不改变归属）：这些问题本应由网格员巡查发现。",
            L,
        ),
        _rate(
            "miss_rate",
            gettext_noop("漏报率"),
            _m("missed"),
            [_m("missed"), _m("report", "f2")],
            "漏报数 ÷ (漏报数 + 网格员有效上报数)。",
            L,
        ),
        _count(
            "verify_due",
            gettext_noop("应核实数"),
            _m("verify"),
            "期内完成的核实环节数（verify 事件）。期末仍未完成的核实不计入。",
        ),
        _rate(
            "verify_on_time_rate",
            gettext_noop("按时核实率"),
            _m("verify", "f1"),
            [_m("verify")],
            "verify 事件中 overdue=否 的条数 ÷ 应核实数。",
        ),
        _count(
            "check_due",
            gettext_noop("应核查数"),
            _m("check"),
            "期内完成的核查环节数（check_pass 与 check_fail 事件）。",
        ),
        _rate(
            "check_on_time_rate",
            gettext_noop("按时核查率"),
            _m("check", "f1"),
            [_m("check")],
            "核查事件中 overdue=否 的条数 ÷ 应核查数。",
        ),
        _count("filed", gettext_noop("立案数"), _m("file"), "期内 file（立案）事件数。"),
        _rate(
            "file_on_time_rate",
            gettext_noop("按时立案率"),
            _m("file", "f1"),
            [_m("file")],
            "立案事件中 overdue=否 的条数 ÷ 立案数。",
        ),
        _rate(
            "file_accuracy",
            gettext_noop("准确立案率"),
            _m("file", "f2"),
            [_m("file")],
            "立案后在计算时点前没有再被作废（void）或合并（merge）的立案数 ÷ 立案数。",
        ),
        _count(
            "dispatched",
            gettext_noop("派遣数"),
            _m("dispatch"),
            "期内 dispatch（派遣，含回退后再派遣）事件数。",
        ),
        _rate(
            "dispatch_on_time_rate",
            gettext_noop("按时派遣率"),
            _m("dispatch", "f1"),
            [_m("dispatch")],
            "派遣事件中 overdue=否（派遣环节未超时）的条数 ÷ 派遣数。",
        ),
        _rate(
            "dispatch_accuracy",
            gettext_noop("准确派遣率"),
            _m("dispatch", "f2"),
            [_m("dispatch")],
            "(派遣数 − 被改派数) ÷ 派遣数；一次派遣若之后（计算时点前）同一案件又派遣到另一个"
            "部门（回退后再派遣），即为被改派。",
        ),
        _count(
            "handle_due",
            gettext_noop("应处置数"),
            _m("handle"),
            "期内完成的处置环节数（report_back 处置反馈事件；返工后再反馈再计一次）。",
        ),
        _rate(
            "handle_on_time_rate",
            gettext_noop("按时处置率"),
            _m("handle", "f1"),
            [_m("handle")],
            "处置反馈事件中未超时（overdue=否，或该部门就此案的超期申诉已获批准）的条数 ÷ 应处置数。",
        ),
        _count(
            "overdue_unhandled",
            gettext_noop("超期未处置数"),
            _m("overdue_open"),
            "期末时点：签收或处置环节已被标记超期（overdue 事件），且到期末该环节还没有任何后续"
            "流转的案件数（存量，不限于期内标记）。",
            L,
        ),
        _count(
            "overdue_unchecked",
            gettext_noop("超期未核实核查数"),
            _m("overdue_field"),
            "期末时点：核实或核查环节已被标记超期，且到期末还没有完成的案件数（存量）；归属标记超期时"
            "负责该环节的网格员（已指派的网格员，否则为该网格的责任网格员）。",
            L,
        ),
        _count(
            "overdue_centre_open",
            gettext_noop("超期未立案派遣结案数"),
            _m("overdue_centre"),
            "期末时点：立案、派遣或结案环节（指挥中心的环节）已被标记超期，且到期末还没有完成的案件数"
            "（存量）。",
            L,
        ),
        _count(
            "reworks",
            gettext_noop("返工数"),
            _m("rework"),
            "期内 check_fail（核查不通过、返工）事件数。",
            L,
        ),
        _rate(
            "rework_rate",
            gettext_noop("返工率"),
            _m("rework"),
            [_m("due_close")],
            "返工数 ÷ 应结案数。",
            L,
        ),
        _count(
            "returns",
            gettext_noop("回退数"),
            _m("return"),
            "期内 return（部门回退，推诿嫌疑）事件数。",
            L,
        ),
        _count(
            "extensions",
            gettext_noop("延期数"),
            _m("extension"),
            "期内 approve_extension 事件数。",
            L,
        ),
        _count("holds", gettext_noop("挂账数"), _m("hold"), "期内 approve_hold 事件数。", L),
        _count(
            "close_due",
            gettext_noop("应结案数"),
            _m("due_close"),
            "期内立案（file 事件在期内）、且在计算时点前没有再作废或合并的案件数。部门按计算时点前"
            "最后一次派遣的部门归属。",
        ),
        _count(
            "closed",
            gettext_noop("结案数"),
            _m("due_close", "f1"),
            "应结案的案件中，在计算时点前有 close（结案）事件的案件数。",
        ),
        _rate(
            "close_rate",
            gettext_noop("结案率"),
            _m("due_close", "f1"),
            [_m("due_close")],
            "结案数 ÷ 应结案数。",
        ),
        _count(
            "closed_on_time",
            gettext_noop("按期结案数"),
            _m("due_close", "f2"),
            "已结案、且处置反馈从未超时（report_back 均 overdue=否，已批准申诉的除外）的案件数。",
        ),
        _rate(
            "on_time_close_rate",
            gettext_noop("按期结案率"),
            _m("due_close", "f2"),
            [_m("due_close")],
            "按期结案数 ÷ 应结案数。",
        ),
        IndicatorDef(
            "avg_handle_hours",
            gettext_noop("平均处置时长（小时）"),
            Kind.AVERAGE,
            _m("handle"),
            (_m("handle"),),
            L,
            "期内每次处置反馈距该案最近一次派遣或返工的自然小时数的平均值。",
        ),
        _count(
            "closes",
            gettext_noop("结案操作数"),
            _m("close"),
            "期内 close（结案）事件数（值班长的工作量）。",
        ),
        _rate(
            "close_on_time_rate",
            gettext_noop("按时结案率"),
            _m("close", "f1"),
            [_m("close")],
            "结案事件中结案环节未超时的条数 ÷ 结案操作数。",
        ),
        _rate(
            "hotline_sign_rate",
            gettext_noop("及时签收率（热线）"),
            _m("hotline_sign", "f1"),
            [_m("hotline_sign")],
            "12345 热线来源案件期内签收事件中未超时的条数 ÷ 签收数。",
            hotline=True,
        ),
        _rate(
            "hotline_on_time_rate",
            gettext_noop("按时办结率（热线）"),
            _m("hotline_close", "f2"),
            [_m("hotline_close")],
            "12345 热线来源案件的按期结案数 ÷ 应结案数（口径同按期结案率）。",
            hotline=True,
        ),
        _rate(
            "callback_satisfaction",
            gettext_noop("回访满意率"),
            _m("callback", "f1"),
            [_m("callback")],
            "期内回访（callback）事件中满意度 ≥ 4（满意、非常满意）的条数 ÷ 回访数。",
            hotline=True,
        ),
    )
}


def indicators_for(unit_type: str) -> list[IndicatorDef]:
    return [i for i in INDICATORS.values() if i.applies_to(unit_type)]


@dataclass
class Counts:
    """One unit's measure counts: n (all rows), f1, f2, and the summed hours (averages)."""

    n: int = 0
    f1: int = 0
    f2: int = 0
    hours: float = 0.0

    def get(self, flag: str) -> int:
        return {"": self.n, "f1": self.f1, "f2": self.f2}[flag]


@dataclass(frozen=True)
class Figure:
    indicator: str
    value: Decimal | int | None
    numerator: int
    denominator: int


def evaluate(ind: IndicatorDef, counts: dict[str, Counts]) -> Figure:
    """An indicator's value from one unit's measure counts."""
    empty = Counts()
    num = counts.get(ind.numerator.measure, empty).get(ind.numerator.flag)
    den = sum(counts.get(r.measure, empty).get(r.flag) for r in ind.denominator)
    if ind.kind == Kind.COUNT:
        return Figure(ind.key, num, num, num)
    if ind.kind == Kind.AVERAGE:
        c = counts.get(ind.numerator.measure, empty)
        return Figure(ind.key, average(c.hours, c.n), c.n, c.n)
    return Figure(ind.key, rate(num, den), num, den)


# ---------------------------------------------------------------------------------------------
# Scores


DEFAULT_GRADES = (("A", 90), ("B", 75), ("C", 60), ("D", 40))


def grade(score: Decimal | None, thresholds=DEFAULT_GRADES) -> str:
    if score is None:
        return ""
    for letter, floor in thresholds:
        if score >= Decimal(str(floor)):
            return letter
    return "E"


@dataclass(frozen=True)
class SchemeItemSpec:
    indicator: str
    weight: Decimal
    direction: str = Direction.HIGHER
    # [[threshold, percent of weight], …]. Higher is better: the first row whose threshold the
    # value reaches (value ≥ threshold, rows from the highest threshold down). Lower is better:
    # the first row whose threshold the value does not exceed (value ≤ threshold, rows from the
    # lowest threshold up). No row matches: 0. An empty table is a straight line: the value
    # itself (higher) or 100 − value (lower), for rates.
    bands: tuple[tuple[Decimal, Decimal], ...] = ()
    # Counts (volume) are scored against the largest count among the units ranked together.
    relative: bool = False


def item_share(spec: SchemeItemSpec, value: Decimal | int | None, best: int = 0) -> Decimal | None:
    """Percent (0–100) of the item's weight earned by `value`; None when there is no value."""
    if value is None:
        return None
    v = Decimal(value)
    if spec.relative:
        if not best:
            return None
        v = (v * HUNDRED / Decimal(best)).quantize(CENT, ROUND_HALF_UP)
        if spec.direction == Direction.LOWER:
            v = HUNDRED - v
        return max(Decimal(0), min(HUNDRED, v))
    if spec.bands:
        if spec.direction == Direction.LOWER:
            for threshold, share in sorted(spec.bands, key=lambda b: Decimal(b[0])):
                if v <= Decimal(threshold):
                    return Decimal(share)
        else:
            for threshold, share in sorted(spec.bands, key=lambda b: -Decimal(b[0])):
                if v >= Decimal(threshold):
                    return Decimal(share)
        return Decimal(0)
    share = v if spec.direction == Direction.HIGHER else HUNDRED - v
    return max(Decimal(0), min(HUNDRED, share))


@dataclass
class ScoreLine:
    indicator: str
    weight: Decimal
    value: Decimal | int | None
    share: Decimal | None  # percent of the weight earned
    points: Decimal | None  # weight-adjusted contribution to the total


def score(
    items: list[SchemeItemSpec], values: dict[str, Decimal | int | None], best: dict[str, int]
) -> tuple[Decimal | None, list[ScoreLine]]:
    """Total score 0–100. Items without a value are left out and the other weights are
    scaled up to the full 100, so a unit is not punished for work it was never given."""
    lines = []
    for spec in items:
        share = item_share(spec, values.get(spec.indicator), best.get(spec.indicator, 0))
        value = values.get(spec.indicator)
        lines.append(ScoreLine(spec.indicator, Decimal(spec.weight), value, share, None))
    live = [ln for ln in lines if ln.share is not None]
    # A unit given no work at all has no score (not a 0): its only "value" would be a volume
    # of 0 against the busiest unit.
    relative = {s.indicator for s in items if s.relative}
    if not any(ln.indicator not in relative for ln in live):
        return None, lines
    total_weight = sum((ln.weight for ln in live), Decimal(0))
    if not live or not total_weight:
        return None, lines
    for ln in live:
        ln.points = (ln.weight * ln.share / total_weight).quantize(CENT, ROUND_HALF_UP)
    total = sum((ln.weight * ln.share for ln in live), Decimal(0)) / total_weight
    return total.quantize(CENT, ROUND_HALF_UP), lines


def rank(scores: list[tuple[str, Decimal | None]]) -> dict[str, int]:
    """Competition ranking (1, 2, 2, 4) by score, highest first; units without a score get none."""
    ordered = sorted((s for s in scores if s[1] is not None), key=lambda s: -s[1])
    ranks, prev, prev_rank = {}, None, 0
    for i, (key, value) in enumerate(ordered, start=1):
        if value != prev:
            prev, prev_rank = value, i
        ranks[key] = prev_rank
    return ranks


# ---------------------------------------------------------------------------------------------
# Volume: how much work a unit had, against its scheme's minimum to be ranked


@dataclass(frozen=True)
class VolumeDef:
    measures: tuple[str, ...]
    label: str


# A unit's 案件量 in a period: the rows of these measures. A unit below its scheme's minimum
# is listed apart, not ranked: three cases all on time are no 100 % to put above a department
# that handled three hundred.
VOLUMES = {
    "department": VolumeDef(("dispatch",), "期内派遣到该部门的次数"),
    "inspector": VolumeDef(("report", "verify", "check"), "期内上报、核实与核查次数"),
    "intake": VolumeDef(("file",), "期内立案数"),
    "shift_lead": VolumeDef(("file", "close"), "期内立案与结案操作数"),
    "dispatcher": VolumeDef(("dispatch",), "期内派遣数"),
    "area": VolumeDef(("due_close",), "应结案数（期内立案的案件）"),
    "cell": VolumeDef(("due_close",), "应结案数（期内立案的案件）"),
}


def volume(unit_type: str, counts: dict[str, Counts]) -> int:
    return sum(counts[m].n for m in VOLUMES[unit_type].measures if m in counts)


# ---------------------------------------------------------------------------------------------
# Deductions: figures counted by other apps (督查扣分, 曝光次数) taken off the score


@dataclass(frozen=True)
class DeductionSpec:
    source: str
    label: str
    per_unit: Decimal  # points off the score per unit of the figure
    cap: Decimal  # at most this many points off


@dataclass
class DeductionLine:
    source: str
    label: str
    value: Decimal | None  # None: the source was not available (not registered)
    per_unit: Decimal
    cap: Decimal
    points: Decimal  # points taken off


def deduct(
    base: Decimal | None, specs: list[DeductionSpec], values: dict[str, Decimal | None]
) -> tuple[Decimal | None, list[DeductionLine]]:
    """The score after the deductions (never below 0): each takes value × per_unit points,
    at most its cap. A unit without a score keeps none (the deductions are still listed)."""
    lines = []
    for spec in specs:
        value = values.get(spec.source)
        points = Decimal(0)
        if value is not None:
            points = max(Decimal(0), min(Decimal(spec.cap), Decimal(value) * spec.per_unit))
        lines.append(
            DeductionLine(
                spec.source,
                spec.label,
                value,
                Decimal(spec.per_unit),
                Decimal(spec.cap),
                points.quantize(CENT, ROUND_HALF_UP),
            )
        )
    if base is None:
        return None, lines
    total = base - sum((ln.points for ln in lines), Decimal(0))
    return max(Decimal(0), total).quantize(CENT, ROUND_HALF_UP), lines


@dataclass
class DefaultScheme:
    unit_type: str
    name: str
    items: list[tuple[str, int, list[list[int]], bool]] = field(default_factory=list)


# DOMAIN.md §6 defaults (grid manager, department, dispatcher); the intake clerk's, shift
# lead's and area's are this project's local defaults, configurable like the rest.
REWORK_BANDS = [[2, 100], [5, 80], [10, 60], [20, 40]]
MISS_BANDS = [[5, 100], [10, 80], [20, 60], [40, 40]]
DEFAULT_SCHEMES = [
    DefaultScheme(
        "inspector",
        "网格员考评方案",
        [
            ("valid_report_rate", 40, [], False),
            ("miss_rate", 20, MISS_BANDS, False),
            ("verify_on_time_rate", 20, [], False),
            ("check_on_time_rate", 20, [], False),
        ],
    ),
    DefaultScheme(
        "department",
        "专业部门考评方案",
        [
            ("handle_due", 10, [], True),
            ("close_rate", 30, [], False),
            ("handle_on_time_rate", 30, [], False),
            ("rework_rate", 30, REWORK_BANDS, False),
        ],
    ),
    DefaultScheme(
        "dispatcher",
        "派遣员考评方案",
        [
            ("dispatched", 20, [], True),
            ("dispatch_on_time_rate", 40, [], False),
            ("dispatch_accuracy", 40, [], False),
        ],
    ),
    DefaultScheme(
        "intake",
        "受理员考评方案",
        [
            ("filed", 20, [], True),
            ("file_on_time_rate", 40, [], False),
            ("file_accuracy", 40, [], False),
        ],
    ),
    DefaultScheme(
        "shift_lead",
        "值班长考评方案",
        [
            ("file_on_time_rate", 30, [], False),
            ("file_accuracy", 30, [], False),
            ("close_on_time_rate", 40, [], False),
        ],
    ),
    DefaultScheme(
        "area",
        "区域综合评价方案",
        [
            ("close_rate", 30, [], False),
            ("on_time_close_rate", 30, [], False),
            ("handle_on_time_rate", 20, [], False),
            ("rework_rate", 20, REWORK_BANDS, False),
        ],
    ),
    DefaultScheme(
        "cell",
        "单元网格评价方案",
        [
            ("close_rate", 30, [], False),
            ("on_time_close_rate", 30, [], False),
            ("handle_on_time_rate", 20, [], False),
            ("rework_rate", 20, REWORK_BANDS, False),
        ],
    ),
]
