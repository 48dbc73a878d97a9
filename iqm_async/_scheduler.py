"""One poll scheduler per client: a min-heap of due times decides when each tracked job is polled.

Thousands of jobs in flight must not mean thousands of timers, or thousands of tasks, racing for
the request budget. A tracked job is only an entry in one heap ordered by the time its next status
poll is due; no task waits for it. Each consumer (a batch) opens a *sink* and runs a few worker tasks
that ask :meth:`PollScheduler.next_due` for the next entry of their sink that is due, send the poll,
and report the reply with :meth:`PollScheduler.observed`, which decides the next due time.

Time is kept by one task at a time: an idle worker (of any sink) becomes the *keeper*, sleeps until
the earliest due time, moves every due entry to its sink's ready queue and wakes an idle worker of
that sink. When an earlier entry arrives, the keeper's sleep is interrupted; when the keeper leaves
(it has work, or its sink closed, or it was cancelled), it hands the role to another idle worker. So
the scheduler has no background task of its own and cannot outlive the tasks that use it; several
batches on one client share its heap, its timing decisions and (through the transport) its budget.

Where the budget goes (docs/protocol.md#polling-guidance, docs/protocol.md#rate-limits):

* each job's delays come from its own :class:`~iqm_async.polling.PollSchedule` (fast after a status
  change, geometric growth while nothing changes, progress-based estimate of completion while
  ``processing``, slower the deeper a job is in the queue);
* the server executes one job at a time, first in first out. While one of the client's own jobs is
  ``processing``, every job of the client still ``waiting`` is behind it, so those are polled only
  at the queued cap (``max_queued_interval``); instead, when a job is seen final, the
  earliest-registered job still seen ``waiting`` is next in line and its poll is pulled forward, and
  when a job is seen ``processing``, jobs registered before it that still look ``waiting`` must have
  finished and are polled at once. So the head of the queue is polled soon, the rest rarely, and
  the chain corrects itself after a wrong guess at the cost of one poll;
* the scheduler learns how long a job takes to execute (from the server's timeline of completed
  jobs) and never polls a queued job before the jobs ahead of it can have finished;
* when it knows the request rate the budget allows (``read_rate``), queued jobs behind the head
  together spend at most :data:`WAITING_SHARE` of it: the interval per queue position grows with
  the logarithm of the number of queued jobs, and the cap with their number. Ten thousand queued
  jobs then cost a quarter of the budget, not all of it, and the head of the queue is unaffected.

Clock and sleep are injected (the client's), so tests drive it without the wall clock.
"""

from __future__ import annotations

import heapq
import math
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio

from ._config import DEFAULT_POLL_POLICY, PollPolicy
from ._forecast import JobForecast, forecast_for
from .models import JobData
from .polling import PollSchedule

__all__ = ["Entry", "PollScheduler", "SchedulerStats", "Sink", "execution_seconds"]

_HINT_DELAY = 0.05
"""Seconds after a job is seen final before the next job in line is polled (the server needs a moment to start it)."""

_HINT_SCAN = 8
"""Live jobs looked at, in registration order, for the one next in line after a completion."""

WAITING_SHARE = 0.25
"""Most of the allowed request rate that polls of queued jobs behind the head may use together."""

READ_COST = 10
"""Units one status read costs (docs/protocol.md#rate-limits)."""

_LEARN_WEIGHT = 0.3
"""Weight of the newest observation in the running estimate of a job's execution time."""


@dataclass
class SchedulerStats:
    """What the scheduler did, for benchmarks and tests."""

    polls: int = 0
    """Status replies reported through :meth:`PollScheduler.observed`."""
    hints: int = 0
    """Polls pulled forward by the FIFO inference (next in line, or overtaken)."""
    tracked: int = 0
    """Jobs tracked right now."""
    peak_tracked: int = 0
    """Most jobs tracked at once."""


def execution_seconds(job: JobData) -> float | None:
    """Return how long the job executed, from the station's ``received`` and ``completed`` timeline steps."""
    start = end = None
    for entry in job.timeline:
        if entry.source == "iqm-station-control":
            if entry.status == "received":
                start = entry.timestamp
            elif entry.status == "completed":
                end = entry.timestamp
    if start is None or end is None:
        return None
    seconds = (end - start).total_seconds()
    return seconds if seconds >= 0 else None


