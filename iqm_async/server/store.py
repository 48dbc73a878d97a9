"""Job store of the embedded server: status state machine, FIFO queue, timeline, progress and artifacts.

All state lives behind one :class:`threading.Condition`, because the HTTP handlers (event loop thread)
and the executor (worker thread) both change it; every change notifies the condition, so tests and the
executor wait for events instead of sleeping. Status rules (docs/protocol.md, docs/protocol.md, docs/protocol.md)::

    waiting → processing → completed | failed
    waiting | processing → cancelled        (processing: via a flag the executor honours)
    waiting → failed
    terminal statuses never change

A job belongs to the token that created it (``owner``); :meth:`JobStore.check_access` hides it from any
other token. Finished jobs are evicted oldest first once they are older than ``keep_seconds``, or more
than ``keep_jobs`` of them, or more than ``keep_bytes`` of artifacts are held (the newest finished
job is never evicted for its size alone, so its results stay readable); an evicted job is unknown.

This module does not import Qiskit.
"""

from __future__ import annotations

import bisect
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from ..models import CircuitJobDefinition, ErrorBody, JobData, TimelineEntry
from .artifacts import PackedMeasurements, counts_nbytes, measurements_nbytes

__all__ = [
    "ARTIFACT_TYPES",
    "JobNotFoundError",
    "JobRecord",
    "JobStore",
    "STATUSES",
]

SERVER = "iqm-server"
STATION = "iqm-station-control"
STATUSES: tuple[str, ...] = ("waiting", "processing", "completed", "failed", "cancelled")
TERMINAL: frozenset[str] = frozenset({"completed", "failed", "cancelled"})
ARTIFACT_TYPES: tuple[str, ...] = ("measurements", "measurement_counts")
ArtifactName = Literal["measurements", "measurement_counts"]


class JobNotFoundError(KeyError):
    """The job id is unknown (never created, deleted, evicted, dropped by a reset, or another token's job)."""


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(eq=False)
class JobRecord:
    """One job as the server keeps it; mutable fields change only under the store's lock."""

    id: str
    seq: int
    """Creation number since the last reset; the executor derives the job's RNG seed from it."""
    definition: CircuitJobDefinition
    """The definition to execute, with physical component names."""
    payload: Mapping[str, Any]
    """The definition as returned by E6."""
    calibration_set_id: str
    use_timeslot: bool = False
    status: str = "waiting"
    timeline: list[TimelineEntry] = field(default_factory=list)
    progress: tuple[int, int] | None = None
    errors: list[ErrorBody] = field(default_factory=list)
    measurements: list[PackedMeasurements | Mapping[str, list[list[int]]]] | None = None
    counts: list[dict[str, Any]] | None = None
    cancel_requested: bool = False
    messages: list[dict[str, str]] = field(default_factory=list)
    quantum_computer: str | None = None
    """Alias of the quantum computer the job was submitted to."""
    owner: str | None = field(default=None, repr=False)
    """The bearer token that created the job; None when the server checks no tokens."""
    finished_at: float | None = None
    """Store-clock time the job reached a terminal status."""
    bytes_held: int = 0
    """Estimated bytes of the job's artifacts, counted against ``keep_bytes``."""


