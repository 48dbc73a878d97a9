"""Wire results to ``qiskit.result.Result``, exactly as IQM's adapter builds them (protocol §7.4).

The one deliberate difference: ``data.memory``/``data.counts`` are stored as hex with
``creg_sizes``/``memory_slots`` in the header, as Aer stores them, so ``get_memory()`` and
``get_counts()`` show IQM's spaced bitstrings *and* Qiskit's ``BackendSamplerV2`` (which parses
``data.memory`` as hex) reads correct samples.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from qiskit.result import Result

from .models import Circuit, JobParameters, TimelineEntry
from .results import BitArray, CircuitResult, format_circuit

__all__ = ["ResultParameters", "build_result", "format_job"]


@dataclass(frozen=True)
class ResultParameters:
    """The job parameters as ``result.parameters`` shows them (``calibration_set_id`` as a UUID)."""

    shots: int
    calibration_set_id: uuid.UUID | None
    qubit_mapping: dict[str, str] | None
    max_circuit_duration_over_t2: float | None
    heralding_mode: str
    move_gate_validation: str
    move_gate_frame_tracking: str
    active_reset_cycles: int | None
    dd_mode: str
    dd_strategy: dict[str, Any] | None

    @classmethod
    def from_parameters(cls, params: JobParameters) -> ResultParameters:
        """Build the view from wire parameters."""
        return cls(**params.to_result_json())


def format_job(
    measurements: Sequence[Mapping[str, BitArray]],
    parameters: JobParameters,
    registers: Sequence[Sequence[tuple[str, int]] | None] | None = None,
) -> list[CircuitResult]:
    """Format every circuit of a job; heralding ``zeros`` accepts fewer shots than requested."""
    exact = parameters.heralding_mode == "none"
    return [
        format_circuit(
            m,
            parameters.shots,
            expect_exact_shots=exact,
            registers=None if registers is None else registers[i],
        )
        for i, m in enumerate(measurements)
    ]


def build_result(
    *,
    backend_name: str,
    job_id: str,
    circuits: Sequence[Circuit],
    parameters: JobParameters,
    formatted: Sequence[CircuitResult],
    calibration_set_id: str | None,
    timeline: Sequence[TimelineEntry],
    success: bool = True,
) -> Result:
    """Assemble the ``Result`` of a job from its formatted circuits (empty ``formatted`` when not successful)."""
    calset = None if calibration_set_id is None else uuid.UUID(calibration_set_id)
    results = []
    for i, fc in enumerate(formatted):
        circuit = circuits[i] if i < len(circuits) else None
        results.append(
            {
                "shots": fc.shots,
                "success": True,
                "data": {
                    "memory": fc.hex_memory,
                    "counts": fc.hex_counts,
                    "metadata": dict(circuit.metadata) if circuit is not None and circuit.metadata else {},
                },
                "header": {
                    "name": circuit.name if circuit is not None else f"circuit_{i}",
                    "creg_sizes": fc.creg_sizes,
                    "memory_slots": fc.memory_slots,
                },
                "calibration_set_id": calset,
            }
        )
    return Result.from_dict(
        {
            "backend_name": backend_name,
            "backend_version": "",
            "qobj_id": "",
            "job_id": job_id,
            "success": success,
            "date": date.today().isoformat(),
            "results": results,
            "circuits": list(circuits),
            "parameters": ResultParameters.from_parameters(parameters),
            "timeline": list(timeline),
        }
    )
