"""When to retry one HTTP request and how long to wait: pure functions plus a tenacity factory.

The decision depends on the request *kind*: reads and cancels are idempotent and retry on transport
errors, malformed 2xx bodies, 408/429/5xx; a submit (``"submit"``) is not idempotent and retries only
when the server provably did not act on it: a 429, or a connection that failed before the request
was sent. Job polling has its own policy in :mod:`iqm_async.polling`.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import Literal

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, stop_after_delay

from ._config import RetryPolicy
from .errors import (
    APIStatusError,
    MalformedResponseError,
    RateLimitError,
    ServerUnreachableError,
    TLSVerificationError,
    TransportError,
)

__all__ = ["RequestKind", "NotSentError", "make_retrying", "next_delay", "should_retry"]

RequestKind = Literal["read", "submit", "cancel", "delete"]


NotSentError = ServerUnreachableError
"""The connection failed before any byte of the request was sent, so the server saw nothing (the public
:class:`~iqm_async.errors.ServerUnreachableError`; this name is kept for the retry table)."""


def should_retry(error: BaseException, kind: RequestKind, policy: RetryPolicy) -> bool:
    """Decide whether a failed attempt of a request of ``kind`` may be sent again."""
    if isinstance(error, RateLimitError):
        if error.retry_after is not None and error.retry_after > policy.max_retry_after:
            return False
        return 429 in policy.retry_statuses
    if isinstance(error, TLSVerificationError):
        return False  # a certificate that cannot be verified will not verify on the next try either
    if kind == "submit":
        # Anything else might have created the job: re-sending could run it twice.
        return isinstance(error, NotSentError)
    if isinstance(error, APIStatusError):
        return error.status_code in policy.retry_statuses
    return isinstance(error, (TransportError, MalformedResponseError))


def next_delay(
    attempt: int,
    policy: RetryPolicy,
    *,
    retry_after: float | None = None,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before attempt ``attempt + 1`` (``attempt`` counts from 1).

    Exponential from ``base_delay`` with jitter, capped at ``max_delay``. A server's ``Retry-After``
    is a floor (never retry earlier than the server asked) and is capped at ``max_retry_after``.
    """
    backoff = min(policy.max_delay, policy.base_delay * (2.0 ** max(0, attempt - 1)))
    delay = backoff * (1.0 + policy.jitter * rand())
    if retry_after is not None:
        # Never earlier than the server asked; a little jitter keeps clients from returning in lock-step.
        floor = min(retry_after, policy.max_retry_after)
        delay = max(delay, floor * (1.0 + policy.jitter * rand() * 0.2))
    return min(delay, max(policy.max_delay, policy.max_retry_after))


def make_retrying(
    kind: RequestKind,
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], Awaitable[None]],
    rand: Callable[[], float] = random.random,
    before_sleep: Callable[[RetryCallState], Awaitable[None] | None] | None = None,
    give_up: Callable[[RetryCallState], bool] | None = None,
) -> AsyncRetrying:
    """Build tenacity's ``AsyncRetrying`` for one request from the policy, with ``sleep`` injected.

    ``give_up`` may end the retries earlier than the policy would (for example while the server has
    never been reached at all).
    """

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        retry_after: float | None = exc.retry_after if isinstance(exc, RateLimitError) else None
        return next_delay(state.attempt_number, policy, retry_after=retry_after, rand=rand)

    limit = stop_after_attempt(policy.max_attempts) | stop_after_delay(policy.total_timeout)

    def stop(state: RetryCallState) -> bool:
        return bool(limit(state)) or (give_up is not None and give_up(state))

    return AsyncRetrying(
        retry=retry_if_exception(lambda e: should_retry(e, kind, policy)),
        stop=stop,
        wait=wait,
        sleep=sleep,
        reraise=True,
        before_sleep=before_sleep,
    )
