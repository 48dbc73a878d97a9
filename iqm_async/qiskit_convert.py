"""Conversion of Qiskit circuits to IQM wire circuits (docs/protocol.md to docs/protocol.md).

This module is the client's only door to qiskit for circuits. It turns already transpiled
``QuantumCircuit`` objects into :class:`~iqm_async.models.Circuit` values, names qubits from the
dynamic quantum architecture, and reports the classical register layout that results are built
from. Everything it refuses raises :class:`~iqm_async.errors.CircuitValidationError` (a
``ValueError``) before anything is sent.

Usage::

    names = qubit_names(dqa)
    wire = circuits_to_wire(transpiled, names)
"""

from __future__ import annotations

import dataclasses
import gc
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

# qiskit ships no type information; "unused-ignore" keeps this clean once pyproject ignores it centrally.
from qiskit.circuit import (  # type: ignore[import-untyped, unused-ignore]
    ClassicalRegister,
    Clbit,
    ParameterExpression,
    QuantumCircuit,
    Qubit,
)
from qiskit.circuit.classical import expr  # type: ignore[import-untyped, unused-ignore]

from .errors import CircuitValidationError
from .models import Circuit, CircuitJobDefinition, DynamicQuantumArchitecture, Instruction
from .validation import check_qubit_names, duplicates

__all__ = [
    "check_qubit_names",
    "circuit_to_wire",
    "circuits_to_wire",
    "qubit_names",
    "registers_of",
    "split_register_layouts",
    "with_register_layouts",
]

REGISTERS_METADATA_KEY = "_iqm_async_cregs"
"""Circuit metadata key that carries the circuit's register layout when some register is never measured."""

_HALF_PI = 0.5 * math.pi
# Single-qubit rotations that are all PRX on the wire (docs/protocol.md), and so may also be classically controlled.
_PRX_GATES = frozenset({"r", "x", "rx", "y", "ry"})
# Delay units in seconds; "dt" is taken to be 1 ns, as IQM's adapter does.
_DELAY_UNITS: dict[str, float] = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9, "ps": 1e-12, "dt": 1e-9}
# Metadata nesting deeper than this is taken to be a cycle.
_MAX_METADATA_DEPTH = 100


def qubit_names(dqa: DynamicQuantumArchitecture) -> list[str]:
    """Return the component name of each Qiskit qubit index for circuits run on ``dqa`` (docs/protocol.md#qubit-names).

    Only qubits with both ``prx`` and ``measure`` loci are kept, in DQA order, because Qiskit's
    transpiler assumes every indexed qubit has both; computational resonators follow, so they get
    the highest indices.
    """

    def usable(gate: str) -> set[str]:
        info = dqa.gates.get(gate)
        return set() if info is None else {c for locus in info.loci for c in locus}

    keep = usable("prx") & usable("measure")
    return [q for q in dqa.qubits if q in keep] + list(dqa.computational_resonators)


def registers_of(circuit: QuantumCircuit) -> list[tuple[str, int]]:
    """Return each classical register of ``circuit`` as ``(name, size)``, in ``circuit.cregs`` order.

    This is the layout results are formatted with (docs/protocol.md#the-qiskit-result ``creg_sizes``).
    """
    return [(creg.name, creg.size) for creg in circuit.cregs]


def circuits_to_wire(
    circuits: QuantumCircuit | Sequence[QuantumCircuit], qubit_names: Sequence[str]
) -> tuple[Circuit, ...]:
    """Convert one circuit or a batch to wire circuits, in order (see :func:`circuit_to_wire`).

    Raises:
        CircuitValidationError: an item is not a ``QuantumCircuit`` or cannot be converted.
    """
    if isinstance(circuits, QuantumCircuit):
        circuits = [circuits]
    names = tuple(qubit_names)
    out = []
    # A batch allocates hundreds of thousands of long-lived objects and no reference cycles, so the
    # cyclic collector only burns time here (about half of it for 1000 circuits). Pause it, as
    # timeit does, and only if it was on, so a caller that disabled it keeps it disabled.
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        for position, circuit in enumerate(circuits):
            if not isinstance(circuit, QuantumCircuit):
                raise CircuitValidationError(
                    f"Item {position} of the batch is a {type(circuit).__name__}, not a QuantumCircuit"
                )
            out.append(circuit_to_wire(circuit, names))
    finally:
        if paused:
            gc.enable()
    return tuple(out)


