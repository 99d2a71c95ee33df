"""The track maths on plain values: distance, speed flags, out-of-order times."""

from datetime import UTC, datetime, timedelta

import pytest

from gridcity.people import track
from gridcity.people.track import Fix

T0 = datetime(2026, 5, 4, 7, 40, tzinfo=UTC)


def fix(seq, seconds, lon, lat, accuracy=None):
    return Fix(seq, T0 + timedelta(seconds=seconds), lon, lat, accuracy)


def test_it_measures_a_degree_of_latitude():
    assert track.haversine_m(120, 30, 120, 31) == pytest.approx(111_195, rel=1e-3)


def test_it_adds_up_the_steps_between_trusted_fixes():
    fixes = [fix(0, 0, 120.16, 30.24), fix(1, 60, 120.161, 30.24), fix(2, 120, 120.161, 30.241)]
    judged = track.judge(fixes)
    assert all(j.trusted for j in judged)
    expected = track.haversine_m(120.16, 30.24, 120.161, 30.24) + track.haversine_m(
        120.161, 30.24, 120.161, 30.241
    )
    assert track.summarise(judged).distance_m == pytest.approx(expected)


def test_it_flags_an_impossible_speed_and_resumes_from_the_last_trusted_fix():
    fixes = [
        fix(0, 0, 120.16, 30.24),
        fix(1, 10, 120.20, 30.24),  # 3.8 km in 10 s
        fix(2, 60, 120.161, 30.24),
    ]
    judged = track.judge(fixes)
    assert [j.flag for j in judged] == [track.OK, track.TOO_FAST, track.OK]
    summary = track.summarise(judged)
    assert summary.flagged == 1
    assert summary.distance_m == pytest.approx(track.haversine_m(120.16, 30.24, 120.161, 30.24))


def test_it_flags_a_fix_whose_time_runs_backwards():
    fixes = [fix(0, 0, 120.16, 30.24), fix(1, 60, 120.161, 30.24), fix(2, 30, 120.1605, 30.24)]
    assert [j.flag for j in track.judge(fixes)] == [track.OK, track.OK, track.OUT_OF_ORDER]


def test_it_judges_in_sequence_order_whatever_order_the_fixes_arrive_in():
    fixes = [fix(2, 120, 120.162, 30.24), fix(0, 0, 120.16, 30.24), fix(1, 60, 120.161, 30.24)]
    assert [j.fix.seq for j in track.judge(fixes)] == [0, 1, 2]
    assert all(j.trusted for j in track.judge(fixes))


def test_it_distrusts_a_very_imprecise_fix():
    judged = track.judge([fix(0, 0, 120.16, 30.24, accuracy=900)])
    assert judged[0].flag == track.INACCURATE


def test_coverage_counts_only_the_beats_own_cells():
    assert track.coverage({1, 2, 9}, {1, 2, 3, 4}) == 0.5
    assert track.coverage({1}, set()) == 0.0


def test_duty_time_runs_to_the_end_or_else_to_the_last_fix():
    assert track.duty_seconds(T0, T0 + timedelta(hours=2), None) == 7200
    assert track.duty_seconds(T0, None, T0 + timedelta(minutes=5)) == 300
    assert track.duty_seconds(T0, None, None) == 0
