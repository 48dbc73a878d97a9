"""Aer noise models from calibration numbers: thermal relaxation, fitted depolarizing error, readout error.

:class:`NoiseSpec` holds the per-component numbers a noise model is built from (IQM's error-profile
quantities: T1, T2, a depolarizing parameter per gate and locus, gate durations, readout errors).
:func:`noise_spec` fits the depolarizing parameters to a calibration set's gate fidelities: the
relaxation during the gate already costs some fidelity, and the depolarizing channel supplies the
rest, so that relaxation followed by depolarizing has exactly the calibrated average gate fidelity.
:func:`build_noise_model` turns a spec into a ``qiskit_aer`` noise model over a list of components
(Qiskit qubit ``i`` is ``components[i]``). The embedded server and the facade's fake backends share it,
so both simulate the same channels. Needs qiskit-aer (imported only when a model is built).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from qiskit_aer.noise import NoiseModel, QuantumError

from .calibration import CalibrationMetrics

__all__ = [
    "AER_GATES",
    "NoiseSpec",
    "average_fidelity",
    "build_noise_model",
    "depolarizing_for_fidelity",
    "noise_spec",
]

Locus = tuple[str, ...]

AER_GATES: Mapping[str, str] = {"prx": "r", "cz": "cz", "move": "swap"}
"""The Aer instruction each IQM gate is simulated with (MOVE swaps qubit and resonator states)."""


@dataclass(frozen=True)
class NoiseSpec:
    """Per-component noise numbers; times in seconds."""

    t1: Mapping[str, float] = field(default_factory=dict)
    t2: Mapping[str, float] = field(default_factory=dict)
    depolarizing: Mapping[str, Mapping[Locus, float]] = field(default_factory=dict)
    """Depolarizing parameter λ of each gate on each locus (the channel ``(1-λ)ρ + λ·I/d``)."""
    durations: Mapping[str, Mapping[Locus, float]] = field(default_factory=dict)
    readout_errors: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    """``(P(read 1 | was 0), P(read 0 | was 1))`` per qubit."""

    def readout_error(self, qubit: str) -> tuple[float, float]:
        """Return the qubit's readout errors, ``(0.0, 0.0)`` when unknown."""
        return self.readout_errors.get(qubit, (0.0, 0.0))


def _relaxation(spec_t1: float | None, spec_t2: float | None, duration: float) -> QuantumError | None:
    if spec_t1 is None or spec_t2 is None or duration <= 0:
        return None
    # Aer requires T2 ≤ 2·T1.
    from qiskit_aer.noise import thermal_relaxation_error

    return thermal_relaxation_error(spec_t1, min(spec_t2, 2 * spec_t1), duration)


def _relaxation_on(t1: Mapping[str, float], t2: Mapping[str, float], locus: Locus, duration: float) -> QuantumError:
    """Relaxation of every component of ``locus`` during ``duration`` (identity where T1/T2 are unknown)."""
    from qiskit_aer.noise import depolarizing_error

    error: QuantumError | None = None
    for comp in locus:
        one = _relaxation(t1.get(comp), t2.get(comp), duration) or depolarizing_error(0.0, 1)
        # QuantumError.tensor puts its argument on the lower qubit index; expand keeps locus order.
        error = one if error is None else error.expand(one)
    assert error is not None
    return error


def _process_fidelity(error: QuantumError) -> float:
    from qiskit.quantum_info import Choi, process_fidelity

    return float(process_fidelity(Choi(error.to_quantumchannel())))


def depolarizing_for_fidelity(
    fidelity: float, locus: Locus, duration: float, t1: Mapping[str, float], t2: Mapping[str, float]
) -> float:
    """Return the depolarizing λ that, after the relaxation during the gate, gives average gate ``fidelity``.

    With ``d = 2**n``, average fidelity ``F`` and process fidelity ``P`` relate as ``F = (d·P + 1)/(d + 1)``,
    and a depolarizing channel after a channel of process fidelity ``P_r`` gives ``(1-λ)·P_r + λ/d²``.
    """
    d = 1 << len(locus)
    target = ((d + 1) * fidelity - 1) / d
    p_relax = _relaxation_fidelity(
        tuple(locus), duration, tuple(t1.get(c) for c in locus), tuple(t2.get(c) for c in locus)
    )
    if p_relax <= target:
        return 0.0  # relaxation alone already costs the whole calibrated error
    lam = (p_relax - target) / (p_relax - 1 / d**2)
    return float(min(lam, d**2 / (d**2 - 1)))


