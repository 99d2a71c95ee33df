"""Prometheus metrics, added up over every process of a node.

Counters and the latency histogram live in prometheus_client's multiprocess files (one per
process, in PROMETHEUS_MULTIPROC_DIR) and are summed at scrape. Values read from the database
(open cases, queue depth, …) are computed at scrape by the functions registered with
`@scrape_collector`, so each appears once rather than once per process. Higher apps register
their own (the cases app in `gridcity/cases/metrics.py`).

Operations:
- `RequestMetricsMiddleware` goes right after SecurityMiddleware.
- gunicorn's `child_exit` hook calls `mark_process_dead(worker.pid)`.
- `clear_multiproc_dir()` runs once at node start-up, before any process of the node starts.
"""

import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import Case, Count, F, Min, When
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

# Reading a setting loads the settings module, which sets PROMETHEUS_MULTIPROC_DIR; it must be
# set before prometheus_client is first imported, as the library reads it only then.
MULTIPROC_DIR = Path(settings.PROMETHEUS_MULTIPROC_DIR)

from prometheus_client import (  # noqa: E402
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.core import GaugeMetricFamily, Metric  # noqa: E402

if values.ValueClass is values.MutexValue:
    # Something imported prometheus_client before the settings set the variable (a gunicorn
    # config importing it in the master, say): every process would count on its own.
    raise ImproperlyConfigured(
        "prometheus_client was imported before PROMETHEUS_MULTIPROC_DIR was set; "
        "load the Django settings first"
    )

log = logging.getLogger(__name__)

REQUEST_SECONDS = Histogram(
    "gridcity_http_request_duration_seconds",
    "Time to answer an HTTP request, by method, route pattern and status class.",
    ["method", "route", "status"],
)
INTAKES = Counter(
    "gridcity_intakes",
    "New cases created from a report, by channel (committed).",
    ["channel"],
)
READINGS_INGESTED = Counter(
    "gridcity_sensor_readings_ingested",
    "Sensor readings stored (duplicates not counted), by transport.",
    ["transport"],
)
TRANSPORTS = ("http", "mqtt")
for _transport in TRANSPORTS:
    READINGS_INGESTED.labels(transport=_transport)  # present at 0 before the first reading


# --- Recording -------------------------------------------------------------------------------

# Any other method string a client sends would become a series of its own.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestMetricsMiddleware:
    """Records each request's latency under its route pattern, never the raw path, so that
    /api/cases/<number> is one series rather than one per case."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        REQUEST_SECONDS.labels(
            method=request.method if request.method in KNOWN_METHODS else "other",
            route=match.route if match is not None else "unmatched",
            status=f"{response.status_code // 100}xx",
        ).observe(time.perf_counter() - started)
        return response


def count_intake(channel: str) -> None:
    """Count a new case from `channel` once the transaction that created it commits."""
    transaction.on_commit(lambda: INTAKES.labels(channel=channel).inc())


def count_readings_ingested(transport: str, stored: int) -> None:
    """Count `stored` new readings received over `transport` (http, mqtt) after commit."""
    if stored > 0:
        transaction.on_commit(lambda: READINGS_INGESTED.labels(transport=transport).inc(stored))


# --- Values computed at scrape ---------------------------------------------------------------

ScrapeCollector = Callable[[], Iterable[Metric]]
_scrape_collectors: list[ScrapeCollector] = []


def scrape_collector(func: ScrapeCollector) -> ScrapeCollector:
    """Register `func`, called at every scrape to yield metric families (gauges read from the
    database). Keep it to a few indexed queries: Prometheus calls every 15–60 s."""
    _scrape_collectors.append(func)
    return func


class _ScrapeTimeCollector:
    def collect(self) -> Iterable[Metric]:
        for func in _scrape_collectors:
            # One failing query must not take the counters down with it.
            try:
                yield from list(func())
            except Exception:
                log.exception("metrics collector %s failed", func.__name__)


def queued_tasks(now: datetime | None = None) -> dict[str, tuple[int, float]]:
    """{queue: (tasks waiting to run now, seconds the oldest of them has waited)}. A task
    deferred with run_after has waited only since run_after, so a webhook retry due now does
    not look an hour old."""
    from django_tasks_db.models import DBTaskResult, get_date_max

    now = now or timezone.now()
    waiting_since = Case(
        When(run_after=get_date_max(), then=F("enqueued_at")), default=F("run_after")
    )
    rows = (
        DBTaskResult.objects.ready()
        .order_by()
        .values("queue_name")
        .annotate(depth=Count("pk"), oldest=Min(waiting_since))
    )
    return {
        r["queue_name"]: (r["depth"], max((now - r["oldest"]).total_seconds(), 0.0)) for r in rows
    }


@scrape_collector
def task_queue_metrics() -> Iterable[Metric]:
    depth = GaugeMetricFamily(
        "gridcity_task_queue_depth", "Background tasks waiting to run now.", labels=["queue"]
    )
    age = GaugeMetricFamily(
        "gridcity_task_queue_oldest_age_seconds",
        "How long the oldest task waiting to run has waited.",
        labels=["queue"],
    )
    found = queued_tasks()
    queues = {q for backend in settings.TASKS.values() for q in backend.get("QUEUES", [])}
    for queue in sorted(queues | set(found)):
        n, oldest = found.get(queue, (0, 0.0))
        depth.add_metric([queue], n)
        age.add_metric([queue], oldest)
    yield depth
    yield age


@scrape_collector
def periodic_job_metrics() -> Iterable[Metric]:
    from gridcity.system.models import PeriodicRun, RunStatus
    from gridcity.system.scheduling import jobs

    family = GaugeMetricFamily(
        "gridcity_periodic_job_last_success_timestamp_seconds",
        "When each periodic job last finished successfully (Unix time).",
        labels=["job"],
    )
    for job in jobs():
        # One short walk down the (job, -tick) index per job.
        finished = (
            PeriodicRun.objects.filter(job=job.name, status=RunStatus.DONE)
            .order_by("-tick")
            .values_list("finished_at", flat=True)
            .first()
        )
        if finished is not None:
            family.add_metric([job.name], finished.timestamp())
    yield family


def render() -> bytes:
    """The text exposition: multiprocess counters and histograms, plus scrape-time values,
    in a registry made for this scrape."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(MULTIPROC_DIR))
    registry.register(_ScrapeTimeCollector())
    return generate_latest(registry)


# --- Process lifecycle -----------------------------------------------------------------------


def mark_process_dead(pid: int) -> None:
    """For gunicorn's child_exit hook: drop the dead worker's live-gauge files (its counters
    stay, and keep counting in the sums)."""
    multiprocess.mark_process_dead(pid, str(MULTIPROC_DIR))


def clear_multiproc_dir() -> None:
    """Remove every process's metric files. Only at node start-up, before any GridCity process
    runs: a new process reusing a dead one's pid would otherwise carry on from its values."""
    MULTIPROC_DIR.mkdir(parents=True, exist_ok=True)
    for path in MULTIPROC_DIR.glob("*.db"):
        path.unlink(missing_ok=True)
