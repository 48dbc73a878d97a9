"""Shapes and error bodies of E1–E12 over real HTTP."""

from __future__ import annotations

import uuid

import httpx
import pytest
from srvkit import WAIT, assert_error, bell, inst, job, measure, prx, submit, x_circuit

from iqm_async.models import CircuitJobDefinition, DynamicQuantumArchitecture, JobData, StaticQuantumArchitecture
from iqm_async.server import ServerState
from iqm_async.server.config import DEFAULT_CALIBRATION_SET_ID, DEFAULT_QC_ID


def test_quantum_computers(client: httpx.Client) -> None:
    r = client.get("/api/v1/quantum-computers")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {
        "quantum_computers": [
            {"id": DEFAULT_QC_ID, "alias": "sim", "display_name": "iqm_async simulator", "proxy_path": None}
        ]
    }


def test_default_dqa_square_lattice(client: httpx.Client) -> None:
    r = client.get("/api/v1/calibration-sets/sim/default/dynamic-quantum-architecture")
    assert r.status_code == 200
    body = r.json()
    dqa = DynamicQuantumArchitecture.from_json(body)
    assert dqa.calibration_set_id == DEFAULT_CALIBRATION_SET_ID
    assert dqa.qubits == tuple(f"QB{i}" for i in range(1, 21))
    assert dqa.computational_resonators == ()
    assert set(body["gates"]) == {"prx", "cc_prx", "cz", "measure"}
    for gate in body["gates"].values():
        assert set(gate) == {"implementations", "default_implementation", "override_default_implementation"}
        assert gate["default_implementation"] in gate["implementations"]
    cz = {frozenset(locus) for locus in dqa.gates["cz"].loci}
    # 4 rows x 5 columns: 4*4 horizontal + 3*5 vertical couplings
    assert len(cz) == 31
    assert frozenset({"QB1", "QB2"}) in cz and frozenset({"QB1", "QB6"}) in cz
    assert frozenset({"QB5", "QB6"}) not in cz  # row ends do not wrap
    assert dqa.gates["measure"].loci == tuple((q,) for q in dqa.qubits)


def test_dqa_by_uuid_and_errors(client: httpx.Client, state: ServerState) -> None:
    r = client.get(f"/api/v1/calibration-sets/sim/{DEFAULT_CALIBRATION_SET_ID.upper()}/dynamic-quantum-architecture")
    assert r.status_code == 200
    assert r.json()["calibration_set_id"] == DEFAULT_CALIBRATION_SET_ID

    assert_error(
        client.get(f"/api/v1/calibration-sets/sim/{uuid.uuid4()}/dynamic-quantum-architecture"),
        404,
        "calibration_set_not_found",
    )
    assert_error(
        client.get("/api/v1/calibration-sets/sim/latest/dynamic-quantum-architecture"), 422, "validation_error"
    )
    assert_error(
        client.get("/api/v1/calibration-sets/garnet/default/dynamic-quantum-architecture"),
        404,
        "quantum_computer_not_found",
    )

    extra = state.add_calibration_set(make_default=True)
    r = client.get("/api/v1/calibration-sets/sim/default/dynamic-quantum-architecture")
    assert r.json()["calibration_set_id"] == extra
    r = client.get(f"/api/v1/calibration-sets/sim/{DEFAULT_CALIBRATION_SET_ID}/dynamic-quantum-architecture")
    assert r.status_code == 200


def test_static_architecture_is_a_list_of_one(client: httpx.Client) -> None:
    r = client.get("/api/v1/quantum-computers/sim/artifacts/static-quantum-architectures")
    assert r.status_code == 200
    body = r.json()
    assert isinstance(body, list) and len(body) == 1
    sqa = StaticQuantumArchitecture.from_json(body)
    assert sqa.dut_label
    assert len(sqa.qubits) == 20 and len(sqa.connectivity) == 31
    assert_error(
        client.get("/api/v1/quantum-computers/nope/artifacts/static-quantum-architectures"),
        404,
        "quantum_computer_not_found",
    )


