"""Twenty people report the same overflowing bin at the same moment: one case, nineteen reports
linked to it. On PostgreSQL the intakes run side by side and the duplicate lock makes them
search one after the other; on SQLite every intake already holds the write lock."""

import threading

import pytest
from django.db import connection, connections

from gridcity.cases.actions import ReportInput, do_report_case, duplicate_lock_keys
from gridcity.cases.models import Case, CaseEvent, Channel, Report
from gridcity.taxonomy.actions import resolve_category
from gridcity.testing import MID_LAT, build_city

SPOT = (120.1630, MID_LAT + 0.0012)
REPORTERS = 20


def report_at_once(city, n: int) -> list:
    barrier = threading.Barrier(n)
    outcomes: list = [None] * n
    category = resolve_category("06042")
    people = [city.people["inspector"], city.people["inspector2"], city.people["leader"]]

    def one(i: int) -> None:
        try:
            # A few metres apart, as twenty phones place one bin.
            inp = ReportInput(
                category=category,
                lon=SPOT[0] + (i % 5) * 0.00002,
                lat=SPOT[1] + (i // 5) * 0.00002,
                description=f"垃圾满溢（第 {i + 1} 位上报人）",
            )
            barrier.wait(timeout=30)
            outcomes[i] = do_report_case(inp, acting_user=people[i % len(people)])
        except Exception as exc:  # noqa: BLE001 - the assertion below shows it
            outcomes[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return outcomes


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_simultaneous_reports_of_one_spot_make_one_case_and_nineteen_links():
    if connection.vendor != "postgresql":
        pytest.skip(
            "SQLite serialises every intake with its IMMEDIATE write lock, so reports cannot "
            "race there; the race (and the advisory lock that closes it) is PostgreSQL's"
        )
    city = build_city()
    outcomes = report_at_once(city, REPORTERS)
    errors = [o for o in outcomes if not hasattr(o, "case")]
    assert not errors, errors
    assert Case.objects.count() == 1
    case = Case.objects.get()
    assert sum(o.linked_to_existing for o in outcomes) == REPORTERS - 1
    assert Report.objects.filter(case=case).count() == REPORTERS
    assert Report.objects.filter(case=case, is_duplicate=True).count() == REPORTERS - 1
    assert CaseEvent.objects.filter(case=case, action="link_report").count() == REPORTERS - 1
    assert {o.case.pk for o in outcomes} == {case.pk}


@pytest.mark.django_db
def test_reports_far_apart_take_different_locks_and_neighbours_share_one():
    category = resolve_category("06042")
    here = duplicate_lock_keys(category, *SPOT)
    assert here == sorted(here) and 1 <= len(here) <= 4
    # Two points 20 m apart always share a bucket of the lock, even across a bucket's edge.
    edge = 120.17  # a bucket border (0.01°)
    west = set(duplicate_lock_keys(category, edge - 0.0001, SPOT[1]))
    east = set(duplicate_lock_keys(category, edge + 0.0001, SPOT[1]))
    assert west & east
    far = set(duplicate_lock_keys(category, SPOT[0] + 0.05, SPOT[1]))
    assert not far & set(here)
    other = resolve_category("06043") or resolve_category("06041")
    assert not set(duplicate_lock_keys(other, *SPOT)) & set(here)


@pytest.mark.django_db(transaction=True)
def test_reports_of_one_spot_one_after_another_link_on_any_database():
    city = build_city()
    outcomes = [
        do_report_case(
            ReportInput(category=resolve_category("06042"), lon=SPOT[0], lat=SPOT[1]),
            acting_user=city.people["inspector"],
        )
        for _ in range(3)
    ]
    assert Case.objects.count() == 1
    assert [o.linked_to_existing for o in outcomes] == [False, True, True]
    assert outcomes[0].case.channel == Channel.INSPECTOR
