"""gunicorn's settings for GridCity: `gunicorn -c python:gridcity.gunicorn_conf gridcity.wsgi`.

Every value comes from the environment, with defaults for one machine:
GRIDCITY_BIND (127.0.0.1:8000), GRIDCITY_WEB_WORKERS (2 × cores + 1, at most 12),
GRIDCITY_WEB_THREADS (4), GRIDCITY_ACCESS_LOG (1 to log every request),
GRIDCITY_FORWARDED_ALLOW_IPS (the load balancers whose X-Forwarded-* headers are believed)."""

import os

bind = os.environ.get("GRIDCITY_BIND", "127.0.0.1:8000").split(",")
workers = int(os.environ.get("GRIDCITY_WEB_WORKERS") or min(2 * (os.cpu_count() or 1) + 1, 12))
# Threads let a slow export or photo upload hold a thread, not a whole worker, and keep the
# worker's heartbeat going while a long response streams.
worker_class = "gthread"
threads = int(os.environ.get("GRIDCITY_WEB_THREADS", "4"))
timeout = 120
graceful_timeout = 30
keepalive = 5
# A worker is replaced after this many requests, so a slow leak never grows for weeks.
max_requests = 5000
max_requests_jitter = 500
forwarded_allow_ips = os.environ.get("GRIDCITY_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
accesslog = "-" if os.environ.get("GRIDCITY_ACCESS_LOG", "") == "1" else None
errorlog = "-"
proc_name = "gridcity-web"
# Django's debug pages are for `make dev`'s runserver: a GRIDCITY_DEBUG=1 left in a shell or a
# unit file never reaches the served app.
raw_env = ["GRIDCITY_DEBUG=0"]


def child_exit(server, worker) -> None:
    # A dead worker's live gauges must not be added up any more.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridcity.settings")
    from gridcity.system.metrics import mark_process_dead

    mark_process_dead(worker.pid)
