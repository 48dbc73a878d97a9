"""Blocking batches for Qiskit users: :func:`run_batch` over the facade's one portal loop.

Usage::

    from iqm_sync_shim.batch import run_batch

    sweep = run_batch(backend, circuits, shots=1000)     # returns once the circuits are validated
    for outcome in sweep:                                # each circuit as soon as its job completes
        print(outcome.index, outcome.job_id, outcome.result().counts)
    results = sweep.results()                            # input order; BatchError if any failed

The batch itself is the core's :class:`iqm_async.batch.Batch`, run as one task on the process-wide
portal loop (:mod:`iqm_sync_shim._runner`) with the backend's client, so it shares that client's
request budget and poll scheduler with every other job of the provider. The calling thread only
waits, in short slices, so Ctrl-C interrupts the wait at once: the batch's local work is then
cancelled and its jobs are left running on the server (``cancel()`` stops them). Outcomes reach the
caller through a list the portal appends to and a condition it notifies; ``on_complete`` runs on the
caller's thread while it iterates or waits, never on the portal loop. Job errors in outcomes are the
facade's classes (also Qiskit ``JobError``s).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, overload

from qiskit import QuantumCircuit

from iqm_async._config import DEFAULT_BATCH_POLICY
from iqm_async.batch import Batch, BatchCounts, Outcome, assemble_results
from iqm_async.errors import OperationTimeoutError

from ._errors import translate_job_error
from ._runner import WAIT_SLICE, PortalRunner, get_runner

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from qiskit.providers import BackendV2
    from qiskit.result import Result
    from qiskit.transpiler import Target

    from iqm_async import AsyncIQMClient
    from iqm_async.batch.api import ParameterValues
    from iqm_async.models import DDMode, HeraldingMode, MoveGateFrameTracking, MoveGateValidation
    from iqm_async.results import CircuitResult

    from .backend import IQMBackend

__all__ = ["SyncBatch", "run_batch"]


class _Shared:
    """State the portal task writes and caller threads read: outcomes in completion order, and the end."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.outcomes: list[Outcome] = []
        self.ready = False
        self.finished = False
        self.error: BaseException | None = None
        self.batch: Batch | None = None

    def add(self, outcome: Outcome) -> None:
        error = outcome.error
        if error is not None:
            translated = translate_job_error(error)
            if translated is not error and isinstance(translated, Exception):
                outcome = dataclasses.replace(outcome, error=translated)
        with self.cond:
            self.outcomes.append(outcome)
            self.cond.notify_all()

    def set_ready(self, batch: Batch) -> None:
        with self.cond:
            self.batch = batch
            self.ready = True
            self.cond.notify_all()

    def finish(self, error: BaseException | None) -> None:
        with self.cond:
            self.finished = True
            self.error = error
            self.cond.notify_all()


async def _drive(
    client: AsyncIQMClient,
    circuits: Sequence[QuantumCircuit] | QuantumCircuit,
    kwargs: dict[str, Any],
    shared: _Shared,
) -> None:
    """Run the batch on the portal loop and publish every outcome (runs as one portal task)."""
    error: BaseException | None = None
    try:
        batch = client.run_batch(circuits, **kwargs)
        async with batch:
            shared.set_ready(batch)
            async for outcome in batch.as_completed():
                shared.add(outcome)
    except BaseException as exc:  # recorded for the waiting threads, then re-raised into the future
        error = exc
        raise
    finally:
        shared.finish(error)


