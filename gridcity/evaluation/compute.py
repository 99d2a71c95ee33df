"""Counting the measures over a period, grouped by unit, and the rows behind each figure.

The counting reads *facts* (gridcity/cases/facts.py): one row per counted event, with the
units it is attributed to and the flags that depend on what happened to its case afterwards,
kept current by the case actions in the transaction of every event. A live period adds up the
per-day counts of its facts (cases.FactDay), recounting first the days the actions marked stale;
the rows behind a figure are a filter on the facts themselves. A frozen period reads the copy
of its facts taken when it was frozen (`FrozenSource`), grouped directly.

Rules common to every measure: an event counts in a period when `start ≤ at < end` (local
dates, Asia/Shanghai). The stock measures (steps overdue and still open at the period's end)
count the overdue marks before the end whose step had not ended by then. What happened after
an event is read from the record as it stands: freezing a period fixes the answer.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from gridcity.accounts.models import Department, DepartmentKind, User
from gridcity.cases.facts import FLOW_MEASURES, refresh_stale_days
from gridcity.cases.models import CaseFact, FactDay
from gridcity.evaluation import indicators as ind
from gridcity.evaluation import sources
from gridcity.evaluation.indicators import (
    INDICATORS,
    MEASURES,
    STOCK_MEASURES,
    VOLUMES,
    Counts,
    DeductionLine,
    DeductionSpec,
    Figure,
    Period,
    SchemeItemSpec,
    UnitType,
    deduct,
    evaluate,
    grade,
    indicators_for,
    parse_period,
    rank,
    score,
    volume,
)
from gridcity.grids.models import Area, AreaLevel


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime
    first_day: date
    end_day: date  # the day after the last


def window_for(period: Period) -> Window:
    tz = timezone.get_current_timezone()
    return Window(
        datetime.combine(period.start, time.min, tz),
        datetime.combine(period.end, time.min, tz),
        period.start,
        period.end,
    )


# ---------------------------------------------------------------------------------------------
# Sources


def in_window(qs: QuerySet, w: Window, *, stock: bool) -> QuerySet:
    """Flow measures: the rows dated in the period. Stock measures: the overdue marks made
    before the period's end whose step had not ended by then."""
    if stock:
        return qs.filter(at__lt=w.end, ended_at__gte=w.end)
    return qs.filter(at__gte=w.start, at__lt=w.end)


# The unit columns counted per day (cases.FactDay); cells are counted from the facts directly.
DAY_COUNTED_COLUMNS = ("u_dept", "u_actor", "u_area")
STOCK_COLUMNS = ("u_dept", "u_actor", "u_area", "u_cell")


