"""Wire models: round trips, the spec's example shapes, tolerance of unknown fields, typed parse errors."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iqm_async.errors import MalformedResponseError, ValidationError
from iqm_async.models import (
    CircuitJobDefinition,
    DynamicQuantumArchitecture,
    JobData,
    QuantumComputer,
    StaticQuantumArchitecture,
    parse_measurement_key,
)

CALSET = "26c5e70f-bea0-43af-bd37-6212ec7d04cb"

SPEC_SUBMIT = {
    "circuits": [
        {
            "name": "two_regs",
            "instructions": [
                {
                    "name": "prx",
                    "locus": ["QB1"],
                    "args": {"angle": 3.141592653589793, "phase": 0.0},
                    "implementation": None,
                },
                {"name": "measure", "locus": ["QB1"], "args": {"key": "a_2_0_0"}, "implementation": None},
                {"name": "measure", "locus": ["QB2"], "args": {"key": "a_2_0_1"}, "implementation": None},
                {"name": "measure", "locus": ["QB3"], "args": {"key": "b_1_1_0"}, "implementation": None},
            ],
            "metadata": {"note": "x"},
        }
    ],
    "calibration_set_id": CALSET,
    "qubit_mapping": None,
    "shots": 8,
    "max_circuit_duration_over_t2": None,
    "heralding_mode": "none",
    "move_gate_validation": "strict",
    "move_gate_frame_tracking": "full",
    "active_reset_cycles": None,
    "dd_mode": "disabled",
    "dd_strategy": None,
    "move_validation_mode": "strict",
    "move_gate_frame_tracking_mode": "full",
}


def test_submit_body_round_trips_exactly_as_the_spec_example() -> None:
    definition = CircuitJobDefinition.from_json(SPEC_SUBMIT)
    assert definition.to_json() == SPEC_SUBMIT
    assert definition.circuits[0].measurement_keys() == ["a_2_0_0", "a_2_0_1", "b_1_1_0"]


def test_server_accepts_old_alias_names_and_new_names_win() -> None:
    body = {"circuits": SPEC_SUBMIT["circuits"], "move_validation_mode": "allow_prx"}
    assert CircuitJobDefinition.from_json(body).parameters.move_gate_validation == "allow_prx"
    body["move_gate_validation"] = "none"
    body["move_gate_frame_tracking"] = "none"
    assert CircuitJobDefinition.from_json(body).parameters.move_gate_validation == "none"


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"shots": 0}, "shots"),
        ({"shots": -5}, "shots"),
        ({"shots": True}, "shots"),
        ({"shots": 1.5}, "shots"),
        ({"heralding_mode": "ones"}, "heralding_mode"),
        ({"circuits": []}, "at least one circuit"),
        ({"calibration_set_id": "nope"}, "UUID"),
        ({"move_gate_validation": "none", "move_gate_frame_tracking": "full"}, "frame_tracking"),
        ({"circuits": [{"name": "x"}]}, "instructions"),
    ],
)
def test_bad_submit_bodies_are_validation_errors(change, match) -> None:
    with pytest.raises(ValidationError, match=match):
        CircuitJobDefinition.from_json({**SPEC_SUBMIT, **change})


def test_job_data_waiting_example_and_unknown_fields() -> None:
    raw = {
        "id": "de8c4ab1-a8c1-46cc-b200-a815c1be3311",
        "type": "circuit",
        "status": "waiting",
        "execution": None,
        "compilation": {"calibration_set_id": CALSET},
        "messages": [],
        "errors": [],
        "queue_position": 2,
        "timeline": [{"source": "iqm-server", "status": "created", "timestamp": "2026-11-24T02:49:28.207477Z"}],
        "artifacts": [],
        "brand_new_field": {"x": 1},
    }
    job = JobData.from_json(raw)
    assert job.queue_position == 2 and not job.is_final and job.calibration_set_id == CALSET
    assert job.timeline[0].timestamp.tzinfo is not None
    again = job.to_json()
    del raw["brand_new_field"]
    assert again == raw


def test_job_data_minimal_uses_defaults_and_keeps_unknown_status() -> None:
    job = JobData.from_json({"id": "x", "status": "compiling"})
    assert job.status == "compiling" and not job.is_final and job.errors == () and job.type == "circuit"


def test_job_data_progress_and_errors() -> None:
    job = JobData.from_json(
        {
            "id": "x",
            "status": "failed",
            "execution": {"progress": {"circuits": {"value": 1, "max_value": 3}}},
            "errors": [{"message": "boom", "error_code": "circuit_too_long"}, {"detail": "legacy"}],
        }
    )
    assert job.progress == (1, 3) and job.is_final
    assert [e.message for e in job.errors] == ["boom", "legacy"]
    assert job.errors[0].source == "iqm-server"


@pytest.mark.parametrize(
    "raw",
    [
        None,
        [],
        {"status": "waiting"},
        {"id": 5, "status": "waiting"},
        {"id": "x"},
        {"id": "x", "status": "waiting", "timeline": [{"status": "created", "timestamp": "yesterday"}]},
        {"id": "x", "status": "waiting", "queue_position": "3"},
        {"id": "x", "status": "waiting", "execution": {"progress": {"c": {"value": "1"}}}},
    ],
)
def test_bad_job_data_is_malformed_response(raw) -> None:
    with pytest.raises(MalformedResponseError):
        JobData.from_json(raw)


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
        max_leaves=12,
    )
)
def test_parsers_only_raise_typed_errors(raw) -> None:
    for parse in (
        JobData.from_json,
        DynamicQuantumArchitecture.from_json,
        StaticQuantumArchitecture.from_json,
        QuantumComputer.list_from_json,
        lambda o: CircuitJobDefinition.from_json(o, error=MalformedResponseError),
    ):
        try:
            parse(raw)
        except MalformedResponseError:
            pass


def test_dqa_round_trip_and_loci_union() -> None:
    raw = {
        "calibration_set_id": CALSET,
        "qubits": ["QB1", "QB2"],
        "computational_resonators": [],
        "gates": {
            "cz": {
                "implementations": {
                    "tgss": {"loci": [["QB1", "QB2"]]},
                    "crf": {"loci": [["QB2", "QB1"], ["QB1", "QB2"]]},
                },
                "default_implementation": "tgss",
                "override_default_implementation": {"QB1,QB2": "crf"},
            }
        },
    }
    dqa = DynamicQuantumArchitecture.from_json(json.loads(json.dumps(raw)))
    assert dqa.to_json() == raw
    assert dqa.gates["cz"].loci == (("QB1", "QB2"), ("QB2", "QB1"))


@pytest.mark.parametrize(
    ("key", "parts"),
    [("a_2_0_1", ("a", 2, 0, 1)), ("my_reg_name_3_2_0", ("my_reg_name", 3, 2, 0)), ("c_10_1_9", ("c", 10, 1, 9))],
)
def test_measurement_keys(key, parts) -> None:
    assert parse_measurement_key(key) == parts


@pytest.mark.parametrize("key", ["a_2_0", "a_x_0_1", "a_2_0_2", "plain", "a_-1_0_0"])
def test_bad_measurement_keys(key) -> None:
    with pytest.raises(ValueError):
        parse_measurement_key(key)
