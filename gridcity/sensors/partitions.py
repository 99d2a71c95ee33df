"""Monthly partitions of the readings table on PostgreSQL.

`sensors_reading` is declared `PARTITION BY RANGE (time)` (migration 0002) with one partition
per calendar month in UTC, named `sensors_reading_pYYYYMM`. Retention then drops a whole month
(a catalogue change) instead of deleting hundreds of millions of rows (WAL, vacuum, bloat), and
each month's indexes stay small enough to live in memory while it is being written.

Partitions are made ahead by the hourly `purge-readings` job (this month and the next
AHEAD_MONTHS) and on demand by the ingest for any other month a batch touches (a replay of
old data). A new partition is created as a plain table and then attached: ATTACH takes only a
SHARE UPDATE EXCLUSIVE lock on the parent, so it does not wait for or block the other ingest
workers' inserts the way `CREATE TABLE … PARTITION OF` (ACCESS EXCLUSIVE) would. A transaction
advisory lock makes concurrent workers create a month once.

SQLite keeps one plain table; everything here is a no-op there.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db import DatabaseError, connection, transaction

TABLE = "sensors_reading"
AHEAD_MONTHS = 2
_NAME = re.compile(rf"^{TABLE}_p(\d{{4}})(\d{{2}})$")
# Any fixed number: the advisory lock key of partition maintenance.
_LOCK_KEY = 0x5E_2502


def month_of(t: datetime) -> tuple[int, int]:
    t = t.astimezone(UTC)
    return t.year, t.month


def next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def month_bounds(year: int, month: int) -> tuple[datetime, datetime]:
    y2, m2 = next_month(year, month)
    return datetime(year, month, 1, tzinfo=UTC), datetime(y2, m2, 1, tzinfo=UTC)


def partition_name(year: int, month: int) -> str:
    return f"{TABLE}_p{year:04d}{month:02d}"


def is_partitioned() -> bool:
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cur:
        cur.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [TABLE])
        row = cur.fetchone()
    return bool(row and row[0] == "p")


def existing_partitions() -> dict[tuple[int, int], str]:
    """The attached monthly partitions, by (year, month)."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(%s)",
            [TABLE],
        )
        names = [r[0] for r in cur.fetchall()]
    out = {}
    for name in names:
        m = _NAME.match(name)
        if m:
            out[(int(m[1]), int(m[2]))] = name
    return out


def ensure_months(months: Iterable[tuple[int, int]]) -> list[str]:
    """Make sure a partition exists for each (year, month); returns the names created. Costs
    one catalogue query when they all exist, which is every batch but the first of a month."""
    if connection.vendor != "postgresql":
        return []
    wanted = sorted(set(months))
    if not wanted:
        return []
    names = [partition_name(y, m) for y, m in wanted]
    with connection.cursor() as cur:
        cur.execute("SELECT n FROM unnest(%s::text[]) AS n WHERE to_regclass(n) IS NULL", [names])
        missing = {r[0] for r in cur.fetchall()}
    if not missing:
        return []
    created = []
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
        for (y, m), name in zip(wanted, names, strict=True):
            if name not in missing:
                continue
            # Another worker may have made it while this one waited for the lock.
            cur.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
            if cur.fetchone()[0]:
                continue
            lo, hi = month_bounds(y, m)
            cur.execute(
                f"CREATE TABLE {name} (LIKE {TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
            )
            # The matching CHECK lets ATTACH skip its validation scan (the table is empty
            # anyway, but this keeps the lock on the parent as short as it can be).
            cur.execute(
                f'ALTER TABLE {name} ADD CONSTRAINT {name}_bounds CHECK ("time" >= %s '
                f'AND "time" < %s)',
                [lo, hi],
            )
            cur.execute(
                f"ALTER TABLE {TABLE} ATTACH PARTITION {name} FOR VALUES FROM (%s) TO (%s)",
                [lo, hi],
            )
            cur.execute(f"ALTER TABLE {name} DROP CONSTRAINT {name}_bounds")
            created.append(name)
    return created


def ensure_ahead(*, now: datetime, ahead: int = AHEAD_MONTHS) -> list[str]:
    """This month's partition and the next `ahead` months'."""
    months = [month_of(now)]
    for _ in range(ahead):
        months.append(next_month(*months[-1]))
    return ensure_months(months)


def months_between(first: datetime, last: datetime) -> list[tuple[int, int]]:
    out = [month_of(first)]
    end = month_of(last)
    while out[-1] < end:
        out.append(next_month(*out[-1]))
    return out


@dataclass
class DropResult:
    partitions: list[str] = field(default_factory=list)
    readings: int = 0
    waiting: list[str] = field(default_factory=list)


def drop_before(cutoff: datetime, *, lock_timeout_s: float = 10.0) -> DropResult:
    """Drop every partition whose whole month is older than `cutoff`. A month that straddles
    the cutoff stays until its last reading is past it: readings are kept at least the
    retention period and at most one month longer.

    DROP takes an ACCESS EXCLUSIVE lock on the parent, which waits for the running ingest
    transactions and holds new ones behind it: a lock timeout keeps that stall short, and a
    drop that times out is retried by the next run of the job."""
    result = DropResult()
    old = [
        (ym, name)
        for ym, name in sorted(existing_partitions().items())
        if month_bounds(*ym)[1] <= cutoff
    ]
    for _ym, name in old:
        if result.waiting:
            result.waiting.append(name)
            continue
        try:
            estimate = _drop(name, lock_timeout_s)
        except DatabaseError:
            # Lock timeout behind a long ingest or report: leave it to the next run.
            result.waiting.append(name)
            continue
        result.partitions.append(name)
        result.readings += estimate
    return result


def _drop(name: str, lock_timeout_s: float) -> int:
    with transaction.atomic(), connection.cursor() as cur:
        # PostgreSQL refuses to drop a table with deferred foreign-key checks still pending
        # in this transaction (a caller that inserted readings first): run them now.
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cur.execute(f"SET LOCAL lock_timeout = '{int(lock_timeout_s * 1000)}ms'")
        # The planner's row estimate once the table has been analysed: counting a month of
        # readings would cost more than dropping them. A partition never analysed since it
        # was filled (a small or recent one) is counted.
        cur.execute(
            "SELECT c.reltuples::bigint, coalesce(s.last_analyze, s.last_autoanalyze) "
            "FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid "
            "WHERE c.oid = to_regclass(%s)",
            [name],
        )
        estimate, analysed = cur.fetchone()
        if analysed is None or estimate is None or estimate < 1_000_000:
            cur.execute(f"SELECT count(*) FROM {name}")
            estimate = cur.fetchone()[0]
        cur.execute(f"DROP TABLE {name}")
    return int(estimate)