class LiveSource:
    frozen = False

    def __init__(self, window: Window):
        self.w = window
        self._open_steps: list[tuple] | None = None
        self._days_fresh = False
        self._external: dict[str, dict[int, Decimal] | None] = {}

    def flow(self) -> QuerySet:
        # measure IN (…) rather than NOT IN: one range of the (measure, at) index per measure.
        return in_window(CaseFact.objects.filter(measure__in=FLOW_MEASURES), self.w, stock=False)

    def stock(self) -> QuerySet:
        return in_window(CaseFact.objects.filter(measure__in=STOCK_MEASURES), self.w, stock=True)

    def rows(self, measure: str) -> QuerySet:
        if measure not in MEASURES:
            raise KeyError(measure)
        qs = CaseFact.objects.filter(measure=measure)
        return in_window(qs, self.w, stock=measure in STOCK_MEASURES)

    def counted(self, column: str, measures: set[str]) -> list[tuple]:
        """(measure, unit, n, f1, f2, hours) per measure and unit: the flow measures from the
        per-day counts (recounting the stale days first), the stock ones from the facts.
        Cells have no day counts: one GROUP BY over the period's facts (a demo month is a few
        tens of thousands of rows; the board counts cells only when cells are asked for)."""
        if column not in DAY_COUNTED_COLUMNS:
            return _grouped(self.flow(), column, measures) + self._stock_counted(column, measures)
        refresh_stale_days(self.w.first_day, self.w.end_day)
        flow = (
            FactDay.objects.filter(
                day__gte=self.w.first_day,
                day__lt=self.w.end_day,
                dimension=column,
                measure__in=measures,
            )
            .order_by()
            .values("measure", "unit")
            .annotate(tn=Sum("n"), t1=Sum("c1"), t2=Sum("c2"), th=Sum("hours"))
            .values_list("measure", "unit", "tn", "t1", "t2", "th")
        )
        return list(flow) + self._stock_counted(column, measures)

    def day_counts(self, column: str, measure: str, units: list[int], count: str) -> list:
        """(day, rows) for each day of the window with rows of the measure for these units,
        from the day counts (the stale days recounted first, once per source)."""
        if not self._days_fresh:
            refresh_stale_days(self.w.first_day, self.w.end_day)
            self._days_fresh = True
        return list(
            FactDay.objects.filter(
                day__gte=self.w.first_day,
                day__lt=self.w.end_day,
                dimension=column,
                measure=measure,
                unit__in=units,
            )
            .order_by("day")
            .values("day")
            .annotate(k=Sum(count))
            .filter(k__gt=0)
            .values_list("day", "k")
        )

    def _stock_counted(self, column: str, measures: set[str]) -> list[tuple]:
        """The steps open at the period's end, read once for every unit column (they are few
        next to the flow, but scattered over the table)."""
        if self._open_steps is None:
            self._open_steps = list(
                self.stock()
                .order_by()
                .values("measure", *STOCK_COLUMNS)
                .annotate(tn=Count("id"))
                .values_list("measure", *STOCK_COLUMNS, "tn")
            )
        index = STOCK_COLUMNS.index(column) + 1
        n_at = len(STOCK_COLUMNS) + 1
        sums: dict[tuple, int] = defaultdict(int)
        for row in self._open_steps:
            if row[0] in measures and row[index] is not None:
                sums[(row[0], row[index])] += row[n_at]
        return [(measure, unit, n, 0, 0, None) for (measure, unit), n in sums.items()]

    def external(self, key: str) -> dict[int, Decimal] | None:
        """A registered source's figures per department over the period (None: no such
        source is registered)."""
        if key not in self._external:
            source = sources.get(key)
            self._external[key] = (
                None
                if source is None
                else {
                    int(unit): Decimal(value)
                    for unit, value in source.compute(
                        self.w.first_day, self.w.end_day - timedelta(days=1)
                    ).items()
                }
            )
        return self._external[key]


class FrozenSource:
    """A frozen period's copy of the facts it counted (see do_freeze_period), with their
    per-day counts (FrozenDay; none for periods frozen before those were kept)."""

    frozen = True

    def __init__(self, period_row):
        self.period_row = period_row
        self._has_days: bool | None = None

    @property
    def has_days(self) -> bool:
        if self._has_days is None:
            self._has_days = self.period_row.days.exists()
        return self._has_days

    def rows(self, measure: str) -> QuerySet:
        if measure not in MEASURES:
            raise KeyError(measure)
        return self.period_row.facts.filter(measure=measure)

    def counted(self, column: str, measures: set[str]) -> list[tuple]:
        facts = self.period_row.facts.all()
        if column not in DAY_COUNTED_COLUMNS or not self.has_days:
            return _grouped(facts, column, measures)
        flow = (
            self.period_row.days.filter(dimension=column, measure__in=measures)
            .order_by()
            .values("measure", "unit")
            .annotate(tn=Sum("n"), t1=Sum("c1"), t2=Sum("c2"), th=Sum("hours"))
            .values_list("measure", "unit", "tn", "t1", "t2", "th")
        )
        stock = measures & set(STOCK_MEASURES)
        return list(flow) + (_grouped(facts, column, stock) if stock else [])

    def day_counts(self, column: str, measure: str, units: list[int], count: str) -> list:
        return list(
            self.period_row.days.filter(dimension=column, measure=measure, unit__in=units)
            .order_by("day")
            .values("day")
            .annotate(k=Sum(count))
            .filter(k__gt=0)
            .values_list("day", "k")
        )

    def external(self, key: str) -> dict[int, Decimal] | None:
        """The source's figures as they stood when the period froze (none there: 0 each)."""
        return {
            unit: value
            for unit, value in self.period_row.unit_figures.filter(source=key).values_list(
                "unit", "value"
            )
        }


