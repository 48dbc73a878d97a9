"""The shared request budget with an injected clock and sleep: pacing, headers, 429 blocks."""

from __future__ import annotations

import pytest

from iqm_async._config import RateLimitPolicy
from iqm_async._ratelimit import _EDGE_MARGIN, RequestBudget


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def budget(**kw) -> tuple[RequestBudget, FakeTime]:
    t = FakeTime()
    return RequestBudget(RateLimitPolicy(**kw), clock=t.clock, sleep=t.sleep), t


async def test_paces_to_the_documented_quota_before_any_header() -> None:
    b, t = budget()
    for _ in range(19):  # 19 x 100 = 1900 = 95 % of 2000
        b.settle(await b.acquire(100))
    assert t.sleeps == []
    b.settle(await b.acquire(100))
    assert len(t.sleeps) == 1
    assert t.sleeps[0] == pytest.approx(10.0 + _EDGE_MARGIN)  # the first entry leaves the window (plus margin)


async def test_a_429_block_holds_every_request() -> None:
    b, t = budget()
    b.block(30.0)
    b.settle(await b.acquire(10))
    assert sum(t.sleeps) == pytest.approx(30.0)
    assert b.stats.blocks == 1


async def test_learns_the_limit_from_headers() -> None:
    b, t = budget()
    b.observe("200", "200")
    for _ in range(19):  # 95 % of 200
        b.settle(await b.acquire(10))
    assert t.sleeps == []
    b.settle(await b.acquire(10))
    assert t.sleeps


async def test_other_clients_spending_is_accounted() -> None:
    b, t = budget()
    b.observe("2000", "200")  # someone else spent 1800
    b.settle(await b.acquire(100))
    assert t.sleeps == []
    b.settle(await b.acquire(100))  # 1800 + 200 > 1900
    assert t.sleeps


async def test_no_headers_means_no_pacing() -> None:
    b, t = budget()
    b.observe(None, None)
    for _ in range(100):
        b.settle(await b.acquire(100))
    assert t.sleeps == [] and b.limit is None


async def test_disabled_policy_never_paces() -> None:
    b, t = budget(enabled=False)
    for _ in range(100):
        b.settle(await b.acquire(100))
    b.observe("10", "0")
    b.settle(await b.acquire(100))
    assert t.sleeps == []


async def test_garbage_headers_are_ignored() -> None:
    b, _ = budget()
    b.observe("lots", "some")
    assert b.limit == 2000


async def test_a_charge_in_flight_never_leaves_the_window() -> None:
    b, t = budget()
    token = await b.acquire(1900)  # a request still waiting for its reply
    t.now += 60.0
    before = len(t.sleeps)
    other = b.delay_for(100, t.now)
    assert other > 0 and len(t.sleeps) == before  # still counted: the server may not have charged it yet
    b.settle(token)  # the reply arrives now: the charge leaves the window 10 s (plus margin) from now
    assert b.delay_for(100, t.now) == pytest.approx(10.0 + _EDGE_MARGIN)
    assert b.delay_for(100, t.now + 10.3) == 0
