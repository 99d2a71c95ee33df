"""Issue #14, point 6: rate limits and public references, tried as an attacker would.

An Open311 partner's valid key has its own quota whatever address it calls from, and wrong keys
(counted per client address) cannot use it up. The quota is one for the whole installation:
two real gunicorn servers, on one node's files or on two nodes sharing Redis, give exactly the
quota between them. Anonymous citizens are throttled per client address, with a Chinese page,
and a forged X-Forwarded-For does not buy a new address. A case is looked up by its random
public reference (查询码), never by its sequential number."""

import importlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client

from gridcity.cases.models import Case, Report
from gridcity.cases.reference import ALPHABET, LENGTH, format_reference, new_public_reference
from gridcity.open311.keys import do_create_api_key
from gridcity.testing import MID_LAT, MID_LON, build_city, tiny_jpeg

BIN = Path(sys.executable).parent
POINT = {"lat": str(MID_LAT + 0.0012), "long": str(MID_LON - 0.003)}
GARBAGE = "matter-06042"
PARTNER_ADDRESS = "198.51.100.7"
TOO_MANY_REPORTS = "提交过于频繁"
TOO_MANY_LOOKUPS = "查询过于频繁"
NOT_FOUND = "未找到该查询码对应的案件"


@pytest.fixture
def city(db):
    return build_city()


def open311_post(client, key: str, address: str, **extra):
    data = {"api_key": key, "service_code": GARBAGE, **POINT, "description": "垃圾桶满溢"}
    return client.post("/open311/v2/requests.json", {**data, **extra}, REMOTE_ADDR=address)


def public_report(client, address: str, n: int = 0, **headers):
    client.get("/public/", REMOTE_ADDR=address, **headers)
    return client.post(
        "/public/",
        {
            "category": "matter:09999",
            "lon": str(120.163 + n * 0.0004),
            "lat": str(MID_LAT + 0.001),
            "description": f"有人遛狗不牵绳 {n}",
            "key": f"{address}-{n}-{time.monotonic_ns()}",
            "photo": SimpleUploadedFile("dog.jpg", tiny_jpeg(), "image/jpeg"),
        },
        REMOTE_ADDR=address,
        **headers,
    )


def lookup(client, address: str, **params):
    return client.get("/public/lookup/", params, REMOTE_ADDR=address)


# --- Open311: the key first ----------------------------------------------------------------


def test_thirty_wrong_keys_from_one_address_do_not_stop_a_valid_key_from_the_same_address(
    client, city
):
    key = do_create_api_key("12345 热线平台")
    wrong = [open311_post(client, f"o311_guess{i}", PARTNER_ADDRESS) for i in range(30)]
    assert [r.status_code for r in wrong] == [403] * 30
    # The 31st wrong key from that address is refused before anything is looked up ...
    refused = open311_post(client, "o311_guess31", PARTNER_ADDRESS)
    assert refused.status_code == 429
    assert refused.json()[0]["code"] == 429
    # The window slides: the wait can reach into the next one, never past it.
    assert 1 <= int(refused["Retry-After"]) <= 120
    # ... while the partner's own key, from the very same address, goes on working.
    answers = [
        open311_post(client, key, PARTNER_ADDRESS, lat=f"{30.2440 + i / 10000}") for i in range(5)
    ]
    assert [r.status_code for r in answers] == [200] * 5
    assert Report.objects.count() == 5


def test_a_valid_key_has_one_quota_whatever_address_it_calls_from(client, city, settings):
    settings.GRIDCITY_OPEN311_RATE_LIMITS = {"write_per_key": (3, 60)}
    key = do_create_api_key("网格化平台")
    other = do_create_api_key("另一合作方")
    codes = [open311_post(client, key, f"203.0.113.{i}").status_code for i in range(1, 5)]
    assert codes == [200, 200, 200, 429]
    # Another partner's quota is its own, on the same address as the exhausted one.
    assert open311_post(client, other, "203.0.113.4").status_code == 200


def test_anonymous_open311_reads_are_limited_per_address_and_a_key_reads_on_its_own(
    client, city, settings
):
    settings.GRIDCITY_OPEN311_RATE_LIMITS = {"read_per_ip": (3, 60), "read_per_key": (5, 60)}
    key = do_create_api_key("统计平台")
    url = "/open311/v2/services.xml"
    anonymous = [client.get(url, REMOTE_ADDR=PARTNER_ADDRESS).status_code for _ in range(4)]
    assert anonymous == [200, 200, 200, 429]
    keyed = [
        client.get(url, {"api_key": key}, REMOTE_ADDR=PARTNER_ADDRESS).status_code for _ in range(6)
    ]
    assert keyed == [200] * 5 + [429]
    refused = client.get(url, {"api_key": key}, REMOTE_ADDR=PARTNER_ADDRESS)
    assert refused.content.startswith(b"<?xml") and b"<code>429</code>" in refused.content


