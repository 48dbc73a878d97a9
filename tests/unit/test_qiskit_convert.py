"""Tests of iqm_async.qiskit_convert: Qiskit circuits to IQM wire circuits."""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
from qiskit.circuit import Clbit, Duration, Gate, Parameter
from qiskit.circuit.classical import expr

from iqm_async.errors import CircuitValidationError
from iqm_async.models import CircuitJobDefinition, JobParameters
from iqm_async.qiskit_convert import circuit_to_wire, circuits_to_wire, qubit_names, registers_of
from iqm_async.validation import validate_job
from tests.helpers import CALSET, make_dqa

NAMES = ["QB1", "QB2", "QB3"]
HALF_PI = math.pi / 2


def wire(qc: QuantumCircuit, names: Sequence[str] = NAMES) -> list[dict[str, Any]]:
    """The converted instructions as JSON objects."""
    instructions: list[dict[str, Any]] = circuit_to_wire(qc, names).to_json()["instructions"]
    return instructions


def one(qc: QuantumCircuit) -> dict[str, Any]:
    (inst,) = wire(qc)
    return inst


def prx(q: str, angle: float, phase: float) -> dict[str, Any]:
    return {"name": "prx", "locus": [q], "args": {"angle": angle, "phase": phase}, "implementation": None}


# --------------------------------------------------------------------------------------------------
# The spec's example body
# --------------------------------------------------------------------------------------------------


def test_two_regs_matches_the_spec_example_body() -> None:
    q = QuantumRegister(3, "q")
    a = ClassicalRegister(2, "a")
    b = ClassicalRegister(1, "b")
    qc = QuantumCircuit(q, a, b, name="two_regs", metadata={"note": "x"})
    qc.x(0)
    qc.measure(0, a[0])
    qc.measure(1, a[1])
    qc.measure(2, b[0])
    definition = CircuitJobDefinition(
        circuits=circuits_to_wire(qc, NAMES), parameters=JobParameters(shots=8, calibration_set_id=CALSET)
    )
    expected = json.loads(
        """{"circuits": [{"name": "two_regs", "instructions": [
    {"name": "prx", "locus": ["QB1"], "args": {"angle": 3.141592653589793, "phase": 0.0}, "implementation": null},
    {"name": "measure", "locus": ["QB1"], "args": {"key": "a_2_0_0"}, "implementation": null},
    {"name": "measure", "locus": ["QB2"], "args": {"key": "a_2_0_1"}, "implementation": null},
    {"name": "measure", "locus": ["QB3"], "args": {"key": "b_1_1_0"}, "implementation": null}],
   "metadata": {"note": "x"}}],
 "calibration_set_id": "26c5e70f-bea0-43af-bd37-6212ec7d04cb", "qubit_mapping": null, "shots": 8,
 "max_circuit_duration_over_t2": null, "heralding_mode": "none", "move_gate_validation": "strict",
 "move_gate_frame_tracking": "full", "active_reset_cycles": null, "dd_mode": "disabled", "dd_strategy": null,
 "move_validation_mode": "strict", "move_gate_frame_tracking_mode": "full"}"""
    )
    body = definition.to_json()
    assert body == expected
    # Byte-level: floats are written as floats ("0.0", never "0").
    assert '"phase": 0.0' in json.dumps(body)
    validate_job(definition, make_dqa(NAMES))


# --------------------------------------------------------------------------------------------------
# operation table
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (lambda qc: qc.r(0.3, 0.7, 1), prx("QB2", 0.3, 0.7)),
        (lambda qc: qc.x(0), prx("QB1", math.pi, 0.0)),
        (lambda qc: qc.rx(0.25, 2), prx("QB3", 0.25, 0.0)),
        (lambda qc: qc.y(0), prx("QB1", math.pi, HALF_PI)),
        (lambda qc: qc.ry(-1.5, 1), prx("QB2", -1.5, HALF_PI)),
        (lambda qc: qc.cz(2, 0), {"name": "cz", "locus": ["QB3", "QB1"], "args": {}, "implementation": None}),
        (
            lambda qc: qc.barrier(0, 2),
            {"name": "barrier", "locus": ["QB1", "QB3"], "args": {}, "implementation": None},
        ),
        (lambda qc: qc.reset(1), {"name": "reset", "locus": ["QB2"], "args": {}, "implementation": None}),
    ],
)
def test_native_operations(build: Any, expected: dict[str, Any]) -> None:
    qc = QuantumCircuit(3, name="ops")
    build(qc)
    inst = one(qc)
    assert inst == expected
    for value in inst["args"].values():
        assert type(value) is float


