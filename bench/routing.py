"""Routing a reported point: which cell, which department, which deadline.

Everything in memory, no database: a synthetic district of 100 × 100 square cells of 100 m
(10,000 cells, coded and pathed like a real grid: district / street / community / cell), a
RuleSet of a few hundred rules, and the real WorkCalendar. Three ways are timed:

* batched — CellIndex.locate_many over all points, then the rule and the deadline looked up as
  arrays (see DecisionTable and WorkingTimeTable below for what exactly is vectorised);
* one at a time — CellIndex.locate + RuleSet.best + WorkCalendar.add per point, as intake does;
* naive — polygon.contains(point) over every cell, on a small sample (it is that slow).

The batched answers are checked against the one-at-a-time answers on a sample, so the speed is
not bought with a different result.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import shapely

from gridcity.dispatch.engine import RuleRow, RuleSet
from gridcity.grids.spatial import CellIndex, IndexedCell
from gridcity.lib.workcalendar import Clock, WorkCalendar

TZ = ZoneInfo("Asia/Shanghai")
WEST, SOUTH = 120.10, 30.20
CELL_M = 100.0
SIDE = 100  # cells per side: 100 × 100 = 10,000 cells
DLON = CELL_M / (111_320.0 * np.cos(np.radians(SOUTH + 0.45)))
DLAT = CELL_M / 110_574.0
# Reports during a month that holds the National Day holiday and two 调休 Saturdays, so the
# working clocks meet every kind of day.
WINDOW_START = datetime(2025, 9, 15, tzinfo=TZ)
WINDOW_DAYS = 30
LIMITS = [  # (amount, clock) cycled over the categories
    (2.0, Clock.URGENT_HOURS),
    (4.0, Clock.WORK_HOURS),
    (1.0, Clock.WORK_DAYS),
    (3.0, Clock.WORK_DAYS),
    (2.0, Clock.NATURAL_DAYS),
    (0.5, Clock.URGENT_HOURS),
]


# -- the synthetic city -------------------------------------------------------------------------


@dataclass
class City:
    index: CellIndex
    rules: RuleSet
    rule_rows: list[RuleRow]
    categories: list[tuple[int, str, str]]  # (id, major_code, kind)
    limits: list[tuple[float, Clock]]  # per category index
    bounds: tuple[float, float, float, float]


def build_city(n_categories: int = 60) -> City:
    """Cells are numbered so that code order is path order: every area is a contiguous range."""
    cells, geoms = [], []
    for block_row in range(10):
        for block_col in range(10):
            street = f"{(block_row // 5) * 2 + block_col // 5 + 1:03d}"
            community = f"{block_row * 10 + block_col + 1:03d}"
            for r in range(10):
                for c in range(10):
                    row, col = block_row * 10 + r, block_col * 10 + c
                    seq = r * 10 + c + 1
                    code = f"330102{street}{community}{seq:03d}"
                    path = f"/330102/330102{street}/330102{street}{community}/{code}/"
                    cells.append(IndexedCell(len(cells) + 1, code, path))
                    x0, y0 = WEST + col * DLON, SOUTH + (SIDE - 1 - row) * DLAT
                    geoms.append(shapely.box(x0, y0, x0 + DLON, y0 + DLAT))
    order = sorted(range(len(cells)), key=lambda i: cells[i].code)
    cells = [cells[i] for i in order]
    geoms = [geoms[i] for i in order]
    index = CellIndex(cells, geoms)

    rng = np.random.default_rng(7)
    categories = []
    for i in range(n_categories):
        kind = "component" if i % 3 == 0 else "matter"
        major = f"{(i % 10) + 1:02d}"
        categories.append((1000 + i, major, kind))
    streets = sorted({c.path.split("/")[2] for c in cells})
    communities = sorted({c.path.split("/")[3] for c in cells})
    rows: list[RuleRow] = []

    def add(category_id, major, kind, area_path, level, dept, priority=0):
        rows.append(
            RuleRow(
                id=len(rows) + 1,
                category_id=category_id,
                major_code=major,
                kind=kind,
                area_path=area_path,
                area_level=level,
                area_name=area_path.strip("/").split("/")[-1] if area_path else "全辖区",
                condition_id=None,
                department_id=dept,
                department_name=f"部门{dept}",
                priority=priority,
                label=f"rule {len(rows) + 1}",
            )
        )

    add(None, "", "", "", 0, 1)  # the catch-all
    for major in sorted({m for _, m, _ in categories}):
        add(None, major, "", "", 0, 10 + int(major))
        add(None, major, "", f"/330102/{streets[int(major) % 4]}/", 2, 30 + int(major))
    for cid, _, _ in categories:
        add(cid, "", "", "", 0, 100 + cid % 17)
        for s in rng.choice(len(streets), 1, replace=False):
            add(cid, "", "", f"/330102/{streets[s]}/", 2, 200 + int(s))
        for k in rng.choice(len(communities), 2, replace=False):
            street = communities[k][6:9]
            add(cid, "", "", f"/330102/330102{street}/{communities[k]}/", 3, 300 + int(k) % 29)
    rules = RuleSet(rows)
    limits = [LIMITS[i % len(LIMITS)] for i in range(n_categories)]
    minx, miny = WEST, SOUTH
    maxx, maxy = WEST + SIDE * DLON, SOUTH + SIDE * DLAT
    return City(index, rules, rows, categories, limits, (minx, miny, maxx, maxy))


def make_points(city: City, n: int, seed: int = 1):
    """Points over the district and a 5 % margin around it (those fall outside every cell)."""
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = city.bounds
    mx, my = (maxx - minx) * 0.05, (maxy - miny) * 0.05
    lons = rng.uniform(minx - mx, maxx + mx, n)
    lats = rng.uniform(miny - my, maxy + my, n)
    cats = rng.integers(0, len(city.categories), n)
    # Whole seconds, as a timestamp from a form or a device.
    starts = WINDOW_START.timestamp() + rng.integers(0, WINDOW_DAYS * 86_400, n).astype(float)
    return lons, lats, cats, starts


# -- the vectorised parts -----------------------------------------------------------------------


class DecisionTable:
    """The winning rule for every (category, cell), built by painting area ranges.

    Cells sorted by code are sorted by path, so the cells under a rule's area are one range
    [lo, hi). For one category, painting its candidate rules' ranges from least to most
    specific (RuleSet's own key) leaves the most specific match in every cell. Valid for rules
    without a filing condition, which is all of them here; conditions would add a dimension."""

    def __init__(self, city: City) -> None:
        paths = np.array([c.path for c in city.index.cells])
        self.rule_dept = np.array([0] + [r.department_id for r in city.rule_rows])
        self.table = np.zeros((len(city.categories), len(paths)), dtype=np.int32)
        for ci, (cid, major, kind) in enumerate(city.categories):
            candidates = [
                r for r in city.rules.candidates(cid, major) if not r.kind or r.kind == kind
            ]
            candidates.sort(key=lambda r: (r.specificity(), -r.id))
            row = self.table[ci]
            for r in candidates:
                if not r.area_path:
                    row[:] = r.id
                    continue
                lo = np.searchsorted(paths, r.area_path, side="left")
                hi = np.searchsorted(paths, r.area_path + "\uffff", side="left")
                row[lo:hi] = r.id

    def rule_ids(self, cats: np.ndarray, cell_idx: np.ndarray) -> np.ndarray:
        out = np.zeros(len(cats), dtype=np.int32)
        ok = cell_idx >= 0
        out[ok] = self.table[cats[ok], cell_idx[ok]]
        return out


class WorkingTimeTable:
    """Working periods as arrays of epoch seconds, so a working-time deadline is two
    searchsorted calls: W(t) = working seconds before t, deadline = W⁻¹(W(start) + span)."""

    def __init__(self, calendar: WorkCalendar, first: date, days: int) -> None:
        begins, ends = [], []
        for k in range(days):
            d = first + timedelta(days=k)
            if not calendar.is_workday(d):
                continue
            for b, e in calendar.periods:
                begins.append(datetime.combine(d, b, tzinfo=calendar.tz).timestamp())
                ends.append(datetime.combine(d, e, tzinfo=calendar.tz).timestamp())
        self.begin = np.array(begins)
        self.end = np.array(ends)
        lengths = self.end - self.begin
        self.cum_before = np.concatenate([[0.0], np.cumsum(lengths)[:-1]])
        self.cum_after = self.cum_before + lengths

    def add(self, starts: np.ndarray, spans: np.ndarray) -> np.ndarray:
        """Deadlines (epoch seconds) of `spans` working seconds (> 0) after `starts`."""
        i = np.searchsorted(self.end, starts, side="right")  # first period ending after start
        worked = self.cum_before[i] + np.clip(starts - self.begin[i], 0.0, None)
        target = worked + spans
        j = np.searchsorted(self.cum_after, target, side="left")
        return self.begin[j] + (target - self.cum_before[j])


def route_batched(city: City, calendar: WorkCalendar, lons, lats, cats, starts, split: dict):
    t = time.perf_counter()
    cell_idx = city.index.locate_many(lons, lats)
    split["locate_many"] = time.perf_counter() - t
    t = time.perf_counter()
    table = DecisionTable(city)
    rule_ids = table.rule_ids(cats, cell_idx)
    depts = table.rule_dept[rule_ids]
    split["rules (table built inside)"] = time.perf_counter() - t
    t = time.perf_counter()
    # Per category: the amount in seconds and whether the clock runs continuously; the clock
    # strings never become per-point arrays.
    day_s = calendar.day_length.total_seconds()
    unit_s = {
        Clock.URGENT_HOURS: 3_600.0,
        Clock.NATURAL_DAYS: 86_400.0,
        Clock.WORK_HOURS: 3_600.0,
        Clock.WORK_DAYS: day_s,
    }
    span_of_cat = np.array([a * unit_s[c] for a, c in city.limits])
    working_cat = np.array([c.counts_working_time for _, c in city.limits])
    spans = span_of_cat[cats]
    working = working_cat[cats]
    deadlines = starts + spans  # right for the continuous clocks; the others are replaced
    wt = WorkingTimeTable(calendar, (WINDOW_START - timedelta(days=1)).date(), WINDOW_DAYS + 60)
    deadlines[working] = wt.add(starts[working], spans[working])
    split["deadlines (table built inside)"] = time.perf_counter() - t
    return cell_idx, rule_ids, depts, deadlines


def route_one(city: City, calendar: WorkCalendar, lon, lat, ci, start: datetime):
    hit = city.index.locate(lon, lat)
    cid, major, kind = city.categories[ci]
    rule, _ = city.rules.best(
        category_id=cid,
        major_code=major,
        kind=kind,
        area_path=hit.path if hit else "",
        condition_id=None,
    )
    amount, clock = city.limits[ci]
    return hit, rule, calendar.add(start, amount, clock)


def naive_locate(geoms, lon, lat):
    p = shapely.Point(lon, lat)
    for i, g in enumerate(geoms):
        if g.contains(p):
            return i
    return -1


# -- the run ------------------------------------------------------------------------------------


def run(n_points: int = 1_000_000, n_single: int = 200_000, n_naive: int = 200) -> dict:
    t0 = time.perf_counter()
    city = build_city()
    calendar = WorkCalendar()
    lons, lats, cats, starts = make_points(city, n_points)
    print(
        f"routing: {len(city.index):,} cells, {len(city.rule_rows)} rules over "
        f"{len(city.categories)} categories, {n_points:,} points "
        f"(set-up {time.perf_counter() - t0:.1f} s)"
    )
    # Warm the official-calendar cache the way a running server has it warm.
    for k in range(WINDOW_DAYS + 60):
        calendar.is_workday((WINDOW_START + timedelta(days=k)).date())

    t = time.perf_counter()
    split: dict[str, float] = {}
    cell_idx, rule_ids, depts, deadlines = route_batched(
        city, calendar, lons, lats, cats, starts, split
    )
    batched_s = time.perf_counter() - t

    t = time.perf_counter()
    single_starts = [datetime.fromtimestamp(s, TZ) for s in starts[:n_single]]
    convert_s = time.perf_counter() - t
    single = []
    t = time.perf_counter()
    for k in range(n_single):
        single.append(route_one(city, calendar, lons[k], lats[k], cats[k], single_starts[k]))
    single_s = time.perf_counter() - t

    # Same answers both ways, on every point timed one at a time.
    position = {c.id: i for i, c in enumerate(city.index.cells)}
    mismatches = 0
    for k, (hit, rule, deadline) in enumerate(single):
        cell_differs = (position[hit.id] if hit else -1) != cell_idx[k]
        if cell_differs or (hit is not None and rule.id != rule_ids[k]):
            mismatches += 1
        if abs(deadline.timestamp() - deadlines[k]) > 1e-3:
            mismatches += 1

    geoms = list(city.index.geometries)
    unprepared = [shapely.box(*g.bounds) for g in geoms]
    t = time.perf_counter()
    naive = [naive_locate(unprepared, lons[k], lats[k]) for k in range(n_naive)]
    naive_s = time.perf_counter() - t
    mismatches += sum(1 for k in range(n_naive) if naive[k] != cell_idx[k])

    located = int((cell_idx >= 0).sum())
    rates = {
        "batched": n_points / batched_s,
        "single": n_single / single_s,
        "naive": n_naive / naive_s,
    }
    print(f"  located {located:,} of {n_points:,}; answers that differ between ways: {mismatches}")
    print()
    print(f"  {'way':<47} {'points':>10} {'seconds':>9} {'points/s':>12} {'× naive':>9}  target")
    lines = [
        ("batched (locate_many + table + array deadline)", n_points, batched_s, "batched", 300_000),
        ("one at a time (locate + best + calendar.add)", n_single, single_s, "single", 50_000),
        ("naive polygon.contains over all cells", n_naive, naive_s, "naive", None),
    ]
    for label, n, s, key, target in lines:
        ok = (
            ""
            if target is None
            else (f"≥ {target:,} " + ("met" if rates[key] >= target else "MISSED"))
        )
        print(
            f"  {label:<47} {n:>10,} {s:>9.2f} {rates[key]:>12,.0f} "
            f"{rates[key] / rates['naive']:>9,.0f}  {ok}"
        )
    print(f"  (one-at-a-time starts were made datetimes beforehand: {convert_s:.2f} s not counted)")
    print(
        "  batched, where the time goes: " + ", ".join(f"{k} {v:.2f} s" for k, v in split.items())
    )
    return {"rates": rates, "mismatches": mismatches, "started": datetime.now(UTC).isoformat()}
