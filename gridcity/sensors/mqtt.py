"""The MQTT subscriber: `gridcity/devices/{id}/readings` → do_ingest_readings.

Delivery guarantee. The subscription is QoS 1 on a persistent session (MQTT 5, a fixed client
id, clean_start False, a long session expiry), and paho runs with `manual_ack=True`: a message
is acknowledged (PUBACK) only after the transaction that stored its readings has committed.
If the process or the broker dies before that, the broker still holds the message in the
session and delivers it again on reconnect; the unique index (device, metric, time) drops the
second copy. So every reading the broker acknowledged to its publisher is stored at least
once and kept exactly once — provided the broker itself kept it: Mosquitto writes its
persistence file on a clean shutdown (SIGTERM) and every `autosave_interval`; a `kill -9`
of the broker loses what it received since the last save.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
from django.db import close_old_connections
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gridcity.lib.errors import CaseError
from gridcity.sensors.actions import MAX_BATCH, do_ingest_readings
from gridcity.system.metrics import count_readings_ingested

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "gridcity"
SESSION_EXPIRY_S = 7 * 24 * 3600
RECEIVE_MAXIMUM = 1000


def topic_filter(prefix: str = DEFAULT_PREFIX) -> str:
    return f"{prefix}/devices/+/readings"


def device_of_topic(topic: str, prefix: str = DEFAULT_PREFIX) -> str | None:
    parts = topic.split("/")
    base = prefix.split("/")
    if len(parts) != len(base) + 3 or parts[: len(base)] != base:
        return None
    if parts[-3] != "devices" or parts[-1] != "readings" or not parts[-2]:
        return None
    return parts[-2]


def items_of_message(topic: str, payload: bytes, prefix: str = DEFAULT_PREFIX) -> list:
    """The readings of one message, with the device taken from the topic. A payload that is
    not JSON becomes one item that validation rejects with a reason."""
    code = device_of_topic(topic, prefix)
    try:
        body = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return [{"device": code or "", "time": None, "value": None, "_bad": "消息不是有效的 JSON"}]
    items = body if isinstance(body, list) else [body]
    out = []
    for it in items:
        # The dicts are this message's own: set the device in place, no copy per reading.
        if isinstance(it, dict):
            named = it.get("device")
            it["device"] = code if named in (None, code) else f"{named}（主题为 {code}）"
        out.append(it)
    return out


@dataclass
class IngestStats:
    messages: int = 0
    readings: int = 0
    stored: int = 0
    rejected: int = 0
    warnings_opened: int = 0
    cases_filed: int = 0
    batches: int = 0
    errors: int = 0
    reasons: list[str] = field(default_factory=list)


class Ingestor:
    """Runs paho's network loop in its own thread; the caller's thread takes messages off a
    queue in batches, stores them in one transaction, then acknowledges them."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 1883,
        *,
        client_id: str = "gridcity-ingest",
        prefix: str = DEFAULT_PREFIX,
        batch_size: int = 2000,
        batch_readings: int = 10_000,
        flush_s: float = 0.2,
        session_expiry_s: int = SESSION_EXPIRY_S,
        file_cases: bool = True,
        shared_group: str = "",
    ) -> None:
        self.host, self.port, self.prefix = host, port, prefix
        # With a group, every node subscribes as a member of "$share/<group>/…": the broker
        # gives each message to one member.
        self.subscription = (
            f"$share/{shared_group}/{topic_filter(prefix)}"
            if shared_group
            else topic_filter(prefix)
        )
        self.batch_size, self.flush_s = batch_size, flush_s
        self.batch_readings = min(batch_readings, MAX_BATCH)
        self.file_cases = file_cases
        self.session_expiry_s = session_expiry_s
        self.stats = IngestStats()
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self._queue: queue.Queue = queue.Queue()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_connect_fail = self._on_connect_fail
        self._told_unreachable = False
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(min_delay=1, max_delay=5)

    # paho callbacks (network thread) ---------------------------------------------------------

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.warning("MQTT 连接失败：%s", reason_code)
            return
        self.connected.set()
        self._told_unreachable = False
        # Subscribe on every connect, even into a resumed session: Mosquitto 2.0 does not
        # restore shared subscriptions from its persistence file, so after a broker restart a
        # group member that only resumed its session would never receive again. Subscribing
        # again to a subscription the session still has replaces it and loses nothing.
        client.subscribe(self.subscription, qos=1)

    def _on_connect_fail(self, client, userdata) -> None:
        # paho retries by itself; say so once per outage, not every few seconds.
        if not self._told_unreachable:
            log.warning("MQTT 代理 %s:%s 连接不上，将自动重试", self.host, self.port)
            self._told_unreachable = True

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        self.subscribed.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected.clear()

    def _on_message(self, client, userdata, msg) -> None:
        self._queue.put((msg.mid, msg.qos, msg.topic, msg.payload))

    # -----------------------------------------------------------------------------------------

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.session_expiry_s
        # Acks wait for the commit, so the broker's in-flight window is the batch size: its
        # default (20 messages) would cap every batch at 20. Receive Maximum raises it.
        props.ReceiveMaximum = RECEIVE_MAXIMUM
        self.client.connect_async(
            self.host, self.port, keepalive=30, clean_start=False, properties=props
        )
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def drain_once(self, timeout: float | None = None) -> int:
        """Take messages until batch_size messages or batch_readings readings (waiting at most
        flush_s after the first), store them in one transaction, acknowledge them. Returns how
        many messages were handled."""
        try:
            first = self._queue.get(timeout=self.flush_s if timeout is None else timeout)
        except queue.Empty:
            return 0
        batch = [self._parsed(first)]
        n_items = len(batch[0][2])
        deadline = time.monotonic() + self.flush_s
        # Counted in readings too: a batch over the action's MAX_BATCH would be refused whole.
        while len(batch) < self.batch_size and n_items < self.batch_readings:
            left = deadline - time.monotonic()
            try:
                msg = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            batch.append(self._parsed(msg))
            n_items += len(batch[-1][2])
        self._handle(batch)
        return len(batch)

    def _parsed(self, msg: tuple) -> tuple[int, int, list]:
        mid, qos, topic, payload = msg
        return mid, qos, items_of_message(topic, payload, self.prefix)

    def _handle(self, batch: list) -> None:
        items = [it for _, _, its in batch for it in its]
        close_old_connections()
        try:
            result = do_ingest_readings(items, file_cases=self.file_cases)
        except CaseError as exc:
            # Only a single message can be too big (batches are cut below MAX_BATCH); it would
            # be refused again: ack it so it does not loop forever, and say so.
            log.error("MQTT 批次被拒收：%s", exc.message)
            self.stats.errors += 1
            self.stats.reasons.append(exc.message)
        except Exception:
            # Database down or similar: do not ack; the broker redelivers after reconnect.
            log.exception("MQTT 批次入库失败，不确认，等待重投")
            self.stats.errors += 1
            self._requeue_by_reconnect()
            return
        else:
            s = self.stats
            s.messages += len(batch)
            s.readings += len(items)
            s.stored += result.stored
            count_readings_ingested("mqtt", result.stored)
            s.rejected += len(result.rejected)
            s.warnings_opened += result.warnings_opened
            s.cases_filed += result.cases_filed
            s.batches += 1
            s.reasons.extend(r.reason for r in result.rejected[:5])
            del s.reasons[:-50]
        for mid, qos, _ in batch:
            if qos > 0:
                self.client.ack(mid, qos)

    def _requeue_by_reconnect(self) -> None:
        # Unacknowledged QoS 1 messages come back when the session resumes.
        while not self._queue.empty():
            self._queue.get_nowait()
        time.sleep(1)
        self.client.reconnect()

    def run(self, *, seconds: float | None = None, stop: threading.Event | None = None) -> None:
        self.start()
        end = None if seconds is None else time.monotonic() + seconds
        try:
            while (end is None or time.monotonic() < end) and not (stop and stop.is_set()):
                self.drain_once()
        finally:
            # Whatever is still queued was not acknowledged: the broker keeps it.
            self.stop()