class Entry:
    """One tracked job: how to poll it, when that is due, and what its owner attached to it."""

    __slots__ = ("context", "due", "fetch", "in_heap", "key", "schedule", "seq", "sink", "status")

    def __init__(
        self,
        sink: Sink,
        key: str,
        fetch: Callable[[], Awaitable[JobData]],
        context: Any,
        policy: PollPolicy,
        wall: Callable[[], float] = time.time,
    ):
        self.sink = sink
        self.key = key
        self.fetch = fetch
        """Sends one status request (``AsyncJob.refresh_async``)."""
        self.context = context
        """Whatever the owner needs when the entry comes due (a batch puts its group here)."""
        self.schedule = PollSchedule(policy, forecast=_forecast_of(fetch), wall=wall)
        self.due = 0.0
        self.seq = 0
        self.in_heap = False
        self.status: str | None = None


def _forecast_of(fetch: Callable[[], Awaitable[JobData]]) -> JobForecast | None:
    """Return the completion forecast of the job whose status ``fetch`` reads, when it is an ``AsyncJob``'s.

    Batches track ``AsyncJob.refresh_async``: its job knows its client (whose history learns execution
    times) and, when this client submitted it, its definition (circuits and shots).
    """
    job = getattr(fetch, "__self__", None)
    client = getattr(job, "client", None)
    return forecast_for(getattr(client, "throughput", None), getattr(job, "_definition", None))


class _Waiter:
    __slots__ = ("event", "sink")

    def __init__(self, sink: Sink):
        self.sink = sink
        self.event = anyio.Event()


class Sink:
    """The entries of one consumer that are due, and that consumer's idle workers."""

    __slots__ = ("closed", "idle", "ready")

    def __init__(self) -> None:
        self.ready: deque[Entry] = deque()
        self.idle: list[_Waiter] = []
        self.closed = False


