"""The rules are plain functions: each is specified here without a database."""

from datetime import UTC, datetime, timedelta

import pytest

from gridcity.sensors import rules as R

T0 = datetime(2026, 5, 1, 7, 0, tzinfo=UTC)


def series(*values, step_min=10, start=T0):
    return [(start + timedelta(minutes=step_min * i), float(v)) for i, v in enumerate(values)]


def test_it_fires_a_threshold_and_clears_only_past_the_clear_level():
    assert R.threshold(series(10, 16), above=15, clear=5).firing is True
    hovering = R.threshold(series(16, 12), above=15, clear=5, is_open=True)
    assert hovering.firing is True and "尚未恢复" in hovering.reason
    assert R.threshold(series(16, 4), above=15, clear=5, is_open=True).firing is False
    assert R.threshold([], above=15).firing is None


def test_it_fires_a_duration_rule_only_after_the_whole_span():
    assert R.duration(series(80, 80, 80), minutes=30, above=70).firing is False  # 20 minutes
    v = R.duration(series(80, 80, 80, 80), minutes=30, above=70, unit="dB")
    assert v.firing is True and "持续 30 分钟" in v.reason
    assert R.duration(series(80, 60, 80, 80), minutes=30, above=70).firing is False
    assert R.duration(series(2, 2, 2, 2, 2, 2, 2), minutes=60, below=5).firing is True


def test_it_fires_on_a_fast_rise_but_not_a_slow_one():
    assert R.rate_of_change(series(1.0, 1.1, 1.3), per_hour=0.3, window_minutes=60).firing
    assert not R.rate_of_change(series(1.0, 1.02, 1.04), per_hour=0.3).firing
    assert R.rate_of_change(series(1.0), per_hour=0.3).firing is None


def test_it_calls_a_device_silent_after_k_intervals():
    last = T0
    assert R.silence(last, now=T0 + timedelta(minutes=29), interval_s=600).firing is False
    v = R.silence(last, now=T0 + timedelta(minutes=31), interval_s=600)
    assert v.firing is True and "31 分钟未上报" in v.reason
    assert R.silence(None, now=T0, interval_s=600).firing is None


def test_it_finds_the_last_emptying():
    s = series(50, 70, 90, 3, 5, 8)
    assert [v for _, v in R.since_last_emptying(s, drop=15)] == [3, 5, 8]


def test_it_predicts_time_to_full_from_the_fill_rate():
    # 15:30 scenario: 78 % and rising 13 % an hour → full at about 17:10.
    s = series(*[78 - 13 * (3 - i) / 6 for i in range(4)], start=T0)  # 10-minute readings
    at, rate = R.time_to_level(s, level=100)
    assert rate == pytest.approx(13, rel=1e-6)
    assert at - s[-1][0] == pytest.approx(timedelta(hours=22 / 13), abs=timedelta(seconds=1))
    v = R.predict(s, level=100, horizon_minutes=120)
    assert v.firing is True and "预计 102 分钟后达到 100%" in v.reason


def test_it_ignores_readings_before_the_emptying_when_predicting():
    s = series(60, 80, 95, 2, 4, 6)  # emptied, now 12 %/h from 6 %
    at, rate = R.time_to_level(s, level=100)
    assert rate == pytest.approx(12)
    assert R.predict(s, level=100, horizon_minutes=120).firing is False


def test_it_does_not_predict_a_bin_that_is_not_filling():
    v = R.predict(series(40, 40, 39, 40), level=100, horizon_minutes=120)
    assert v.firing is False


def test_a_full_bin_fires_even_with_one_reading():
    assert R.predict(series(100), level=100, horizon_minutes=120).firing is True
    assert R.predict(series(5), level=100, horizon_minutes=120).firing is False


def test_it_merges_kind_defaults_settings_and_device_overrides():
    rules = {r.name: r for r in R.rules_for("bin_fill")}
    assert rules["predict_full"].category == "matter:06042" and rules["predict_full"].file_case
    changed = R.rules_for(
        "bin_fill",
        {"predict_full": {"params": {"horizon_minutes": 90}}, "silence": None},
        {"bin_fill": {"predict_high": {"params": {"level": 70}}}},
    )
    by = {r.name: r for r in changed}
    assert by["predict_full"].params == {"level": 100, "horizon_minutes": 90}
    assert by["predict_high"].params["level"] == 70
    assert "silence" not in by
    extra = R.rules_for("generic", {"hot": {"kind": "threshold", "params": {"above": 50}}})
    assert {r.name for r in extra} == {"silence", "hot"}
    with pytest.raises(ValueError):
        R.rules_for("generic", {"odd": {"params": {}}})


def test_it_orders_a_clearance_route_by_nearest_neighbour():
    depot = (120.160, 30.240)
    stops = [(120.170, 30.240), (120.161, 30.240), (120.165, 30.240)]
    order, legs = R.clearance_order(depot, stops)
    assert order == [1, 2, 0]
    assert legs[0] == pytest.approx(96, abs=2)
