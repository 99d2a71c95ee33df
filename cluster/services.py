"""Starting and stopping each service of the test cluster, all on 127.0.0.1 and free ports.

Every child is started in its own session (its own process group) and carries the variable
GRIDCITY_CLUSTER_RUN=<run id> in its environment. Stopping walks the child's process tree and
signals every process group in it: honcho starts each Procfile line in a session of its own, so
the group of honcho alone would not reach gunicorn or the workers. At the very end,
`sweep_run_processes` ends whatever still carries this run's marker (a child orphaned by a
SIGKILL), and nothing else."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
RUN_MARKER = "GRIDCITY_CLUSTER_RUN"
NODE_MARKER = "GRIDCITY_CLUSTER_NODE"
WEB_WORKERS, WEB_THREADS = 2, 4
NODE_CONCURRENCY = WEB_WORKERS * WEB_THREADS
MQTT_SHARED_GROUP = "gridcity-cluster"

PGBOUNCER = "/usr/sbin/pgbouncer"
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------------------------------------
# Ports and waiting

_ports_given: set[int] = set()


def free_port() -> int:
    """A loopback port nobody listens on now, never the same one twice in this run."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _ports_given:
            _ports_given.add(port)
            return port
    raise RuntimeError("no free port found")


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def http_status(url: str, timeout: float = 2.0) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, ValueError):
        return None


def wait_until(
    what: str,
    check: Callable[[], bool],
    *,
    timeout: float,
    every: float = 0.2,
    alive: Callable[[], bool] | None = None,
) -> float:
    """Poll `check` until it holds; returns the seconds waited. Fails after `timeout`, or at
    once when `alive` says the process it waits for has died."""
    start = time.monotonic()
    deadline = start + timeout
    while time.monotonic() < deadline:
        if check():
            return time.monotonic() - start
        if alive is not None and not alive():
            raise RuntimeError(f"{what}: the process exited before it was ready")
        time.sleep(every)
    raise TimeoutError(f"{what}: not ready after {timeout:.0f} s")


# ---------------------------------------------------------------------------------------------
# Process trees


def _proc_table() -> dict[int, tuple[int, int]]:
    """pid -> (ppid, pgid) for every process on the machine."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read().decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        table[int(entry)] = (int(fields[1]), int(fields[2]))
    return table


def process_tree(pid: int) -> dict[int, int]:
    """pid -> pgid of `pid` and all its descendants."""
    table = _proc_table()
    children: dict[int, list[int]] = {}
    for p, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(p)
    out, todo = {}, [pid]
    while todo and len(out) < 10_000:
        p = todo.pop()
        if p in table and p not in out:
            out[p] = table[p][1]
            todo.extend(children.get(p, []))
    return out


def signal_groups(tree: dict[int, int], sig: int) -> None:
    """Send `sig` to every process group of a tree collected beforehand (so no child escapes
    by being re-parented mid-way), and to each of its processes."""
    own = os.getpgrp()
    for pgid in {g for g in tree.values() if g not in (own, 0, 1)}:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)
    for p in tree:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(p, sig)


def signal_tree(pid: int, sig: int) -> int:
    """Send `sig` to the whole tree of `pid`; returns how many processes it reached."""
    tree = process_tree(pid)
    signal_groups(tree, sig)
    return len(tree)


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode(errors="replace")
    except OSError:
        return False
    return stat[stat.rfind(")") + 2 :].split()[0] != "Z"


def run_processes(run_id: str, node: str | None = None) -> dict[int, str]:
    """pid -> node name of the processes carrying this run's marker (and `node`'s, if given)."""
    want = f"{RUN_MARKER}={run_id}".encode()
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if want not in env:
            continue
        name = next(
            (
                v.split(b"=", 1)[1].decode()
                for v in env
                if v.startswith(NODE_MARKER.encode() + b"=")
            ),
            "",
        )
        if node is None or name == node:
            out[int(entry)] = name
    return out


def sweep_run_processes(run_id: str) -> int:
    """SIGKILL whatever still carries this run's marker; returns how many there were."""
    pids = run_processes(run_id)
    for p in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(p, signal.SIGKILL)
    return len(pids)


