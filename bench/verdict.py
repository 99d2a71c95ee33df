"""The rows every benchmark checks against a target, gathered so `python -m bench` ends with one
table of them all (met / MISSED), whatever order the benchmarks ran in."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    bench: str
    row: str
    measured: str
    target: str
    met: bool


RECORDED: list[Verdict] = []


def record(bench: str, row: str, measured: str, target: str, met: bool) -> str:
    """Keep the row for the closing table; returns "met" or "MISSED" for the bench's own line."""
    RECORDED.append(Verdict(bench, row, measured, target, bool(met)))
    return "met" if met else "MISSED"


def table() -> str:
    if not RECORDED:
        return ""
    lines = ["Targets — every row above that has one", ""]
    width = max(len(f"{v.bench}: {v.row}") for v in RECORDED)
    for v in RECORDED:
        name = f"{v.bench}: {v.row}"
        lines.append(
            f"  {name:<{width}}  {v.measured:>24}  {v.target:<22} {'met' if v.met else 'MISSED'}"
        )
    missed = sum(not v.met for v in RECORDED)
    lines += ["", f"  {len(RECORDED) - missed} met, {missed} MISSED"]
    return "\n".join(lines)