class PollScheduler:
    """Decides when every tracked job of one client is polled next; see the module docstring.

    Args:
        policy: the client's poll policy, used for each job's :class:`PollSchedule`.
        clock: monotonic clock in seconds (injected in tests).
        sleep: awaitable sleep (injected in tests; it may return without the clock moving).
        read_rate: units per second the request budget allows now, or None when unlimited.
        wall: wall clock in seconds since the epoch, read against the server's timeline (injected in tests).
    """

    def __init__(
        self,
        policy: PollPolicy = DEFAULT_POLL_POLICY,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        read_rate: Callable[[], float | None] = lambda: None,
        wall: Callable[[], float] = time.time,
    ):
        self._policy = policy
        self._wall = wall
        self._read_rate = read_rate
        self._clock = clock
        self._sleep = sleep
        self._heap: list[tuple[float, int, Entry]] = []
        self._seq = 0
        self._keeper: Sink | None = None  # sink of the worker keeping time, if any
        self._keeper_scope: anyio.CancelScope | None = None
        self._idle: list[_Waiter] = []
        # Live entries in the order they were registered: on a FIFO server, also their queue order.
        self._order: OrderedDict[Entry, None] = OrderedDict()
        self._by_key: dict[str, list[Entry]] = {}
        self._job_seconds: float | None = None
        self._processing = 0  # live entries last seen processing
        self._waiting = 0  # live entries last seen waiting
        self.stats = SchedulerStats()

    @property
    def job_seconds(self) -> float | None:
        """Running estimate of one job's execution time, once a completed job has been seen."""
        return self._job_seconds

    # ------------------------------------------------------------------ consumers

    def open_sink(self) -> Sink:
        """Open a sink for one consumer; its workers call :meth:`next_due` with it."""
        return Sink()

    def close_sink(self, sink: Sink) -> None:
        """Stop tracking the sink's entries and release its workers (:meth:`next_due` returns None)."""
        sink.closed = True
        for entry in [e for e in self._order if e.sink is sink]:
            self.untrack(entry)
        sink.ready.clear()
        for waiter in list(sink.idle):
            self._wake(waiter)
        if self._keeper is sink and self._keeper_scope is not None:
            self._keeper_scope.cancel()  # it leaves and hands time keeping on

    def track(
        self,
        sink: Sink,
        key: str,
        fetch: Callable[[], Awaitable[JobData]],
        *,
        initial: JobData | None = None,
        context: Any = None,
    ) -> Entry:
        """Start tracking a job; its first poll is due after the delay ``initial`` calls for.

        Args:
            sink: the consumer whose workers poll it.
            key: the job id (for :meth:`nudge` and logs).
            fetch: sends one status request.
            initial: the JobData already known (for example the submit reply); None polls soon.
            context: attached to the entry for the consumer.
        """
        entry = Entry(sink, key, fetch, context, self._policy, self._wall)
        self._order[entry] = None
        self._by_key.setdefault(key, []).append(entry)
        self.stats.tracked += 1
        self.stats.peak_tracked = max(self.stats.peak_tracked, self.stats.tracked)
        now = self._clock()
        if initial is None:
            delay = entry.schedule.first_delay
        elif initial.is_final:
            delay = 0.0
        else:
            self._set_status(entry, initial.status)
            # The submit reply is no poll: the schedule's start, so it costs the job none of its allowance.
            delay = self._delay(entry, initial, now, first=True)
        self._push(entry, now + delay)
        return entry

    def observed(self, entry: Entry, data: JobData) -> bool:
        """Report a poll's reply; return True when the job is final (it is then no longer tracked)."""
        self.stats.polls += 1
        if entry not in self._order:  # untracked meanwhile (its sink closed)
            return data.is_final
        started = data.status == "processing" and entry.status != "processing"
        self._set_status(entry, data.status)
        if data.is_final:
            self._learn(data)
            if entry.schedule.forecast is not None:
                entry.schedule.forecast.learn(data)
            self.untrack(entry)
            self._wake_next_in_line()
            return True
        if started:
            self._wake_overtaken(entry)
        now = self._clock()
        if not entry.sink.closed:
            self._push(entry, now + self._delay(entry, data, now))
        return False

    def retry_later(self, entry: Entry, delay: float) -> None:
        """Poll ``entry`` again after ``delay`` seconds: its last poll failed and told nothing about the job."""
        if entry in self._order and not entry.sink.closed:
            self._push(entry, self._clock() + max(0.0, delay))

    def untrack(self, entry: Entry) -> None:
        """Stop tracking a job (for example after its poll failed); idempotent."""
        if self._order.pop(entry, False) is False:
            return
        waiters = self._by_key.get(entry.key, [])
        if entry in waiters:
            waiters.remove(entry)
        if not waiters:
            self._by_key.pop(entry.key, None)
        self.stats.tracked -= 1
        self._set_status(entry, None)
        entry.in_heap = False

    def nudge(self, key: str, delay: float = 0.0) -> int:
        """Poll job ``key`` within ``delay`` seconds (for example right after cancelling it); return entries moved."""
        due = self._clock() + max(0.0, delay)
        moved = 0
        for entry in list(self._by_key.get(key, ())):
            if entry.in_heap and entry.due > due:
                self._push(entry, due)
                moved += 1
        return moved

    async def next_due(self, sink: Sink) -> Entry | None:
        """Wait for the next entry of ``sink`` that is due and return it; None once the sink is closed.

        While waiting, the caller may keep time for every sink (see the module docstring).
        """
        while True:
            if sink.closed:
                return None
            if sink.ready:
                return sink.ready.popleft()
            if self._keeper is None and self._top() is not None:
                await self._keep_time(sink)
                continue
            waiter = _Waiter(sink)
            sink.idle.append(waiter)
            self._idle.append(waiter)
            try:
                await waiter.event.wait()
            finally:
                self._forget(waiter)

    # ------------------------------------------------------------------ scheduling decisions

    def _set_status(self, entry: Entry, status: str | None) -> None:
        self._processing += (status == "processing") - (entry.status == "processing")
        self._waiting += (status == "waiting") - (entry.status == "waiting")
        entry.status = status

    def _delay(self, entry: Entry, job: JobData, now: float, *, first: bool = False) -> float:
        delay = entry.schedule.start_delay(job, now) if first else entry.schedule.next_delay(job, now)
        if job.status != "waiting":
            return delay
        cap = max(self._policy.max_queued_interval, self._policy.max_interval)
        if self._processing > 0:
            # One of our jobs runs, so this one is behind it: the completion hint will call it in turn.
            return max(delay, cap)
        position = job.queue_position
        if not position:
            return delay  # the head of the queue: as the poll policy says
        per_position = self._job_seconds or 0.0  # the jobs ahead must execute first
        rate = self._read_rate()
        if rate:
            # Keep all W queued jobs' polls within a share of the budget: with an interval of p·u at
            # position p the positions below the cap poll Σ 1/(p·u) ≈ ln(W)/u times a second, those at
            # the cap at most W/cap; each term gets half of the share.
            allowed = WAITING_SHARE * rate / READ_COST  # polls per second
            per_position = max(per_position, 2 * math.log1p(self._waiting) / allowed)
            cap = max(cap, 2 * self._waiting / allowed)
        if per_position:
            delay = max(delay, min(position * per_position, cap))
        return delay

    def _learn(self, job: JobData) -> None:
        seconds = execution_seconds(job) if job.status == "completed" else None
        if seconds is None:
            return
        old = self._job_seconds
        self._job_seconds = seconds if old is None else old + _LEARN_WEIGHT * (seconds - old)

    def _hint(self, entry: Entry, delay: float) -> None:
        due = self._clock() + delay
        if entry.in_heap and entry.due > due:
            self.stats.hints += 1
            self._push(entry, due)

    def _wake_next_in_line(self) -> None:
        # On a FIFO server the earliest-registered job still queued runs next: look at it soon.
        for n, entry in enumerate(self._order):
            if n == _HINT_SCAN:
                return
            if entry.status in (None, "waiting"):
                self._hint(entry, _HINT_DELAY)
                return

    def _wake_overtaken(self, started: Entry) -> None:
        # A job registered earlier that still looks queued cannot be: it ran before this one (or the
        # server is not FIFO). Either way one poll settles it.
        for entry in self._order:
            if entry is started:
                return
            if entry.status in (None, "waiting"):
                self._hint(entry, 0.0)

    # ------------------------------------------------------------------ the heap and time keeping

    def _push(self, entry: Entry, due: float) -> None:
        self._seq += 1
        entry.seq, entry.due, entry.in_heap = self._seq, due, True
        heapq.heappush(self._heap, (due, self._seq, entry))
        if self._top() is entry:
            if self._keeper is not None:
                if self._keeper_scope is not None:
                    self._keeper_scope.cancel()  # it sleeps for too long now
            else:
                self._wake_any()

    def _top(self) -> Entry | None:
        heap = self._heap
        while heap:
            _, seq, entry = heap[0]
            if entry.in_heap and entry.seq == seq:
                return entry
            heapq.heappop(heap)  # stale: the entry was moved or untracked
        return None

    def _wake(self, waiter: _Waiter) -> None:
        self._forget(waiter)
        waiter.event.set()

    def _forget(self, waiter: _Waiter) -> None:
        if waiter in waiter.sink.idle:
            waiter.sink.idle.remove(waiter)
        if waiter in self._idle:
            self._idle.remove(waiter)

    def _wake_any(self) -> None:
        if self._idle:
            self._wake(self._idle[0])

    async def _keep_time(self, sink: Sink) -> None:
        """Keep time for every sink until ``sink`` has a ready entry, closes, or the heap empties."""
        self._keeper = sink
        try:
            while not sink.closed and not sink.ready:
                top = self._top()
                if top is None:
                    return
                now = self._clock()
                if top.due > now:
                    with anyio.CancelScope() as scope:
                        self._keeper_scope = scope
                        try:
                            await self._sleep(top.due - now)
                        finally:
                            self._keeper_scope = None
                    if scope.cancelled_caught or self._top() is not top:
                        continue  # an earlier entry arrived, or the sink closed: look again
                    # Trust a completed sleep even if the clock did not move (an injected sleep).
                    now = max(now, top.due)
                self._dispatch(now)
        finally:
            self._keeper = None
            if self._top() is not None:
                self._wake_any()  # hand time keeping on

    def _dispatch(self, now: float) -> None:
        """Move every due entry to its sink's ready queue and wake one idle worker of that sink."""
        while (top := self._top()) is not None and top.due <= now:
            heapq.heappop(self._heap)
            top.in_heap = False
            top.sink.ready.append(top)
            if top.sink.idle:
                self._wake(top.sink.idle[0])
