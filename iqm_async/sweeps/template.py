"""A parameterised circuit converted to the wire format once, bound per point by changing only its angles.

Converting a transpiled circuit (:func:`iqm_async.qiskit_convert.circuit_to_wire`) and encoding it as
JSON cost far more than binding its parameters. A :class:`WireTemplate` does both once, with every
parameterised angle left as a *slot*; binding a point then builds only the instructions whose angles
change (the others are shared between points) and the circuit's JSON from pre-encoded fragments with
the angles written in between. The result equals ``circuit_to_wire(circuit.assign_parameters(values))``
and its canonical JSON, which the tests check.

Slot values are computed for a whole block of points at once: a slot that is a parameter is a column
of the block; one that is affine in the parameters (what transpilation produces from ``ry(θ)``,
``rx(-θ)``, ``rz(θ + π/2)``, …) is ``a · columns + b``; anything else is evaluated point by point.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from qiskit.circuit import ParameterExpression, QuantumCircuit  # type: ignore[import-untyped, unused-ignore]

from ..errors import CircuitValidationError
from ..models import Circuit, Instruction
from ..qiskit_convert import _Converter, _measurement_keys, _metadata, circuit_to_wire
from ..validation import duplicates

__all__ = ["WireTemplate", "canonical_circuit_json"]

_MARK = "\x00slot{}\x00"
"""Placeholder written into a slot's place before encoding; control characters never occur in wire JSON."""