def test_health_and_about(client: httpx.Client, state: ServerState) -> None:
    state.hold()
    job_id = submit(client)
    r = client.get("/api/v1/quantum-computers/sim/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "queue_length": 1, "processing_job_id": None}
    state.release()
    assert state.wait_for_status(job_id, timeout=WAIT) == "completed"

    about = client.get("/api/v1/about")
    assert about.status_code == 200 and isinstance(about.json(), dict)
    qc_about = client.get("/api/v1/quantum-computers/sim/artifacts/about").json()
    assert isinstance(qc_about["version"], str)
    assert all(isinstance(v, str) for v in qc_about["software_versions"].values())
    assert "qiskit-aer" in qc_about["software_versions"]
    assert_error(client.get("/api/v1/quantum-computers/x/health"), 404, "quantum_computer_not_found")
    assert_error(client.get("/api/v1/quantum-computers/x/artifacts/about"), 404, "quantum_computer_not_found")


def test_submit_returns_waiting_job_data(client: httpx.Client, state: ServerState) -> None:
    state.hold()
    r = client.post("/api/v1/jobs/sim/circuit?use_timeslot=true", json=job(bell(), shots=10))
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {
        "id",
        "type",
        "status",
        "execution",
        "compilation",
        "messages",
        "errors",
        "queue_position",
        "timeline",
        "artifacts",
    }
    data = JobData.from_json(body)
    assert uuid.UUID(data.id)
    assert (data.type, data.status, data.queue_position) == ("circuit", "waiting", 0)
    assert body["execution"] is None
    assert body["compilation"] == {"calibration_set_id": DEFAULT_CALIBRATION_SET_ID}
    assert body["messages"] == [] and body["errors"] == [] and body["artifacts"] == []
    assert [(t["source"], t["status"]) for t in body["timeline"]] == [("iqm-server", "created")]
    assert body["timeline"][0]["timestamp"].endswith("Z")
    assert client.get(f"/api/v1/jobs/{data.id}").json()["status"] == "waiting"


def test_payload_is_the_normalised_definition(client: httpx.Client) -> None:
    body = {
        "circuits": [bell()],
        "shots": 7,
        "move_validation_mode": "allow_prx",  # deprecated name only
        "some_future_field": 1,
    }
    job_id = submit(client, body)
    payload = client.get(f"/api/v1/jobs/{job_id}/payload").json()
    definition = CircuitJobDefinition.from_json(payload)
    assert definition.parameters.shots == 7
    assert definition.parameters.move_gate_validation == "allow_prx"
    assert payload["move_validation_mode"] == payload["move_gate_validation"] == "allow_prx"
    assert payload["calibration_set_id"] is None
    assert payload["circuits"] == [bell()]
    assert "some_future_field" not in payload


def test_submit_with_explicit_calibration_set_and_qubit_mapping(client: httpx.Client, state: ServerState) -> None:
    circuit = {"name": "logical", "instructions": [prx("a", 3.141592653589793), measure("m_1_0_0", "a")]}
    body = job(
        circuit,
        shots=5,
        calibration_set_id=DEFAULT_CALIBRATION_SET_ID,
        qubit_mapping=[{"logical_name": "a", "physical_name": "QB7"}],
    )
    job_id = submit(client, body)
    assert state.wait_for_status(job_id, timeout=WAIT) == "completed"
    assert client.get(f"/api/v1/jobs/{job_id}/artifacts/measurements").json() == [{"m_1_0_0": [[1]] * 5}]
    assert client.get(f"/api/v1/jobs/{job_id}/payload").json()["qubit_mapping"] == [
        {"logical_name": "a", "physical_name": "QB7"}
    ]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (job(shots=0), "shots"),
        (job(shots=-3), "shots"),
        (job(shots=1_000_001), "at most"),
        ({"circuits": []}, "circuit"),
        (job({"name": "c", "instructions": [inst("h", "QB1")]}), "h"),
        (job({"name": "c", "instructions": [prx("QB99", 1.0), measure("k_1_0_0", "QB99")]}), "QB99"),
        (job({"name": "c", "instructions": [inst("cz", "QB1", "QB3"), measure("k_1_0_0", "QB1")]}), "cz"),
        (job({"name": "c", "instructions": [measure("k_1_0_0", "QB1"), measure("k_1_0_0", "QB2")]}), "k_1_0_0"),
        (job({"name": "c", "instructions": [inst("prx", "QB1", angle="x", phase=0.0)]}), "angle"),
        (job(bell(), heralding_mode="sometimes"), "heralding_mode"),
        (job(bell(), calibration_set_id=str(uuid.UUID(int=5))), "alibration set"),
        (job(bell(), qubit_mapping=[{"logical_name": "a", "physical_name": "QB1"}]), "QB1"),
        ({"circuits": "nope"}, "circuits"),
    ],
)
def test_submit_validation_errors(client: httpx.Client, state: ServerState, body: object, fragment: str) -> None:
    r = client.post("/api/v1/jobs/sim/circuit", json=body)
    error = assert_error(r, 422, "validation_error")
    assert fragment in error["message"]
    assert state.stats()["jobs_created"] == 0


