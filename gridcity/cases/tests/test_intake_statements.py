"""A grid inspector's report through POST /api/cases is filed and dispatched in a handful of SQL
statements, and what those statements write is the whole record: the case with its number, the
report, every event, the evaluation facts and the day's stale mark. The caches that spare the
reads (token, categories, webhook subscriptions, campaign matches) drop a change at once."""

import json
import re
from datetime import date

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from gridcity.accounts.actions import do_create_token, do_revoke_token
from gridcity.accounts.models import ApiToken
from gridcity.cases.facts import FACT_COLUMNS, refresh_case_facts
from gridcity.cases.models import Case, CaseEvent, CaseFact, Report, StaleDay, Status
from gridcity.open311.models import Delivery, Subscription
from gridcity.taxonomy.models import Category
from gridcity.testing import EAST, MID_LAT, WEST, build_city

MAX_STATEMENTS = 8
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def city():
    return build_city()


@pytest.fixture
def inspector_app(city):
    """The grid inspector's phone: a token and a client that sends it."""
    client = Client(HTTP_AUTHORIZATION=f"Bearer {do_create_token(city.people['inspector'])}")
    spot = iter(range(1, 1000))

    def report(**extra):
        # Points 100 m apart along the district: never one another's duplicates.
        lon = WEST + 0.0005 + next(spot) * 0.001 % (EAST - WEST - 0.001)
        body = {"category": "06042", "lon": lon, "lat": MID_LAT, "description": "垃圾满溢"}
        r = client.post(
            "/api/cases", json.dumps({**body, **extra}), content_type="application/json"
        )
        assert r.status_code in (200, 201), r.content
        return r

    report.client = client
    return report


def listing(ctx) -> str:
    return "\n".join(f"{i + 1:>2}. {q['sql'][:300]}" for i, q in enumerate(ctx.captured_queries))


def counted(ctx) -> list[dict]:
    # SQLite's BEGIN and COMMIT are statements too; PostgreSQL's go through the driver unlogged.
    return list(ctx.captured_queries)


@pytest.mark.parametrize("radius", [0, 30], ids=["no-dedupe", "dedupe"])
def test_it_files_and_dispatches_a_trusted_report_in_at_most_eight_statements(
    inspector_app, radius
):
    Category.objects.filter(code="06042").update(duplicate_radius_m=radius)
    inspector_app()  # the first request fills the caches, as a node's first request does
    with CaptureQueriesContext(connection) as ctx:
        r = inspector_app()
    body = r.json()
    assert r.status_code == 201
    assert body["status"] == Status.DISPATCHED, body
    n = len(counted(ctx))
    assert n <= MAX_STATEMENTS, (
        f"{n} SQL statements for one trusted intake (at most {MAX_STATEMENTS}):\n{listing(ctx)}"
    )
    sql = " ".join(q["sql"] for q in ctx.captured_queries)
    assert not re.search(r'UPDATE "cases_case"', sql), listing(ctx)
    assert not re.search(r'DELETE FROM "cases_casefact"', sql), listing(ctx)
    assert sql.count('INSERT INTO "cases_caseevent"') == 1, listing(ctx)
    if radius and connection.vendor == "postgresql":
        assert "pg_advisory_xact_lock" in sql


