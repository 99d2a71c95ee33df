"""The scenarios run against a started cluster. Each prints its figures and returns an Outcome:
what it measured (for the summary table) and what did not hold (empty when it passed)."""

from __future__ import annotations

import base64
import hashlib
import json
import queue
import random
import re
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

from cluster.services import (
    MQTT_SHARED_GROUP,
    Cluster,
    haproxy_servers,
    log,
    pgbouncer_show,
    s3_client,
)

N_INTAKES = 2000
CLIENT_THREADS = 24
KILL_AFTER_DONE = 600
RESTART_AFTER_S = 5.0
MAX_TRIES = 20
INTAKE_DEADLINE_S = 420
OPEN311_REQUESTS = 40
RULE_PROPAGATION_LIMIT_S = 1.0
MQTT_READINGS = 200
FAST_JOB_SECONDS = 3.0


@dataclass
class Outcome:
    title: str
    figures: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def check(self, condition: bool, failure: str) -> bool:
        if not condition:
            self.failures.append(failure)
            print(f"    ✗ {failure}", flush=True)
        return condition


def heading(text: str) -> None:
    print(f"\n=== {text} ===", flush=True)


def line(text: str) -> None:
    print(f"    {text}", flush=True)


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def inside(bounds: list[float], rng: random.Random, margin: float = 1e-4) -> tuple[float, float]:
    west, south, east, north = bounds
    return (
        round(rng.uniform(west + margin, east - margin), 7),
        round(rng.uniform(south + margin, north - margin), 7),
    )


def failure_kind(exc: Exception) -> str:
    text = repr(exc)
    for needle, kind in (
        ("Connection refused", "connection refused"),
        ("Connection reset", "connection reset"),
        ("RemoteDisconnected", "connection closed by peer"),
        ("BrokenPipe", "broken pipe"),
    ):
        if needle in text:
            return kind
    return type(exc).__name__


def node_counter(node_url: str, metric: str, labels: str) -> float | None:
    """One counter of a node's /metrics (asked directly, from loopback, as monitoring does)."""
    try:
        text = requests.get(f"{node_url}/metrics", timeout=5).text
    except requests.RequestException:
        return None
    total = None
    for ln in text.splitlines():
        if ln.startswith(f"{metric}_total{{") and labels in ln:
            total = (total or 0.0) + float(ln.rsplit(" ", 1)[1])
    return total


def lb_events(c: Cluster) -> list[str]:
    """haproxy's own lines about servers going DOWN or UP (it prints them in the foreground)."""
    try:
        text = (c.root / "logs" / "haproxy.log").read_text(errors="replace")
    except OSError:
        return []
    return [
        ln.strip()
        for ln in text.splitlines()
        if "Server nodes/" in ln and not ln.startswith("[WARNING]")
    ]


def broker_deliveries(c: Cluster, topic: str) -> Counter:
    """Per client: the PUBLISH packets the broker sent on `topic` (its log, `log_type all`)."""
    try:
        text = (c.root / "logs" / "mosquitto.log").read_text(errors="replace")
    except OSError:
        return Counter()
    found = re.findall(r"Sending PUBLISH to (\S+) \(d\d, q\d, r\d, m\d+, '([^']+)'", text)
    return Counter(client for client, t in found if t == topic)


def node_of(process: str, pid_names: dict[int, str]) -> str:
    """The scheduler's "host:pid" → the node the pid belonged to."""
    try:
        return pid_names.get(int(process.rsplit(":", 1)[1]), "?")
    except (IndexError, ValueError):
        return "?"


# ---------------------------------------------------------------------------------------------
# 1. Intake through haproxy while a node is killed


@dataclass
class IntakeStats:
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: int = 0
    created: int = 0
    replayed: int = 0
    attempts: int = 0
    failures: Counter = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    fatal: list[str] = field(default_factory=list)


