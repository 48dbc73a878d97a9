"""IQMProvider / IQMBackend against the loopback server: target, transpile, run options, drift, retrieval."""

from __future__ import annotations

import enum
import warnings
from collections.abc import Iterator

import pytest
from qiskit import QuantumCircuit, transpile
from qiskit.providers import BackendV2, QiskitBackendNotFoundError
from qiskit.transpiler import CouplingMap

import iqm_async
from iqm_async.server import RateLimitConfig, RunningServer, ServerConfig, serve_in_thread
from iqm_sync_shim import ExistingMoveHandlingOptions, IQMBackend, IQMJob, IQMProvider, MoveGate, transpile_to_IQM

from .conftest import CLIENT_OPTIONS


def ghz(n: int) -> QuantumCircuit:
    qc = QuantumCircuit(n, name=f"ghz{n}")
    qc.h(0)
    for i in range(n - 1):
        qc.cx(i, i + 1)
    qc.measure_all()
    return qc


def test_target_of_the_20_qubit_lattice(backend: IQMBackend) -> None:
    assert isinstance(backend, BackendV2)
    assert backend.name == "sim"
    assert backend.num_qubits == 20
    assert backend.physical_qubits == [f"QB{i}" for i in range(1, 21)]
    assert backend.qubit_name_to_index("QB3") == 2 and backend.index_to_qubit_name(19) == "QB20"
    assert {"r", "cz", "measure"} <= set(backend.operation_names)
    assert "move" not in backend.operation_names and not backend.has_resonators()
    # 4 x 5 lattice: 4*4 horizontal + 3*5 vertical couplings, offered in both directions.
    cz = backend.target["cz"]
    assert len(cz) == 2 * (4 * 4 + 3 * 5)
    assert all((b, a) in cz for a, b in cz)
    assert isinstance(backend.coupling_map, CouplingMap) and backend.coupling_map.is_connected()
    assert backend.options.shots == 1024
    assert backend.max_circuits is None


def test_transpile_ghz_on_the_lattice_and_run(backend: IQMBackend, srv: RunningServer) -> None:
    qc = transpile(ghz(5), backend, seed_transpiler=7)
    assert set(qc.count_ops()) <= {"r", "cz", "measure", "barrier"}
    job = backend.run(qc, shots=200)
    counts = job.result().get_counts()
    assert set(counts) <= {"00000", "11111"} and sum(counts.values()) == 200
    assert len(counts) == 2
    # The job was sent with the backend's calibration set and physical names.
    payload = srv.state.store.payload(job.job_id())
    assert payload["calibration_set_id"] == backend.calibration_set_id
    assert {q for ins in payload["circuits"][0]["instructions"] for q in ins["locus"]} <= set(backend.physical_qubits)


