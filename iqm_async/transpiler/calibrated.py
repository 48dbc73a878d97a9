"""Calibration-aware targets: a target's instruction and qubit properties filled in from calibration metrics.

With errors and durations on every locus, Qiskit's layout (VF2 post-layout, Sabre scoring) prefers
the better qubits and couplers. A ``cz`` between two qubits of a star chip goes through the
resonator (MOVE, CZ, MOVE back); its properties are those of that sequence, as IQM's adapter computes
them: duration ``2·move + cz`` and error ``1 - (1 - e_move)² (1 - e_cz)``.
"""

from __future__ import annotations

from collections.abc import Iterable

from qiskit.transpiler import InstructionProperties, QubitProperties

from ..calibration import CalibrationMetrics
from .gates import MOVE
from .target import IQMTarget

__all__ = ["apply_metrics"]

_WIRE_NAME = {"r": "prx", "measure": "measure", "cz": "cz", MOVE: "move"}
"""Qiskit instruction name → the IQM gate whose numbers it carries."""


def _properties(metrics: CalibrationMetrics, gate: str, locus: tuple[str, ...]) -> InstructionProperties | None:
    error = metrics.error(gate, locus)
    duration = metrics.duration(gate, locus)
    if error is None and duration is None:
        return None
    return InstructionProperties(duration=duration, error=error)


def _through_resonator(
    metrics: CalibrationMetrics, a: str, b: str, resonators: Iterable[str]
) -> InstructionProperties | None:
    """Return the best properties of a qubit–qubit CZ routed through a shared resonator, or None."""
    best: InstructionProperties | None = None
    for res in resonators:
        for cz_q, move_q in ((a, b), (b, a)):
            e_cz, e_move = metrics.error("cz", (cz_q, res)), metrics.error("move", (move_q, res))
            d_cz, d_move = metrics.duration("cz", (cz_q, res)), metrics.duration("move", (move_q, res))
            if e_cz is None or e_move is None:
                continue
            error = 1 - (1 - e_move) ** 2 * (1 - e_cz)
            duration = None if d_cz is None or d_move is None else 2 * d_move + d_cz
            if best is None or (best.error is not None and error < best.error):
                best = InstructionProperties(duration=duration, error=error)
    return best


def apply_metrics(target: IQMTarget, metrics: CalibrationMetrics) -> IQMTarget:
    """Fill ``target``'s qubit properties (T1, T2, frequency) and instruction properties (error, duration).

    Loci without numbers keep no properties; the target is changed in place and returned.
    """
    names = target.iqm_idx_to_component
    resonators = tuple(getattr(target.iqm_dqa, "computational_resonators", ()))
    target.qubit_properties = [
        QubitProperties(
            t1=metrics.t1.get(names[i]), t2=metrics.t2.get(names[i]), frequency=metrics.frequencies.get(names[i])
        )
        for i in range(target.num_qubits)
    ]
    for qiskit_name, gate in _WIRE_NAME.items():
        if qiskit_name not in target.operation_names:
            continue
        for qargs in list(target[qiskit_name]):
            if qargs is None:
                continue
            locus = tuple(names[i] for i in qargs)
            props = _properties(metrics, gate, locus)
            if props is None and gate == "cz" and resonators and not set(locus) & set(resonators):
                props = _through_resonator(metrics, locus[0], locus[1], resonators)
            if props is not None:
                target.update_instruction_properties(qiskit_name, qargs, props)
    return target
