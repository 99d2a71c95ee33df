"""The frozen periods' copy of their facts (evaluation_fact), one partition per period on
PostgreSQL.

A big city's month is millions of facts. Copied into a table shared by every period, each row
would update the indexes the drill-down needs, row by row, between other periods' entries.
Copied into a fresh table of its own, the rows go in with no index to maintain, the indexes are
then built once by sorting, and the table is attached as the period's partition: its CHECK
constraint spares the attach a scan. The drill-down and the counting then read one partition.
Unfreezing a period drops its partition instead of deleting its rows one by one.

SQLite (and a PostgreSQL table not yet partitioned) takes the plain INSERT … SELECT.
"""

from __future__ import annotations

from django.db import connection

TABLE = "evaluation_fact"
DEFAULT_PARTITION = "evaluation_fact_default"


def partition_name(period_id: int) -> str:
    return f"{TABLE}_p{int(period_id)}"


def is_partitioned() -> bool:
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cur:
        cur.execute(
            "SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
            "WHERE c.relname = %s AND c.relnamespace = to_regnamespace(current_schema())",
            [TABLE],
        )
        return cur.fetchone() is not None


def copy_selects(period_id: int, columns: list[str], selects: list[tuple[str, list]]) -> int:
    """Insert the rows of each (SELECT of `columns`, params) into the period's snapshot, in the
    database; returns how many."""
    cols = ", ".join(columns)
    total = 0
    with connection.cursor() as cur:
        if is_partitioned():
            part = connection.ops.quote_name(partition_name(period_id))
            # Sorting millions of index entries in memory rather than in temporary files.
            cur.execute("SET LOCAL maintenance_work_mem = '256MB'")
            cur.execute(f"CREATE TABLE {part} (LIKE {TABLE} INCLUDING DEFAULTS)")
            cur.execute(
                f"ALTER TABLE {part} ADD CONSTRAINT {partition_name(period_id)}_period "
                f"CHECK (period_id IS NOT NULL AND period_id = {int(period_id)})"
            )
            target = part
        else:
            target = TABLE
        for query, params in selects:
            cur.execute(
                f"INSERT INTO {target} (period_id, {cols}) "
                f"SELECT %s, {cols} FROM ({query}) AS live",
                [period_id, *params],
            )
            total += cur.rowcount
        if target != TABLE:
            # Builds the partition's copies of the parent's indexes (one sort each).
            cur.execute(
                f"ALTER TABLE {TABLE} ATTACH PARTITION {target} FOR VALUES IN ({int(period_id)})"
            )
            cur.execute(f"ANALYZE {target}")
    return total


def drop_snapshot(period_id: int) -> None:
    """Before a frozen period is deleted: its partition goes at once (the cascade's DELETE
    then finds nothing)."""
    if is_partitioned():
        with connection.cursor() as cur:
            cur.execute(
                f"DROP TABLE IF EXISTS {connection.ops.quote_name(partition_name(period_id))}"
            )


# GROUPING(u_dept, u_actor, u_area) has a 1 bit for each column *not* grouped: 0b011 is the
# (day, measure, u_dept) set, 0b101 (…, u_actor), 0b110 (…, u_area).
_DAYS_SQL = """
INSERT INTO evaluation_frozenday (period_id, day, dimension, measure, unit, n, c1, c2, hours)
SELECT %(period)s, d,
       CASE GROUPING(u_dept, u_actor, u_area) WHEN 3 THEN 'u_dept' WHEN 5 THEN 'u_actor'
            ELSE 'u_area' END,
       measure,
       COALESCE(u_dept, u_actor, u_area),
       count(*), count(*) FILTER (WHERE f1), count(*) FILTER (WHERE f2),
       COALESCE(sum(hours), 0)
FROM (SELECT (at AT TIME ZONE %(tz)s)::date AS d, measure, u_dept, u_actor, u_area, f1, f2, hours
      FROM evaluation_fact WHERE period_id = %(period)s AND measure = ANY(%(measures)s)) AS f
GROUP BY GROUPING SETS ((d, measure, u_dept), (d, measure, u_actor), (d, measure, u_area))
HAVING (GROUPING(u_dept, u_actor, u_area) = 3 AND u_dept IS NOT NULL)
    OR (GROUPING(u_dept, u_actor, u_area) = 5 AND u_actor IS NOT NULL)
    OR (GROUPING(u_dept, u_actor, u_area) = 6 AND u_area IS NOT NULL)
"""


def count_days(period_id: int, measures: tuple[str, ...], dimensions: tuple[str, ...]) -> None:
    """The snapshot's per-day counts (FrozenDay) of the flow measures, from the snapshot itself:
    on PostgreSQL one scan with GROUPING SETS, elsewhere one GROUP BY per unit column."""
    from django.db.models import Count, Q, Sum, Value
    from django.db.models.functions import Coalesce, TruncDate
    from django.utils import timezone

    from gridcity.evaluation.models import Fact

    tz = timezone.get_current_timezone()
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("SET LOCAL work_mem = '64MB'")
            cur.execute("SET LOCAL jit = off")
            cur.execute(_DAYS_SQL, {"period": period_id, "tz": str(tz), "measures": list(measures)})
            return
        for dimension in dimensions:
            qs = (
                Fact.objects.filter(
                    period_id=period_id, measure__in=measures, **{f"{dimension}__isnull": False}
                )
                .annotate(d=TruncDate("at", tzinfo=tz))
                .order_by()
                .values("d", "measure", dimension)
                .annotate(
                    n=Count("id"),
                    c1=Count("id", filter=Q(f1=True)),
                    c2=Count("id", filter=Q(f2=True)),
                    h=Coalesce(Sum("hours"), Value(0.0)),
                )
                .values_list("d", "measure", dimension, "n", "c1", "c2", "h")
            )
            sql, params = qs.query.sql_with_params()
            cur.execute(
                "INSERT INTO evaluation_frozenday "
                "(period_id, dimension, day, measure, unit, n, c1, c2, hours) "
                f"SELECT %s, %s, c.d, c.measure, c.{dimension}, c.n, c.c1, c.c2, c.h "
                f"FROM ({sql}) AS c",
                [period_id, dimension, *params],
            )


def drop_frozen_facts(sender, instance, **kwargs) -> None:
    """pre_delete of an EvaluationPeriod (connected in apps.py): its snapshot goes with it."""
    drop_snapshot(instance.pk)
