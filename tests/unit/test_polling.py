"""The poll schedule as a pure state machine, and poll_until_final with an injected sleep."""

from __future__ import annotations

import pytest

from iqm_async._config import PollPolicy
from iqm_async.models import JobData
from iqm_async.polling import PollSchedule, poll_until_final

P = PollPolicy()


def job(status="waiting", qpos=None, progress=None) -> JobData:
    return JobData(
        id="j",
        status=status,
        queue_position=qpos,
        execution_progress=None if progress is None else {"circuits": progress},
    )


def test_interval_grows_geometrically_to_the_cap() -> None:
    s = PollSchedule(P)
    delays = [s.next_delay(job("processing"), t) for t in range(16)]
    assert delays[0] == pytest.approx(P.first_delay)
    assert delays[1] == pytest.approx(P.first_delay * P.factor)
    assert all(b >= a for a, b in zip(delays, delays[1:]))
    assert delays[-1] == P.max_interval


def test_status_change_makes_polling_fast_again() -> None:
    s = PollSchedule(P)
    for t in range(10):
        s.next_delay(job("waiting", qpos=0), t)
    assert s.next_delay(job("processing"), 10) == pytest.approx(P.first_delay)


def test_deep_queue_is_polled_rarely_and_capped() -> None:
    s = PollSchedule(P)
    assert s.next_delay(job("waiting", qpos=12), 0) == pytest.approx(12 * P.per_queue_position)
    assert PollSchedule(P).next_delay(job("waiting", qpos=10_000), 0) == P.max_queued_interval


def test_head_of_queue_is_polled_fast() -> None:
    assert PollSchedule(P).next_delay(job("waiting", qpos=0), 0) == pytest.approx(P.first_delay)


def test_progress_estimate_lands_just_after_completion() -> None:
    s = PollSchedule(P)
    s.next_delay(job("processing", progress=(2, 10)), 0.0)  # rate origin: first sight of this run
    # 4 more circuits in 2 s -> 2 circuits/s -> 4 left -> 2 s
    assert s.next_delay(job("processing", progress=(6, 10)), 2.0) == pytest.approx(2.0 + P.completion_margin)


def test_progress_estimate_never_exceeds_cap() -> None:
    s = PollSchedule(P)
    s.next_delay(job("processing", progress=(1, 1000)), 0.0)
    assert s.next_delay(job("processing", progress=(2, 1000)), 100.0) == P.max_interval


class RecordingSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []
        self.now = 0.0

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


async def test_poll_until_final_follows_the_schedule() -> None:
    sleep = RecordingSleep()
    script = iter([job("waiting", qpos=3), job("waiting", qpos=0), job("processing"), job("completed")])

    async def fetch() -> JobData:
        return next(script)

    seen: list[str] = []
    final = await poll_until_final(fetch, sleep=sleep, clock=sleep.clock, on_update=lambda j: seen.append(j.status))
    assert final.status == "completed"
    assert seen == ["waiting", "waiting", "processing", "completed"]
    assert sleep.delays[0] == pytest.approx(P.first_delay)
    assert sleep.delays[1] == pytest.approx(3 * P.per_queue_position)
    assert len(sleep.delays) == 4


async def test_poll_until_final_returns_a_final_initial_without_fetching() -> None:
    async def fetch() -> JobData:
        raise AssertionError("must not fetch")

    sleep = RecordingSleep()
    assert (await poll_until_final(fetch, sleep=sleep, initial=job("failed"))).status == "failed"
    assert sleep.delays == []


async def test_unknown_status_keeps_polling() -> None:
    sleep = RecordingSleep()
    script = iter([job("compiling"), job("compiling"), job("completed")])

    async def fetch() -> JobData:
        return next(script)

    assert (await poll_until_final(fetch, sleep=sleep, clock=sleep.clock)).status == "completed"
