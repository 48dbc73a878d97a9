"""``IQMErrorProfile``: the numbers of one QPU specimen in IQM's units (ns), and their conversions to ours.

IQM's profile gives each gate a depolarizing parameter that, after thermal relaxation during the
gate, yields the benchmarked average gate fidelity; :meth:`IQMErrorProfile.from_metrics` fits those
parameters to a calibration set's fidelities, and :meth:`IQMErrorProfile.to_metrics` gives the
fidelities back (for a calibration-aware target).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from iqm_async.calibration import CalibrationMetrics
from iqm_async.noise import NoiseSpec, average_fidelity, noise_spec

__all__ = ["IQMErrorProfile"]

NS = 1e-9
Pair = tuple[str, str]


@dataclass
class IQMErrorProfile:
    """Characteristics of one QPU specimen, as IQM's adapter defines them (times in ns).

    Args:
        t1s: T1 of each component, in ns.
        t2s: T2 of each component, in ns.
        single_qubit_gate_depolarizing_error_parameters: ``{gate: {qubit: λ}}``, e.g. ``{"prx": {"QB1": 0.0005}}``.
        two_qubit_gate_depolarizing_error_parameters: ``{gate: {(a, b): λ}}`` for ``cz`` (and ``move`` on stars).
        single_qubit_gate_durations: ``{gate: ns}``.
        two_qubit_gate_durations: ``{gate: ns}``.
        readout_errors: ``{qubit: {"0": P(read 1 | 0), "1": P(read 0 | 1)}}``.
        name: identifier of the specimen.
    """

    t1s: dict[str, float]
    t2s: dict[str, float]
    single_qubit_gate_depolarizing_error_parameters: dict[str, dict[str, float]]
    two_qubit_gate_depolarizing_error_parameters: dict[str, dict[Pair, float]]
    single_qubit_gate_durations: dict[str, float]
    two_qubit_gate_durations: dict[str, float]
    readout_errors: dict[str, dict[str, float]]
    name: str | None = None

    def thermal_relaxation(self, component: str, duration: float) -> Any:
        """Return Aer's one-qubit relaxation channel of ``component`` over ``duration`` ns."""
        from qiskit_aer.noise import thermal_relaxation_error

        t1, t2 = self.t1s[component], self.t2s[component]
        return thermal_relaxation_error(t1, min(t2, 2 * t1), duration)

    def to_noise_spec(self) -> NoiseSpec:
        """Return the profile in seconds, per locus, as the shared noise-model builder takes it."""
        depolarizing: dict[str, dict[tuple[str, ...], float]] = {}
        durations: dict[str, dict[tuple[str, ...], float]] = {}
        for gate, by_qubit in self.single_qubit_gate_depolarizing_error_parameters.items():
            depolarizing[gate] = {(q,): float(lam) for q, lam in by_qubit.items()}
            durations[gate] = dict.fromkeys(depolarizing[gate], self.single_qubit_gate_durations.get(gate, 0.0) * NS)
        for gate, by_pair in self.two_qubit_gate_depolarizing_error_parameters.items():
            depolarizing[gate] = {tuple(pair): float(lam) for pair, lam in by_pair.items()}
            durations[gate] = dict.fromkeys(depolarizing[gate], self.two_qubit_gate_durations.get(gate, 0.0) * NS)
        return NoiseSpec(
            t1={c: v * NS for c, v in self.t1s.items()},
            t2={c: v * NS for c, v in self.t2s.items()},
            depolarizing=depolarizing,
            durations=durations,
            readout_errors={
                q: (float(e.get("0", 0.0)), float(e.get("1", 0.0))) for q, e in self.readout_errors.items()
            },
        )

    def to_metrics(self, calibration_set_id: str = "") -> CalibrationMetrics:
        """Return the profile as calibration numbers: the fidelity each gate has under relaxation plus depolarizing."""
        spec = self.to_noise_spec()
        fidelities: dict[str, dict[tuple[str, ...], float]] = {}
        for gate, by_locus in spec.depolarizing.items():
            for locus in by_locus:
                fid = average_fidelity(spec, gate, locus)
                if fid is not None:
                    fidelities.setdefault(gate, {})[locus] = fid
        fidelities["measure"] = {(q,): 1 - (e0 + e1) / 2 for q, (e0, e1) in spec.readout_errors.items()}
        return CalibrationMetrics(
            calibration_set_id=calibration_set_id,
            t1=dict(spec.t1),
            t2=dict(spec.t2),
            fidelities=fidelities,
            durations={gate: dict(by) for gate, by in spec.durations.items()},
            readout_errors=dict(spec.readout_errors),
        )

    @classmethod
    def from_metrics(cls, metrics: CalibrationMetrics, name: str | None = None) -> IQMErrorProfile:
        """Fit a profile to a calibration set (one duration per gate: the median over its loci)."""
        spec = noise_spec(metrics)
        single: dict[str, dict[str, float]] = {}
        double: dict[str, dict[Pair, float]] = {}
        single_d: dict[str, float] = {}
        double_d: dict[str, float] = {}
        for gate, by_locus in spec.depolarizing.items():
            durations = [d for d in spec.durations.get(gate, {}).values() if d]
            median_ns = statistics.median(durations) / NS if durations else 0.0
            if all(len(locus) == 1 for locus in by_locus):
                single[gate] = {locus[0]: lam for locus, lam in by_locus.items()}
                single_d[gate] = median_ns
            else:
                double[gate] = {(locus[0], locus[1]): lam for locus, lam in by_locus.items()}
                double_d[gate] = median_ns
        return cls(
            t1s={c: v / NS for c, v in metrics.t1.items()},
            t2s={c: v / NS for c, v in metrics.t2.items()},
            single_qubit_gate_depolarizing_error_parameters=single,
            two_qubit_gate_depolarizing_error_parameters=double,
            single_qubit_gate_durations=single_d,
            two_qubit_gate_durations=double_d,
            readout_errors={q: {"0": e0, "1": e1} for q, (e0, e1) in metrics.readout_errors.items()},
            name=name,
        )


def _loci(profile: IQMErrorProfile) -> Mapping[str, list[tuple[str, ...]]]:
    """Return the loci of every gate the profile gives an error for."""
    out: dict[str, list[tuple[str, ...]]] = {}
    for gate, by_qubit in profile.single_qubit_gate_depolarizing_error_parameters.items():
        out[gate] = [(q,) for q in by_qubit]
    for gate, by_pair in profile.two_qubit_gate_depolarizing_error_parameters.items():
        out[gate] = [tuple(p) for p in by_pair]
    return out
