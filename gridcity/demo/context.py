"""What every module of the demo city is built from: the people and the clock of the case
history, so that campaigns, inspections, pairings, sensors and the rest fit the same city."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gridcity.demo.builder import People


@dataclass
class DemoContext:
    rng: random.Random  # seeded: the same seed builds the same city
    people: People  # centre staff, department handlers and leads, the 30 grid managers
    start: datetime  # the first day of the case history
    now: datetime  # the end of the history: "today" for the demo
