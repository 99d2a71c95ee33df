"""Natural order for names with numbers in them: 第2责任网格 before 第10责任网格, inspector2
before inspector10 (a plain string sort puts 第1, 第10, 第11 before 第2)."""

from __future__ import annotations

import re

_DIGITS = re.compile(r"(\d+)")


def natural_key(*parts: str) -> tuple:
    """A sort key comparing runs of digits by their value and the rest as text."""
    key: list[tuple[int, int | str]] = []
    for part in parts:
        for i, chunk in enumerate(_DIGITS.split(part or "")):
            if not chunk:
                continue
            # Tag numbers and text so they never compare with each other.
            key.append((1, int(chunk)) if i % 2 else (0, chunk))
        key.append((2, ""))
    return tuple(key)
