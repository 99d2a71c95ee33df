"""Webhooks: a receiver on 127.0.0.1 checks the signature; a failing receiver is retried with
back-off and, after repeated failures, the subscription is disabled."""

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone
from django_tasks import task_backends

from gridcity.cases.actions import ReportInput, do_report_case
from gridcity.open311 import webhooks
from gridcity.open311.models import Delivery, DeliveryStatus, Subscription
from gridcity.taxonomy.models import Category

pytestmark = pytest.mark.django_db
DUMMY = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}


class Receiver:
    """A tiny HTTP server that answers with the next status of `statuses` (the last repeats)."""

    def __init__(self, statuses: list[int]):
        self.statuses = list(statuses)
        self.requests: list = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append((self.headers, body))
                code = outer.statuses.pop(0) if len(outer.statuses) > 1 else outer.statuses[0]
                self.send_response(code)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def queue(settings):
    settings.TASKS = DUMMY
    backend = task_backends["default"]
    backend.clear()

    def run_all() -> list:
        """Run what is queued, as the worker would, including re-enqueued retries."""
        done = []
        while backend.results:
            result = backend.results.pop(0)
            done.append((result.task.run_after, result.task.call(*result.args, **result.kwargs)))
        return done

    return run_all


@pytest.fixture
def emit(django_capture_on_commit_callbacks):
    """emit() as an action calls it: its deliveries are enqueued when the transaction commits."""

    def call(event_type, case):
        with django_capture_on_commit_callbacks(execute=True):
            return webhooks.emit(event_type, case)

    return call


@pytest.fixture
def case(city):
    cat = Category.objects.get(kind="matter", code="06042")
    return do_report_case(
        ReportInput(category=cat, channel="inspector", lon=120.163, lat=30.243),
        acting_user=city.people["inspector"],
    ).case


def test_it_signs_each_delivery(case, queue, emit):
    with Receiver([200]) as rx:
        sub = Subscription.objects.create(
            name="智慧城市平台", url=rx.url, event_types=["case.created"]
        )
        Subscription.objects.create(name="other", url=rx.url, event_types=["case.closed"])
        (delivery,) = emit("case.created", case)
        assert [status for _, status in queue()] == [DeliveryStatus.SUCCEEDED]
    ((headers, body),) = rx.requests
    assert webhooks.verify(
        sub.secret, headers["X-GridCity-Timestamp"], body, headers["X-GridCity-Signature"]
    )
    assert not webhooks.verify(
        "wrong", headers["X-GridCity-Timestamp"], body, headers["X-GridCity-Signature"]
    )
    assert headers["X-GridCity-Event"] == "case.created"
    payload = json.loads(body)
    assert payload["type"] == "case.created"
    assert payload["data"]["case"]["service_request_id"] == case.number
    assert payload["data"]["case"]["agency_responsible"] == "环境卫生科室"
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert delivery.attempt_log.get().status_code == 200


def test_it_retries_with_back_off_then_succeeds(case, queue, settings, emit):
    settings.GRIDCITY_WEBHOOKS = {"backoff_seconds": 30}
    with Receiver([500, 200]) as rx:
        Subscription.objects.create(name="12345", url=rx.url, event_types=["case.dispatched"])
        (delivery,) = emit("case.dispatched", case)
        before = timezone.now()
        runs = queue()
    assert [status for _, status in runs] == [DeliveryStatus.RETRYING, DeliveryStatus.SUCCEEDED]
    retry_at = runs[1][0]
    assert timedelta(seconds=29) <= retry_at - before <= timedelta(seconds=40)
    assert len(rx.requests) == 2
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED and delivery.attempts == 2
    assert [a.status_code for a in delivery.attempt_log.all()] == [500, 200]
    assert Subscription.objects.get().consecutive_failures == 0


def test_back_off_doubles_and_is_capped(settings):
    settings.GRIDCITY_WEBHOOKS = {"backoff_seconds": 30, "backoff_cap_seconds": 200}
    assert [webhooks.backoff(n).total_seconds() for n in (1, 2, 3, 4, 5)] == [30, 60, 120, 200, 200]


def test_it_gives_up_and_disables_after_repeated_failures(case, queue, settings, emit):
    settings.GRIDCITY_WEBHOOKS = {"max_attempts": 3, "disable_after": 5}
    with Receiver([503]) as rx:
        sub = Subscription.objects.create(name="down", url=rx.url, event_types=["case.overdue"])
        first = emit("case.overdue", case)[0]
        queue()
        first.refresh_from_db()
        assert first.status == DeliveryStatus.FAILED and first.attempts == 3
        sub.refresh_from_db()
        assert sub.is_active and sub.consecutive_failures == 3
        second = emit("case.overdue", case)[0]
        queue()
    sub.refresh_from_db()
    assert not sub.is_active and sub.disabled_at is not None
    second.refresh_from_db()
    assert second.status == DeliveryStatus.FAILED and second.attempts == 2
    assert len(rx.requests) == 5
    assert emit("case.overdue", case) == []


def test_an_unreachable_receiver_is_a_logged_failure(case, queue, settings, emit):
    settings.GRIDCITY_WEBHOOKS = {"max_attempts": 1}
    Subscription.objects.create(
        name="gone", url="http://127.0.0.1:9/x", event_types=["case.closed"]
    )
    (d,) = emit("case.closed", case)
    queue()
    d.refresh_from_db()
    assert d.status == DeliveryStatus.FAILED
    assert d.attempt_log.get().error


def test_the_admin_sends_a_test_event(client, city, queue, django_capture_on_commit_callbacks):
    with Receiver([200]) as rx:
        sub = Subscription.objects.create(name="t", url=rx.url, event_types=[])
        client.force_login(city.people["admin"])
        with django_capture_on_commit_callbacks(execute=True):
            r = client.post(
                "/admin/open311/subscription/",
                {"action": "send_test", "_selected_action": [sub.pk]},
            )
        assert r.status_code == 302
        queue()
    ((headers, body),) = rx.requests
    assert headers["X-GridCity-Event"] == "ping"
    assert Delivery.objects.get().status == DeliveryStatus.SUCCEEDED


def test_unknown_events_are_refused(case, emit):
    with pytest.raises(ValueError):
        emit("case.exploded", case)
