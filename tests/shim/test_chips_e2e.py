"""The facade on IQM's chip shapes (one server serving Garnet, Emerald, Sirius and Deneb shapes at once).

Covers: backends per quantum computer, IQM's coupling map and architecture, option objects on the wire,
old keywords, ``backend.client``, job definitions, registers that agree between ``run()`` and
``retrieve_job()``, job messages, and star-chip runs whose statistics are checked with chi-squared.
"""

from __future__ import annotations

import json
import uuid
import warnings
from collections.abc import Iterator
from math import pi

import pytest
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister, transpile
from scipy.stats import chisquare

from iqm_async.devices import chip
from iqm_async.server import RateLimitConfig, RunningServer, ServerConfig, serve_in_thread
from iqm_sync_shim import (
    CircuitCompilationOptions,
    DDMode,
    DDStrategy,
    HeraldingMode,
    IQMBackend,
    IQMProvider,
    MetricsNotAvailableError,
    MoveGateFrameTrackingMode,
    MoveGateValidationMode,
)
from iqm_sync_shim.sync_client import CircuitJobTracker

from .conftest import CLIENT_OPTIONS

P_MIN = 1e-6
"""Chi-squared p-value below which a distribution is taken to differ from the ideal one (never flakes)."""


@pytest.fixture(scope="module")
def chips() -> Iterator[RunningServer]:
    config = ServerConfig(
        chip="garnet", extra_chips=("emerald", "sirius", "deneb"), seed=77, rate_limit=RateLimitConfig(enabled=False)
    )
    with serve_in_thread(config) as running:
        yield running


@pytest.fixture(scope="module")
def providers(chips: RunningServer) -> Iterator[dict[str, IQMProvider]]:
    made = {
        name: IQMProvider(chips.url, quantum_computer=name, **CLIENT_OPTIONS)
        for name in ("garnet", "emerald", "sirius", "deneb")
    }
    yield made
    for p in made.values():
        p.close()


@pytest.fixture(scope="module")
def garnet(providers: dict[str, IQMProvider]) -> IQMBackend:
    return providers["garnet"].get_backend()


@pytest.fixture
def srv(chips: RunningServer) -> Iterator[RunningServer]:
    chips.state.release()
    chips.state.reset()
    yield chips
    chips.state.release()


def ghz(n: int) -> QuantumCircuit:
    qc = QuantumCircuit(n, n, name=f"ghz{n}")
    qc.h(0)
    for i in range(n - 1):
        qc.cx(i, i + 1)
    qc.measure(range(n), range(n))
    return qc


def assert_ghz(counts: dict[str, int], n: int, shots: int) -> None:
    assert set(counts) <= {"0" * n, "1" * n}
    observed = [counts.get("0" * n, 0), counts.get("1" * n, 0)]
    assert sum(observed) == shots
    assert chisquare(observed).pvalue > P_MIN


# -- backends, architecture and coupling map ---------------------------------------------------------


def test_each_quantum_computer_is_a_backend(providers: dict[str, IQMProvider], srv: RunningServer) -> None:
    for name, size in (("garnet", 20), ("emerald", 54), ("sirius", 16), ("deneb", 6)):
        backend = providers[name].get_backend()
        assert backend.name == name and backend.num_qubits == size
        assert [b.name for b in providers[name].backends()] == [name]
        assert [b.name for b in providers[name].backends(name=name)] == [name]
        assert providers[name].backends(name="other") == []
        assert backend.has_resonators() is (name in ("sirius", "deneb"))
        assert isinstance(backend.architecture.calibration_set_id, uuid.UUID)
        assert (
            str(backend.architecture.calibration_set_id) == backend.calibration_set_id == chip(name).calibration_set_id
        )
        assert backend.metrics is None


def test_coupling_map_lists_each_coupler_once_as_iqm(garnet: IQMBackend) -> None:
    edges = list(garnet.coupling_map.get_edges())
    expected = [(garnet.qubit_name_to_index(a), garnet.qubit_name_to_index(b)) for a, b in chip("garnet").cz_loci]
    assert edges == expected  # IQM's adapter gives exactly these 30, in this order, e.g. (7, 2) for QB8–QB3
    assert (7, 2) in edges and (2, 7) not in edges


def test_use_metrics_without_metrics_on_the_server_is_a_clear_typed_error(
    providers: dict[str, IQMProvider], srv: RunningServer
) -> None:
    backend = providers["garnet"].get_backend(use_metrics=True)  # served: the target carries the numbers
    assert backend.metrics is not None and backend.target["cz"][(0, 1)].error is not None
    # A server that serves no metrics (IQM Resonance today) answers the metrics path with 404.
    path = "/api/v1/calibration-sets/*/*/metrics"
    srv.state.faults.add({"match": {"method": "GET", "path": path}, "action": "status", "status": 404, "times": None})
    try:
        with pytest.raises(MetricsNotAvailableError, match="serves no quality metrics"):
            providers["garnet"].get_backend(use_metrics=True)
    finally:
        srv.state.faults.clear()
    assert issubclass(MetricsNotAvailableError, NotImplementedError)