def test_submit_to_unknown_quantum_computer(client: httpx.Client) -> None:
    assert_error(client.post("/api/v1/jobs/garnet/circuit", json=job()), 404, "quantum_computer_not_found")


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b'"text"', b"\xff\xfe"])
def test_submit_body_must_be_a_json_object(client: httpx.Client, content: bytes) -> None:
    r = client.post(
        "/api/v1/jobs/sim/circuit", content=content, headers={"Content-Type": "application/json; charset=UTF-8"}
    )
    assert_error(r, 400, "invalid_json")


def test_body_too_large(client: httpx.Client, state: ServerState) -> None:
    size = state.config.max_body_bytes + 1
    r = client.post("/api/v1/jobs/sim/circuit", content=b" " * size, headers={"Content-Type": "application/json"})
    assert_error(r, 413, "payload_too_large")
    assert state.stats()["jobs_created"] == 0


def test_unknown_routes_and_methods(client: httpx.Client) -> None:
    assert_error(client.get("/api/v1/nothing-here"), 404, "not_found")
    assert_error(client.get("/"), 404, "not_found")
    assert_error(client.get("/api/v1/quantum-computers/"), 404, "not_found")  # no redirect
    r = client.put("/api/v1/quantum-computers")
    assert r.status_code == 405 and r.json()["source"] == "iqm-server"


def test_unknown_job_is_404_on_every_job_endpoint(client: httpx.Client) -> None:
    missing = str(uuid.uuid4())
    for method, path in [
        ("GET", f"/api/v1/jobs/{missing}"),
        ("GET", f"/api/v1/jobs/{missing}/payload"),
        ("GET", f"/api/v1/jobs/{missing}/artifacts/measurements"),
        ("GET", f"/api/v1/jobs/{missing}/artifacts/measurement_counts"),
        ("POST", f"/api/v1/jobs/{missing}/cancel"),
        ("DELETE", f"/api/v1/jobs/{missing}"),
        ("GET", "/api/v1/jobs/not-a-uuid"),
    ]:
        assert_error(client.request(method, path), 404, "job_not_found")


def test_job_ids_are_case_insensitive(client: httpx.Client, state: ServerState) -> None:
    state.hold()
    job_id = submit(client)
    assert client.get(f"/api/v1/jobs/{job_id.upper()}").json()["id"] == job_id


def test_unknown_fields_and_integer_angles_are_accepted(client: httpx.Client, state: ServerState) -> None:
    circuit = {
        "name": "ints",
        "instructions": [
            {"name": "prx", "locus": ["QB3"], "args": {"angle": 0, "phase": 0}, "implementation": None, "x": 1},
            measure("c_1_0_0", "QB3"),
        ],
        "metadata": None,
        "extra": True,
    }
    job_id = submit(client, job(circuit, shots=3))
    assert state.wait_for_status(job_id, timeout=WAIT) == "completed"
    assert client.get(f"/api/v1/jobs/{job_id}/artifacts/measurements").json() == [{"c_1_0_0": [[0], [0], [0]]}]


def test_x_circuit_end_to_end(client: httpx.Client, state: ServerState) -> None:
    job_id = submit(client, job(x_circuit(), shots=4))
    assert state.wait_for_status(job_id, timeout=WAIT) == "completed"
    assert client.get(f"/api/v1/jobs/{job_id}/artifacts/measurement_counts").json() == [
        {"measurement_keys": ["c_1_0_0"], "counts": {"1": 4}}
    ]