def source_for(period: Period):
    """The frozen snapshot of the period if there is one, else the live record."""
    from gridcity.evaluation.models import EvaluationPeriod

    row = EvaluationPeriod.objects.filter(key=period.key).first()
    if row is not None:
        return FrozenSource(row)
    return LiveSource(window_for(period))


# ---------------------------------------------------------------------------------------------
# Units


def unit_column(unit_type: str) -> str:
    if unit_type == UnitType.DEPARTMENT:
        return "u_dept"
    if unit_type == UnitType.AREA:
        return "u_area"
    if unit_type == UnitType.CELL:
        return "u_cell"
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
    if unit_type == UnitType.CELL:
        return [
            Unit(
                str(a["pk"]),
                f"{a['name']}（{a['code']}）" if a["name"] != a["code"] else a["code"],
                a["level"],
                a["area_class"],
                a["path"],
                str(a["parent_id"] or ""),
            )
            for a in Area.objects.filter(is_active=True, level=AreaLevel.CELL)
            .values("pk", "name", "code", "level", "area_class", "path", "parent_id")
            .order_by("path")
        ]
    return [
        Unit(str(u.pk), str(u))
        for u in User.objects.filter(role=unit_type, is_active=True).order_by("username")
    ]


class AreaRollup:
    """Area id → the ids of the area and every area above it (one query, then in memory)."""

    def __init__(self):
        rows = list(Area.objects.filter(level__lt=AreaLevel.CELL).values_list("pk", "code", "path"))
        self.id_by_code = {code: pk for pk, code, _ in rows}
        self.paths = {pk: path for pk, _, path in rows}
        self.cache: dict[int, list[int]] = {}

    def up(self, area_id: int) -> list[int]:
        if area_id not in self.cache:
            path = self.paths.get(area_id, "")
            self.cache[area_id] = [
                self.id_by_code[c] for c in path.strip("/").split("/") if c in self.id_by_code
            ]
        return self.cache[area_id]


# Each unit column and the unit types it serves (the four kinds of people share u_actor).
UNIT_COLUMNS = {
    "u_dept": (UnitType.DEPARTMENT,),
    "u_area": (UnitType.AREA,),
    "u_cell": (UnitType.CELL,),
    "u_actor": ind.PEOPLE_UNIT_TYPES,
}


def _grouped(qs: QuerySet, column: str, measures: set[str]) -> list[tuple]:
    return list(
        qs.filter(measure__in=measures, **{f"{column}__isnull": False})
        .order_by()
        .values("measure", column)
        .annotate(
            tn=Count("id"),
            t1=Count("id", filter=Q(f1=True)),
            t2=Count("id", filter=Q(f2=True)),
            th=Sum("hours"),
        )
        .values_list("measure", column, "tn", "t1", "t2", "th")
    )


def measure_counts_all(source, unit_types=None) -> dict[str, dict[str, dict[str, Counts]]]:
    """unit type → unit key → measure → Counts, for every measure that applies: grouped per
    unit column (areas then rolled up their tree in memory)."""
    wanted = set(unit_types or ind.UNIT_TYPE_LABELS)
    out: dict[str, dict[str, dict[str, Counts]]] = {u: defaultdict(dict) for u in wanted}
    rollup = AreaRollup() if UnitType.AREA in wanted else None
    for column, types in UNIT_COLUMNS.items():
        types = [t for t in types if t in wanted]
        if not types:
            continue
        measures = {k for k, m in MEASURES.items() if m.units & set(types)}
        for measure, unit, n, c1, c2, hours in source.counted(column, measures):
            targets = rollup.up(unit) if column == "u_area" else [unit]
            for t in types:
                if t not in MEASURES[measure].units:
                    continue
                for target in targets:
                    c = out[t][str(target)].setdefault(measure, Counts())
                    c.n += n
                    c.f1 += c1
                    c.f2 += c2
                    c.hours += hours or 0.0
    return out


