"""A batch's input as items: circuits, or parameterised circuits with arrays of parameter values, flattened in order.

Items are numbered like this: every point of input circuit 0 (in C order of its array of points), then
every point of input circuit 1, and so on; an input circuit without parameter values is one item. Without
``parameter_values`` the items are the circuits themselves, read from the sequence one chunk at a time
(a lazy sequence is never copied).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from qiskit.circuit import QuantumCircuit  # type: ignore[import-untyped, unused-ignore]

from ..errors import CircuitValidationError
from ..models import DynamicQuantumArchitecture
from .stage import TranspileSpec

__all__ = ["SweepInput", "resolve_transpile"]


@dataclass
class _Source:
    """One input circuit with values: its points as rows, and where its items start."""

    circuit: QuantumCircuit
    values: np.ndarray  # (points, parameters)
    shape: tuple[int, ...]
    first: int


class SweepInput:
    """The items of a batch (see the module docstring).

    Args:
        circuits: the input circuits (a sequence, or one circuit).
        parameter_values: ``None``, or one entry per input circuit (just the entry when ``circuits`` is one
            circuit): ``None`` for a circuit run once, an array of shape ``(..., parameters)`` whose last axis
            follows ``circuit.parameters``, a mapping of parameters (or their names) to arrays of one shape,
            or anything with ``as_array(parameters)`` such as Qiskit's ``BindingsArray``.

    Raises:
        CircuitValidationError: an entry does not fit its circuit (the message names the circuit's index).
    """

    def __init__(self, circuits: Sequence[QuantumCircuit] | QuantumCircuit, parameter_values: Any = None):
        single = isinstance(circuits, QuantumCircuit)
        self.circuits: Sequence[QuantumCircuit] = [circuits] if single else circuits
        self._sources: list[_Source | None] | None = None
        if parameter_values is None:
            self.total = len(self.circuits)
            return
        entries = [parameter_values] if single else list(parameter_values)
        if len(entries) != len(self.circuits):
            raise CircuitValidationError(
                f"parameter_values has {len(entries)} entries for {len(self.circuits)} circuits; give one entry per "
                "circuit (None for a circuit without parameters)."
            )
        sources: list[_Source | None] = []
        first = 0
        for k, (circuit, entry) in enumerate(zip(self.circuits, entries)):
            _check_circuit(circuit, k)
            if entry is None:
                sources.append(None)
                first += 1
                continue
            values, shape = _points(circuit, entry, k)
            sources.append(_Source(circuit, values, shape, first))
            first += values.shape[0]
        self._sources = sources
        self.total = first
        # Item -> input circuit, for chunking: the start of every input circuit's items.
        starts = []
        n = 0
        for s in sources:
            starts.append(n)
            n += 1 if s is None else s.values.shape[0]
        self._starts = np.asarray(starts, dtype=np.int64)

    @property
    def sweeps(self) -> list[int]:
        """Indices of the input circuits that have parameter values (each is transpiled and converted once)."""
        if self._sources is None:
            return []
        return [k for k, s in enumerate(self._sources) if s is not None]

    def circuit(self, source: int) -> QuantumCircuit:
        """Return input circuit ``source``."""
        return self.circuits[source]

    def first_item(self, source: int) -> int:
        """Return the index of the first item of input circuit ``source``."""
        return source if self._sources is None else int(self._starts[source])

    def locate(self, index: int) -> tuple[int, tuple[int, ...]]:
        """Return ``(input circuit, point)`` of item ``index``; the point indexes the circuit's array of values."""
        if not 0 <= index < self.total:
            raise IndexError(f"item {index} is not in a batch of {self.total}")
        if self._sources is None:
            return index, ()
        source = int(np.searchsorted(self._starts, index, side="right")) - 1
        s = self._sources[source]
        if s is None:
            return source, ()
        return source, tuple(int(i) for i in np.unravel_index(index - s.first, s.shape)) if s.shape else ()

    def runs(self, start: int, stop: int) -> list[tuple[int, int, QuantumCircuit, np.ndarray | None]]:
        """Return items ``start:stop`` as ``(input circuit, first point, circuit, values or None)`` runs."""
        if self._sources is None:
            chunk = self.circuits[start:stop]
            out: list[tuple[int, int, QuantumCircuit, np.ndarray | None]] = []
            for offset, circuit in enumerate(chunk):
                _check_circuit(circuit, start + offset)
                out.append((start + offset, 0, circuit, None))
            return out
        runs: list[tuple[int, int, QuantumCircuit, np.ndarray | None]] = []
        source = int(np.searchsorted(self._starts, start, side="right")) - 1
        i = start
        while i < stop:
            s = self._sources[source]
            if s is None:
                runs.append((source, 0, self.circuits[source], None))
                i += 1
            else:
                lo = i - s.first
                hi = min(stop - s.first, s.values.shape[0])
                runs.append((source, lo, s.circuit, s.values[lo:hi]))
                i += hi - lo
            source += 1
        return runs


def _check_circuit(circuit: object, index: int) -> None:
    if not isinstance(circuit, QuantumCircuit):
        raise CircuitValidationError(f"Item {index} of the batch is a {type(circuit).__name__}, not a QuantumCircuit")


def _points(circuit: QuantumCircuit, entry: Any, k: int) -> tuple[np.ndarray, tuple[int, ...]]:
    """Return the points of one entry as rows ``(points, parameters)`` and the shape of the points."""
    params = list(circuit.parameters)
    try:
        if hasattr(entry, "as_array"):
            array = np.asarray(entry.as_array(params), dtype=float)
        elif isinstance(entry, Mapping):
            by_name = {str(key): value for key, value in entry.items()}
            missing = [p.name for p in params if p.name not in by_name]
            extra = sorted(set(by_name) - {p.name for p in params})
            if missing or extra:
                raise CircuitValidationError(
                    f"parameter_values[{k}] has no values for {missing} and values for unknown parameters {extra}."
                )
            columns = np.broadcast_arrays(*(np.asarray(by_name[p.name], dtype=float) for p in params))
            array = np.stack(columns, axis=-1) if columns else np.zeros((0,))
        else:
            array = np.asarray(entry, dtype=float)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, CircuitValidationError):
            raise
        raise CircuitValidationError(f"parameter_values[{k}] is not an array of real numbers: {exc}") from None
    if array.ndim == 0 or array.shape[-1] != len(params):
        raise CircuitValidationError(
            f"parameter_values[{k}] has shape {array.shape}, but circuit {k} ({circuit.name!r}) has {len(params)} "
            f"parameters: the last axis must have {len(params)} values, in circuit.parameters order "
            f"({', '.join(p.name for p in params[:5])}{', …' if len(params) > 5 else ''})."
        )
    shape = tuple(array.shape[:-1])
    rows = array.reshape(math.prod(shape), len(params))
    if not np.isfinite(rows).all():
        raise CircuitValidationError(f"parameter_values[{k}] holds values that are not finite numbers.")
    return rows, shape