def circuit_to_wire(circuit: QuantumCircuit, qubit_names: Sequence[str]) -> Circuit:
    """Convert a transpiled Qiskit circuit to an IQM wire circuit (docs/protocol.md to docs/protocol.md).

    Qiskit qubit index ``i`` becomes component ``qubit_names[i]``. Every instruction is written
    with ``implementation`` null. Metadata that cannot be converted to JSON is dropped with a
    warning.

    Args:
        circuit: a circuit that uses only the operations of docs/protocol.md#operations.
        qubit_names: component name for each qubit index, usually :func:`qubit_names` of the DQA.

    Raises:
        CircuitValidationError: the circuit uses an unsupported operation, an unbound parameter,
            an unsupported delay unit or condition, a classical bit outside every register, or
            more qubits than there are names.
    """
    name = circuit.name
    n_names = len(qubit_names)
    if circuit.num_qubits > n_names:
        raise CircuitValidationError(
            f"Circuit {name!r} has {circuit.num_qubits} qubits, but the backend has only {n_names}. "
            f"Transpile the circuit for the backend before execution."
        )
    # Dicts built once per circuit: find_bit() per instruction would dominate the conversion time.
    qmap: dict[Qubit, str] = {q: qubit_names[i] for i, q in enumerate(circuit.qubits)}
    if len(set(qmap.values())) != len(qmap):
        # Two Qiskit qubits on one component would run as one qubit and give plausible, wrong counts.
        raise CircuitValidationError(
            f"Circuit {name!r}: the qubit names {duplicates(list(qmap.values()))} are given to more than one "
            "qubit; every qubit of a circuit needs its own physical qubit."
        )
    keys = _measurement_keys(circuit)
    converter = _Converter(name, keys)
    converter.convert(circuit, qmap)
    return Circuit(name=name, instructions=tuple(converter.out), metadata=_metadata(circuit))


def _measurement_keys(circuit: QuantumCircuit) -> dict[Clbit, str]:
    """Map each clbit in a register to its key ``<creg name>_<creg size>_<creg index>_<clbit index>``."""
    keys: dict[Clbit, str] = {}
    for creg_index, creg in enumerate(circuit.cregs):
        prefix = f"{creg.name}_{creg.size}_{creg_index}_"
        for bit_index, bit in enumerate(creg):
            # A bit in several registers takes its first one, as find_bit().registers[0] would.
            keys.setdefault(bit, prefix + str(bit_index))
    return keys


