"""``SamplerV2``: Qiskit's sampler primitive over the async core; every binding of every PUB in one batch run."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from qiskit.primitives import BasePrimitiveJob, BaseSamplerV2  # type: ignore[import-untyped, unused-ignore]
from qiskit.primitives.containers import (  # type: ignore[import-untyped, unused-ignore]
    BitArray,
    DataBin,
    PrimitiveResult,
    SamplerPubLike,
    SamplerPubResult,
)
from qiskit.primitives.containers.sampler_pub import SamplerPub  # type: ignore[import-untyped, unused-ignore]

from .._config import DEFAULT_BATCH_POLICY
from ..errors import CircuitValidationError, UsageError
from ._run import PrimitiveRun, PrimitiveSettings, memory_values, register_bits, run_items

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from ..client import AsyncIQMClient

__all__ = ["SamplerV2"]

DEFAULT_SAMPLER_SHOTS = 1024
"""Shots of a PUB that names none, when the sampler was given no ``default_shots`` (Qiskit's value)."""


class SamplerV2(BaseSamplerV2):  # type: ignore[misc, unused-ignore]  # qiskit ships no type information
    """Qiskit's ``BaseSamplerV2`` over an :class:`~iqm_async.AsyncIQMClient`: ``await sampler.run_async(pubs)``.

    Each PUB's circuit is converted once and bound per point on the client (see ``run_batch``'s
    ``parameter_values``); all bindings of all PUBs run as one batch per distinct shot count, sharing the
    client's request budget and poll scheduler. Results have Qiskit's shapes, a ``BitArray`` per classical
    register (named after it) and metadata with the job ids, shots and calibration set.

    Blocking code uses ``iqm_sync_shim.SamplerV2(backend)``, whose ``run()`` returns a job handle; this
    class's ``run()`` cannot block an event loop and says so.

    Args:
        client: an open client.
        default_shots: shots of a PUB that names none.
        transpile: circuits are ISA circuits as for any Qiskit primitive; ``True``, a backend or a
            ``Target`` transpiles them first (once per PUB), with ``optimization_level`` and ``seed_transpiler``.
        optimization_level: see ``transpile``.
        seed_transpiler: see ``transpile``.
        executor: where circuits are prepared (see ``run_batch``).
        circuits_per_job: most circuits per job (default 1,000, cut further to the body limit).
        max_in_flight: most jobs under way at once.
        timeout_seconds: deadline of each run (default 3 h).
        progress: a progress bar per run.
        journal: journal file of a run (one run per file).
        tags: ledger tags of every job.
        calibration_set_id: run with this calibration set (default: the current one).
        qubit_names: physical name of each Qiskit qubit index.
        job_options: further job options of ``run_batch`` (``heralding_mode``, …).
    """

    def __init__(
        self,
        client: AsyncIQMClient,
        *,
        default_shots: int = DEFAULT_SAMPLER_SHOTS,
        transpile: Any = None,
        optimization_level: int | None = None,
        seed_transpiler: int | None = None,
        executor: Executor | str | None = "auto",
        circuits_per_job: int | None = None,
        max_in_flight: int = DEFAULT_BATCH_POLICY.max_in_flight,
        timeout_seconds: float | None = None,
        progress: bool | None = False,
        journal: str | os.PathLike[str] | None = None,
        tags: str | Sequence[str] | None = None,
        calibration_set_id: str | None = None,
        qubit_names: Sequence[str] | None = None,
        job_options: dict[str, Any] | None = None,
    ):
        self._client = client
        self._default_shots = default_shots
        self.settings = PrimitiveSettings(
            transpile, optimization_level, seed_transpiler, executor, circuits_per_job, max_in_flight,
            timeout_seconds, progress, journal, tags, calibration_set_id, qubit_names, dict(job_options or {}),
        )  # fmt: skip

    @property
    def default_shots(self) -> int:
        """Shots of a PUB that names none."""
        return self._default_shots

    def run(self, pubs: Iterable[SamplerPubLike], *, shots: int | None = None) -> BasePrimitiveJob:
        """Refuse: a blocking run needs the facade's portal (``iqm_sync_shim.SamplerV2``); await :meth:`run_async`."""
        raise UsageError(
            "iqm_async.SamplerV2 is asynchronous: `await sampler.run_async(pubs)`. In blocking code use "
            "iqm_sync_shim.SamplerV2(backend).run(pubs).result()."
        )

    async def run_async(
        self, pubs: Iterable[SamplerPubLike], *, shots: int | None = None, run: PrimitiveRun | None = None
    ) -> PrimitiveResult:
        """Sample every PUB and return Qiskit's ``PrimitiveResult`` of ``SamplerPubResult``.

        Args:
            pubs: circuits, or ``(circuit, parameter_values[, shots])`` tuples, or ``SamplerPub``.
            shots: shots of every PUB that names none (default: ``default_shots``).
            run: collects the run's batches (job ids, cancel); made here when not given.

        Raises:
            CircuitValidationError: a PUB's circuit has no classical register, or cannot run.
            BatchError: some PUBs failed; the message names each.
        """
        coerced = [SamplerPub.coerce(pub, self._default_shots if shots is None else shots) for pub in pubs]
        for k, pub in enumerate(coerced):
            if not pub.circuit.cregs:
                raise CircuitValidationError(f"PUB {k}: the circuit has no classical registers, so nothing is sampled.")
        run = run or PrimitiveRun()
        values = [_values(pub) for pub in coerced]
        items, calibration = await run_items(
            self._client, [p.circuit for p in coerced], values, [p.shots for p in coerced], self.settings, run
        )
        results = [_pub_result(pub, its, calibration) for pub, its in zip(coerced, items)]
        return PrimitiveResult(results, metadata={"version": 2, "job_ids": run.job_ids})


def _values(pub: Any) -> np.ndarray | None:
    """Return a PUB's points for ``run_batch`` (None for a circuit without parameters run once)."""
    if pub.shape == () and pub.circuit.num_parameters == 0:
        return None
    return np.asarray(pub.parameter_values.as_array(pub.circuit.parameters), dtype=float).reshape(
        *pub.shape, pub.circuit.num_parameters
    )


def _pub_result(pub: Any, items: list[Any], calibration: str | None) -> SamplerPubResult:
    """Assemble one PUB's items (C order of its points) into a ``SamplerPubResult``."""
    shots = min(item.result.shots for item in items)  # heralding may keep fewer; a BitArray is rectangular
    registers: dict[str, list[np.ndarray]] = {creg.name: [] for creg in pub.circuit.cregs}
    for item in items:
        memory = memory_values(item.result)[:shots]
        offset = 0
        for creg in pub.circuit.cregs:
            registers[creg.name].append(register_bits(memory, offset, creg.size))
            offset += creg.size
    data = {}
    for creg in pub.circuit.cregs:
        stacked = np.stack(registers[creg.name]).reshape(*pub.shape, shots, -1)
        data[creg.name] = BitArray(stacked, creg.size)
    job_ids = list(dict.fromkeys(item.job_id for item in items if item.job_id is not None))
    metadata = {
        "shots": shots,
        "circuit_metadata": pub.circuit.metadata,
        "job_ids": job_ids,
        "calibration_set_id": calibration,
    }
    return SamplerPubResult(DataBin(**data, shape=pub.shape), metadata=metadata)
