"""The ``Batch`` object: its state, lifetime (an async context manager owning one task group) and public API.

The tasks that do the work are in :mod:`iqm_async.batch.workers`; planning (grouping, conversion, the
journal's spec) is in :mod:`iqm_async.batch.plan`; outcomes and progress in their own modules.
"""

from __future__ import annotations

import enum
import logging
import math
import os
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, overload

import anyio

from .._config import (
    DEFAULT_RATE_LIMIT_POLICY,
    DEFAULT_RESULT_TIMEOUT,
    BatchPolicy,
)
from .._journal import Journal
from .._logging import fields
from .._outage import Outage, ride_out
from .._scheduler import PollScheduler
from ..errors import BatchError, CircuitValidationError, JournalError, OperationTimeoutError, ValidationError
from ..models import JobData
from ..results import CircuitResult
from ..validation import check_qubit_names, check_shots
from .outcomes import BatchCounts, Outcome, assemble_results, describe_failures
from .plan import DEFAULT_CIRCUITS_PER_JOB, Group, SweepOptions, plan_new, plan_resume
from .progress import ProgressBar, want_progress
from .workers import SUBMIT_CONCURRENCY, BatchWorkers

if TYPE_CHECKING:

    from anyio.abc import TaskGroup
    from qiskit import QuantumCircuit
    from qiskit.result import Result

    from ..client import AsyncIQMClient
    from ..job import AsyncJob
    from ..sweeps import Pipeline, SweepInput

__all__ = ["CANCEL_CONCURRENCY", "Batch", "scheduler_for"]

logger = logging.getLogger("iqm_async.batch")

CANCEL_CONCURRENCY = 16
"""Cancel requests on the wire at once in :meth:`Batch.cancel` (the budget paces them anyway)."""

_SCHEDULERS: weakref.WeakKeyDictionary[AsyncIQMClient, PollScheduler] = weakref.WeakKeyDictionary()


def scheduler_for(client: AsyncIQMClient) -> PollScheduler:
    """Return the client's one poll scheduler, shared by all its batches (created on first use)."""
    scheduler = _SCHEDULERS.get(client)
    if scheduler is None:
        budget = client.transport.budget
        window = DEFAULT_RATE_LIMIT_POLICY.window_seconds  # IQM does not send its window length

        def read_rate() -> float | None:
            limit = budget.limit
            return None if limit is None else limit * (1 - DEFAULT_RATE_LIMIT_POLICY.low_water_fraction) / window

        scheduler = PollScheduler(client.poll_policy, clock=client.clock, sleep=client.sleep, read_rate=read_rate)
        _SCHEDULERS[client] = scheduler
    return scheduler


class _Phase(enum.Enum):
    NEW = "new"
    RUNNING = "running"
    FINISHED = "finished"
    ABORTED = "aborted"


