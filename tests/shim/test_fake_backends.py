"""Fake backends: IQM's names, local Aer runs with calibrated noise, the real backend's Result format, and agreement
with a noisy embedded server on the same numbers (two-proportion z-tests at |z| < 5.3, p ≈ 1e-7)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator

import pytest
from qiskit import QuantumCircuit, transpile

from iqm_async.devices.calibration_data import synthetic_metrics
from iqm_async.devices.chips import chip
from iqm_async.models import StaticQuantumArchitecture
from iqm_async.server import RateLimitConfig, RunningServer, serve_in_thread
from iqm_sync_shim import IQMProvider
from iqm_sync_shim.fake_backends import (
    IQMErrorProfile,
    IQMFakeAdonis,
    IQMFakeAphrodite,
    IQMFakeApollo,
    IQMFakeBackend,
    IQMFakeDeneb,
    IQMFakeEmerald,
    IQMFakeGarnet,
    IQMFakeSirius,
)

from .conftest import CLIENT_OPTIONS

Z_MAX = 5.3


def ghz(n: int) -> QuantumCircuit:
    qc = QuantumCircuit(n, name=f"ghz{n}")
    qc.h(0)
    for i in range(n - 1):
        qc.cx(i, i + 1)
    qc.measure_all()
    return qc


def good(counts: dict[str, int], n: int) -> int:
    return counts.get("0" * n, 0) + counts.get("1" * n, 0)


@pytest.fixture(scope="module")
def noisy_garnet() -> Iterator[RunningServer]:
    with serve_in_thread(
        seed=8, chip="garnet", noise="calibrated", rate_limit=RateLimitConfig(enabled=False)
    ) as running:
        yield running


@pytest.mark.parametrize(
    ("factory", "name", "qubits", "resonators"),
    [
        (IQMFakeAdonis, "IQMFakeAdonisBackend", 5, 0),
        (IQMFakeApollo, "IQMFakeApolloBackend", 20, 0),
        (IQMFakeAphrodite, "IQMFakeAphroditeBackend", 54, 0),
        (IQMFakeDeneb, "IQMFakeDenebBackend", 6, 1),
        (IQMFakeGarnet, "IQMFakeGarnetBackend", 20, 0),
        (IQMFakeEmerald, "IQMFakeEmeraldBackend", 54, 0),
        (IQMFakeSirius, "IQMFakeSiriusBackend", 16, 1),
    ],
)
def test_named_fakes_run_noisy_ghz(factory: object, name: str, qubits: int, resonators: int) -> None:
    backend = factory()  # type: ignore[operator]
    assert isinstance(backend, IQMFakeBackend) and backend.name == name
    assert backend.num_qubits == qubits  # the qubit-only target, as the real backend's
    assert len(backend.architecture.computational_resonators) == resonators
    assert backend.target["cz"] and all(p.error is not None for p in backend.target["cz"].values())
    result = backend.run(transpile(ghz(3), backend, seed_transpiler=1), shots=2000, seed_simulator=5).result()
    counts = result.get_counts()
    assert sum(counts.values()) == 2000
    assert 0.75 * 2000 < good(counts, 3) < 2000  # noisy, but a GHZ state


def test_fakes_are_reproducible_under_a_seed_and_noisy_without_one() -> None:
    backend = IQMFakeGarnet()
    circuit = transpile(ghz(4), backend, seed_transpiler=1)
    first = backend.run(circuit, shots=500, seed_simulator=11).result().get_counts()
    assert backend.run(circuit, shots=500, seed_simulator=11).result().get_counts() == first
    assert backend.run(circuit, shots=500, seed_simulator=12).result().get_counts() != first


def test_the_result_has_the_real_backends_format(noisy_garnet: RunningServer) -> None:
    fake = IQMFakeGarnet()
    circuit = transpile(ghz(2), fake, seed_transpiler=1)
    fake_result = fake.run(circuit, shots=100, seed_simulator=1).result()
    with IQMProvider(noisy_garnet.url, quantum_computer="garnet", **CLIENT_OPTIONS) as provider:
        real_result = provider.get_backend().run(circuit, shots=100).result()
    fake_dict, real_dict = fake_result.to_dict(), real_result.to_dict()
    assert set(fake_dict) == set(real_dict)
    assert set(fake_dict["results"][0]) == set(real_dict["results"][0])
    assert fake_dict["results"][0]["header"] == real_dict["results"][0]["header"]
    assert len(fake_result.get_memory()) == 100 and set(fake_result.get_counts()) <= {"00", "01", "10", "11"}


def test_copy_with_error_profile_and_a_profile_that_does_not_fit() -> None:
    backend = IQMFakeAdonis()
    perfect = dataclasses.replace(
        backend.error_profile,
        single_qubit_gate_depolarizing_error_parameters={"prx": dict.fromkeys(chip_qubits(backend), 0.0)},
        two_qubit_gate_depolarizing_error_parameters={
            "cz": dict.fromkeys(backend.error_profile.two_qubit_gate_depolarizing_error_parameters["cz"], 0.0)
        },
        t1s=dict.fromkeys(backend.error_profile.t1s, 1e15),
        t2s=dict.fromkeys(backend.error_profile.t2s, 1e15),
        readout_errors={q: {"0": 0.0, "1": 0.0} for q in backend.error_profile.readout_errors},
    )
    ideal = backend.copy_with_error_profile(perfect)
    assert ideal.name == backend.name and ideal.error_profile is perfect
    counts = ideal.run(transpile(ghz(5), ideal, seed_transpiler=1), shots=1000).result().get_counts()
    assert set(counts) == {"00000", "11111"}
    assert all(p.error == pytest.approx(0.0, abs=1e-9) for p in ideal.target["cz"].values())
    wrong = dataclasses.replace(perfect, readout_errors={"QB1": {"0": 0.1, "1": 0.1}})
    with pytest.raises(ValueError, match="readout_errors"):
        backend.copy_with_error_profile(wrong)
    not_a_coupler = dataclasses.replace(
        perfect, two_qubit_gate_depolarizing_error_parameters={"cz": {("QB1", "QB2"): 0.01}}
    )
    with pytest.raises(ValueError, match="not couplers"):
        backend.error_profile = not_a_coupler
    sqa = StaticQuantumArchitecture(("QB1", "QB2", "QB3", "QB4", "QB5"), (), (("QB1", "QB3"),))
    assert not backend.validate_compatible_architecture(sqa)


def chip_qubits(backend: IQMFakeBackend) -> list[str]:
    return list(backend.architecture.qubits)


def test_the_profile_reproduces_the_calibrated_fidelities() -> None:
    metrics = synthetic_metrics(chip("deneb"))
    profile = IQMErrorProfile.from_metrics(metrics)
    assert profile.t1s["QB1"] == pytest.approx(metrics.t1["QB1"] * 1e9)
    assert profile.two_qubit_gate_durations == {"cz": pytest.approx(120.0), "move": pytest.approx(96.0)}
    back = profile.to_metrics()
    for gate, by_locus in metrics.fidelities.items():
        for locus, fid in by_locus.items():
            assert back.fidelity(gate, locus) == pytest.approx(fid, abs=1e-9), (gate, locus)


def test_heralding_drops_shots_on_a_fake() -> None:
    backend = IQMFakeGarnet()
    result = backend.run(transpile(ghz(5), backend, seed_transpiler=1), shots=4000, heralding_mode="zeros").result()
    assert 3000 < sum(result.get_counts().values()) < 4000


def test_from_calibration_follows_the_servers_numbers(noisy_garnet: RunningServer) -> None:
    noisy_garnet.state.reset()
    cal_id = noisy_garnet.state.add_calibration_set(
        alias="garnet", make_default=True, overrides={"prx": {("QB1",): 0.9}}
    )
    with IQMProvider(noisy_garnet.url, quantum_computer="garnet", **CLIENT_OPTIONS) as provider:
        fake = IQMFakeBackend.from_calibration(provider.get_backend(), seed=3)
        also = IQMFakeBackend.from_calibration(provider.get_backend(use_metrics=True), seed=3)
    assert fake.name == "fake_garnet" and fake.metrics.calibration_set_id == cal_id
    assert fake.metrics.fidelity("prx", ("QB1",)) == pytest.approx(0.9, abs=1e-9)
    assert also.error_profile == fake.error_profile
    server_metrics = noisy_garnet.state.computers["garnet"].metrics(cal_id)
    assert server_metrics is not None
    assert fake.error_profile.t1s["QB7"] == pytest.approx(server_metrics.t1["QB7"] * 1e9)


def test_a_fake_and_the_noisy_server_agree_within_shot_noise(noisy_garnet: RunningServer) -> None:
    noisy_garnet.state.reset()
    fake = IQMFakeGarnet()
    shots = 20_000
    with IQMProvider(noisy_garnet.url, quantum_computer="garnet", **CLIENT_OPTIONS) as provider:
        backend = provider.get_backend()
        for n in (3, 6):
            circuit = transpile(ghz(n), backend, seed_transpiler=2, optimization_level=1)
            k_server = good(backend.run(circuit, shots=shots).result().get_counts(), n)
            k_fake = good(fake.run(circuit, shots=shots, seed_simulator=9).result().get_counts(), n)
            p = (k_server + k_fake) / (2 * shots)
            z = (k_server - k_fake) / math.sqrt(2 * shots * p * (1 - p))
            assert abs(z) < Z_MAX, (n, k_server / shots, k_fake / shots)
            assert k_server < shots * 0.98  # both are noisy, not ideal


def test_the_fake_backend_names_are_iqms() -> None:
    import iqm_sync_shim.fake_backends as fakes

    assert set(fakes.__all__) == {
        "IQMErrorProfile",
        "IQMFakeAdonis",
        "IQMFakeAphrodite",
        "IQMFakeApollo",
        "IQMFakeBackend",
        "IQMFakeDeneb",
        "IQMFakeEmerald",
        "IQMFakeGarnet",
        "IQMFakeJob",
        "IQMFakeSirius",
        "fake_from_shape",
    }
    assert [f.name for f in dataclasses.fields(IQMErrorProfile)] == [
        "t1s",
        "t2s",
        "single_qubit_gate_depolarizing_error_parameters",
        "two_qubit_gate_depolarizing_error_parameters",
        "single_qubit_gate_durations",
        "two_qubit_gate_durations",
        "readout_errors",
        "name",
    ]


def test_facade_backend_runs_on_the_server_and_simulates_locally(noisy_garnet: RunningServer) -> None:
    from qiskit.providers import QiskitBackendNotFoundError

    from iqm_sync_shim import JobFailedError
    from iqm_sync_shim.fake_backends.facade import IQMFacadeBackend

    noisy_garnet.state.reset()
    with IQMProvider(noisy_garnet.url, quantum_computer="garnet", **CLIENT_OPTIONS) as provider:
        facade = provider.get_backend("facade_garnet")
        assert isinstance(facade, IQMFacadeBackend) and facade.name == "facade_garnet"
        circuit = transpile(ghz(3), facade, seed_transpiler=1)
        result = facade.run(circuit, shots=300, seed_simulator=4).result()
        assert sum(result.get_counts().values()) == 300
        assert result.backend_name == "IQMFakeGarnetBackend"  # simulated by the fake, as IQM's facade
        assert noisy_garnet.state.stats()["jobs_by_status"]["completed"] == 1  # and the server ran the job
        noisy_garnet.state.faults.add({"action": "fail_job", "message": "boom", "error_code": "x"})
        with pytest.raises(JobFailedError, match="boom"):
            facade.run(circuit, shots=10)
        unused = QuantumCircuit(2, 2)
        unused.add_register(type(unused.cregs[0])(1, "spare"))
        unused.measure([0, 1], [0, 1])
        with pytest.raises(ValueError, match="no measurement writes to"):
            facade.run(transpile(unused, facade), shots=10)
        with pytest.raises(QiskitBackendNotFoundError, match="layout of 'facade_deneb'"):
            provider.get_backend("facade_deneb")
        with pytest.raises(QiskitBackendNotFoundError, match="Unknown facade"):
            provider.get_backend("facade_nope")
