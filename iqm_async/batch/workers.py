"""The batch's tasks: submitters that pause through outages, poll workers on the shared scheduler, the journal's guard.

:class:`BatchWorkers` is the running half of :class:`~iqm_async.batch.Batch` (which holds the state and
the public API). Its rules:

* **Submits that never reached the server** (:class:`~iqm_async.errors.ServerUnreachableError`: refused
  connection, DNS failure) and submits the server refused with 429 created no job, so they are sent
  again, for as long as the batch's deadline allows, after the outage's pause.
* **An ambiguous submit** (:class:`~iqm_async.errors.SubmissionUnknownError`: a 502/504 or a dropped
  connection after the body left) is journaled as unknown and never re-sent; the batch then stops
  submitting and probes the server with a cheap read until it answers, so it does not keep feeding
  jobs into a failing gateway.
* **Polls and downloads** that fail with an outage (:func:`iqm_async._outage.is_outage`) are tried again
  after a jittered pause under the shared request budget; only a definitive answer (a failed or
  cancelled job, 404, 401/403) or the deadline gives an item its error. One WARNING marks the start of
  an outage and one its end, for the whole batch.
* **The journal comes first**: a job id is journaled before anything else happens with it. If a
  journal write fails, nothing more is submitted, the local work stops at once and the batch raises
  :class:`~iqm_async.errors.JournalError` with every job id it created (the jobs keep running).
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import anyio

from .._config import DEFAULT_RATE_LIMIT_POLICY
from .._journal import Journal
from .._logging import bind_batch, fields
from .._outage import OUTAGE_BASE_DELAY, Outage, is_outage
from ..errors import (
    APIStatusError,
    IQMError,
    JobTimeoutError,
    JournalError,
    NotFoundError,
    NotSubmittedError,
    RateLimitError,
    ServerUnreachableError,
    SubmissionUnknownError,
)
from .plan import Group, prepared_job

if TYPE_CHECKING:
    from anyio.abc import TaskGroup
    from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

    from .._scheduler import PollScheduler, Sink
    from ..client import AsyncIQMClient
    from ..job import AsyncJob
    from ..models import JobData, JobParameters
    from ..results import CircuitResult
    from ..sweeps import Pipeline

__all__ = ["BatchWorkers", "POLL_WORKERS", "READ_RESERVE_FRACTION", "SUBMIT_CONCURRENCY"]

logger = logging.getLogger("iqm_async.batch")

POLL_WORKERS = 16
"""Tasks per batch that send status polls and download results (the scheduler decides which job is due)."""

SUBMIT_CONCURRENCY = 8
"""Submits on the wire at once; few, so a cancelled batch waits for at most a few shielded submits."""

READ_RESERVE_FRACTION = 0.1
"""Share of the request budget's quota that batch submits leave free for status polls and downloads."""