def run_batch(
    backend: IQMBackend,
    circuits: Sequence[QuantumCircuit] | QuantumCircuit,
    *,
    shots: int | None = None,
    parameter_values: ParameterValues | None = None,
    transpile: bool | Target | BackendV2 | None = None,
    optimization_level: int | None = None,
    seed_transpiler: int | None = None,
    executor: Executor | Literal["auto"] | None = "auto",
    stream: bool | None = None,
    circuits_per_job: int | None = None,
    max_in_flight: int = DEFAULT_BATCH_POLICY.max_in_flight,
    timeout_seconds: float | None = None,
    journal: str | os.PathLike[str] | None = None,
    progress: bool | None = None,
    on_complete: Callable[[Outcome], object] | None = None,
    qubit_names: Sequence[str] | None = None,
    use_timeslot: bool = False,
    tags: str | Sequence[str] | None = None,
    calibration_set_id: str | None = None,
    qubit_mapping: Mapping[str, str] | None = None,
    max_circuit_duration_over_t2: float | None = None,
    heralding_mode: HeraldingMode | None = None,
    move_gate_validation: MoveGateValidation | None = None,
    move_gate_frame_tracking: MoveGateFrameTracking | None = None,
    active_reset_cycles: int | None = None,
    dd_mode: DDMode | None = None,
    dd_strategy: Mapping[str, Any] | None = None,
) -> SyncBatch:
    """Start a batch of circuits on the backend's quantum computer; return once it is running.

    Takes the arguments of :meth:`iqm_async.AsyncIQMClient.run_batch` (documented on
    :meth:`iqm_async.batch.Batch.start`). ``shots`` defaults to ``backend.options.shots``; the circuits
    are sent with the backend's calibration set and qubit names, as :meth:`IQMBackend.run` sends them.
    ``transpile=True`` transpiles for this backend (``transpile=backend`` is the same).

    Raises:
        CircuitValidationError: a circuit is not transpiled for the backend (nothing was sent).
        JournalError: the journal file exists already.
    """
    kwargs: dict[str, Any] = {
        "shots": backend.options.shots if shots is None else shots,
        "parameter_values": parameter_values,
        "transpile": backend if transpile is True else transpile,
        "optimization_level": optimization_level,
        "seed_transpiler": seed_transpiler,
        "executor": executor,
        "stream": stream,
        "circuits_per_job": circuits_per_job,
        "max_in_flight": max_in_flight,
        "timeout_seconds": timeout_seconds,
        "journal": journal,
        "progress": progress,
        "qubit_names": backend.physical_qubits if qubit_names is None else qubit_names,
        "use_timeslot": use_timeslot,
        "tags": tags,
        "calibration_set_id": backend.calibration_set_id if calibration_set_id is None else calibration_set_id,
        "qubit_mapping": qubit_mapping,
        "max_circuit_duration_over_t2": max_circuit_duration_over_t2,
        "heralding_mode": heralding_mode,
        "move_gate_validation": move_gate_validation,
        "move_gate_frame_tracking": move_gate_frame_tracking,
        "active_reset_cycles": active_reset_cycles,
        "dd_mode": dd_mode,
        "dd_strategy": dd_strategy,
    }
    client = backend.async_client
    runner = get_runner()
    shared = _Shared()
    items = circuits if isinstance(circuits, QuantumCircuit) else list(circuits)
    future = runner.submit(_drive, client, items, kwargs, shared)
    sync = SyncBatch(runner, future, shared, on_complete)
    sync._wait_until(lambda: shared.ready or shared.finished, None)
    if not shared.ready:
        future.result()  # the batch failed before it started: raise why
    return sync


