"""The shared poll scheduler on a virtual clock: due order, one time keeper, FIFO hints, sinks."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import anyio
import anyio.lowlevel
import pytest

from iqm_async._config import PollPolicy
from iqm_async._scheduler import PollScheduler, execution_seconds
from iqm_async.models import JobData, TimelineEntry

P = PollPolicy()
CAP = max(P.max_queued_interval, P.max_interval)


class VirtualTime:
    """A clock that moves only when the test says so; sleeps wake when it passes their deadline."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleepers: list[tuple[float, anyio.Event]] = []
        self.max_sleepers = 0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        item = (self.now + seconds, anyio.Event())
        self.sleepers.append(item)
        self.max_sleepers = max(self.max_sleepers, len(self.sleepers))
        try:
            await item[1].wait()
        finally:
            self.sleepers.remove(item)

    async def settle(self) -> None:
        for _ in range(50):
            await anyio.lowlevel.checkpoint()

    async def advance(self, seconds: float, step: float = 0.01) -> None:
        """Move the clock in small steps, letting every woken task run at each step."""
        end = self.now + seconds
        while self.now < end - 1e-12:
            self.now = min(end, self.now + step)
            for wake_at, event in list(self.sleepers):
                if wake_at <= self.now + 1e-9:
                    event.set()
            await self.settle()


def job(job_id: str, status: str = "waiting", qpos: int | None = None, progress=None, timeline=()) -> JobData:
    return JobData(
        id=job_id,
        status=status,
        queue_position=qpos,
        execution_progress=None if progress is None else {"circuits": progress},
        timeline=tuple(timeline),
    )


class Fake:
    """Scripted status replies per job id; records when each poll happened."""

    def __init__(self, vt: VirtualTime, script: dict[str, list[JobData]]):
        self.vt = vt
        self.script = {k: list(v) for k, v in script.items()}
        self.polls: list[tuple[float, str, str]] = []

    def fetch(self, job_id: str):
        async def fetch() -> JobData:
            replies = self.script[job_id]
            data = replies.pop(0) if len(replies) > 1 else replies[0]
            self.polls.append((round(self.vt.now, 3), job_id, data.status))
            await anyio.lowlevel.checkpoint()
            return data

        return fetch


async def worker(sched: PollScheduler, sink, finals: list[str] | None = None) -> None:
    while (entry := await sched.next_due(sink)) is not None:
        data = await entry.fetch()
        if sched.observed(entry, data) and finals is not None:
            finals.append(entry.key)


def poll_times(fake: Fake, job_id: str) -> list[float]:
    return [t for t, j, _ in fake.polls if j == job_id]


async def test_polls_follow_each_jobs_schedule_in_due_order() -> None:
    vt = VirtualTime()
    sched = PollScheduler(P, clock=vt.clock, sleep=vt.sleep)
    fake = Fake(vt, {"a": [job("a", qpos=0)], "b": [job("b", qpos=5)], "c": [job("c", qpos=2)]})
    sink = sched.open_sink()
    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(worker, sched, sink)
        for key, qpos in (("a", 0), ("b", 5), ("c", 2)):
            sched.track(sink, key, fake.fetch(key), initial=job(key, qpos=qpos))
        await vt.advance(5.05)
        sched.close_sink(sink)
    firsts = {}
    for t, j, _ in fake.polls:
        firsts.setdefault(j, t)
    # head of the queue soon, the others after queue_position × per_queue_position
    assert firsts == {
        "a": pytest.approx(P.first_delay, abs=0.02),
        "c": pytest.approx(2.0, abs=0.02),
        "b": pytest.approx(5.0, abs=0.02),
    }
    assert vt.max_sleepers == 1, "exactly one task keeps time, however many workers wait"