def measure_counts(source, unit_type: str) -> dict[str, dict[str, Counts]]:
    return measure_counts_all(source, [unit_type])[unit_type]


# ---------------------------------------------------------------------------------------------
# Schemes, scores, rankings


@dataclass
class SchemeSpec:
    name: str
    items: list[SchemeItemSpec]
    grades: tuple
    min_cases: int = 0
    deductions: list[DeductionSpec] = field(default_factory=list)


def scheme_for(unit_type: str) -> SchemeSpec:
    from gridcity.evaluation.models import Scheme

    scheme = Scheme.objects.filter(unit_type=unit_type, is_active=True).first()
    if scheme is None:
        return SchemeSpec("", [], ind.DEFAULT_GRADES)
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
    # External figures are counted per department (sources.py): other unit types have none.
    deductions = []
    if unit_type == UnitType.DEPARTMENT:
        for d in scheme.deductions.all():
            registered = sources.get(d.source)
            label = registered.label if registered else d.source
            deductions.append(DeductionSpec(d.source, label, d.points_per_unit, d.cap))
    grades = tuple((g, v) for g, v in scheme.grades) or ind.DEFAULT_GRADES
    return SchemeSpec(scheme.name, items, grades, scheme.min_cases_to_rank, deductions)


@dataclass
class UnitResult:
    unit: Unit
    figures: dict[str, Figure]
    score: Decimal | None = None
    grade: str = ""
    rank: int | None = None
    lines: list = field(default_factory=list)
    deductions: list[DeductionLine] = field(default_factory=list)
    volume: int | None = None  # None: a snapshot taken before volumes were kept
    # False: its volume is below the scheme's minimum; listed apart with no score or rank.
    ranked: bool = True
    idle: bool = False  # nothing at all was counted for it in the period


@dataclass
class Ranking:
    period: Period
    unit_type: str
    scheme: str
    units: list[UnitResult]
    frozen: bool
    indicators: list[str]
    min_cases: int = 0
    volume_label: str = ""
    deductions: list[tuple[str, str]] = field(default_factory=list)  # (source, label)

    @property
    def in_ranking(self) -> list[UnitResult]:
        return [u for u in self.units if u.ranked]

    @property
    def below_minimum(self) -> list[UnitResult]:
        """The units with some work, but less than the minimum to be ranked."""
        return [u for u in self.units if not u.ranked and u.volume]

    @property
    def idle(self) -> int:
        """How many units had no work at all and are not ranked."""
        return sum(1 for u in self.units if not u.ranked and not u.volume)


def _order(r: UnitResult) -> tuple:
    return (
        r.unit.level or 0,
        not r.ranked,
        r.rank is None,
        r.rank or 0,
        -(r.volume or 0),
        r.unit.name,
    )


def _group_key(unit: Unit) -> str:
    return f"{unit.level or ''}|{unit.area_class}"


def compute_ranking(period: Period, unit_type: str, *, source=None, counts=None) -> Ranking:
    """Every unit of a type: its figures, score, grade and rank (areas and cells: ranked within
    their level and area class, since unlike areas are evaluated separately). Units whose volume
    is below the scheme's minimum keep their figures but get no score, grade or rank.

    Most cells of a city have no case in a month (the demo: 12,898 cells, a few hundred with
    any): the units with nothing counted share one set of empty figures and score lines."""
    source = source or source_for(period)
    if counts is None:
        counts = measure_counts(source, unit_type)
    defs = indicators_for(unit_type)
    scheme = scheme_for(unit_type)
    external = {d.source: source.external(d.source) for d in scheme.deductions}
    empty = {d.key: evaluate(d, {}) for d in defs}
    results = []
    for u in list_units(unit_type):
        c = counts.get(u.key)
        if c:
            r = UnitResult(u, {d.key: evaluate(d, c) for d in defs}, volume=volume(unit_type, c))
        else:
            r = UnitResult(u, empty, volume=0, idle=True)
        r.ranked = r.volume >= scheme.min_cases
        results.append(r)
    groups: dict[tuple, list[UnitResult]] = defaultdict(list)
    for r in results:
        groups[(r.unit.level, r.unit.area_class)].append(r)
    for group in groups.values():
        ranked = [r for r in group if r.ranked]
        # Volume items are scored against the busiest unit *ranked* with them.
        best = {
            s.indicator: max((int(r.figures[s.indicator].value or 0) for r in ranked), default=0)
            for s in scheme.items
            if s.relative and s.indicator in INDICATORS
        }
        idle_score = score(scheme.items, {k: f.value for k, f in empty.items()}, best)
        for r in group:
            if r.idle:
                base, r.lines = idle_score
            else:
                base, r.lines = score(
                    scheme.items, {k: f.value for k, f in r.figures.items()}, best
                )
            if external:
                figures = {
                    key: None if per_unit is None else per_unit.get(int(r.unit.key), Decimal(0))
                    for key, per_unit in external.items()
                }
                base, r.deductions = deduct(base, scheme.deductions, figures)
            if r.ranked:
                r.score, r.grade = base, grade(base, scheme.grades)
        ranks = rank([(r.unit.key, r.score) for r in ranked])
        for r in ranked:
            r.rank = ranks.get(r.unit.key)
    results.sort(key=_order)
    return Ranking(
        period,
        unit_type,
        scheme.name,
        results,
        source.frozen,
        [d.key for d in defs],
        scheme.min_cases,
        VOLUMES[unit_type].label,
        [(d.source, d.label) for d in scheme.deductions],
    )


