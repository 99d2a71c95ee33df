import os
import signal
import subprocess
import sys
import threading
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from gridcity.sensors.mqtt import DEFAULT_PREFIX, Ingestor

DEFAULT_GROUP = "gridcity-ingest"


def default_workers() -> int:
    return int(
        getattr(settings, "GRIDCITY_MQTT_WORKERS", os.environ.get("GRIDCITY_MQTT_WORKERS", 1))
    )


class Command(BaseCommand):
    help = (
        "订阅 MQTT 主题 gridcity/devices/{设备编号}/readings（QoS 1、持久会话），读数入库并评估规则；"
        "入库事务提交后才确认消息。--workers N 启动 N 个进程共享一个订阅（$share/组/主题）分担读数。"
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--host", default=settings.GRIDCITY_MQTT_HOST, help="MQTT 代理（GRIDCITY_MQTT_HOST）"
        )
        parser.add_argument(
            "--port", type=int, default=settings.GRIDCITY_MQTT_PORT, help="GRIDCITY_MQTT_PORT"
        )
        parser.add_argument(
            "--client-id",
            default=settings.GRIDCITY_MQTT_CLIENT_ID,
            help="固定客户端 ID（持久会话；每个节点各用一个，GRIDCITY_MQTT_CLIENT_ID）；"
            "多进程时各进程为 <ID>-w<序号>",
        )
        parser.add_argument(
            "--shared-group",
            default=settings.GRIDCITY_MQTT_SHARED_GROUP,
            help="共享订阅组（多个进程或节点分担读数；空字符串表示普通订阅；"
            f"--workers 大于 1 而未指定时用 {DEFAULT_GROUP}）",
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=default_workers(),
            help="入库进程数（GRIDCITY_MQTT_WORKERS，默认 1）；大于 1 时共享一个订阅，"
            "进程意外退出会被重新启动并接着处理它未确认的消息",
        )
        parser.add_argument("--prefix", default=DEFAULT_PREFIX, help="主题前缀")
        parser.add_argument("--batch", type=int, default=2000, help="每批最多消息数")
        parser.add_argument(
            "--batch-readings", type=int, default=10_000, help="每批最多读数（不超过 20000）"
        )
        parser.add_argument(
            "--seconds", type=float, default=None, help="运行多少秒后退出（默认一直运行）"
        )
        parser.add_argument("--no-cases", action="store_true", help="只产生预警，不立案")

    def handle(self, *args, **o):
        if o["workers"] < 1:
            raise CommandError("--workers 应为正整数")
        if o["workers"] > 1:
            return self.supervise(o)
        ing = Ingestor(
            o["host"],
            o["port"],
            client_id=o["client_id"],
            prefix=o["prefix"],
            batch_size=o["batch"],
            batch_readings=o["batch_readings"],
            file_cases=not o["no_cases"],
            shared_group=o["shared_group"],
        )
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        self.stdout.write(
            f"订阅 {ing.subscription} @ {o['host']}:{o['port']}（{o['client_id']}）；"
            "代理连不上时每几秒重试"
        )
        self.stdout.flush()
        ing.run(seconds=o["seconds"], stop=stop)
        s = ing.stats
        self.stdout.write(
            f"消息 {s.messages}，读数 {s.readings}，入库 {s.stored}，拒收 {s.rejected}，"
            f"新预警 {s.warnings_opened}，立案 {s.cases_filed}，失败批次 {s.errors}"
        )

    def supervise(self, o) -> None:
        """Run N single-worker children in one shared subscription and restart any that dies.
        Each child keeps a fixed client id (<id>-w<n>), so a restarted child resumes its
        persistent session and receives again what it had not acknowledged."""
        group = o["shared_group"] or DEFAULT_GROUP
        base = [sys.executable, "-c", "from gridcity.cli import main; main()", "ingest-mqtt"]
        common = [
            "--workers=1",
            f"--host={o['host']}",
            f"--port={o['port']}",
            f"--shared-group={group}",
            f"--prefix={o['prefix']}",
            f"--batch={o['batch']}",
            f"--batch-readings={o['batch_readings']}",
        ] + (["--no-cases"] if o["no_cases"] else [])
        if o["seconds"] is not None:
            common.append(f"--seconds={o['seconds']}")

        def spawn(n: int) -> subprocess.Popen:
            return subprocess.Popen(base + common + [f"--client-id={o['client_id']}-w{n}"])

        stopping = threading.Event()

        def stop(*_):
            stopping.set()
            for p in children.values():
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)

        children = {n: spawn(n) for n in range(1, o["workers"] + 1)}
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, stop)
        self.stdout.write(f"{o['workers']} 个入库进程共享订阅组 {group}")
        self.stdout.flush()
        while not stopping.is_set():
            time.sleep(0.5)
            running = 0
            for n, p in list(children.items()):
                code = p.poll()
                if code is None:
                    running += 1
                elif code != 0 or o["seconds"] is None:
                    # A crash (or a kill): its unacknowledged messages wait in its session.
                    self.stderr.write(f"入库进程 w{n} 退出（{code}），重新启动")
                    time.sleep(1)
                    children[n] = spawn(n)
                    running += 1
            if running == 0:
                break
        for p in children.values():
            p.wait()
