"""Figures about departments that other apps count, for the evaluation to deduct from scores.

The evaluation sits beside the domain apps (campaigns, publicity …) and must not import them;
instead each of them registers what it counts here, from its AppConfig.ready():

    from gridcity.evaluation.sources import UnitFigureSource, register

    register(UnitFigureSource("inspection_deductions", "督查扣分", deductions_by_department))

`compute(first_day, last_day)` returns department pk → value for the local dates
[first_day, last_day], both included (a month: the 1st to the 30th). A scheme uses a source
as a deduction item (models.SchemeDeduction); a frozen period keeps the values it was scored
with (models.FrozenUnitFigure).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal


@dataclass(frozen=True)
class UnitFigureSource:
    key: str
    label: str
    compute: Callable[[date, date], dict[int, Decimal]]
    # Where a reader checks the figure: (department pk, first day, last day) → a URL. Optional.
    detail_url: Callable[[int, date, date], str] | None = None


_sources: dict[str, UnitFigureSource] = {}


def register(source: UnitFigureSource) -> None:
    """Add a source (registering the same key again replaces it: ready() may run twice)."""
    if not source.key or len(source.key) > 40:
        raise ValueError("source key must be 1–40 characters")
    _sources[source.key] = source


def registered() -> list[UnitFigureSource]:
    """Every registered source, in the order the apps registered them."""
    return list(_sources.values())


def get(key: str) -> UnitFigureSource | None:
    return _sources.get(key)
