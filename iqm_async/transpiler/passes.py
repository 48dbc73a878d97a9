"""Single-qubit gate optimisation for IQM's gate set: one ``r`` per block, z rotations and flips made virtual.

IQM's native single-qubit gate is PRX, Qiskit's ``r(θ, φ)``. Any single-qubit unitary is
``U(θ, φ, λ) = RZ(φ + λ) · r(θ, π/2 − λ)`` up to a global phase, and a z rotation commutes with ``cz``
and passes through ``r`` by shifting its phase (``r(θ, φ) · RZ(α) = RZ(α) · r(θ, φ − α)``). So each
block of single-qubit gates becomes at most one ``r``, and the z rotations travel to the end of the
circuit, where a measurement makes them irrelevant. A MOVE carries the rotation along with the state.

Beyond IQM's pass, a *flip* (a π rotation about an axis in the xy plane) also travels through ``cz``,
leaving a Z on the partner qubit (``CZ · (X ⊗ 1) = (X ⊗ Z) · CZ``), and merges with the next
single-qubit gate. Such flips are common between the ``cz`` gates of Qiskit's two-qubit synthesis;
moving them out of the way leaves longer runs of ``cz`` gates on a wire, which is what lets MOVE
routing park a qubit in a resonator once for many gates. A flip is applied for real before anything
that is not a ``cz`` or a single-qubit gate (a measurement, a barrier, a MOVE …).

Z rotations still owed at the end become two ``r`` gates each, unless ``drop_final_rz``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from qiskit.circuit import QuantumCircuit  # type: ignore[import-untyped, unused-ignore]
from qiskit.circuit.library import RGate  # type: ignore[import-untyped, unused-ignore]
from qiskit.converters import circuit_to_dag, dag_to_circuit  # type: ignore[import-untyped, unused-ignore]
from qiskit.dagcircuit import DAGCircuit  # type: ignore[import-untyped, unused-ignore]
from qiskit.synthesis import OneQubitEulerDecomposer  # type: ignore[import-untyped, unused-ignore]
from qiskit.transpiler.basepasses import TransformationPass  # type: ignore[import-untyped, unused-ignore]

from .gates import MOVE

__all__ = ["IQMOptimizeSingleQubitGates", "optimize_single_qubit_gates"]

_TOLERANCE = 1e-10
_DECOMPOSER = OneQubitEulerDecomposer("U")
# Operations that leave an owed z rotation where it is (no action on the state); cz is handled on its own.
_PASS_Z = frozenset({"delay", "id", "barrier"})
_NOT_GATES = _PASS_Z | {"measure", "reset"}
_I = np.eye(2, dtype=complex)
_Z = np.diag([1.0 + 0j, -1.0 + 0j])


def _rz(angle: float) -> Any:
    return np.diag([np.exp(-0.5j * angle), np.exp(0.5j * angle)])


def _r(theta: float, phi: float) -> Any:
    c, s = math.cos(theta / 2), math.sin(theta / 2)
    return np.array([[c, -1j * np.exp(-1j * phi) * s], [-1j * np.exp(1j * phi) * s, c]])


_R_PI_INV = _r(-math.pi, 0.0)  # the inverse of r(π, 0)


def _z_angle(m: Any) -> float:
    """Return α of a diagonal unitary ``e^{iγ} RZ(α)``."""
    return float(np.angle(m[1, 1]) - np.angle(m[0, 0]))


def _is_zero(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isclose(value, 0.0, abs_tol=_TOLERANCE)


class IQMOptimizeSingleQubitGates(TransformationPass):  # type: ignore[misc, unused-ignore]  # qiskit: no types
    """Qiskit pass: merge each block of single-qubit gates into one ``r`` and push z rotations and flips onward.

    Expects a circuit already in IQM's gates (``r``, ``cz``, ``move``, ``measure``, ``reset``, ``delay``,
    ``barrier``, ``if_else``); other single-qubit gates with a matrix are merged too. The result
    implements the same unitary up to a global phase, unless ``drop_final_rz`` drops the z rotations
    left at the end.

    Args:
        drop_final_rz: drop z rotations left at the end of the circuit even where no measurement
            follows (measurement results are unchanged; the unitary is not).
        ignore_barriers: remove barriers first, so rotations merge across them.
    """

    def __init__(self, drop_final_rz: bool = False, ignore_barriers: bool = False) -> None:
        super().__init__()
        self.drop_final_rz = drop_final_rz
        self.ignore_barriers = ignore_barriers

    def run(self, dag: DAGCircuit) -> DAGCircuit:
        """Return the optimised DAG."""
        if self.ignore_barriers:
            dag.remove_all_ops_named("barrier")
        out = dag.copy_empty_like()
        index = {q: i for i, q in enumerate(dag.qubits)}
        self._out, self._qubits = out, list(dag.qubits)
        # owed[q]: the single-qubit unitary qubit q still owes, to apply after everything emitted so far.
        self._owed: list[Any] = [_I] * dag.num_qubits()
        self._phase: Any = dag.global_phase
        owed = self._owed
        for node in dag.topological_op_nodes():
            op, name = node.op, node.op.name
            qs = [index[q] for q in node.qargs]
            gate = _matrix(op) if len(qs) == 1 and not node.cargs and name not in _NOT_GATES else None
            if gate is not None:
                owed[qs[0]] = gate @ owed[qs[0]]
            elif name == "cz":
                a, b = qs
                flip_a, flip_b = self._settle(a, keep_flip=True), self._settle(b, keep_flip=True)
                if flip_a:
                    owed[b] = _Z @ owed[b]
                if flip_b:
                    owed[a] = owed[a] @ _Z
                out.apply_operation_back(op, node.qargs, node.cargs, check=False)
            elif name in ("r", "rz") and len(qs) == 1 and not node.cargs:  # unbound parameters
                q = qs[0]
                self._settle(q)
                if name == "rz":
                    self._flush(q)
                    self._emit_r(q, -math.pi, 0.0)
                    self._emit_r(q, math.pi, op.params[0] / 2)
                else:
                    theta, phi = op.params
                    self._emit_r(q, theta, phi - _z_angle(owed[q]))
            elif name == MOVE:
                q, r = qs
                self._settle(q)
                self._settle(r)
                owed[q], owed[r] = owed[r], owed[q]  # the z rotation travels with the state
                out.apply_operation_back(op, node.qargs, node.cargs, check=False)
            elif name in _PASS_Z or name == "measure":
                for q in qs:
                    self._settle(q)
                    if name == "measure":
                        owed[q] = _I  # a z rotation before a measurement changes nothing
                out.apply_operation_back(op, node.qargs, node.cargs, check=False)
            elif name == "reset":
                for q in qs:
                    owed[q] = _I
                out.apply_operation_back(op, node.qargs, node.cargs, check=False)
            elif name == "if_else" and self._only_r(op):
                for q in qs:
                    self._settle(q)
                frame = [_z_angle(m) for m in owed]
                out.apply_operation_back(self._shift_blocks(op, node.qargs, frame, index), node.qargs, node.cargs)
            else:
                # Anything else sees the real state: apply what the qubits owe first.
                for q in qs:
                    self._settle(q)
                    self._flush(q)
                out.apply_operation_back(op, node.qargs, node.cargs, check=False)
        for q in range(len(self._qubits)):
            self._settle(q)
            if self.drop_final_rz:
                owed[q] = _I
            else:
                self._flush(q)
        out.global_phase = self._phase
        return out

    def _settle(self, q: int, keep_flip: bool = False) -> bool:
        """Emit what qubit ``q`` owes beyond a z rotation (and a flip, with ``keep_flip``); True if a flip is kept.

        A general unitary becomes one ``r`` followed by an owed z rotation (``U(θ, φ, λ) = RZ(φ + λ) ·
        r(θ, π/2 − λ)`` up to phase); a flip (anti-diagonal) becomes ``r(π, 0)`` followed by one.
        """
        m = self._owed[q]
        if abs(m[0, 1]) < _TOLERANCE and abs(m[1, 0]) < _TOLERANCE:
            return False
        if abs(m[0, 0]) < _TOLERANCE and abs(m[1, 1]) < _TOLERANCE:
            if keep_flip:
                return True
            self._emit_r(q, math.pi, 0.0)
            self._owed[q] = m @ _R_PI_INV
            return False
        theta, phi, lam, phase = _DECOMPOSER.angles_and_phase(m)
        self._emit_r(q, theta, math.pi / 2 - lam)
        self._owed[q] = np.exp(1j * (phase + (phi + lam) / 2)) * _rz(phi + lam)
        return False

    def _emit_r(self, q: int, theta: Any, phi: Any) -> None:
        self._out.apply_operation_back(RGate(theta, phi), (self._qubits[q],), (), check=False)

    def _flush(self, q: int) -> None:
        """Apply the z rotation qubit ``q`` owes as two ``r`` gates: RZ(α) = r(π, α/2) · r(−π, 0)."""
        m = self._owed[q]
        self._owed[q] = _I
        a0, a1 = float(np.angle(m[0, 0])), float(np.angle(m[1, 1]))
        self._phase = self._phase + (a0 + a1) / 2
        angle = a1 - a0
        if _is_zero(math.remainder(angle, 4 * math.pi)):
            return
        self._emit_r(q, -math.pi, 0.0)
        self._emit_r(q, math.pi, angle / 2)

    @staticmethod
    def _only_r(op: Any) -> bool:
        return all(inst.operation.name in ("r", "barrier") for block in op.blocks for inst in block.data)

    @staticmethod
    def _shift_blocks(op: Any, qargs: Any, frame: list[Any], index: dict[Any, int]) -> Any:
        """Return the ``if_else`` with each ``r`` of its blocks expressed in the qubits' current frames."""
        blocks = []
        for block in op.blocks:
            new = block.copy_empty_like()
            for inst in block.data:
                if inst.operation.name == "r":
                    outer = qargs[block.find_bit(inst.qubits[0]).index]
                    theta, phi = inst.operation.params
                    new.append(RGate(theta, phi - frame[index[outer]]), inst.qubits, inst.clbits)
                else:
                    new.append(inst)
            blocks.append(new)
        return op.replace_blocks(blocks)


def _matrix(op: Any) -> Any:
    """Return the matrix of a single-qubit gate, or None when it has unbound parameters or no matrix."""
    if op.is_parameterized():
        return None
    if op.name == "r":
        return _r(float(op.params[0]), float(op.params[1]))
    try:
        return op.to_matrix()
    except Exception:  # no matrix: not a gate we can merge
        return None


def optimize_single_qubit_gates(
    circuit: QuantumCircuit, drop_final_rz: bool = False, ignore_barriers: bool = False
) -> QuantumCircuit:
    """Return ``circuit`` (transpiled to IQM's gates) with single-qubit gates merged and z rotations made virtual.

    ``transpile(circuit, backend)`` and :func:`~iqm_async.transpiler.transpile_to_IQM` already do this
    on star chips; this function is for circuits transpiled some other way. The layout is kept.
    """
    dag = IQMOptimizeSingleQubitGates(drop_final_rz, ignore_barriers).run(circuit_to_dag(circuit))
    new = dag_to_circuit(dag)
    new._layout = circuit.layout
    return new