class _Converter:
    """The state of one circuit's conversion: the output list and the last measure of each clbit."""

    def __init__(self, circuit_name: str, keys: dict[Clbit, str]):
        self.name = circuit_name
        self.keys = keys
        self.out: list[Instruction] = []
        # clbit → position in self.out of the latest measure that wrote it (docs/protocol.md#classical-control step 1).
        self.last_measure: dict[Clbit, int] = {}

    def unsupported(self, op_name: str) -> CircuitValidationError:
        return CircuitValidationError(
            f"Instruction '{op_name}' in the circuit '{self.name}' is not natively supported. "
            f"You need to transpile the circuit before execution."
        )

    def number(self, value: Any, op_name: str) -> float:
        """Return a gate parameter as a float, refusing unbound parameters."""
        if type(value) is float:
            return value
        if isinstance(value, ParameterExpression) and value.parameters:
            names = ", ".join(sorted(str(p) for p in value.parameters))
            raise CircuitValidationError(
                f"Instruction '{op_name}' in the circuit '{self.name}' has unbound parameters ({names}). "
                f"Bind them with assign_parameters() before execution."
            )
        try:
            return float(value)
        except (TypeError, ValueError):
            raise CircuitValidationError(
                f"Instruction '{op_name}' in the circuit '{self.name}' has a parameter that is not a real number: "
                f"{value!r}"
            ) from None

    def prx_args(self, op_name: str, params: Sequence[Any]) -> dict[str, Any]:
        """Return the ``angle``/``phase`` of a PRX for one of the docs/protocol.md#operations rotations."""
        if op_name == "x":
            return {"angle": math.pi, "phase": 0.0}
        if op_name == "y":
            return {"angle": math.pi, "phase": _HALF_PI}
        angle = self.number(params[0], op_name)
        if op_name == "rx":
            return {"angle": angle, "phase": 0.0}
        if op_name == "ry":
            return {"angle": angle, "phase": _HALF_PI}
        return {"angle": angle, "phase": self.number(params[1], op_name)}  # r

    def convert(self, circuit: QuantumCircuit, qmap: dict[Qubit, str]) -> None:
        """Append the wire instructions of the top-level ``circuit`` to ``self.out``."""
        out = self.out
        append = out.append
        for ci in circuit.data:
            # ci.name/ci.params/ci.qubits avoid building the Python operation object; only delay
            # and if_else need it.
            op_name = ci.name
            qubits = ci.qubits
            if op_name in _PRX_GATES and len(qubits) == 1:
                append(Instruction("prx", (qmap[qubits[0]],), self.prx_args(op_name, ci.params)))
            elif op_name == "measure" and len(qubits) == 1 and len(ci.clbits) == 1:
                clbit = ci.clbits[0]
                key = self.keys.get(clbit)
                if key is None:
                    raise CircuitValidationError(
                        f"A measure in the circuit '{self.name}' writes to a classical bit that belongs to no "
                        f"classical register. Measurement keys are built from registers, so add the bit to a "
                        f"ClassicalRegister."
                    )
                self.last_measure[clbit] = len(out)
                append(Instruction("measure", (qmap[qubits[0]],), {"key": key}))
            elif (op_name == "cz" or op_name == "move") and len(qubits) == 2:
                append(Instruction(op_name, (qmap[qubits[0]], qmap[qubits[1]]), {}))
            elif op_name == "barrier":
                append(Instruction("barrier", tuple(qmap[q] for q in qubits), {}))
            elif op_name == "reset" and len(qubits) == 1:
                append(Instruction("reset", (qmap[qubits[0]],), {}))
            elif op_name == "delay":
                locus = tuple(qmap[q] for q in qubits)
                append(Instruction("delay", locus, {"duration": self.delay_seconds(ci.operation)}))
            elif op_name == "id":
                continue
            elif op_name == "if_else":
                self.if_else(ci.operation, [qmap[q] for q in qubits])
            else:
                raise self.unsupported(op_name)

    def delay_seconds(self, op: Any) -> float:
        """Return the duration of a Qiskit ``Delay`` in seconds."""
        unit = op.unit
        scale = _DELAY_UNITS.get(unit)
        if scale is None:
            raise CircuitValidationError(
                f"A delay in the circuit '{self.name}' uses the unit {unit!r}; supported units are "
                f"s, ms, us, ns, ps and dt (taken to be 1 ns)."
            )
        duration = self.number(op.params[0], "delay")
        return duration if unit == "s" else duration * scale

    def if_else(self, op: Any, outer_locus: list[str]) -> None:
        """Turn ``if_test(bit == 1)`` with a PRX-only body into ``cc_prx`` instructions (docs/protocol.md)."""
        true_body, false_body = op.params
        if false_body is not None and len(false_body.data) > 0:
            raise CircuitValidationError(
                f"The circuit '{self.name}' uses an else block with if_test, which is not supported."
            )
        clbit = self.condition_bit(op.condition)
        position = self.last_measure.get(clbit)
        if position is None:
            raise CircuitValidationError(
                f"An if_test in the circuit '{self.name}' is conditioned on a classical bit that does not hold "
                f"a measurement result yet. Measure into that bit before the if_test."
            )
        measure = self.out[position]
        key = measure.args["key"]
        feedback_qubit = measure.locus[0]
        if "feedback_key" not in measure.args:
            self.out[position] = Instruction("measure", measure.locus, {"key": key, "feedback_key": key})
        # The body has its own qubit objects; they map positionally onto the if_else's qubits.
        body_map = dict(zip(true_body.qubits, outer_locus, strict=True))
        for ci in true_body.data:
            op_name = ci.name
            if op_name == "id":
                continue
            if op_name not in _PRX_GATES or len(ci.qubits) != 1:
                raise CircuitValidationError(
                    f"The circuit '{self.name}' has '{op_name}' inside an if_test; only r, x, y, rx and ry "
                    f"gates can be classically controlled."
                )
            args = self.prx_args(op_name, ci.params)
            args["feedback_key"] = key
            args["feedback_qubit"] = feedback_qubit
            self.out.append(Instruction("cc_prx", (body_map[ci.qubits[0]],), args))

    def condition_bit(self, condition: Any) -> Clbit:
        """Return the clbit of a condition meaning "this one bit is 1"; refuse anything else."""
        target: Any
        value: Any
        if isinstance(condition, tuple) and len(condition) == 2:
            target, value = condition
        elif isinstance(condition, expr.Var) and isinstance(condition.var, Clbit):
            target, value = condition.var, 1
        elif (
            isinstance(condition, expr.Binary)
            and condition.op is expr.Binary.Op.EQUAL
            and isinstance(condition.left, expr.Var)
            and isinstance(condition.right, expr.Value)
            and isinstance(condition.left.var, (Clbit, ClassicalRegister))
        ):
            target, value = condition.left.var, condition.right.value
        else:
            raise CircuitValidationError(
                f"An if_test in the circuit '{self.name}' has the condition {condition}; only a single classical "
                f"bit compared with 1 is supported."
            )
        if isinstance(target, ClassicalRegister):
            if target.size != 1:
                raise CircuitValidationError(
                    f"An if_test in the circuit '{self.name}' is conditioned on the {target.size}-bit register "
                    f"'{target.name}'; only conditions on a single bit are supported."
                )
            target = target[0]
        if not isinstance(target, Clbit):
            raise CircuitValidationError(
                f"An if_test in the circuit '{self.name}' is conditioned on {target!r}, not on a classical bit."
            )
        # True (from a boolean expression) and the integer 1 both mean "the bit is set".
        if not (value is True or (isinstance(value, int) and not isinstance(value, bool) and value == 1)):
            raise CircuitValidationError(
                f"An if_test in the circuit '{self.name}' is conditioned on the value {value!r}; "
                f"only the value 1 is supported."
            )
        return target