def intake_under_node_loss(c: Cluster) -> Outcome:
    out = Outcome("1. 2000 次上报经 haproxy，中途 SIGKILL node1")
    heading(out.title)
    rng = random.Random(int(c.run_id, 16))
    bounds = c.city["bounds"]
    prefix = f"cluster-{c.run_id}-intake-"
    bodies = []
    for i in range(N_INTAKES):
        lon, lat = inside(bounds, rng)
        bodies.append(
            {
                "category": "06042",
                "lon": lon,
                "lat": lat,
                "crs": "wgs84",
                "description": f"集群测试上报 #{i}：垃圾桶满溢",
            }
        )
    todo: queue.Queue[int] = queue.Queue()
    for i in range(N_INTAKES):
        todo.put(i)
    stats = IntakeStats()
    stop = threading.Event()
    url = f"{c.lb_url}/api/cases"
    headers = {"Authorization": f"Bearer {c.city['token']}"}

    def client() -> None:
        session = requests.Session()
        while not stop.is_set():
            try:
                i = todo.get_nowait()
            except queue.Empty:
                return
            started = time.monotonic()
            for attempt in range(1, MAX_TRIES + 1):
                kind = None
                try:
                    r = session.post(
                        url,
                        json=bodies[i],
                        headers={**headers, "Idempotency-Key": f"{prefix}{i:05d}"},
                        timeout=(3, 20),
                    )
                    if r.status_code in (200, 201):
                        with stats.lock:
                            stats.attempts += attempt
                            stats.done += 1
                            stats.created += r.status_code == 201
                            stats.replayed += r.status_code == 200
                            stats.latencies_ms.append((time.monotonic() - started) * 1000)
                        break
                    if r.status_code < 500:
                        with stats.lock:
                            stats.attempts += attempt
                            stats.fatal.append(f"#{i}: HTTP {r.status_code} {r.text[:200]}")
                        break
                    kind = f"HTTP {r.status_code}"
                except requests.Timeout as exc:
                    kind, detail = "timeout", repr(exc)
                    session = requests.Session()
                except requests.ConnectionError as exc:
                    kind, detail = failure_kind(exc), repr(exc)
                    session = requests.Session()
                else:
                    detail = r.text[:200]
                with stats.lock:
                    stats.failures[kind] += 1
                    stats.examples.setdefault(kind, detail)
                if attempt == MAX_TRIES or stop.is_set():
                    with stats.lock:
                        stats.attempts += attempt
                        stats.fatal.append(f"#{i}: gave up after {attempt} tries ({kind})")
                    break
                time.sleep(min(1.0, 0.2 * attempt))

    node1 = c.node(1)
    threads = [threading.Thread(target=client, daemon=True) for _ in range(CLIENT_THREADS)]
    t0 = time.monotonic()
    for th in threads:
        th.start()
    killed_at = restarted_at = None
    killed_processes = 0
    deadline = t0 + INTAKE_DEADLINE_S
    next_progress = t0 + 10
    try:
        while any(th.is_alive() for th in threads) and time.monotonic() < deadline:
            now = time.monotonic()
            if killed_at is None and stats.done >= KILL_AFTER_DONE:
                c.remember_pids()
                killed_processes = node1.kill()
                killed_at = time.monotonic()
                c.timeline["node1_killed"] = time.time()
                log(
                    f"已完成 {stats.done} 次：SIGKILL node1 的全部进程组（{killed_processes} 个进程）"
                )
            if (
                killed_at is not None
                and restarted_at is None
                and now - killed_at >= RESTART_AFTER_S
            ):
                node1.start()
                restarted_at = time.monotonic()
                c.timeline["node1_restarted"] = time.time()
                log(f"已完成 {stats.done} 次：node1 以同样的命令和环境重新启动")
            if now >= next_progress:
                line(f"… {stats.done}/{N_INTAKES}，{sum(stats.failures.values())} 次失败后重试")
                next_progress += 10
            time.sleep(0.05)
    finally:
        # Also on Ctrl-C: the clients stop taking new intakes.
        elapsed = time.monotonic() - t0
        stop.set()
    for th in threads:
        th.join(timeout=25)
    out.check(not any(th.is_alive() for th in threads), "客户端线程在时限内没有结束")
    out.check(killed_at is not None, "没有到达杀掉 node1 的时点")
    if killed_at is not None and restarted_at is None:
        wait = RESTART_AFTER_S - (time.monotonic() - killed_at)
        time.sleep(max(0.0, wait))
        node1.start()
        restarted_at = time.monotonic()
        c.timeline["node1_restarted"] = time.time()
    back_after = None
    if restarted_at is not None:
        try:
            node1.wait_ready(timeout=120)
            c.timeline["node1_ready"] = time.time()
            c.wait_lb_up(["node1", "node2"], timeout=20)
            back_after = time.monotonic() - restarted_at
            c.remember_pids()
        except (TimeoutError, RuntimeError) as exc:
            out.check(False, f"node1 重启后没有恢复：{exc}")

    # The database decides: every key exactly once, each its own case, none lost.
    with c.db.connect() as conn:
        rows = conn.execute(
            "SELECT r.idempotency_key, r.case_id, r.is_duplicate, k.status, d.name "
            "FROM cases_report r JOIN cases_case k ON k.id = r.case_id "
            "LEFT JOIN accounts_department d ON d.id = k.department_id "
            "WHERE r.idempotency_key LIKE %s",
            [prefix + "%"],
        ).fetchall()
        case_ids = sorted({r[1] for r in rows})
        reports_on_those_cases = conn.execute(
            "SELECT count(*) FROM cases_report WHERE case_id = ANY(%s)", [case_ids]
        ).fetchone()[0]
    keys = Counter(r[0] for r in rows)
    expected = {f"{prefix}{i:05d}" for i in range(N_INTAKES)}
    missing = expected - set(keys)
    twice = [k for k, n in keys.items() if n > 1]
    statuses = Counter(r[3] for r in rows)
    departments = Counter(r[4] for r in rows)

    retried = stats.attempts - stats.done - len(stats.fatal)
    failures = ", ".join(f"{k} ×{n}" for k, n in stats.failures.most_common()) or "无"
    lb = c.lb_status()
    served = {}
    if c.haproxy_sock is not None:
        served = {k: v.get("stot", "?") for k, v in haproxy_servers(c.haproxy_sock).items()}
    intakes_by_node = {
        n.name: node_counter(n.url, "gridcity_intakes", 'channel="inspector"') for n in c.nodes
    }
    rate = stats.done / elapsed if elapsed else 0.0
    p50, p99 = pct(stats.latencies_ms, 50), pct(stats.latencies_ms, 99)
    line(f"客户端线程 {CLIENT_THREADS}，用时 {elapsed:.1f} s，{rate:.1f} 次上报/s")
    line(f"成功 {stats.done}（201 新建 {stats.created}，200 幂等重放 {stats.replayed}）")
    line(f"重试的请求 {retried} 次；失败类型：{failures}")
    line(f"每次上报（含重试）延迟 p50 {p50:.0f} ms，p99 {p99:.0f} ms")
    if killed_at is not None:
        line(
            f"node1 在第 {killed_at - t0:.1f} s 被 SIGKILL（{killed_processes} 个进程），"
            f"{(restarted_at or killed_at) - killed_at:.1f} s 后重启，"
            f"重启后 {back_after if back_after is not None else float('nan'):.1f} s 重新就绪并被 haproxy 标为 UP"
        )
    line(f"haproxy 转发给各节点的请求（不含健康检查）：{served}；当前状态 {lb}")
    line(f"各节点 /metrics 记录的新建案件（node1 含被杀前）：{intakes_by_node}")
    line(
        f"数据库：带本轮幂等键的上报 {len(rows)} 条，不同键 {len(keys)} 个，"
        f"案件 {len(case_ids)} 件，这些案件上的上报共 {reports_on_those_cases} 条"
    )
    line(f"案件状态 {dict(statuses)}；责任部门 {dict(departments)}")
    try:
        pool = next(
            r
            for r in pgbouncer_show(c.ports["pgbouncer"], "POOLS")
            if r.get("database") == c.db.name
        )
        stats_row = next(
            r
            for r in pgbouncer_show(c.ports["pgbouncer"], "STATS")
            if r.get("database") == c.db.name
        )
        line(
            f"PgBouncer（transaction）：此刻客户端连接 {int(pool['cl_active']) + int(pool['cl_waiting'])}，"
            f"服务器连接 {int(pool['sv_active']) + int(pool['sv_idle']) + int(pool['sv_used'])}"
            f"（池上限 20）；累计事务 {stats_row['total_xact_count']}，查询 {stats_row['total_query_count']}"
        )
    except (subprocess.SubprocessError, StopIteration, KeyError, ValueError) as exc:
        line(f"PgBouncer 统计读不到：{exc!r}")
    for kind, example in stats.examples.items():
        line(f"失败示例 {kind}：{example[:160]}")
    for event in lb_events(c)[:12]:
        line(f"haproxy：{event}")
    for msg in stats.fatal[:5]:
        line(f"失败的上报：{msg}")
    out.check(not stats.fatal, f"{len(stats.fatal)} 次上报最终失败")
    out.check(stats.done == N_INTAKES, f"成功 {stats.done} 次，应为 {N_INTAKES}")
    out.check(not missing, f"数据库里缺 {len(missing)} 个幂等键（丢失）")
    out.check(not twice, f"{len(twice)} 个幂等键出现不止一次（重复）")
    out.check(len(rows) == N_INTAKES, f"上报 {len(rows)} 条，应为 {N_INTAKES}")
    out.check(len(case_ids) == N_INTAKES, f"案件 {len(case_ids)} 件，应为 {N_INTAKES}")
    out.check(reports_on_those_cases == N_INTAKES, f"这些案件上有 {reports_on_those_cases} 条上报")
    out.check(lb.get("node1") == "UP", f"结束时 haproxy 里 node1 的状态是 {lb.get('node1')}")
    out.figures = [
        f"{stats.done}/{N_INTAKES} 件，{rate:.1f}/s，p50 {p50:.0f} ms，p99 {p99:.0f} ms",
        f"重试 {retried} 次（{failures}）",
        f"库中 {len(case_ids)} 案 / {len(rows)} 报，缺 {len(missing)}，重 {len(twice)}",
    ]
    return out


