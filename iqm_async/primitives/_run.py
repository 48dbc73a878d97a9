"""What both primitives share: their settings, running every binding of every PUB through batches, reading bits."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
import numpy as np

from .._config import DEFAULT_BATCH_POLICY
from ..errors import BatchError

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from qiskit import QuantumCircuit

    from ..batch import Batch, Outcome
    from ..client import AsyncIQMClient
    from ..results import CircuitResult

__all__ = ["PRIMITIVE_CIRCUITS_PER_JOB", "PrimitiveRun", "PrimitiveSettings", "register_bits", "run_items"]

PRIMITIVE_CIRCUITS_PER_JOB = 1000
"""Circuits per job of a primitive run when none is given (a job is still cut to the body limit).

A primitive returns its result only when every PUB is done, so streaming 100-circuit jobs buys nothing
there, while each job costs its own submit, polls and download: Qiskit's ``BackendSamplerV2`` sends a
1,000-binding PUB as one job, and so do we.
"""


@dataclass
class PrimitiveSettings:
    """How a primitive runs its circuits: the batch arguments it passes on (see ``client.run_batch``)."""

    transpile: Any = None
    optimization_level: int | None = None
    seed_transpiler: int | None = None
    executor: Executor | str | None = "auto"
    circuits_per_job: int | None = None
    max_in_flight: int = DEFAULT_BATCH_POLICY.max_in_flight
    timeout_seconds: float | None = None
    progress: bool | None = False
    journal: str | os.PathLike[str] | None = None
    tags: str | Sequence[str] | None = None
    calibration_set_id: str | None = None
    qubit_names: Sequence[str] | None = None
    job_options: dict[str, Any] = field(default_factory=dict)


class PrimitiveRun:
    """The batches of one primitive run, so a handle can list their jobs and cancel them while it runs."""

    def __init__(self) -> None:
        self.batches: list[Batch] = []
        self.cancelled = False

    @property
    def job_ids(self) -> list[str]:
        """Ids of the server jobs submitted so far, batch by batch."""
        return [job_id for batch in list(self.batches) for job_id in list(batch.job_ids)]

    async def cancel(self) -> int:
        """Stop submitting and cancel every job of the run that is not finished; return how many."""
        self.cancelled = True
        total = 0
        for batch in list(self.batches):
            total += await batch.cancel()
        return total


@dataclass
class Item:
    """One bound circuit of a run: its result and the job that ran it."""

    result: CircuitResult
    job_id: str | None


async def run_items(
    client: AsyncIQMClient,
    circuits: Sequence[QuantumCircuit],
    values: Sequence[np.ndarray | None],
    shots: Sequence[int],
    settings: PrimitiveSettings,
    run: PrimitiveRun,
    *,
    transpile: bool = True,
    describe: Callable[[int], str] = lambda k: f"PUB {k}",
) -> tuple[list[list[Item]], str | None]:
    """Run every point of every circuit, one batch per distinct shot count, all batches at once.

    Returns each circuit's items in C order of its points, and the calibration set the jobs ran with.

    Raises:
        BatchError: some items failed; the message names each failing circuit (``describe``) and its error.
    """
    by_shots: dict[int, list[int]] = {}
    for k, n in enumerate(shots):
        by_shots.setdefault(n, []).append(k)
    if settings.journal is not None and len(by_shots) > 1:
        from ..errors import ValidationError

        raise ValidationError("journal= needs every PUB of the run to have the same number of shots.")
    items: list[list[Item]] = [[] for _ in circuits]
    failures: dict[int, Exception] = {}
    calibration: list[str | None] = [None]

    async def run_group(n: int, members: list[int]) -> None:
        batch = client.run_batch(
            [circuits[k] for k in members],
            parameter_values=[values[k] for k in members],
            shots=n,
            transpile=settings.transpile if transpile else None,
            optimization_level=settings.optimization_level if transpile else None,
            seed_transpiler=settings.seed_transpiler if transpile else None,
            executor=settings.executor,  # type: ignore[arg-type]
            circuits_per_job=settings.circuits_per_job or PRIMITIVE_CIRCUITS_PER_JOB,
            max_in_flight=settings.max_in_flight,
            timeout_seconds=settings.timeout_seconds,
            progress=settings.progress,
            journal=settings.journal,
            tags=settings.tags,
            calibration_set_id=settings.calibration_set_id,
            qubit_names=settings.qubit_names,
            **settings.job_options,
        )
        run.batches.append(batch)
        outcomes: list[Outcome] = await batch.outcomes()
        calibration[0] = str(batch.spec.get("options", {}).get("calibration_set_id") or "") or None
        for outcome in outcomes:
            source, _ = batch.locate(outcome.index)
            k = members[source]
            if outcome.ok:
                assert outcome.value is not None
                items[k].append(Item(outcome.value, outcome.job_id))
            else:
                assert outcome.error is not None
                failures.setdefault(k, outcome.error)

    async with anyio.create_task_group() as tg:
        for n, members in by_shots.items():
            tg.start_soon(run_group, n, members)
    if failures:
        listing = "; ".join(f"{describe(k)}: {exc}" for k, exc in sorted(failures.items())[:10])
        raise BatchError(
            f"{len(failures)} of {len(circuits)} PUBs failed: {listing}",
            failures=sorted(failures.items()),
        )
    return items, calibration[0]


def memory_values(result: CircuitResult) -> np.ndarray:
    """Return every shot's classical memory as an integer (bit i is clbit i): uint64, or objects past 64 bits."""
    ints = [int(h, 16) for h in result.hex_memory]
    if result.memory_slots <= 64:
        return np.array(ints, dtype=np.uint64)
    return np.array(ints, dtype=object)


def register_bits(values: np.ndarray, offset: int, size: int) -> np.ndarray:
    """Return one register of :func:`memory_values` as BitArray bytes: shape ``(shots, ceil(size / 8))``, big-endian."""
    nbytes = max(1, math.ceil(size / 8))
    if values.dtype == object:
        mask = (1 << size) - 1
        rows = [((int(v) >> offset) & mask).to_bytes(nbytes, "big") for v in values]
        return np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(len(rows), nbytes)
    mask = np.uint64((1 << size) - 1) if size < 64 else np.uint64(2**64 - 1)
    part = (values >> np.uint64(offset)) & mask
    as_bytes = part.astype(">u8").view(np.uint8).reshape(-1, 8)
    return np.ascontiguousarray(as_bytes[:, 8 - nbytes :])