def test_integer_angles_become_floats() -> None:
    qc = QuantumCircuit(1)
    qc.r(1, 0, 0)
    qc.rx(np.int64(2), 0)
    insts = wire(qc)
    assert [i["args"] for i in insts] == [{"angle": 1.0, "phase": 0.0}, {"angle": 2.0, "phase": 0.0}]
    assert all(type(v) is float for i in insts for v in i["args"].values())
    assert '"phase": 0.0' in json.dumps(insts)


def test_move_gate_any_gate_named_move() -> None:
    names = qubit_names(make_dqa(NAMES, resonators=["COMP_R"]))
    assert names == ["QB1", "QB2", "QB3", "COMP_R"]
    qc = QuantumCircuit(4)
    qc.append(Gate("move", 2, []), [0, 3])
    (inst,) = wire(qc, names)
    assert inst == {"name": "move", "locus": ["QB1", "COMP_R"], "args": {}, "implementation": None}


def test_move_with_wrong_arity_is_unsupported() -> None:
    qc = QuantumCircuit(3, name="m")
    qc.append(Gate("move", 3, []), [0, 1, 2])
    with pytest.raises(CircuitValidationError, match="Instruction 'move' in the circuit 'm' is not natively"):
        circuit_to_wire(qc, NAMES)


def test_id_is_dropped_and_implementation_is_always_null() -> None:
    qc = QuantumCircuit(2, 2)
    qc.id(0)
    qc.x(1)
    qc.id(1)
    qc.cz(0, 1)
    qc.measure([0, 1], [0, 1])
    insts = wire(qc)
    assert [i["name"] for i in insts] == ["prx", "cz", "measure", "measure"]
    assert all(i["implementation"] is None for i in insts)


@pytest.mark.parametrize(
    ("duration", "unit", "seconds"),
    [
        (2, "s", 2.0),
        (3, "ms", 3e-3),
        (4.5, "us", 4.5e-6),
        (40, "ns", 40e-9),
        (7, "ps", 7e-12),
        (100, "dt", 100e-9),
    ],
)
def test_delay_units(duration: float, unit: str, seconds: float) -> None:
    qc = QuantumCircuit(2)
    qc.delay(duration, 1, unit=unit)
    inst = one(qc)
    assert inst["name"] == "delay"
    assert inst["locus"] == ["QB2"]
    assert inst["args"]["duration"] == pytest.approx(seconds, rel=1e-12)
    assert type(inst["args"]["duration"]) is float


def test_delay_with_unsupported_unit() -> None:
    qc = QuantumCircuit(1, name="d")
    qc.delay(expr.lift(Duration.ns(3)), 0)
    with pytest.raises(CircuitValidationError, match=r"unit 'expr'; supported units are s, ms, us, ns, ps and dt"):
        circuit_to_wire(qc, NAMES)


def test_unsupported_operation_message() -> None:
    qc = QuantumCircuit(2, name="bell")
    qc.h(0)
    with pytest.raises(CircuitValidationError) as info:
        circuit_to_wire(qc, NAMES)
    assert str(info.value) == (
        "Instruction 'h' in the circuit 'bell' is not natively supported. "
        "You need to transpile the circuit before execution."
    )
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("op", ["cx", "sx", "rz", "for_loop", "box"])
def test_other_unsupported_operations(op: str) -> None:
    qc = QuantumCircuit(2, 1, name="c")
    if op == "cx":
        qc.cx(0, 1)
    elif op == "sx":
        qc.sx(0)
    elif op == "rz":
        qc.rz(0.1, 0)
    elif op == "for_loop":
        with qc.for_loop(range(2)):
            qc.x(0)
    else:
        with qc.box():
            qc.x(0)
    with pytest.raises(CircuitValidationError, match=f"Instruction '{op}' in the circuit 'c' is not natively"):
        circuit_to_wire(qc, NAMES)


def test_unbound_parameter() -> None:
    theta = Parameter("theta")
    qc = QuantumCircuit(1, name="p")
    qc.rx(theta, 0)
    with pytest.raises(CircuitValidationError, match=r"'rx' in the circuit 'p' has unbound parameters \(theta\)"):
        circuit_to_wire(qc, NAMES)
    with pytest.raises(CircuitValidationError, match="assign_parameters"):
        circuit_to_wire(qc, NAMES)
    bound = qc.assign_parameters({theta: 0.5})
    assert one(bound)["args"] == {"angle": 0.5, "phase": 0.0}