def test_star_targets(providers: dict[str, IQMProvider]) -> None:
    deneb = providers["deneb"].get_backend()
    assert deneb.physical_qubits[-1] == "CR1"
    real = deneb.get_real_target()
    assert "move" in real.operation_names
    assert "move" in deneb.target_with_resonators.operation_names
    garnet = providers["garnet"].get_backend()
    with pytest.raises(ValueError, match="resonators"):
        garnet.target_with_resonators  # noqa: B018
    assert garnet.get_scheduling_stage_plugin()


# -- end to end on the named chips --------------------------------------------------------------------


def test_ghz_on_garnet_and_emerald(providers: dict[str, IQMProvider], srv: RunningServer) -> None:
    for name, n in (("garnet", 6), ("emerald", 10)):
        backend = providers[name].get_backend()
        job = backend.run(transpile(ghz(n), backend, seed_transpiler=3), shots=600)
        assert_ghz(job.result().get_counts(), n, 600)


@pytest.mark.parametrize("name", ["deneb", "sirius"])
def test_ghz_on_star_chips(providers: dict[str, IQMProvider], srv: RunningServer, name: str) -> None:
    backend = providers[name].get_backend()
    n = 5
    qc = transpile(ghz(n), backend, seed_transpiler=5)
    assert "move" in qc.count_ops()
    payload_job = backend.run(qc, shots=600)
    assert_ghz(payload_job.result().get_counts(), n, 600)


# -- options on the wire -----------------------------------------------------------------------------


def test_compilation_options_reach_the_wire(garnet: IQMBackend, srv: RunningServer) -> None:
    qc = transpile(ghz(2), garnet, seed_transpiler=1)
    options = CircuitCompilationOptions(
        heralding_mode=HeraldingMode.ZEROS,
        move_gate_validation=MoveGateValidationMode.ALLOW_PRX,
        move_gate_frame_tracking=MoveGateFrameTrackingMode.NO_DETUNING_CORRECTION,
        dd_mode=DDMode.ENABLED,
        dd_strategy=DDStrategy(target_qubits=frozenset({"QB2", "QB1"}), gate_sequences=[(5, "YXYX", "asap")]),
        active_reset_cycles=1,
    )
    job = garnet.run(qc, shots=10, circuit_compilation_options=options)
    payload = srv.state.store.payload(job.job_id())
    assert payload["heralding_mode"] == "zeros" and payload["dd_mode"] == "enabled"
    assert payload["move_gate_validation"] == "allow_prx"
    assert payload["move_gate_frame_tracking"] == "no_detuning_correction"
    assert payload["dd_strategy"]["target_qubits"] == ["QB1", "QB2"]
    assert payload["dd_strategy"]["gate_sequences"] == [[5, "YXYX", "asap"]]
    assert job.result().success


def test_iqm_like_pydantic_options_with_sets_serialise(garnet: IQMBackend, srv: RunningServer) -> None:
    class IQMStyleStrategy:  # the shape of IQM's pydantic DDStrategy: model_dump() keeps the frozenset
        def model_dump(self) -> dict[str, object]:
            return {"merge_contiguous_waits": True, "target_qubits": frozenset({"QB3", "QB1"}), "gate_sequences": []}

    class IQMStyleOptions:
        dd_mode = DDMode.ENABLED
        dd_strategy = IQMStyleStrategy()

    job = garnet.run(
        transpile(ghz(2), garnet, seed_transpiler=1), shots=4, circuit_compilation_options=IQMStyleOptions()
    )
    assert srv.state.store.payload(job.job_id())["dd_strategy"]["target_qubits"] == ["QB1", "QB3"]
    json.dumps(srv.state.store.payload(job.job_id()))


def test_old_keywords_warn_as_iqm(garnet: IQMBackend, srv: RunningServer) -> None:
    qc = transpile(ghz(2), garnet, seed_transpiler=1)
    message = "max_circuit_duration_over_t2 and heralding_mode are deprecated, please use circuit_compilation_options"
    with pytest.warns(DeprecationWarning, match=message):
        job = garnet.run(qc, shots=4, heralding_mode="zeros")
    assert srv.state.store.payload(job.job_id())["heralding_mode"] == "zeros"
    with pytest.warns(DeprecationWarning, match="dd_mode is deprecated"):
        job = garnet.run(qc, shots=4, dd_mode=DDMode.ENABLED)
    assert srv.state.store.payload(job.job_id())["dd_mode"] == "enabled"


def test_options_validate_as_iqm() -> None:
    with pytest.raises(ValueError, match="full MOVE gate frame tracking"):
        CircuitCompilationOptions(move_gate_validation=MoveGateValidationMode.NONE)
    assert CircuitCompilationOptions().to_job_options() == {
        "heralding_mode": "none",
        "move_gate_validation": "strict",
        "move_gate_frame_tracking": "full",
        "dd_mode": "disabled",
    }
    assert HeraldingMode.ZEROS == "zeros" and str(DDMode.ENABLED) == "enabled"


# -- backend.client, definitions ---------------------------------------------------------------------


