"""Rate limiting: the limiter with an injected clock, then headers, 429s and auth over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from srvkit import assert_error, job, submit

from iqm_async.server import RateLimitConfig, RunningServer, serve_in_thread
from iqm_async.server.limits import Decision, RateLimiter, request_cost

MIB = 1024 * 1024


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_admits_until_the_quota_then_blocks(clock: Clock) -> None:
    limiter = RateLimiter(RateLimitConfig(quota=100, window_s=10, block_s=30), clock=clock)
    for used in range(10, 101, 10):
        assert limiter.charge("k", 10) == Decision(True, 100, 100 - used)
    refused = limiter.charge("k", 10)
    assert refused == Decision(False, 100, 0, retry_after=30)
    assert limiter.refused == 1


def test_block_lasts_block_s_and_counts_down(clock: Clock) -> None:
    limiter = RateLimiter(RateLimitConfig(quota=20, window_s=10, block_s=30), clock=clock)
    limiter.charge("k", 20)
    assert not limiter.charge("k", 1).allowed
    clock.now += 12.2  # the window has rolled over, but the block still holds
    blocked = limiter.charge("k", 1)
    assert (blocked.allowed, blocked.retry_after, blocked.remaining) == (False, 18, 20)
    clock.now += 17.7
    assert limiter.charge("k", 1).retry_after == 1  # 0.1 s left rounds up
    clock.now += 0.1
    assert limiter.charge("k", 1) == Decision(True, 20, 19)


def test_refused_requests_are_not_charged(clock: Clock) -> None:
    limiter = RateLimiter(RateLimitConfig(quota=30, window_s=10, block_s=0), clock=clock)
    limiter.charge("k", 20)
    assert not limiter.charge("k", 20).allowed  # would exceed; block_s=0 ends the block at once
    assert limiter.charge("k", 10) == Decision(True, 30, 0)


def test_rolling_window_frees_units_as_entries_age(clock: Clock) -> None:
    limiter = RateLimiter(RateLimitConfig(quota=30, window_s=10, block_s=30), clock=clock)
    limiter.charge("k", 10)
    clock.now += 4
    limiter.charge("k", 10)
    clock.now += 4
    limiter.charge("k", 10)
    assert limiter.peek("k").remaining == 0
    clock.now += 2  # first entry is now exactly window_s old
    assert limiter.peek("k").remaining == 10
    clock.now += 4
    assert limiter.peek("k").remaining == 20


def test_buckets_are_independent(clock: Clock) -> None:
    limiter = RateLimiter(RateLimitConfig(quota=10, block_s=30), clock=clock)
    limiter.charge("a", 10)
    assert not limiter.charge("a", 10).allowed
    assert limiter.charge("b", 10).allowed
    limiter.reset()
    assert limiter.charge("a", 10).allowed and limiter.refused == 0


def test_disabled_limiter_admits_everything(clock: Clock) -> None:
    limiter = RateLimiter(RateLimitConfig(enabled=False, quota=10), clock=clock)
    for _ in range(100):
        decision = limiter.charge("k", 100)
        assert decision == Decision(True, 10, 10, limited=False)
        assert decision.headers() == {}  # no headers, so clients know not to pace


def test_peek_does_not_charge(clock: Clock) -> None:
    limiter = RateLimiter(RateLimitConfig(quota=50), clock=clock)
    assert limiter.peek("k") == Decision(True, 50, 50)
    limiter.charge("k", 20)
    assert limiter.peek("k") == limiter.peek("k") == Decision(True, 50, 30)


def test_decision_headers() -> None:
    assert Decision(True, 2000, 1990).headers() == {"RateLimit-Limit": "2000", "RateLimit-Remaining": "1990"}
    assert Decision(False, 2000, 0, 30).headers()["Retry-After"] == "30"


@pytest.mark.parametrize(
    ("method", "path", "size", "cost"),
    [
        ("POST", "/api/v1/jobs/sim/circuit", 0, 100),
        ("POST", "/api/v1/jobs/sim/circuit", 10 * MIB - 1, 100),
        ("POST", "/api/v1/jobs/sim/circuit", 10 * MIB, 200),
        ("POST", "/api/v1/jobs/sim/circuit", 25 * MIB, 300),
        ("POST", "/api/v1/jobs/5c0e1b52-9a4f-4f51-8d3e-0b8f4a1f0a77/cancel", 0, 100),
        ("DELETE", "/api/v1/jobs/5c0e1b52-9a4f-4f51-8d3e-0b8f4a1f0a77", 0, 100),
        ("GET", "/api/v1/jobs/5c0e1b52-9a4f-4f51-8d3e-0b8f4a1f0a77", 0, 10),
        ("GET", "/api/v1/jobs/x/artifacts/measurements", 0, 10),
        ("GET", "/api/v1/quantum-computers", 0, 10),
        ("GET", "/api/v1/calibration-sets/sim/default/dynamic-quantum-architecture", 0, 10),
        ("GET", "/api/v1/about", 0, 10),
        ("GET", "/api/v1/unknown", 0, 10),
    ],
)
def test_request_cost(method: str, path: str, size: int, cost: int) -> None:
    assert request_cost(RateLimitConfig(), method, path, size) == cost


def test_config_rejects_bad_numbers() -> None:
    with pytest.raises(ValueError, match="quota"):
        RateLimitConfig(quota=0)
    with pytest.raises(ValueError, match="cost_read"):
        RateLimitConfig(cost_read=-1)
    with pytest.raises(ValueError, match="window_s"):
        RateLimitConfig(window_s=float("nan"))


# -- over HTTP -----------------------------------------------------------------------------------

TOKEN, OTHER = "secret-token", "other-token"


@pytest.fixture(scope="module")
def strict_server() -> Iterator[RunningServer]:
    """Auth on, a quota of 100 units (ten reads) per window, and a small body limit."""
    config = RateLimitConfig(quota=100, window_s=60, block_s=60)
    with serve_in_thread(tokens={TOKEN, OTHER}, rate_limit=config, max_body_bytes=64 * 1024) as running:
        yield running


@pytest.fixture
def strict(strict_server: RunningServer) -> Iterator[httpx.Client]:
    strict_server.state.reset()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=strict_server.url, headers=headers, timeout=10) as c:
        yield c


def _remaining(r: httpx.Response) -> int:
    assert r.headers["RateLimit-Limit"] == "100"
    return int(r.headers["RateLimit-Remaining"])


def test_every_api_response_carries_the_headers(strict: httpx.Client) -> None:
    assert _remaining(strict.get("/api/v1/quantum-computers")) == 90
    assert _remaining(strict.get("/api/v1/nope")) == 80  # a 404 is charged and labelled too
    r = strict.get("/api/v1/jobs/5c0e1b52-9a4f-4f51-8d3e-0b8f4a1f0a77")
    assert r.status_code == 404 and _remaining(r) == 70
    r = strict.get("/api/v1/calibration-sets/sim/latest/dynamic-quantum-architecture")
    assert r.status_code == 422 and _remaining(r) == 60
    # A submit costs 100, more than is left: refused, not charged, and the bucket is blocked.
    r = strict.post("/api/v1/jobs/sim/circuit", json=job())
    assert_error(r, 429, "rate_limited")
    assert _remaining(r) == 60 and r.headers["Retry-After"] == "60"


def test_submit_costs_100_and_429_carries_retry_after(strict_server: RunningServer, strict: httpx.Client) -> None:
    r = strict.post("/api/v1/jobs/sim/circuit", json=job(shots=0))
    assert r.status_code == 422 and _remaining(r) == 0
    refused = strict.get("/api/v1/quantum-computers")
    assert_error(refused, 429, "rate_limited")
    assert refused.headers["Retry-After"] == "60"
    assert _remaining(refused) == 0
    # Blocked: even a cheap read is refused, and nothing is charged.
    assert strict.get("/api/v1/about").status_code == 429
    assert strict_server.state.stats()["rate_limited"] == 2
    # Another token has its own bucket.
    r = strict.get("/api/v1/about", headers={"Authorization": f"Bearer {OTHER}"})
    assert r.status_code == 200 and _remaining(r) == 90
    # The control API is never rate-limited (it takes the control token, not a user token).
    assert strict.get("/_control/stats", headers=strict_server.control_headers).status_code == 200


def test_injected_answers_are_not_charged(strict_server: RunningServer, strict: httpx.Client) -> None:
    strict_server.state.faults.add({"action": "status", "status": 503, "times": 3})
    for _ in range(3):
        r = strict.get("/api/v1/quantum-computers")
        assert r.status_code == 503 and _remaining(r) == 100
    strict_server.state.faults.add({"action": "delay", "delay_s": 0})
    assert _remaining(strict.get("/api/v1/quantum-computers")) == 90  # delay goes on to normal handling


def test_auth_required(strict_server: RunningServer, strict: httpx.Client) -> None:
    with httpx.Client(base_url=strict_server.url) as anonymous:
        r = anonymous.get("/api/v1/quantum-computers")
        assert_error(r, 401, "unauthorized")
        assert r.headers["WWW-Authenticate"] == "Bearer"
        assert "RateLimit-Remaining" in r.headers
        r = anonymous.get("/api/v1/quantum-computers", headers={"Authorization": "Bearer wrong"})
        assert_error(r, 401, "unauthorized")
        r = anonymous.get("/api/v1/quantum-computers", headers={"Authorization": f"Basic {TOKEN}"})
        assert_error(r, 401, "unauthorized")
        # Missing and unknown tokens all pay into one anonymous bucket.
        assert _remaining(r) == 70
    assert strict.get("/api/v1/quantum-computers").status_code == 200


def test_small_body_limit(strict_server: RunningServer, strict: httpx.Client) -> None:
    r = strict.post(
        "/api/v1/jobs/sim/circuit", content=b"x" * (64 * 1024 + 1), headers={"Content-Type": "application/json"}
    )
    assert_error(r, 413, "payload_too_large")
    assert "RateLimit-Remaining" in r.headers
    assert strict_server.state.stats()["jobs_created"] == 0


def test_submit_with_token(strict_server: RunningServer, strict: httpx.Client) -> None:
    job_id = submit(strict)
    assert strict_server.state.wait_for_status(job_id, timeout=10) == "completed"
