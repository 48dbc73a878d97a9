"""The retry decision and delay as pure functions: a table per request kind."""

from __future__ import annotations

import pytest

from iqm_async._config import RetryPolicy
from iqm_async._retry import NotSentError, next_delay, should_retry
from iqm_async.errors import (
    APIValidationError,
    AuthenticationError,
    BadGatewayError,
    ConflictError,
    ConnectError,
    DataSizeError,
    ForbiddenError,
    GatewayTimeoutError,
    InternalSystemError,
    InvalidOperationError,
    MalformedResponseError,
    NotFoundError,
    RateLimitError,
    RequestTimeoutError,
    SystemUnavailableError,
)

P = RetryPolicy()


def status(cls, code, **kw):
    return cls("x", status_code=code, **kw)


CASES = [
    # error, read, cancel, submit
    (status(RateLimitError, 429, retry_after=2.0), True, True, True),
    (status(RateLimitError, 429), True, True, True),
    (status(RateLimitError, 429, retry_after=10_000.0), False, False, False),
    (status(BadGatewayError, 502), True, True, False),
    (status(SystemUnavailableError, 503), True, True, False),
    (status(GatewayTimeoutError, 504), True, True, False),
    (status(InternalSystemError, 500), False, False, False),
    (status(InvalidOperationError, 400), False, False, False),
    (status(AuthenticationError, 401), False, False, False),
    (status(ForbiddenError, 403), False, False, False),
    (status(NotFoundError, 404), False, False, False),
    (status(ConflictError, 409), False, False, False),
    (status(DataSizeError, 413), False, False, False),
    (status(APIValidationError, 422), False, False, False),
    (NotSentError("refused"), True, True, True),
    (ConnectError("dropped"), True, True, False),
    (RequestTimeoutError("slow"), True, True, False),
    (MalformedResponseError("junk"), True, True, False),
    (ValueError("ours"), False, False, False),
]


@pytest.mark.parametrize(("error", "read", "cancel", "submit"), CASES, ids=lambda v: type(v).__name__)
def test_should_retry_table(error, read, cancel, submit) -> None:
    assert should_retry(error, "read", P) is read
    assert should_retry(error, "cancel", P) is cancel
    assert should_retry(error, "submit", P) is submit


@pytest.mark.parametrize(("attempt", "expected"), [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (7, 30.0), (20, 30.0)])
def test_backoff_is_exponential_and_capped_without_jitter(attempt, expected) -> None:
    assert next_delay(attempt, P, rand=lambda: 0.0) == expected


def test_jitter_adds_at_most_the_configured_fraction() -> None:
    assert next_delay(1, P, rand=lambda: 1.0) == pytest.approx(0.5 * 1.25)


@pytest.mark.parametrize("retry_after", [0.0, 1.0, 7.0, 60.0])
def test_retry_after_is_a_floor(retry_after) -> None:
    assert next_delay(1, P, retry_after=retry_after, rand=lambda: 0.0) >= retry_after
    assert next_delay(1, P, retry_after=retry_after, rand=lambda: 1.0) <= retry_after * 1.05 + 0.5 * 1.25


def test_retry_after_is_capped() -> None:
    assert next_delay(1, RetryPolicy(max_retry_after=5.0, max_delay=1.0), retry_after=100.0, rand=lambda: 0.0) == 5.0


@pytest.mark.parametrize(
    "kwargs", [{"max_attempts": 0}, {"base_delay": -1.0}, {"jitter": float("nan")}, {"total_timeout": 0.0}]
)
def test_policy_rejects_bad_values(kwargs) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)
