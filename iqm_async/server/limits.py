"""Server-side request budget (docs/protocol.md, docs/protocol.md): rolling-window quota per bearer token, then a block.

The clock is injected, so the limiter is tested without sleeping::

    now = [0.0]
    limiter = RateLimiter(RateLimitConfig(quota=30), clock=lambda: now[0])
    assert limiter.charge("t", 20).allowed
    assert not limiter.charge("t", 20).allowed   # over quota: blocked for block_s
    now[0] += 30.0
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from .config import RateLimitConfig

__all__ = ["GLOBAL_BUCKET", "Decision", "RateLimiter", "request_cost"]

GLOBAL_BUCKET = "<global>"
"""Bucket key used when authentication is off."""


@dataclass(frozen=True)
class Decision:
    """Outcome of one admission check, with the values of the rate-limit headers."""

    allowed: bool
    limit: int
    remaining: int
    retry_after: int | None = None
    """Whole seconds until the block ends; set only when refused."""
    limited: bool = True
    """False when rate limiting is off: then no ``RateLimit-*`` headers are sent, so clients do not pace."""

    def headers(self) -> dict[str, str]:
        """Return the ``RateLimit-*`` (and, when refused, ``Retry-After``) headers for this decision."""
        if not self.limited:
            return {}
        out = {"RateLimit-Limit": str(self.limit), "RateLimit-Remaining": str(self.remaining)}
        if self.retry_after is not None:
            out["Retry-After"] = str(self.retry_after)
        return out


@dataclass
class _Bucket:
    entries: deque[tuple[float, int]] = field(default_factory=deque)
    used: int = 0
    blocked_until: float = -math.inf

    def expire(self, now: float, window: float) -> None:
        while self.entries and self.entries[0][0] <= now - window:
            _, cost = self.entries.popleft()
            self.used -= cost


def request_cost(config: RateLimitConfig, method: str, path: str, body_bytes: int = 0) -> int:
    """Return the cost of a request to ``path`` under ``/api/v1`` (docs/protocol.md#rate-limits table plus E10)."""
    parts = path.rstrip("/").split("/")
    # parts: "", "api", "v1", "jobs", ...
    tail = parts[3:] if len(parts) >= 3 and parts[1] == "api" else []
    method = method.upper()
    if method == "POST" and len(tail) == 3 and tail[0] == "jobs" and tail[2] == "circuit":
        return config.submit_cost(body_bytes)
    if method == "POST" and len(tail) == 3 and tail[0] == "jobs" and tail[2] == "cancel":
        return config.cost_cancel
    if method == "DELETE" and len(tail) == 2 and tail[0] == "jobs":
        return config.cost_delete
    return config.cost_read


class RateLimiter:
    """Admission control over per-key rolling windows; thread-safe, clock injected."""

    def __init__(self, config: RateLimitConfig, clock: Callable[[], float] = time.monotonic):
        self.config = config
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()
        self.refused = 0
        """Requests answered 429 by the limiter since the last reset."""

    def charge(self, key: str, cost: int) -> Decision:
        """Admit and charge a request of ``cost`` units to bucket ``key``, or refuse it (uncharged)."""
        cfg = self.config
        if not cfg.enabled:
            return Decision(True, cfg.quota, cfg.quota, limited=False)
        with self._lock:
            now = self._clock()
            bucket = self._buckets.setdefault(key, _Bucket())
            bucket.expire(now, cfg.window_s)
            if bucket.blocked_until > now:
                self.refused += 1
                return self._refusal(bucket, now)
            if bucket.used + cost > cfg.quota:
                bucket.blocked_until = now + cfg.block_s
                self.refused += 1
                return self._refusal(bucket, now)
            bucket.entries.append((now, cost))
            bucket.used += cost
            return Decision(True, cfg.quota, max(0, cfg.quota - bucket.used))

    def peek(self, key: str) -> Decision:
        """Return the current headers of bucket ``key`` without charging anything."""
        cfg = self.config
        if not cfg.enabled:
            return Decision(True, cfg.quota, cfg.quota, limited=False)
        with self._lock:
            now = self._clock()
            bucket = self._buckets.get(key)
            if bucket is None:
                return Decision(True, cfg.quota, cfg.quota)
            bucket.expire(now, cfg.window_s)
            return Decision(bucket.blocked_until <= now, cfg.quota, max(0, cfg.quota - bucket.used))

    def reset(self) -> None:
        """Forget every bucket and the refusal counter."""
        with self._lock:
            self._buckets.clear()
            self.refused = 0

    def _refusal(self, bucket: _Bucket, now: float) -> Decision:
        cfg = self.config
        # At least 1 s, so that a client never gets "Retry-After: 0" and spins.
        retry = max(1, math.ceil(bucket.blocked_until - now))
        return Decision(False, cfg.quota, max(0, cfg.quota - bucket.used), retry_after=retry)