# --- the client address: only a trusted proxy's header counts ------------------------------


def test_a_forged_forwarded_for_header_buys_no_new_address(client, city, settings):
    settings.GRIDCITY_TRUSTED_PROXIES = ["10.0.0.0/24"]
    # Through the balancer (10.0.0.5), a client that writes its own X-Forwarded-For each time
    # is still the address the balancer appended.
    for n in range(5):
        forged = {"HTTP_X_FORWARDED_FOR": f"1.1.1.{n}, 203.0.113.9"}
        assert public_report(client, "10.0.0.5", n, **forged).status_code == 302
    sixth = public_report(client, "10.0.0.5", 6, HTTP_X_FORWARDED_FOR="1.1.1.6, 203.0.113.9")
    assert sixth.status_code == 429
    # Another citizen behind the same balancer still reports.
    other = public_report(client, "10.0.0.5", 7, HTTP_X_FORWARDED_FOR="203.0.113.10")
    assert other.status_code == 302
    # A client that is not a trusted proxy cannot name an address at all.
    for n in range(5):
        direct = public_report(client, "198.51.100.30", n, HTTP_X_FORWARDED_FOR=f"1.2.3.{n}")
        assert direct.status_code == 302
    assert (
        public_report(client, "198.51.100.30", 9, HTTP_X_FORWARDED_FOR="1.2.3.9").status_code == 429
    )


def test_addresses_of_one_ipv6_subscriber_share_a_quota(client, city):
    for n in range(5):
        assert public_report(client, f"2001:db8:5:7::{n + 1}", n).status_code == 302
    assert public_report(client, "2001:db8:5:7::ff", 6).status_code == 429
    assert public_report(client, "2001:db8:5:8::1", 7).status_code == 302


# --- the citizens' page --------------------------------------------------------------------


def test_the_sixth_anonymous_report_in_ten_minutes_gets_429_in_chinese_while_another_address_reports(
    client, city, time_machine
):
    time_machine.move_to("2025-09-10 09:00:00+08:00", tick=False)
    for n in range(5):
        assert public_report(client, "198.51.100.20", n).status_code == 302
        time_machine.shift(60)
    reports = Report.objects.count()
    sixth = public_report(client, "198.51.100.20", 6)
    assert sixth.status_code == 429
    body = sixth.content.decode()
    # The page itself, with the form and what was typed, not a bare error.
    assert TOO_MANY_REPORTS in body and "10 分钟内最多可上报 5 件" in body
    assert 'id="public-form"' in body and "有人遛狗不牵绳 6" in body
    wait = int(sixth["Retry-After"])
    assert 1 <= wait <= 1200
    assert Report.objects.count() == reports
    # Someone else, at another address, still reports.
    assert public_report(client, "198.51.100.21", 7).status_code == 302
    # Retry-After tells the truth: a second early is still too early, on time is accepted.
    time_machine.shift(wait - 2)
    assert public_report(client, "198.51.100.20", 8).status_code == 429
    time_machine.shift(2)
    assert public_report(client, "198.51.100.20", 9).status_code == 302


def test_a_flood_of_anonymous_reports_stops_at_five(client, city):
    codes = [public_report(client, "198.51.100.40", n).status_code for n in range(20)]
    assert codes == [302] * 5 + [429] * 15
    assert Report.objects.count() == 5


# --- public references ---------------------------------------------------------------------


def test_the_citizen_gets_a_reference_and_looks_the_case_up_by_it_not_by_the_number(client, city):
    thanks = client.get(
        public_report(client, "198.51.100.50")["Location"], REMOTE_ADDR="198.51.100.50"
    )
    case = Case.objects.get()
    assert re.fullmatch(f"[{ALPHABET}]{{{LENGTH}}}", case.public_reference)
    shown = format_reference(case.public_reference)
    assert shown in thanks.content.decode() and "提交成功" in thanks.content.decode()
    photo = case.attachments.get().public_file.url

    for asked in ({"number": case.number}, {"ref": case.number}):
        body = lookup(client, "198.51.100.51", **asked).content.decode()
        assert NOT_FOUND in body
        assert "办理过程" not in body and photo not in body

    # As typed by a person: lower case, with the hyphen, O for 0 and l for 1.
    typed = shown.lower().replace("0", "O").replace("1", "l")
    for ref in (case.public_reference, shown, f" {typed} "):
        body = lookup(client, "198.51.100.51", ref=ref).content.decode()
        assert "办理过程" in body and photo in body and NOT_FOUND not in body


