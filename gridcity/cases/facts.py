"""The evaluation's reading of the case record: every CaseEvent that an indicator counts becomes
one or more *fact* rows — the measure it counts in, the units it is attributed to and the
flags that need what happened to the case afterwards (was the report filed? the filing voided?
the dispatch moved to another department? the case closed? a late step forgiven on appeal?).

`facts_for_case` is pure: a case's facts are a function of its events alone. The case actions
call `refresh_case_facts` in the same transaction as every event they write, so the CaseFact
table always reads the record as it stands; an indicator over a period is then one GROUP BY
over the facts in it instead of a correlated subquery per event. `rebuild_facts` recomputes
everything (after an upgrade, or to check the incremental path: both must agree).

The definitions are published in gridcity/evaluation/README.md; the measure keys are those of
gridcity/evaluation/indicators.MEASURES.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import groupby

from django.apps import apps as django_apps
from django.db import connection, transaction
from django.db.models import Count, Max, Min, Q, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from gridcity.cases.models import (
    PUBLIC_CHANNELS,
    CaseEvent,
    CaseFact,
    Channel,
    FactDay,
    StaleDay,
    Status,
)
from gridcity.cases.workflow import TRANSITIONS

# Transitions that end the running step (and restart its clock); `assign` and `callback` don't.
STEP_ENDING = frozenset(t.action for t in TRANSITIONS if t.target is not None)
DEPARTMENT_STEPS = frozenset({"sign", "handle"})
FIELD_STEPS = frozenset({"verify", "check"})
CENTRE_STEPS = frozenset({"file", "dispatch", "close"})
ENDED_BADLY = frozenset({Status.VOIDED, Status.MERGED})
PLAIN_COUNTS = {
    "check_fail": "rework",
    "return": "return",
    "approve_extension": "extension",
    "approve_hold": "hold",
}
PUBLIC = frozenset(PUBLIC_CHANNELS)
# The measures facts_for_case writes (their meaning: gridcity/evaluation/indicators.MEASURES).
FLOW_MEASURES = (
    "report",
    "missed",
    "verify",
    "check",
    "file",
    "dispatch",
    "sign",
    "handle",
    "rework",
    "return",
    "extension",
    "hold",
    "due_close",
    "close",
    "hotline_sign",
    "hotline_close",
    "callback",
)
# Counted at a period's end (steps still open then), not per day: never in FactDay.
STOCK_MEASURES = ("overdue_open", "overdue_field", "overdue_centre")
DIMENSIONS = ("u_dept", "u_actor", "u_area")
# The end of a step that has not ended: far in the future rather than NULL, so "still open at
# the period's end" is one range (ended_at ≥ end) of one small index.
NOT_ENDED = datetime(9999, 1, 1, tzinfo=UTC)
SAME = object()  # a fact attributed like its event

# The columns of a fact row, in the order facts_for_case returns them.
FACT_COLUMNS = (
    "measure",
    "event_id",
    "case_id",
    "case_number",
    "channel",
    "at",
    "ended_at",
    "hours",
    "u_dept",
    "u_actor",
    "u_cell",
    "u_area",
    "f1",
    "f2",
    "raw_overdue",
    "appealed",
)


@dataclass(frozen=True)
class CaseRow:
    id: int
    number: str
    channel: str
    status: str
    cell_id: int | None
    area_id: int | None  # the area just above the cell


@dataclass(frozen=True)
class EventRow:
    id: int
    action: str
    at: datetime
    actor_id: int | None
    department_id: int | None
    overdue: bool
    step: str
    data: dict


def facts_for_case(case: CaseRow, events: list[EventRow], fallback_manager=None) -> list[tuple]:
    """Every fact row of one case, from its events in id order.

    `fallback_manager(cell_id)` names the grid manager of the cell's beat for a public report
    recorded before intake wrote the manager of the day into the event (older records)."""
    # Approved appeals forgive a department's late sign and handle steps on this case.
    forgiven = {e.department_id for e in events if e.action == "appeal_approved"}
    hotline = case.channel == Channel.HOTLINE
    last_dispatch_dept = None
    for e in events:
        if e.action == "dispatch":
            last_dispatch_dept = e.department_id

    # What happens after each event, from a pass over the events in reverse.
    n = len(events)
    filed_after = [False] * n
    voided_after = [False] * n
    closed_after = [False] * n
    late_after = [False] * n  # a late report-back not forgiven on appeal
    moved_after: list[frozenset] = [frozenset()] * n  # departments dispatched to afterwards
    step_end_after: list[datetime | None] = [None] * n
    filed = voided = closed = late = False
    moved: frozenset = frozenset()
    step_end: datetime | None = None
    for i in range(n - 1, -1, -1):
        filed_after[i], voided_after[i], closed_after[i], late_after[i] = (
            filed,
            voided,
            closed,
            late,
        )
        moved_after[i], step_end_after[i] = moved, step_end
        e = events[i]
        a = e.action
        if a == "file":
            filed = True
        elif a in ("void", "merge"):
            voided = True
        elif a == "close":
            closed = True
        elif a == "dispatch":
            moved = moved | {e.department_id}
        if a == "report_back" and e.overdue and e.department_id not in forgiven:
            late = True
        if a in STEP_ENDING and (step_end is None or e.at < step_end):
            step_end = e.at

    rows: list[tuple] = []
    base = (case.id, case.number, case.channel)
    cell, area = case.cell_id, case.area_id
    started: datetime | None = None  # the last dispatch or rework: what a report-back answers

    def add(measure, e, *, actor=SAME, dept=SAME, f1=False, f2=False, appealed=False, **kw):
        rows.append(
            (
                measure,
                e.id,
                *base,
                e.at,
                kw.get("ended_at"),
                kw.get("hours"),
                e.department_id if dept is SAME else dept,
                e.actor_id if actor is SAME else actor,
                cell,
                area,
                f1,
                f2,
                e.overdue,
                appealed,
            )
        )

    for i, e in enumerate(events):
        a = e.action
        on_time = not e.overdue
        if a in ("report", "link_report"):
            valid = a == "report" and filed_after[i]
            add("report", e, f1=valid, f2=valid and case.channel == Channel.INSPECTOR)
            if valid and case.channel in PUBLIC:
                manager = e.data.get("beat_manager")
                if manager is None and fallback_manager is not None:
                    manager = fallback_manager(cell)
                add("missed", e, actor=manager)
        elif a == "locate":
            continue
        elif a == "verify":
            add("verify", e, f1=on_time)
        elif a in ("check_pass", "check_fail"):
            add("check", e, f1=on_time)
        elif a == "file":
            accurate = not voided_after[i]
            add("file", e, f1=on_time, f2=accurate)
            if accurate:
                closed_now = closed_after[i]
                kept = closed_now and not late_after[i]
                add("due_close", e, dept=last_dispatch_dept, f1=closed_now, f2=kept)
                if hotline:
                    add("hotline_close", e, dept=last_dispatch_dept, f1=closed_now, f2=kept)
        elif a == "dispatch":
            add("dispatch", e, f1=on_time, f2=not (moved_after[i] - {e.department_id}))
            started = e.at
        elif a == "sign":
            forgiven_here = e.department_id in forgiven
            add("sign", e, f1=on_time or forgiven_here, appealed=forgiven_here)
            if hotline:
                add("hotline_sign", e, f1=on_time or forgiven_here, appealed=forgiven_here)
        elif a == "report_back":
            forgiven_here = e.department_id in forgiven
            hours = (e.at - started).total_seconds() / 3600 if started is not None else None
            add("handle", e, f1=on_time or forgiven_here, appealed=forgiven_here, hours=hours)
        elif a == "close":
            add("close", e, f1=on_time)
        elif a == "callback":
            add("callback", e, f1=e.data.get("satisfied") is True)
        elif a == "overdue" and case.status not in ENDED_BADLY:
            if e.step in DEPARTMENT_STEPS:
                add("overdue_open", e, ended_at=step_end_after[i] or NOT_ENDED)
            elif e.step in FIELD_STEPS:
                add(
                    "overdue_field",
                    e,
                    actor=e.data.get("responsible"),
                    ended_at=step_end_after[i] or NOT_ENDED,
                )
            elif e.step in CENTRE_STEPS:
                add("overdue_centre", e, ended_at=step_end_after[i] or NOT_ENDED)
        if a in PLAIN_COUNTS:
            add(PLAIN_COUNTS[a], e)
        if a == "check_fail":
            started = e.at
    return rows


# ---------------------------------------------------------------------------------------------
# The database side

_EVENT_COLUMNS = (
    "case_id",
    "pk",
    "action",
    "at",
    "actor_id",
    "department_id",
    "overdue",
    "step",
    "data",
    "case__number",
    "case__channel",
    "case__status",
    "case__cell_id",
    "case__cell__parent_id",
)


def _split(rows: Iterable[tuple]) -> Iterator[tuple[CaseRow, list[EventRow]]]:
    """(case, events) per case from event rows ordered by case, then id."""
    for _, group in groupby(rows, key=lambda r: r[0]):
        group = list(group)
        c = group[0]
        case = CaseRow(c[0], c[9], c[10], c[11], c[12], c[13])
        yield case, [EventRow(r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8] or {}) for r in group]


def _manager_lookup(beat_model=None):
    from gridcity.grids.models import Beat

    beats = beat_model or Beat
    cache: dict[int | None, int | None] = {}

    def manager(cell_id):
        if cell_id not in cache:
            cache[cell_id] = (
                beats.objects.filter(cells__id=cell_id, manager__isnull=False)
                .order_by("pk")
                .values_list("manager_id", flat=True)
                .first()
            )
        return cache[cell_id]

    return manager


def refresh_case_facts(case_ids: Iterable[int]) -> int:
    """Rewrite the facts of these cases from their events and mark the days they fall on
    stale. Called by every case action in the transaction that writes the event, so the facts
    never lag the record."""
    ids = sorted(set(case_ids))
    events = (
        CaseEvent.objects.filter(case_id__in=ids)
        .order_by("case_id", "pk")
        .values_list(*_EVENT_COLUMNS)
    )
    lookup = _manager_lookup()
    rows, days = [], set()
    tz = timezone.get_current_timezone()
    for case, evs in _split(events):
        rows += facts_for_case(case, evs, lookup)
        # A case's facts are dated by its events, so its old facts fell on these days too.
        days.update(timezone.localdate(e.at, tz) for e in evs)
    CaseFact.objects.filter(case_id__in=ids).delete()
    CaseFact.objects.bulk_create(
        [CaseFact(**dict(zip(FACT_COLUMNS, r, strict=True))) for r in rows]
    )
    StaleDay.objects.bulk_create([StaleDay(day=d) for d in days], ignore_conflicts=True)
    return len(rows)


def write_new_case_facts(
    case: CaseRow,
    events: list[EventRow],
    *,
    day_marked: bool,
    together_with: list[tuple[str, list]] = (),
) -> int:
    """The facts of a case created in this transaction: inserted once, nothing to delete, and
    the days they fall on marked stale. On PostgreSQL the mark goes in the same statement as the
    facts, and so do the INSERTs of `together_with` (the case, its report and its events, whose
    ids the caller took beforehand): one round trip writes the whole new case. Elsewhere the
    mark is skipped when `day_marked` says the day is already stale (read by the caller under
    SQLite's write lock, so no recount can have taken the mark since)."""
    rows = facts_for_case(case, events)
    tz = timezone.get_current_timezone()
    days = sorted({timezone.localdate(e.at, tz) for e in events})
    postgres = connection.vendor == "postgresql"
    if together_with and not postgres:
        raise ValueError("only PostgreSQL writes rows together with the facts")
    if not postgres:
        adapt = connection.ops.adapt_datetimefield_value
        rows = [(*r[:5], adapt(r[5]), adapt(r[6]), *r[7:]) for r in rows]
    one = "(" + ", ".join(["%s"] * len(FACT_COLUMNS)) + ")"
    insert = (
        f"INSERT INTO {CaseFact._meta.db_table} ({', '.join(FACT_COLUMNS)}) VALUES "
        + ", ".join([one] * len(rows))
    )
    params = [v for r in rows for v in r]
    with connection.cursor() as cur:
        if postgres:
            parts = [*together_with, *([(insert, params)] if rows else [])]
            ctes = ", ".join(f"w{i} AS ({sql})" for i, (sql, _) in enumerate(parts))
            cur.execute(
                (f"WITH {ctes} " if ctes else "") + f"INSERT INTO {StaleDay._meta.db_table} (day) "
                "SELECT unnest(%s::date[]) ON CONFLICT DO NOTHING",
                [*(v for _, ps in parts for v in ps), days],
            )
            return len(rows)
        if rows:
            cur.execute(insert, params)
    if not day_marked:
        _mark_stale(days)
    return len(rows)


def _mark_stale(days: Iterable[date]) -> None:
    StaleDay.objects.bulk_create([StaleDay(day=d) for d in days], ignore_conflicts=True)


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    tz = timezone.get_current_timezone()
    return (
        datetime.combine(day, time.min, tz),
        datetime.combine(day + timedelta(days=1), time.min, tz),
    )


def count_day(day: date) -> None:
    """Replace the day's FactDay rows by its facts grouped per measure and unit, for each unit
    column: on PostgreSQL one scan with GROUPING SETS, elsewhere one GROUP BY per column."""
    start, end = _day_bounds(day)
    FactDay.objects.filter(day=day).delete()
    if connection.vendor == "postgresql":
        _count_day_grouping_sets(day, start, end)
        return
    day_value = connection.ops.adapt_datefield_value(day)
    for dimension in DIMENSIONS:
        qs = (
            # measure IN (…): one range of the (measure, at) index per measure.
            CaseFact.objects.filter(
                measure__in=FLOW_MEASURES,
                at__gte=start,
                at__lt=end,
                **{f"{dimension}__isnull": False},
            )
            .order_by()
            .values("measure", dimension)
            .annotate(
                n=Count("id"),
                c1=Count("id", filter=Q(f1=True)),
                c2=Count("id", filter=Q(f2=True)),
                h=Coalesce(Sum("hours"), Value(0.0)),
            )
            .values_list("measure", dimension, "n", "c1", "c2", "h")
        )
        sql, params = qs.query.sql_with_params()
        with connection.cursor() as cur:
            cur.execute(
                f"INSERT INTO {FactDay._meta.db_table} "
                "(day, dimension, measure, unit, n, c1, c2, hours) "
                f"SELECT %s, %s, counted.* FROM ({sql}) AS counted",
                [day_value, dimension, *params],
            )


# GROUPING(u_dept, u_actor, u_area) has a 1 bit for each column *not* grouped: 0b011 is the
# (measure, u_dept) set, 0b101 (measure, u_actor), 0b110 (measure, u_area).
_GROUPING_SETS_SQL = f"""
INSERT INTO {FactDay._meta.db_table} (day, dimension, measure, unit, n, c1, c2, hours)
SELECT %s,
       CASE GROUPING(u_dept, u_actor, u_area) WHEN 3 THEN 'u_dept' WHEN 5 THEN 'u_actor'
            ELSE 'u_area' END,
       measure,
       COALESCE(u_dept, u_actor, u_area),
       count(*), count(*) FILTER (WHERE f1), count(*) FILTER (WHERE f2),
       COALESCE(sum(hours), 0)
FROM {CaseFact._meta.db_table}
WHERE measure = ANY(%s) AND at >= %s AND at < %s
GROUP BY GROUPING SETS ((measure, u_dept), (measure, u_actor), (measure, u_area))
HAVING (GROUPING(u_dept, u_actor, u_area) = 3 AND u_dept IS NOT NULL)
    OR (GROUPING(u_dept, u_actor, u_area) = 5 AND u_actor IS NOT NULL)
    OR (GROUPING(u_dept, u_actor, u_area) = 6 AND u_area IS NOT NULL)
"""


def _count_day_grouping_sets(day: date, start: datetime, end: datetime) -> None:
    with connection.cursor() as cur:
        # A day is a few hundred thousand rows: compiling the query (JIT) took longer than
        # running it (0.3 of 0.6 s on 10,000,000 cases).
        cur.execute("SET LOCAL jit = off")
        cur.execute(_GROUPING_SETS_SQL, [day, list(FLOW_MEASURES), start, end])


def refresh_stale_days(first: date | None = None, end: date | None = None) -> int:
    """Recount the stale days in [first, end) (all when not given), one transaction each. Two
    processes never both recount a day: the one that deletes its StaleDay row does."""
    stale = StaleDay.objects.order_by("day")
    if first is not None:
        stale = stale.filter(day__gte=first)
    if end is not None:
        stale = stale.filter(day__lt=end)
    done = 0
    for day in list(stale.values_list("day", flat=True)):
        with transaction.atomic():
            if not StaleDay.objects.filter(day=day).delete()[0]:
                continue  # another process took it
            count_day(day)
        done += 1
    return done


def mark_all_days_stale(facts=CaseFact, stale_days=StaleDay) -> int:
    """After facts were written in bulk (a rebuild, a bulk load): every day they cover."""
    bounds = facts.objects.aggregate(first=Min("at"), last=Max("at"))
    if bounds["first"] is None:
        return 0
    first, last = (timezone.localdate(bounds[k]) for k in ("first", "last"))
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    stale_days.objects.bulk_create([stale_days(day=d) for d in days], ignore_conflicts=True)
    return len(days)


def rebuild_facts(batch: int = 20_000, stdout=None, apps=None) -> int:
    """Recompute every fact from the events, one batch of cases per transaction. `apps`: a
    migration's historical models (the data migration that first filled the table)."""
    get = apps.get_model if apps is not None else django_apps.get_model
    cases, events_model = get("cases", "Case"), get("cases", "CaseEvent")
    get("cases", "CaseFact").objects.all().delete()
    lookup = _manager_lookup(get("grids", "Beat"))
    total = last = 0
    while True:
        ids = list(
            cases.objects.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:batch]
        )
        if not ids:
            break
        last = ids[-1]
        events = (
            events_model.objects.filter(case_id__gte=ids[0], case_id__lte=last)
            .order_by("case_id", "pk")
            .values_list(*_EVENT_COLUMNS)
        )
        rows = [
            r
            for case, evs in _split(events.iterator(10_000))
            for r in facts_for_case(case, evs, lookup)
        ]
        with transaction.atomic():
            insert_facts(rows)
        total += len(rows)
        if stdout is not None:
            stdout.write(f"  … {total:,} facts up to case {last}")
    get("cases", "FactDay").objects.all().delete()
    mark_all_days_stale(get("cases", "CaseFact"), get("cases", "StaleDay"))
    return total


def insert_facts(rows: list[tuple]) -> None:
    """Bulk insert of fact tuples, as facts_for_case returns them."""
    if connection.vendor != "postgresql":
        adapt = connection.ops.adapt_datetimefield_value
        rows = [(*r[:5], adapt(r[5]), adapt(r[6]), *r[7:]) for r in rows]
    bulk_insert(CaseFact._meta.db_table, FACT_COLUMNS, rows)


def bulk_insert(table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """Rows of database-ready values: COPY on PostgreSQL, executemany elsewhere."""
    if not rows:
        return
    cols = ", ".join(columns)
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                for r in rows:
                    copy.write_row(r)
        else:
            marks = ", ".join("%s" for _ in columns)
            cur.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", rows)
