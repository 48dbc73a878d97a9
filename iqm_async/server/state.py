"""The in-process control object of one server: store, executor, limiter, switchboard, request log."""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

from ..calibration import CalibrationMetrics, ObservationSet
from ..devices.calibration_data import synthetic_metrics
from ..models import DynamicQuantumArchitecture, QuantumComputer, StaticQuantumArchitecture
from .chip import ServedChip, served_chips
from .config import ServerConfig
from .executor import Executor
from .faults import FaultBoard, RequestLog, RequestLogEntry
from .limits import RateLimiter
from .noisy import JobNoise
from .store import JobRecord, JobStore

__all__ = ["ComputerState", "ServerState"]


Overrides = Mapping[str, Mapping[tuple[str, ...], float]]
_METRICS_NAMESPACE = uuid.UUID("0b9c7e43-31a4-4e39-9f0e-5b8e2d6c1a77")


class _CalibrationSet:
    """One calibration set of a quantum computer: its DQA, its numbers, and both observation sets as served."""

    def __init__(self, served: ServedChip, cal_id: str, overrides: Overrides | None):
        self.dqa = served.shape.dqa(cal_id)
        self.metrics = synthetic_metrics(served.shape, cal_id, overrides=overrides)
        self.calibration_set, self.quality_metrics = self.metrics.to_sets(
            str(uuid.uuid5(_METRICS_NAMESPACE, cal_id)), datetime.now(timezone.utc)
        )


class ComputerState:
    """One quantum computer of the server: its chip, its calibration sets and which of them is the default."""

    def __init__(self, served: ServedChip):
        self.served = served
        self.quantum_computer: QuantumComputer = served.quantum_computer
        """The E1 entry."""
        self.sqa: StaticQuantumArchitecture = served.shape.sqa()
        """The static quantum architecture (E3)."""
        self.default_calibration_set_id = served.calibration_set_id
        """The calibration set E2 ``default`` answers with, and jobs without a calibration set use."""
        self._calibration_sets: dict[str, _CalibrationSet] = {
            served.calibration_set_id: _CalibrationSet(served, served.calibration_set_id, None)
        }

    @property
    def alias(self) -> str:
        """The alias used as ``{qc}`` in every path."""
        return self.quantum_computer.alias

    def dqa(self, calibration_set_id: str | None = None) -> DynamicQuantumArchitecture | None:
        """Return the DQA of a calibration set (None: the default), or None when it is unknown."""
        entry = self._calibration_sets.get(calibration_set_id or self.default_calibration_set_id)
        return None if entry is None else entry.dqa

    def metrics(self, calibration_set_id: str | None = None) -> CalibrationMetrics | None:
        """Return the numbers of a calibration set (None: the default), or None when it is unknown."""
        entry = self._calibration_sets.get(calibration_set_id or self.default_calibration_set_id)
        return None if entry is None else entry.metrics

    def observation_sets(self, calibration_set_id: str | None = None) -> tuple[ObservationSet, ObservationSet] | None:
        """Return the calibration set and its quality metric set as served, or None when the set is unknown."""
        entry = self._calibration_sets.get(calibration_set_id or self.default_calibration_set_id)
        return None if entry is None else (entry.calibration_set, entry.quality_metrics)

    def add_calibration_set(
        self,
        calibration_set_id: str | None = None,
        *,
        make_default: bool = False,
        overrides: Overrides | None = None,
    ) -> str:
        """Register another calibration set with the same chip (its numbers drift from the others); return its id.

        Args:
            calibration_set_id: the new set's UUID; None draws one.
            make_default: make it the default for jobs submitted from now on (running jobs keep theirs).
            overrides: fidelities to set, e.g. ``{"cz": {("QB1", "QB2"): 0.8}}`` (a bad coupler).
        """
        cal_id = str(uuid.UUID(calibration_set_id)) if calibration_set_id else str(uuid.uuid4())
        self._calibration_sets[cal_id] = _CalibrationSet(self.served, cal_id, overrides)
        if make_default:
            self.default_calibration_set_id = cal_id
        return cal_id

    def reset(self) -> None:
        """Forget added calibration sets and restore the configured default."""
        self.default_calibration_set_id = self.served.calibration_set_id
        default = self._calibration_sets[self.default_calibration_set_id]
        self._calibration_sets = {self.default_calibration_set_id: default}


