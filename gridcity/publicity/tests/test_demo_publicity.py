"""The demo city's 曝光台, built on the small demo city (400 m cells, 80 cases over a month)."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction
from django.test import override_settings

from gridcity.demo.builder import DemoOptions, build_demo
from gridcity.publicity.models import Exposure, ExposureState
from gridcity.publicity.rectification import cases_of, public_photos

NOW = datetime(2026, 11, 25, 15, 30, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture(scope="module")
def demo_counts(django_db_setup, django_db_blocker):
    """The demo city and its 曝光台, built once inside a transaction rolled back afterwards."""
    md5 = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    with django_db_blocker.unblock(), override_settings(PASSWORD_HASHERS=md5), transaction.atomic():
        result = build_demo(DemoOptions(seed=1, months=1, cases=80, cell_size_m=400, now=NOW))
        yield result.modules["曝光台"]
        transaction.set_rollback(True)


@pytest.mark.django_db
def test_the_demo_publishes_cases_with_photos_and_keeps_one_waiting_and_one_withdrawn(
    demo_counts, client
):
    counts = demo_counts
    assert counts["published"] >= 3 and counts["awaiting"] == 1 and counts["withdrawn"] == 1
    assert Exposure.objects.count() == counts["exposures"]
    published = Exposure.objects.filter(state=ExposureState.PUBLISHED)
    assert published.count() == counts["published"]
    for exposure in published.filter(kind="case"):
        before, after = public_photos(cases_of(exposure))
        assert before and after
        assert exposure.proposed_by != exposure.decided_by
        assert exposure.published_at <= NOW
    html = client.get("/public/exposures/").content.decode()
    assert html.count('class="card expo-card"') == counts["published"]
    waiting = Exposure.objects.get(state=ExposureState.SUBMITTED)
    withdrawn = Exposure.objects.get(state=ExposureState.WITHDRAWN)
    assert waiting.title not in html and withdrawn.title not in html
