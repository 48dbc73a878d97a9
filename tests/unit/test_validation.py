"""Tests of iqm_async.validation: the circuit rules, shared by the client and the embedded server."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iqm_async.errors import CircuitValidationError, ValidationError
from iqm_async.models import (
    Circuit,
    CircuitJobDefinition,
    DynamicQuantumArchitecture,
    Instruction,
    JobParameters,
)
from iqm_async.validation import KNOWN_OPERATIONS, ArchitectureIndex, index_for, validate_job
from tests.helpers import make_dqa

# --------------------------------------------------------------------------------------------------
# Hand-built architectures
# --------------------------------------------------------------------------------------------------


LINE = make_dqa(
    ["QB1", "QB2", "QB3", "QB4"],
    [("QB1", "QB2"), ("QB2", "QB3"), ("QB3", "QB4")],
    extra_impls={"prx": {"special": [("QB1",)]}},
)
STAR = make_dqa(
    ["QB1", "QB2", "QB3"],
    [("QB1", "COMP_R"), ("QB2", "COMP_R"), ("QB3", "COMP_R")],
    resonators=["COMP_R"],
    move=[("QB1", "COMP_R"), ("QB2", "COMP_R")],
)
TWO_RESONATORS = make_dqa(
    ["QB1", "QB2"],
    [("QB1", "R1"), ("QB2", "R1"), ("QB1", "R2")],
    resonators=["R1", "R2"],
    move=[("QB1", "R1"), ("QB2", "R1"), ("QB1", "R2")],
)

# --------------------------------------------------------------------------------------------------
# Instruction shorthands
# --------------------------------------------------------------------------------------------------


def prx(q: str, angle: Any = 1.0, phase: Any = 0.0, **kw: Any) -> Instruction:
    return Instruction("prx", (q,), {"angle": angle, "phase": phase}, **kw)


def cz(a: str, b: str) -> Instruction:
    return Instruction("cz", (a, b), {})


def move(q: str, r: str) -> Instruction:
    return Instruction("move", (q, r), {})


def measure(*qs: str, key: str | None = None, feedback_key: str | None = None) -> Instruction:
    args: dict[str, Any] = {"key": key if key is not None else "m_" + "_".join(qs)}
    if feedback_key is not None:
        args["feedback_key"] = feedback_key
    return Instruction("measure", tuple(qs), args)


def cc_prx(q: str, key: str, feedback_qubit: str) -> Instruction:
    return Instruction(
        "cc_prx", (q,), {"angle": 1.0, "phase": 0.0, "feedback_key": key, "feedback_qubit": feedback_qubit}
    )


def job(*circuits: Circuit, **params: Any) -> CircuitJobDefinition:
    return CircuitJobDefinition(circuits=tuple(circuits), parameters=JobParameters(**params))


def circ(*instructions: Instruction, name: str = "c") -> Circuit:
    return Circuit(name=name, instructions=tuple(instructions))


def ok(definition: CircuitJobDefinition, dqa: DynamicQuantumArchitecture = LINE, **kw: Any) -> None:
    validate_job(definition, dqa, **kw)


def bad(
    definition: CircuitJobDefinition, match: str, dqa: DynamicQuantumArchitecture = LINE, **kw: Any
) -> CircuitValidationError:
    with pytest.raises(CircuitValidationError, match=match) as info:
        validate_job(definition, dqa, **kw)
    return info.value


# --------------------------------------------------------------------------------------------------
# Rule 1: batch, names, instructions
# --------------------------------------------------------------------------------------------------


def test_rule1_valid_circuit_passes() -> None:
    ok(job(circ(prx("QB1"), cz("QB1", "QB2"), measure("QB1"), measure("QB2"))))


def test_rule1_empty_batch() -> None:
    bad(job(), "at least one circuit")


def test_rule1_empty_name() -> None:
    bad(job(circ(measure("QB1"), name="")), "name must be a non-empty string")


def test_rule1_no_instructions() -> None:
    bad(job(Circuit(name="empty", instructions=())), "Circuit 'empty' has no instructions")


def test_rule1_batch_index_in_message() -> None:
    err = bad(job(circ(measure("QB1"), name="a"), circ(prx("QB9"), name="b")), "batch index 1")
    assert "Circuit 'b' (batch index 1), instruction 0" in str(err)


# --------------------------------------------------------------------------------------------------
# Rule 2: instruction names
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["h", "PRX", "measurement", ""])
def test_rule2_unknown_names(name: str) -> None:
    err = bad(job(circ(Instruction(name, ("QB1",), {}), measure("QB1"))), "unknown instruction")
    assert "allowed are prx, cc_prx, cz, move, measure, reset, barrier, delay" in str(err)


def test_rule2_known_operations_list() -> None:
    assert set(KNOWN_OPERATIONS) == {"prx", "cc_prx", "cz", "move", "measure", "reset", "barrier", "delay"}


# --------------------------------------------------------------------------------------------------
# Rule 3: arity and repeated components
# --------------------------------------------------------------------------------------------------


def test_rule3_multi_component_measure_reset_barrier_delay_pass() -> None:
    ok(
        job(
            circ(
                Instruction("reset", ("QB1", "QB2"), {}),
                Instruction("barrier", ("QB1", "QB2", "QB3", "QB4"), {}),
                Instruction("delay", ("QB1", "QB3"), {"duration": 1e-6}),
                measure("QB1", "QB2", key="both"),
            )
        )
    )


@pytest.mark.parametrize(
    ("inst", "match"),
    [
        (Instruction("prx", ("QB1", "QB2"), {"angle": 1.0, "phase": 0.0}), "prx takes exactly 1 component, got 2"),
        (Instruction("cc_prx", (), {}), "cc_prx takes exactly 1 component, got 0"),
        (Instruction("cz", ("QB1",), {}), "cz takes exactly 2 components, got 1"),
        (Instruction("move", ("QB1", "QB2", "QB3"), {}), "move takes exactly 2 components, got 3"),
        (Instruction("measure", (), {"key": "k"}), "measure needs at least one component"),
        (Instruction("barrier", (), {}), "barrier needs at least one component"),
        (Instruction("cz", ("QB1", "QB1"), {}), "appears more than once"),
        (Instruction("barrier", ("QB1", "QB2", "QB1"), {}), "appears more than once"),
    ],
)
def test_rule3_arity_and_repeats(inst: Instruction, match: str) -> None:
    bad(job(circ(inst, measure("QB4"))), match)


def test_rule3_locus_as_list_is_accepted() -> None:
    ok(job(circ(Instruction("cz", ["QB1", "QB2"], {}), measure("QB1"))))  # type: ignore[arg-type]


def test_rule3_locus_of_non_strings() -> None:
    bad(job(circ(Instruction("cz", (1, 2), {}), measure("QB1"))), "locus must be a list of component names")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# Rule 4: arguments
# --------------------------------------------------------------------------------------------------


def test_rule4_integers_accepted_for_floats() -> None:
    ok(job(circ(prx("QB1", 1, 0), Instruction("delay", ("QB1",), {"duration": 0}), measure("QB1"))))


def test_rule4_measure_with_optional_feedback_key() -> None:
    ok(job(circ(measure("QB1", key="k", feedback_key="k"))))


@pytest.mark.parametrize(
    ("inst", "match"),
    [
        (Instruction("prx", ("QB1",), {"angle": 1.0}), "missing argument 'phase'; prx takes angle, phase"),
        (Instruction("prx", ("QB1",), {"angle": 1.0, "phase": 0.0, "x": 1}), "unexpected argument 'x'"),
        (Instruction("prx", ("QB1",), {"angle": "1.0", "phase": 0.0}), "'angle' must be a number"),
        (Instruction("prx", ("QB1",), {"angle": True, "phase": 0.0}), "'angle' must be a number"),
        (Instruction("prx", ("QB1",), {"angle": math.nan, "phase": 0.0}), "'angle' must be a finite number"),
        (Instruction("prx", ("QB1",), {"angle": 1.0, "phase": math.inf}), "'phase' must be a finite number"),
        (Instruction("measure", ("QB1",), {}), "missing argument 'key'"),
        (Instruction("measure", ("QB1",), {"key": 3}), "'key' must be a string"),
        (Instruction("measure", ("QB1",), {"key": "k", "feedback_key": 1}), "'feedback_key' must be a string"),
        (Instruction("measure", ("QB1",), {"key": "k", "other": "x"}), "unexpected argument 'other'"),
        (Instruction("delay", ("QB1",), {"duration": -1e-9}), "non-negative"),
        (Instruction("delay", ("QB1",), {}), "missing argument 'duration'"),
        (Instruction("barrier", ("QB1",), {"x": 1}), "barrier takes no arguments"),
        (Instruction("cz", ("QB1", "QB2"), {"angle": 1.0}), "cz takes no arguments"),
        (Instruction("reset", ("QB1",), {"a": 1}), "reset takes no arguments"),
        (Instruction("cz", ("QB1", "QB2"), None), "args must be an object"),  # type: ignore[arg-type]
        (
            Instruction("cc_prx", ("QB1",), {"angle": 1.0, "phase": 0.0, "feedback_key": "k"}),
            "missing argument 'feedback_qubit'",
        ),
    ],
)
def test_rule4_bad_arguments(inst: Instruction, match: str) -> None:
    bad(job(circ(measure("QB1", key="k", feedback_key="k"), inst)), match)


# --------------------------------------------------------------------------------------------------
# Rule 5: implementation
# --------------------------------------------------------------------------------------------------


def test_rule5_known_implementation_passes() -> None:
    ok(job(circ(prx("QB1", implementation="drag_gaussian"), prx("QB1", implementation="special"), measure("QB1"))))


def test_rule5_unknown_implementation() -> None:
    err = bad(job(circ(prx("QB1", implementation="nope"), measure("QB1"))), "implementation 'nope'")
    assert "drag_gaussian, special" in str(err)


def test_rule5_implementation_on_gate_without_entry() -> None:
    inst = Instruction("barrier", ("QB1",), {}, implementation="x")
    bad(job(circ(inst, measure("QB1"))), "implementation 'x' is not calibrated for barrier; use null")


def test_rule5_implementation_restricts_loci() -> None:
    # "special" is calibrated on QB1 only, although prx in general is calibrated everywhere.
    bad(job(circ(prx("QB2", implementation="special"), measure("QB2"))), r"prx \(special\) is calibrated on QB1$")


# --------------------------------------------------------------------------------------------------
# Rule 6: loci
# --------------------------------------------------------------------------------------------------


def test_rule6_unknown_component() -> None:
    err = bad(job(circ(prx("QB9"), measure("QB1"))), "QB9 is not a component of this quantum computer")
    assert "it has QB1, QB2, QB3, QB4" in str(err)


def test_rule6_cz_uncoupled_pair_message() -> None:
    definition = job(circ(prx("QB1"), prx("QB2"), cz("QB1", "QB3"), measure("QB1"), name="bell"))
    err = bad(definition, "not a coupled pair")
    assert str(err) == (
        "Circuit 'bell', instruction 2 (cz on QB1, QB3): QB1–QB3 is not a coupled pair; "
        "cz is calibrated on QB1–QB2, QB2–QB3, QB3–QB4"
    )


def test_rule6_cz_either_order() -> None:
    ok(job(circ(cz("QB2", "QB1"), cz("QB4", "QB3"), measure("QB1"))))


def test_rule6_long_lists_are_shortened() -> None:
    names = [f"QB{i}" for i in range(1, 21)]
    dqa = make_dqa(names, [(names[i], names[i + 1]) for i in range(19)])
    err = bad(job(circ(cz("QB1", "QB20"), measure("QB1"))), "and 13 more", dqa=dqa)
    # The pairs touching QB1 or QB20 come first, then the rest in DQA order.
    assert str(err).endswith("cz is calibrated on QB1–QB2, QB19–QB20, QB2–QB3, QB3–QB4, QB4–QB5, QB5–QB6 and 13 more")


def test_rule6_prx_on_uncalibrated_qubit() -> None:
    dqa = make_dqa(["QB1", "QB2"], prx=["QB1"])
    bad(job(circ(prx("QB2"), measure("QB2"))), "prx is not calibrated on QB2; prx is calibrated on QB1", dqa=dqa)


def test_rule6_measure_on_unmeasurable_qubit() -> None:
    dqa = make_dqa(["QB1", "QB2"], measure=["QB1"])
    bad(job(circ(measure("QB1", "QB2"))), "QB2 cannot be measured; measure is calibrated on QB1", dqa=dqa)


def test_rule6_gate_missing_from_dqa() -> None:
    dqa = make_dqa(["QB1", "QB2"])  # no cz at all
    bad(job(circ(cz("QB1", "QB2"), measure("QB1"))), "cz is not calibrated on this quantum computer", dqa=dqa)


def test_rule6_cc_prx_must_be_in_dqa() -> None:
    dqa = make_dqa(["QB1", "QB2"], cc_prx=[])
    definition = job(circ(measure("QB1", key="k", feedback_key="k"), cc_prx("QB2", "k", "QB1")))
    bad(definition, "cc_prx is calibrated on nothing", dqa=dqa)


def test_rule6_barrier_delay_reset_on_any_component() -> None:
    ok(
        job(
            circ(
                Instruction("barrier", ("QB1", "COMP_R"), {}),
                Instruction("delay", ("COMP_R",), {"duration": 1e-8}),
                Instruction("reset", ("QB3",), {}),
                measure("QB1"),
            )
        ),
        dqa=STAR,
    )


def test_rule6_move_locus_reversed_is_refused() -> None:
    bad(job(circ(move("COMP_R", "QB1"), measure("QB3"))), "COMP_R→QB1 is not a calibrated MOVE locus", dqa=STAR)


def test_rule6_cz_to_resonator() -> None:
    ok(job(circ(cz("COMP_R", "QB3"), measure("QB3"))), dqa=STAR)


# --------------------------------------------------------------------------------------------------
# Rule 7: unique measurement keys
# --------------------------------------------------------------------------------------------------


def test_rule7_unique_keys_pass_and_keys_may_repeat_across_circuits() -> None:
    ok(job(circ(measure("QB1", key="k")), circ(measure("QB1", key="k"), name="d")))


def test_rule7_duplicate_key() -> None:
    bad(job(circ(measure("QB1", key="k"), measure("QB2", key="k"))), "measurement key 'k' is already used")


# --------------------------------------------------------------------------------------------------
# Rule 8: classical control
# --------------------------------------------------------------------------------------------------


def test_rule8_cc_prx_after_feedback_measure() -> None:
    ok(job(circ(measure("QB1", key="k", feedback_key="k"), cc_prx("QB2", "k", "QB1"))))


def test_rule8_feedback_key_unknown() -> None:
    bad(job(circ(measure("QB1", key="k", feedback_key="k"), cc_prx("QB2", "j", "QB1"))), "does not name an earlier")


def test_rule8_measure_without_feedback_key() -> None:
    bad(job(circ(measure("QB1", key="k"), cc_prx("QB2", "k", "QB1"))), "does not name an earlier measure")


def test_rule8_cc_prx_before_measure() -> None:
    bad(job(circ(cc_prx("QB2", "k", "QB1"), measure("QB1", key="k", feedback_key="k"))), "does not name an earlier")


def test_rule8_wrong_feedback_qubit() -> None:
    err = bad(job(circ(measure("QB1", key="k", feedback_key="k"), cc_prx("QB2", "k", "QB3"))), "feedback_qubit")
    assert "'QB3' is not the qubit measured for 'k' (QB1)" in str(err)


# --------------------------------------------------------------------------------------------------
# Rule 9: MOVE sandwiches
# --------------------------------------------------------------------------------------------------


def test_rule9_sandwich_passes() -> None:
    definition = job(
        circ(
            prx("QB1"),
            move("QB1", "COMP_R"),
            cz("QB2", "COMP_R"),
            Instruction("barrier", ("QB1", "QB2"), {}),
            move("QB1", "COMP_R"),
            measure("QB1"),
        )
    )
    ok(definition, dqa=STAR)


def test_rule9_unclosed_sandwich() -> None:
    definition = job(circ(move("QB1", "COMP_R"), measure("QB2")))
    bad(definition, r"ends while a qubit state is still in a resonator \(QB1 in COMP_R\)", dqa=STAR)


def test_rule9_unclosed_sandwich_allowed_when_validation_off() -> None:
    ok(
        job(circ(move("QB1", "COMP_R"), measure("QB2")), move_gate_validation="none", move_gate_frame_tracking="none"),
        dqa=STAR,
    )


@pytest.mark.parametrize(
    ("mode", "tracking", "passes"),
    [("strict", "full", False), ("allow_prx", "full", True), ("none", "none", True)],
)
def test_rule9_prx_inside_sandwich(mode: str, tracking: str, passes: bool) -> None:
    definition = job(
        circ(move("QB1", "COMP_R"), prx("QB1"), move("QB1", "COMP_R"), measure("QB1")),
        move_gate_validation=mode,
        move_gate_frame_tracking=tracking,
    )
    if passes:
        ok(definition, dqa=STAR)
    else:
        err = bad(definition, "the state of QB1 is in a resonator", dqa=STAR)
        assert "only barrier may act" in str(err)


@pytest.mark.parametrize("mode", ["strict", "allow_prx"])
def test_rule9_measure_inside_sandwich_always_refused(mode: str) -> None:
    definition = job(
        circ(move("QB1", "COMP_R"), measure("QB1"), move("QB1", "COMP_R"), measure("QB2")),
        move_gate_validation=mode,
    )
    bad(definition, "the state of QB1 is in a resonator", dqa=STAR)


def test_rule9_second_qubit_into_occupied_resonator() -> None:
    definition = job(circ(move("QB1", "COMP_R"), move("QB2", "COMP_R"), measure("QB3")))
    bad(definition, "COMP_R already holds the state of QB1", dqa=STAR)


def test_rule9_qubit_in_two_resonators() -> None:
    definition = job(circ(move("QB1", "R1"), move("QB1", "R2"), measure("QB2")))
    bad(definition, "the state of QB1 is already in another resonator", dqa=TWO_RESONATORS)


def test_rule9_move_without_move_in_dqa() -> None:
    bad(job(circ(move("QB1", "QB2"), measure("QB1"))), "move is not calibrated on this quantum computer")


def test_rule9_move_between_qubits_refused_even_if_listed() -> None:
    dqa = make_dqa(["QB1", "QB2"], resonators=["R"], move=[("QB1", "QB2"), ("QB1", "R")])
    bad(
        job(circ(move("QB1", "QB2"), measure("QB1"))),
        "a MOVE must go from a qubit to a computational resonator",
        dqa=dqa,
    )


# --------------------------------------------------------------------------------------------------
# Rule 10: options
# --------------------------------------------------------------------------------------------------


def test_rule10_good_options_pass() -> None:
    ok(
        job(
            circ(measure("QB1")),
            shots=1000,
            heralding_mode="zeros",
            move_gate_validation="none",
            move_gate_frame_tracking="no_detuning_correction",
        )
    )


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"shots": 0}, "shots must be a positive integer"),
        ({"heralding_mode": "ones"}, "heralding_mode must be one of"),
        ({"move_gate_validation": "none"}, "requires move_gate_validation"),  # frame tracking defaults to full
        ({"dd_mode": "on"}, "dd_mode must be one of"),
    ],
)
def test_rule10_bad_options(params: dict[str, Any], match: str) -> None:
    bad(job(circ(measure("QB1")), **params), match)


# --------------------------------------------------------------------------------------------------
# Extra limits, error class, qubit mapping, index cache
# --------------------------------------------------------------------------------------------------


def test_max_components() -> None:
    definition = job(circ(Instruction("barrier", ("QB1", "QB2", "QB3"), {}), measure("QB1")))
    ok(definition, max_components=3)
    bad(definition, "uses 3 components; at most 2 are allowed", max_components=2)


def test_no_measurements() -> None:
    definition = job(circ(prx("QB1"), name="x"))
    bad(definition, "Circuit 'x' has no measurements")
    ok(definition, require_measurements=False)


def test_error_class_is_the_one_given() -> None:
    with pytest.raises(ValidationError) as info:
        validate_job(job(circ(prx("QB9"))), LINE, error=ValidationError)
    assert type(info.value) is ValidationError


def test_qubit_mapping_translates_logical_names() -> None:
    mapping = {"a": "QB1", "b": "QB2"}
    ok(job(circ(cz("a", "b"), measure("a")), qubit_mapping=mapping))
    bad(job(circ(cz("a", "c"), measure("a")), qubit_mapping=mapping), "c is not in qubit_mapping")
    bad(job(circ(measure("a")), qubit_mapping={"a": "QB1", "b": "QB1"}), "same physical qubit")
    bad(job(circ(measure("a")), qubit_mapping={"a": "QB9"}), "maps a to QB9")


def test_index_is_cached_per_dqa_object() -> None:
    assert index_for(LINE) is index_for(LINE)
    assert index_for(STAR) is not index_for(LINE)
    fresh = make_dqa(["QB1"])
    assert isinstance(index_for(fresh), ArchitectureIndex)
    assert index_for(fresh).components == frozenset({"QB1"})


def test_big_batch_is_fast() -> None:
    names = [f"QB{i}" for i in range(1, 21)]
    dqa = make_dqa(names, [(names[i], names[i + 1]) for i in range(19)])
    instructions = []
    for layer in range(5):
        instructions += [prx(q, 0.1 * layer, 0.2) for q in names]
        instructions += [cz(names[i], names[i + 1]) for i in range(0, 19, 2)]
    instructions.append(Instruction("barrier", tuple(names), {}))
    instructions += [measure(q, key=f"c_20_0_{i}") for i, q in enumerate(names)]
    definition = job(*(circ(*instructions, name=f"c{i}") for i in range(1000)))
    start = time.perf_counter()
    validate_job(definition, dqa, max_components=20)
    # About 0.1 s on a laptop; the bound only guards against a quadratic or per-instruction-setup regression.
    assert time.perf_counter() - start < 3.0


# --------------------------------------------------------------------------------------------------
# Property: junk input only ever raises the given error class
# --------------------------------------------------------------------------------------------------


class Refused(Exception):
    pass


_component = st.sampled_from(["QB1", "QB2", "QB3", "COMP_R", "QB9", ""])
_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.sampled_from(["k", "QB1", "QB2"]),
)
_value = st.one_of(_scalar, st.lists(_scalar, max_size=3), st.dictionaries(st.text(max_size=3), _scalar, max_size=2))
_arg_name = st.one_of(
    st.sampled_from(["angle", "phase", "key", "feedback_key", "feedback_qubit", "duration"]), st.text(max_size=4)
)
_args = st.one_of(
    st.dictionaries(_arg_name, _value, max_size=5),
    st.dictionaries(st.one_of(st.integers(), st.none()), _value, max_size=2),
    _value,
)
_locus = st.one_of(
    st.tuples(_component),
    st.tuples(_component, _component),
    st.lists(_component, max_size=4).map(tuple),
    st.lists(st.one_of(_component, st.integers(), st.none()), max_size=3),
    _scalar,
)
_name = st.one_of(st.sampled_from(list(KNOWN_OPERATIONS)), st.text(max_size=6), st.integers(), st.none())
_implementation = st.one_of(
    st.none(), st.sampled_from(["drag_gaussian", "tgss", "constant", "tgss_crf"]), st.text(max_size=4), st.integers()
)
_instruction = st.builds(Instruction, name=_name, locus=_locus, args=_args, implementation=_implementation)
_circuit = st.builds(
    Circuit,
    name=st.one_of(st.just("c"), st.text(max_size=3), st.none(), st.integers()),
    instructions=st.one_of(st.lists(_instruction, max_size=8).map(tuple), st.lists(_instruction, max_size=3)),
    metadata=st.none(),
)
_params = st.builds(
    JobParameters,
    shots=st.one_of(st.integers(min_value=-2, max_value=5), st.booleans()),
    move_gate_validation=st.sampled_from(["strict", "allow_prx", "none", "bogus"]),
    move_gate_frame_tracking=st.sampled_from(["full", "none", "no_detuning_correction"]),
    qubit_mapping=st.one_of(st.none(), st.dictionaries(st.text(max_size=3), _component, max_size=3)),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    circuits=st.lists(_circuit, max_size=3),
    params=_params,
    dqa=st.sampled_from([LINE, STAR, TWO_RESONATORS]),
    max_components=st.one_of(st.none(), st.integers(min_value=0, max_value=4)),
    require=st.booleans(),
)
def test_junk_only_raises_the_given_error(
    circuits: list[Circuit],
    params: JobParameters,
    dqa: DynamicQuantumArchitecture,
    max_components: int | None,
    require: bool,
) -> None:
    definition = CircuitJobDefinition(circuits=tuple(circuits), parameters=params)
    try:
        validate_job(definition, dqa, max_components=max_components, require_measurements=require, error=Refused)
    except Refused as exc:
        assert str(exc)  # every refusal says something


@settings(max_examples=200, deadline=None)
@given(
    ops=st.lists(
        st.one_of(
            st.builds(prx, _component),
            st.builds(cz, _component, _component),
            st.builds(move, _component, _component),
            st.builds(lambda q: measure(q), _component),
            st.builds(lambda q: Instruction("barrier", (q,), {}), _component),
        ),
        min_size=1,
        max_size=10,
    ),
    mode=st.sampled_from(["strict", "allow_prx"]),
)
def test_well_typed_sequences_only_raise_the_given_error(ops: list[Instruction], mode: str) -> None:
    definition = job(circ(*ops), move_gate_validation=mode)
    try:
        validate_job(definition, STAR, error=Refused)
    except Refused as exc:
        assert str(exc).startswith("Circuit 'c'")  # each refusal names the circuit
