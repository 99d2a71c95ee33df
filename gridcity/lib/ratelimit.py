"""Rate limits on the installation's shared cache: Redis when several nodes run, the data
directory's files on one node. Every worker of every node counts against the same quota.

`hit(scope, identity, (count, seconds))` counts one request and says whether it is allowed. It
is a sliding-window counter: the current fixed window's count plus the previous window's count
weighted by the part of it that still lies within the last `seconds`. Unlike a plain fixed
window, a client cannot send its quota at the end of one window and again at the start of the
next; and it keeps two integers per identity, whatever the traffic.

A refused request uses no quota, so a client that retries too fast is held back only by what it
was allowed earlier, and a flood of refused requests writes nothing."""

import hashlib
import ipaddress
import logging
import math
import os
import sqlite3
import threading
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
        counter = _counter()
        with counter.exclusive():
            prev, cur = counter.read(prev_key, cur_key)
            if prev * weight + cur + 1 > count:
                return Verdict(False, _wait(count, seconds, elapsed, prev, cur))
            # The counter outlives its window: the next window weighs it.
            n = counter.increment(cur_key, 1, 2 * seconds + 1)
            if prev * weight + n > count:
                # Another process took the last request in between.
                counter.increment(cur_key, -1, 2 * seconds + 1)
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


class _CacheCounter:
    """Counts in a cache that increments atomically (Redis, local memory): no lock needed."""

    def __init__(self, cache) -> None:
        self.cache = cache

    @contextmanager
    def exclusive(self):
        yield

    def read(self, prev_key: str, cur_key: str) -> tuple[int, int]:
        seen = self.cache.get_many([prev_key, cur_key])
        return int(seen.get(prev_key, 0)), int(seen.get(cur_key, 0))

    def increment(self, key: str, delta: int, timeout: int) -> int:
        self.cache.add(key, 0, timeout)
        try:
            return self.cache.incr(key, delta)
        except ValueError:  # evicted between add and incr
            self.cache.add(key, 0, timeout)
            return self.cache.incr(key, delta)


class _FileCounter:
    """One node without Redis: the counts live in a small SQLite file beside the file cache.
    Django's file cache rewrites a file and lists its whole directory on every write (about
    3 ms a request); one SQLite write transaction serialises the node's workers and costs a
    fraction of that. The counts are not worth an fsync: losing the last ones in a power cut
    only forgives a few requests."""

    PRUNE_EVERY = 1000

    def __init__(self, directory: str) -> None:
        os.makedirs(directory, exist_ok=True)
        self.path = os.path.join(directory, "ratelimit.sqlite3")
        self._local = threading.local()

    @property
    def db(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            conn = sqlite3.connect(self.path, timeout=5, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=OFF")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS hits "
                "(key TEXT PRIMARY KEY, n INTEGER NOT NULL, expires REAL NOT NULL)"
            )
            self._local.conn, self._local.pid, self._local.writes = conn, os.getpid(), 0
        return conn

    @contextmanager
    def exclusive(self):
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def read(self, prev_key: str, cur_key: str) -> tuple[int, int]:
        rows = dict(
            self.db.execute(
                "SELECT key, n FROM hits WHERE key IN (?, ?) AND expires > ?",
                (prev_key, cur_key, time.time()),
            ).fetchall()
        )
        return int(rows.get(prev_key, 0)), int(rows.get(cur_key, 0))

    def increment(self, key: str, delta: int, timeout: int) -> int:
        now = time.time()
        self._local.writes += 1
        if self._local.writes % self.PRUNE_EVERY == 0:
            self.db.execute("DELETE FROM hits WHERE expires <= ?", (now,))
        (n,) = self.db.execute(
            "INSERT INTO hits (key, n, expires) VALUES (?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET n = CASE WHEN expires > ? THEN n + ? ELSE ? END, "
            "expires = excluded.expires RETURNING n",
            (key, delta, now + timeout, now, delta, delta),
        ).fetchone()
        return int(n)

    def clear(self) -> None:
        self.db.execute("DELETE FROM hits")


_file_counters: dict[str, _FileCounter] = {}


def _counter():
    cache = caches["default"]
    if not isinstance(cache, FileBasedCache):
        return _CacheCounter(cache)
    counter = _file_counters.get(cache._dir)
    if counter is None:
        counter = _file_counters[cache._dir] = _FileCounter(cache._dir)
    return counter


def forget_counts() -> None:
    """Start every quota of a single node afresh (the tests do, between tests)."""
    counter = _counter()
    if isinstance(counter, _FileCounter):
        counter.clear()