class BatchWorkers:
    """Submitters, poll workers and the journal guard of one batch (the state lives on :class:`Batch`)."""

    _client: AsyncIQMClient
    _scheduler: PollScheduler
    _sink: Sink
    _groups: list[Group]
    _pending: list[Group]
    _journal: Journal | None
    _in_flight: anyio.CapacityLimiter
    _submit_limiter: anyio.CapacityLimiter
    _submit_scope: anyio.CancelScope | None
    _tg: TaskGroup | None
    _deadline: float
    _timeout: float
    _cancelling: bool
    _submits_pending: int
    _use_timeslot: bool
    _batch_id: str | None
    _outage: Outage
    _gate: anyio.Event
    _probing: bool
    _path_ok: anyio.Event
    _scouting: bool
    _journal_failure: JournalError | None
    _unrecorded: list[str]
    _feed: Pipeline | None
    _parameters: JobParameters | None
    _tags: tuple[str, ...]
    preparation_error: Exception | None
    job_ids: list[str]
    spec: dict[str, Any]

    # Implemented by Batch:
    def _attached(self, group: Group) -> None:
        raise NotImplementedError

    def _finish(
        self, group: Group, *, values: list[CircuitResult] | None = None, error: Exception | None = None
    ) -> None:
        raise NotImplementedError

    def _seen(self, group: Group, data: JobData) -> None:
        raise NotImplementedError

    async def _cancel_job(self, job: AsyncJob) -> None:
        raise NotImplementedError

    # -------------------------------------------------------------- the run

    async def _main(self) -> None:
        """Run poll workers and submitters under the batch deadline; give every group an outcome."""
        bind_batch(self.spec.get("batch_id"))  # every record and span of this task's children names the batch
        try:
            with anyio.CancelScope(deadline=self._deadline) as deadline:
                async with anyio.create_task_group() as tg:
                    self._work_tg = tg
                    for _ in range(POLL_WORKERS):
                        tg.start_soon(self._poll_worker)
                    self._start_groups()
                    # Groups reach the submitters through a stream with no buffer: a streamed plan prepares
                    # only as far ahead as its pipeline's window and the submitters waiting for a slot.
                    send, receive = anyio.create_memory_object_stream[Group](0)
                    with anyio.CancelScope() as submitting:
                        self._submit_scope = submitting
                        async with anyio.create_task_group() as submitters:
                            submitters.start_soon(self._produce, send)
                            for _ in range(SUBMIT_CONCURRENCY):
                                submitters.start_soon(self._submitter, receive.clone())
                            receive.close()
                    self._submit_scope = None
                    # Only cancel() stops the submitters early: what they did not send, it never will.
                    for group in list(self._groups):
                        if group.job is None:
                            self._finish(group, error=self._not_submitted("cancelled"))
                    self._settle_unprepared(lambda: self._not_submitted("cancelled"))
            if deadline.cancelled_caught:
                for group in list(self._groups):
                    self._finish(group, error=self._timeout_error(group))
                self._settle_unprepared(lambda: self._not_submitted("timeout"))
        finally:
            self._scheduler.close_sink(self._sink)
            if self._feed is not None:
                self._feed.close()

    async def _produce(self, send: MemoryObjectSendStream[Group]) -> None:
        """Hand the submitters every group to submit: the planned ones, then each streamed one once prepared."""
        async with send:
            for group in self._pending:
                await send.send(group)
            feed = self._feed
            if feed is None:
                return
            try:
                async with contextlib.aclosing(feed.parts()) as chunks:
                    async for parts in chunks:
                        for part in parts:
                            group = Group(len(self._groups), part.start, part.stop)
                            assert self._parameters is not None
                            group.prepared = prepared_job(part, self._parameters, self._tags)
                            self._groups.append(group)
                            await send.send(group)
            except Exception as exc:  # a circuit that cannot be transpiled or run, or a broken executor
                self._preparation_failed(exc)
            finally:
                feed.close()

    def _preparation_failed(self, error: Exception) -> None:
        """Fail the items of a streamed chunk that could not be prepared; later ones are not sent, sent jobs go on."""
        feed = self._feed
        assert feed is not None
        logger.error("batch: %s; no further jobs are submitted, the %d already sent go on", error, len(self.job_ids))
        self.preparation_error = error
        remaining = feed.remaining()
        feed.produced = len(feed.ranges)
        for n, (start, stop) in enumerate(remaining):
            group = Group(len(self._groups), start, stop)
            self._groups.append(group)
            if n == 0:
                self._finish(group, error=error)
            else:
                message = f"Not submitted: an earlier circuit of the batch could not be prepared ({error})"
                self._finish(group, error=NotSubmittedError(message, reason="preparation_failed"))

    def _settle_unprepared(self, error: Callable[[], Exception]) -> None:
        """Give the items of a streamed plan that were never prepared their outcome (cancel, deadline)."""
        feed = self._feed
        if feed is None:
            return
        remaining = feed.remaining()
        feed.produced = len(feed.ranges)
        for start, stop in remaining:
            group = Group(len(self._groups), start, stop)
            self._groups.append(group)
            self._finish(group, error=error())

    def _start_groups(self) -> None:
        """Track re-attached jobs, settle groups the journal already decided, queue the rest for submit."""
        for group in self._groups:
            if group.job is not None:
                self._attached(group)
            elif group.record is not None:
                self._finish(group, error=group.record)
            elif group.prepared is None:
                error = NotSubmittedError(
                    "The journal has no job for these circuits; resume with the circuits to submit them.",
                    reason="not_in_journal",
                )
                self._finish(group, error=error)
            else:
                self._pending.append(group)

    def _not_submitted(self, reason: Literal["cancelled", "timeout"]) -> NotSubmittedError:
        if reason == "cancelled":
            return NotSubmittedError("The batch was cancelled before these circuits were submitted.", reason=reason)
        return NotSubmittedError(
            f"The batch's deadline ({self._timeout} s) passed before these circuits were submitted."
            f"{self._outage.describe()}",
            reason=reason,
        )

    def _timeout_error(self, group: Group) -> IQMError:
        if group.job is None:
            return self._not_submitted("timeout")
        return JobTimeoutError(
            f"The batch did not finish within {self._timeout} seconds; job {group.job.job_id} is still on the "
            f"server.{self._outage.describe()} Resume from the journal, re-attach with client.job(job_id), or "
            "cancel it.",
            job_id=group.job.job_id,
            timeout_seconds=self._timeout,
        )

    # -------------------------------------------------------------- submitting

    async def _submitter(self, pending: MemoryObjectReceiveStream[Group]) -> None:
        """Submit groups one after another (several submitters share the stream)."""
        async with pending:
            async for group in pending:
                if self._cancelling or self._journal_failure is not None:
                    return
                await self._submit_one(group)

    async def _submit_one(self, group: Group) -> None:
        """Take an in-flight slot for one group and submit it; its failure is its own outcome."""
        await self._in_flight.acquire_on_behalf_of(group)
        group.borrowed = True
        try:
            await self._submit(group)
        except JournalError:
            return  # the batch is stopping (see _journal_failed)
        except Exception as exc:  # the group's outcome; never its siblings' problem
            self._finish(group, error=exc)

    async def _submit(self, group: Group) -> None:
        """Send one group's job, pausing through outages; journal and track its id before anything else."""
        prepared = group.prepared
        assert prepared is not None
        async with self._submit_limiter:
            while True:
                await self._gate.wait()  # closed while a probe checks that the server is healthy again
                # Slow start: at the batch's start and after every pause one submit (the scout) goes alone,
                # and the others follow once it got through: a gateway that fails on arrival then costs one
                # ambiguous submit, not one per submit in flight.
                scout = not self._path_ok.is_set()
                if scout and self._scouting:
                    await self._path_ok.wait()
                    continue  # the scout may have failed and closed the gate: look again
                self._scouting = self._scouting or scout
                await self._pace_submit()
                retry: IQMError | None = None
                # Once the request may leave, finish it and journal the id even if we are cancelled meanwhile:
                # otherwise the server could hold a job nobody knows about.
                with anyio.CancelScope(shield=True):
                    self._submits_pending += 1
                    try:
                        job = await self._client.submit_prepared(
                            prepared, use_timeslot=self._use_timeslot, batch_id=self._batch_id
                        )
                    except ServerUnreachableError as exc:
                        retry = exc  # nothing was sent: no job can exist
                        self._scouted(scout, ok=False)
                    except RateLimitError as exc:
                        retry = exc  # refused before anything was created
                        self._scouted(scout, ok=True)  # the path works; the budget paces the rest
                    except SubmissionUnknownError as exc:
                        message = str(exc)
                        self._journal_write(Journal.unknown, group.index, group.start, group.stop, message)
                        self._pause(exc)
                        self._scouted(scout, ok=False)
                        raise
                    except APIStatusError as exc:
                        # The server answered, so no job exists, and this refusal would only recur.
                        status, body = exc.status_code, exc.body
                        self._journal_write(Journal.refused, group.index, group.start, group.stop, status, body)
                        self._scouted(scout, ok=True)
                        raise
                    except BaseException:
                        self._scouted(scout, ok=False)
                        raise
                    else:
                        self._scouted(scout, ok=True)
                    finally:
                        self._submits_pending -= 1
                    if retry is None:
                        group.job = job
                        group.prepared = None  # the job keeps the definition it needs
                        job_id = job.job_id
                        if not self._journal_write(Journal.job, group.index, group.start, group.stop, job_id):
                            self._unrecorded.append(job_id)
                        self._attached(group)
                        self._outage.recovered()
                        if self._journal_failure is not None:
                            raise self._journal_failure
                if retry is None:
                    break
                if not isinstance(retry, RateLimitError):
                    self._pause(retry)
        if self._cancelling:
            # cancel() ran while this submit was on the wire and could not see the job yet.
            with anyio.CancelScope(shield=True), anyio.move_on_after(30):
                await self._cancel_job(job)

    async def _pace_submit(self) -> None:
        # Wait (cancellably) for room in the budget before entering the shielded submit, so the shield
        # covers the request rather than a long wait for budget. Room means: this submit, the others
        # already past this point, and a reserve for reads, because status polls and downloads finish
        # jobs (and free their slots) while submits only start more; without the reserve a burst of
        # submits can leave the last jobs' reads waiting a whole window.
        budget = self._client.transport.budget
        cost = DEFAULT_RATE_LIMIT_POLICY.costs["submit"]
        read = DEFAULT_RATE_LIMIT_POLICY.costs["read"]
        # The reserve is what the jobs under way (and this one) still owe in reads, a status read and a
        # download each, capped at a share of the quota: a flat share would idle that share of the budget
        # whenever jobs finish fast, about a tenth of the submit rate.
        owed = 2 * read * (self._scheduler.stats.tracked + 1)
        reserve = min(READ_RESERVE_FRACTION * (budget.limit or 0), owed)
        for _ in range(3):  # bounded: an injected sleep need not move the clock
            # Submits already admitted by the budget are in its window (in flight): count only those not yet
            # charged, or each in-flight submit would count twice and halve the submit rate.
            uncharged = max(0, cost * self._submits_pending - budget.in_flight_units)
            delay = budget.delay_for(int(cost + uncharged + reserve), self._client.clock())
            if delay <= 0:
                return
            await self._client.sleep(delay)

    def _scouted(self, scout: bool, *, ok: bool) -> None:
        """Take the scout submit's verdict: let the others go, or (after a failure) make the next try scout."""
        if not scout:
            return
        self._scouting = False
        waiting = self._path_ok
        if not ok:
            self._path_ok = anyio.Event()  # the next submit after the pause scouts again
        waiting.set()  # wake the submits that waited for the verdict; they look at the gate again

    def _pause(self, error: IQMError) -> None:
        """Stop submitting and polling until a probe finds the server healthy again (one probe at a time)."""
        pause = self._outage.failed(error)
        if self._path_ok.is_set():
            self._path_ok = anyio.Event()  # after the pause, one submit scouts before the others follow
        if self._probing:
            return
        self._probing = True
        if self._gate.is_set():
            self._gate = anyio.Event()
        self._work_tg.start_soon(self._probe, pause)

    async def _probe(self, first_pause: float) -> None:
        """Read the server's health until it answers, then let the submitters go on."""
        pause = first_pause
        try:
            while True:
                await self._client.sleep(pause)
                try:
                    await self._client.health()
                except Exception as exc:  # it is only a probe: whatever it says, the submits find out for themselves
                    if not (isinstance(exc, IQMError) and is_outage(exc)):
                        break  # the server answers (with an error of its own), or the probe itself cannot tell
                    pause = self._outage.failed(exc)
                    continue
                break
        finally:
            self._probing = False
            self._gate.set()

    # -------------------------------------------------------------- polling

    async def _poll_worker(self) -> None:
        """Poll whichever of this batch's jobs the scheduler says is due; collect each finished job."""
        while True:
            entry = await self._scheduler.next_due(self._sink)
            if entry is None:
                return
            group: Group = entry.context
            job = group.job
            assert job is not None
            # During an outage one probe asks for the whole batch; the polls wait for its all-clear.
            await self._gate.wait()
            try:
                data = await entry.fetch()
            except Exception as exc:  # the transport already retried this one request
                if isinstance(exc, IQMError) and is_outage(exc, self._outage.malformed):
                    self._pause(exc)
                    # Spread over up to one outage pause, so the polls do not all return at once.
                    self._scheduler.retry_later(entry, OUTAGE_BASE_DELAY * random.random())
                    continue
                self._scheduler.untrack(entry)
                self._finish(group, error=_about_job(exc, job))
                continue
            self._outage.recovered()
            self._seen(group, data)
            if not self._scheduler.observed(entry, data):
                continue
            try:
                values = await self._download(job)
            except Exception as exc:  # failed / cancelled job, or a definitive download error
                self._finish(group, error=_about_job(exc, job))
                continue
            self._finish(group, values=values)

    async def _download(self, job: AsyncJob) -> list[CircuitResult]:
        """Fetch a final job's results; the job rides out outages with the batch's tracker, until the deadline."""
        return await job.circuit_results_async(math.inf)

    # -------------------------------------------------------------- the journal

    def _journal_write(self, record: Callable[..., None], *args: Any) -> bool:
        """Write one record (``record``: a :class:`Journal` method); on failure stop the batch and return False."""
        if self._journal is None:
            return True
        try:
            record(self._journal, *args)
        except JournalError as exc:
            self._journal_failed(exc)
            return False
        return True

    def _journal_failed(self, exc: JournalError) -> None:
        if self._journal_failure is not None:
            return
        path = self._journal.path if self._journal is not None else "?"
        logger.error("batch journal %s: %s; stopping the batch, its jobs keep running", path, exc, extra=fields())
        self._journal_failure = exc
        if self._submit_scope is not None:
            self._submit_scope.cancel()
        if self._tg is not None:
            self._tg.cancel_scope.cancel()

    def journal_error(self) -> JournalError:
        """Return the error to raise for a failed journal write, with every job id the batch created."""
        assert self._journal_failure is not None
        unrecorded = list(self._unrecorded)
        path = self._journal.path if self._journal is not None else "?"
        listing = ", ".join(self.job_ids[:20]) + (" …" if len(self.job_ids) > 20 else "")
        return JournalError(
            f"{self._journal_failure} The batch stopped submitting; the {len(self.job_ids)} jobs it created keep "
            f"running on the server ({listing or 'none'}); {len(unrecorded)} of them are not in the journal "
            f"{path}: {', '.join(unrecorded) or 'none'}. Re-attach to each with client.job(job_id), or free the "
            "space and resume the journal (it will not know the unrecorded ones).",
            job_ids=self.job_ids,
            unrecorded_job_ids=unrecorded,
        )


def _about_job(error: Exception, job: AsyncJob) -> Exception:
    """Say plainly when the server no longer knows a job; leave every other error as it is."""
    if isinstance(error, NotFoundError):
        return job.gone(error)
    return error