def compute_rankings(period: Period, *, source=None) -> dict[str, Ranking]:
    """Every unit type's ranking, counted in one pass over the period's facts."""
    source = source or source_for(period)
    counts = measure_counts_all(source)
    return {
        u: compute_ranking(period, u, source=source, counts=counts[u]) for u in ind.UNIT_TYPE_LABELS
    }


def _num(v) -> str | None:
    return None if v is None else str(v)


def _lines_json(lines: list) -> list:
    return [
        [ln.indicator, _num(ln.weight), _num(ln.value), _num(ln.share), _num(ln.points)]
        for ln in lines
    ]


def _lines_from_json(rows: list) -> list:
    from gridcity.evaluation.indicators import ScoreLine

    return [ScoreLine(a, _dec(b), _dec(c), _dec(d), _dec(e)) for a, b, c, d, e in rows]


def _dec(v) -> Decimal | None:
    return None if v is None else Decimal(v)


def ranking_to_json(r: Ranking) -> dict:
    """The ranking as stored with a frozen period. Units with nothing counted (and nothing
    deducted) are kept as their ids per group, with the group's score lines once: a city's
    month of cells is otherwise megabytes of empty figures."""
    idle: dict[str, list[str]] = defaultdict(list)
    idle_lines: dict[str, list] = {}
    units = []
    for u in r.units:
        if u.idle and not u.deductions:
            idle[_group_key(u.unit)].append(u.unit.key)
            idle_lines.setdefault(_group_key(u.unit), _lines_json(u.lines))
            continue
        units.append(
            {
                "key": u.unit.key,
                "name": u.unit.name,
                "level": u.unit.level,
                "area_class": u.unit.area_class,
                "path": u.unit.path,
                "score": _num(u.score),
                "grade": u.grade,
                "rank": u.rank,
                "figures": {
                    k: [_num(f.value), f.numerator, f.denominator] for k, f in u.figures.items()
                },
                "lines": _lines_json(u.lines),
                "deductions": [
                    [
                        d.source,
                        d.label,
                        _num(d.value),
                        _num(d.per_unit),
                        _num(d.cap),
                        _num(d.points),
                    ]
                    for d in u.deductions
                ],
                "volume": u.volume,
                "ranked": u.ranked,
            }
        )
    return {
        "scheme": r.scheme,
        "indicators": r.indicators,
        "min_cases": r.min_cases,
        "volume_label": r.volume_label,
        "deductions": [list(d) for d in r.deductions],
        "units": units,
        "idle_units": dict(idle),
        "idle_lines": idle_lines,
    }