def test_unbound_parameter_in_expression_and_delay() -> None:
    a, b = Parameter("a"), Parameter("b")
    qc = QuantumCircuit(1, name="p")
    qc.r(a + b, 0.0, 0)
    with pytest.raises(CircuitValidationError, match=r"unbound parameters \(a, b\)"):
        circuit_to_wire(qc, NAMES)
    qc2 = QuantumCircuit(1, name="p")
    qc2.delay(Parameter("t"), 0, unit="ns")
    with pytest.raises(CircuitValidationError, match=r"'delay' in the circuit 'p' has unbound parameters \(t\)"):
        circuit_to_wire(qc2, NAMES)


def test_too_many_qubits() -> None:
    qc = QuantumCircuit(4, name="big")
    qc.x(0)
    with pytest.raises(CircuitValidationError, match="Circuit 'big' has 4 qubits, but the backend has only 3"):
        circuit_to_wire(qc, NAMES)


def test_fewer_qubits_than_names_is_fine() -> None:
    qc = QuantumCircuit(1)
    qc.x(0)
    assert one(qc)["locus"] == ["QB1"]


# --------------------------------------------------------------------------------------------------
# measurement keys and registers
# --------------------------------------------------------------------------------------------------


def test_register_keys_follow_creg_order() -> None:
    b = ClassicalRegister(1, "b")
    a = ClassicalRegister(2, "a")
    qc = QuantumCircuit(QuantumRegister(3), b, a)  # b added first, so it has creg index 0
    qc.measure(0, a[1])
    qc.measure(1, b[0])
    qc.measure(2, a[0])
    assert [i["args"]["key"] for i in wire(qc)] == ["a_2_1_1", "b_1_0_0", "a_2_1_0"]
    assert registers_of(qc) == [("b", 1), ("a", 2)]


def test_register_name_with_underscores_and_one_measure_per_qiskit_measure() -> None:
    reg = ClassicalRegister(3, "my_reg_2")
    qc = QuantumCircuit(QuantumRegister(3), reg)
    qc.measure([0, 1, 2], [2, 1, 0])
    insts = wire(qc)
    assert [(i["locus"], i["args"]) for i in insts] == [
        (["QB1"], {"key": "my_reg_2_3_0_2"}),
        (["QB2"], {"key": "my_reg_2_3_0_1"}),
        (["QB3"], {"key": "my_reg_2_3_0_0"}),
    ]


def test_clbit_measured_twice_keeps_the_same_key() -> None:
    qc = QuantumCircuit(2, 1)
    qc.measure(0, 0)
    qc.measure(1, 0)
    assert [i["args"]["key"] for i in wire(qc)] == ["c_1_0_0", "c_1_0_0"]


def test_clbit_in_two_registers_uses_the_first() -> None:
    bits = [Clbit(), Clbit()]
    first = ClassicalRegister(bits=bits, name="first")
    second = ClassicalRegister(bits=[bits[1]], name="second")
    qc = QuantumCircuit(QuantumRegister(1), first, second)
    qc.measure(0, bits[1])
    assert one(qc)["args"] == {"key": "first_2_0_1"}
    assert registers_of(qc) == [("first", 2), ("second", 1)]


def test_clbit_outside_every_register() -> None:
    qc = QuantumCircuit(QuantumRegister(1), name="loose")
    qc.add_bits([Clbit()])
    qc.measure(0, 0)
    with pytest.raises(CircuitValidationError, match="circuit 'loose' writes to a classical bit that belongs to no"):
        circuit_to_wire(qc, NAMES)


def test_registers_of_empty() -> None:
    assert registers_of(QuantumCircuit(2)) == []


# --------------------------------------------------------------------------------------------------
# classical control
# --------------------------------------------------------------------------------------------------


def _cc(q: str, angle: float, phase: float, key: str, fq: str) -> dict[str, Any]:
    return {
        "name": "cc_prx",
        "locus": [q],
        "args": {"angle": angle, "phase": phase, "feedback_key": key, "feedback_qubit": fq},
        "implementation": None,
    }