def test_backend_client_has_iqm_methods(garnet: IQMBackend, srv: RunningServer) -> None:
    client = garnet.client
    assert client.get_dynamic_quantum_architecture().calibration_set_id == garnet.calibration_set_id
    assert client.get_dynamic_quantum_architecture(uuid.UUID(garnet.calibration_set_id)).qubits == chip("garnet").qubits
    assert client.get_static_quantum_architecture().connectivity == chip("garnet").connectivity
    assert client.get_chip_label() == chip("garnet").dut_label
    assert [qc.alias for qc in client.get_quantum_computers()] == ["garnet", "emerald", "sirius", "deneb"]
    assert client.quantum_computer_name == "garnet"

    qc = transpile(ghz(3), garnet, seed_transpiler=2)
    definition = garnet.create_circuit_job_definition(qc, shots=300)
    assert definition.parameters.shots == 300 and definition.parameters.calibration_set_id == garnet.calibration_set_id
    tracker = client.submit_circuit_job(definition)
    assert isinstance(tracker, CircuitJobTracker)
    assert tracker.wait_for_completion(timeout_secs=30) == "completed"
    (counts,) = tracker.result_counts() or [{}]
    assert set(counts["counts"]) <= {"000", "111"} and sum(counts["counts"].values()) == 300
    (measurements,) = tracker.result() or [{}]
    assert all(len(rows) == 300 for rows in measurements.values())
    # the job is an ordinary job: the backend re-attaches to it
    assert garnet.retrieve_job(str(tracker.job_id)).result().get_counts() == counts["counts"]


def test_client_cancel_and_get_job(garnet: IQMBackend, srv: RunningServer) -> None:
    srv.state.hold()
    qc = transpile(ghz(2), garnet, seed_transpiler=1)
    tracker = garnet.client.submit_circuits([garnet.serialize_circuit(qc)], shots=5)
    assert tracker.update() == "waiting"
    garnet.client.cancel_job(tracker.job_id)
    assert garnet.client.get_job(tracker.job_id).status == "cancelled"
    assert tracker.result() is None


def test_serialize_circuit_is_iqm_wire_form(garnet: IQMBackend) -> None:
    qc = QuantumCircuit(2, 2, name="bell")
    qc.r(pi / 2, pi / 2, 0)
    qc.cz(0, 1)
    qc.measure([0, 1], [0, 1])
    wire = garnet.serialize_circuit(qc)
    assert wire.name == "bell"
    assert [i.name for i in wire.instructions] == ["prx", "cz", "measure", "measure"]
    assert wire.measurement_keys() == ["c_2_0_0", "c_2_0_1"]
    assert garnet.serialize_circuit(qc, {0: "QB3", 1: "QB4"}).instructions[1].locus == ("QB3", "QB4")


# -- registers and messages --------------------------------------------------------------------------


def circuit_with_unmeasured_register() -> QuantumCircuit:
    q = QuantumRegister(2, "q")
    measured = ClassicalRegister(2, "m")
    never = ClassicalRegister(2, "never")
    qc = QuantumCircuit(q, measured, never, name="regs", metadata={"user": 1})
    qc.r(pi, 0, 0)
    qc.measure([0, 1], [0, 1])
    return qc


def test_run_and_retrieve_job_give_the_same_registers(garnet: IQMBackend, srv: RunningServer) -> None:
    job = garnet.run(circuit_with_unmeasured_register(), shots=10)
    ran = job.result()
    assert ran.get_counts() == {"00 01": 10}  # every register, as Qiskit's simulators (last register leftmost)
    retrieved = garnet.retrieve_job(job.job_id()).result()
    assert retrieved.get_counts() == ran.get_counts()
    assert retrieved.results[0].header["creg_sizes"] == ran.results[0].header["creg_sizes"] == [["m", 2], ["never", 2]]
    # the user's metadata is shown as they wrote it; the layout rides along only in the payload
    assert ran.results[0].data.metadata == retrieved.results[0].data.metadata == {"user": 1}
    assert job.circuit_metadata == [{"user": 1}]
    assert "_iqm_async_cregs" in srv.state.store.payload(job.job_id())["circuits"][0]["metadata"]


def test_payload_is_untouched_when_every_register_is_measured(garnet: IQMBackend, srv: RunningServer) -> None:
    job = garnet.run(transpile(ghz(2), garnet, seed_transpiler=1), shots=4)
    assert "_iqm_async_cregs" not in (srv.state.store.payload(job.job_id())["circuits"][0]["metadata"] or {})
    assert garnet.retrieve_job(job.job_id()).result().get_counts() == job.result().get_counts()


def test_job_messages_are_warned_once(garnet: IQMBackend, srv: RunningServer) -> None:
    srv.state.hold()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        job = garnet.run(transpile(ghz(2), garnet, seed_transpiler=1), shots=4)
    srv.state.add_job_message(job.job_id(), "Heralding shots were simulated ideally")
    srv.state.release()
    with pytest.warns(UserWarning, match="iqm-server: Heralding shots were simulated ideally") as seen:
        job.result()
    assert len([w for w in seen if "Heralding" in str(w.message)]) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        job.status()
        job.result()
    with pytest.warns(UserWarning, match="Heralding shots"):
        garnet.retrieve_job(job.job_id())