def test_run_accepts_memory_and_seed_without_warnings(
    backend: IQMBackend, bell: QuantumCircuit, srv: RunningServer
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        job = backend.run([bell, bell], shots=16, memory=True, seed_simulator=42)
    result = job.result()
    assert len(result.results) == 2
    assert len(result.get_memory(0)) == 16
    assert set(result.get_counts(1)) <= {"00", "11"}


def test_unknown_options_warn(backend: IQMBackend, bell: QuantumCircuit, srv: RunningServer) -> None:
    with pytest.warns(UserWarning, match=r"Unknown backend option\(s\): \{'frobnicate': 3\}"):
        job = backend.run(bell, shots=4, frobnicate=3)
    assert sum(job.result().get_counts().values()) == 4


def test_job_options_and_compilation_options_reach_the_wire(
    backend: IQMBackend, bell: QuantumCircuit, srv: RunningServer
) -> None:
    class HeraldingMode(str, enum.Enum):  # the shape of IQM's option enums
        ZEROS = "zeros"

    class CompilationOptions:  # duck-types iqm_client's CircuitCompilationOptions
        heralding_mode = HeraldingMode.ZEROS
        max_circuit_duration_over_t2 = 0.0

    seen: list[list[QuantumCircuit]] = []
    with pytest.warns(DeprecationWarning, match="active_reset_cycles is deprecated"):
        job = backend.run(
            bell,
            shots=8,
            circuit_compilation_options=CompilationOptions(),
            active_reset_cycles=2,
            circuit_callback=seen.append,
            use_timeslot=True,
        )
    payload = srv.state.store.payload(job.job_id())
    assert payload["heralding_mode"] == "zeros"
    assert payload["max_circuit_duration_over_t2"] == 0.0
    assert payload["active_reset_cycles"] == 2
    assert seen == [[bell]]
    assert job.result().results[0].shots == 8


def test_shots_default_from_options(backend: IQMBackend, bell: QuantumCircuit, srv: RunningServer) -> None:
    assert backend.run(bell).result().results[0].shots == 1024


def test_untranspiled_circuit_is_refused_before_sending(backend: IQMBackend, srv: RunningServer) -> None:
    with pytest.raises(ValueError, match="transpile"):
        backend.run(ghz(2))
    with pytest.raises(ValueError, match="Empty"):
        backend.run([])
    assert srv.state.store.jobs_created == 0


def test_calibration_drift_warns_and_sends_the_backends_set(
    provider: IQMProvider, bell: QuantumCircuit, srv: RunningServer
) -> None:
    backend = provider.get_backend()
    old = backend.calibration_set_id
    new = srv.state.add_calibration_set(make_default=True)
    with pytest.warns(UserWarning, match=f"default calibration set has changed from {old} to {new}"):
        job = backend.run(bell, shots=4)
    assert srv.state.store.payload(job.job_id())["calibration_set_id"] == old
    assert job.result().results[0].calibration_set_id.hex == old.replace("-", "")
    # A backend made for a given calibration set does not follow the default, so it does not warn.
    pinned = provider.get_backend(calibration_set_id=old)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pinned.run(bell, shots=4).result()
    # The new default gives a new backend without a warning.
    assert provider.get_backend().calibration_set_id == new


def test_get_backend_by_name(provider: IQMProvider) -> None:
    assert provider.get_backend("sim").name == "sim"
    with pytest.raises(QiskitBackendNotFoundError, match="nope"):
        provider.get_backend("nope")
    with pytest.raises(QiskitBackendNotFoundError, match="layout of .facade_garnet"):
        provider.get_backend("facade_garnet")


def test_retrieve_job_in_a_fresh_provider(backend: IQMBackend, shim_server: RunningServer, srv: RunningServer) -> None:
    qc = QuantumCircuit(2, 2, name="meta")
    qc.metadata = {"note": "x"}
    qc.r(3.141592653589793, 0.0, 0)
    qc.measure([0, 1], [0, 1])
    job = backend.run(qc, shots=10)
    original = job.result()
    with IQMProvider(shim_server.url, **CLIENT_OPTIONS) as fresh:
        again = fresh.get_backend().retrieve_job(job.job_id())
        assert isinstance(again, IQMJob)
        result = again.result()
    assert result.get_counts() == original.get_counts() == {"01": 10}
    assert result.results[0].header["name"] == "meta"
    assert result.results[0].data.metadata == {"note": "x"}
    assert result.job_id == job.job_id()


def test_retrieve_unknown_job_fails_at_once(backend: IQMBackend, srv: RunningServer) -> None:
    with pytest.raises(iqm_async.NotFoundError):
        backend.retrieve_job("5c0e1b52-9a4f-4f51-8d3e-0b8f4a1f0a77")


def test_backend_exposes_the_async_core(backend: IQMBackend, srv: RunningServer) -> None:
    assert isinstance(backend.async_client, iqm_async.AsyncIQMClient)
    health = backend.call_core(iqm_async.AsyncIQMClient.health)
    assert health["status"] == "ok"


def test_closed_provider_refuses(shim_server: RunningServer) -> None:
    provider = IQMProvider(shim_server.url)
    backend = provider.get_backend()
    provider.close()
    provider.close()  # idempotent
    assert provider.closed
    with pytest.raises(RuntimeError, match="closed"):
        backend.run(QuantumCircuit(1, 1))


def test_bad_url_fails_at_construction() -> None:
    with pytest.raises(iqm_async.ClientConfigurationError):
        IQMProvider("http://example.com")


@pytest.fixture(scope="module")
def star_server() -> Iterator[RunningServer]:
    with serve_in_thread(ServerConfig(qubits=6, layout="star", rate_limit=RateLimitConfig(enabled=False))) as running:
        yield running


def test_star_target_has_move_and_runs_a_move_sandwich(star_server: RunningServer) -> None:
    with IQMProvider(star_server.url, **CLIENT_OPTIONS) as provider:
        backend = provider.get_backend()
        assert backend.has_resonators()
        assert backend.physical_qubits[-1] == "COMP_R"
        r = backend.qubit_name_to_index("COMP_R")
        # The resonator is not a qubit of the target Qiskit routes on; MOVE lives in target_with_resonators.
        assert backend.num_qubits == 6 and "move" not in backend.target.operation_names
        assert set(backend.target_with_resonators["move"]) == {(i, r) for i in range(6)}
        qc = QuantumCircuit(r + 1, 2)
        qc.r(3.141592653589793, 0.0, 0)
        qc.append(MoveGate(), [0, r])
        qc.append(MoveGate(), [0, r])
        qc.measure([0, 1], [0, 1])
        isa = transpile_to_IQM(qc, backend, existing_moves_handling=ExistingMoveHandlingOptions.KEEP, optimization_level=0)
        assert isa.count_ops()["move"] == 2
        assert backend.run(isa, shots=8).result().get_counts() == {"01": 8}


def test_backend_run_batch_is_the_sync_batch(backend: IQMBackend, bell: QuantumCircuit, srv: RunningServer) -> None:
    circuits = [bell.copy(name=f"bell{i}") for i in range(6)]
    sweep = backend.run_batch(circuits, shots=40, circuits_per_job=2, progress=False)
    results = sweep.results()
    assert len(results) == 6 and all(r.shots == 40 and set(r.counts) <= {"00", "11"} for r in results)
    assert len(sweep.job_ids) == 3 and srv.state.stats()["jobs_created"] == 3
    names = [q.results[0].header["name"] for q in sweep.qiskit_results()]
    assert names == [f"bell{i}" for i in range(6)]