def test_if_test_on_clbit_becomes_cc_prx() -> None:
    qc = QuantumCircuit(3, 2, name="ff")
    qc.measure(0, 1)
    with qc.if_test((qc.clbits[1], 1)):
        qc.x(2)
        qc.ry(0.5, 1)
    qc.measure(2, 0)
    assert wire(qc) == [
        {
            "name": "measure",
            "locus": ["QB1"],
            "args": {"key": "c_2_0_1", "feedback_key": "c_2_0_1"},
            "implementation": None,
        },
        _cc("QB3", math.pi, 0.0, "c_2_0_1", "QB1"),
        _cc("QB2", 0.5, HALF_PI, "c_2_0_1", "QB1"),
        {"name": "measure", "locus": ["QB3"], "args": {"key": "c_2_0_0"}, "implementation": None},
    ]
    dqa = make_dqa(NAMES)
    validate_job(CircuitJobDefinition(circuits_to_wire(qc, NAMES)), dqa)


def test_if_test_on_size_one_register_is_the_c_if_equivalent() -> None:
    flag = ClassicalRegister(1, "flag")
    qc = QuantumCircuit(QuantumRegister(2), flag)
    qc.measure(1, flag[0])
    with qc.if_test((flag, 1)):
        qc.r(0.1, 0.2, 0)
        qc.y(0)
        qc.rx(0.3, 0)
    insts = wire(qc)
    assert insts[0]["args"] == {"key": "flag_1_0_0", "feedback_key": "flag_1_0_0"}
    assert insts[1:] == [
        _cc("QB1", 0.1, 0.2, "flag_1_0_0", "QB2"),
        _cc("QB1", math.pi, HALF_PI, "flag_1_0_0", "QB2"),
        _cc("QB1", 0.3, 0.0, "flag_1_0_0", "QB2"),
    ]


@pytest.mark.parametrize(
    "condition",
    [
        lambda qc: expr.lift(qc.clbits[0]),
        lambda qc: expr.equal(qc.clbits[0], True),
        lambda qc: expr.equal(qc.cregs[0], 1),
    ],
)
def test_if_test_with_equivalent_expressions(condition: Any) -> None:
    qc = QuantumCircuit(2, 1)
    qc.measure(0, 0)
    with qc.if_test(condition(qc)):
        qc.x(1)
    assert wire(qc)[1] == _cc("QB2", math.pi, 0.0, "c_1_0_0", "QB1")


def test_if_test_uses_latest_measure_and_empty_else_is_fine() -> None:
    qc = QuantumCircuit(3, 1)
    qc.measure(0, 0)
    qc.measure(1, 0)
    with qc.if_test((qc.clbits[0], 1)) as else_:
        qc.x(2)
    with else_:
        pass
    insts = wire(qc)
    assert insts[0]["args"] == {"key": "c_1_0_0"}
    assert insts[1]["args"] == {"key": "c_1_0_0", "feedback_key": "c_1_0_0"}
    assert insts[2] == _cc("QB3", math.pi, 0.0, "c_1_0_0", "QB2")


def test_two_if_tests_on_the_same_measure_mark_it_once() -> None:
    qc = QuantumCircuit(2, 1)
    qc.measure(0, 0)
    with qc.if_test((qc.clbits[0], 1)):
        qc.x(1)
    with qc.if_test((qc.clbits[0], 1)):
        qc.y(1)
    insts = wire(qc)
    assert insts[0]["args"] == {"key": "c_1_0_0", "feedback_key": "c_1_0_0"}
    assert [i["name"] for i in insts] == ["measure", "cc_prx", "cc_prx"]


def test_if_test_on_multi_bit_register() -> None:
    qc = QuantumCircuit(2, 2, name="ff")
    qc.measure(0, 0)
    with qc.if_test((qc.cregs[0], 1)):
        qc.x(1)
    with pytest.raises(
        CircuitValidationError, match="conditioned on the 2-bit register 'c'; only conditions on a single"
    ):
        circuit_to_wire(qc, NAMES)


def test_if_test_on_value_zero() -> None:
    qc = QuantumCircuit(2, 1, name="ff")
    qc.measure(0, 0)
    with qc.if_test((qc.clbits[0], 0)):
        qc.x(1)
    with pytest.raises(CircuitValidationError, match=r"conditioned on the value 0; only the value 1 is supported"):
        circuit_to_wire(qc, NAMES)


