"""Job polling: when to ask for a job's status next. Separate from HTTP retries.

:class:`PollSchedule` is a pure state machine: feed it each :class:`~iqm_async.models.JobData` with
the time it was seen and it says how long to wait before the next poll. The rules (protocol §8.3):

* the first poll comes soon (``first_delay``); while nothing changes the interval grows by
  ``factor`` up to ``max_interval``;
* a change of status (or of progress) makes polling fast again;
* while ``waiting``, the interval scales with ``queue_position``, so a job deep in the queue costs
  few requests (capped at ``max_queued_interval``);
* while ``processing`` with ``execution.progress``, the observed rate of circuits gives an estimate
  of the completion time, and the next poll is placed just after it rather than up to a whole
  interval later.

:func:`poll_until_final` drives one job with an injected ``sleep``; the batch module drives many
jobs with one scheduler using the same :class:`PollSchedule`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import anyio

from ._config import DEFAULT_POLL_POLICY, PollPolicy
from .models import JobData

__all__ = ["PollSchedule", "poll_until_final"]


class PollSchedule:
    """Decides the delay before the next status poll of one job."""

    __slots__ = ("_interval", "_last_progress", "_last_status", "_policy", "_rate_origin")

    def __init__(self, policy: PollPolicy = DEFAULT_POLL_POLICY):
        self._policy = policy
        self._interval = policy.first_delay
        self._last_status: str | None = None
        self._last_progress: tuple[int, int] | None = None
        # (time, circuits done) when the current processing run was first seen with progress
        self._rate_origin: tuple[float, int] | None = None

    @property
    def first_delay(self) -> float:
        """Delay before the very first poll."""
        return self._policy.first_delay

    def next_delay(self, job: JobData, now: float) -> float:
        """Return seconds to wait before polling ``job`` again, given it was seen as ``job`` at ``now``."""
        p = self._policy
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
        if job.status == "waiting" and job.queue_position:
            queued = job.queue_position * p.per_queue_position
            delay = min(max(delay, queued), max(p.max_queued_interval, p.max_interval))
        elif job.status == "processing" and progress is not None:
            delay = self._processing_delay(progress, now, delay)
        return delay

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
    initial: JobData | None = None,
    on_update: Callable[[JobData], None] | None = None,
) -> JobData:
    """Poll ``fetch`` until the job is final and return its final JobData.

    Has no deadline of its own: callers wrap it in ``anyio.fail_after`` (see ``AsyncJob.wait_async``).
    """
    schedule = PollSchedule(policy)
    if initial is not None and initial.is_final:
        return initial
    # The first observation always resets the schedule to its first (short) delay.
    await sleep(schedule.first_delay if initial is None else schedule.next_delay(initial, clock()))
    while True:
        job = await fetch()
        if on_update is not None:
            on_update(job)
        if job.is_final:
            return job
        await sleep(schedule.next_delay(job, clock()))