def ranking_from_json(period: Period, unit_type: str, data: dict) -> Ranking:
    units = []
    for u in data["units"]:
        figures = {}
        for k, (v, n, d) in u["figures"].items():
            kind = INDICATORS[k].kind if k in INDICATORS else "rate"
            figures[k] = Figure(k, int(v) if (v is not None and kind == "count") else _dec(v), n, d)
        units.append(
            UnitResult(
                Unit(u["key"], u["name"], u["level"], u["area_class"], u.get("path", "")),
                figures,
                _dec(u["score"]),
                u["grade"],
                u["rank"],
                _lines_from_json(u["lines"]),
                [
                    DeductionLine(a, b, _dec(c), _dec(d), _dec(e), _dec(f))
                    for a, b, c, d, e, f in u.get("deductions", [])
                ],
                u.get("volume"),
                u.get("ranked", True),
            )
        )
    # Snapshots taken before minimum volumes and deductions existed ranked every unit.
    min_cases = data.get("min_cases", 0)
    if data.get("idle_units"):
        # Their names as they are now: nothing was counted for them, so nothing else to keep.
        current = {u.key: u for u in list_units(unit_type)}
        empty = {k: evaluate(INDICATORS[k], {}) for k in data["indicators"] if k in INDICATORS}
        for group, keys in data["idle_units"].items():
            level, area_class = group.split("|", 1)
            lines = _lines_from_json(data["idle_lines"].get(group, []))
            for key in keys:
                unit = current.get(key) or Unit(key, key, int(level) if level else None, area_class)
                units.append(
                    UnitResult(unit, empty, lines=lines, volume=0, ranked=min_cases == 0, idle=True)
                )
        units.sort(key=_order)
    return Ranking(
        period,
        unit_type,
        data["scheme"],
        units,
        True,
        data["indicators"],
        min_cases,
        data.get("volume_label", ""),
        [tuple(d) for d in data.get("deductions", [])],
    )


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
#
# A page of the rows behind a figure must cost what the page costs, not what the period (let
# alone the history) holds. Per measure reference (_Drill): how many rows, and rows lo … hi in
# (at, event_id) order.
# - Departments, people and areas: the count adds up the per-day counts (live: cases.FactDay,
#   the stale days recounted first; frozen: FrozenDay, counted from the snapshot when it was
#   taken), which also tell on which days rows lo … hi fall: the page then reads those days'
#   facts only (live: the (measure, at) index; frozen: the snapshot's (period, measure, unit
#   column, at, event_id) indexes, one partition per period on PostgreSQL).
# - Cells (few rows, scattered over the month): live, through the cell's cases
#   (cases_case.cell_id, then the facts' case_id index); frozen, within their community's
#   range of the area index.
# - Steps open at the period's end (a small partial index), and periods frozen before the
#   day counts were kept: counted and sliced directly.


DRILL_FIELDS = ("case_number", "at", "f1", "f2", "raw_overdue", "appealed", "channel")
DRILL_PAGE = 500
_DAY_COUNT_OF_FLAG = {"": "n", "f1": "c1", "f2": "c2"}


def _area_units(unit_key: str) -> list[int] | None:
    """The area and every area below it, cells aside: facts name the area just above their
    cell (None: no such area)."""
    area = Area.objects.filter(pk=unit_key).first()
    if area is None:
        return None
    return list(
        Area.objects.filter(path__startswith=area.path, level__lt=AreaLevel.CELL).values_list(
            "pk", flat=True
        )
    )


def _restrict(qs: QuerySet, unit_type: str, unit_key: str) -> QuerySet:
    if unit_type == UnitType.AREA:
        units = _area_units(unit_key)
        return qs.none() if units is None else qs.filter(u_area__in=units)
    return qs.filter(**{unit_column(unit_type): int(unit_key)})


def _drill_qs(source, measure: str, flag: str, unit_type: str, unit_key: str) -> QuerySet:
    qs = _restrict(source.rows(measure), unit_type, unit_key)
    if flag:
        qs = qs.filter(**{flag: True})
    return qs.order_by("at", "event_id").values(*DRILL_FIELDS)


def drill_rows(source, measure: str, flag: str, unit_type: str, unit_key: str) -> list[dict]:
    """Every row behind a measure for a unit (for checks and exports; pages use drilldown)."""
    return list(_drill_qs(source, measure, flag, unit_type, unit_key))