async def test_an_earlier_entry_interrupts_the_time_keepers_sleep() -> None:
    vt = VirtualTime()
    sched = PollScheduler(P, clock=vt.clock, sleep=vt.sleep)
    # 'new' stays queued, so no FIFO hint moves 'slow': only the heap's order matters here
    fake = Fake(vt, {"slow": [job("slow", qpos=20)], "new": [job("new", qpos=20)]})
    sink = sched.open_sink()
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker, sched, sink)
        sched.track(sink, "slow", fake.fetch("slow"), initial=job("slow", qpos=20))  # due at 20 s
        await vt.advance(1.0)
        sched.track(sink, "new", fake.fetch("new"))  # no initial: due after first_delay
        await vt.advance(0.2)
        assert poll_times(fake, "new") == [pytest.approx(1.0 + P.first_delay, abs=0.02)]
        assert poll_times(fake, "slow") == []
        sched.close_sink(sink)


async def test_queued_jobs_wait_behind_our_running_job_and_the_next_is_called_on_completion() -> None:
    vt = VirtualTime()
    sched = PollScheduler(P, clock=vt.clock, sleep=vt.sleep)
    fake = Fake(
        vt,
        {
            "run": [job("run", "processing", progress=(5, 10)), job("run", "completed")],
            "next": [job("next", "processing", progress=(1, 10))],
            "last": [job("last", qpos=0)],
        },
    )
    sink = sched.open_sink()
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker, sched, sink)
        sched.track(sink, "run", fake.fetch("run"), initial=job("run", "processing", progress=(4, 10)))
        sched.track(sink, "next", fake.fetch("next"), initial=job("next", qpos=0))
        sched.track(sink, "last", fake.fetch("last"), initial=job("last", qpos=1))
        await vt.advance(3.0)
        sched.close_sink(sink)
    run_polls = poll_times(fake, "run")
    assert len(run_polls) == 2  # processing (rate origin), then completed
    # 'next' is not polled while 'run' runs, but right after 'run' is seen completed
    assert poll_times(fake, "next")[0] == pytest.approx(run_polls[-1] + 0.05, abs=0.02)
    assert poll_times(fake, "last") == []  # behind 'next', which now runs: polled at the cap only
    assert sched.stats.hints >= 1


async def test_a_job_seen_running_settles_the_ones_registered_before_it() -> None:
    vt = VirtualTime()
    sched = PollScheduler(P, clock=vt.clock, sleep=vt.sleep)
    fake = Fake(vt, {"first": [job("first", "completed")], "second": [job("second", "processing", progress=(0, 5))]})
    sink = sched.open_sink()
    finals: list[str] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker, sched, sink, finals)
        sched.track(sink, "first", fake.fetch("first"), initial=job("first", qpos=9))  # due at 9 s
        sched.track(sink, "second", fake.fetch("second"))  # due at first_delay
        await vt.advance(0.5)
        sched.close_sink(sink)
    # 'second' started, so 'first' (ahead of it in a FIFO queue) must be done: polled at once
    assert finals == ["first"]
    assert poll_times(fake, "first")[0] == pytest.approx(P.first_delay, abs=0.02)


async def test_queued_jobs_are_not_polled_before_the_jobs_ahead_can_have_run() -> None:
    vt = VirtualTime()
    sched = PollScheduler(P, clock=vt.clock, sleep=vt.sleep)
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    done = job(
        "done",
        "completed",
        timeline=[
            TimelineEntry("iqm-station-control", "received", t0),
            TimelineEntry("iqm-station-control", "completed", t0 + timedelta(seconds=4)),
        ],
    )
    fake = Fake(vt, {"done": [done], "queued": [job("queued", qpos=3)]})
    sink = sched.open_sink()
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker, sched, sink)
        sched.track(sink, "done", fake.fetch("done"))
        await vt.advance(0.2)
        assert sched.job_seconds == pytest.approx(4.0)
        sched.track(sink, "queued", fake.fetch("queued"), initial=job("queued", qpos=3))
        await vt.advance(12.5, step=0.05)
        sched.close_sink(sink)
    assert poll_times(fake, "queued") == [pytest.approx(0.2 + 12.0, abs=0.06)]  # 3 jobs × 4 s, not 3 × 1 s


