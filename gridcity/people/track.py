"""Pure track maths for patrols: which GPS fixes to trust, how far the grid manager walked,
how long she was on duty and what share of her beat she covered. Plain values in, plain
values out; the database never appears here."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

EARTH_RADIUS_M = 6_371_008.8
# A person on foot or on an e-bike never does 40 m/s (144 km/h); a fix implying that is a jump
# of the receiver (multipath under a flyover, a cell-tower fix), not a movement.
MAX_SPEED_MPS = 40.0
# A fix this imprecise says nothing about which 100 m cell she was in.
MAX_ACCURACY_M = 150.0

OK = "ok"
TOO_FAST = "too_fast"
OUT_OF_ORDER = "out_of_order"
INACCURATE = "inaccurate"


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, a)))


@dataclass(frozen=True, slots=True)
class Fix:
    seq: int
    t: datetime
    lon: float
    lat: float
    accuracy: float | None = None


@dataclass(frozen=True, slots=True)
class Judged:
    fix: Fix
    flag: str
    # Metres from the previous trusted fix (0 for the first one and for distrusted fixes).
    step_m: float = 0.0

    @property
    def trusted(self) -> bool:
        return self.flag == OK


def judge(
    fixes: Iterable[Fix],
    *,
    max_speed: float = MAX_SPEED_MPS,
    max_accuracy: float = MAX_ACCURACY_M,
) -> list[Judged]:
    """Walk the fixes in recording order (the client's sequence number) and flag the ones not
    to trust. Each fix is compared with the last *trusted* one, so one wild jump does not
    poison the fixes after it: the walk resumes from where she really was."""
    out: list[Judged] = []
    last: Fix | None = None
    for f in sorted(fixes, key=lambda f: f.seq):
        if f.accuracy is not None and f.accuracy > max_accuracy:
            out.append(Judged(f, INACCURATE))
            continue
        if last is None:
            out.append(Judged(f, OK))
            last = f
            continue
        dt = (f.t - last.t).total_seconds()
        if dt <= 0:
            # Time runs backwards (or stands still) against the sequence: a clock jump or a
            # replayed fix. Either way it cannot be placed on the track.
            out.append(Judged(f, OUT_OF_ORDER))
            continue
        d = haversine_m(last.lon, last.lat, f.lon, f.lat)
        if d / dt > max_speed:
            out.append(Judged(f, TOO_FAST))
            continue
        out.append(Judged(f, OK, d))
        last = f
    return out


@dataclass(frozen=True, slots=True)
class TrackSummary:
    distance_m: float
    points: int
    trusted: int
    flagged: int
    first_t: datetime | None
    last_t: datetime | None


def summarise(judged: Sequence[Judged]) -> TrackSummary:
    trusted = [j for j in judged if j.trusted]
    return TrackSummary(
        distance_m=sum(j.step_m for j in trusted),
        points=len(judged),
        trusted=len(trusted),
        flagged=len(judged) - len(trusted),
        first_t=trusted[0].fix.t if trusted else None,
        last_t=trusted[-1].fix.t if trusted else None,
    )


def duty_seconds(
    started_at: datetime, ended_at: datetime | None, last_fix_at: datetime | None
) -> int:
    """Time on duty: start to end; a patrol never ended counts up to its last trusted fix."""
    end = ended_at or last_fix_at
    if end is None or end <= started_at:
        return 0
    return int((end - started_at).total_seconds())


def coverage(visited: set[int], beat_cells: set[int]) -> float:
    """Share of the beat's cells visited (巡查覆盖率), 0–1. Cells outside the beat do not
    count: walking through a neighbour's grid is not covering one's own."""
    if not beat_cells:
        return 0.0
    return len(visited & beat_cells) / len(beat_cells)


# A check-in and a check-out further apart than this are not one shift: she forgot to check
# out, and a later check-out belongs to a later check-in.
MAX_SHIFT = timedelta(hours=16)
CHECK_IN = "in"
CHECK_OUT = "out"


def shifts(
    marks: Iterable[tuple[datetime, str]], *, max_shift: timedelta = MAX_SHIFT
) -> list[tuple[datetime, datetime]]:
    """Pair check-ins with check-outs in time order: each check-out closes the open check-in.
    A second check-in while one is open is a double tap and keeps the earlier time, unless the
    open one is older than a shift; a check-out with nothing open (or too long after) counts
    nothing, and so does a check-in never closed."""
    out: list[tuple[datetime, datetime]] = []
    opened: datetime | None = None
    for at, kind in sorted(marks, key=lambda m: m[0]):
        if kind == CHECK_IN:
            if opened is None or at - opened > max_shift:
                opened = at
        elif kind == CHECK_OUT and opened is not None:
            if at - opened <= max_shift:
                out.append((opened, at))
            opened = None
    return out


def union_seconds(spans: Iterable[tuple[datetime, datetime]]) -> int:
    """Seconds covered by at least one span: a patrol made during a checked-in shift counts
    once, not twice."""
    total = 0.0
    end: datetime | None = None
    for a, b in sorted(s for s in spans if s[1] > s[0]):
        if end is None or a >= end:
            total += (b - a).total_seconds()
            end = b
        elif b > end:
            total += (b - end).total_seconds()
            end = b
    return int(total)


ON_DUTY = "on_duty"
SHORT = "short"
ABSENT = "absent"


def day_status(duty_seconds: int, min_minutes: int) -> str:
    """在岗 when the day's patrols add up to the minimum, 不足 when shorter, else absent."""
    if duty_seconds >= min_minutes * 60:
        return ON_DUTY
    return SHORT if duty_seconds > 0 else ABSENT