class _Drill:
    """The rows of one measure reference for one unit in a period, live or frozen."""

    def __init__(self, source, ref, unit_type: str, unit_key: str):
        self.source, self.ref, self.unit_type, self.unit_key = source, ref, unit_type, unit_key
        self.column = unit_column(unit_type)
        self.by_day = (
            ref.measure not in STOCK_MEASURES
            and self.column in DAY_COUNTED_COLUMNS
            and (not source.frozen or source.has_days)
        )
        self._days: list[tuple[date, int]] | None = None

    def qs(self) -> QuerySet:
        qs = _drill_qs(self.source, self.ref.measure, self.ref.flag, self.unit_type, self.unit_key)
        if self.column != "u_cell":
            return qs
        if self.source.frozen:
            # Within its community's range of the (period, measure, u_area, …) index.
            community = (
                Area.objects.filter(pk=int(self.unit_key))
                .values_list("parent_id", flat=True)
                .first()
            )
            return qs if community is None else qs.filter(u_area=community)
        # By the cell's cases (indexes cases_case.cell_id, then casefact_case): a cell's few
        # rows are scattered over the whole month of its measure.
        from gridcity.cases.models import Case

        return qs.filter(case_id__in=Case.objects.filter(cell_id=int(self.unit_key)).values("pk"))

    def days(self) -> list[tuple[date, int]]:
        if self._days is None:
            if self.unit_type == UnitType.AREA:
                units = _area_units(self.unit_key) or []
            else:
                units = [int(self.unit_key)]
            count = _DAY_COUNT_OF_FLAG[self.ref.flag]
            self._days = self.source.day_counts(self.column, self.ref.measure, units, count)
        return self._days

    def total(self) -> int:
        if self.by_day:
            return sum(k for _, k in self.days())
        return self.qs().count()

    def slice(self, lo: int, hi: int) -> list[dict]:
        if not self.by_day:
            return list(self.qs()[lo:hi])
        # The days holding rows lo … hi: rows before the first of them are skipped by count.
        seen, before, first, last = 0, 0, None, None
        for day, k in self.days():
            if first is None:
                if seen + k <= lo:
                    seen += k
                    continue
                first, before = day, seen
            last = day
            seen += k
            if seen >= hi:
                break
        if first is None:
            return []
        tz = timezone.get_current_timezone()
        qs = self.qs().filter(
            at__gte=datetime.combine(first, time.min, tz),
            at__lt=datetime.combine(last + timedelta(days=1), time.min, tz),
        )
        return list(qs[lo - before : hi - before])


def _drill_for(source, ref, unit_type: str, unit_key: str) -> _Drill:
    return _Drill(source, ref, unit_type, unit_key)


def _page(drills: list, offset: int, limit: int) -> tuple[list[dict], int]:
    """Rows offset … offset + limit of the references one after another, and their total."""
    rows: list[dict] = []
    total = 0
    for drill in drills:
        n = drill.total()
        lo, hi = max(offset - total, 0), max(offset + limit - total, 0)
        if hi > 0 and lo < n:
            rows += drill.slice(lo, min(hi, n))
        total += n
    return rows, total


def drilldown(
    indicator_key: str, unit_type: str, unit_key: str, period_key: str, page: int = 1
) -> dict:
    """The rows behind one figure, a page at a time: its numerator's rows and its
    denominator's rows (a city's month can put a hundred thousand cases behind one figure)."""
    d = INDICATORS[indicator_key]
    period = parse_period(period_key)
    source = source_for(period)
    offset = (max(page, 1) - 1) * DRILL_PAGE

    def drill(ref):
        return _drill_for(source, ref, unit_type, unit_key)

    num, num_total = _page([drill(d.numerator)], offset, DRILL_PAGE)
    den, den_total = _page([drill(r) for r in d.denominator], offset, DRILL_PAGE)
    pages = max(1, -(-max(num_total, den_total) // DRILL_PAGE))
    return {
        "indicator": d,
        "period": period,
        "numerator": num,
        "denominator": den,
        "numerator_total": num_total,
        "denominator_total": den_total,
        "page": min(max(page, 1), pages),
        "pages": pages,
    }