# ---------------------------------------------------------------------------------------------
# 2. Open311 rate limit shared through Redis


def open311_rate_limit(c: Cluster) -> Outcome:
    out = Outcome("2. Open311 限流跨节点共享（write_per_key 30 次/60 s）")
    heading(out.title)
    left = 60 - time.time() % 60
    if left < 20:
        line(f"本分钟窗口只剩 {left:.1f} s：等到下一分钟开始")
        time.sleep(left + 0.3)
    rng = random.Random()
    client_ip = f"203.0.113.{rng.randint(1, 254)}"
    window = int(time.time() // 60)
    answers = []
    t0 = time.monotonic()
    for i in range(OPEN311_REQUESTS):
        node = c.node(1 + i % 2)
        lon, lat = inside(c.city["bounds"], rng)
        r = requests.post(
            f"{node.url}/open311/v2/requests.json",
            data={
                "api_key": c.city["open311_key"],
                "service_code": "matter-06042",
                "lat": lat,
                "long": lon,
                "description": f"集群测试 Open311 #{i}",
            },
            headers={"X-Forwarded-For": client_ip},
            timeout=15,
        )
        answers.append((node.name, r.status_code, r.headers.get("Retry-After")))
    took = time.monotonic() - t0
    same_window = int(time.time() // 60) == window
    accepted = [a for a in answers if a[1] in (200, 201)]
    limited = [a for a in answers if a[1] == 429]
    other = [a for a in answers if a[1] not in (200, 201, 429)]
    by_node = {
        n: (
            sum(1 for a in accepted if a[0] == n),
            sum(1 for a in limited if a[0] == n),
        )
        for n in ("node1", "node2")
    }
    line(f"客户端地址 {client_ip}（X-Forwarded-For，经可信代理 127.0.0.1），交替直连两个节点")
    line(f"{OPEN311_REQUESTS} 次 POST 用时 {took:.1f} s，同一个 60 s 窗口：{same_window}")
    line(f"接受 {len(accepted)}，429 {len(limited)}，其他 {[a[1] for a in other]}")
    line(f"各节点（接受, 429）：{by_node}；Retry-After {limited[0][2] if limited else '-'} s")
    out.check(same_window, "窗口在发送中途翻转，结果不可判定")
    out.check(len(accepted) == 30, f"接受 {len(accepted)} 次，应为 30")
    out.check(len(limited) == 10, f"429 {len(limited)} 次，应为 10")
    out.check(
        all(a[1] in (200, 201) for a in answers[:30]) and all(a[1] == 429 for a in answers[30:]),
        "接受与 429 的先后不对：应为前 30 次接受、后 10 次 429",
    )
    out.figures = [f"接受 {len(accepted)}，429 {len(limited)}；各节点 {by_node}"]
    return out


# ---------------------------------------------------------------------------------------------
# 3. A photo stored through node 1 is served by node 2


def photo_across_nodes(c: Cluster) -> Outcome:
    out = Outcome("3. node1 上传的照片由 node2 提供（S3）")
    heading(out.title)
    photo = Path(c.city["photo_path"]).read_bytes()
    rng = random.Random()
    lon, lat = inside(c.city["bounds"], rng)
    headers = {
        "Authorization": f"Bearer {c.city['token']}",
        "Idempotency-Key": f"cluster-{c.run_id}-photo",
    }
    body = {
        "category": "06042",
        "lon": lon,
        "lat": lat,
        "description": "集群测试：带照片的上报",
        "photos": [base64.b64encode(photo).decode()],
    }
    r = requests.post(f"{c.node(1).url}/api/cases", json=body, headers=headers, timeout=30)
    if not out.check(r.status_code == 201, f"node1 上报答 {r.status_code}：{r.text[:300]}"):
        return out
    number = r.json()["number"]
    auth = {"Authorization": f"Bearer {c.city['token']}"}
    detail = requests.get(f"{c.node(2).url}/api/cases/{number}", headers=auth, timeout=15)
    if not out.check(detail.status_code == 200, f"node2 读案件答 {detail.status_code}"):
        return out
    attachments = detail.json()["attachments"]
    if not out.check(len(attachments) == 1, f"案件有 {len(attachments)} 个附件，应为 1"):
        return out
    url = attachments[0]["url"]
    t = time.monotonic()
    got = requests.get(f"{c.node(2).url}{url}", headers=auth, timeout=15)
    ms = (time.monotonic() - t) * 1000
    key = url.removeprefix("/media/")
    stored = s3_client(c.ports["moto"]).get_object(Bucket=c.bucket, Key=key)["Body"].read()
    on_disk = [p for n in c.nodes for p in (c.root / n.name / "media").rglob("*") if p.is_file()]
    line(f"案件 {number}：node1 收下 {len(photo)} 字节的 JPEG（sha256 {_sha(photo)}）")
    line(
        f"node2 GET {url} → {got.status_code}，{len(got.content)} 字节，"
        f"sha256 {_sha(got.content)}，{got.headers.get('Content-Type')}，{ms:.0f} ms"
    )
    line(
        f"桶 {c.bucket} 里对象 {key}：{len(stored)} 字节；两个节点的数据目录里的媒体文件 {len(on_disk)} 个"
    )
    out.check(got.status_code == 200, f"node2 取照片答 {got.status_code}")
    out.check(got.content == photo, "node2 给出的字节与上传的不同")
    out.check(stored == photo, "S3 里的对象与上传的不同")
    out.check(not on_disk, f"照片落在了节点本地磁盘：{on_disk[:3]}")
    out.figures = [
        f"{len(photo)} 字节，node2 原样返回：{got.content == photo}；本地文件 {len(on_disk)}"
    ]
    return out


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:12]


# ---------------------------------------------------------------------------------------------
# 4. A rule changed on node 2 routes the next report on node 1


CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def _csrf(html: str) -> str:
    m = CSRF_INPUT.search(html)
    if m is None:
        raise RuntimeError("no csrfmiddlewaretoken in the admin page")
    return m.group(1)


def rule_change_propagation(c: Cluster) -> Outcome:
    out = Outcome("4. node2 后台改规则，node1 下一次上报按新规则派遣")
    heading(out.title)
    street = c.city["street"]
    rng = random.Random()
    reporter = requests.Session()
    reporter.headers["Authorization"] = f"Bearer {c.city['token']}"
    node1, node2 = c.node(1), c.node(2)

    def report(n: int) -> requests.Response:
        lon, lat = inside(street["bounds"], rng)
        return reporter.post(
            f"{node1.url}/api/cases",
            json={"category": "06042", "lon": lon, "lat": lat, "description": f"规则测试 #{n}"},
            headers={"Idempotency-Key": f"cluster-{c.run_id}-rule-{n}"},
            timeout=15,
        )

    before = report(0)
    if not out.check(before.status_code == 201, f"基线上报答 {before.status_code}"):
        return out
    old_department = before.json()["department"]
    new = next(
        d
        for code, d in sorted(c.city["departments"].items())
        if code in ("CGZF", "SZSS", "YLLH") and d["name"] != old_department
    )
    line(
        f"{street['name']}（{street['code']}）的 06042 今天派给 {old_department}；改派 {new['name']}"
    )

    admin = requests.Session()
    page = admin.get(f"{node2.url}/login/", timeout=15)
    login = admin.post(
        f"{node2.url}/login/?next=/admin/",
        data={
            "csrfmiddlewaretoken": _csrf(page.text),
            "username": c.city["admin"]["username"],
            "password": c.city["admin"]["password"],
            "next": "/admin/",
        },
        allow_redirects=False,
        timeout=15,
    )
    if not out.check(login.status_code == 302, f"后台登录答 {login.status_code}"):
        return out
    add_url = f"{node2.url}/admin/dispatch/responsibilityrule/add/"
    form = admin.get(add_url, timeout=15)
    if not out.check(form.status_code == 200, f"新增规则页答 {form.status_code}"):
        return out
    fields = {
        "csrfmiddlewaretoken": _csrf(form.text),
        "category": str(c.city["category_id"]),
        "major_code": "",
        "kind": "",
        "area": str(street["id"]),
        "filing_condition": "",
        "department": str(new["id"]),
        "priority": "100",
        "is_active": "on",
        "note": f"集群测试 {c.run_id}：{street['name']} 06042 改派",
        "_save": "保存",
    }
    t_post = time.monotonic()
    saved = admin.post(add_url, data=fields, allow_redirects=False, timeout=15)
    answered = time.monotonic()
    if not out.check(
        saved.status_code == 302,
        f"保存规则答 {saved.status_code}：{re.findall(r'errorlist[^>]*>(.*?)</ul>', saved.text)[:3]}",
    ):
        return out
    line(
        f"node2 后台保存规则：{(answered - t_post) * 1000:.0f} ms（302 → {saved.headers.get('Location')}）"
    )

    routed_after = None
    tries = 0
    explanation = ""
    for n in range(1, 51):
        tries = n
        sent = time.monotonic()
        r = report(n)
        if r.status_code != 201:
            out.check(False, f"第 {n} 次上报答 {r.status_code}：{r.text[:200]}")
            break
        body = r.json()
        if body["department"] == new["name"]:
            routed_after = time.monotonic() - answered
            explanation = (body.get("dispatch_explanation") or {}).get("reason", "")
            break
        time.sleep(max(0.0, sent + 0.1 - time.monotonic()))
    if routed_after is not None:
        line(
            f"node1 第 {tries} 次上报已派给 {new['name']}：距规则保存应答 {routed_after * 1000:.0f} ms"
        )
        line(f"派遣依据：{explanation[:120]}")
    out.check(routed_after is not None, f"{tries} 次上报后仍未按新规则派遣")
    out.check(
        routed_after is None or routed_after <= RULE_PROPAGATION_LIMIT_S,
        f"新规则生效用了 {routed_after and routed_after * 1000:.0f} ms，超过 1000 ms",
    )
    out.figures = [
        f"{routed_after * 1000:.0f} ms（第 {tries} 次上报）"
        if routed_after is not None
        else "未生效"
    ]
    return out


# ---------------------------------------------------------------------------------------------
# 6. MQTT readings through a shared subscription


def mqtt_shared_ingest(c: Cluster) -> Outcome:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    out = Outcome("6. MQTT 读数经共享订阅由两个节点分担，恰好入库一次")
    heading(out.title)
    device = c.city["device"]
    topic = f"gridcity/devices/{device['code']}/readings"
    before = {
        n.name: node_counter(n.url, "gridcity_sensor_readings_ingested", 'transport="mqtt"') or 0
        for n in c.nodes
    }
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"cluster-publisher-{c.run_id}",
        protocol=mqtt.MQTTv5,
    )
    client.connect("127.0.0.1", c.ports["mqtt"], keepalive=30)
    client.loop_start()
    t0 = time.monotonic()
    try:
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=MQTT_READINGS + 5)
        infos = []
        for i in range(MQTT_READINGS):
            payload = {"time": (start + timedelta(minutes=i)).isoformat(), "value": 20.0}
            infos.append(client.publish(topic, json.dumps(payload), qos=1))
        for info in infos:
            info.wait_for_publish(timeout=10)
        acked = sum(1 for info in infos if info.is_published())
    finally:
        client.disconnect()
        client.loop_stop()
    published_s = time.monotonic() - t0

    stored = distinct = 0
    deadline = time.monotonic() + 30
    with c.db.connect() as conn:
        while time.monotonic() < deadline:
            stored, distinct = conn.execute(
                "SELECT count(*), count(DISTINCT (metric, time)) FROM sensors_reading "
                "WHERE device_id = %s",
                [device["id"]],
            ).fetchone()
            if stored >= MQTT_READINGS:
                break
            time.sleep(0.2)
        stored_s = time.monotonic() - t0
        time.sleep(1.0)  # anything more arriving late would be a second copy
        stored_late = conn.execute(
            "SELECT count(*) FROM sensors_reading WHERE device_id = %s", [device["id"]]
        ).fetchone()[0]
    after = {
        n.name: node_counter(n.url, "gridcity_sensor_readings_ingested", 'transport="mqtt"') or 0
        for n in c.nodes
    }
    share = {k: int(after[k] - before[k]) for k in after}
    delivered = broker_deliveries(c, topic)
    to_ingest = {n.name: delivered[n.env["GRIDCITY_MQTT_CLIENT_ID"]] for n in c.nodes}
    line(
        f"订阅 $share/{MQTT_SHARED_GROUP}/gridcity/devices/+/readings（每个节点的 ingest 各一个持久会话）"
    )
    line(f"发布 {MQTT_READINGS} 条（QoS 1），代理确认 {acked} 条，用时 {published_s:.1f} s")
    line(f"代理投递给各节点 ingest 的消息（代理日志）：{to_ingest}，共 {sum(to_ingest.values())}")
    line(
        f"入库 {stored} 条（不同时间 {distinct}），{stored_s:.1f} s 内全部到齐；1 s 后 {stored_late} 条"
    )
    line(f"各节点 ingest 新入库（/metrics 计数）：{share}")
    out.check(acked == MQTT_READINGS, f"代理只确认了 {acked} 条")
    out.check(stored_late == MQTT_READINGS, f"入库 {stored_late} 条，应为 {MQTT_READINGS}")
    out.check(distinct == MQTT_READINGS, f"不同读数 {distinct} 条，应为 {MQTT_READINGS}")
    out.check(
        sum(to_ingest.values()) == MQTT_READINGS,
        f"代理共投递 {sum(to_ingest.values())} 次，应为 {MQTT_READINGS}（共享订阅每条只给一个节点）",
    )
    out.check(all(to_ingest.values()), f"有节点没有分到读数：{to_ingest}")
    out.check(share == to_ingest, f"各节点入库 {share} 与分到的 {to_ingest} 不一致")
    out.figures = [f"{stored_late}/{MQTT_READINGS} 条入库一次；代理分给各节点 {to_ingest}"]
    return out


