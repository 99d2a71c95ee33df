"""The system as `make run` starts it: honcho runs the Procfile (gunicorn, task worker, periodic
worker, scheduler, MQTT ingest) on a fresh SQLite city, with nothing else started. A webhook
subscribed for case.created is delivered within 60 s of a report, and a case whose step deadline
has passed gets its supervision order within 2 minutes — on the product's default intervals."""

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent

SETUP = """
import django, json
django.setup()
from gridcity.accounts.actions import do_create_token
from gridcity.open311.models import Subscription
from gridcity.testing import build_city
city = build_city()
Subscription.objects.create(name="hook", url="{hook}", event_types=["case.created"])
print(json.dumps({{"token": do_create_token(city.people["inspector"])}}))
"""

LATE_STEP = """
import django, sys
django.setup()
from datetime import timedelta
from django.utils import timezone
from gridcity.cases.models import Case
# The step's clock ran out: what an hour without anyone signing for the case looks like.
Case.objects.filter(number=sys.argv[1]).update(step_deadline=timezone.now() - timedelta(minutes=5))
"""

ORDERS = """
import django, sys
django.setup()
from gridcity.cases.models import SupervisionOrder
print(SupervisionOrder.objects.filter(case__number=sys.argv[1]).count())
"""


# These start the product's own processes on a throwaway SQLite city; the PostgreSQL pass of
# `make test` has nothing to add (`make cluster-test` runs the processes on PostgreSQL).
pytestmark = pytest.mark.skipif(
    bool(os.environ.get("GRIDCITY_DATABASE_URL")), reason="run once, in the SQLite pass"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Hook(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Hook.received.append((time.monotonic(), json.loads(body)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def wait_for(check, seconds: float, every: float = 0.5):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(every)
    return check()


@pytest.mark.slow
def test_make_run_supervises_with_nothing_else_started(tmp_path):
    env = {
        **os.environ,
        "GRIDCITY_DATA_DIR": str(tmp_path),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "GRIDCITY_STATIC_MANIFEST": "1",
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "DJANGO_SETTINGS_MODULE": "gridcity.settings",
    }
    for key in (
        "GRIDCITY_DATABASE_URL",
        "GRIDCITY_REDIS_URL",
        "GRIDCITY_PERIODIC_SECONDS",
        "GRIDCITY_STAMP_CHECK_SECONDS",
    ):
        env.pop(key, None)
    port, hook_port = free_port(), free_port()
    env["GRIDCITY_BIND"] = f"127.0.0.1:{port}"

    def python(code: str, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", code, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout.strip()

    subprocess.run([BIN / "gridcity", "migrate", "-v0"], env=env, check=True, timeout=300)
    subprocess.run(
        [BIN / "gridcity", "collectstatic", "--noinput", "-v0"], env=env, check=True, timeout=300
    )
    token = json.loads(python(SETUP.format(hook=f"http://127.0.0.1:{hook_port}/hook")))["token"]

    hook = HTTPServer(("127.0.0.1", hook_port), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    log = (tmp_path / "run.log").open("w")
    node = subprocess.Popen(
        [BIN / "honcho", "start", "-f", ROOT / "Procfile", "-d", ROOT],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_for(lambda: _status(f"{base}/readyz") == 200, 90), _tail(tmp_path)
        processes = "\n".join(descendants(node.pid))
        for name in ("gunicorn", "db_worker --queue-name default", "scheduler", "ingest-mqtt"):
            assert name in processes, f"{name} not started:\n{processes}"
        assert "runserver" not in processes
        page = requests.get(f"{base}/no-such-page", timeout=10)
        assert page.status_code == 404 and "URLconf" not in page.text

        reported = time.monotonic()
        answer = requests.post(
            f"{base}/api/cases",
            headers={"Authorization": f"Bearer {token}"},
            json={"category": "06042", "lon": 120.1630, "lat": 30.2448, "description": "满溢"},
            timeout=30,
        )
        assert answer.status_code == 201, answer.text
        number = answer.json()["number"]
        assert wait_for(lambda: Hook.received, 60), "webhook not delivered within 60 s"
        delivered_at, payload = Hook.received[0]
        assert number in json.dumps(payload, ensure_ascii=False)
        print(f"webhook delivered {delivered_at - reported:.1f} s after the report")

        python(LATE_STEP, number)
        late = time.monotonic()
        assert wait_for(lambda: python(ORDERS, number) != "0", 120, every=3), (
            "no supervision order within 2 minutes\n" + _tail(tmp_path)
        )
        print(f"supervision order {time.monotonic() - late:.1f} s after the deadline passed")
    finally:
        os.killpg(node.pid, signal.SIGINT)
        try:
            node.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(node.pid, signal.SIGKILL)
        hook.shutdown()
        log.close()
    # Ctrl-C stopped every process of the node.
    assert wait_for(lambda: not descendants(node.pid) and node.poll() is not None, 30)


def descendants(pid: int) -> list[str]:
    """Command lines of every process under pid (honcho puts each child in its own session)."""
    table = subprocess.run(
        ["ps", "-e", "-o", "pid=,ppid=,args="], capture_output=True, text=True
    ).stdout
    children: dict[int, list[tuple[int, str]]] = {}
    for line in table.splitlines():
        child, parent, args = line.split(None, 2)
        children.setdefault(int(parent), []).append((int(child), args))
    out, todo = [], [pid]
    while todo:
        for child, args in children.get(todo.pop(), []):
            out.append(args)
            todo.append(child)
    return out


def _status(url: str) -> int:
    try:
        return requests.get(url, timeout=5).status_code
    except requests.RequestException:
        return 0


def _tail(tmp_path) -> str:
    return (tmp_path / "run.log").read_text()[-3000:]


@pytest.mark.slow
def test_production_settings_behind_gunicorn_serve_hashed_compressed_static_files(tmp_path):
    env = {
        **os.environ,
        "GRIDCITY_ENV": "production",
        "GRIDCITY_SECRET_KEY": secrets.token_urlsafe(50),
        "GRIDCITY_ALLOWED_HOSTS": "127.0.0.1",
        "GRIDCITY_DATA_DIR": str(tmp_path),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "GRIDCITY_STATIC_MANIFEST": "1",
    }
    env.pop("GRIDCITY_DATABASE_URL", None)
    # Set by the browser tests for their own process; production's deploy check refuses it.
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    port = free_port()
    env["GRIDCITY_BIND"] = f"127.0.0.1:{port}"
    check = subprocess.run(
        [BIN / "gridcity", "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    subprocess.run([BIN / "gridcity", "migrate", "-v0"], env=env, check=True, timeout=300)
    subprocess.run(
        [BIN / "gridcity", "collectstatic", "--noinput", "-v0"], env=env, check=True, timeout=300
    )
    web = subprocess.Popen(
        [BIN / "gunicorn", "--config", "python:gridcity.gunicorn_conf", "gridcity.wsgi"],
        env={**env, "GRIDCITY_WEB_WORKERS": "1"},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    # Behind the TLS-terminating balancer, which says so in X-Forwarded-Proto.
    https = {"X-Forwarded-Proto": "https"}
    try:
        # A plain-HTTP health check is answered, not redirected to https.
        assert wait_for(lambda: _status(f"{base}/healthz") == 200, 60)
        login = requests.get(f"{base}/login/", headers=https, timeout=10)
        assert login.status_code == 200
        css = next(
            part.split('"')[0]
            for part in login.text.split('href="')[1:]
            if part.startswith("/static/") and '.css"' in part
        )
        assert css.count(".") >= 2, f"{css} is not a hashed name"
        served = requests.get(
            f"{base}{css}", headers={**https, "Accept-Encoding": "gzip"}, timeout=10
        )
        assert served.status_code == 200 and served.headers["Content-Encoding"] == "gzip"
        assert "immutable" in served.headers["Cache-Control"] and "body" in served.text
        # Without the proxy's word it is plain HTTP: redirected to https.
        plain = requests.get(f"{base}/login/", allow_redirects=False, timeout=10)
        assert plain.status_code == 301 and plain.headers["Location"].startswith("https://")
    finally:
        os.killpg(web.pid, signal.SIGTERM)
        web.wait(30)