async def test_two_sinks_share_one_heap_and_closing_one_hands_time_keeping_on() -> None:
    vt = VirtualTime()
    sched = PollScheduler(P, clock=vt.clock, sleep=vt.sleep)
    fake = Fake(vt, {"a": [job("a", qpos=50)], "b": [job("b", qpos=3)]})
    sink_a, sink_b = sched.open_sink(), sched.open_sink()
    ended: list[str] = []

    async def named_worker(name: str, sink) -> None:
        await worker(sched, sink)
        ended.append(name)

    async with anyio.create_task_group() as tg:
        tg.start_soon(named_worker, "A", sink_a)  # starts first: it becomes the time keeper
        await vt.settle()
        tg.start_soon(named_worker, "B", sink_b)
        sched.track(sink_a, "a", fake.fetch("a"), initial=job("a", qpos=50))
        sched.track(sink_b, "b", fake.fetch("b"), initial=job("b", qpos=3))
        await vt.advance(1.0)
        sched.close_sink(sink_a)  # its worker leaves; B's worker must keep time for 'b'
        await vt.settle()
        assert ended == ["A"]
        await vt.advance(2.1)
        assert poll_times(fake, "b") == [pytest.approx(3.0, abs=0.02)]
        assert poll_times(fake, "a") == []
        assert sched.stats.tracked == 1
        sched.close_sink(sink_b)
    assert ended == ["A", "B"] and sched.stats.tracked == 0


async def test_nudge_polls_now_and_untrack_forgets() -> None:
    vt = VirtualTime()
    sched = PollScheduler(P, clock=vt.clock, sleep=vt.sleep)
    fake = Fake(vt, {"x": [job("x", "cancelled")], "y": [job("y", qpos=30)]})
    sink = sched.open_sink()
    finals: list[str] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker, sched, sink, finals)
        sched.track(sink, "x", fake.fetch("x"), initial=job("x", qpos=30))
        y = sched.track(sink, "y", fake.fetch("y"), initial=job("y", qpos=30))
        await vt.advance(1.0)
        assert sched.nudge("x") == 1
        sched.untrack(y)
        await vt.advance(0.1)
        await vt.advance(31.0, step=0.5)
        sched.close_sink(sink)
    assert finals == ["x"] and poll_times(fake, "x") == [pytest.approx(1.0, abs=0.02)]
    assert poll_times(fake, "y") == []


async def test_a_closed_sinks_running_job_no_longer_counts_as_running() -> None:
    vt = VirtualTime()
    sched = PollScheduler(P, clock=vt.clock, sleep=vt.sleep)
    sink = sched.open_sink()
    running = sched.track(sink, "r", Fake(vt, {"r": [job("r")]}).fetch("r"), initial=job("r", "processing"))
    sched.close_sink(sink)
    assert sched.observed(running, job("r", "processing")) is False  # reply of a poll under way at close
    other = sched.open_sink()
    entry = sched.track(other, "w", Fake(vt, {"w": [job("w")]}).fetch("w"), initial=job("w", qpos=0))
    assert entry.due == pytest.approx(P.first_delay)  # not the cap: nothing of ours is running


async def test_an_injected_sleep_that_does_not_move_the_clock_cannot_spin() -> None:
    delays: list[float] = []

    async def instant(seconds: float) -> None:
        delays.append(seconds)
        await anyio.lowlevel.checkpoint()

    sched = PollScheduler(P, clock=lambda: 0.0, sleep=instant)
    script = [job("j", qpos=4), job("j", "processing", progress=(1, 4)), job("j", "completed")]
    fake = Fake(VirtualTime(), {"j": script})
    sink = sched.open_sink()
    finals: list[str] = []
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(worker, sched, sink, finals)
            sched.track(sink, "j", fake.fetch("j"), initial=job("j", qpos=4))
            while not finals:
                await anyio.lowlevel.checkpoint()
            sched.close_sink(sink)
    assert len(fake.polls) == 3 and delays[0] == pytest.approx(4.0)


