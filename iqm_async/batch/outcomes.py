"""What a batch hands back: one ``Outcome`` per circuit, progress counters, and ordered results."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import BatchError
from ..results import CircuitResult

if TYPE_CHECKING:
    from qiskit.result import Result

    from ..job import AsyncJob

__all__ = ["BatchCounts", "Outcome", "assemble_results", "describe_failures", "single_experiment"]


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
