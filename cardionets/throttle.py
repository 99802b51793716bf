"""Back-off after failed attempts (admin passwords, reader-study codes), kept per key in one server process.

    backoff = Backoff()
    keys = (f"session:{session_id}", f"client:{address}")
    if (wait := backoff.wait_s(*keys)) > 0: ...      # refuse without checking, say how long
    elif ok: backoff.succeeded(*keys) else: backoff.failed(*keys)

The first ``free`` failures of a key cost nothing; each one after that doubles the wait before the next attempt
is looked at, from ``base_s`` up to ``longest_s``. A new browser session does not reset the client's key, and a
new address does not reset the session's, so neither reloading the page nor rotating addresses from one session
buys more guesses. A success clears both. Keys that have not failed for a day are forgotten.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

FORGET_AFTER_S = 24 * 3600.0


@dataclass
class Backoff:
    free: int = 3
    base_s: float = 1.0
    longest_s: float = 300.0
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, tuple[int, float]] = field(default_factory=dict)  # key -> (count, time of the last)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _wait_for(self, key: str, now: float) -> float:
        count, last = self._failures.get(key, (0, now))
        if count < self.free:
            return 0.0
        return max(0.0, last + min(self.longest_s, self.base_s * 2 ** (count - self.free)) - now)

    def wait_s(self, *keys: str) -> float:
        """Seconds before an attempt under any of ``keys`` is looked at (0: now)."""
        with self._lock:
            now = self.clock()
            return max((self._wait_for(key, now) for key in keys), default=0.0)

    def failed(self, *keys: str) -> None:
        with self._lock:
            now = self.clock()
            for key in keys:
                count, _ = self._failures.get(key, (0, now))
                self._failures[key] = (count + 1, now)
            stale = [key for key, (_, last) in self._failures.items() if now - last > FORGET_AFTER_S]
            for key in stale:
                del self._failures[key]

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)
