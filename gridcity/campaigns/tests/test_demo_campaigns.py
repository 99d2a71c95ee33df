"""The demo's campaigns, built on a small demo city (400 m cells, 80 cases over a month): a
campaign half-way with ledger rows in every state, none of a closed case left waiting, and a
rebound; a finished campaign fully signed off."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction
from django.test import override_settings

from gridcity.accounts import audit
from gridcity.campaigns.models import (
    Campaign,
    LedgerRow,
    LedgerSource,
    LedgerStatus,
    LedgerSupervision,
)
from gridcity.campaigns.progress import campaign_progress
from gridcity.cases.models import Status
from gridcity.demo.builder import DemoOptions, build_demo

NOW = datetime(2026, 11, 25, 15, 30, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    """Built once for the module inside a transaction that is rolled back afterwards."""
    md5 = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    with django_db_blocker.unblock(), override_settings(PASSWORD_HASHERS=md5), transaction.atomic():
        result = build_demo(DemoOptions(seed=1, months=1, cases=80, cell_size_m=400, now=NOW))
        yield result.modules["专项整治"]
        transaction.set_rollback(True)


@pytest.fixture
def running(demo):
    return Campaign.objects.get(name="生活垃圾满溢与暴露垃圾专项整治")


@pytest.mark.django_db
def test_the_running_campaign_has_rows_in_every_state_from_every_source(demo, running):
    today = NOW.date()
    assert running.starts_on < today < running.ends_on
    rows = running.ledger_rows
    for status in set(LedgerStatus) - {LedgerStatus.CANCELLED}:
        assert rows.filter(status=status).exists(), status
    assert rows.filter(source=LedgerSource.CASE, case__status=Status.CLOSED).exists()
    assert rows.filter(source=LedgerSource.MANUAL).count() == demo["manual_rows"] == 3
    assert rows.filter(source=LedgerSource.IMPORT).count() == demo["imported_rows"] == 3
    p = campaign_progress(running, today=today)
    assert p["phase"] == "进行中" and 0 < p["signed_off_rate"] < 100
    # Every overdue row has been chased.
    for row in rows.filter(status=LedgerStatus.OVERDUE):
        assert LedgerSupervision.objects.filter(row=row).exists()
    # The launch and the later edit are on the record.
    assert [e.action for e in audit.history_of(running).order_by("at")] == ["create", "update"]


@pytest.mark.django_db
def test_no_row_of_a_closed_case_waits_and_none_is_dated_before_its_case(demo):
    waiting = (LedgerStatus.PENDING, LedgerStatus.RECTIFYING, LedgerStatus.OVERDUE)
    closed_rows = LedgerRow.objects.filter(case__status=Status.CLOSED)
    assert closed_rows.exists()
    assert not closed_rows.filter(status__in=waiting).exists()
    for row in LedgerRow.objects.filter(case__isnull=False).select_related("case"):
        assert row.created_at >= row.case.reported_at, row.number
        times = [e.at for e in row.events.all()]
        assert times == sorted(times) and times[0] == row.created_at


@pytest.mark.django_db
def test_a_problem_back_in_a_signed_off_cell_shows_on_the_board(demo, running, client):
    assert demo["rebound_warnings"] >= 1
    warning = running.rebounds.first()
    assert warning is not None and "销号后" in warning.note
    client.force_login(running.created_by)
    page = client.get(f"/campaigns/{running.pk}/").content.decode()
    assert warning.note in page and "操作记录" in page


@pytest.mark.django_db
def test_the_finished_campaign_is_fully_signed_off(demo):
    finished = Campaign.objects.get(name="占道经营与乱停放集中整治")
    assert finished.ends_on < NOW.date()
    p = campaign_progress(finished, today=NOW.date())
    assert p["phase"] in ("反弹观察期", "已结束")
    assert p["ledger_total"] > 0 and p["signed_off_rate"] == 100.0