def test_300_sequential_numbers_find_nothing_and_one_address_is_stopped_after_30(client, city):
    for n in range(10):
        public_report(client, f"198.51.100.{60 + n}", n)
    first = int(Case.objects.order_by("number").first().number)
    found, refused = 0, 0
    for number in range(first - 100, first + 200):
        r = lookup(client, "203.0.113.66", number=str(number))
        refused += r.status_code == 429
        found += "办理过程" in r.content.decode()
    assert found == 0
    assert refused == 270
    r = lookup(client, "203.0.113.66", ref=Case.objects.first().public_reference)
    assert r.status_code == 429 and TOO_MANY_LOOKUPS in r.content.decode()
    assert 1 <= int(r["Retry-After"]) <= 1200


def test_300_random_references_find_nothing(client, city):
    for n in range(10):
        public_report(client, f"198.51.100.{80 + n}", n)
    real = set(Case.objects.values_list("public_reference", flat=True))
    guesses = [new_public_reference() for _ in range(300)]
    assert not real & set(guesses)
    # Thirty guesses from each of ten addresses, all within their limit.
    answers = [lookup(client, f"203.0.113.{100 + i // 30}", ref=g) for i, g in enumerate(guesses)]
    assert {r.status_code for r in answers} == {200}
    assert sum("办理过程" in r.content.decode() for r in answers) == 0


def test_open311_never_publishes_the_reference(client, city):
    key = do_create_api_key("12345 热线平台")
    posted = open311_post(client, key, PARTNER_ADDRESS)
    number = posted.json()[0]["service_request_id"]
    reference = Case.objects.get(number=number).public_reference
    assert reference not in posted.content.decode()
    for path in (
        "/open311/v2/requests.json?extensions=true",
        "/open311/v2/requests.xml",
        f"/open311/v2/requests/{number}.json?extensions=true",
        "/open311/v2/servicerequestupdates.json",
    ):
        assert reference not in client.get(path).content.decode(), path
    # The reference is not an id there either.
    assert client.get(f"/open311/v2/requests/{reference}.json").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_existing_cases_get_unique_references_from_the_migration_in_batches(monkeypatch):
    build_city()
    for n in range(7):
        assert public_report(Client(), f"198.51.100.{120 + n}", n).status_code == 302
    fill = importlib.import_module(
        "gridcity.cases.migrations.0006_fill_public_references_in_batches"
    )
    monkeypatch.setattr(fill, "BATCH", 3)
    executor = MigrationExecutor(connection)
    before = [("cases", "0005_add_case_public_reference")]
    latest = executor.loader.graph.leaf_nodes("cases")
    try:
        executor.migrate([("cases", "0004_supervision_addressee_settlement")])
        executor.loader.build_graph()
        executor.migrate(before)
        executor.loader.build_graph()
        old = executor.loader.project_state(before).apps.get_model("cases", "Case")
        assert old.objects.filter(public_reference__isnull=True).count() == 7
        executor.migrate(latest)
    finally:
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
    refs = list(Case.objects.values_list("public_reference", flat=True))
    assert len(refs) == 7 == len(set(refs))
    assert all(re.fullmatch(f"[{ALPHABET}]{{{LENGTH}}}", r) for r in refs)


# --- one quota for every process of the installation: real servers -------------------------

