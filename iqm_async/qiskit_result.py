"""Wire results to ``qiskit.result.Result``, exactly as IQM's adapter builds them (docs/protocol.md#the-qiskit-result).

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

from qiskit.result import Counts, Result
from qiskit.result.models import MeasLevel

from .models import Circuit, JobParameters, TimelineEntry
from .results import BitArray, CircuitResult, format_circuit

__all__ = ["FormattedResult", "ResultParameters", "build_result", "format_job"]


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
    result = FormattedResult.from_dict(
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
    result.remember_formatted(formatted)
    return result


class _Counts(Counts):  # type: ignore[misc]  # qiskit is untyped
    """``Counts`` built from forms formatted once; ``hex_raw`` and ``int_raw`` (rarely read) are derived on first use.

    Copying the hex counts on every ``get_counts()`` cost as much as copying the bitstrings themselves;
    ``_iqm_hex`` refers to the result's own hex counts, and ``hex_raw`` is a copy of them made when read.
    """

    def __getattr__(self, name: str) -> Any:
        if name == "hex_raw":
            source = self.__dict__.get("_iqm_hex")
            if source is not None:
                value: Any = dict(source)
                self.__dict__["hex_raw"] = value
                return value
        elif name == "int_raw":
            hex_raw = self.hex_raw if "_iqm_hex" in self.__dict__ else self.__dict__.get("hex_raw")
            if hex_raw is not None:
                value = {int(key, 16): count for key, count in hex_raw.items()}
                self.__dict__["int_raw"] = value
                return value
        raise AttributeError(name)


class FormattedResult(Result):  # type: ignore[misc]  # qiskit is untyped
    """A ``Result`` whose ``get_counts()``/``get_memory()`` return the bitstrings formatted once at download.

    Qiskit's ``Result`` re-formats the hex ``data.counts``/``data.memory`` into spaced bitstrings on
    every call (the hex stays there for ``BackendSamplerV2``). This subclass keeps the binary forms
    formatted with the results beside them and answers from those, so the calls cost a copy. If an
    experiment's ``data.counts``/``data.memory`` is replaced after the fact, it is formatted from the
    data again, exactly as Qiskit does.
    """

    def to_dict(self) -> dict[str, Any]:
        """Return Qiskit's dict form, JSON-native: ids as strings, dataclasses as dicts, times as ISO-8601 text."""
        from .result_files import json_native

        native: dict[str, Any] = json_native(super().to_dict())
        return native

    def remember_formatted(self, formatted: Sequence[CircuitResult]) -> None:
        """Keep each experiment's formatted forms, keyed by the experiment object they belong to."""
        forms = {id(exp): (exp, fc) for exp, fc in zip(self.results or [], formatted)}
        self.__dict__["_iqm_forms"] = forms

    def _form(self, key: Any) -> tuple[Any, CircuitResult | None]:
        exp = self._get_experiment(key)
        forms = self.__dict__.get("_iqm_forms")
        entry = None if forms is None else forms.get(id(exp))
        return exp, (entry[1] if entry is not None and entry[0] is exp else None)

    def get_counts(self, experiment: Any = None) -> Any:
        """Return counts as Qiskit's ``Result.get_counts`` does, from the forms formatted at download."""
        keys: Sequence[Any] = range(len(self.results)) if experiment is None else [experiment]
        out: list[Any] = []
        for key in keys:
            exp, fc = self._form(key)
            data = getattr(exp, "data", None)
            if fc is None or getattr(data, "counts", None) is not fc.hex_counts:
                out.append(super().get_counts(key))
                continue
            counts = _Counts.__new__(_Counts)
            dict.update(counts, fc.counts)
            counts._iqm_hex = fc.hex_counts  # hex_raw is copied from it when read
            counts.creg_sizes = fc.creg_sizes
            counts.memory_slots = fc.memory_slots
            counts.time_taken = None
            out.append(counts)
        return out[0] if len(out) == 1 else out

    def get_memory(self, experiment: Any = None) -> Any:
        """Return per-shot bitstrings as Qiskit's ``Result.get_memory`` does, from the forms formatted at download."""
        exp, fc = self._form(experiment)
        data = getattr(exp, "data", None)
        if (
            fc is None
            or getattr(data, "memory", None) is not fc.hex_memory
            or getattr(exp, "meas_level", MeasLevel.CLASSIFIED) != MeasLevel.CLASSIFIED
        ):
            return super().get_memory(experiment)
        return list(fc.memory)