class JobStore:
    """Thread-safe job store with a FIFO queue of waiting jobs, a hold switch for the executor and bounded retention.

    Args:
        keep_seconds: evict a finished job this long after it finished; None keeps it regardless of age.
        keep_jobs: keep at most this many finished jobs; None for no count limit.
        keep_bytes: keep at most about this many bytes of finished jobs' artifacts; None for no size limit.
        clock: time source of ``keep_seconds`` (tests inject one).
    """

    def __init__(
        self,
        *,
        keep_seconds: float | None = None,
        keep_jobs: int | None = None,
        keep_bytes: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._keep_seconds = keep_seconds
        self._keep_jobs = keep_jobs
        self._keep_bytes = keep_bytes
        self._clock = clock
        self._finished: OrderedDict[str, JobRecord] = OrderedDict()  # terminal jobs, oldest finish first
        self._bytes_held = 0
        self._evicted = 0
        # Re-entrant, so that predicates given to wait_for() may call the store's own getters.
        self._cond = threading.Condition(threading.RLock())
        self._jobs: dict[str, JobRecord] = {}
        self._waiting: list[int] = []  # seqs of waiting jobs, ascending
        self._by_seq: dict[int, JobRecord] = {}
        self._next_seq = 0
        self._jobs_created = 0
        self._busy_seconds = 0.0  # execution time of the jobs completed since the last reset
        self._status_counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
        self._processing: JobRecord | None = None
        self._held = False
        self._closed = False

    # ------------------------------------------------------------------------------------------
    # Waiting for events
    # ------------------------------------------------------------------------------------------

    @property
    def condition(self) -> threading.Condition:
        """The condition notified on every change of the store."""
        return self._cond

    def wait_for(self, predicate: Callable[[], bool], timeout: float | None = None) -> bool:
        """Block until ``predicate()`` is true (re-checked on every store change); False on timeout.

        The predicate runs with the store's lock held: it may read the store (and other in-process
        state), but must not make an HTTP request to this server, which would need the same lock.
        """
        with self._cond:
            return self._cond.wait_for(predicate, timeout)

    def notify(self) -> None:
        """Wake every waiter so it re-checks its predicate (for changes made outside the store)."""
        with self._cond:
            self._cond.notify_all()

    def wait_for_status(self, job_id: str, statuses: Collection[str], timeout: float | None = None) -> str | None:
        """Block until the job has one of ``statuses``; return its status then, or None on timeout."""
        wanted = frozenset(statuses)

        def reached() -> bool:
            job = self._jobs.get(job_id)
            return job is not None and job.status in wanted

        with self._cond:
            if not self._cond.wait_for(reached, timeout):
                return None
            return self._jobs[job_id].status

    # ------------------------------------------------------------------------------------------
    # HTTP side
    # ------------------------------------------------------------------------------------------

    def create(
        self,
        definition: CircuitJobDefinition,
        *,
        payload: Mapping[str, Any],
        calibration_set_id: str,
        use_timeslot: bool = False,
        owner: str | None = None,
        quantum_computer: str | None = None,
    ) -> JobData:
        """Create a waiting job at the back of the queue, owned by ``owner``, and return its JobData."""
        with self._cond:
            self._evict()
            seq = self._next_seq
            self._next_seq += 1
            job = JobRecord(
                id=str(uuid.uuid4()),
                seq=seq,
                definition=definition,
                payload=payload,
                calibration_set_id=calibration_set_id,
                use_timeslot=use_timeslot,
                owner=owner,
                quantum_computer=quantum_computer,
            )
            job.timeline.append(TimelineEntry(SERVER, "created", _now()))
            self._jobs[job.id] = job
            self._by_seq[seq] = job
            self._waiting.append(seq)
            self._jobs_created += 1
            self._status_counts["waiting"] += 1
            self._cond.notify_all()
            return self._job_data(job)

    def check_access(self, job_id: str, token: str | None) -> None:
        """Raise :class:`JobNotFoundError` unless the job exists and ``token`` may see it (its owner, or no owner)."""
        with self._cond:
            job = self._record(job_id)
            if job.owner is not None and job.owner != token:
                raise JobNotFoundError(job_id)

    def owner(self, job_id: str) -> str | None:
        """Return the token that owns a job (None: no owner), or raise :class:`JobNotFoundError`."""
        with self._cond:
            return self._record(job_id).owner

    def get(self, job_id: str) -> JobData:
        """Return the JobData of a job."""
        with self._cond:
            return self._job_data(self._record(job_id))

    def status(self, job_id: str) -> str | None:
        """Return the status of a job, or None when it does not exist."""
        with self._cond:
            job = self._jobs.get(job_id)
            return None if job is None else job.status

    def queue_position(self, job_id: str) -> int | None:
        """Return the number of waiting jobs ahead of this one, or None when it is not waiting."""
        with self._cond:
            return self._queue_position(self._record(job_id))

    def payload(self, job_id: str) -> Mapping[str, Any]:
        """Return the stored job definition (E6)."""
        with self._cond:
            return self._record(job_id).payload

    def artifact(self, job_id: str, name: ArtifactName) -> list[Any] | None:
        """Return an artifact of a completed job, or None when it is not available (yet)."""
        with self._cond:
            job = self._record(job_id)
            if job.status != "completed":
                return None
            if name == "measurement_counts":
                return job.counts
            stored = list(job.measurements or ())
        # Unpacking a large job takes a while: outside the lock, so the executor is never held up by a reader.
        return [m.to_json() if isinstance(m, PackedMeasurements) else m for m in stored]

    def add_message(self, job_id: str, source: str, message: str) -> None:
        """Append an informational ``{source, message}`` to the job's JobData."""
        with self._cond:
            self._record(job_id).messages.append({"source": source, "message": message})
            self._cond.notify_all()

    def cancel(self, job_id: str) -> str:
        """Cancel a job: a waiting one at once, a processing one via the executor; return the status now."""
        with self._cond:
            job = self._record(job_id)
            self._cancel(job)
            return job.status

    def delete(self, job_id: str) -> None:
        """Cancel a job, then forget it and its artifacts for good."""
        with self._cond:
            job = self._record(job_id)
            self._cancel(job)
            self._forget(job)
            self._cond.notify_all()

    # ------------------------------------------------------------------------------------------
    # Executor side
    # ------------------------------------------------------------------------------------------

    def take_next(self) -> JobRecord | None:
        """Block until the queue is released and has a job, mark it processing and return it; None once closed."""
        with self._cond:
            self._cond.wait_for(lambda: self._closed or (not self._held and bool(self._waiting)))
            if self._closed:
                return None
            seq = self._waiting.pop(0)
            job = self._by_seq.pop(seq)
            self._set_status(job, "processing")
            job.timeline.append(TimelineEntry(STATION, "received", _now()))
            job.progress = (0, len(job.definition.circuits))
            self._processing = job
            self._cond.notify_all()
            return job

    def cancel_requested(self, job: JobRecord) -> bool:
        """Tell the executor whether it should stop working on ``job`` (cancelled, deleted or closing)."""
        with self._cond:
            return job.cancel_requested or self._closed

    def wait_cancel(self, job: JobRecord, seconds: float) -> bool:
        """Wait up to ``seconds`` of simulated execution time; return True early if the job should stop."""
        with self._cond:
            return self._cond.wait_for(lambda: job.cancel_requested or self._closed, max(0.0, seconds))

    def set_progress(self, job: JobRecord, done: int) -> None:
        """Record that ``done`` circuits of a processing job have been executed."""
        with self._cond:
            if job.status == "processing":
                job.progress = (done, len(job.definition.circuits))
                self._cond.notify_all()

    def complete(
        self,
        job: JobRecord,
        measurements: Sequence[PackedMeasurements | Mapping[str, list[list[int]]]],
        counts: Sequence[dict[str, Any]],
    ) -> str:
        """Store the artifacts and mark the job completed (or cancelled, if a cancel came first); return the status."""
        with self._cond:
            if job.status != "processing":
                return job.status
            if job.cancel_requested:
                self._finish_cancelled(job)
                return job.status
            done = _now()
            job.timeline.append(TimelineEntry(STATION, "completed", done))
            received = next((t.timestamp for t in job.timeline if t.source == STATION and t.status == "received"), done)
            self._busy_seconds += (done - received).total_seconds()
            job.measurements = list(measurements)
            job.counts = list(counts)
            job.bytes_held = sum(map(measurements_nbytes, job.measurements)) + sum(map(counts_nbytes, job.counts))
            job.progress = (len(job.definition.circuits), len(job.definition.circuits))
            self._set_status(job, "completed")
            job.timeline.append(TimelineEntry(SERVER, "ready", _now()))
            self._release_processing(job)
            return job.status

    def fail(self, job: JobRecord, error: ErrorBody) -> str:
        """Mark a waiting or processing job failed with ``error``; return the status."""
        with self._cond:
            if job.status in TERMINAL:
                return job.status
            if job.status == "waiting":
                self._remove_waiting(job)
            job.errors.append(error)
            self._set_status(job, "failed")
            job.timeline.append(TimelineEntry(SERVER, "failed", _now()))
            self._release_processing(job)
            return job.status

    def finish_cancelled(self, job: JobRecord) -> str:
        """Mark a processing job cancelled after the executor stopped working on it; return the status."""
        with self._cond:
            if job.status == "processing":
                self._finish_cancelled(job)
            return job.status

    # ------------------------------------------------------------------------------------------
    # Control
    # ------------------------------------------------------------------------------------------

    @property
    def held(self) -> bool:
        """True while the executor takes no new job."""
        with self._cond:
            return self._held

    def hold(self) -> None:
        """Stop the executor from taking new jobs (a job already processing runs on)."""
        with self._cond:
            self._held = True
            self._cond.notify_all()

    def release(self) -> None:
        """Let the executor take jobs again."""
        with self._cond:
            self._held = False
            self._cond.notify_all()

    def reset(self) -> None:
        """Drop every job, release the queue and restart the job numbering; a running job is told to stop."""
        with self._cond:
            for job in self._jobs.values():
                job.cancel_requested = True
            self._jobs.clear()
            self._waiting.clear()
            self._by_seq.clear()
            self._processing = None
            self._next_seq = 0
            self._jobs_created = 0
            self._busy_seconds = 0.0
            self._status_counts = dict.fromkeys(STATUSES, 0)
            self._held = False
            self._finished.clear()
            self._bytes_held = 0
            self._evicted = 0
            self._cond.notify_all()

    def close(self) -> None:
        """Make take_next() return None and tell a running job to stop (server shutdown)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def reopen(self) -> None:
        """Undo close() so a new executor can run (server restart within one process)."""
        with self._cond:
            self._closed = False
            self._cond.notify_all()

    # ------------------------------------------------------------------------------------------
    # Counters
    # ------------------------------------------------------------------------------------------

    @property
    def jobs_created(self) -> int:
        """Submissions that created a job since the last reset."""
        with self._cond:
            return self._jobs_created

    @property
    def busy_seconds(self) -> float:
        """Seconds spent executing the jobs completed since the last reset (received to completed, summed)."""
        with self._cond:
            return self._busy_seconds

    def status_counts(self) -> dict[str, int]:
        """Return the number of stored jobs in each status."""
        with self._cond:
            self._evict()
            return dict(self._status_counts)

    def retention(self) -> dict[str, int]:
        """Return what the store holds: jobs, finished jobs, estimated artifact bytes, and jobs evicted so far."""
        with self._cond:
            self._evict()
            return {
                "jobs_held": len(self._jobs),
                "finished_jobs_held": len(self._finished),
                "bytes_held": self._bytes_held,
                "jobs_evicted": self._evicted,
            }

    def evict_expired(self) -> int:
        """Evict the finished jobs past their retention now; return how many were evicted."""
        with self._cond:
            before = self._evicted
            self._evict()
            return self._evicted - before

    @property
    def queue_length(self) -> int:
        """Number of waiting jobs."""
        with self._cond:
            return len(self._waiting)

    @property
    def processing_job_id(self) -> str | None:
        """Id of the job being executed, if any."""
        with self._cond:
            return None if self._processing is None else self._processing.id

    def job_ids(self, owner: str | None = None) -> list[str]:
        """Ids of every stored job (of ``owner`` only, when given), oldest first."""
        with self._cond:
            self._evict()
            return [j.id for j in self._jobs.values() if owner is None or j.owner == owner]

    # ------------------------------------------------------------------------------------------
    # Internals (lock held)
    # ------------------------------------------------------------------------------------------

    def _record(self, job_id: str) -> JobRecord:
        self._evict()
        job = self._jobs.get(job_id)
        if job is None:
            raise JobNotFoundError(job_id)
        return job

    def _set_status(self, job: JobRecord, status: str) -> None:
        stored = self._jobs.get(job.id) is job
        if stored:
            self._status_counts[job.status] -= 1
            self._status_counts[status] += 1
        job.status = status
        if stored and status in TERMINAL:
            job.finished_at = self._clock()
            self._finished[job.id] = job
            self._bytes_held += job.bytes_held
            self._evict()
        self._cond.notify_all()

    def _evict(self) -> None:
        """Forget finished jobs past their retention, oldest first."""
        if not self._finished:
            return
        now = self._clock()
        while self._finished:
            oldest = next(iter(self._finished.values()))
            expired = (
                self._keep_seconds is not None
                and oldest.finished_at is not None
                and now - oldest.finished_at >= self._keep_seconds
            )
            too_many = self._keep_jobs is not None and len(self._finished) > self._keep_jobs
            too_big = self._keep_bytes is not None and self._bytes_held > self._keep_bytes and len(self._finished) > 1
            if not (expired or too_many or too_big):
                return
            self._forget(oldest)
            self._evicted += 1

    def _queue_position(self, job: JobRecord) -> int | None:
        if job.status != "waiting":
            return None
        return bisect.bisect_left(self._waiting, job.seq)

    def _remove_waiting(self, job: JobRecord) -> None:
        i = bisect.bisect_left(self._waiting, job.seq)
        if i < len(self._waiting) and self._waiting[i] == job.seq:
            del self._waiting[i]
        self._by_seq.pop(job.seq, None)

    def _cancel(self, job: JobRecord) -> None:
        if job.status == "waiting":
            self._remove_waiting(job)
            self._set_status(job, "cancelled")
            job.timeline.append(TimelineEntry(SERVER, "cancelled", _now()))
        elif job.status == "processing":
            job.cancel_requested = True
            self._cond.notify_all()

    def _finish_cancelled(self, job: JobRecord) -> None:
        self._set_status(job, "cancelled")
        job.timeline.append(TimelineEntry(SERVER, "cancelled", _now()))
        self._release_processing(job)

    def _release_processing(self, job: JobRecord) -> None:
        if self._processing is job:
            self._processing = None
        self._cond.notify_all()

    def _forget(self, job: JobRecord) -> None:
        if self._jobs.get(job.id) is job:
            del self._jobs[job.id]
            self._status_counts[job.status] -= 1
        if self._finished.pop(job.id, None) is not None:
            self._bytes_held -= job.bytes_held

    def _job_data(self, job: JobRecord) -> JobData:
        return JobData(
            id=job.id,
            status=job.status,
            type="circuit",
            execution_progress=None if job.progress is None else {"circuits": job.progress},
            calibration_set_id=job.calibration_set_id,
            has_compilation=True,
            messages=tuple(dict(m) for m in job.messages),
            errors=tuple(job.errors),
            queue_position=self._queue_position(job),
            timeline=tuple(job.timeline),
            artifacts=ARTIFACT_TYPES if job.status == "completed" else (),
        )