def test_if_test_on_unmeasured_bit() -> None:
    qc = QuantumCircuit(2, 2, name="ff")
    qc.measure(0, 0)
    with qc.if_test((qc.clbits[1], 1)):
        qc.x(1)
    with pytest.raises(CircuitValidationError, match="does not hold a measurement result yet"):
        circuit_to_wire(qc, NAMES)


def test_if_test_before_its_measure() -> None:
    qc = QuantumCircuit(2, 1, name="ff")
    with qc.if_test((qc.clbits[0], 1)):
        qc.x(1)
    qc.measure(0, 0)
    with pytest.raises(CircuitValidationError, match="does not hold a measurement result yet"):
        circuit_to_wire(qc, NAMES)


@pytest.mark.parametrize("gate", ["h", "cz", "measure", "barrier"])
def test_if_test_with_non_prx_body(gate: str) -> None:
    qc = QuantumCircuit(2, 1, name="ff")
    qc.measure(0, 0)
    with qc.if_test((qc.clbits[0], 1)):
        if gate == "h":
            qc.h(1)
        elif gate == "cz":
            qc.cz(0, 1)
        elif gate == "measure":
            qc.measure(1, 0)
        else:
            qc.barrier(1)
    with pytest.raises(CircuitValidationError, match=f"has '{gate}' inside an if_test; only r, x, y, rx and ry"):
        circuit_to_wire(qc, NAMES)


def test_if_test_with_non_empty_else() -> None:
    qc = QuantumCircuit(2, 1, name="ff")
    qc.measure(0, 0)
    with qc.if_test((qc.clbits[0], 1)) as else_:
        qc.x(1)
    with else_:
        qc.y(1)
    with pytest.raises(CircuitValidationError, match="else block"):
        circuit_to_wire(qc, NAMES)


def test_if_test_with_complex_condition() -> None:
    qc = QuantumCircuit(2, 2, name="ff")
    qc.measure(0, 0)
    qc.measure(1, 1)
    with qc.if_test(expr.logic_and(qc.clbits[0], qc.clbits[1])):
        qc.x(1)
    with pytest.raises(CircuitValidationError, match="only a single classical bit compared with 1"):
        circuit_to_wire(qc, NAMES)


# --------------------------------------------------------------------------------------------------
# name and metadata
# --------------------------------------------------------------------------------------------------


def _with_metadata(metadata: Any) -> QuantumCircuit:
    qc = QuantumCircuit(1, 1, name="meta")
    qc.measure(0, 0)
    qc.metadata = metadata
    return qc


def test_metadata_numpy_is_converted() -> None:
    qc = _with_metadata(
        {
            "arr": np.arange(3),
            "mat": np.eye(2, dtype=np.float32),
            "i": np.int64(7),
            "f": np.float32(0.5),
            "b": np.bool_(True),
            "s": np.str_("txt"),
            "nested": {"t": (1, 2.5, None), 3: "int key"},
        }
    )
    metadata = circuit_to_wire(qc, NAMES).metadata
    assert metadata == {
        "arr": [0, 1, 2],
        "mat": [[1.0, 0.0], [0.0, 1.0]],
        "i": 7,
        "f": 0.5,
        "b": True,
        "s": "txt",
        "nested": {"t": [1, 2.5, None], "3": "int key"},
    }
    assert type(metadata["i"]) is int
    assert type(metadata["b"]) is bool
    assert type(metadata["s"]) is str
    assert json.loads(json.dumps(metadata, allow_nan=False)) == metadata


def test_empty_metadata_is_an_empty_object() -> None:
    assert circuit_to_wire(_with_metadata({}), NAMES).metadata == {}


@pytest.mark.parametrize("bad", [{"o": object()}, {"s": {1, 2}}, {"nan": float("nan")}, {"c": 1j}, {(1, 2): "x"}])
def test_metadata_that_cannot_be_converted_is_dropped_with_a_warning(bad: dict[Any, Any]) -> None:
    with pytest.warns(UserWarning, match="Metadata of the circuit 'meta' was dropped"):
        converted = circuit_to_wire(_with_metadata(bad), NAMES)
    assert converted.metadata is None
    assert [i.name for i in converted.instructions] == ["measure"]


def test_self_referencing_metadata_is_dropped() -> None:
    loop: dict[str, Any] = {}
    loop["me"] = loop
    with pytest.warns(UserWarning, match="nested too deeply"):
        assert circuit_to_wire(_with_metadata(loop), NAMES).metadata is None


