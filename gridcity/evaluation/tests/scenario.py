"""A small September 2025 for the enforcement department (城市管理执法科室), built through
the real actions with `now=`: every expectation in the tests is counted by hand from here.

A  grid manager's report, handled and closed on time.
B  reported 29 Sep, handled late on 9 Oct (after National Day), closed 9 Oct; appealed.
C  reworked twice, then passed; all on time.
D  returned by enforcement, re-dispatched to municipal (市政设施科室), closed there.
E  a citizen's report voided before filing.
F  a citizen's report in the grid manager's beat: verified, filed, dispatched, closed, called
   back (satisfaction 5) — a miss for the grid manager.
G  dispatched 30 Sep, never signed: overdue at the month's end.
"""

from datetime import datetime
from zoneinfo import ZoneInfo

from gridcity.cases.actions import (
    ReportInput,
    TransitionInput,
    do_report_case,
    do_transition_case,
    sweep_deadlines,
)
from gridcity.cases.models import Case, Channel
from gridcity.taxonomy.actions import resolve_category
from gridcity.testing import tiny_jpeg

TZ = ZoneInfo("Asia/Shanghai")
# Each case in its own 100 m cell of the west street (the beat of "inspector"), so none is
# taken for a duplicate of another.
SPOT = {k: (120.1630, 30.2405 + i * 0.0009) for i, k in enumerate("ABCDEFG")}
AFTER = [("after.jpg", tiny_jpeg((20, 160, 20)))]


def at(month, day, hh, mm=0):
    return datetime(2025, month, day, hh, mm, tzinfo=TZ)


def report(city, key, when, channel=Channel.INSPECTOR):
    inp = ReportInput(
        category=resolve_category("09012"),
        channel=channel,
        lon=SPOT[key][0],
        lat=SPOT[key][1],
        description="占用消防通道",
    )
    user = city.people["inspector"] if channel == Channel.INSPECTOR else None
    return do_report_case(inp, acting_user=user, now=when).case


def act(city, case, action, who, when, **data):
    if action == "report_back":
        data.setdefault("photos", AFTER)
    return do_transition_case(
        case, action, acting_user=city.people[who], data=TransitionInput(**data), now=when
    )


def walk(city, case, steps):
    for action, who, when, *rest in steps:
        act(city, case, action, who, when, **(rest[0] if rest else {}))
    case.refresh_from_db()
    return case


def build_september(city, *, october: bool = True) -> dict[str, Case]:
    """The scenario; october=False stops on 30 September (B still being handled)."""
    c = {}
    c["A"] = walk(
        city,
        report(city, "A", at(9, 10, 9)),
        [
            ("sign", "enforcement", at(9, 10, 9, 10)),
            ("report_back", "enforcement", at(9, 10, 9, 40)),
            ("check_pass", "inspector", at(9, 10, 9, 50)),
            ("close", "shift_lead", at(9, 10, 10)),
        ],
    )
    c["C"] = walk(
        city,
        report(city, "C", at(9, 11, 9)),
        [
            ("sign", "enforcement", at(9, 11, 9, 5)),
            ("report_back", "enforcement", at(9, 11, 9, 30)),
            ("check_fail", "inspector", at(9, 11, 9, 40), {"note": "未清理干净"}),
            ("report_back", "enforcement", at(9, 11, 10)),
            ("check_fail", "inspector", at(9, 11, 10, 10), {"note": "仍有杂物"}),
            ("report_back", "enforcement", at(9, 11, 10, 30)),
            ("check_pass", "inspector", at(9, 11, 10, 40)),
            ("close", "shift_lead", at(9, 11, 10, 50)),
        ],
    )
    c["D"] = walk(
        city,
        report(city, "D", at(9, 12, 9)),
        [
            ("return", "enforcement", at(9, 12, 9, 10), {"note": "井盖归市政"}),
            (
                "dispatch",
                "dispatcher",
                at(9, 12, 9, 20),
                {"department": city.departments["SZSS"], "note": "改派市政"},
            ),
            ("sign", "municipal", at(9, 12, 9, 25)),
            ("report_back", "municipal", at(9, 12, 9, 50)),
            ("check_pass", "inspector", at(9, 12, 10)),
            ("close", "shift_lead", at(9, 12, 10, 10)),
        ],
    )
    c["E"] = walk(
        city,
        report(city, "E", at(9, 15, 9), Channel.CITIZEN),
        [("void", "intake", at(9, 15, 9, 10), {"note": "重复来电"})],
    )
    c["F"] = walk(
        city,
        report(city, "F", at(9, 16, 9), Channel.CITIZEN),
        [
            ("verify", "inspector", at(9, 16, 9, 20), {"verified": True}),
            ("file", "intake", at(9, 16, 9, 25)),
            (
                "dispatch",
                "dispatcher",
                at(9, 16, 9, 30),
                {"department": city.departments["CGZF"]},
            ),
            ("sign", "enforcement", at(9, 16, 9, 35)),
            ("report_back", "enforcement", at(9, 16, 10)),
            ("check_pass", "inspector", at(9, 16, 10, 10)),
            ("close", "shift_lead", at(9, 16, 10, 20)),
            ("callback", "intake", at(9, 17, 9), {"satisfaction": 5}),
        ],
    )
    c["B"] = walk(
        city,
        report(city, "B", at(9, 29, 9)),
        [("sign", "enforcement", at(9, 29, 9, 10))],
    )
    c["G"] = report(city, "G", at(9, 30, 9))
    sweep_deadlines(at(9, 30, 12))  # B's handling and G's signing are now overdue
    if not october:
        return c
    c["B"] = walk(
        city,
        c["B"],
        [
            ("report_back", "enforcement", at(10, 9, 9)),
            ("check_pass", "inspector", at(10, 9, 9, 30)),
            ("close", "shift_lead", at(10, 9, 10)),
        ],
    )
    return c
