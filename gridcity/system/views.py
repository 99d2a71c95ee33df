"""Operators' endpoints: /healthz (the process answers), /readyz (it can do its work) and
/metrics (Prometheus, not public). Messages are English: they are read by operators and
monitoring, not by the city's staff."""

import hmac
import ipaddress
import uuid
from dataclasses import asdict, dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, HttpResponse, HttpResponseNotFound, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST

from gridcity.system import metrics


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: answers as long as the process serves requests; touches nothing else, so a
    database outage does not get every web process restarted."""
    return JsonResponse({"status": "ok"})


@dataclass
class Check:
    name: str
    ok: bool
    message: str
    value: float | None = None


def check_database() -> Check:
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT 1")
            cur.fetchone()
    except Exception as exc:
        return Check("database", False, f"SELECT 1 failed: {exc!r}")
    return Check("database", True, "SELECT 1 answered")


_migrations_applied = False  # once true, true for the life of the process


def check_migrations() -> Check:
    global _migrations_applied
    if _migrations_applied:
        return Check("migrations", True, "all applied")
    try:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as exc:
        return Check("migrations", False, f"could not read the migration state: {exc!r}")
    if plan:
        names = ", ".join(f"{m.app_label}.{m.name}" for m, _ in plan[:5])
        return Check("migrations", False, f"{len(plan)} unapplied: {names}", len(plan))
    _migrations_applied = True
    return Check("migrations", True, "all applied")


def check_cache() -> Check:
    key, token = "gridcity:readyz", uuid.uuid4().hex
    try:
        cache.set(key, token, timeout=30)
        ok = cache.get(key) == token
    except Exception as exc:
        return Check("cache", False, f"set/get failed: {exc!r}")
    return Check("cache", ok, "set/get answered" if ok else "get did not return what set stored")


def check_task_queue() -> Check:
    limit = float(getattr(settings, "GRIDCITY_READY_MAX_TASK_AGE", 300))
    try:
        waiting = metrics.queued_tasks()
    except Exception as exc:
        return Check("task_queue", False, f"could not read the queue: {exc!r}")
    queue, age = max(
        ((q, a) for q, (_, a) in waiting.items()), key=lambda qa: qa[1], default=("", 0)
    )
    if age > limit:
        message = (
            f"the oldest task in queue {queue!r} has waited {age:.0f} s (limit {limit:.0f} s); "
            "is the task worker running?"
        )
        return Check("task_queue", False, message, round(age, 1))
    return Check(
        "task_queue", True, f"oldest task waited {age:.0f} s (limit {limit:.0f} s)", round(age, 1)
    )


READINESS_CHECKS = (check_database, check_migrations, check_cache, check_task_queue)


@never_cache
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: 200 when every check passes, 503 naming the failing ones otherwise, so a
    load balancer stops sending traffic to a node that cannot serve it."""
    checks = [check() for check in READINESS_CHECKS]
    ok = all(c.ok for c in checks)
    body = {
        "status": "ok" if ok else "unavailable",
        "failing": [c.name for c in checks if not c.ok],
        "checks": [asdict(c) for c in checks],
    }
    return JsonResponse(body, status=200 if ok else 503)


# Headers a reverse proxy adds: a request bearing one came from outside, even if the proxy
# connects from this machine.
PROXY_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")


def may_scrape(request: HttpRequest) -> bool:
    token = getattr(settings, "GRIDCITY_METRICS_TOKEN", "")
    if token:
        given = request.headers.get("Authorization", "")
        if hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return True
    if any(h in request.META for h in PROXY_HEADERS):
        return False
    try:
        addr = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    # A dual-stack socket reports an IPv4 client as ::ffff:127.0.0.1.
    return (getattr(addr, "ipv4_mapped", None) or addr).is_loopback


@never_cache
@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not may_scrape(request):
        # A bare 404: no page rendered, nothing to tell a stranger that something is here.
        return HttpResponseNotFound()
    return HttpResponse(metrics.render(), content_type=CONTENT_TYPE_LATEST)