class _NotJSON(Exception):
    """Metadata holds something with no JSON form."""


def _metadata(circuit: QuantumCircuit) -> dict[str, Any] | None:
    """Return ``circuit.metadata`` as JSON-compatible data, or None with a warning when impossible."""
    metadata = circuit.metadata
    if metadata is None:
        return None
    try:
        if not isinstance(metadata, Mapping):
            raise _NotJSON(f"it is a {type(metadata).__name__}, not a dict")
        converted = _to_json(metadata, 0)
    except _NotJSON as exc:
        warnings.warn(
            f"Metadata of the circuit '{circuit.name}' was dropped because it could not be converted to JSON: {exc}",
            UserWarning,
            stacklevel=3,
        )
        return None
    assert isinstance(converted, dict)
    return converted


def _to_json(value: Any, depth: int) -> Any:
    """Convert ``value`` to plain JSON types: numpy arrays to lists, numpy scalars to Python scalars."""
    if depth > _MAX_METADATA_DEPTH:
        raise _NotJSON("it is nested too deeply (or refers to itself)")
    if value is None or type(value) in (str, bool, int):
        return value
    if isinstance(value, str):  # subclasses such as np.str_: keep the text, drop the class
        return str.__str__(value)
    if isinstance(value, int):  # subclasses such as IntEnum (bool cannot be subclassed)
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _NotJSON(f"{value!r} has no JSON form")
        return float(value)
    if isinstance(value, np.ndarray):
        return _to_json(value.tolist(), depth + 1)
    if isinstance(value, np.generic):
        item = value.item()
        if isinstance(item, np.generic):  # e.g. longdouble, which has no Python equivalent
            raise _NotJSON(f"numpy value {value!r} of type {type(value).__name__} has no JSON form")
        return _to_json(item, depth + 1)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out[_json_key(k)] = _to_json(v, depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return [_to_json(v, depth + 1) for v in value]
    raise _NotJSON(f"a value of type {type(value).__name__} has no JSON form")


def _json_key(key: Any) -> str:
    """Return a dict key as JSON would write it (numbers, booleans and None become text)."""
    if isinstance(key, str):
        return str.__str__(key)
    if isinstance(key, np.generic):
        key = key.item()
    if key is None or isinstance(key, bool):
        return {None: "null", True: "true", False: "false"}[key]
    if isinstance(key, int):
        return str(int(key))
    if isinstance(key, float) and math.isfinite(key):
        return repr(float(key))
    raise _NotJSON(f"the key {key!r} is not a string")


# --------------------------------------------------------------------------------------------------
# Register layouts carried in the payload, so a job re-attached by id formats like the one submitted
# --------------------------------------------------------------------------------------------------


def _measured_layout(circuit: Circuit) -> list[tuple[str, int]]:
    """Return the registers a wire circuit measures, ``(name, size)`` in creg index order, from its keys."""
    from .models import parse_measurement_key

    found: dict[int, tuple[str, int]] = {}
    for key in circuit.measurement_keys():
        try:
            name, size, index, _ = parse_measurement_key(key)
        except ValueError:
            continue
        found.setdefault(index, (name, size))
    return [found[i] for i in sorted(found)]


def with_register_layouts(
    definition: CircuitJobDefinition, registers: Sequence[Sequence[tuple[str, int]]]
) -> CircuitJobDefinition:
    """Return the definition with each circuit's register layout in its metadata, where the keys cannot tell it.

    Only circuits with a register that is never measured get the entry (under
    :data:`REGISTERS_METADATA_KEY`), so every other payload is exactly what IQM's adapter sends.
    """
    circuits = []
    for circuit, layout in zip(definition.circuits, registers):
        full = [(str(n), int(s)) for n, s in layout]
        if full != _measured_layout(circuit):
            metadata = dict(circuit.metadata or {})
            metadata[REGISTERS_METADATA_KEY] = [[n, s] for n, s in full]
            circuit = dataclasses.replace(circuit, metadata=metadata)
        circuits.append(circuit)
    return dataclasses.replace(definition, circuits=tuple(circuits))


def split_register_layouts(
    definition: CircuitJobDefinition,
) -> tuple[CircuitJobDefinition, list[list[tuple[str, int]]]]:
    """Return the definition without the carried layouts, and every circuit's register layout.

    A circuit without the entry measured every register it has, so its keys give the layout.
    """
    circuits = []
    layouts = []
    for circuit in definition.circuits:
        metadata = dict(circuit.metadata or {})
        carried = metadata.pop(REGISTERS_METADATA_KEY, None)
        if isinstance(carried, list) and all(isinstance(r, list) and len(r) == 2 for r in carried):
            layouts.append([(str(n), int(s)) for n, s in carried])
            circuit = dataclasses.replace(circuit, metadata=metadata or None)
        else:
            layouts.append(_measured_layout(circuit))
        circuits.append(circuit)
    return dataclasses.replace(definition, circuits=tuple(circuits)), layouts