# ---------------------------------------------------------------------------------------------
# 5. Periodic jobs: each tick once, none missing


def periodic_exactly_once(c: Cluster) -> Outcome:
    out = Outcome("5. 两个调度器同时运行：每个定时任务每个周期恰好一次")
    heading(out.title)
    c.remember_pids()
    every = {
        "sweep-deadlines": 2.0,
        "sweep-sensors": 2.0,
        "refresh-evaluation": 3.0,
    }
    with c.db.connect() as conn:
        rows = conn.execute(
            "SELECT job, tick, status, runs, claimed_by, ran_on, "
            "extract(epoch FROM due_at) FROM system_periodicrun ORDER BY job, tick"
        ).fetchall()
    killed = c.timeline.get("node1_killed")
    back = c.timeline.get("node1_restarted")
    jobs: dict[str, list] = {}
    for r in rows:
        jobs.setdefault(r[0], []).append(r)
    line(
        "任务              周期  行数  首末周期跨度  缺失  done  skipped  其他  runs分布   认领(node1/node2/?)  执行(node1/node2)  node1停机期间认领"
    )
    figures = []
    for job, runs in sorted(jobs.items()):
        ticks = [r[1] for r in runs]
        span = ticks[-1] - ticks[0] + 1
        missing = sorted(set(range(ticks[0], ticks[-1] + 1)) - set(ticks))
        status = Counter(r[2] for r in runs)
        run_counts = Counter(r[3] for r in runs)
        claimed = Counter(node_of(r[4], c.pid_names) for r in runs)
        ran = Counter(node_of(r[5], c.pid_names) for r in runs if r[5])
        during_outage = Counter(
            node_of(r[4], c.pid_names)
            for r in runs
            if killed is not None and back is not None and killed <= float(r[6]) <= back
        )
        others = sum(n for s, n in status.items() if s not in ("done", "skipped"))
        line(
            f"{job:<18}{every.get(job, 0) or '-':>4}  {len(runs):>4}  {span:>12}  {len(missing):>4}  "
            f"{status['done']:>4}  {status['skipped']:>7}  {others:>4}  {dict(run_counts)!s:<10} "
            f"{claimed['node1']}/{claimed['node2']}/{claimed['?']:<18} "
            f"{ran['node1']}/{ran['node2']:<16} {dict(during_outage)}"
        )
        bad_runs = [r for r in runs if r[3] > 1 or (r[2] == "done" and r[3] != 1)]
        out.check(not bad_runs, f"{job}：{len(bad_runs)} 个周期执行次数不是 1，例 {bad_runs[:2]}")
        if job in every:
            out.check(not missing, f"{job}：缺少周期 {missing[:10]}（共 {len(missing)} 个）")
            failed = [r for r in runs if r[2] == "failed"]
            out.check(not failed, f"{job}：{len(failed)} 个周期失败")
        if job == "sweep-deadlines":
            figures.append(
                f"sweep-deadlines {len(runs)} 周期连续，缺 {len(missing)}，"
                f"runs {dict(run_counts)}，node1/node2 认领 {claimed['node1']}/{claimed['node2']}"
            )
    out.check("sweep-deadlines" in jobs, "没有 sweep-deadlines 的运行记录")
    if killed is not None and back is not None:
        line(
            f"node1 停机 {back - killed:.1f} s（SIGKILL 到重启）：最右一列是这段时间里到期的周期由谁认领"
        )
    out.figures = figures
    return out


SCENARIOS = [
    intake_under_node_loss,
    open311_rate_limit,
    photo_across_nodes,
    rule_change_propagation,
    mqtt_shared_ingest,
    periodic_exactly_once,
]