def resolve_transpile(
    transpile: Any,
    dqa: DynamicQuantumArchitecture,
    qubit_names: Sequence[str],
    *,
    optimization_level: int | None,
    seed_transpiler: int | None,
) -> TranspileSpec | None:
    """Turn ``run_batch``'s ``transpile=`` into a picklable :class:`TranspileSpec` (or None: already transpiled).

    ``True`` means the client's own quantum computer (a target built from its calibration, with MOVE
    routing on star chips); a Qiskit ``Target`` is used as it is; a backend contributes its target and
    its scheduling and translation stage plugins, as ``qiskit.transpile(circuit, backend)`` would.
    """
    if transpile is None or transpile is False:
        if optimization_level is not None or seed_transpiler is not None:
            raise CircuitValidationError(
                "optimization_level and seed_transpiler need transpile= (True, a backend or a target)."
            )
        return None
    from qiskit.transpiler import Target  # type: ignore[import-untyped, unused-ignore]

    from ..transpiler import DEFAULT_PLUGIN, IQMTarget, build_target

    scheduling: str | None = None
    translation: str | None = None
    if transpile is True:
        target = build_target(dqa, qubit_names)
        scheduling = DEFAULT_PLUGIN
    elif isinstance(transpile, Target):
        target = transpile
        scheduling = DEFAULT_PLUGIN if isinstance(transpile, IQMTarget) else None
    elif hasattr(transpile, "target"):
        target = transpile.target
        if hasattr(transpile, "get_scheduling_stage_plugin"):
            scheduling = transpile.get_scheduling_stage_plugin()
        if hasattr(transpile, "get_translation_stage_plugin"):
            translation = transpile.get_translation_stage_plugin()
    else:
        raise CircuitValidationError(
            f"transpile= takes True, a backend or a qiskit Target, got {type(transpile).__name__}."
        )
    if optimization_level is not None and optimization_level not in (0, 1, 2, 3):
        raise CircuitValidationError(f"optimization_level must be 0, 1, 2 or 3, got {optimization_level!r}")
    return TranspileSpec(target, optimization_level, seed_transpiler, scheduling, translation)
