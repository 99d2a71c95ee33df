"""/healthz, /readyz and /metrics: what a load balancer and Prometheus see, and who may see it."""

from datetime import timedelta

import pytest
from django.db import OperationalError, connections
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from gridcity.accounts.actions import do_create_token
from gridcity.cases.models import OPEN, Case
from gridcity.sensors.actions import do_register_device
from gridcity.system import metrics, views
from gridcity.system.scheduling import run_periodic
from gridcity.testing import MID_LAT, build_city

BROKEN_REDIS = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
}


def scrape(client, **headers) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} from /metrics, asked from this machine."""
    r = client.get("/metrics", **headers)
    assert r.status_code == 200, r.content
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.content.decode())
        for s in family.samples
    }


def intakes(sample: dict, channel: str) -> float:
    return sample.get(("gridcity_intakes_total", (("channel", channel),)), 0.0)


# --- /healthz ------------------------------------------------------------------------------


def test_it_answers_healthz_without_touching_the_database(client):
    # No django_db mark: pytest-django fails the test on any query.
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


# --- /readyz -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_is_ready_when_every_check_passes(client):
    r = client.get("/readyz")
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["status"] == "ok" and body["failing"] == []
    assert [c["name"] for c in body["checks"]] == ["database", "migrations", "cache", "task_queue"]
    assert all(c["ok"] and c["message"] for c in body["checks"])


@pytest.mark.django_db
def test_an_old_queued_task_makes_it_unready(client, settings, time_machine):
    settings.GRIDCITY_READY_MAX_TASK_AGE = 60
    run_periodic.enqueue("prune-history", 1)
    time_machine.move_to(timezone.now() + timedelta(seconds=90))
    r = client.get("/readyz")
    assert r.status_code == 503
    body = r.json()
    assert body["failing"] == ["task_queue"]
    task_check = body["checks"][-1]
    assert task_check["ok"] is False and 89 <= task_check["value"] <= 95
    assert "'periodic'" in task_check["message"]


@pytest.mark.django_db
def test_a_deferred_task_has_waited_only_since_it_became_due(client, settings, time_machine):
    settings.GRIDCITY_READY_MAX_TASK_AGE = 60
    run_periodic.using(run_after=timezone.now() + timedelta(hours=1)).enqueue("prune-history", 1)
    time_machine.move_to(timezone.now() + timedelta(hours=1, seconds=10))
    r = client.get("/readyz")
    assert r.status_code == 200, r.content
    assert 9 <= r.json()["checks"][-1]["value"] <= 15


@pytest.mark.django_db
def test_a_broken_cache_makes_it_unready(client, settings):
    settings.CACHES = BROKEN_REDIS
    r = client.get("/readyz")
    assert r.status_code == 503
    body = r.json()
    assert body["failing"] == ["cache"]
    assert "set/get failed" in body["checks"][2]["message"]


@pytest.mark.django_db
def test_a_database_outage_is_a_503_not_a_500(client, monkeypatch):
    def refuse(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(views, "_migrations_applied", False)
    monkeypatch.setattr(connections["default"], "cursor", refuse)
    r = client.get("/readyz")
    assert r.status_code == 503
    body = r.json()
    assert body["failing"] == ["database", "migrations", "task_queue"]
    assert "connection refused" in body["checks"][0]["message"]


# --- /metrics: who may scrape --------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_X_FORWARDED_FOR": "203.0.113.9"},  # through the load balancer
        {"REMOTE_ADDR": "10.0.0.5"},  # another machine
        {"REMOTE_ADDR": "10.0.0.5", "HTTP_AUTHORIZATION": "Bearer "},
    ],
)
def test_metrics_are_hidden_from_anyone_but_a_local_scraper(client, headers):
    assert client.get("/metrics", **headers).status_code == 404


@pytest.mark.django_db
def test_metrics_answer_loopback_in_ipv6_too(client):
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200


@pytest.mark.django_db
def test_metrics_answer_the_right_bearer_token_from_anywhere(client, settings):
    settings.GRIDCITY_METRICS_TOKEN = "scrape-secret-1"
    far = {"REMOTE_ADDR": "10.0.0.5", "HTTP_X_FORWARDED_FOR": "203.0.113.9"}
    r = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret-1", **far)
    assert r.status_code == 200
    assert r["Content-Type"].startswith("text/plain")
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret-2", **far)
    assert wrong.status_code == 404


# --- /metrics: what they say ---------------------------------------------------------------


@pytest.mark.django_db
def test_metrics_name_every_metric_and_label_requests_by_route(client):
    client.get("/healthz")
    client.get("/api/cases/NOSUCHCASE1")
    r = client.get("/metrics")
    assert r.status_code == 200
    text = r.content.decode()
    for name in [
        "gridcity_http_request_duration_seconds",
        "gridcity_intakes_total",
        "gridcity_sensor_readings_ingested_total",
        "gridcity_cases_open",
        "gridcity_cases_overdue_open",
        "gridcity_task_queue_depth",
        "gridcity_task_queue_oldest_age_seconds",
        "gridcity_periodic_job_last_success_timestamp_seconds",
    ]:
        assert f"# TYPE {name} " in text, name
    sample = scrape(client)
    healthz = ("method", "GET"), ("route", "healthz"), ("status", "2xx")
    assert sample[("gridcity_http_request_duration_seconds_count", healthz)] >= 1
    case_detail = ("method", "GET"), ("route", "api/cases/<number>"), ("status", "4xx")
    assert sample[("gridcity_http_request_duration_seconds_count", case_detail)] >= 1
    assert "NOSUCHCASE1" not in text
    assert sample[("gridcity_task_queue_depth", (("queue", "periodic"),))] == 0


@pytest.mark.django_db
def test_a_report_counts_one_intake_and_one_more_open_case(
    client, django_capture_on_commit_callbacks, time_machine
):
    city = build_city()
    token = do_create_token(city.people["inspector"])
    before = scrape(client)
    own_before = metrics.INTAKES.labels(channel="inspector")._value.get()
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post(
            "/api/cases",
            {"category": "06042", "lon": 120.163, "lat": MID_LAT + 0.001, "description": "满了"},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )
    assert r.status_code == 201, r.content
    assert Case.objects.get(number=r.json()["number"]).channel == "inspector"

    after = scrape(client)
    # The sum may include other processes sharing the directory; this process added exactly one.
    assert intakes(after, "inspector") >= intakes(before, "inspector") + 1
    assert metrics.INTAKES.labels(channel="inspector")._value.get() == own_before + 1
    open_cases = Case.objects.filter(status__in=OPEN).count()
    assert open_cases >= 1
    assert after[("gridcity_cases_open", ())] == open_cases
    assert after[("gridcity_cases_overdue_open", ())] == 0

    time_machine.move_to(timezone.now() + timedelta(days=30))
    assert scrape(client)[("gridcity_cases_overdue_open", ())] == open_cases


@pytest.mark.django_db
def test_stored_sensor_readings_are_counted_by_transport(
    client, django_capture_on_commit_callbacks
):
    _, token = do_register_device("BIN-METRICS", "bin_fill", acting_user=None)
    readings = [
        {"time": (timezone.now() - timedelta(minutes=m)).isoformat(), "metric": "fill", "value": 30}
        for m in (30, 20, 10)
    ]
    http = ("gridcity_sensor_readings_ingested_total", (("transport", "http"),))
    before = scrape(client)[http]
    own_before = metrics.READINGS_INGESTED.labels(transport="http")._value.get()
    for _ in range(2):  # the second batch is all duplicates: nothing new stored
        with django_capture_on_commit_callbacks(execute=True):
            r = client.post(
                "/api/sensors/readings",
                readings,
                content_type="application/json",
                HTTP_X_DEVICE_TOKEN=token,
            )
        assert r.status_code == 200, r.content
    assert scrape(client)[http] >= before + 3
    assert metrics.READINGS_INGESTED.labels(transport="http")._value.get() == own_before + 3
