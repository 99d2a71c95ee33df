"""The demo city's inspections and detections, built on a small demo (400 m cells, 80 cases)
at a fixed moment, through the real actions: what a visitor finds on the pages."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction
from django.test import override_settings

from gridcity.accounts.models import AuditEntry, User
from gridcity.campaigns.models import (
    Finding,
    FindingOutcome,
    Inspection,
    InspectionPlan,
    InspectionStatus,
    LedgerStatus,
    RectificationNotice,
)
from gridcity.cases.models import Channel
from gridcity.demo.builder import DemoOptions, build_demo

NOW = datetime(2026, 11, 25, 15, 30, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    """Built once for the module inside a transaction that is rolled back afterwards."""
    md5 = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    with django_db_blocker.unblock(), override_settings(PASSWORD_HASHERS=md5), transaction.atomic():
        result = build_demo(DemoOptions(seed=1, months=1, cases=80, cell_size_m=400, now=NOW))
        yield result.modules["督查检查"]
        transaction.set_rollback(True)


@pytest.mark.django_db
def test_it_makes_plans_a_finished_round_and_notices(demo):
    assert demo["plans"] == 2 and demo["findings"] == 4 and demo["notices"] == 2
    spot = InspectionPlan.objects.get(method="random")
    assert (
        spot.openness == "undercover"
        and InspectionPlan.objects.get(method="planned").openness == "open"
    )
    round_ = spot.inspections.get(reinspection_of__isnull=True)
    assert round_.status == InspectionStatus.DONE and round_.cells.count() == 5 and round_.seed
    for f in round_.findings.all():
        assert f.photos.count() == 1 and f.ledger_row is not None and f.cell_id is not None
    closed = RectificationNotice.objects.get(department__code="HJWS")
    open_ = RectificationNotice.objects.get(department__code="CGZF")
    assert closed.closed_at is not None
    passed = Inspection.objects.get(notice_checked=closed)
    assert passed.passed is True
    assert set(
        closed.inspection.findings.filter(department=closed.department).values_list(
            "ledger_row__status", flat=True
        )
    ) == {LedgerStatus.SIGNED_OFF}
    coming = open_.reinspection
    assert open_.closed_at is None and coming.status == InspectionStatus.SCHEDULED
    assert coming.scheduled_for > NOW.date()


@pytest.mark.django_db
def test_detections_are_filed_accepted_rejected_and_waiting(demo):
    assert (demo["detection_cases"], demo["detections_rejected"], demo["detections_waiting"]) == (
        4,
        1,
        3,
    )
    detections = Finding.objects.filter(source__in=["camera", "drone"])
    accepted = detections.filter(outcome=FindingOutcome.CASE, reviewed_by__isnull=False)
    assert accepted.count() == 2
    assert all(f.case.channel == Channel.CAMERA for f in detections.filter(outcome="case"))
    rejected = detections.get(outcome=FindingOutcome.REJECTED)
    assert rejected.review_note.startswith("误识别") and rejected.case is None
    decisions = AuditEntry.objects.filter(
        object_type="campaigns.finding", action__in=["accept", "reject"]
    )
    assert decisions.count() == 3
    # Nothing happens after the demo's "now".
    assert not AuditEntry.objects.filter(at__gt=NOW).exists()


@pytest.mark.django_db
def test_the_pages_show_them(client, demo):
    client.force_login(User.objects.get(username="leader"))
    html = client.get("/campaigns/inspections/").content.decode()
    assert "环境卫生随机暗访" in html and "市容秩序每周明察" in html and "已闭环" in html
    client.force_login(User.objects.get(username="intake"))
    html = client.get("/campaigns/detections/").content.decode()
    assert html.count('class="card det-card"') == 3 and "误识别" in html
