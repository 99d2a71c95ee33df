"""What every module of the demo city is built from: the people and the clock of the case
history, so that campaigns, inspections, pairings, sensors and the rest fit the same city."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import TYPE_CHECKING

from django.utils import timezone

if TYPE_CHECKING:
    from gridcity.demo.builder import People


@dataclass
class DemoContext:
    rng: random.Random  # seeded: the same seed builds the same city
    people: People  # centre staff, department handlers and leads, the 30 grid managers
    start: datetime  # the first day of the case history
    now: datetime  # the end of the history: "today" for the demo


def local_time(day: date, hour: int, minute: int = 0) -> datetime:
    """That day at that hour in the city's time zone."""
    return timezone.make_aware(datetime.combine(day, time(hour, minute)))