SETUP = """
import django, json
django.setup()
from gridcity.open311.keys import do_create_api_key
from gridcity.testing import build_city
build_city()
print(json.dumps({"key": do_create_api_key("12345 热线平台")}))
"""
REDIS_URL = "redis://127.0.0.1:6379/7"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _redis_is_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def city_on_disk(tmp_path_factory):
    """A migrated SQLite city with a partner key, for servers started from this checkout."""
    root = tmp_path_factory.mktemp("ratelimit-city")
    env = _server_env(root / "setup")
    env["GRIDCITY_DATABASE_URL"] = f"sqlite:///{root / 'city.sqlite3'}"
    subprocess.run([BIN / "gridcity", "migrate", "-v0"], env=env, check=True, timeout=600)
    done = subprocess.run(
        [sys.executable, "-c", SETUP], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return env["GRIDCITY_DATABASE_URL"], json.loads(done.stdout.strip().splitlines()[-1])["key"]


def _server_env(data_dir: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "GRIDCITY_DATA_DIR": str(data_dir),
        "PROMETHEUS_MULTIPROC_DIR": str(data_dir / "metrics"),
        "DJANGO_SETTINGS_MODULE": "gridcity.settings",
        "GRIDCITY_STATIC_MANIFEST": "0",
    }
    for name in ("GRIDCITY_DATABASE_URL", "GRIDCITY_REDIS_URL", "GRIDCITY_OPEN311_RATE_LIMITS"):
        env.pop(name, None)
    return env


def _start(data_dir: Path, db_url: str, redis: bool, log: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = _server_env(data_dir)
    env |= {
        "GRIDCITY_DATABASE_URL": db_url,
        "GRIDCITY_BIND": f"127.0.0.1:{port}",
        "GRIDCITY_WEB_WORKERS": "2",
        "GRIDCITY_WEB_THREADS": "4",
        "GRIDCITY_TRUSTED_PROXIES": "127.0.0.1",
        "GRIDCITY_OPEN311_RATE_LIMITS": (
            "write_per_key=10/3600,write_per_ip=5/3600,read_per_key=20/3600"
        ),
    }
    if redis:
        env["GRIDCITY_REDIS_URL"] = REDIS_URL
    server = subprocess.Popen(
        [BIN / "gunicorn", "--config", "python:gridcity.gunicorn_conf", "gridcity.wsgi"],
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return server, f"http://127.0.0.1:{port}"


def _ready(url: str) -> bool:
    end = time.monotonic() + 90
    while time.monotonic() < end:
        try:
            if requests.get(f"{url}/healthz", timeout=5).status_code == 200:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.3)
    return False


# These start their own servers on their own SQLite city; the PostgreSQL pass has nothing to add.
@pytest.mark.slow
@pytest.mark.skipif(
    bool(os.environ.get("GRIDCITY_DATABASE_URL")), reason="run once, in the SQLite pass"
)
@pytest.mark.parametrize("shared", ["redis", "files"])
def test_a_quota_holds_across_two_real_servers(shared, city_on_disk, tmp_path):
    """ "redis": two nodes (each its own data directory, so nothing but Redis is shared).
    "files": two servers on one node's data directory and no Redis. Each server runs two
    gunicorn workers: four processes, one quota."""
    if shared == "redis":
        if not _redis_is_up():
            pytest.skip("no Redis on 127.0.0.1:6379")
        import redis

        redis.Redis.from_url(REDIS_URL).flushdb()
        dirs = [tmp_path / "node1", tmp_path / "node2"]
    else:
        dirs = [tmp_path / "node", tmp_path / "node"]
    db_url, key = city_on_disk
    servers = [
        _start(d, db_url, shared == "redis", tmp_path / f"web{i}.log") for i, d in enumerate(dirs)
    ]
    try:
        for _, url in servers:
            assert _ready(url), (tmp_path / "web0.log").read_text()[-3000:]
        urls = [url for _, url in servers]

        def post(i: int, api_key: str, client: str) -> int:
            return requests.post(
                f"{urls[i % 2]}/open311/v2/requests.json",
                data={
                    "api_key": api_key,
                    "service_code": GARBAGE,
                    "lat": f"{MID_LAT + 0.0012 + i / 20000:.6f}",
                    "long": POINT["long"],
                    "description": f"跨节点限流 #{i}",
                },
                headers={"X-Forwarded-For": client},
                timeout=30,
            ).status_code

        # Wrong keys from one client, alternating between the servers: one count of 5.
        wrong = [post(i, f"o311_wrong{i}", "203.0.113.7") for i in range(8)]
        assert wrong == [403] * 5 + [429] * 3
        # The partner's key from that same client and from others: one quota of 10.
        clients = ["203.0.113.7", "198.51.100.1", "198.51.100.2"]
        mine = [post(i, key, clients[i % 3]) for i in range(14)]
        assert mine == [200] * 10 + [429] * 4, mine

        # Sixty reads at once from twelve threads against both servers: exactly 20 answered.
        def read(i: int) -> int:
            return requests.get(
                f"{urls[i % 2]}/open311/v2/services.json", params={"api_key": key}, timeout=30
            ).status_code

        with ThreadPoolExecutor(12) as pool:
            reads = list(pool.map(read, range(60)))
        assert reads.count(200) == 20 and reads.count(429) == 40, reads
    finally:
        for server, _ in servers:
            os.killpg(server.pid, signal.SIGTERM)
        for server, _ in servers:
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(10)
