"""The poll schedule as a pure state machine, and poll_until_final with an injected sleep."""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta, timezone

import pytest

from iqm_async._config import PollPolicy
from iqm_async._forecast import JobForecast, ThroughputHistory
from iqm_async.models import JobData, TimelineEntry
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
    # Nothing known about the job (re-attached): the first request goes at once, without a sleep.
    assert sleep.delays[0] == pytest.approx(3 * P.per_queue_position)
    assert len(sleep.delays) == 3


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


# ------------------------------------------------------------------ first request and forecasts (virtual clock)

EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    return EPOCH + timedelta(seconds=seconds)


def simulated(t: float, start: float, end: float, calset: str = "cal") -> JobData:
    """What the server says at virtual time ``t`` about a job executing from ``start`` to ``end``."""
    timeline = [TimelineEntry("iqm-server", "created", at(0.0))]
    status = "waiting"
    if t >= start:
        timeline.append(TimelineEntry("iqm-station-control", "received", at(start)))
        status = "processing"
    if t >= end:
        timeline.append(TimelineEntry("iqm-server", "ready", at(end)))
        status = "completed"
    return JobData(id="j", status=status, timeline=tuple(timeline), calibration_set_id=calset)


def run_job(
    history: ThroughputHistory | None, work: float, duration: float, start: float = 0.005, policy: PollPolicy = P
) -> tuple[float, int]:
    """Drive one wait from submit (t=0) on a virtual clock; return (latency after completion, status requests)."""
    now = [0.0]
    forecast = None if history is None else JobForecast(history, work, "cal")
    schedule = PollSchedule(policy, forecast=forecast, wall=lambda: EPOCH.timestamp() + now[0])
    end = start + duration
    now[0] = schedule.start_delay(simulated(0.0, start, end), 0.0)
    polls = 0
    while True:
        polls += 1
        seen = simulated(now[0], start, end)
        if seen.is_final:
            if forecast is not None:
                forecast.learn(seen)
            return now[0] - end, polls
        now[0] += schedule.next_delay(seen, now[0])


def one_second_polls(duration: float, start: float = 0.005) -> int:
    """Status requests of IQM's loop (one at once, then one a second) for the same job."""
    return math.floor(start + duration) + 2


def test_fresh_job_waits_out_the_first_delay_and_an_old_one_is_polled_at_once() -> None:
    wall = EPOCH.timestamp() + 10.0
    fresh = JobData(id="j", status="waiting", timeline=(TimelineEntry("iqm-server", "created", at(9.97)),))
    assert PollSchedule(P, wall=lambda: wall).start_delay(fresh, 0.0) == pytest.approx(P.first_delay - 0.03)
    old = JobData(id="j", status="waiting", timeline=(TimelineEntry("iqm-server", "created", at(1.0)),))
    assert PollSchedule(P, wall=lambda: wall).start_delay(old, 0.0) == 0.0
    assert PollSchedule(P, wall=lambda: wall).start_delay(None, 0.0) == 0.0
    # No timeline (a server that sends none): treated as fresh, today's first delay.
    assert PollSchedule(P, wall=lambda: wall).start_delay(job("waiting"), 0.0) == pytest.approx(P.first_delay)


async def test_a_wait_on_an_old_job_sends_its_first_request_without_sleeping() -> None:
    sleep = RecordingSleep()
    old = JobData(id="j", status="processing", timeline=(TimelineEntry("iqm-server", "created", at(0.0)),))

    async def fetch() -> JobData:
        return job("completed")

    final = await poll_until_final(
        fetch, sleep=sleep, clock=sleep.clock, wall=lambda: EPOCH.timestamp() + 3600, initial=old
    )
    assert final.status == "completed" and sleep.delays == []


def test_without_history_the_schedule_is_exactly_todays() -> None:
    for duration in (0.05, 0.5, 3.0, 20.0, 120.0):
        assert run_job(ThroughputHistory(), 100.0, duration) == run_job(None, 100.0, duration)


@pytest.mark.parametrize("length", [0.05, 0.5, 3.0, 20.0, 120.0])
def test_with_history_results_come_soon_after_completion_for_fewer_requests(length: float) -> None:
    rng = random.Random(17)
    history = ThroughputHistory()
    work = length * 1000
    for _ in range(5):  # earlier jobs of this client on the same calibration set
        run_job(history, work, length * (1 + rng.gauss(0, 0.01)))
    latencies, extra_polls = [], []
    for _ in range(30):
        duration = length * (1 + rng.gauss(0, 0.01))
        latency, polls = run_job(history, work, duration)
        latencies.append(latency)
        extra_polls.append(polls - one_second_polls(duration))
    latencies.sort()
    assert latencies[15] <= 0.25 and latencies[-2] <= 1.0  # p50, p95
    # no more status requests than 1 s polling: on average, and at most one more for a job ending just
    # before a whole second (the schedule cannot know the end in advance)
    assert sum(extra_polls) <= 0 and max(extra_polls) <= 1


def test_mixed_sizes_are_forecast_from_the_learned_line() -> None:
    history = ThroughputHistory()
    for work in (50.0, 500.0, 3000.0):
        run_job(history, work, 0.02 + work / 1000)
    latency, polls = run_job(history, 20_000.0, 0.02 + 20.0)  # a size never seen
    assert latency <= 0.25 and polls <= one_second_polls(20.02)


