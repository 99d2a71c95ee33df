"""Outbound webhooks: `emit(event_type, case)` records one Delivery per interested
subscription and hands it to the task worker after commit; `attempt(delivery)` makes one
signed HTTP POST and decides what happens next.

Signature: X-GridCity-Signature = "sha256=" + hex HMAC-SHA256(secret, f"{timestamp}.{body}")
with X-GridCity-Timestamp the Unix time in seconds; a receiver should reject a timestamp more
than five minutes old, which stops replays."""

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone
from django_tasks import task

from gridcity.cases.models import Case
from gridcity.open311.models import (
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    EventType,
    Subscription,
)

log = logging.getLogger(__name__)

DEFAULTS = {
    "max_attempts": 6,  # the first try and five retries
    "backoff_seconds": 30,  # 30 s, 1 min, 2 min, 4 min, 8 min
    "backoff_cap_seconds": 3600,
    "disable_after": 15,  # consecutive failed attempts, over all deliveries
    "timeout_seconds": 10,
}


def config(name: str) -> int:
    return {**DEFAULTS, **getattr(settings, "GRIDCITY_WEBHOOKS", {})}[name]


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    message = f"{timestamp}.".encode() + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str, *, tolerance: int = 300):
    """The receiver's side, for partners and for our tests."""
    if abs(time.time() - int(timestamp)) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def case_payload(case: Case) -> dict:
    from gridcity.open311.services import request_out, with_request_fields

    case = with_request_fields(Case.objects.filter(pk=case.pk)).get()
    base = getattr(settings, "GRIDCITY_PUBLIC_URL", "").rstrip("/")
    body = request_out(case, absolute=lambda path: f"{base}{path}", extensions=False)
    body["number"] = case.number
    body["workflow_status"] = case.status
    body["department_code"] = case.department.code if case.department_id else None
    return body


# Every case change asks which subscriptions want it; they change a few times a year. The
# active ones are kept in the shared cache (Redis when configured: one copy for every node) and
# dropped on any save or delete of a subscription, and when a failing one is switched off.
SUBSCRIPTIONS_CACHE_KEY = "open311:active-subscriptions"
SUBSCRIPTIONS_CACHE_SECONDS = 300


@dataclass(frozen=True)
class ActiveSubscription:
    pk: int
    event_types: tuple[str, ...]

    def wants(self, event_type: str) -> bool:
        return event_type in self.event_types


def active_subscriptions() -> list[ActiveSubscription]:
    held = cache.get(SUBSCRIPTIONS_CACHE_KEY)
    if held is None:
        held = [
            ActiveSubscription(pk, tuple(types or ()))
            for pk, types in Subscription.objects.filter(is_active=True).values_list(
                "pk", "event_types"
            )
        ]
        cache.set(SUBSCRIPTIONS_CACHE_KEY, held, SUBSCRIPTIONS_CACHE_SECONDS)
    return held


def forget_subscriptions() -> None:
    cache.delete(SUBSCRIPTIONS_CACHE_KEY)


@receiver([post_save, post_delete], sender=Subscription)
def subscription_changed(sender, **kwargs) -> None:
    forget_subscriptions()
    # Again once committed: a concurrent emit may have cached the rows as they were before.
    transaction.on_commit(forget_subscriptions)


def emit(event_type: str, case: Case, *, data: dict | None = None) -> list[Delivery]:
    """Call from an action inside `transaction.on_commit`: the event is then about a state
    that really happened. Returns the deliveries created (none without subscribers)."""
    if event_type not in EventType.values:
        raise ValueError(f"unknown webhook event {event_type}")
    subs = [s for s in active_subscriptions() if s.wants(event_type)]
    if not subs:
        return []
    payload = {
        "id": str(uuid.uuid4()),
        "type": event_type,
        "created_at": timezone.localtime().isoformat(timespec="seconds"),
        "data": {"case": case_payload(case), **(data or {})},
    }
    return _record(subs, event_type, payload, case.number)


def send_test_event(subscription: Subscription) -> Delivery:
    """The admin's "send test event": a ping to this subscription, whatever it listens to."""
    payload = {
        "id": str(uuid.uuid4()),
        "type": EventType.PING.value,
        "created_at": timezone.localtime().isoformat(timespec="seconds"),
        "data": {"subscription": subscription.name},
    }
    return _record([subscription], EventType.PING, payload, "")[0]