def test_execution_seconds_reads_the_station_steps() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    tl = [
        TimelineEntry("iqm-server", "created", t0),
        TimelineEntry("iqm-station-control", "received", t0 + timedelta(seconds=1)),
        TimelineEntry("iqm-station-control", "completed", t0 + timedelta(seconds=3.5)),
    ]
    assert execution_seconds(job("j", "completed", timeline=tl)) == pytest.approx(2.5)
    assert execution_seconds(job("j", "completed", timeline=tl[:2])) is None


def test_many_queued_jobs_together_stay_within_their_share_of_the_budget() -> None:
    from iqm_async._scheduler import READ_COST, WAITING_SHARE

    rate = 180.0  # units per second the budget allows
    sched = PollScheduler(P, clock=lambda: 0.0, sleep=anyio.sleep, read_rate=lambda: rate)
    sink = sched.open_sink()
    fetch = Fake(VirtualTime(), {}).fetch("unused")
    entries = [sched.track(sink, f"j{i}", fetch, initial=job(f"j{i}", qpos=i)) for i in range(2000)]
    for i, entry in enumerate(entries):  # every job polled once more, now that all 2000 are known
        sched.observed(entry, job(f"j{i}", qpos=i))
    delays = [e.due for e in entries]
    assert delays[0] == pytest.approx(P.first_delay * P.factor)  # the head of the queue as the policy says
    assert delays[-1] > 10 * CAP  # deep in a long queue: far beyond the fixed cap
    polls_per_second = sum(1 / d for d in delays[1:])
    assert polls_per_second * READ_COST <= WAITING_SHARE * rate * 1.05
    sched.close_sink(sink)
    unlimited = PollScheduler(P, clock=lambda: 0.0, sleep=anyio.sleep)
    deep = unlimited.track(unlimited.open_sink(), "d", fetch, initial=job("d", qpos=2000))
    assert deep.due == pytest.approx(P.max_queued_interval)  # no budget known: the policy's cap


def test_a_batch_jobs_forecast_comes_from_its_client_and_learns_on_completion() -> None:
    from iqm_async._forecast import ThroughputHistory
    from iqm_async.models import Circuit, CircuitJobDefinition, Instruction, JobParameters

    class Client:
        throughput = ThroughputHistory()

    class Job:  # what the batch tracks: AsyncJob.refresh_async of a job this client submitted
        client = Client()
        circuit = Circuit(name="c", instructions=(Instruction(name="measure", locus=("QB1",), args={"key": "m"}),))
        _definition = CircuitJobDefinition(circuits=(circuit,), parameters=JobParameters(shots=200))

        async def refresh_async(self) -> JobData:
            raise AssertionError("not polled here")

    time = VirtualTime()
    scheduler = PollScheduler(P, clock=time.clock, sleep=time.sleep)
    sink = scheduler.open_sink()
    tracked = Job()
    entry = scheduler.track(sink, "a", tracked.refresh_async)
    assert entry.schedule.forecast is not None
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    done = JobData(
        id="a",
        status="completed",
        calibration_set_id="cal",
        timeline=(
            TimelineEntry("iqm-station-control", "received", t0),
            TimelineEntry("iqm-server", "ready", t0 + timedelta(seconds=1.5)),
        ),
    )
    assert scheduler.observed(entry, done)
    prediction = Client.throughput.predict("cal", 200.0)
    assert prediction is not None and prediction.seconds == pytest.approx(1.5)

    async def plain() -> JobData:
        raise AssertionError("not polled here")

    assert scheduler.track(sink, "b", plain).schedule.forecast is None  # not a job's method: no forecast


# ------------------------------------------------------------------ a FIFO server on virtual time, with forecasts

EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)