@pytest.mark.parametrize("factor", [0.5, 1.5, 3.0])
def test_a_machine_faster_or_slower_than_its_history_degrades_gracefully(factor: float) -> None:
    history = ThroughputHistory()
    for _ in range(5):
        run_job(history, 1000.0, 10.0)
    latency, polls = run_job(history, 1000.0, 10.0 * factor)
    assert latency <= P.max_interval  # no later than today's capped interval
    assert polls <= one_second_polls(10.0 * factor)
    # and it learns: within ten jobs at the new speed, results come soon after completion again
    for _ in range(10):
        run_job(history, 1000.0, 10.0 * factor)
    later = sorted(run_job(history, 1000.0, 10.0 * factor)[0] for _ in range(9))
    assert later[4] <= 0.5 and later[-1] <= 1.5


def test_a_queued_job_keeps_the_queue_aware_schedule() -> None:
    history = ThroughputHistory()
    for _ in range(3):
        run_job(history, 1000.0, 1.0)
    schedule = PollSchedule(P, forecast=JobForecast(history, 1000.0, "cal"), wall=lambda: EPOCH.timestamp())
    queued = JobData(id="j", status="waiting", queue_position=12, calibration_set_id="cal")
    assert schedule.next_delay(queued, 0.0) == pytest.approx(12 * P.per_queue_position)


def test_server_clock_ahead_or_behind_is_bounded_by_what_the_client_saw() -> None:
    history = ThroughputHistory()
    for _ in range(3):
        run_job(history, 1000.0, 5.0)
    # The server's clock is 100 s behind: its "received" stamp looks 100 s old. The job was seen waiting at
    # t=1 and processing at t=2, so execution started in between and the forecast end is about t=6 to t=7.
    wall = [EPOCH.timestamp()]
    schedule = PollSchedule(P, forecast=JobForecast(history, 1000.0, "cal"), wall=lambda: wall[0])
    schedule.start_delay(None, 0.0)
    wall[0] = EPOCH.timestamp() + 101.0
    schedule.next_delay(JobData(id="j", status="waiting", calibration_set_id="cal"), 1.0)
    wall[0] = EPOCH.timestamp() + 102.0
    running = JobData(
        id="j",
        status="processing",
        calibration_set_id="cal",
        timeline=(TimelineEntry("iqm-station-control", "received", at(1.5)),),
    )
    delay = schedule.next_delay(running, 2.0)
    assert 6.0 - 1.0 <= 2.0 + delay <= 7.0


async def test_poll_until_final_teaches_the_clients_history() -> None:
    sleep = RecordingSleep()
    history = ThroughputHistory()
    script = iter([simulated(1.0, 0.0, 2.0), simulated(2.5, 0.0, 2.0)])

    async def fetch() -> JobData:
        return next(script)

    forecast = JobForecast(history, 10.0, None)
    await poll_until_final(fetch, sleep=sleep, clock=sleep.clock, wall=lambda: EPOCH.timestamp(), forecast=forecast)
    prediction = history.predict("cal", 10.0)
    assert prediction is not None and prediction.seconds == pytest.approx(2.0)


def test_polls_while_queued_do_not_delay_the_forecast_window() -> None:
    # The job waits 3 s at the head of the queue (polled every second or faster meanwhile), then executes for
    # 0.5 s as its history says. The allowance starts with its execution: the window's polls are not pushed
    # seconds past its end to pay for the polls made while it was queued.
    policy = PollPolicy(max_interval=1.0)
    history = ThroughputHistory()
    for _ in range(3):
        run_job(history, 500.0, 0.5, policy=policy)
    latency, polls = run_job(history, 500.0, 0.5, start=3.0, policy=policy)
    assert latency <= 0.25
    assert polls <= run_job(None, 500.0, 0.5, start=3.0, policy=policy)[1] + 1


def test_the_allowance_is_never_tighter_than_the_policys_own_cap() -> None:
    # A policy that asks for polls every 0.05 s at most gets them around a forecast too.
    fast = PollPolicy(max_interval=0.05)
    history = ThroughputHistory()
    for _ in range(3):
        run_job(history, 500.0, 2.0)
    now = [0.0]
    schedule = PollSchedule(fast, forecast=JobForecast(history, 500.0, "cal"), wall=lambda: EPOCH.timestamp() + now[0])
    schedule.start_delay(None, 0.0)
    delays = []
    for t in (0.0, 0.05, 0.1, 0.15, 0.2, 0.25):  # a job polled six times while it executes for 2 s (slower)
        now[0] = t
        delays.append(schedule.next_delay(simulated(t, 0.0, 4.0), t))
    assert max(delays) <= fast.max_interval + 1e-9


def test_a_job_a_few_seconds_past_its_window_is_seen_within_half_a_second() -> None:
    # History says 120 s; these take 125-135 s (past the window). The backoff after the window stops at half
    # the allowance interval, and the polls saved before the window keep the total under 1 s polling's.
    for tenths in range(1250, 1350, 7):
        history = ThroughputHistory()
        for _ in range(5):
            run_job(history, 1000.0, 120.0)
        duration = tenths / 10
        latency, polls = run_job(history, 1000.0, duration)
        assert latency <= 0.5 + 1e-9, duration
        assert polls <= one_second_polls(duration)
