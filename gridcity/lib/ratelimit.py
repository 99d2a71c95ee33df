"""Rate limits on the installation's shared cache: Redis when several nodes run, the data
directory's files on one node. Every worker of every node counts against the same quota.

`hit(scope, identity, (count, seconds))` counts one request and says whether it is allowed. It
is a sliding-window counter: the current fixed window's count plus the previous window's count
weighted by the part of it that still lies within the last `seconds`. Unlike a plain fixed
window, a client cannot send its quota at the end of one window and again at the start of the
next; and it keeps two integers per identity, whatever the traffic.

A refused request uses no quota, so a client that retries too fast is held back only by what it
was allowed earlier, and a flood of refused requests writes nothing."""

import fcntl
import hashlib
import ipaddress
import logging
import math
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass

from django.core.cache import caches
from django.core.cache.backends.filebased import FileBasedCache

log = logging.getLogger(__name__)

Rate = tuple[int, int]  # (requests, seconds); 0 requests means no limit


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    # Whole seconds until a request of this identity would be allowed again; 0 when allowed.
    retry_after: int = 0


def per_address(ip: str) -> str:
    """The identity of a client address. An IPv6 subscriber is usually given a whole /64, so
    its addresses count as one; an IPv4 address counts on its own."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ip[:64]
    if addr.version == 6:
        return str(ipaddress.ip_network(f"{addr}/64", strict=False))
    return str(addr)


def hit(scope: str, identity: str, rate: Rate | None) -> Verdict:
    if not rate or rate[0] <= 0:
        return Verdict(True)
    count, seconds = int(rate[0]), max(1, int(rate[1]))
    now = time.time()
    window = int(now // seconds)
    elapsed = now - window * seconds
    digest = hashlib.sha256(identity.encode()).hexdigest()[:32]
    cur_key = f"rl:{scope}:{seconds}:{digest}:{window}"
    prev_key = f"rl:{scope}:{seconds}:{digest}:{window - 1}"
    weight = 1 - elapsed / seconds
    try:
        with _exclusive() as counter:
            seen = counter.get_many([prev_key, cur_key])
            prev, cur = int(seen.get(prev_key, 0)), int(seen.get(cur_key, 0))
            if prev * weight + cur + 1 > count:
                return Verdict(False, _wait(count, seconds, elapsed, prev, cur))
            # The counter outlives its window: the next window weighs it.
            n = _increment(counter, cur_key, 1, 2 * seconds + 1)
            if prev * weight + n > count:
                # Another process took the last request in between.
                _increment(counter, cur_key, -1, 2 * seconds + 1)
                return Verdict(False, _wait(count, seconds, elapsed, prev, n - 1))
    except Exception:  # noqa: BLE001
        # The shared cache is down: /readyz reports it. Refusing every request would take
        # the city's intake down with it, so requests pass uncounted until it is back.
        log.exception("rate limit %s: the cache cannot count", scope)
        return Verdict(True)
    return Verdict(True)


def _wait(count: int, seconds: int, elapsed: float, prev: int, cur: int) -> int:
    """Seconds until prev·(1 − t/seconds) + cur + 1 ≤ count, this window or the next."""
    if cur < count:
        # Room in this window once enough of the previous one has slid out.
        at = seconds * (1 - (count - cur - 1) / prev) if prev else elapsed
        return max(1, math.ceil(at - elapsed))
    # This window is full: wait into the next one until this window's share is small enough.
    later = seconds * (1 - (count - 1) / cur)
    return max(1, math.ceil(seconds - elapsed + later))


@contextmanager
def _exclusive():
    """The cache to count in, held for this process alone when its backend cannot increment
    atomically. Redis and local memory can; Django's file cache reads and rewrites a file, so
    two workers of a node would each miss the other's count. A lock file in the cache's
    directory serialises them."""
    counter = caches["default"]
    if not isinstance(counter, FileBasedCache):
        yield counter
        return
    os.makedirs(counter._dir, exist_ok=True)
    with open(os.path.join(counter._dir, "ratelimit.lock"), "ab") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield counter
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _increment(counter, key: str, delta: int, timeout: int) -> int:
    if isinstance(counter, FileBasedCache):
        # Held under the lock; a plain `incr` would also reset the expiry to the default.
        n = int(counter.get(key, 0)) + delta
        counter.set(key, n, timeout)
        return n
    counter.add(key, 0, timeout)
    try:
        return counter.incr(key, delta)
    except ValueError:  # evicted between add and incr
        counter.add(key, 0, timeout)
        return counter.incr(key, delta)