def test_good_metadata_does_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        circuit_to_wire(_with_metadata({"a": [1, 2]}), NAMES)


def test_circuit_name_is_kept() -> None:
    qc = QuantumCircuit(1, 1, name="my circuit")
    qc.measure(0, 0)
    assert circuit_to_wire(qc, NAMES).name == "my circuit"


# --------------------------------------------------------------------------------------------------
# qubit naming
# --------------------------------------------------------------------------------------------------


def test_qubit_names_square() -> None:
    qubits = ["QB1", "QB2", "QB3", "QB4"]
    dqa = make_dqa(qubits, [("QB1", "QB2"), ("QB2", "QB4"), ("QB4", "QB3"), ("QB3", "QB1")])
    assert qubit_names(dqa) == qubits


def test_qubit_names_drop_qubits_without_prx_or_measure() -> None:
    qubits = ["QB1", "QB2", "QB3", "QB4"]
    dqa = make_dqa(qubits, [("QB1", "QB2")], prx=["QB1", "QB2", "QB4"], measure=["QB1", "QB3", "QB4"])
    assert qubit_names(dqa) == ["QB1", "QB4"]


def test_qubit_names_star_puts_resonators_last() -> None:
    dqa = make_dqa(
        ["QB1", "QB2", "QB3"],
        [("QB1", "COMP_R"), ("QB2", "COMP_R")],
        resonators=["COMP_R"],
        move=[("QB1", "COMP_R"), ("QB3", "COMP_R")],
    )
    assert qubit_names(dqa) == ["QB1", "QB2", "QB3", "COMP_R"]


def test_qubit_names_keep_dqa_order() -> None:
    dqa = make_dqa(["QB10", "QB2", "QB1"])
    assert qubit_names(dqa) == ["QB10", "QB2", "QB1"]


def test_star_circuit_converts_and_validates() -> None:
    dqa = make_dqa(["QB1", "QB2"], [("QB2", "COMP_R")], resonators=["COMP_R"], move=[("QB1", "COMP_R")])
    names = qubit_names(dqa)
    qc = QuantumCircuit(3, 2)
    qc.x(0)
    qc.append(Gate("move", 2, []), [0, 2])
    qc.cz(1, 2)
    qc.append(Gate("move", 2, []), [0, 2])
    qc.measure([0, 1], [0, 1])
    definition = CircuitJobDefinition(circuits_to_wire([qc], names))
    assert [i.locus for i in definition.circuits[0].instructions][1:3] == [("QB1", "COMP_R"), ("QB2", "COMP_R")]
    validate_job(definition, dqa)


# --------------------------------------------------------------------------------------------------
# Batches
# --------------------------------------------------------------------------------------------------


def test_circuits_to_wire_accepts_one_circuit_or_a_sequence() -> None:
    a = QuantumCircuit(1, 1, name="a")
    a.measure(0, 0)
    b = a.copy(name="b")
    assert [c.name for c in circuits_to_wire(a, NAMES)] == ["a"]
    assert [c.name for c in circuits_to_wire([a, b], NAMES)] == ["a", "b"]
    assert circuits_to_wire([], NAMES) == ()


def test_circuits_to_wire_refuses_non_circuits() -> None:
    with pytest.raises(CircuitValidationError, match="Item 1 of the batch is a str, not a QuantumCircuit"):
        circuits_to_wire([QuantumCircuit(1), "nope"], NAMES)


def test_big_batch_converts_fast() -> None:
    n = 20
    names = [f"QB{i + 1}" for i in range(n)]
    rng = np.random.default_rng(1)
    circuits = []
    for k in range(1000):
        qc = QuantumCircuit(n, n, name=f"c{k}")
        for _ in range(3):
            for i in range(n):
                qc.r(float(rng.random()), float(rng.random()), i)
            for i in range(0, n - 1, 2):
                qc.cz(i, i + 1)
        qc.barrier()
        qc.measure(range(n), range(n))
        circuits.append(qc)
    start = time.perf_counter()
    converted = circuits_to_wire(circuits, names)
    elapsed = time.perf_counter() - start
    assert len(converted) == 1000
    assert len(converted[0].instructions) == 3 * (n + n // 2) + 1 + n
    # About 0.2 s here; the generous bound only catches a per-instruction find_bit or a quadratic slip.
    assert elapsed < 3.0