# ---------------------------------------------------------------------------------------------
# One child process


@dataclass
class Proc:
    name: str
    argv: list[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    cwd: Path | None = None
    popen: subprocess.Popen | None = None

    def start(self) -> Proc:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        out = open(self.log_path, "ab")  # noqa: SIM115 -- the child holds it; closed in stop()
        self.popen = subprocess.Popen(
            self.argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env,
            cwd=self.cwd,
            start_new_session=True,
        )
        out.close()
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> int:
        """SIGKILL the whole tree at once, as a crashed machine would."""
        if self.popen is None:
            return 0
        n = signal_tree(self.popen.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=5)
        return n

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the tree, wait up to `grace` seconds, then SIGKILL what is left of it."""
        if self.popen is None:
            return
        tree = process_tree(self.popen.pid)
        signal_groups(tree, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            self.popen.poll()
            if not any(pid_alive(p) for p in tree):
                break
            time.sleep(0.1)
        signal_groups({**tree, **process_tree(self.popen.pid)}, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=5)

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


# ---------------------------------------------------------------------------------------------
# PostgreSQL: a fresh database on the machine's server


def pg_admin_connect(dbname: str = "postgres"):
    import psycopg

    return psycopg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=dbname, autocommit=True, connect_timeout=5
    )


@dataclass
class Database:
    name: str

    @classmethod
    def create(cls) -> Database:
        db = cls(f"gridcity_cluster_{secrets.token_hex(4)}")
        with pg_admin_connect() as conn:
            conn.execute(f'CREATE DATABASE "{db.name}"')
        return db

    def connect(self):
        return pg_admin_connect(self.name)

    def drop(self) -> None:
        with pg_admin_connect() as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                [self.name],
            )
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def direct_url(self) -> str:
        return f"postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/{self.name}"


# ---------------------------------------------------------------------------------------------
# The supporting services


def start_redis(root: Path, env: dict[str, str]) -> tuple[Proc, int]:
    port = free_port()
    work = root / "redis"
    work.mkdir()
    proc = Proc(
        "redis",
        [
            REDIS,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(work),
            "--daemonize",
            "no",
        ],
        root / "logs" / "redis.log",
        env,
    ).start()
    wait_until("redis", lambda: port_open(port), timeout=15, alive=proc.alive)
    return proc, port


def start_pgbouncer(root: Path, env: dict[str, str], db: Database) -> tuple[Proc, int]:
    """PgBouncer in transaction mode in front of the new database. It refuses to run as root,
    so it switches to `postgres`, which must be able to read and write its directory."""
    port = free_port()
    work = root / "pgbouncer"
    work.mkdir()
    (work / "userlist.txt").write_text(f'"{PG_USER}" ""\n')
    logfile = root / "logs" / "pgbouncer.log"
    logfile.touch()
    shutil.chown(logfile, user="postgres", group="postgres")
    (work / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"{db.name} = host={PG_HOST} port={PG_PORT} dbname={db.name} user={PG_USER}\n"
        "\n[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\n"
        "unix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {work / 'userlist.txt'}\n"
        "pool_mode = transaction\n"
        "max_client_conn = 400\ndefault_pool_size = 20\nreserve_pool_size = 5\n"
        "ignore_startup_parameters = extra_float_digits,options\n"
        f"logfile = {logfile}\npidfile = {work / 'pgbouncer.pid'}\n"
        f"admin_users = {PG_USER}\n"
    )
    shutil.chown(work, user="postgres", group="postgres")
    for f in work.iterdir():
        shutil.chown(f, user="postgres", group="postgres")
    proc = Proc(
        "pgbouncer",
        [PGBOUNCER, "-u", "postgres", str(work / "pgbouncer.ini")],
        root / "logs" / "pgbouncer.out",
        env,
    ).start()
    wait_until("pgbouncer", lambda: port_open(port), timeout=15, alive=proc.alive)
    return proc, port


def pgbouncer_show(port: int, what: str) -> list[dict[str, str]]:
    """Rows of PgBouncer's admin console (`SHOW POOLS`, `SHOW STATS`), through psql: the
    console speaks only the simple query protocol."""
    out = subprocess.run(
        [
            "psql",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-U",
            PG_USER,
            "-d",
            "pgbouncer",
            "-A",
            "-F",
            "|",
            "-P",
            "footer=off",
            "-c",
            f"SHOW {what}",
        ],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    ).stdout.splitlines()
    if not out:
        return []
    header = out[0].split("|")
    return [dict(zip(header, row.split("|"), strict=False)) for row in out[1:]]


def start_moto(root: Path, env: dict[str, str], bucket: str) -> tuple[Proc, int]:
    """moto's standalone S3 server, with the photos' bucket made through boto3."""
    port = free_port()
    proc = Proc(
        "moto",
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        root / "logs" / "moto.log",
        env,
    ).start()
    wait_until(
        "moto_server",
        lambda: http_status(f"http://127.0.0.1:{port}/") is not None,
        timeout=30,
        alive=proc.alive,
    )
    s3_client(port).create_bucket(Bucket=bucket)
    return proc, port


def s3_client(port: int):
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )


def start_mosquitto(root: Path, env: dict[str, str]) -> tuple[Proc, int]:
    """A broker of our own, so no other ingest on the machine's broker shares our readings."""
    port = free_port()
    conf = root / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "max_queued_messages 0\nlog_dest stderr\nlog_type all\n"
        "log_timestamp_format %H:%M:%S\n"
    )
    conf.chmod(0o644)
    proc = Proc(
        "mosquitto", [MOSQUITTO, "-c", str(conf)], root / "logs" / "mosquitto.log", env
    ).start()
    wait_until("mosquitto", lambda: port_open(port), timeout=15, alive=proc.alive)
    return proc, port


