"""Counting the measures from the case record (CaseEvent rows, joined to their Case), in SQL,
grouped by unit; and the same rows for a drill-down, so every figure lists its cases.

A *source* gives, per measure, a queryset whose rows all carry the same columns: case_number,
at, started_at, u_dept, u_actor, u_cell, u_manager, f1, f2, raw_overdue, appealed. The live
source annotates CaseEvent; a frozen period's source reads its Fact rows (copied from the live
source when the period was frozen), so both are aggregated by the same code.

Rules common to every measure: an event counts in a period when `start ≤ at < end` (local
dates, Asia/Shanghai); what happened *after* an event (was the case filed, closed, re-dispatched,
appealed?) is looked up in the record up to the *cutoff* — the moment of computing, or the
freeze time of a frozen period. "After" is by event id, since one action can write several
rows in the same instant.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, time
from decimal import Decimal

from django.db.models import (
    BooleanField,
    Count,
    DateTimeField,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.utils import timezone

from gridcity.accounts.models import Department, DepartmentKind, User
from gridcity.cases.models import CaseEvent, Channel
from gridcity.cases.workflow import TRANSITIONS
from gridcity.evaluation import indicators as ind
from gridcity.evaluation.indicators import (
    INDICATORS,
    MEASURES,
    Counts,
    Figure,
    Period,
    SchemeItemSpec,
    UnitType,
    evaluate,
    grade,
    indicators_for,
    parse_period,
    rank,
    score,
)
from gridcity.grids.models import Area, AreaLevel, Beat

PUBLIC_CHANNELS = (Channel.CITIZEN, Channel.HOTLINE, Channel.OPEN311)
# Transitions that end the running step (and restart its clock); `assign` and `callback` don't.
STEP_ENDING = tuple(t.action for t in TRANSITIONS if t.target is not None)
COLUMNS = (
    "pk",
    "case_id",
    "case_number",
    "channel",
    "at",
    "started_at",
    "u_dept",
    "u_actor",
    "u_cell",
    "u_manager",
    "f1",
    "f2",
    "raw_overdue",
    "appealed",
)


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime
    cutoff: datetime


def window_for(period: Period, cutoff: datetime | None = None) -> Window:
    tz = timezone.get_current_timezone()
    return Window(
        datetime.combine(period.start, time.min, tz),
        datetime.combine(period.end, time.min, tz),
        cutoff or timezone.now(),
    )


# ---------------------------------------------------------------------------------------------
# Sources


def _bool(q) -> ExpressionWrapper:
    return ExpressionWrapper(q, output_field=BooleanField())


class LiveSource:
    frozen = False

    def __init__(self, window: Window):
        self.w = window

    def _events(self) -> QuerySet:
        return CaseEvent.objects.filter(at__lte=self.w.cutoff)

    def _later(self, **filters) -> QuerySet:
        """Events on the same case after the outer one, up to the cutoff."""
        return self._events().filter(case_id=OuterRef("case_id"), pk__gt=OuterRef("pk"), **filters)

    def _appealed(self) -> Exists:
        from gridcity.evaluation.models import Appeal, AppealStatus

        return Exists(
            Appeal.objects.filter(
                case_id=OuterRef("case_id"),
                department_id=OuterRef("department_id"),
                status=AppealStatus.APPROVED,
                decided_at__lte=self.w.cutoff,
            )
        )

    def _last_dispatch(self, column: str) -> Subquery:
        return Subquery(
            self._events()
            .filter(case_id=OuterRef("case_id"), action="dispatch")
            .order_by("-pk")
            .values(column)[:1]
        )

    def rows(self, measure: str) -> QuerySet:
        w = self.w
        qs = CaseEvent.objects.filter(at__gte=w.start, at__lt=w.end, at__lte=w.cutoff)
        ann: dict = {
            "case_number": F("case__number"),
            "channel": F("case__channel"),
            "started_at": Value(None, output_field=DateTimeField()),
            "u_dept": F("department_id"),
            "u_actor": F("actor_id"),
            "u_cell": F("case__cell_id"),
            "u_manager": Value(None, output_field=IntegerField()),
            "raw_overdue": F("overdue"),
            "appealed": Value(False, output_field=BooleanField()),
        }
        f1 = f2 = Value(False, output_field=BooleanField())
        on_time = _bool(Q(overdue=False))
        on_time_or_appealed = _bool(Q(overdue=False) | Q(appealed=True))
        if measure == "report":
            qs = qs.filter(action__in=("report", "link_report"))
            ann["filed"] = Exists(self._later(action="file"))
            f1 = _bool(Q(action="report", filed=True))
            f2 = _bool(Q(action="report", filed=True, case__channel=Channel.INSPECTOR))
        elif measure == "missed":
            qs = qs.filter(action="report", case__channel__in=PUBLIC_CHANNELS).filter(
                Exists(self._later(action="file"))
            )
            ann["u_manager"] = Subquery(
                Beat.cells.through.objects.filter(area_id=OuterRef("case__cell_id"))
                .order_by("beat_id")
                .values("beat__manager_id")[:1]
            )
        elif measure == "verify":
            qs, f1 = qs.filter(action="verify"), on_time
        elif measure == "check":
            qs, f1 = qs.filter(action__in=("check_pass", "check_fail")), on_time
        elif measure == "file":
            qs, f1 = qs.filter(action="file"), on_time
            f2 = _bool(~Q(Exists(self._later(action__in=("void", "merge")))))
        elif measure == "dispatch":
            qs, f1 = qs.filter(action="dispatch"), on_time
            moved = self._later(action="dispatch").exclude(department_id=OuterRef("department_id"))
            f2 = _bool(~Q(Exists(moved)))
        elif measure in ("sign", "hotline_sign"):
            qs = qs.filter(action="sign")
            if measure == "hotline_sign":
                qs = qs.filter(case__channel=Channel.HOTLINE)
            ann["appealed"] = self._appealed()
            f1 = on_time_or_appealed
        elif measure == "handle":
            qs = qs.filter(action="report_back")
            ann["appealed"] = self._appealed()
            ann["started_at"] = Subquery(
                CaseEvent.objects.filter(
                    case_id=OuterRef("case_id"),
                    pk__lt=OuterRef("pk"),
                    action__in=("dispatch", "check_fail"),
                )
                .order_by("-pk")
                .values("at")[:1]
            )
            f1 = on_time_or_appealed
        elif measure == "overdue_open":
            qs = (
                CaseEvent.objects.filter(
                    action="overdue", step__in=("sign", "handle"), at__lt=w.end, at__lte=w.cutoff
                )
                .exclude(Exists(self._later(action__in=STEP_ENDING, at__lt=w.end)))
                .exclude(case__status__in=("voided", "merged"))
            )
        elif measure in ("rework", "return", "extension", "hold"):
            action = {
                "rework": "check_fail",
                "return": "return",
                "extension": "approve_extension",
                "hold": "approve_hold",
            }[measure]
            qs = qs.filter(action=action)
        elif measure in ("due_close", "hotline_close"):
            qs = qs.filter(action="file").exclude(Exists(self._later(action__in=("void", "merge"))))
            if measure == "hotline_close":
                qs = qs.filter(case__channel=Channel.HOTLINE)
            appeal = self._appealed_for_late()
            late = self._later(action="report_back", overdue=True).exclude(appeal)
            ann["u_dept"] = self._last_dispatch("department_id")
            ann["closed"] = Exists(self._later(action="close"))
            ann["late"] = Exists(late)
            f1 = _bool(Q(closed=True))
            f2 = _bool(Q(closed=True, late=False))
        elif measure == "close":
            qs, f1 = qs.filter(action="close"), on_time
        elif measure == "callback":
            qs = qs.filter(action="callback")
            f1 = _bool(Q(data__satisfied=True))
        else:
            raise KeyError(measure)
        return qs.annotate(**ann).annotate(f1=f1, f2=f2)

    def _appealed_for_late(self) -> Exists:
        from gridcity.evaluation.models import Appeal, AppealStatus

        return Exists(
            Appeal.objects.filter(
                case_id=OuterRef("case_id"),
                department_id=OuterRef("department_id"),
                status=AppealStatus.APPROVED,
                decided_at__lte=self.w.cutoff,
            )
        )


class FrozenSource:
    frozen = True

    def __init__(self, period_row):
        self.period_row = period_row

    def rows(self, measure: str) -> QuerySet:
        return self.period_row.facts.filter(measure=measure)


def source_for(period: Period, cutoff: datetime | None = None):
    """The frozen snapshot of the period if there is one, else the live record."""
    from gridcity.evaluation.models import EvaluationPeriod

    row = EvaluationPeriod.objects.filter(key=period.key).first()
    if row is not None:
        return FrozenSource(row)
    return LiveSource(window_for(period, cutoff))


# ---------------------------------------------------------------------------------------------
# Units


def unit_column(unit_type: str, measure: str) -> str:
    if unit_type == UnitType.DEPARTMENT:
        return "u_dept"
    if unit_type == UnitType.AREA:
        return "u_cell"
    if unit_type == UnitType.INSPECTOR and measure == "missed":
        return "u_manager"
    return "u_actor"


@dataclass
class Unit:
    key: str
    name: str
    level: int | None = None
    area_class: str = ""
    path: str = ""
    parent: str = ""


def list_units(unit_type: str) -> list[Unit]:
    if unit_type == UnitType.DEPARTMENT:
        return [
            Unit(str(d.pk), d.name)
            for d in Department.objects.filter(is_active=True).exclude(kind=DepartmentKind.CENTRE)
        ]
    if unit_type == UnitType.AREA:
        return [
            Unit(
                str(a["pk"]),
                a["name"],
                a["level"],
                a["area_class"],
                a["path"],
                str(a["parent_id"] or ""),
            )
            for a in Area.objects.filter(is_active=True, level__lt=AreaLevel.CELL)
            .values("pk", "name", "level", "area_class", "path", "parent_id")
            .order_by("path")
        ]
    return [
        Unit(str(u.pk), str(u))
        for u in User.objects.filter(role=unit_type, is_active=True).order_by("username")
    ]


class AreaRollup:
    """Cell id → the ids of the cell and every area above it (one query, then in memory)."""

    def __init__(self):
        self.id_by_code = dict(Area.objects.values_list("code", "pk"))
        self.cache: dict[int, list[int]] = {}
        self.paths = dict(Area.objects.filter(level=AreaLevel.CELL).values_list("pk", "path"))

    def up(self, cell_id: int) -> list[int]:
        if cell_id not in self.cache:
            path = self.paths.get(cell_id, "")
            self.cache[cell_id] = [
                self.id_by_code[c] for c in path.strip("/").split("/") if c in self.id_by_code
            ]
        return self.cache[cell_id]


def _aggregate(qs: QuerySet, column: str, with_hours: bool) -> list[dict]:
    ann = {
        "n": Count("pk"),
        "c1": Count("pk", filter=Q(f1=True)),
        "c2": Count("pk", filter=Q(f2=True)),
    }
    if with_hours:
        ann["dur"] = Sum(
            ExpressionWrapper(F("at") - F("started_at"), output_field=DurationField()),
            filter=Q(started_at__isnull=False),
        )
    return list(qs.order_by().values(column).annotate(**ann))


def measure_counts(source, unit_type: str) -> dict[str, dict[str, Counts]]:
    """unit key → measure → Counts, for every measure that applies to the unit type."""
    out: dict[str, dict[str, Counts]] = defaultdict(dict)
    rollup = AreaRollup() if unit_type == UnitType.AREA else None
    for key, m in MEASURES.items():
        if unit_type not in m.units:
            continue
        column = unit_column(unit_type, key)
        for r in _aggregate(source.rows(key), column, key == "handle"):
            unit = r[column]
            if unit is None:
                continue
            hours = r["dur"].total_seconds() / 3600 if r.get("dur") else 0.0
            targets = rollup.up(unit) if rollup else [unit]
            for t in targets:
                c = out[str(t)].setdefault(key, Counts())
                c.n += r["n"]
                c.f1 += r["c1"]
                c.f2 += r["c2"]
                c.hours += hours
    return out


# ---------------------------------------------------------------------------------------------
# Schemes, scores, rankings


def scheme_for(unit_type: str) -> tuple[str, list[SchemeItemSpec], tuple]:
    from gridcity.evaluation.models import Scheme

    scheme = Scheme.objects.filter(unit_type=unit_type, is_active=True).first()
    if scheme is None:
        return "", [], ind.DEFAULT_GRADES
    items = [
        SchemeItemSpec(
            i.indicator.key,
            i.weight,
            i.indicator.direction,
            tuple((Decimal(str(a)), Decimal(str(b))) for a, b in i.bands),
            i.relative,
        )
        for i in scheme.items.select_related("indicator")
        if i.indicator.key in INDICATORS
    ]
    grades = tuple((g, v) for g, v in scheme.grades) or ind.DEFAULT_GRADES
    return scheme.name, items, grades


@dataclass
class UnitResult:
    unit: Unit
    figures: dict[str, Figure]
    score: Decimal | None = None
    grade: str = ""
    rank: int | None = None
    lines: list = field(default_factory=list)


@dataclass
class Ranking:
    period: Period
    unit_type: str
    scheme: str
    units: list[UnitResult]
    frozen: bool
    indicators: list[str]


def compute_ranking(period: Period, unit_type: str, *, source=None) -> Ranking:
    """Every unit of a type: its figures, score, grade and rank (areas: ranked within their
    level and area class, since unlike areas are evaluated separately)."""
    source = source or source_for(period)
    counts = measure_counts(source, unit_type)
    defs = indicators_for(unit_type)
    name, items, grades = scheme_for(unit_type)
    results = []
    for u in list_units(unit_type):
        c = counts.get(u.key, {})
        results.append(UnitResult(u, {d.key: evaluate(d, c) for d in defs}))
    groups: dict[tuple, list[UnitResult]] = defaultdict(list)
    for r in results:
        groups[(r.unit.level, r.unit.area_class)].append(r)
    for group in groups.values():
        best = {
            s.indicator: max((int(r.figures[s.indicator].value or 0) for r in group), default=0)
            for s in items
            if s.relative and s.indicator in INDICATORS
        }
        for r in group:
            values = {k: f.value for k, f in r.figures.items()}
            r.score, r.lines = score(items, values, best)
            r.grade = grade(r.score, grades)
        ranks = rank([(r.unit.key, r.score) for r in group])
        for r in group:
            r.rank = ranks.get(r.unit.key)
    results.sort(key=lambda r: (r.unit.level or 0, r.rank is None, r.rank or 0, r.unit.name))
    return Ranking(period, unit_type, name, results, source.frozen, [d.key for d in defs])


def ranking_to_json(r: Ranking) -> dict:
    def num(v):
        return None if v is None else str(v)

    return {
        "scheme": r.scheme,
        "indicators": r.indicators,
        "units": [
            {
                "key": u.unit.key,
                "name": u.unit.name,
                "level": u.unit.level,
                "area_class": u.unit.area_class,
                "path": u.unit.path,
                "score": num(u.score),
                "grade": u.grade,
                "rank": u.rank,
                "figures": {
                    k: [num(f.value), f.numerator, f.denominator] for k, f in u.figures.items()
                },
                "lines": [
                    [ln.indicator, num(ln.weight), num(ln.value), num(ln.share), num(ln.points)]
                    for ln in u.lines
                ],
            }
            for u in r.units
        ],
    }


def ranking_from_json(period: Period, unit_type: str, data: dict) -> Ranking:
    from gridcity.evaluation.indicators import ScoreLine

    def dec(v):
        return None if v is None else Decimal(v)

    units = []
    for u in data["units"]:
        figures = {}
        for k, (v, n, d) in u["figures"].items():
            kind = INDICATORS[k].kind if k in INDICATORS else "rate"
            figures[k] = Figure(k, int(v) if (v is not None and kind == "count") else dec(v), n, d)
        units.append(
            UnitResult(
                Unit(u["key"], u["name"], u["level"], u["area_class"], u.get("path", "")),
                figures,
                dec(u["score"]),
                u["grade"],
                u["rank"],
                [ScoreLine(a, dec(b), dec(c), dec(d), dec(e)) for a, b, c, d, e in u["lines"]],
            )
        )
    return Ranking(period, unit_type, data["scheme"], units, True, data["indicators"])


def get_ranking(period_key: str, unit_type: str) -> Ranking:
    """The published (frozen) ranking if the period is closed, else computed now."""
    from gridcity.evaluation.models import PeriodResult

    period = parse_period(period_key)
    stored = PeriodResult.objects.filter(period__key=period.key, unit_type=unit_type).first()
    if stored is not None:
        return ranking_from_json(period, unit_type, stored.data)
    return compute_ranking(period, unit_type)


# ---------------------------------------------------------------------------------------------
# Drill-down


def _restrict(qs: QuerySet, unit_type: str, unit_key: str, measure: str) -> QuerySet:
    column = unit_column(unit_type, measure)
    if unit_type == UnitType.AREA:
        area = Area.objects.filter(pk=unit_key).first()
        if area is None:
            return qs.none()
        cells = Area.objects.filter(level=AreaLevel.CELL, path__startswith=area.path).values("pk")
        return qs.filter(u_cell__in=Subquery(cells))
    return qs.filter(**{column: int(unit_key)})


def drill_rows(source, measure: str, flag: str, unit_type: str, unit_key: str) -> list[dict]:
    qs = _restrict(source.rows(measure), unit_type, unit_key, measure)
    if flag:
        qs = qs.filter(**{flag: True})
    return list(
        qs.order_by("at", "pk").values(
            "case_number", "at", "f1", "f2", "raw_overdue", "appealed", "channel"
        )
    )


def drilldown(indicator_key: str, unit_type: str, unit_key: str, period_key: str) -> dict:
    """The rows behind one figure: its numerator's rows and its denominator's rows."""
    d = INDICATORS[indicator_key]
    period = parse_period(period_key)
    source = source_for(period)
    num = drill_rows(source, d.numerator.measure, d.numerator.flag, unit_type, unit_key)
    den: list[dict] = []
    for ref in d.denominator:
        den += drill_rows(source, ref.measure, ref.flag, unit_type, unit_key)
    return {"indicator": d, "period": period, "numerator": num, "denominator": den}
