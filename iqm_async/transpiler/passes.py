"""Single-qubit gate optimisation for IQM's gate set: one ``r`` per single-qubit block, z rotations made virtual.

IQM's native single-qubit gate is PRX, Qiskit's ``r(θ, φ)``. Any single-qubit unitary is
``U(θ, φ, λ) = RZ(φ + λ) · r(θ, π/2 − λ)`` up to a global phase, and a z rotation commutes with ``cz``
and passes through ``r`` by shifting its phase (``r(θ, φ) · RZ(α) = RZ(α) · r(θ, φ − α)``). So each
block of single-qubit gates becomes at most one ``r``, and the z rotations travel to the end of the
circuit, where a measurement makes them irrelevant. A MOVE carries the rotation along with the state.
Z rotations still pending at the end become two ``r`` gates each, unless ``drop_final_rz``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from qiskit.circuit import QuantumCircuit  # type: ignore[import-untyped, unused-ignore]
from qiskit.circuit.library import RGate, UGate  # type: ignore[import-untyped, unused-ignore]
from qiskit.converters import circuit_to_dag, dag_to_circuit  # type: ignore[import-untyped, unused-ignore]
from qiskit.dagcircuit import DAGCircuit  # type: ignore[import-untyped, unused-ignore]
from qiskit.synthesis import OneQubitEulerDecomposer  # type: ignore[import-untyped, unused-ignore]
from qiskit.transpiler.basepasses import TransformationPass  # type: ignore[import-untyped, unused-ignore]

from .gates import MOVE

__all__ = ["IQMOptimizeSingleQubitGates", "optimize_single_qubit_gates"]

_TOLERANCE = 1e-10
_DECOMPOSER = OneQubitEulerDecomposer("U")
# Operations a z rotation passes through unchanged: diagonal, or no action on the state.
_COMMUTES_WITH_RZ = frozenset({"cz", "delay", "id"})
# Operations after which the frame of a qubit can start again from zero.
_RESETS_FRAME = frozenset({"measure", "reset"})


def _is_zero(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isclose(value, 0.0, abs_tol=_TOLERANCE)


class IQMOptimizeSingleQubitGates(TransformationPass):  # type: ignore[misc, unused-ignore]  # qiskit: no types
    """Qiskit pass: merge each block of single-qubit gates into one ``r`` and push z rotations to the end.

    Expects a circuit already in IQM's gates (``r``, ``cz``, ``move``, ``measure``, ``reset``, ``delay``,
    ``barrier``, ``if_else``); other single-qubit gates are merged too. The result implements the same
    unitary up to a global phase, unless ``drop_final_rz`` drops the z rotations left at the end.

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
        self._merge_runs(dag)
        out = dag.copy_empty_like()
        index = {q: i for i, q in enumerate(dag.qubits)}
        frame: list[Any] = [0.0] * dag.num_qubits()
        phase: Any = dag.global_phase
        for node in dag.topological_op_nodes():
            op, name = node.op, node.op.name
            qs = [index[q] for q in node.qargs]
            if name == "u":
                theta, phi, lam = op.params
                q = qs[0]
                if not _is_zero(theta):
                    out.apply_operation_back(RGate(theta, math.pi / 2 - lam - frame[q]), node.qargs, (), check=False)
                frame[q] = frame[q] + phi + lam
                phase = phase + (phi + lam) / 2
            elif name == "r" and len(qs) == 1:
                q = qs[0]
                theta, phi = op.params
                out.apply_operation_back(RGate(theta, phi - frame[q]), node.qargs, (), check=False)
            elif name == "rz" and len(qs) == 1:
                frame[qs[0]] = frame[qs[0]] + op.params[0]
            elif name == MOVE:
                q, r = qs
                frame[q], frame[r] = frame[r], frame[q]
                out.apply_operation_back(op, node.qargs, node.cargs, check=False)
            elif name in _COMMUTES_WITH_RZ or name == "barrier":
                out.apply_operation_back(op, node.qargs, node.cargs, check=False)
            elif name in _RESETS_FRAME:
                out.apply_operation_back(op, node.qargs, node.cargs, check=False)
                for q in qs:
                    frame[q] = 0.0
            elif name == "if_else" and self._only_r(op):
                out.apply_operation_back(self._shift_blocks(op, node.qargs, frame, index), node.qargs, node.cargs)
            else:
                # Anything else sees the real frame: make the pending rotations explicit first.
                for q in qs:
                    self._flush(out, dag.qubits[q], frame, q)
                out.apply_operation_back(op, node.qargs, node.cargs, check=False)
        if not self.drop_final_rz:
            for q, qubit in enumerate(dag.qubits):
                self._flush(out, qubit, frame, q)
        out.global_phase = phase
        return out

    @staticmethod
    def _merge_runs(dag: DAGCircuit) -> None:
        """Replace each run of single-qubit gates with one ``u`` (none for the identity), keeping the global phase."""
        for run in dag.collect_1q_runs():
            if len(run) == 1 and run[0].op.name in ("r", "u", "rz"):
                continue  # already a single rotation (possibly with unbound parameters)
            matrix = np.eye(2, dtype=complex)
            for node in run:
                matrix = node.op.to_matrix() @ matrix
            theta, phi, lam, phase = _DECOMPOSER.angles_and_phase(matrix)
            dag.global_phase += phase
            dag.substitute_node(run[0], UGate(theta, phi, lam), inplace=True)
            for node in run[1:]:
                dag.remove_op_node(node)

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

    @staticmethod
    def _flush(out: DAGCircuit, qubit: Any, frame: list[Any], q: int) -> None:
        """Apply the pending z rotation of qubit ``q`` as two ``r`` gates: RZ(α) = r(π, α/2) · r(−π, 0)."""
        angle = frame[q]
        if _is_zero(angle):
            frame[q] = 0.0
            return
        out.apply_operation_back(RGate(-math.pi, 0.0), (qubit,), (), check=False)
        out.apply_operation_back(RGate(math.pi, angle / 2), (qubit,), (), check=False)
        frame[q] = 0.0


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
