"""Job polling: when to ask for a job's status next. Separate from HTTP retries.

:class:`PollSchedule` is a pure state machine: feed it each :class:`~iqm_async.models.JobData` with
the time it was seen and it says how long to wait before the next poll. The rules (docs/protocol.md#polling-guidance):

* the first poll comes soon (``first_delay``); while nothing changes the interval grows by
  ``factor`` up to ``max_interval``;
* a change of status (or of progress) makes polling fast again;
* while ``waiting``, the interval scales with ``queue_position``, so a job deep in the queue costs
  few requests (capped at ``max_queued_interval``);
* while ``processing`` with ``execution.progress``, the observed rate of circuits gives an estimate
  of the completion time, and the next poll is placed just after it rather than up to a whole
  interval later;
* while ``processing`` with a *forecast* (a :class:`~iqm_async._forecast.JobForecast`: how long
  this client's earlier jobs of the same size took on the same calibration set), the completion is
  expected at the start of execution (read from the job's timeline) plus the forecast duration.
  The schedule sleeps until the window around that instant, polls densely inside it
  (``dense_interval`` or less), and after it backs off geometrically again. In that mode a job's
  execution never costs more requests than polling every ``allowance_interval`` seconds from its
  start would have sent by then: the polls skipped while the job surely runs pay for the dense ones.
  The allowance starts when the job is first seen processing, so the polls a job got while queued
  (or its submit reply) do not delay the polls around its end; and it is never tighter than the
  policy's own ``max_interval`` (a policy that asks for polls every 0.05 s gets them).

Without a forecast (no history yet, a re-attached job) the schedule is exactly the one above.

:func:`poll_until_final` drives one job with an injected ``sleep``; the batch module drives many
jobs with one scheduler using the same :class:`PollSchedule`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import anyio

from ._config import DEFAULT_POLL_POLICY, PollPolicy
from ._forecast import JobForecast, execution_start
from .models import JobData

__all__ = ["PollSchedule", "poll_until_final"]

_MIN_DENSE = 0.01
"""Seconds: the shortest interval between polls in a forecast window."""

_OVERDUE_SHARE = 0.5
"""Past the forecast window, the backoff stops at this share of the allowance interval: the polls saved before the
window pay for these, and the allowance still bounds the total (a job a few seconds late is seen within 0.5 s)."""


def _created(job: JobData) -> float | None:
    """Return the wall-clock time the server created the job (its ``created`` step), if known."""
    for entry in job.timeline:
        if entry.status == "created":
            return entry.timestamp.timestamp()
    return None


class PollSchedule:
    """Decides the delay before the next status poll of one job."""

    __slots__ = (
        "_first_processing",
        "_forecast",
        "_interval",
        "_last_progress",
        "_last_status",
        "_origin",
        "_overdue",
        "_phase_origin",
        "_phase_polls",
        "_policy",
        "_polls",
        "_rate_origin",
        "_seen_waiting",
        "_wall",
    )

    def __init__(
        self,
        policy: PollPolicy = DEFAULT_POLL_POLICY,
        *,
        forecast: JobForecast | None = None,
        wall: Callable[[], float] = time.time,
    ):
        self._policy = policy
        self._forecast = forecast
        self._wall = wall
        self._interval = policy.first_delay
        self._last_status: str | None = None
        self._last_progress: tuple[int, int] | None = None
        # (time, circuits done) when the current processing run was first seen with progress
        self._rate_origin: tuple[float, int] | None = None
        self._origin: float | None = None  # when the wait started (the first decision), for the allowance
        self._polls = 0  # replies seen so far
        self._seen_waiting: float | None = None  # last time the job was seen waiting
        self._first_processing: float | None = None  # first time the job was seen processing
        self._overdue: float | None = None  # backoff interval once past the forecast window
        # The allowance of the execution phase: where it starts (local clock) and the replies seen before it.
        self._phase_origin: float | None = None
        self._phase_polls = 0

    @property
    def first_delay(self) -> float:
        """Delay before the very first poll."""
        return self._policy.first_delay

    @property
    def forecast(self) -> JobForecast | None:
        """The job's completion forecast, if any."""
        return self._forecast

    def start_delay(self, initial: JobData | None, now: float) -> float:
        """Return the delay before the first poll of a wait that starts at ``now`` knowing ``initial``.

        A job not freshly submitted (nothing known, or created longer ago than ``first_delay``) is
        polled at once. A fresh one waits out the rest of ``first_delay`` (or the queue-aware delay
        its submit reply calls for); with a forecast, its first poll goes to the window where it is
        expected to complete if it started at once (at most ``max_interval`` away).
        """
        self._origin = now
        if initial is None:
            return 0.0
        created = _created(initial)
        age = None if created is None else max(0.0, self._wall() - created)
        if age is not None and age >= self._policy.first_delay:
            return 0.0
        delay = self._decide(initial, now, polled=False) - (age or 0.0)
        prediction = self._forecast.predict(initial) if self._forecast is not None else None
        if prediction is not None and initial.status in ("waiting", "processing") and not initial.queue_position:
            # It cannot finish before its execution time has passed, even if it started at once: the first
            # poll goes to the forecast window (at most the capped interval away), as the allowance leaves
            # short jobs few polls.
            spread = prediction.spread
            spacing = self._spacing(spread, now + prediction.seconds + spread)
            earliest = max(0.0, prediction.seconds - spread + spacing - (age or 0.0))
            delay = min(earliest, self._policy.max_interval)
        return max(0.0, delay)

    def next_delay(self, job: JobData, now: float) -> float:
        """Return seconds to wait before polling ``job`` again, given it was seen as ``job`` at ``now``."""
        return self._decide(job, now, polled=True)

    def _decide(self, job: JobData, now: float, *, polled: bool) -> float:
        p = self._policy
        if self._origin is None:
            self._origin = now
        if polled:
            self._polls += 1
        progress = job.progress
        changed = job.status != self._last_status or progress != self._last_progress
        if job.status != self._last_status:
            self._rate_origin = None
        self._last_status, self._last_progress = job.status, progress
        if changed:
            self._interval = max(p.first_delay, 0.05)
        else:
            self._interval = min(self._interval * p.factor, p.max_interval)
        delay = self._interval
        if job.status == "waiting":
            self._seen_waiting = now
            if job.queue_position:
                queued = job.queue_position * p.per_queue_position
                delay = min(max(delay, queued), max(p.max_queued_interval, p.max_interval))
        elif job.status == "processing":
            if self._first_processing is None:
                self._first_processing = now
                # This sight is the execution phase's first reply (a start_delay decision is no reply).
                self._phase_polls = max(0, self._polls - 1) if polled else self._polls
            forecast_delay = self._forecast_delay(job, now)
            if forecast_delay is not None:
                return forecast_delay
            if progress is not None:
                delay = self._processing_delay(progress, now, delay)
        return delay

    # ------------------------------------------------------------------ forecasts

    def _allowance_interval(self) -> float:
        """Seconds per request of the allowance: never longer than the policy's cap (it asked for more requests)."""
        return min(self._policy.allowance_interval, self._policy.max_interval)

    def _allowance(self) -> tuple[float, int]:
        """Return (start, replies counted) of the allowance: the execution phase's once it began, else the wait's."""
        if self._phase_origin is not None:
            return self._phase_origin, self._polls - self._phase_polls
        assert self._origin is not None
        return self._origin, self._polls

    def _spacing(self, spread: float, until: float) -> float:
        """Interval between polls in the window: the polls the allowance leaves until ``until`` cover it evenly."""
        origin, polls = self._allowance()
        interval = self._allowance_interval()
        left = int((until - origin) / interval) + 2 - polls if interval > 0 else 8
        # Dense enough for a sharp forecast, no denser than the allowance can pay for across the whole window.
        return max(min(self._policy.dense_interval, max(_MIN_DENSE, spread / 2)), 2 * spread / max(1, left))

    def _execution_started(self, job: JobData, now: float) -> float:
        """Return the local (clock) time execution started: from the timeline, bounded by what was seen."""
        first_seen = self._first_processing if self._first_processing is not None else now
        stamp = execution_start(job)
        if stamp is None:
            return first_seen
        start = now - max(0.0, self._wall() - stamp.timestamp())
        # Clocks of client and server may disagree: the start lies between the last sight of the job
        # waiting and the first sight of it processing.
        if self._seen_waiting is not None:
            start = max(start, self._seen_waiting)
        return min(start, first_seen)

    def _forecast_delay(self, job: JobData, now: float) -> float | None:
        if self._forecast is None:
            return None
        prediction = self._forecast.predict(job)
        if prediction is None:
            return None
        p = self._policy
        spread = prediction.spread
        started = self._execution_started(job, now)
        if self._phase_origin is None:
            assert self._origin is not None
            self._phase_origin = max(self._origin, started)
        end = started + prediction.seconds
        dense = self._spacing(spread, end + spread)
        target = end - spread + dense  # the window's polls: end - spread + dense, + 2 dense, … up to end + spread
        if now < end - spread:
            delay = min(target - now, p.max_interval)  # the job surely runs until then
        elif now < end + spread:
            delay = dense
        else:
            # Past the window: slower than forecast. Back off again from the dense interval, up to half the
            # allowance interval; once the saved polls are spent, the allowance below spaces them further.
            cap = min(p.max_interval, max(dense, _OVERDUE_SHARE * self._allowance_interval()))
            self._overdue = dense if self._overdue is None else min(self._overdue * p.factor, cap)
            delay = self._overdue
        # The allowance: the k-th poll of the execution phase goes no earlier than (k - 2) allowance intervals
        # after its start, as many as polling at the start and then every interval would have sent by then.
        origin, polls = self._allowance()
        earliest = origin + (polls - 1) * self._allowance_interval()
        return max(delay, earliest - now)

    def _processing_delay(self, progress: tuple[int, int], now: float, fallback: float) -> float:
        done, total = progress
        if self._rate_origin is None or done < self._rate_origin[1]:
            self._rate_origin = (now, done)
            return fallback
        t0, done0 = self._rate_origin
        if done <= done0 or now <= t0 or total <= done:
            return fallback
        rate = (done - done0) / (now - t0)
        remaining = (total - done) / rate
        # Land just after the estimated completion, but never wait longer than the capped interval.
        return min(max(remaining + self._policy.completion_margin, 0.01), self._policy.max_interval)


async def poll_until_final(
    fetch: Callable[[], Awaitable[JobData]],
    *,
    policy: PollPolicy = DEFAULT_POLL_POLICY,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    clock: Callable[[], float] = time.monotonic,
    wall: Callable[[], float] = time.time,
    initial: JobData | None = None,
    on_update: Callable[[JobData], None] | None = None,
    forecast: JobForecast | None = None,
) -> JobData:
    """Poll ``fetch`` until the job is final and return its final JobData.

    A job not freshly submitted is polled at once (see :meth:`PollSchedule.start_delay`). With a
    ``forecast``, polls gather around the forecast completion, and a completed job teaches the
    forecast's history. Has no deadline of its own: callers wrap it in ``anyio.fail_after`` (see
    ``AsyncJob.wait_async``).
    """
    if initial is not None and initial.is_final:
        return initial
    schedule = PollSchedule(policy, forecast=forecast, wall=wall)
    delay = schedule.start_delay(initial, clock())
    if delay > 0:
        await sleep(delay)
    while True:
        job = await fetch()
        if on_update is not None:
            on_update(job)
        if job.is_final:
            if forecast is not None:
                forecast.learn(job)
            return job
        await sleep(schedule.next_delay(job, clock()))
