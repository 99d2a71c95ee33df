"""The Edinburgh litter bins replayed: early warnings before the recorded collections.

The file has only the fill level at each collection; the readings in between are a straight
line (see replay.edinburgh), so this measures the rules on a bin filling at its real average
rate, not on real hour-by-hour fills."""

from pathlib import Path

import pytest

from gridcity.sensors import replay
from gridcity.testing import build_city

DATA = Path(__file__).parent / "data" / "edinburgh_litter_bins_30_sites.csv"


def test_the_stream_is_built_from_collections():
    s = replay.edinburgh(DATA, sites=2)
    assert len(s.devices) == 2
    times = [r[0] for r in s.readings]
    assert times == sorted(times)
    assert all(0 <= float(r[3]) <= 100 for r in s.readings)


@pytest.mark.slow
@pytest.mark.django_db
def test_most_bins_over_80_percent_were_warned_before_collection():
    build_city()
    stream = replay.edinburgh(DATA)
    result = replay.run_replay(stream)
    assert result.rejected == 0 and result.stored == len(stream.readings)
    share = replay.edinburgh_report(stream)
    assert share.eligible > 300
    assert share.share > 0.5
    print(
        f"\nEdinburgh (30 sites): {share.warned}/{share.eligible} = {share.share:.1%}, "
        f"median lead {share.median_lead() / 60:.1f} h"
    )
