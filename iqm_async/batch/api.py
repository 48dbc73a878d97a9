"""The entry points of batches, ``client.run_batch`` and ``client.resume_batch``, with every argument explicit.

They are :class:`~iqm_async.AsyncIQMClient` methods (the client binds these functions), typed and listed
one by one so that a misspelt argument is a ``TypeError`` (and a type error for a checker) and
``help()`` shows them all.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from .._config import DEFAULT_BATCH_POLICY, DEFAULT_SHOTS
from ..ledger import normalize_tags
from .plan import SweepOptions
from .run import Batch

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from numpy.typing import ArrayLike
    from qiskit import QuantumCircuit
    from qiskit.providers import BackendV2
    from qiskit.transpiler import Target

    from ..client import AsyncIQMClient
    from ..models import DDMode, HeraldingMode, MoveGateFrameTracking, MoveGateValidation
    from .outcomes import Outcome

    ParameterValues = ArrayLike | Sequence[ArrayLike | Mapping[Any, ArrayLike] | None]
    """``run_batch``'s ``parameter_values``: one entry per circuit, or the entry of a single circuit."""

__all__ = ["resume_batch", "run_batch"]


def run_batch(
    client: AsyncIQMClient,
    circuits: Sequence[QuantumCircuit] | QuantumCircuit,
    *,
    shots: int = DEFAULT_SHOTS,
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
) -> Batch:
    """Describe a batch of circuits; it runs when entered (``async with``) or awaited (:meth:`Batch.results`).

    Args:
        client: the open client whose transport, budget and scheduler the batch uses.
        circuits: the circuits, in native gates unless ``transpile`` is given; any sequence (or one
            circuit with its ``parameter_values``).
        shots: shots per circuit.
        parameter_values: values to bind, one entry per circuit (``None`` for a circuit run as it is):
            an array whose last axis follows ``circuit.parameters`` (each row is one item of the
            batch), a mapping of parameters or names to arrays, or a Qiskit ``BindingsArray``. A
            circuit with values is transpiled and converted once and bound per point. Items are
            numbered circuit by circuit, point by point (see :meth:`Batch.locate`).
        transpile: transpile every circuit in the batch first: ``True`` for this client's quantum
            computer, or a backend or ``Target``. Errors name the circuit's index.
        optimization_level: Qiskit's level for ``transpile`` (default 2, as Qiskit's).
        seed_transpiler: seed for ``transpile``: the same seed gives the same circuits and job bodies,
            wherever they were prepared.
        executor: where transpiling, binding, conversion and validation run, one chunk (job) per
            task: any ``concurrent.futures.Executor`` (a process pool, Dask's
            ``Client.get_executor()``); ``"auto"`` uses a process pool for large batches and the event
            loop itself for small ones (and for any batch started outside the script's
            ``if __name__ == "__main__":``, whose top level the pool's workers would run again);
            ``None`` always the event loop.
        stream: submit each job as soon as it is prepared instead of preparing the whole batch first
            (default: streamed when the batch has an executor, several jobs and no journal). A
            circuit that fails to prepare then fails its items and stops further submits; its
            error is also in :attr:`Batch.preparation_error`.
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
        tags: your labels for every job of the batch, kept in the job ledger with the batch's id.
        calibration_set_id: run with this calibration set (default: the server's current one).
        qubit_mapping: job options of docs/protocol.md#submitting-a-job; ``None`` leaves each at
            the server's default.
        max_circuit_duration_over_t2: see ``qubit_mapping``.
        heralding_mode: see ``qubit_mapping``.
        move_gate_validation: see ``qubit_mapping``.
        move_gate_frame_tracking: see ``qubit_mapping``.
        active_reset_cycles: see ``qubit_mapping``.
        dd_mode: see ``qubit_mapping``.
        dd_strategy: see ``qubit_mapping``.
    """
    sweep = SweepOptions(parameter_values, transpile, optimization_level, seed_transpiler, executor, stream)
    given = {
        "calibration_set_id": calibration_set_id,
        "qubit_mapping": qubit_mapping,
        "max_circuit_duration_over_t2": max_circuit_duration_over_t2,
        "heralding_mode": heralding_mode,
        "move_gate_validation": move_gate_validation,
        "move_gate_frame_tracking": move_gate_frame_tracking,
        "active_reset_cycles": active_reset_cycles,
        "dd_mode": dd_mode,
        "dd_strategy": dd_strategy,
    }
    return Batch(
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
        tags=normalize_tags(tags),
        options={k: v for k, v in given.items() if v is not None},
        sweep=sweep,
    )

def resume_batch(
    client: AsyncIQMClient,
    journal: str | os.PathLike[str],
    *,
    circuits: Sequence[QuantumCircuit] | None = None,
    parameter_values: ParameterValues | None = None,
    transpile: bool | Target | BackendV2 | None = None,
    optimization_level: int | None = None,
    seed_transpiler: int | None = None,
    executor: Executor | Literal["auto"] | None = "auto",
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
        parameter_values: as given to :func:`run_batch` (needed with ``circuits`` for a sweep).
        transpile: as given to :func:`run_batch`.
        optimization_level: as given to :func:`run_batch`.
        seed_transpiler: as given to :func:`run_batch` (the hash check needs the same circuits).
        executor: where the circuits are prepared again, as for :func:`run_batch`.
        max_in_flight: most newly submitted jobs under way at once.
        timeout_seconds: deadline of the resumed batch (default 3 h; ``math.inf`` for none).
        progress: tqdm bar, as for :func:`run_batch`.
        on_complete: per-circuit callback, as for :func:`run_batch`.
    """
    return Batch(
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
        tags=(),
        options={},
        sweep=SweepOptions(parameter_values, transpile, optimization_level, seed_transpiler, executor, False),
    )