def test_the_record_of_an_intake_is_complete(city, inspector_app):
    r = inspector_app()
    case = Case.objects.get(number=r.json()["number"])
    # The number: the local day of the report and the id, as every case before.
    assert case.number == f"{timezone.localtime(case.reported_at):%Y%m%d}{case.pk:06d}"
    report = Report.objects.get(case=case)
    events = list(CaseEvent.objects.filter(case=case).order_by("pk"))
    assert [(e.action, e.from_status, e.to_status) for e in events] == [
        ("report", "", Status.REPORTED),
        ("file", Status.REPORTED, Status.FILED),
        ("dispatch", Status.FILED, Status.DISPATCHED),
    ]
    rep, filed, dispatched = events
    assert rep.actor == city.people["inspector"] and rep.actor_role == "inspector"
    assert rep.data == {"channel": "inspector", "report_id": report.pk}
    assert filed.actor.username == "system" and filed.note == "可信渠道上报，自动立案"
    assert filed.step == "file" and filed.step_clock and filed.step_elapsed == 0.0
    assert filed.data["suggestion"]["department_id"] == case.department_id
    assert dispatched.department_id == case.department_id == city.departments["HJWS"].pk
    assert dispatched.step == "dispatch" and dispatched.overdue is False
    assert dispatched.data == {
        "override": False,
        "suggested_department": case.department_id,
    }
    assert case.version == 2 and case.filed_at == case.dispatched_at == rep.at
    assert case.step == "sign" and case.handle_deadline is not None
    # The facts written once equal the facts recomputed from the events.
    written = sorted(CaseFact.objects.filter(case_id=case.pk).values_list(*FACT_COLUMNS))
    refresh_case_facts([case.pk])
    again = sorted(CaseFact.objects.filter(case_id=case.pk).values_list(*FACT_COLUMNS))
    assert written == again and {f[0] for f in written} >= {"report", "file", "dispatch"}
    assert StaleDay.objects.filter(day=timezone.localdate(rep.at)).exists()


def test_numbers_stay_unique_and_in_sequence(inspector_app):
    numbers = [inspector_app().json()["number"] for _ in range(5)]
    assert len(set(numbers)) == 5
    ids = [int(n[8:]) for n in numbers]
    assert ids == sorted(ids) and all(len(n) == 14 for n in numbers)


def test_a_recounted_day_is_marked_again_by_the_next_report(inspector_app):
    inspector_app()
    today = timezone.localdate()
    StaleDay.objects.filter(day=today).delete()  # a recount took the mark
    inspector_app()
    assert StaleDay.objects.filter(day=today).exists()
    with CaptureQueriesContext(connection) as ctx:
        inspector_app()
    if connection.vendor != "postgresql":
        # Already marked: the third report does not write the mark again.
        assert "cases_staleday" not in " ".join(
            q["sql"] for q in ctx.captured_queries if q["sql"].startswith("INSERT")
        )


def test_a_new_webhook_subscription_hears_the_next_report_at_once(inspector_app):
    inspector_app()  # caches "no subscriptions"
    sub = Subscription.objects.create(
        name="区热线", url="http://127.0.0.1:9/hook", event_types=["case.created"]
    )
    r = inspector_app()
    assert list(Delivery.objects.values_list("subscription_id", "case_number")) == [
        (sub.pk, r.json()["number"])
    ]
    sub.is_active = False
    sub.save()
    inspector_app()
    assert Delivery.objects.count() == 1


def test_a_new_campaign_tags_the_next_report_at_once(city, inspector_app):
    from gridcity.campaigns.actions import do_create_campaign
    from gridcity.campaigns.models import CampaignCase

    inspector_app()  # caches "no campaigns"
    today = timezone.localdate()
    campaign = do_create_campaign(
        acting_user=city.people["leader"],
        name="垃圾满溢专项整治",
        starts_on=date(today.year, 1, 1),
        ends_on=date(today.year, 12, 31),
        categories=[Category.objects.get(kind="matter", code="06042")],
        areas=[city.district],
    )
    r = inspector_app()
    assert CampaignCase.objects.filter(campaign=campaign, case__number=r.json()["number"]).exists()


def test_a_revoked_token_or_a_deactivated_user_stops_at_once(city, inspector_app):
    client = inspector_app.client
    assert client.get("/api/me").status_code == 200  # cached now
    token = ApiToken.objects.get(user=city.people["inspector"])
    do_revoke_token(token, acting_user=city.people["admin"])
    assert client.get("/api/me").status_code == 401

    raw = do_create_token(city.people["inspector2"])
    other = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert other.get("/api/me").status_code == 200
    person = city.people["inspector2"]
    person.is_active = False
    person.save()
    assert other.get("/api/me").status_code == 401
