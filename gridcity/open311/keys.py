"""Issuing, revoking and checking Open311 api_keys.

Every Open311 request checks its key, so the active keys are kept in each process's memory
under a configuration stamp (`gridcity.system.stamps`): a key created, changed in the admin or
revoked reaches every process on every node within GRIDCITY_STAMP_CHECK_SECONDS, at the cost of
one tiny read per interval instead of one query per request."""

import threading
import time

from django.utils import timezone

from gridcity.open311.models import ApiKey, hash_key
from gridcity.system import stamps

STAMP = "open311_keys"
# A busy partner should not write on every request: each process touches a key's
# `last_used_at` at most this often.
TOUCH_EVERY_S = 60.0


class KeyExists(Exception):
    pass


def _load_active() -> dict[str, ApiKey]:
    return {k.key_hash: k for k in ApiKey.objects.filter(revoked_at__isnull=True)}


active_keys = stamps.stamped(STAMP, _load_active)
_touched: dict[int, float] = {}
_touch_lock = threading.Lock()


def keys_changed() -> None:
    """Call after any change to a key, also one made with `QuerySet.update`."""
    stamps.changed(STAMP, active_keys)


def forget_keys() -> None:
    """Drop this process's copy (tests: a rolled-back key must not survive in memory)."""
    active_keys.forget()
    _touched.clear()


def do_create_api_key(name: str) -> str:
    """Returns the raw key; only its hash is stored, so it is shown once."""
    name = name.strip()
    if not name:
        raise ValueError("name is required")
    if ApiKey.objects.filter(name=name).exists():
        raise KeyExists(name)
    raw = ApiKey.generate_raw()
    ApiKey.objects.create(name=name, key_hash=hash_key(raw), prefix=raw[:10])
    return raw


def do_revoke_api_key(name: str) -> bool:
    """True if an active key was revoked. Conditional update: revoking twice is harmless."""
    n = ApiKey.objects.filter(name=name, revoked_at__isnull=True).update(revoked_at=timezone.now())
    if n:
        keys_changed()
    return bool(n)


def authenticate_key(raw: str | None) -> ApiKey | None:
    if not raw or len(raw) > 200:
        return None
    key = active_keys.get().get(hash_key(raw))
    if key is None:
        return None
    now = time.monotonic()
    with _touch_lock:
        due = now - _touched.get(key.pk, -TOUCH_EVERY_S) >= TOUCH_EVERY_S
        if due:
            _touched[key.pk] = now
    if due:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now())
    return key
