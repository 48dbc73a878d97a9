"""Frozen settings for the client, with every default named in one place.

Each policy is a frozen dataclass; override per client or per call with :func:`dataclasses.replace`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .errors import ValidationError

__all__ = [
    "DEFAULT_BATCH_POLICY",
    "DEFAULT_POLL_POLICY",
    "DEFAULT_RATE_LIMIT_POLICY",
    "DEFAULT_REQUEST_TIMEOUT",
    "DEFAULT_RESULT_TIMEOUT",
    "DEFAULT_RETRY_POLICY",
    "DEFAULT_SHOTS",
    "MAX_SHOTS",
    "BatchPolicy",
    "PollPolicy",
    "RateLimitPolicy",
    "RetryPolicy",
]

DEFAULT_REQUEST_TIMEOUT = 120.0
"""Seconds one HTTP request may take (IQM's default; env ``IQM_CLIENT_REQUESTS_TIMEOUT`` overrides)."""

DEFAULT_RESULT_TIMEOUT = 10800.0
"""Seconds a result wait may take when the caller gives no timeout (IQM's 3 h)."""

DEFAULT_SHOTS = 1024
"""Shots per circuit when the caller gives none (Qiskit's ``run()`` default)."""

MAX_SHOTS = 1_000_000
"""Most shots per circuit the client sends; more is almost surely a typo (the embedded server's limit too)."""


def _check_positive(name: str, value: float, *, allow_zero: bool = False) -> None:
    ok = value >= 0 if allow_zero else value > 0
    if not (ok and math.isfinite(value)):
        bound = "non-negative" if allow_zero else "positive"
        raise ValidationError(f"{name} must be a finite {bound} number, got {value!r}")


@dataclass(frozen=True)
class RetryPolicy:
    """How the transport retries one HTTP request (never job polling, which is :class:`PollPolicy`)."""

    max_attempts: int = 6
    """Attempts in all, the first included."""
    total_timeout: float = 300.0
    """Seconds after which no further attempt starts, whatever ``max_attempts`` says."""
    base_delay: float = 0.5
    """Delay before the second attempt; each later one doubles it."""
    max_delay: float = 30.0
    """Cap on one backoff delay."""
    jitter: float = 0.25
    """Random extra delay, as a fraction of the computed delay (0 turns jitter off)."""
    retry_statuses: frozenset[int] = frozenset({408, 429, 502, 503, 504})
    """Statuses retried for idempotent requests; submits retry only 429."""
    max_retry_after: float = 120.0
    """Longest ``Retry-After`` obeyed; a longer one raises :class:`~iqm_async.errors.RateLimitError`."""

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValidationError(f"max_attempts must be at least 1, got {self.max_attempts}")
        _check_positive("total_timeout", self.total_timeout)
        _check_positive("base_delay", self.base_delay, allow_zero=True)
        _check_positive("max_delay", self.max_delay, allow_zero=True)
        _check_positive("jitter", self.jitter, allow_zero=True)
        _check_positive("max_retry_after", self.max_retry_after, allow_zero=True)


@dataclass(frozen=True)
class PollPolicy:
    """How job status is polled while waiting for a final state."""

    first_delay: float = 0.1
    """Delay between submit (or the start of a wait) and the first status poll."""
    factor: float = 1.5
    """Growth of the interval while nothing changes."""
    max_interval: float = 10.0
    """Cap on the interval for a job at the head of the queue or processing."""
    per_queue_position: float = 1.0
    """Extra seconds of interval per job ahead in the queue (a job deep in the queue is polled rarely)."""
    max_queued_interval: float = 30.0
    """Cap on the interval for a job deep in the queue."""
    completion_margin: float = 0.02
    """Seconds added after an estimate of completion, so the poll lands just after it."""
    dense_interval: float = 0.2
    """Longest interval between polls in the window where a job's completion is forecast (from this client's
    earlier jobs on the same calibration set); shorter when the forecast is sharp."""
    allowance_interval: float = 1.0
    """While polling around a forecast, a job's execution costs no more status requests than polling every this
    many seconds from its start would (IQM's client polls every second); a shorter ``max_interval`` wins."""

    def __post_init__(self) -> None:
        _check_positive("first_delay", self.first_delay, allow_zero=True)
        if not (self.factor >= 1.0 and math.isfinite(self.factor)):
            raise ValidationError(f"factor must be at least 1.0, got {self.factor!r}")
        _check_positive("max_interval", self.max_interval)
        _check_positive("per_queue_position", self.per_queue_position, allow_zero=True)
        _check_positive("max_queued_interval", self.max_queued_interval)
        _check_positive("completion_margin", self.completion_margin, allow_zero=True)
        _check_positive("dense_interval", self.dense_interval)
        _check_positive("allowance_interval", self.allowance_interval, allow_zero=True)


@dataclass(frozen=True)
class RateLimitPolicy:
    """How the client spends the server's request budget (docs/protocol.md#rate-limits)."""

    enabled: bool = True
    """Follow ``RateLimit-*`` headers; off leaves only ``Retry-After`` handling."""
    low_water_fraction: float = 0.05
    """Share of ``RateLimit-Limit`` kept free: requests wait rather than fill the window past the rest. The budget's
    own accounting is conservative (a charge counts from admission until a window after its reply), so 5 % is
    left for other clients' requests between two replies; each further 5 % would cost about 5 % of a batch's pace."""
    window_seconds: float = 10.0
    """The server's rolling window; a paused budget resumes after it has rolled over."""
    costs: dict[str, int] = field(default_factory=lambda: {"submit": 100, "cancel": 100, "delete": 100, "read": 10})
    """Units charged per request kind, used to pace requests before the headers are known."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.low_water_fraction < 1.0:
            raise ValidationError(f"low_water_fraction must be in [0, 1), got {self.low_water_fraction!r}")
        _check_positive("window_seconds", self.window_seconds)


@dataclass(frozen=True)
class BatchPolicy:
    """How a batch groups circuits into jobs and bounds its concurrency."""

    max_in_flight: int = 64
    """Most jobs under way at once, from before their submit until their results are downloaded."""
    circuits_per_job: int | None = None
    """Most circuits per job; ``None`` means ``batch.DEFAULT_CIRCUITS_PER_JOB`` (100). A job is also cut so
    its request body stays under ``batch.MAX_JOB_BODY_BYTES``."""

    def __post_init__(self) -> None:
        if self.max_in_flight < 1:
            raise ValidationError(f"max_in_flight must be at least 1, got {self.max_in_flight}")
        if self.circuits_per_job is not None and self.circuits_per_job < 1:
            raise ValidationError(f"circuits_per_job must be at least 1 or None, got {self.circuits_per_job}")


DEFAULT_RETRY_POLICY = RetryPolicy()
DEFAULT_POLL_POLICY = PollPolicy()
DEFAULT_RATE_LIMIT_POLICY = RateLimitPolicy()
DEFAULT_BATCH_POLICY = BatchPolicy()
