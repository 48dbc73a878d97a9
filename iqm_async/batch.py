"""Batch fan-out: many circuits as jobs in flight within the server's rate limit, streamed, resumable.

Usage::

    async with client.run_batch(circuits, shots=1000, journal="sweep.jsonl") as batch:
        async for outcome in batch.as_completed():          # as soon as each job completes
            print(outcome.index, outcome.job_id, outcome.result().counts)

    results = await client.run_batch(circuits).results()     # run to completion, input order

**Shape.** Circuits are grouped into jobs (contiguous runs of ``circuits_per_job``, default
:data:`DEFAULT_CIRCUITS_PER_JOB`, cut further so no request body exceeds :data:`MAX_JOB_BODY_BYTES`).
All of them are converted and validated before anything is sent, so a bad circuit fails the batch up
front. At most ``max_in_flight`` jobs are under way at once (a ``CapacityLimiter`` token held from
before the submit until the job's results are in). Every request goes through the
client's one transport, so every job pays into the one request budget. The jobs of every batch on a
client are polled by one shared :class:`~iqm_async._scheduler.PollScheduler` (a min-heap of due
times): a job waiting on the server is an entry in that heap, not a task, and a few poll workers per
batch send whichever poll is due, so ten thousand jobs in flight cost memory for their data only.

**Lifetime (structured concurrency).** A :class:`Batch` is an async context manager that owns one task
group: entering it converts the circuits, writes the journal's spec and starts the submitters (up to
:data:`SUBMIT_CONCURRENCY`) and poll workers (:data:`POLL_WORKERS`); leaving it
waits until every item has an outcome, like any task group. If the body raises (or the surrounding
scope is cancelled), the local tasks are cancelled and the remote jobs are left running: giving up
the local wait never cancels a job; :meth:`Batch.cancel` does. :meth:`Batch.results` /
:meth:`Batch.outcomes` on a batch that was not entered run it to completion themselves.
:meth:`Batch.as_completed` needs the batch to be running (inside ``async with``), because an async
generator must not own a task group. No thread is started, no task outlives the ``async with``.

**Items.** Each job's task catches its own ``Exception`` (never ``BaseException``) into one
:class:`Outcome` per circuit (index, job id, value or error), so one failure never cancels its
siblings while cancellation still propagates. Nothing is ever turned into ``None``, and a failed
item is never submitted again automatically. A submit that has started is shielded from
cancellation until its job id is journaled, so an id the server assigned is never lost locally.

**Journal.** See :mod:`iqm_async._journal` for the JSONL format, the fsync per record and the crash
window. :meth:`Batch.resume` re-attaches to every recorded job without submitting anything; with the
original circuits passed again it submits only the groups that have no record at all.
"""

from __future__ import annotations

import copy
import enum
import logging
import math
import os
import sys
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, overload

import anyio
import anyio.lowlevel

from ._config import DEFAULT_BATCH_POLICY, DEFAULT_RATE_LIMIT_POLICY, DEFAULT_RESULT_TIMEOUT, DEFAULT_SHOTS, BatchPolicy
from ._journal import (
    ChunkHash,
    Journal,
    JournalContents,
    JournalError,
    canonical_json,
    encode_groups,
    read_journal,
    sha256_of,
)
from ._scheduler import PollScheduler
from ._version import __version__
from .errors import (
    APIStatusError,
    BatchError,
    IQMError,
    JobTimeoutError,
    NotSubmittedError,
    RateLimitError,
    SubmissionUnknownError,
    error_from_response,
)
from .models import JobData
from .results import CircuitResult

if TYPE_CHECKING:
    from anyio.abc import TaskGroup
    from qiskit import QuantumCircuit
    from qiskit.result import Result

    from .client import AsyncIQMClient, PreparedJob
    from .job import AsyncJob

__all__ = [
    "DEFAULT_CIRCUITS_PER_JOB",
    "MAX_JOB_BODY_BYTES",
    "Batch",
    "BatchCounts",
    "JournalError",
    "NotSubmittedError",
    "Outcome",
    "assemble_results",
    "describe_failures",
    "scheduler_for",
]

logger = logging.getLogger("iqm_async")

DEFAULT_CIRCUITS_PER_JOB = 100
"""Circuits per job when the caller gives none: few requests per circuit, results still stream."""