def _relaxation_fidelity(
    locus: Locus, duration: float, t1s: tuple[float | None, ...], t2s: tuple[float | None, ...]
) -> float:
    """Process fidelity of the relaxation of ``locus`` during ``duration``: a product over its components.

    One component relaxing to its ground state has process fidelity ``(1 + e^(-t/T1) + 2·e^(-t/T2)) / 4``
    (the Choi matrix's overlap with the identity); a component without T1/T2 does not relax.
    """
    fidelity = 1.0
    for t1, t2 in zip(t1s, t2s, strict=True):
        if t1 is None or t2 is None or duration <= 0:
            continue
        fidelity *= (1 + math.exp(-duration / t1) + 2 * math.exp(-duration / min(t2, 2 * t1))) / 4
    return fidelity


def noise_spec(metrics: CalibrationMetrics) -> NoiseSpec:
    """Fit a :class:`NoiseSpec` to a calibration set: depolarizing λ per gate from its fidelity and duration."""
    depolarizing: dict[str, dict[Locus, float]] = {}
    for gate in AER_GATES:
        for locus, fid in metrics.fidelities.get(gate, {}).items():
            duration = metrics.duration(gate, locus) or 0.0
            lam = depolarizing_for_fidelity(fid, locus, duration, metrics.t1, metrics.t2)
            depolarizing.setdefault(gate, {})[locus] = lam
    durations = {gate: dict(metrics.durations.get(gate, {})) for gate in AER_GATES}
    return NoiseSpec(dict(metrics.t1), dict(metrics.t2), depolarizing, durations, dict(metrics.readout_errors))


def _lookup(table: Mapping[str, Mapping[Locus, float]], gate: str, locus: Locus) -> float | None:
    by_locus = table.get(gate, {})
    value = by_locus.get(locus)
    if value is None and len(locus) == 2:
        value = by_locus.get((locus[1], locus[0]))
    return value


def _gate_error(spec: NoiseSpec, gate: str, locus: Locus) -> QuantumError | None:
    lam = _lookup(spec.depolarizing, gate, locus)
    duration = _lookup(spec.durations, gate, locus) or 0.0
    if lam is None and duration == 0:
        return None
    error = _relaxation_on(spec.t1, spec.t2, locus, duration)
    if lam:
        from qiskit_aer.noise import depolarizing_error

        error = error.compose(depolarizing_error(lam, len(locus)))
    return error


def average_fidelity(spec: NoiseSpec, gate: str, locus: Locus) -> float | None:
    """Return the average gate fidelity of ``gate`` on ``locus`` under ``spec`` (None when it has no error).

    Relaxation of process fidelity ``P_r`` followed by depolarizing ``λ`` has ``(1-λ)·P_r + λ/d²``.
    """
    locus = tuple(locus)
    lam = _lookup(spec.depolarizing, gate, locus)
    duration = _lookup(spec.durations, gate, locus) or 0.0
    if lam is None and duration == 0:
        return None
    d = 1 << len(locus)
    p_relax = _relaxation_fidelity(
        locus, duration, tuple(spec.t1.get(c) for c in locus), tuple(spec.t2.get(c) for c in locus)
    )
    process = (1 - (lam or 0.0)) * p_relax + (lam or 0.0) / d**2
    return (d * process + 1) / (d + 1)


def build_noise_model(
    spec: NoiseSpec, components: Sequence[str], gate_loci: Mapping[str, Sequence[Locus]]
) -> NoiseModel:
    """Build the Aer noise model of ``components`` (Qiskit qubit ``i`` = ``components[i]``).

    Args:
        spec: the noise numbers.
        components: component names in Qiskit qubit order.
        gate_loci: the loci of each IQM gate to give errors (``prx``, ``cz``, ``move``); loci that touch a
            component outside ``components`` are skipped. Two-component gates get their error in both orders.
    """
    from qiskit_aer.noise import NoiseModel, ReadoutError

    index = {c: i for i, c in enumerate(components)}
    model = NoiseModel(basis_gates=["r", "cz", "swap", "id"])
    for gate, loci in gate_loci.items():
        aer_name = AER_GATES.get(gate)
        if aer_name is None:
            continue
        for locus in loci:
            if not all(c in index for c in locus):
                continue
            for ordered in {tuple(locus), tuple(reversed(locus))}:
                error = _gate_error(spec, gate, ordered)
                if error is not None:
                    model.add_quantum_error(error, aer_name, [index[c] for c in ordered])
    for comp in components:
        e01, e10 = spec.readout_error(comp)
        if e01 or e10:
            model.add_readout_error(ReadoutError(np.array([[1 - e01, e01], [e10, 1 - e10]])), [index[comp]])
    return model