def start_haproxy(root: Path, env: dict[str, str], node_ports: list[int]) -> tuple[Proc, int, Path]:
    port = free_port()
    sock = root / "haproxy.sock"
    # maxconn per server = what one node serves at once (2 gunicorn workers × 4 threads): the
    # rest wait in haproxy's queue, not in gunicorn's, so a busy node still answers its health
    # check within `timeout check` instead of being marked DOWN while it works through a backlog.
    # `observe layer4 … on-error mark-down`: a refused connection from real traffic takes the
    # server out at once; otherwise, until the checks notice (up to 2 s), a dead node with free
    # slots draws every retry and redispatch back to itself, and the clients get 503s.
    servers = "\n".join(
        f"    server node{i} 127.0.0.1:{p} check inter 1s fall 2 rise 2 maxconn {NODE_CONCURRENCY}"
        " observe layer4 error-limit 1 on-error mark-down"
        for i, p in enumerate(node_ports, start=1)
    )
    cfg = root / "haproxy.cfg"
    cfg.write_text(
        "global\n"
        "    maxconn 1000\n"
        f"    stats socket {sock} mode 600 level admin\n"
        "    log stderr format raw local0\n"
        "defaults\n"
        "    mode http\n"
        "    log global\n"
        "    option httplog\n"
        "    option dontlog-normal\n"
        "    timeout connect 2s\n"
        "    timeout client 30s\n"
        "    timeout server 30s\n"
        "    timeout check 3s\n"
        "    timeout queue 30s\n"
        "    option redispatch\n"
        "    retries 2\n"
        "    option forwardfor\n"
        "frontend gridcity\n"
        f"    bind 127.0.0.1:{port}\n"
        "    default_backend nodes\n"
        "backend nodes\n"
        "    balance roundrobin\n"
        "    option httpchk\n"
        "    http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host 127.0.0.1\n"
        f"{servers}\n"
    )
    proc = Proc("haproxy", [HAPROXY, "-db", "-f", str(cfg)], root / "logs" / "haproxy.log", env)
    proc.start()
    wait_until("haproxy", lambda: port_open(port), timeout=15, alive=proc.alive)
    return proc, port, sock