class ServerState:
    """Everything one server instance knows, shared by the HTTP layer, the executor and tests.

    Tests hold jobs in the queue with :meth:`hold`/:meth:`release`, inject faults through
    :attr:`faults`, and wait for state changes with :meth:`wait_for` instead of sleeping::

        state.hold()
        job_id = submit(...)
        assert state.store.status(job_id) == "waiting"
        state.release()
        assert state.wait_for(lambda: state.store.status(job_id) == "completed", timeout=10)
    """

    def __init__(self, config: ServerConfig | None = None, *, clock: Callable[[], float] = time.monotonic):
        self.config = config or ServerConfig()
        self.seed = self.config.seed if self.config.seed is not None else secrets.randbits(63)
        """Base of every Aer seed; fixed by ``config.seed`` for reproducible outcomes."""
        self.store = JobStore(
            keep_seconds=self.config.keep_finished_seconds,
            keep_jobs=self.config.keep_finished_jobs,
            keep_bytes=self.config.keep_finished_bytes,
            clock=clock,
        )
        self.faults = FaultBoard()
        self.limiter = RateLimiter(self.config.rate_limit, clock=clock)
        self.request_log = RequestLog(self.config.request_log_size)
        self.computers: dict[str, ComputerState] = {
            served.alias: ComputerState(served) for served in served_chips(self.config)
        }
        """Every quantum computer served, by alias, the first (default) one first."""
        self._noise: dict[tuple[str, str], JobNoise] = {}
        self.executor = Executor(self.store, self.faults, self.config, self.seed, noise=self.job_noise)

    # ------------------------------------------------------------------------------------------
    # Calibration sets
    # ------------------------------------------------------------------------------------------

    @property
    def computer(self) -> ComputerState:
        """The first quantum computer (the only one unless ``extra_chips`` are configured)."""
        return next(iter(self.computers.values()))

    @property
    def quantum_computer(self) -> QuantumComputer:
        """The E1 entry of the first quantum computer."""
        return self.computer.quantum_computer

    @property
    def sqa(self) -> StaticQuantumArchitecture:
        """The static quantum architecture of the first quantum computer."""
        return self.computer.sqa

    @property
    def default_calibration_set_id(self) -> str:
        """The default calibration set of the first quantum computer."""
        return self.computer.default_calibration_set_id

    def dqa(self, calibration_set_id: str | None = None) -> DynamicQuantumArchitecture | None:
        """Return the DQA of a calibration set of the first quantum computer (None: the default), or None."""
        return self.computer.dqa(calibration_set_id)

    def add_calibration_set(
        self,
        calibration_set_id: str | None = None,
        *,
        make_default: bool = False,
        alias: str | None = None,
        overrides: Overrides | None = None,
    ) -> str:
        """Register another calibration set with the same chip; return its id (e.g. to test calibration drift).

        Args:
            calibration_set_id: the new set's UUID; None draws one.
            make_default: make it the quantum computer's default (jobs already submitted keep their set).
            alias: the quantum computer; None means the first one.
            overrides: fidelities to set, e.g. ``{"prx": {("QB3",): 0.95}}`` (a bad qubit).
        """
        target = self.computer if alias is None else self.computers[alias]
        return target.add_calibration_set(calibration_set_id, make_default=make_default, overrides=overrides)

    def job_noise(self, job: JobRecord) -> JobNoise | None:
        """Return the noise a job runs with: None when its quantum computer is ideal, else its calibration set's."""
        alias = job.quantum_computer or self.computer.alias
        if self.config.noise_for(alias) != "calibrated":
            return None
        key = (alias, job.calibration_set_id)
        noise = self._noise.get(key)
        if noise is None:
            computer = self.computers[alias]
            metrics = computer.metrics(job.calibration_set_id)
            if metrics is None:
                return None
            noise = JobNoise.from_metrics(metrics, computer.served.shape.gate_loci())
            self._noise[key] = noise
        return noise

    def add_job_message(self, job_id: str, message: str, source: str = "iqm-server") -> None:
        """Attach an informational message to a job's JobData (``messages``), as IQM Server does."""
        self.store.add_message(job_id, source, message)

    # ------------------------------------------------------------------------------------------
    # Control
    # ------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the executor (called by the app's lifespan)."""
        self.executor.start()

    def stop(self) -> None:
        """Stop the executor (called by the app's lifespan)."""
        self.executor.stop()

    def hold(self) -> None:
        """Keep every new job waiting: the executor takes no job until :meth:`release`."""
        self.store.hold()

    def release(self) -> None:
        """Let the executor take jobs again."""
        self.store.release()

    def reset(self) -> None:
        """Drop all jobs, fault rules, rate-limit state and the request log; release the queue."""
        self.faults.clear()
        self.limiter.reset()
        self.request_log.clear()
        self.store.reset()
        for computer in self.computers.values():
            computer.reset()
        self._noise.clear()

    def wait_for(self, predicate: Callable[[], bool], timeout: float | None = None) -> bool:
        """Block until ``predicate()`` holds, re-checked on every job-store change; False on timeout.

        The predicate runs under the store's lock, so it must read in-process state only (no HTTP calls).
        """
        return self.store.wait_for(predicate, timeout)

    def wait_for_status(self, job_id: str, *statuses: str, timeout: float | None = None) -> str | None:
        """Block until the job reaches one of ``statuses`` (default: any terminal one); None on timeout."""
        return self.store.wait_for_status(job_id, statuses or ("completed", "failed", "cancelled"), timeout)

    def requests(self) -> list[RequestLogEntry]:
        """Return the logged API requests, oldest first."""
        return self.request_log.entries()

    def stats(self) -> dict[str, Any]:
        """Return counters for tests and benchmarks (jobs created, requests, 429s, per-status counts)."""
        statuses: Mapping[str, int] = self.store.status_counts()
        return {
            "jobs_created": self.store.jobs_created,
            "busy_seconds": self.store.busy_seconds,
            "jobs_by_status": dict(statuses),
            "queue_length": self.store.queue_length,
            "processing_job_id": self.store.processing_job_id,
            "held": self.store.held,
            "requests": self.request_log.total,
            "rate_limited": self.limiter.refused,
            "faults_injected": self.faults.injected,
            "fault_rules": len(self.faults),
            **self.store.retention(),
        }