def canonical_circuit_json(circuit: Circuit) -> bytes:
    """Return a wire circuit's canonical JSON (sorted keys, no spaces): the batch journal's hash input."""
    return json.dumps(
        circuit.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


class _Slot(float):
    """A parameterised angle while the template is converted: a float (so conversion goes on) with its expression."""

    expression: Any

    def __new__(cls, expression: Any) -> _Slot:
        slot = super().__new__(cls, 0.0)
        slot.expression = expression
        return slot


class _TemplateConverter(_Converter):
    """The wire converter, except that an unbound angle becomes a :class:`_Slot` instead of an error."""

    def number(self, value: Any, op_name: str) -> float:
        if isinstance(value, ParameterExpression) and value.parameters:
            if op_name == "delay":
                raise CircuitValidationError(
                    f"A delay in the circuit '{self.name}' has a parameterised duration; sweeps bind gate angles only. "
                    "Bind the duration with assign_parameters() first."
                )
            return _Slot(value)
        return super().number(value, op_name)


@dataclass(frozen=True)
class _SlotPlan:
    """How to compute one slot's values for a block of points."""

    position: int  # instruction index
    arg: str  # "angle" or "phase"
    column: int | None  # a plain parameter: this column of the block
    coefficients: tuple[tuple[int, float], ...] | None  # affine: sum of coefficient * column ...
    offset: float  # ... plus this
    expression: Any  # otherwise: evaluated point by point


class WireTemplate:
    """One parameterised circuit in wire form, ready to be bound to many points (see the module docstring).

    Args:
        circuit: a circuit in native gates whose angles may depend on its parameters.
        qubit_names: component name of each Qiskit qubit index.

    Raises:
        CircuitValidationError: the circuit cannot be converted (as for ``circuit_to_wire``).
    """

    def __init__(self, circuit: QuantumCircuit, qubit_names: Sequence[str]):
        self.name: str = circuit.name
        self.parameters: tuple[Any, ...] = tuple(circuit.parameters)
        names = tuple(qubit_names)
        if circuit.num_qubits > len(names):
            circuit_to_wire(circuit, names)  # raises the usual message
        qmap = {q: names[i] for i, q in enumerate(circuit.qubits)}
        if len(set(qmap.values())) != len(qmap):
            raise CircuitValidationError(
                f"Circuit {self.name!r}: the qubit names {duplicates(list(qmap.values()))} are given to more than one "
                "qubit; every qubit of a circuit needs its own physical qubit."
            )
        converter = _TemplateConverter(self.name, _measurement_keys(circuit))
        converter.convert(circuit, qmap)
        self.metadata = _metadata(circuit)
        self.instructions: tuple[Instruction, ...] = tuple(converter.out)
        index = {p: i for i, p in enumerate(self.parameters)}
        plans: list[_SlotPlan] = []
        marked: list[dict[str, Any]] = []
        for pos, inst in enumerate(self.instructions):
            encoded = inst.to_json()
            for arg in sorted(inst.args):  # the canonical encoding's order
                value = inst.args[arg]
                if isinstance(value, _Slot):
                    encoded["args"][arg] = _MARK.format(len(plans))
                    plans.append(_plan(pos, arg, value.expression, index))
            marked.append(encoded)
        self.slots: tuple[_SlotPlan, ...] = tuple(plans)
        body = {"name": self.name, "instructions": marked, "metadata": self.metadata}
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        pieces: list[str] = []
        rest = text
        for k in range(len(plans)):
            head, rest = rest.split(json.dumps(_MARK.format(k)), 1)
            pieces.append(head)
        pieces.append(rest)
        self._fragments: tuple[bytes, ...] = tuple(p.encode("utf-8") for p in pieces)

    @property
    def num_parameters(self) -> int:
        """Number of parameters a point gives values for (in ``circuit.parameters`` order)."""
        return len(self.parameters)

    def slot_values(self, block: np.ndarray) -> np.ndarray:
        """Return the angle of every slot for every point: shape ``(points, slots)``.

        Raises:
            CircuitValidationError: a value is not a finite real number.
        """
        n = block.shape[0]
        out = np.empty((n, len(self.slots)), dtype=float)
        for k, slot in enumerate(self.slots):
            if slot.column is not None:
                out[:, k] = block[:, slot.column]
            elif slot.coefficients is not None:
                col = np.full(n, slot.offset)
                for c, a in slot.coefficients:
                    col += a * block[:, c]
                out[:, k] = col
            else:
                for i in range(n):
                    values = {p: float(block[i, j]) for j, p in enumerate(self.parameters)}
                    out[i, k] = complex(slot.expression.bind_all(values)).real
        bad = ~np.isfinite(out)
        if bad.any():
            point = int(np.argwhere(bad)[0][0])
            raise CircuitValidationError(
                f"Point {point} of the circuit {self.name!r} gives a gate angle that is not a finite number."
            )
        return out

    def bind(self, angles: np.ndarray) -> tuple[Circuit, bytes]:
        """Return the circuit bound to one row of :meth:`slot_values`, and its canonical JSON."""
        instructions = list(self.instructions)
        values = angles.tolist()
        for slot, value in zip(self.slots, values):
            old = instructions[slot.position]
            args = dict(old.args)
            args[slot.arg] = value
            instructions[slot.position] = Instruction(old.name, old.locus, args, old.implementation)
        # Another slot of the same instruction reads the updated one; both are set once the loop ends.
        fragments = self._fragments
        parts = [fragments[0]]
        for k, value in enumerate(values):
            parts.append(repr(value).encode("ascii"))
            parts.append(fragments[k + 1])
        return Circuit(self.name, tuple(instructions), self.metadata), b"".join(parts)


def _plan(position: int, arg: str, expression: Any, index: dict[Any, int]) -> _SlotPlan:
    """Decide how a slot is computed: a column, an affine combination, or point by point."""
    params = list(expression.parameters)
    if len(params) == 1 and expression.is_symbol():
        return _SlotPlan(position, arg, index[params[0]], None, 0.0, None)
    coefficients: list[tuple[int, float]] = []
    for p in params:
        gradient = expression.gradient(p)
        if isinstance(gradient, ParameterExpression):
            if gradient.parameters:
                return _SlotPlan(position, arg, None, None, 0.0, expression)
            gradient = gradient.numeric()
        value = complex(gradient)
        if value.imag or not math.isfinite(value.real):
            return _SlotPlan(position, arg, None, None, 0.0, expression)
        coefficients.append((index[p], value.real))
    offset = complex(expression.bind_all(dict.fromkeys(params, 0.0))).real
    return _SlotPlan(position, arg, None, tuple(coefficients), offset, None)