def _record(subs, event_type: str, payload: dict, number: str) -> list[Delivery]:
    with transaction.atomic():
        deliveries = [
            Delivery.objects.create(
                subscription_id=sub.pk,
                event_id=payload["id"],
                event_type=event_type,
                case_number=number,
                payload=payload,
            )
            for sub in subs
        ]
    for d in deliveries:
        transaction.on_commit(lambda pk=d.pk: schedule(pk))
    return deliveries


@task()
def deliver_webhook(delivery_id: int) -> str:
    """One attempt; a failure re-enqueues itself with `run_after` (exponential back-off)."""
    return attempt(delivery_id)


def schedule(delivery_id: int, run_after: datetime | None = None) -> None:
    task = deliver_webhook
    if run_after is not None and task.get_backend().supports_defer:
        task = task.using(run_after=run_after)
    task.enqueue(delivery_id)


def backoff(attempt: int) -> timedelta:
    """Delay before try number `attempt + 1`: doubling from backoff_seconds, capped."""
    seconds = config("backoff_seconds") * 2 ** max(attempt - 1, 0)
    return timedelta(seconds=min(seconds, config("backoff_cap_seconds")))


def attempt(delivery_id: int) -> str:
    """One try. Claims the delivery with a conditional update so that two workers never send
    the same attempt twice; returns the delivery's new status."""
    claimed = Delivery.objects.filter(
        pk=delivery_id, status__in=[DeliveryStatus.PENDING, DeliveryStatus.RETRYING]
    ).update(status=DeliveryStatus.SENDING, attempts=F("attempts") + 1)
    if not claimed:
        return "skipped"
    delivery = Delivery.objects.select_related("subscription").get(pk=delivery_id)
    sub = delivery.subscription
    if not sub.is_active:
        Delivery.objects.filter(pk=delivery_id).update(status=DeliveryStatus.CANCELLED)
        return DeliveryStatus.CANCELLED
    body = json.dumps(delivery.payload, ensure_ascii=False, separators=(",", ":")).encode()
    ts = int(time.time())
    req = urllib.request.Request(
        sub.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "GridCity-Webhooks/1",
            "X-GridCity-Event": delivery.event_type,
            "X-GridCity-Delivery": str(delivery.event_id),
            "X-GridCity-Timestamp": str(ts),
            "X-GridCity-Signature": sign(sub.secret, ts, body),
        },
    )
    started = time.monotonic()
    code, err = None, ""
    try:
        with urllib.request.urlopen(req, timeout=config("timeout_seconds")) as resp:  # noqa: S310
            code = resp.status
            resp.read(1024)
    except urllib.error.HTTPError as exc:
        code, err = exc.code, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        err = str(getattr(exc, "reason", exc))[:500] or exc.__class__.__name__
    ok = code is not None and 200 <= code < 300
    now = timezone.now()
    DeliveryAttempt.objects.create(
        delivery=delivery,
        number=delivery.attempts,
        at=now,
        status_code=code,
        error=err,
        duration_ms=int((time.monotonic() - started) * 1000),
        succeeded=ok,
    )
    if ok:
        Delivery.objects.filter(pk=delivery_id).update(
            status=DeliveryStatus.SUCCEEDED, delivered_at=now, next_attempt_at=None
        )
        Subscription.objects.filter(pk=sub.pk).update(consecutive_failures=0)
        return DeliveryStatus.SUCCEEDED
    Subscription.objects.filter(pk=sub.pk).update(
        consecutive_failures=F("consecutive_failures") + 1
    )
    disabled = Subscription.objects.filter(
        pk=sub.pk, is_active=True, consecutive_failures__gte=config("disable_after")
    ).update(is_active=False, disabled_at=now)
    if disabled:
        forget_subscriptions()
        log.warning("webhook subscription %s disabled after repeated failures", sub.pk)
    if disabled or delivery.attempts >= config("max_attempts"):
        Delivery.objects.filter(pk=delivery_id).update(
            status=DeliveryStatus.FAILED, next_attempt_at=None
        )
        return DeliveryStatus.FAILED
    run_after = now + backoff(delivery.attempts)
    Delivery.objects.filter(pk=delivery_id).update(
        status=DeliveryStatus.RETRYING, next_attempt_at=run_after
    )
    schedule(delivery_id, run_after)
    return DeliveryStatus.RETRYING
