"""A value each process keeps in memory until the stamp it was built under changes.

Rules, calendars and the grid are read by every report and change a few times a year. A process
keeps them, and asks a shared place (the database) for the current stamp at most every
`check_every` seconds: an edit on any node reaches every process on every node within that
time, at the cost of one tiny read per interval, not one per use."""

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class StampedValue(Generic[T]):
    def __init__(
        self,
        load: Callable[[], T],
        read_stamp: Callable[[], str],
        *,
        check_every: float | Callable[[], float] = 0.5,
    ) -> None:
        self._load = load
        self._read_stamp = read_stamp
        self.check_every = check_every
        self._value: tuple[str, T] | None = None
        self._checked_at = 0.0
        self._lock = threading.Lock()

    def get(self) -> T:
        held = self._value
        now = time.monotonic()
        every = self.check_every() if callable(self.check_every) else self.check_every
        if held is not None and now - self._checked_at < every:
            return held[1]
        stamp = self._read_stamp()
        self._checked_at = now
        if held is not None and held[0] == stamp:
            return held[1]
        with self._lock:
            if self._value is None or self._value[0] != stamp:
                self._value = (stamp, self._load())
            return self._value[1]

    def forget(self) -> None:
        """Drop the value: the next `get` reads the stamp and loads again."""
        self._value, self._checked_at = None, 0.0