class FifoServer:
    """Jobs submitted at t=0 that execute one after another for ``seconds`` each; answers as of the virtual clock."""

    def __init__(self, vt: VirtualTime, n: int, seconds: float, start: float = 0.005):
        self.vt = vt
        self.ends = [start + (i + 1) * seconds for i in range(n)]
        self.seconds = seconds
        self.polls: list[tuple[float, int, str]] = []

    def wall(self) -> float:
        return EPOCH.timestamp() + self.vt.now

    def data(self, i: int, t: float) -> JobData:
        end = self.ends[i]
        begin = end - self.seconds
        timeline = [TimelineEntry("iqm-server", "created", EPOCH)]
        status, qpos = "waiting", sum(1 for e in self.ends[:i] if e - self.seconds > t)
        if t >= begin:
            timeline.append(TimelineEntry("iqm-station-control", "received", EPOCH + timedelta(seconds=begin)))
            status, qpos = "processing", None
        if t >= end:
            timeline.append(TimelineEntry("iqm-server", "ready", EPOCH + timedelta(seconds=end)))
            timeline.append(TimelineEntry("iqm-station-control", "completed", EPOCH + timedelta(seconds=end)))
            status = "completed"
        return JobData(id=str(i), status=status, queue_position=qpos, timeline=tuple(timeline), calibration_set_id="cal")

    def job(self, i: int, history):
        from types import SimpleNamespace

        server = self

        class Job:  # what a batch tracks: AsyncJob.refresh_async of a job this client submitted (2 circuits)
            client = SimpleNamespace(throughput=history)
            _definition = SimpleNamespace(circuits=(0, 0), parameters=SimpleNamespace(shots=10, calibration_set_id=None))

            async def refresh_async(self) -> JobData:
                data = server.data(i, server.vt.now)
                server.polls.append((round(server.vt.now, 3), i, data.status))
                await anyio.lowlevel.checkpoint()
                return data

        return Job()


async def run_fifo(policy: PollPolicy, history, n: int = 4, seconds: float = 0.2) -> tuple[FifoServer, dict[int, float]]:
    """Track ``n`` freshly submitted jobs of one batch on a FIFO server; return it and when each was seen final."""
    vt = VirtualTime()
    server = FifoServer(vt, n, seconds)
    sched = PollScheduler(policy, clock=vt.clock, sleep=vt.sleep, wall=server.wall)
    sink = sched.open_sink()
    seen: dict[int, float] = {}

    async def work() -> None:
        while (entry := await sched.next_due(sink)) is not None:
            data = await entry.fetch()
            if sched.observed(entry, data):
                seen[int(entry.key)] = vt.now

    async with anyio.create_task_group() as tg:
        for _ in range(4):
            tg.start_soon(work)
        for i in range(n):
            sched.track(sink, str(i), server.job(i, history).refresh_async, initial=server.data(i, 0.0))
        for _ in range(4000):
            if len(seen) == n:
                break
            await vt.advance(0.005, step=0.005)
        sched.close_sink(sink)
    return server, seen


@pytest.mark.parametrize("policy", [PollPolicy(max_interval=0.05), P], ids=["max_interval=0.05", "default"])
async def test_queued_jobs_with_a_forecast_are_collected_at_the_servers_pace(policy: PollPolicy) -> None:
    # Four two-circuit jobs of 0.2 s each: once the first has taught the forecast, the jobs behind it used to
    # wait 1-3 s for polls (the submit reply and the polls while queued counted against the 1 s-polling
    # allowance, and the allowance overrode a policy asking for polls every 0.05 s).
    from iqm_async._forecast import ThroughputHistory

    history = ThroughputHistory()
    for _ in range(2):  # earlier batches taught the history; the third runs with a forecast from its start
        server, seen = await run_fifo(policy, history)
        assert len(seen) == 4
    assert history.predict("cal", 20.0) is not None
    late = [seen[i] - server.ends[i] for i in range(4)]
    assert max(late) <= 0.25, (late, server.polls)
    assert seen[3] <= server.ends[3] + 0.25  # the batch ends at the server's pace, not seconds later
    # and without flooding: no more status requests per job than polling every max_interval while it ran
    for i in range(4):
        polls = sum(1 for _, j, _ in server.polls if j == i)
        assert polls <= (server.ends[i] - 0.0) / min(policy.max_interval, policy.allowance_interval) + 3