def haproxy_command(sock: Path, command: str) -> str:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(3)
        s.connect(str(sock))
        s.sendall(command.encode() + b"\n")
        chunks = []
        for _ in range(1000):
            data = s.recv(65536)
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks).decode(errors="replace")


def haproxy_servers(sock: Path) -> dict[str, dict[str, str]]:
    """Per backend server: status (UP/DOWN) and the counters of `show stat`."""
    text = haproxy_command(sock, "show stat")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        return {}
    header = lines[0].lstrip("# ").split(",")
    out = {}
    for ln in lines[1:]:
        row = dict(zip(header, ln.split(","), strict=False))
        if row.get("pxname") == "nodes" and row.get("svname", "").startswith("node"):
            out[row["svname"]] = row
    return out


# ---------------------------------------------------------------------------------------------
# App nodes


def child_env(run_id: str) -> dict[str, str]:
    """This process's environment less anything GridCity reads, plus the run's marker."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GRIDCITY_", "PROMETHEUS_", "DJANGO_"))
    }
    env[RUN_MARKER] = run_id
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class AppNode:
    """One GridCity node: `honcho start` of the Procfile (web, worker, jobs, scheduler, mqtt)."""

    number: int
    port: int
    env: dict[str, str]
    root: Path
    proc: Proc | None = None
    starts: int = 0

    @property
    def name(self) -> str:
        return f"node{self.number}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.starts += 1
        self.proc = Proc(
            self.name,
            [str(BIN / "honcho"), "start", "-f", str(REPO / "Procfile"), "-d", str(REPO)],
            self.root / "logs" / f"{self.name}.{self.starts}.log",
            self.env,
            cwd=REPO,
        ).start()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.alive()

    def ready(self) -> bool:
        return http_status(f"{self.url}/readyz") == 200

    def wait_ready(self, timeout: float = 90) -> float:
        try:
            return wait_until(
                f"{self.name} /readyz", self.ready, timeout=timeout, every=0.25, alive=self.alive
            )
        except (TimeoutError, RuntimeError):
            body = b""
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=3) as r:
                    body = r.read()[:500]
            except urllib.error.HTTPError as exc:
                body = exc.read()[:500]
            except (OSError, ValueError) as exc:
                body = repr(exc).encode()
            log(
                f"{self.name} 未就绪；/readyz：{body!r}；日志末尾：\n{self.proc.tail(40) if self.proc else ''}"
            )
            raise

    def kill(self) -> int:
        assert self.proc is not None
        return self.proc.kill()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(grace=15)


def node_env(
    base: dict[str, str],
    *,
    number: int,
    port: int,
    root: Path,
    db_url: str,
    redis_port: int,
    bucket: str,
    moto_port: int,
    mqtt_port: int,
    secret_key: str,
) -> dict[str, str]:
    env = dict(base)
    env["PATH"] = f"{BIN}:{env.get('PATH', '/usr/bin:/bin')}"
    env.update(
        {
            NODE_MARKER: f"node{number}",
            "DJANGO_SETTINGS_MODULE": "gridcity.settings",
            "GRIDCITY_DATABASE_URL": db_url,
            "GRIDCITY_PGBOUNCER": "1",
            "GRIDCITY_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "GRIDCITY_MEDIA_STORAGE": "s3",
            "GRIDCITY_S3_BUCKET": bucket,
            "GRIDCITY_S3_ENDPOINT_URL": f"http://127.0.0.1:{moto_port}",
            "GRIDCITY_S3_ACCESS_KEY": "testing",
            "GRIDCITY_S3_SECRET_KEY": "testing",
            "GRIDCITY_S3_REGION": "us-east-1",
            "GRIDCITY_BIND": f"127.0.0.1:{port}",
            "GRIDCITY_DATA_DIR": str(root / f"node{number}"),
            "GRIDCITY_SECRET_KEY": secret_key,
            "GRIDCITY_WEB_WORKERS": str(WEB_WORKERS),
            "GRIDCITY_WEB_THREADS": str(WEB_THREADS),
            "GRIDCITY_TRUSTED_PROXIES": "127.0.0.1",
            # The partner key's own write quota, small enough for scenario 2 to reach.
            "GRIDCITY_OPEN311_RATE_LIMITS": "write_per_key=30/60",
            "GRIDCITY_MQTT_HOST": "127.0.0.1",
            "GRIDCITY_MQTT_PORT": str(mqtt_port),
            "GRIDCITY_MQTT_CLIENT_ID": f"gridcity-ingest-node{number}",
            # Not the default (every node receiving every reading): the readings are split.
            "GRIDCITY_MQTT_SHARED_GROUP": MQTT_SHARED_GROUP,
            "GRIDCITY_PERIODIC_SECONDS": "sweep-deadlines=2,sweep-sensors=2,refresh-evaluation=3",
            "GRIDCITY_ALLOWED_HOSTS": "127.0.0.1,localhost",
        }
    )
    return env


def run_gridcity(args: list[str], env: dict[str, str], log_path: Path, timeout: float = 300) -> str:
    """A one-off `gridcity …` (or `python -c …` when args[0] is "-c") in a node's environment;
    its output goes to `log_path` and is returned. Fails on a non-zero exit."""
    argv = [sys.executable, *args] if args[0] == "-c" else [str(BIN / "gridcity"), *args]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        cwd=REPO,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            signal_tree(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
    text = out.decode(errors="replace")
    log_path.write_text(text)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:2])} failed ({proc.returncode}):\n{text[-3000:]}")
    return text


# Runs once in a node's environment against the fresh database: the small test city, and the
# credentials the scenarios use. Prints one JSON line.
SETUP_CITY = r"""
import json, sys
import django
django.setup()
from gridcity.accounts.actions import do_create_token
from gridcity.accounts.models import Department
from gridcity.grids.models import Area
from gridcity.open311.keys import do_create_api_key
from gridcity.sensors.actions import do_register_device
from gridcity.taxonomy.models import Category
from gridcity.testing import EAST, MID_LAT, MID_LON, NORTH, SOUTH, WEST, build_city, tiny_jpeg

