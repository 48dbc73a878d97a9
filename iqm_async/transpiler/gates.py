"""IQM's MOVE gate and ``IQMCircuit``, the circuit with a ``.move(qubit, resonator)`` shortcut."""

from __future__ import annotations

from qiskit.circuit import Gate, QuantumCircuit  # type: ignore[import-untyped, unused-ignore]

__all__ = ["MOVE", "IQMCircuit", "MoveGate"]

MOVE = "move"
"""Name of the MOVE operation, in Qiskit and on the wire."""


class MoveGate(Gate):  # type: ignore[misc, unused-ignore]  # qiskit ships no type information
    """IQM's MOVE gate: moves a qubit's state into a computational resonator and back (star chips).

    Always applied as ``[qubit, resonator]``, whichever of the two holds the state. Two MOVEs on the
    same pair undo each other exactly; a single one is a SWAP up to a phase that is only defined once
    the state has moved back. It has no definition on purpose, so the transpiler never decomposes it
    into other gates.
    """

    def __init__(self, label: str | None = None) -> None:
        super().__init__(MOVE, 2, [], label=label)


class IQMCircuit(QuantumCircuit):  # type: ignore[misc, unused-ignore]  # qiskit ships no type information
    """A ``QuantumCircuit`` with IQM's ``move`` shortcut, for circuits that place their MOVEs themselves."""

    def move(self, qubit: int, resonator: int) -> None:
        """Append a MOVE between ``qubit`` and ``resonator`` (qubit first, resonator second, always)."""
        self.append(MoveGate(), [qubit, resonator])