MAX_JOB_BODY_BYTES = 8 * 1024 * 1024
"""Largest job body a batch builds: under IQM's 10 MiB cost step (§9) and the server's body limit."""

POLL_WORKERS = 16
"""Tasks per batch that send status polls and download results (the scheduler decides which job is due)."""

SUBMIT_CONCURRENCY = 8
"""Submits on the wire at once; few, so a cancelled batch waits for at most a few shielded submits."""

READ_RESERVE_FRACTION = 0.1
"""Share of the request budget's quota that batch submits leave free for status polls and downloads."""

CANCEL_CONCURRENCY = 16
"""Cancel requests on the wire at once in :meth:`Batch.cancel` (the budget paces them anyway)."""

_PREPARE_YIELD_EVERY = 32
"""Groups converted between two checkpoints, so a large batch does not starve the event loop."""


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


# ------------------------------------------------------------------------------------------------
# Outcomes and counters
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Outcome:
    """What happened to one circuit of a batch: its result or its error, never neither."""

    index: int
    """Position of the circuit in the batch's input."""
    job_id: str | None
    """The job that ran it; None when no job was created for it."""
    value: CircuitResult | None = None
    """Counts, memory and Qiskit header fields of the circuit (None exactly when ``error`` is set)."""
    error: Exception | None = None
    """Why the circuit has no result (None exactly when ``value`` is set)."""
    position: int = 0
    """Position of the circuit inside its job."""
    job: AsyncJob | None = field(default=None, repr=False)
    """The job object, for its Qiskit ``Result`` or status."""

    @property
    def ok(self) -> bool:
        """True when the circuit has a result."""
        return self.error is None

    def result(self) -> CircuitResult:
        """Return the circuit's result, or raise its error."""
        if self.error is not None:
            raise self.error
        assert self.value is not None
        return self.value

    async def qiskit_result(self) -> Result:
        """Return a ``qiskit.result.Result`` holding just this circuit (built once per job, then sliced)."""
        if self.error is not None:
            raise self.error
        assert self.job is not None
        return single_experiment(await self.job.result_async(), self.position)


def single_experiment(result: Result, position: int) -> Result:
    """Return a shallow copy of ``result`` that holds only experiment ``position`` (and its circuit)."""
    part = copy.copy(result)
    part.results = [result.results[position]]
    metadata = getattr(result, "_metadata", None)
    if isinstance(metadata, dict) and isinstance(metadata.get("circuits"), list):
        sliced = dict(metadata)
        sliced["circuits"] = metadata["circuits"][position : position + 1]
        part._metadata = sliced
    return part


@dataclass
class BatchCounts:
    """Progress of a batch, counted in circuits (``jobs`` counts jobs)."""

    circuits: int
    """Circuits in the batch."""
    submitted: int = 0
    """Circuits in jobs the server has created (or re-attached from a journal)."""
    running: int = 0
    """Circuits in jobs last seen processing."""
    done: int = 0
    """Circuits with a result."""
    failed: int = 0
    """Circuits with an error."""
    jobs: int = 0
    """Jobs created or re-attached."""

    @property
    def finished(self) -> int:
        """Circuits with an outcome."""
        return self.done + self.failed


class _Phase(enum.Enum):
    NEW = "new"
    RUNNING = "running"
    FINISHED = "finished"
    ABORTED = "aborted"


class _Group:
    """One job's worth of circuits: indices ``start <= i < stop``."""

    __slots__ = ("borrowed", "finished", "index", "job", "prepared", "record", "running", "start", "stop")

    def __init__(self, index: int, start: int, stop: int):
        self.index = index
        self.start = start
        self.stop = stop
        self.prepared: PreparedJob | None = None
        self.job: AsyncJob | None = None
        self.record: Exception | None = None  # error recorded in the journal (resume)
        self.running = False
        self.borrowed = False  # holds a max_in_flight token
        self.finished = False

    @property
    def size(self) -> int:
        return self.stop - self.start