city = build_city()
category = Category.objects.get(kind="matter", code="06042")
# Every synthetic report is its own case: no de-duplication merges two of the random points,
# so the count of cases is exactly the count of intakes (as bench/intake_http.py does).
Category.objects.filter(pk=category.pk).update(duplicate_radius_m=0)
token = do_create_token(city.people["inspector"], name="cluster-test")
open311_key = do_create_api_key("cluster-test")
device, device_token = do_register_device(
    "CLUSTER-BIN-01", "bin_fill", acting_user=None, name="集群测试垃圾箱",
    lon=(WEST + MID_LON) / 2, lat=(SOUTH + MID_LAT) / 2,
)
street = Area.objects.get(code="330102002")
open(sys.argv[1], "wb").write(tiny_jpeg(color=(30, 120, 200), size=(96, 64)))
print("SETUP " + json.dumps({
    "bounds": [WEST, SOUTH, EAST, NORTH],
    "category_id": category.pk,
    "token": token,
    "open311_key": open311_key,
    "admin": {"username": "admin", "password": "demo12345"},
    "device": {"code": device.code, "id": device.pk, "token": device_token},
    "street": {"id": street.pk, "code": street.code, "name": street.name,
               "bounds": [MID_LON, SOUTH, EAST, NORTH]},
    "departments": {d.code: {"id": d.pk, "name": d.name} for d in Department.objects.all()},
}))
"""


def setup_city(env: dict[str, str], root: Path) -> dict:
    photo = root / "photo.jpg"
    out = run_gridcity(["-c", SETUP_CITY, str(photo)], env, root / "logs" / "setup-city.log")
    line = next(ln for ln in out.splitlines() if ln.startswith("SETUP "))
    data = json.loads(line.removeprefix("SETUP "))
    data["photo_path"] = str(photo)
    return data


# ---------------------------------------------------------------------------------------------
# The whole cluster


class _Background:
    """A function run in a thread; `join` re-raises what it raised."""

    def __init__(self, func: Callable[[], object]) -> None:
        import threading

        self.error: BaseException | None = None
        self.seconds = 0.0
        self._func = func
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        t = time.monotonic()
        try:
            self._func()
        except BaseException as exc:  # re-raised in the caller's thread by join()
            self.error = exc
        self.seconds = time.monotonic() - t

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"still running after {timeout:.0f} s")
        if self.error is not None:
            raise self.error


@dataclass
class Cluster:
    """PostgreSQL database, Redis, PgBouncer, S3 (moto), MQTT broker, two app nodes, haproxy."""

    root: Path
    run_id: str
    env: dict[str, str]
    bucket: str
    procs: dict[str, Proc] = field(default_factory=dict)
    db: Database | None = None
    nodes: list[AppNode] = field(default_factory=list)
    ports: dict[str, int] = field(default_factory=dict)
    haproxy_sock: Path | None = None
    city: dict = field(default_factory=dict)
    # pid -> node of every node process seen (schedulers and workers record "host:pid").
    pid_names: dict[int, str] = field(default_factory=dict)
    # Wall-clock times of what happened to the nodes, for the periodic-jobs check.
    timeline: dict[str, float] = field(default_factory=dict)

    @classmethod
    def create(cls) -> Cluster:
        import tempfile

        run_id = secrets.token_hex(4)
        root = Path(tempfile.mkdtemp(prefix=f"gridcity-cluster-{run_id}-"))
        # PgBouncer runs as `postgres` and must reach its directory inside.
        root.chmod(0o755)
        (root / "logs").mkdir()
        return cls(root, run_id, child_env(run_id), f"gridcity-cluster-{run_id}")

    @property
    def lb_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['haproxy']}"

    def node(self, number: int) -> AppNode:
        return self.nodes[number - 1]

    def remember_pids(self) -> None:
        self.pid_names.update(
            {p: n for p, n in run_processes(self.run_id).items() if n.startswith("node")}
        )

    def start(self) -> None:
        t0 = time.monotonic()
        self.db = Database.create()
        log(f"数据库 {self.db.name}（127.0.0.1:{PG_PORT}）已创建；工作目录 {self.root}")
        self.procs["redis"], self.ports["redis"] = start_redis(self.root, self.env)
        self.procs["pgbouncer"], self.ports["pgbouncer"] = start_pgbouncer(
            self.root, self.env, self.db
        )
        self.procs["moto"], self.ports["moto"] = start_moto(self.root, self.env, self.bucket)
        self.procs["mosquitto"], self.ports["mqtt"] = start_mosquitto(self.root, self.env)
        log(
            "Redis :{redis}  PgBouncer :{pgbouncer}（transaction）  S3/moto :{moto}  "
            "MQTT :{mqtt}".format(**self.ports)
        )

        secret_key = secrets.token_urlsafe(50)
        pooled_url = f"postgres://{PG_USER}@127.0.0.1:{self.ports['pgbouncer']}/{self.db.name}"
        for number in (1, 2):
            port = free_port()
            env = node_env(
                self.env,
                number=number,
                port=port,
                root=self.root,
                db_url=pooled_url,
                redis_port=self.ports["redis"],
                bucket=self.bucket,
                moto_port=self.ports["moto"],
                mqtt_port=self.ports["mqtt"],
                secret_key=secret_key,
            )
            self.nodes.append(AppNode(number, port, env, self.root))

        direct = {**self.nodes[0].env, "GRIDCITY_DATABASE_URL": self.db.direct_url()}
        direct.pop("GRIDCITY_PGBOUNCER")
        # collectstatic needs no database: it runs beside migrate and the city's setup.
        static = _Background(self._collectstatic)
        t = time.monotonic()
        run_gridcity(["migrate", "--noinput", "-v0"], direct, self.root / "logs" / "migrate.log")
        log(f"migrate：{time.monotonic() - t:.1f} s")
        t = time.monotonic()
        self.city = setup_city(direct, self.root)
        log(f"测试城市、令牌、Open311 密钥、传感器设备：{time.monotonic() - t:.1f} s")
        static.join(timeout=600)
        log(f"collectstatic（与上两步并行）：{static.seconds:.1f} s")

        for node in self.nodes:
            node.start()
        for node in self.nodes:
            waited = node.wait_ready(timeout=120)
            log(f"{node.name} :{node.port} /readyz 200（{waited:.1f} s）")
        self.timeline["nodes_ready"] = time.time()
        self.procs["haproxy"], self.ports["haproxy"], self.haproxy_sock = start_haproxy(
            self.root, self.env, [n.port for n in self.nodes]
        )
        self.wait_lb_up(["node1", "node2"], timeout=20)
        wait_until(
            "haproxy /healthz", lambda: http_status(f"{self.lb_url}/healthz") == 200, timeout=10
        )
        self.remember_pids()
        log(
            f"haproxy :{self.ports['haproxy']} → node1 :{self.nodes[0].port}, "
            f"node2 :{self.nodes[1].port}，两者 UP；启动共 {time.monotonic() - t0:.1f} s"
        )

    def _collectstatic(self) -> None:
        """The real `collectstatic` (hashed names, gzip and brotli copies) into node 1's data
        directory, then a copy of the result into node 2's: the same files each node would
        collect itself, at half the cost (the brotli pass takes about 90 s of CPU)."""
        first, second = self.nodes
        run_gridcity(
            ["collectstatic", "--noinput", "-v0"],
            first.env,
            self.root / "logs" / "collectstatic.log",
            timeout=600,
        )
        shutil.copytree(
            Path(first.env["GRIDCITY_DATA_DIR"]) / "static",
            Path(second.env["GRIDCITY_DATA_DIR"]) / "static",
            dirs_exist_ok=True,
        )

    def lb_status(self) -> dict[str, str]:
        assert self.haproxy_sock is not None
        return {k: v.get("status", "?") for k, v in haproxy_servers(self.haproxy_sock).items()}

    def wait_lb_up(self, names: list[str], timeout: float) -> float:
        return wait_until(
            f"haproxy sees {', '.join(names)} UP",
            lambda: all(self.lb_status().get(n) == "UP" for n in names),
            timeout=timeout,
            every=0.25,
        )

    def stop(self, *, keep_logs: bool) -> None:
        """Everything down, in the reverse order, each step on its own: one failing step does
        not leave the others running."""
        t0 = time.monotonic()
        steps: list[tuple[str, Callable[[], object]]] = []
        if "haproxy" in self.procs:
            steps.append(("haproxy", self.procs["haproxy"].stop))
        steps.append(("nodes", self._stop_nodes))
        for name in ("pgbouncer", "moto", "mosquitto", "redis"):
            if name in self.procs:
                steps.append((name, self.procs[name].stop))
        steps.append(("leftovers", lambda: sweep_run_processes(self.run_id)))
        if self.db is not None:
            steps.append((f"DROP DATABASE {self.db.name}", self.db.drop))
        for name, step in steps:
            try:
                step()
            except Exception as exc:
                log(f"停止 {name} 失败：{exc!r}")
        if keep_logs:
            for sub in self.root.iterdir():
                if sub.name != "logs":
                    shutil.rmtree(sub, ignore_errors=True) if sub.is_dir() else sub.unlink()
            log(f"失败：日志保留在 {self.root / 'logs'}")
        else:
            shutil.rmtree(self.root, ignore_errors=True)
        left = run_processes(self.run_id)
        log(f"全部停止（{time.monotonic() - t0:.1f} s），数据库已删除，残留进程 {len(left)} 个")

    def _stop_nodes(self) -> None:
        import threading

        threads = [threading.Thread(target=n.stop) for n in self.nodes]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=40)
