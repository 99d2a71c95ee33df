import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand

from gridcity.sensors.mqtt import DEFAULT_PREFIX, Ingestor


class Command(BaseCommand):
    help = (
        "订阅 MQTT 主题 gridcity/devices/{设备编号}/readings（QoS 1、持久会话），读数入库并评估规则；"
        "入库事务提交后才确认消息。"
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
            help="固定客户端 ID（持久会话；每个节点各用一个，GRIDCITY_MQTT_CLIENT_ID）",
        )
        parser.add_argument(
            "--shared-group",
            default=settings.GRIDCITY_MQTT_SHARED_GROUP,
            help="共享订阅组（多个节点分担读数；空字符串表示普通订阅）",
        )
        parser.add_argument("--prefix", default=DEFAULT_PREFIX, help="主题前缀")
        parser.add_argument("--batch", type=int, default=2000, help="每批最多消息数")
        parser.add_argument(
            "--seconds", type=float, default=None, help="运行多少秒后退出（默认一直运行）"
        )
        parser.add_argument("--no-cases", action="store_true", help="只产生预警，不立案")

    def handle(self, *args, **o):
        ing = Ingestor(
            o["host"],
            o["port"],
            client_id=o["client_id"],
            prefix=o["prefix"],
            batch_size=o["batch"],
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