class _Progress:
    """A tqdm bar of finished circuits with submitted / running / failed counts; no monitor thread."""

    def __init__(self, total: int, desc: str):
        from tqdm.auto import tqdm

        class _Bar(tqdm):  # type: ignore[misc]
            monitor_interval = 0  # tqdm's monitor is a thread; the core starts none

        self._bar = _Bar(total=total, desc=desc, unit="circ", dynamic_ncols=True, leave=True)

    def update(self, counts: BatchCounts, advance: int) -> None:
        self._bar.set_postfix_str(
            f"jobs={counts.jobs} submitted={counts.submitted} running={counts.running} "
            f"done={counts.done} failed={counts.failed}",
            refresh=False,
        )
        self._bar.update(advance)

    def close(self) -> None:
        self._bar.close()


def _want_progress(progress: bool | None) -> bool:
    if progress is not None:
        return progress
    if "ipykernel" in sys.modules:
        return True
    stream = sys.stderr
    return bool(stream is not None and hasattr(stream, "isatty") and stream.isatty())


# ------------------------------------------------------------------------------------------------
# The batch
# ------------------------------------------------------------------------------------------------


class Batch:
    """Many circuits run as jobs with bounded concurrency; see the module docstring.

    Create one with :meth:`AsyncIQMClient.run_batch` / :meth:`AsyncIQMClient.resume_batch` (which call
    :meth:`start` / :meth:`resume`); nothing is sent until it is entered or awaited.
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
        options: Mapping[str, Any],
    ):
        policy = BatchPolicy(max_in_flight=max_in_flight, circuits_per_job=circuits_per_job)
        limit = DEFAULT_RESULT_TIMEOUT if timeout_seconds is None else float(timeout_seconds)
        if limit != limit or limit < 0:
            raise ValueError(f"timeout_seconds must be a non-negative number, got {timeout_seconds!r}")
        self._client = client
        self._circuits = circuits
        self._shots = shots
        self._circuits_per_job = policy.circuits_per_job or DEFAULT_CIRCUITS_PER_JOB
        self._timeout = limit
        self._journal_path = None if journal is None else os.fspath(journal)
        self._resume = resume
        self._want_progress = progress
        self._on_complete = on_complete
        self._qubit_names = None if qubit_names is None else list(qubit_names)
        self._use_timeslot = use_timeslot
        self._options = dict(options)
        self._in_flight = anyio.CapacityLimiter(policy.max_in_flight)
        self._submit_limiter = anyio.CapacityLimiter(SUBMIT_CONCURRENCY)
        self._scheduler = scheduler_for(client)
        self._phase = _Phase.NEW
        self._groups: list[_Group] = []
        self._outcomes: list[Outcome | None] = []
        self._completed: list[Outcome] = []
        self._changed = anyio.Event()
        self._all_done = anyio.Event()
        self._journal: Journal | None = None
        self._bar: _Progress | None = None
        self._tg: TaskGroup | None = None
        self._sink = self._scheduler.open_sink()
        self._pending: list[_Group] = []
        self._submit_scope: anyio.CancelScope | None = None
        self._deadline = math.inf
        self._cancelling = False
        self._submits_pending = 0
        self._callback_error: Exception | None = None
        self.job_ids: list[str] = []
        """Ids of the jobs submitted (or re-attached), each appended as soon as it is journaled."""
        self.counts = BatchCounts(0 if circuits is None else len(circuits))
        """Live progress counters."""
        self.spec: dict[str, Any] = {}
        """The batch spec as written to (or read from) the journal."""

    # -------------------------------------------------------------- construction

    @classmethod
    def start(
        cls,
        client: AsyncIQMClient,
        circuits: Sequence[QuantumCircuit],
        *,
        shots: int = DEFAULT_SHOTS,
        circuits_per_job: int | None = None,
        max_in_flight: int = DEFAULT_BATCH_POLICY.max_in_flight,
        timeout_seconds: float | None = None,
        journal: str | os.PathLike[str] | None = None,
        progress: bool | None = None,
        on_complete: Callable[[Outcome], object] | None = None,
        qubit_names: Sequence[str] | None = None,
        use_timeslot: bool = False,
        **options: Any,
    ) -> Batch:
        """Describe a batch of circuits; it runs when entered (``async with``) or awaited (:meth:`results`).

        Args:
            client: the open client whose transport, budget and scheduler the batch uses.
            circuits: the circuits, in native gates (transpile first); any sequence.
            shots: shots per circuit.
            circuits_per_job: most circuits per job (default :data:`DEFAULT_CIRCUITS_PER_JOB`); a job is
                also cut so its body stays under :data:`MAX_JOB_BODY_BYTES`.
            max_in_flight: most jobs under way at once (from submit until their results are in).
            timeout_seconds: deadline of the whole batch from when it starts (default 3 h; ``math.inf``
                for none). Items not finished by then get ``JobTimeoutError`` (the jobs keep running) or
                ``NotSubmittedError``.
            journal: JSONL file to record the spec and every job id in (must not exist yet).
            progress: tqdm bar; default on when stderr is a terminal or in a notebook.
            on_complete: called with each circuit's :class:`Outcome` as it arrives, on the event loop.
            qubit_names: physical name of each Qiskit qubit index (default: the calibration's qubits).
            use_timeslot: submit to the timeslot queue.
            options: job options of protocol §4.4 (``calibration_set_id``, ``heralding_mode``, …).
        """
        return cls(
            client,
            circuits=circuits,
            shots=shots,
            circuits_per_job=circuits_per_job,
            max_in_flight=max_in_flight,
            timeout_seconds=timeout_seconds,
            journal=journal,
            resume=False,
            progress=progress,
            on_complete=on_complete,
            qubit_names=qubit_names,
            use_timeslot=use_timeslot,
            options=options,
        )

    @classmethod
    def resume(
        cls,
        client: AsyncIQMClient,
        journal: str | os.PathLike[str],
        *,
        circuits: Sequence[QuantumCircuit] | None = None,
        max_in_flight: int = DEFAULT_BATCH_POLICY.max_in_flight,
        timeout_seconds: float | None = None,
        progress: bool | None = None,
        on_complete: Callable[[Outcome], object] | None = None,
    ) -> Batch:
        """Describe a batch re-attached from its journal; nothing recorded there is submitted again.

        Args:
            client: an open client for the same server.
            journal: the batch's journal file; new job records are appended to it.
            circuits: the original circuits (checked against the journal's hash): only groups with no
                record at all are submitted. Without them, such groups get ``NotSubmittedError``.
            max_in_flight: most newly submitted jobs under way at once.
            timeout_seconds: deadline of the resumed batch (default 3 h; ``math.inf`` for none).
            progress: tqdm bar, as for :meth:`start`.
            on_complete: per-circuit callback, as for :meth:`start`.
        """
        return cls(
            client,
            circuits=circuits,
            shots=DEFAULT_SHOTS,
            circuits_per_job=None,
            max_in_flight=max_in_flight,
            timeout_seconds=timeout_seconds,
            journal=journal,
            resume=True,
            progress=progress,
            on_complete=on_complete,
            qubit_names=None,
            use_timeslot=False,
            options={},
        )

    def __repr__(self) -> str:
        c = self.counts
        return f"<Batch {self._phase.value}: {c.circuits} circuits, {c.jobs} jobs, {c.done} done, {c.failed} failed>"

    def __len__(self) -> int:
        return self.counts.circuits

    # -------------------------------------------------------------- lifetime

    async def __aenter__(self) -> Batch:
        if self._phase is not _Phase.NEW:
            raise RuntimeError("A Batch runs once; create a new one with client.run_batch(...).")
        self._phase = _Phase.RUNNING
        try:
            if self._resume:
                await self._setup_resume()
            else:
                await self._setup_new()
            self._deadline = math.inf if math.isinf(self._timeout) else anyio.current_time() + self._timeout
            if _want_progress(self._want_progress):
                try:
                    self._bar = _Progress(self.counts.circuits, "batch")
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
        if self._callback_error is not None and exc is None:
            raise self._callback_error

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

    # -------------------------------------------------------------- setup

    async def _setup_new(self) -> None:
        circuits = self._circuits
        assert circuits is not None
        client = self._client
        dqa = await client.dynamic_architecture(self._options.get("calibration_set_id"))
        # A concrete id makes every prepare() below use the cached DQA instead of asking for "default".
        self._options["calibration_set_id"] = dqa.calibration_set_id
        prepared: list[tuple[int, int, PreparedJob]] = []
        hashes = ChunkHash()  # fed circuit by circuit: the encoded circuits are never all in memory
        k = self._circuits_per_job
        for n, start in enumerate(range(0, len(circuits), k)):
            stop = min(start + k, len(circuits))
            prepared.extend(await self._prepare_range(circuits, start, stop, hashes))
            if n % _PREPARE_YIELD_EVERY == _PREPARE_YIELD_EVERY - 1:
                await anyio.lowlevel.checkpoint()
        params = prepared[0][2].definition.parameters.to_json() if prepared else {}
        qc = await client.quantum_computer()
        self.spec = {
            "batch_id": _new_id(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "client": f"iqm_async {__version__}",
            "url": client.url,
            "quantum_computer": qc.alias,
            "circuits": len(circuits),
            "groups": encode_groups([b - a for a, b, _ in prepared]),
            "shots": self._shots,
            "options": self._options,
            "qubit_names": self._qubit_names,
            "use_timeslot": self._use_timeslot,
            "circuits_sha256": hashes.hexdigest(),
            "parameters_sha256": sha256_of([canonical_json(params)]),
        }
        self._make_groups([(a, b) for a, b, _ in prepared])
        for group, (_, _, job) in zip(self._groups, prepared):
            group.prepared = job
        if self._journal_path is not None:
            self._journal = Journal(self._journal_path, create=True)
            self._journal.spec(self.spec)

    async def _prepare_range(
        self, circuits: Sequence[QuantumCircuit], start: int, stop: int, hashes: ChunkHash
    ) -> list[tuple[int, int, PreparedJob]]:
        """Convert circuits ``start:stop`` into one job, or several if the body would be too large."""
        job = await self._client.prepare(
            list(circuits[start:stop]), self._shots, qubit_names=self._qubit_names, **self._options
        )
        encoded = [canonical_json(c.to_json()) for c in job.definition.circuits]
        if stop - start > 1 and sum(len(e) for e in encoded) > MAX_JOB_BODY_BYTES:
            mid = (start + stop) // 2
            return [
                *await self._prepare_range(circuits, start, mid, hashes),
                *await self._prepare_range(circuits, mid, stop, hashes),
            ]
        for chunk in encoded:
            hashes.update(chunk)
        return [(start, stop, job)]

    async def _setup_resume(self) -> None:
        assert self._journal_path is not None
        contents: JournalContents = read_journal(self._journal_path)
        spec = self.spec = contents.spec
        client = self._client
        if spec.get("url") != client.url:
            logger.warning("resuming batch journal %s of %s on %s", self._journal_path, spec.get("url"), client.url)
        self._shots = int(spec.get("shots", DEFAULT_SHOTS))
        self._options = dict(spec.get("options") or {})
        names = spec.get("qubit_names")
        self._qubit_names = None if names is None else [str(n) for n in names]
        self._use_timeslot = bool(spec.get("use_timeslot", False))
        self.counts = BatchCounts(int(spec["circuits"]))
        self._make_groups(contents.ranges)
        circuits = self._circuits
        if circuits is not None:
            if len(circuits) != spec["circuits"]:
                raise JournalError(
                    f"The journal {self._journal_path} is for {spec['circuits']} circuits; {len(circuits)} were passed."
                )
            hashes = ChunkHash()
            for n, group in enumerate(self._groups):
                parts = await self._prepare_range(circuits, group.start, group.stop, hashes)
                group.prepared = parts[0][2] if len(parts) == 1 else None
                if n % _PREPARE_YIELD_EVERY == _PREPARE_YIELD_EVERY - 1:
                    await anyio.lowlevel.checkpoint()
            if hashes.hexdigest() != spec.get("circuits_sha256"):
                raise JournalError(
                    f"The circuits passed differ from the ones journaled in {self._journal_path} (hash mismatch); "
                    "pass the original circuits, or none to only collect the recorded jobs."
                )
        for group, record in zip(self._groups, contents.groups):
            if record.job_id is not None:
                known = group.prepared
                group.job = (
                    client.job(record.job_id)
                    if known is None
                    else client.job(record.job_id, definition=known.definition, registers=known.registers)
                )
                group.prepared = None
            elif record.unknown_message is not None:
                group.prepared = None
                group.record = SubmissionUnknownError(
                    f"Journaled as unknown: {record.unknown_message}",
                    quantum_computer=str(spec.get("quantum_computer", "?")),
                    circuit_names=[],
                    shots=self._shots,
                )
            elif record.refused_status is not None:
                group.prepared = None
                body = canonical_json(record.refused_body) if record.refused_body is not None else b""
                group.record = error_from_response(record.refused_status, body)
        self._journal = Journal(self._journal_path, create=False)
        self._journal.resume()

    def _make_groups(self, ranges: Sequence[tuple[int, int]]) -> None:
        self._groups = [_Group(i, a, b) for i, (a, b) in enumerate(ranges)]
        self._outcomes = [None] * self.counts.circuits
        if not ranges:
            self._all_done.set()
            self._scheduler.close_sink(self._sink)

    # -------------------------------------------------------------- running

    async def _main(self) -> None:
        """Run poll workers and submitters under the batch deadline; give every group an outcome."""
        try:
            with anyio.CancelScope(deadline=self._deadline) as deadline:
                async with anyio.create_task_group() as tg:
                    for _ in range(POLL_WORKERS):
                        tg.start_soon(self._poll_worker)
                    self._start_groups()
                    pending = iter(self._pending)
                    with anyio.CancelScope() as submitting:
                        self._submit_scope = submitting
                        async with anyio.create_task_group() as submitters:
                            for _ in range(min(SUBMIT_CONCURRENCY, len(self._pending))):
                                submitters.start_soon(self._submitter, pending)
                    self._submit_scope = None
                    # Only cancel() stops the submitters early: what they did not send, it never will.
                    for group in self._pending:
                        if group.job is None:
                            self._finish(group, error=self._not_submitted("cancelled"))
            if deadline.cancelled_caught:
                for group in self._groups:
                    self._finish(group, error=self._timeout_error(group))
        finally:
            self._scheduler.close_sink(self._sink)

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

    async def _submitter(self, pending: Iterator[_Group]) -> None:
        """Submit groups one after another (several submitters share the iterator)."""
        for group in pending:
            if self._cancelling:
                return
            await self._in_flight.acquire_on_behalf_of(group)
            group.borrowed = True
            try:
                await self._submit(group)
            except Exception as exc:  # the group's outcome; never its siblings' problem
                self._finish(group, error=exc)

    async def _poll_worker(self) -> None:
        """Poll whichever of this batch's jobs the scheduler says is due; collect each finished job."""
        while True:
            entry = await self._scheduler.next_due(self._sink)
            if entry is None:
                return
            group: _Group = entry.context
            job = group.job
            assert job is not None
            try:
                data = await entry.fetch()
            except Exception as exc:  # the transport already retried; the item fails with the job id
                self._scheduler.untrack(entry)
                self._finish(group, error=exc)
                continue
            self._seen(group, data)
            if not self._scheduler.observed(entry, data):
                continue
            try:
                values = await job.circuit_results_async()
            except Exception as exc:  # failed / cancelled job, or a download error
                self._finish(group, error=exc)
                continue
            self._finish(group, values=values)

    def _not_submitted(self, reason: Literal["cancelled", "timeout"]) -> NotSubmittedError:
        if reason == "cancelled":
            return NotSubmittedError("The batch was cancelled before these circuits were submitted.", reason=reason)
        return NotSubmittedError(
            f"The batch's deadline ({self._timeout} s) passed before these circuits were submitted.", reason=reason
        )

    def _timeout_error(self, group: _Group) -> IQMError:
        if group.job is None:
            return self._not_submitted("timeout")
        return JobTimeoutError(
            f"The batch did not finish within {self._timeout} seconds; job {group.job.job_id} is still on the "
            "server. Resume from the journal, re-attach with client.job(job_id), or cancel it.",
            job_id=group.job.job_id,
            timeout_seconds=self._timeout,
        )

    async def _submit(self, group: _Group) -> None:
        """Send one group's job; journal and track its id before anything else happens with it."""
        prepared = group.prepared
        assert prepared is not None
        async with self._submit_limiter:
            await self._pace_submit()
            # Once the request may leave, finish it and journal the id even if we are cancelled meanwhile:
            # otherwise the server could hold a job nobody knows about.
            with anyio.CancelScope(shield=True):
                self._submits_pending += 1
                try:
                    job = await self._client.submit_prepared(prepared, use_timeslot=self._use_timeslot)
                except SubmissionUnknownError as exc:
                    if self._journal is not None:
                        self._journal.unknown(group.index, group.start, group.stop, str(exc))
                    raise
                except APIStatusError as exc:
                    # The server answered, so no job exists. A 429 (retries exhausted) is transient: leave
                    # no record, so a resume submits the group; any other refusal would only recur.
                    if self._journal is not None and not isinstance(exc, RateLimitError):
                        self._journal.refused(group.index, group.start, group.stop, exc.status_code, exc.body)
                    raise
                finally:
                    self._submits_pending -= 1
                if self._journal is not None:
                    self._journal.job(group.index, group.start, group.stop, job.job_id)
                group.job = job
                group.prepared = None  # the job keeps the definition it needs
                self._attached(group)
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
        reserve = READ_RESERVE_FRACTION * (budget.limit or 0)
        for _ in range(3):  # bounded: an injected sleep need not move the clock
            # Submits already admitted by the budget are in its window (in flight): count only those not yet
            # charged, or each in-flight submit would count twice and halve the submit rate.
            uncharged = max(0, cost * self._submits_pending - budget.in_flight_units)
            delay = budget.delay_for(int(cost + uncharged + reserve), self._client.clock())
            if delay <= 0:
                return
            await self._client.sleep(delay)

    def _seen(self, group: _Group, data: JobData) -> None:
        running = data.status == "processing"
        if running != group.running:
            group.running = running
            self.counts.running += group.size if running else -group.size
            self._show(0)

    # -------------------------------------------------------------- recording outcomes

    def _attached(self, group: _Group) -> None:
        """Count a job the server holds for this batch and hand it to the scheduler."""
        job = group.job
        assert job is not None
        self.job_ids.append(job.job_id)
        self.counts.jobs += 1
        self.counts.submitted += group.size
        self._scheduler.track(self._sink, job.job_id, job.refresh_async, initial=job.last_data, context=group)
        self._show(0)

    def _finish(
        self, group: _Group, *, values: Sequence[CircuitResult] | None = None, error: Exception | None = None
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
                logger.error("batch on_complete callback raised %r; stopping the batch", exc)
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


# ------------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------------


def assemble_results(
    outcomes: Sequence[Outcome], *, return_exceptions: bool = False
) -> list[CircuitResult] | list[CircuitResult | Exception]:
    """Turn outcomes in input order into results, as :meth:`Batch.results` returns them.

    Raises:
        BatchError: some circuits failed (unless ``return_exceptions``).
    """
    mixed: list[CircuitResult | Exception] = []
    for o in outcomes:
        mixed.append(o.value if o.value is not None else _error_of(o))
    if return_exceptions:
        return mixed
    failures = [o for o in outcomes if not o.ok]
    if failures:
        raise BatchError(describe_failures(failures, len(outcomes)), failures=failures, results=mixed)
    return [o.result() for o in outcomes]


def _error_of(outcome: Outcome) -> Exception:
    assert outcome.error is not None
    return outcome.error


def _new_id() -> str:
    return str(uuid.uuid4())


def describe_failures(failures: Sequence[Outcome], total: int, *, limit: int = 50) -> str:
    """Summarise failed outcomes by job and error, with compact index ranges (``0-99, 200``)."""
    groups: dict[tuple[str | None, int], list[int]] = {}
    errors: dict[tuple[str | None, int], Exception] = {}
    for o in failures:
        assert o.error is not None
        key = (o.job_id, id(o.error))
        groups.setdefault(key, []).append(o.index)
        errors[key] = o.error
    lines = [f"{len(failures)} of {total} circuits failed:"]
    for n, (key, indices) in enumerate(groups.items()):
        if n == limit:
            lines.append(f"  … and {len(groups) - limit} more groups (see BatchError.failures)")
            break
        err = errors[key]
        first = str(err).splitlines()[0] if str(err) else ""
        lines.append(f"  indices {_ranges(indices)}, job {key[0] or '(none)'}: {type(err).__name__}: {first}")
    return "\n".join(lines)


def _ranges(indices: Sequence[int]) -> str:
    out: list[str] = []
    start = prev = indices[0]
    for i in indices[1:]:
        if i == prev + 1:
            prev = i
            continue
        out.append(f"{start}" if start == prev else f"{start}-{prev}")
        start = prev = i
    out.append(f"{start}" if start == prev else f"{start}-{prev}")
    return ", ".join(out)
