"""The demo city's team and communities: every people record made through its action, with
today's patrols on the supervisor's board."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from gridcity.accounts.models import AuditEntry
from gridcity.demo.builder import DemoOptions, build_demo
from gridcity.people import models as m
from gridcity.people.naming import natural_key

# A Wednesday afternoon, as in the demo's own tests.
NOW = datetime(2026, 11, 25, 15, 30, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    """The small demo city with its people part, built once inside a transaction rolled back
    after."""
    md5 = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    with django_db_blocker.unblock(), override_settings(PASSWORD_HASHERS=md5), transaction.atomic():
        result = build_demo(DemoOptions(seed=1, months=1, cases=80, cell_size_m=400, now=NOW))
        counts, seconds = result.modules["包村居与队伍"], result.timings["包村居与队伍"]
        yield counts, seconds
        transaction.set_rollback(True)


@pytest.mark.django_db
def test_every_people_table_has_rows_made_through_the_actions(demo):
    counts, seconds = demo
    print(f"\npeople demo: {counts} in {seconds:.1f} s")
    for model in [
        m.Patrol,
        m.PatrolPoint,
        m.PatrolCellVisit,
        m.Pairing,
        m.PairingVisit,
        m.VisitPhoto,
        m.VisitProblem,
        m.ScoreSheet,
        m.AnnualRecord,
        m.PairingAssessment,
        m.ManagerProfile,
        m.TrainingSession,
        m.Qualification,
        m.Commendation,
        m.VillageRule,
        m.CivilisedFamily,
        m.Survey,
        m.SurveyResponse,
        m.StationActivity,
        m.Showcase,
    ]:
        assert model.objects.exists(), model.__name__
    audited = set(AuditEntry.objects.values_list("action", flat=True))
    assert {
        "create_pairing",
        "record_visit",
        "assess_pairing",
        "compile_annual_record",
        "create_score_sheet",
        "create_survey",
        "record_activity",
        "create_training",
        "record_attendance",
    } <= audited
    assert counts["pairings"] == m.Pairing.objects.count() >= 4
    assert counts["visit_photos"] == m.VisitPhoto.objects.count()
    assert seconds < 20


@pytest.mark.django_db
def test_the_annual_records_are_graded_from_two_past_quarters(demo):
    for record in m.AnnualRecord.objects.all():
        assert record.grade and record.score is not None and not record.is_stale
    quarters = set(m.PairingAssessment.objects.values_list("year", "quarter"))
    assert quarters == {(2026, 2), (2026, 3)}  # the two quarters before November's


@pytest.mark.django_db
def test_today_grid_managers_are_out_on_their_beats(demo, client):
    today = timezone.localtime(NOW).date()
    todays = m.Patrol.objects.filter(started_at__date=today)
    assert todays.count() >= 5
    assert todays.filter(status=m.PatrolStatus.ACTIVE).exists()
    for p in todays:
        assert p.cells_visited > 0 and p.beat_id
        points = p.points.order_by("seq")
        assert timezone.localtime(points.first().t).date() == today
        assert points.last().t <= NOW
    assert m.PatrolPoint.objects.exclude(flag=m.PointFlag.OK).exists()  # one GPS jump
    from gridcity.accounts.models import User

    client.force_login(User.objects.get(username="shiftlead"))
    html = client.get(f"/people/patrols/?date={today.isoformat()}").content.decode()
    assert todays.first().manager.display_name in html


@pytest.mark.django_db
def test_the_team_and_its_visit_photos_show_on_the_pages(demo, client):
    from gridcity.accounts.models import User

    client.force_login(User.objects.get(username="leader"))
    photo = m.VisitPhoto.objects.select_related("visit").first()
    html = client.get(f"/people/pairings/{photo.visit.pairing_id}/").content.decode()
    # (Serving the files is tested where the media root is the test's own: the root conftest
    # gives each test a fresh one, and this module's city was built before.)
    assert photo.thumbnail.url in html and photo.file.url in html
    client.force_login(User.objects.get(username="shiftlead"))
    rows = client.get("/people/team/").context["rows"]
    names = [beats[0].name for _u, beats, _month in rows if beats]
    assert names == sorted(names, key=natural_key) and len(names) >= 10