class Batch(BatchWorkers):
    """Many circuits run as jobs with bounded concurrency; see the module docstring.

    Create one with :meth:`AsyncIQMClient.run_batch` / :meth:`AsyncIQMClient.resume_batch` (which document
    every argument); nothing is sent until it is entered or awaited.
    """

    def __init__(
        self,
        client: AsyncIQMClient,
        *,
        circuits: Sequence[QuantumCircuit] | None,
        shots: int,
        circuits_per_job: int | None,
        max_in_flight: int,
        timeout_seconds: float | None,
        journal: str | os.PathLike[str] | None,
        resume: bool,
        progress: bool | None,
        on_complete: Callable[[Outcome], object] | None,
        qubit_names: Sequence[str] | None,
        use_timeslot: bool,
        tags: tuple[str, ...],
        options: Mapping[str, Any],
        sweep: SweepOptions,
    ):
        policy = BatchPolicy(max_in_flight=max_in_flight, circuits_per_job=circuits_per_job)
        limit = DEFAULT_RESULT_TIMEOUT if timeout_seconds is None else float(timeout_seconds)
        if limit != limit or limit < 0:
            raise ValidationError(f"timeout_seconds must be a non-negative number, got {timeout_seconds!r}")
        if hasattr(circuits, "num_qubits") and not isinstance(circuits, Iterable):
            # One circuit (a QuantumCircuit is not iterable): a batch of one, its values one entry.
            circuits = [circuits]
            if sweep.parameter_values is not None:
                sweep.parameter_values = [sweep.parameter_values]
        if circuits is not None and (isinstance(circuits, (str, bytes)) or not isinstance(circuits, Iterable)):
            raise CircuitValidationError(
                f"circuits must be a sequence of QuantumCircuits, got {type(circuits).__name__}"
            )
        self._client = client
        # A sequence is used as it is (a lazy sweep is not copied); any other iterable is read once.
        self._circuits = circuits if circuits is None or isinstance(circuits, Sequence) else list(circuits)
        self._shots = check_shots(shots)
        self._circuits_per_job = policy.circuits_per_job or DEFAULT_CIRCUITS_PER_JOB
        self._timeout = limit
        self._journal_path = None if journal is None else os.fspath(journal)
        self._resume = resume
        self._want_progress = progress
        self._on_complete = on_complete
        self._qubit_names = None if qubit_names is None else check_qubit_names(qubit_names)
        self._use_timeslot = use_timeslot
        self._tags = tags
        self._batch_id: str | None = None
        self._options = dict(options)
        self._sweep = sweep
        self._feed: Pipeline | None = None
        self._items: SweepInput | None = None
        self.preparation_error: Exception | None = None
        """Why a streamed batch stopped preparing (its items then failed with it, or were not submitted)."""
        self._in_flight = anyio.CapacityLimiter(policy.max_in_flight)
        self._submit_limiter = anyio.CapacityLimiter(SUBMIT_CONCURRENCY)
        self._scheduler = scheduler_for(client)
        self._phase = _Phase.NEW
        self._groups: list[Group] = []
        self._outcomes: list[Outcome | None] = []
        self._completed: list[Outcome] = []
        self._changed = anyio.Event()
        self._all_done = anyio.Event()
        self._journal: Journal | None = None
        self._bar: ProgressBar | None = None
        self._tg: TaskGroup | None = None
        self._sink = self._scheduler.open_sink()
        self._pending: list[Group] = []
        self._submit_scope: anyio.CancelScope | None = None
        self._deadline = math.inf
        self._cancelling = False
        self._submits_pending = 0
        self._callback_error: Exception | None = None
        self._outage = Outage("batch", client.url, clock=client.clock, logger=logger)
        self._gate = anyio.Event()
        self._gate.set()
        self._probing = False
        self._path_ok = anyio.Event()  # unset until a first submit got through (see BatchWorkers._submit)
        self._scouting = False
        self._journal_failure: JournalError | None = None
        self._unrecorded: list[str] = []
        self.notes: list[str] = []
        """Remarks about how the batch was set up (for example a read-only journal collected without writing)."""
        self.job_ids: list[str] = []
        """Ids of the jobs submitted (or re-attached), each appended as soon as it is journaled."""
        self.counts = BatchCounts(0 if self._circuits is None else len(self._circuits))
        """Live progress counters."""
        self.spec: dict[str, Any] = {}
        """The batch spec as written to (or read from) the journal."""

    def __repr__(self) -> str:
        c = self.counts
        return f"<Batch {self._phase.value}: {c.circuits} circuits, {c.jobs} jobs, {c.done} done, {c.failed} failed>"

    def __len__(self) -> int:
        return self.counts.circuits

    def locate(self, index: int) -> tuple[int, tuple[int, ...]]:
        """Return ``(input circuit, point)`` of item ``index``: which circuit and which of its parameter values.

        The point indexes that circuit's array of values (``()`` for a circuit run as it is). Known once the
        batch has started (for a resumed batch, only when it was given the circuits).
        """
        if self._items is None:
            raise RuntimeError("The batch knows its items once it has started (resume: pass circuits=).")
        return self._items.locate(index)

    # -------------------------------------------------------------- lifetime

    async def __aenter__(self) -> Batch:
        if self._phase is not _Phase.NEW:
            raise RuntimeError("A Batch runs once; create a new one with client.run_batch(...).")
        self._phase = _Phase.RUNNING
        try:
            await self._setup()
            self._deadline = math.inf if math.isinf(self._timeout) else anyio.current_time() + self._timeout
            if want_progress(self._want_progress):
                try:
                    self._bar = ProgressBar(self.counts.circuits, "batch")
                except ImportError:
                    if self._want_progress:
                        raise
            tg = anyio.create_task_group()
            await tg.__aenter__()
        except BaseException:
            self._close(_Phase.ABORTED)
            raise
        self._tg = tg
        tg.start_soon(self._main)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        tg = self._tg
        assert tg is not None
        try:
            if exc is not None:
                tg.cancel_scope.cancel()  # abandon the local work; the remote jobs keep running
            # The body's exception is not handed to the task group, which would wrap it in an
            # ExceptionGroup: it propagates as it is once the tasks have ended.
            await tg.__aexit__(None, None, None)
        finally:
            self._close(_Phase.FINISHED if self._all_done.is_set() else _Phase.ABORTED)
        if self._journal_failure is not None:
            raise self.journal_error() from self._journal_failure
        if self._callback_error is not None and exc is None:
            raise self._callback_error

    async def _setup(self) -> None:
        """Plan the batch, riding out an outage within the batch's deadline (the plan's reads come first)."""
        outage = Outage("batch (starting)", self._client.url, clock=self._client.clock, logger=logger)
        limit = None if math.isinf(self._timeout) else self._timeout
        try:
            with anyio.fail_after(limit):
                await ride_out(self._plan, outage, self._client.sleep)
        except TimeoutError:
            raise OperationTimeoutError(
                f"The batch could not start in {self._timeout} seconds.{outage.describe()} Nothing was submitted."
            ) from None

    async def _plan(self) -> None:
        """Plan the batch (new or from its journal) and take over its groups, spec and journal."""
        if self._resume:
            assert self._journal_path is not None
            plan = await plan_resume(self._client, self._journal_path, self._circuits, self._sweep)
            self._shots, self._options = plan.shots, plan.options
            self._qubit_names, self._use_timeslot = plan.qubit_names, plan.use_timeslot
            self._tags = plan.tags
            self.counts = BatchCounts(plan.circuits)
            for note in plan.notes:
                logger.info("resuming batch: %s", note, extra=fields(batch_id=plan.spec.get("batch_id")))
        else:
            assert self._circuits is not None
            plan = await plan_new(
                self._client,
                self._circuits,
                shots=self._shots,
                circuits_per_job=self._circuits_per_job,
                qubit_names=self._qubit_names,
                use_timeslot=self._use_timeslot,
                tags=self._tags,
                options=self._options,
                journal_path=self._journal_path,
                sweep=self._sweep,
            )
            self._options = plan.options
            self.counts = BatchCounts(plan.circuits)
        self.spec, self._journal, self.notes = plan.spec, plan.journal, plan.notes
        batch_id = plan.spec.get("batch_id")
        self._batch_id = None if batch_id is None else str(batch_id)
        name = f"batch {str(plan.spec.get('batch_id', '?'))[:8]}"
        self._outage = Outage(name, self._client.url, clock=self._client.clock, logger=logger)
        self._groups = plan.groups
        self._feed, self._items, self._parameters = plan.feed, plan.items, plan.parameters
        self._outcomes = [None] * self.counts.circuits
        if not self._groups and self._feed is None:
            self._all_done.set()
            self._scheduler.close_sink(self._sink)

    def _close(self, phase: _Phase) -> None:
        self._phase = phase
        self._scheduler.close_sink(self._sink)
        if self._journal is not None:
            self._journal.close()
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        self._changed.set()  # wake iterators so they see the end

    async def run(self) -> None:
        """Run the batch to completion (for ``task_group.start_soon(batch.run)``); outcomes stay on the batch."""
        async with self:
            pass

    # -------------------------------------------------------------- reading outcomes

    async def as_completed(self) -> AsyncIterator[Outcome]:
        """Yield each circuit's :class:`Outcome` as soon as its job finishes (a job's circuits in order).

        Works while the batch runs (inside ``async with``) and after it finished; every call starts from
        the first outcome, so several consumers each see everything.

        Raises:
            RuntimeError: the batch was never started, or stopped before every item had an outcome.
        """
        if self._phase is _Phase.NEW:
            raise RuntimeError(
                "as_completed() needs a running batch: `async with client.run_batch(...) as batch:` "
                "(or use `await batch.results()` to run it to completion)."
            )
        i = 0
        while True:
            while i < len(self._completed):
                yield self._completed[i]
                i += 1
            if self._all_done.is_set() and i >= len(self._completed):
                return
            if self._phase is _Phase.ABORTED:
                raise RuntimeError(self._abort_message())
            changed = self._changed
            await changed.wait()

    async def outcomes(self) -> list[Outcome]:
        """Return every circuit's :class:`Outcome` in input order; runs the batch first if it was not entered.

        Item errors do not raise here: each is in its outcome.
        """
        if self._phase is _Phase.NEW:
            async with self:
                pass
        elif self._phase is _Phase.RUNNING:
            while not self._all_done.is_set() and self._phase is _Phase.RUNNING:
                await self._changed.wait()
        if not self._all_done.is_set():
            raise RuntimeError(self._abort_message())
        return [o for o in self._outcomes if o is not None]

    @overload
    async def results(self, *, return_exceptions: Literal[False] = False) -> list[CircuitResult]: ...

    @overload
    async def results(self, *, return_exceptions: Literal[True]) -> list[CircuitResult | Exception]: ...

    async def results(
        self, *, return_exceptions: bool = False
    ) -> list[CircuitResult] | list[CircuitResult | Exception]:
        """Return each circuit's result in input order; runs the batch first if it was not entered.

        Args:
            return_exceptions: put each failed circuit's exception in its place instead of raising.

        Raises:
            BatchError: some circuits failed; ``failures`` lists their outcomes (index, job id,
                error) and ``results`` holds every result in input order with the exceptions in place.
        """
        return assemble_results(await self.outcomes(), return_exceptions=return_exceptions)

    async def qiskit_results(self) -> list[Result]:
        """Return one ``qiskit.result.Result`` per circuit, in input order.

        Raises:
            BatchError: some circuits failed (as for :meth:`results`).
        """
        outcomes = await self.outcomes()
        failures = [o for o in outcomes if not o.ok]
        if failures:
            mixed: list[Any] = [o.value if o.ok else o.error for o in outcomes]
            raise BatchError(describe_failures(failures, len(outcomes)), failures=failures, results=mixed)
        return [await o.qiskit_result() for o in outcomes]

    def _abort_message(self) -> str:
        c = self.counts
        return (
            f"The batch stopped before every item finished ({c.finished} of {c.circuits} have an outcome). Its jobs "
            f"are still on the server: see batch.job_ids, or resume from the journal."
        )

    # -------------------------------------------------------------- cancel

    async def cancel(self) -> int:
        """Stop submitting and ask the server to cancel every job not known to be finished; return how many.

        Items of cancelled jobs end with ``JobCancelledError`` (or their result, if the job finished
        first); items never submitted end with ``NotSubmittedError``. Works during and after the batch.

        Raises:
            BatchError: some cancel requests failed; ``failures`` holds ``(job_id, error)`` pairs.
        """
        self._cancelling = True
        if self._submit_scope is not None:
            self._submit_scope.cancel()
        targets = [g.job for g in self._groups if g.job is not None and not g.job.in_final_state]
        failures: list[tuple[str, Exception]] = []
        limiter = anyio.CapacityLimiter(CANCEL_CONCURRENCY)

        async def cancel_one(job: AsyncJob) -> None:
            async with limiter:
                try:
                    await self._cancel_job(job)
                except Exception as exc:  # reported together below
                    failures.append((job.job_id, exc))

        async with anyio.create_task_group() as tg:
            for job in targets:
                tg.start_soon(cancel_one, job)
        if failures:
            raise BatchError(
                f"{len(failures)} of {len(targets)} cancel requests failed: "
                + "; ".join(f"{jid}: {exc}" for jid, exc in failures[:10]),
                failures=failures,
            )
        return len(targets)

    async def _cancel_job(self, job: AsyncJob) -> None:
        await job.cancel_async()
        # The waiter learns the final status at once (cancel_async cached it) instead of at its next due time.
        self._scheduler.nudge(job.job_id)

    def _seen(self, group: Group, data: JobData) -> None:
        if self._bar is not None:
            self._bar.seen(data)  # the bar's queued count and head of the queue
        running = data.status == "processing"
        if running != group.running:
            group.running = running
            self.counts.running += group.size if running else -group.size
            self._show(0)

    # -------------------------------------------------------------- recording outcomes

    def _attached(self, group: Group) -> None:
        """Count a job the server holds for this batch and hand it to the scheduler."""
        job = group.job
        assert job is not None
        self.job_ids.append(job.job_id)
        job.share_outage(self._outage)
        self.counts.jobs += 1
        self.counts.submitted += group.size
        if self._bar is not None and job.last_data is not None:
            self._bar.seen(job.last_data)
        self._scheduler.track(self._sink, job.job_id, job.refresh_async, initial=job.last_data, context=group)
        self._show(0)

    def _finish(
        self, group: Group, *, values: Sequence[CircuitResult] | None = None, error: Exception | None = None
    ) -> None:
        """Record the outcome of every circuit of a group (once), and free its in-flight slot."""
        if group.finished:
            return
        group.finished = True
        if group.running:
            group.running = False
            self.counts.running -= group.size
        if group.borrowed:
            group.borrowed = False
            self._in_flight.release_on_behalf_of(group)
        job = group.job
        job_id = None if job is None else job.job_id
        if values is not None:
            assert job is not None
            for pos, value in enumerate(values):
                self._record(Outcome(group.start + pos, job_id, value=value, position=pos, job=job))
        else:
            assert error is not None
            for pos in range(group.size):
                self._record(Outcome(group.start + pos, job_id, error=error, position=pos, job=job))

    def _record(self, outcome: Outcome) -> None:
        if self._outcomes[outcome.index] is not None:  # pragma: no cover - a bug, not a user error
            raise AssertionError(f"item {outcome.index} finished twice")
        self._outcomes[outcome.index] = outcome
        self._completed.append(outcome)
        if outcome.ok:
            self.counts.done += 1
        else:
            self.counts.failed += 1
        self._show(1)
        if self._on_complete is not None and self._callback_error is None:
            try:
                self._on_complete(outcome)
            except Exception as exc:  # a bug in the caller's callback: stop the batch and raise it from the with
                logger.error("batch on_complete callback raised %r; stopping the batch", exc, extra=fields())
                self._callback_error = exc
                if self._tg is not None:
                    self._tg.cancel_scope.cancel()
        if self.counts.finished == self.counts.circuits:
            self._all_done.set()
            self._scheduler.close_sink(self._sink)  # lets the poll workers end
        changed, self._changed = self._changed, anyio.Event()
        changed.set()

    def _show(self, advance: int) -> None:
        if self._bar is not None:
            self._bar.update(self.counts, advance)