class SyncBatch:
    """A running batch seen from blocking code; made by :func:`run_batch`.

    Iterate it for each circuit's :class:`~iqm_async.batch.Outcome` as its job completes (every
    iteration starts from the first outcome), or call :meth:`results` for all of them in input order.
    """

    def __init__(
        self,
        runner: PortalRunner,
        future: concurrent.futures.Future[None],
        shared: _Shared,
        on_complete: Callable[[Outcome], object] | None = None,
    ):
        self._runner = runner
        self._future = future
        self._shared = shared
        self._on_complete = on_complete
        self._delivered = 0
        self._deliver_lock = threading.Lock()

    def __repr__(self) -> str:
        batch = self._shared.batch
        return f"<SyncBatch {batch!r}>"

    def __len__(self) -> int:
        return self.counts.circuits

    # ------------------------------------------------------------------ state

    @property
    def job_ids(self) -> list[str]:
        """Ids of the jobs submitted so far, in the order they were assigned."""
        batch = self._shared.batch
        return [] if batch is None else list(batch.job_ids)

    def locate(self, index: int) -> tuple[int, tuple[int, ...]]:
        """Return ``(input circuit, point)`` of item ``index`` (see :meth:`iqm_async.batch.Batch.locate`)."""
        batch = self._shared.batch
        if batch is None:
            raise RuntimeError("The batch has not started.")
        return batch.locate(index)

    @property
    def preparation_error(self) -> Exception | None:
        """Why a streamed batch stopped preparing, if it did (see ``run_batch``'s ``stream``)."""
        batch = self._shared.batch
        return None if batch is None else batch.preparation_error

    @property
    def counts(self) -> BatchCounts:
        """Live progress counters (a snapshot)."""
        batch = self._shared.batch
        return BatchCounts(0) if batch is None else dataclasses.replace(batch.counts)

    def done(self) -> bool:
        """Tell whether every circuit has an outcome, or the batch stopped."""
        return self._shared.finished

    # ------------------------------------------------------------------ waiting

    def _wait_until(self, predicate: Callable[[], bool], timeout: float | None) -> bool:
        """Block in short slices (Ctrl-C stops the batch's local work and re-raises) until ``predicate()``."""
        shared = self._shared
        deadline = None if timeout is None else _monotonic() + timeout
        try:
            while True:
                self._deliver()
                with shared.cond:
                    if predicate():
                        break
                    left = WAIT_SLICE if deadline is None else min(WAIT_SLICE, deadline - _monotonic())
                    if left <= 0:
                        return False
                    shared.cond.wait(left)
        except BaseException:
            self._future.cancel()  # the local work stops; the jobs stay on the server
            raise
        self._deliver()
        return True

    def _deliver(self) -> None:
        """Call ``on_complete`` for outcomes not delivered yet, on this (the caller's) thread."""
        if self._on_complete is None:
            return
        with self._deliver_lock:
            outcomes = self._shared.outcomes
            while self._delivered < len(outcomes):
                outcome = outcomes[self._delivered]
                self._delivered += 1
                self._on_complete(outcome)

    def wait(self, timeout: float | None = None) -> None:
        """Block until every circuit has an outcome.

        Raises:
            OperationTimeoutError: not finished within ``timeout`` seconds (the batch goes on).
            BaseException: whatever stopped the batch (for example an ``on_complete`` error).
        """
        if not self._wait_until(lambda: self._shared.finished, timeout):
            raise OperationTimeoutError(f"The batch did not finish within {timeout} seconds; it is still running.")
        error = self._shared.error
        if isinstance(error, Exception):
            raise error
        if error is not None or self._future.cancelled():  # cancelled, or interrupted
            raise RuntimeError(
                "The batch was stopped before every circuit finished; its jobs are still on the server "
                "(see job_ids, or resume from the journal)."
            )

    def __iter__(self) -> Iterator[Outcome]:
        """Yield each circuit's outcome as soon as its job finishes (completion order)."""
        shared = self._shared
        i = 0
        while True:
            self._wait_until(functools.partial(self._beyond, i), None)
            if i < len(shared.outcomes):
                yield shared.outcomes[i]
                i += 1
                continue
            self.wait(0)  # finished: raise if it stopped early
            return

    def _beyond(self, i: int) -> bool:
        return i < len(self._shared.outcomes) or self._shared.finished

    def outcomes(self, timeout: float | None = None) -> list[Outcome]:
        """Wait, then return every circuit's outcome in input order (item errors do not raise here)."""
        self.wait(timeout)
        return sorted(self._shared.outcomes, key=lambda o: o.index)

    @overload
    def results(
        self, *, return_exceptions: Literal[False] = False, timeout: float | None = None
    ) -> list[CircuitResult]: ...

    @overload
    def results(
        self, *, return_exceptions: Literal[True], timeout: float | None = None
    ) -> list[CircuitResult | Exception]: ...

    def results(
        self, *, return_exceptions: bool = False, timeout: float | None = None
    ) -> list[CircuitResult] | list[CircuitResult | Exception]:
        """Wait, then return each circuit's result in input order.

        Raises:
            BatchError: some circuits failed; ``failures`` and ``results`` as in the core.
        """
        return assemble_results(self.outcomes(timeout), return_exceptions=return_exceptions)

    def qiskit_results(self, timeout: float | None = None) -> list[Result]:
        """Wait, then return one ``qiskit.result.Result`` per circuit, in input order.

        Raises:
            BatchError: some circuits failed.
        """
        outcomes = self.outcomes(timeout)
        assemble_results(outcomes)  # raises BatchError when anything failed

        async def build() -> list[Result]:
            return [await o.qiskit_result() for o in outcomes]

        return self._runner.run(build)

    def qiskit_result(self, outcome: Outcome) -> Result:
        """Return a ``qiskit.result.Result`` holding just this outcome's circuit (raises its error)."""
        return self._runner.run(outcome.qiskit_result)

    # ------------------------------------------------------------------ stopping

    def cancel(self) -> int:
        """Ask the server to cancel every job not known to be finished, and stop submitting; return how many."""
        batch = self._shared.batch
        if batch is None:
            return 0
        return self._runner.run(batch.cancel)

    def close(self) -> None:
        """Stop the batch's local work now (the jobs keep running on the server); idempotent."""
        self._future.cancel()

    def __enter__(self) -> SyncBatch:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is not None:
            self.close()
        else:
            self.wait()


def _monotonic() -> float:
    return time.monotonic()
