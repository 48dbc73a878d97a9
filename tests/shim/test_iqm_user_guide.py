"""Examples of IQM's Qiskit user guide, run with the import prefix switched (as a ``sed`` would) against the embedded server.

Each example is IQM's code as a string; :func:`switched` rewrites ``iqm.qiskit_iqm`` → ``iqm_sync_shim`` and
``iqm.iqm_client`` → ``iqm_sync_shim.iqm_client`` and nothing else, then the code runs and its variables
are checked.
"""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from iqm_async.devices import chip
from iqm_async.server import RateLimitConfig, RunningServer, ServerConfig, serve_in_thread
from iqm_sync_shim import IQMProvider

from .conftest import CLIENT_OPTIONS


@pytest.fixture(scope="module")
def guide_server() -> Iterator[RunningServer]:
    config = ServerConfig(chip="garnet", extra_chips=("deneb",), seed=11, rate_limit=RateLimitConfig(enabled=False))
    with serve_in_thread(config) as running:
        yield running


def switched(code: str) -> str:
    """Apply the one change a user makes: the package prefix."""
    return (
        textwrap.dedent(code)
        .replace("iqm.qiskit_iqm", "iqm_sync_shim")
        .replace("iqm.iqm_client", "iqm_sync_shim.iqm_client")
    )


def run_example(code: str, server: RunningServer, quantum_computer: str = "garnet") -> dict[str, Any]:
    """Run an example (the server's URL in ``iqm_server_url``, the alias in ``QC``); return its variables."""
    namespace: dict[str, Any] = {"iqm_server_url": server.url, "QC": quantum_computer}
    exec(compile(switched(code), "<user guide>", "exec"), namespace)
    return namespace


class FastProvider(IQMProvider):
    """The guide builds its own providers; give them the tests' fast polling (nothing else changes)."""

    def __init__(self, url: str | None = None, **kwargs: Any) -> None:
        super().__init__(url, **{**CLIENT_OPTIONS, **kwargs})


@pytest.fixture(autouse=True)
def _fast_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    import iqm_sync_shim

    monkeypatch.setattr(iqm_sync_shim, "IQMProvider", FastProvider)


def test_hello_world(guide_server: RunningServer) -> None:
    ns = run_example(
        """
        from qiskit import QuantumCircuit, transpile
        from iqm.qiskit_iqm import IQMProvider

        provider = IQMProvider(iqm_server_url, quantum_computer=QC)
        backend = provider.get_backend()

        circuit = QuantumCircuit(2, name='Bell pair circuit')
        circuit.h(0)
        circuit.cx(0, 1)
        circuit.measure_all()

        job = backend.run(transpile(circuit, backend), shots=1000)
        counts = job.result().get_counts()
        """,
        guide_server,
    )
    assert set(ns["counts"]) <= {"00", "11"} and sum(ns["counts"].values()) == 1000


def test_inspecting_the_backend(guide_server: RunningServer) -> None:
    ns = run_example(
        """
        from iqm.qiskit_iqm import IQMProvider
        backend = IQMProvider(iqm_server_url, quantum_computer=QC).get_backend()
        native = backend.operation_names
        n = backend.num_qubits
        cmap = backend.coupling_map
        name = backend.index_to_qubit_name(7)
        index = backend.qubit_name_to_index('QB8')
        """,
        guide_server,
    )
    assert {"r", "cz", "measure"} <= set(ns["native"]) and ns["n"] == 20
    assert len(list(ns["cmap"].get_edges())) == 30
    assert ns["name"] == "QB8" and ns["index"] == 7


def test_job_status_retrieval_and_metadata(guide_server: RunningServer) -> None:
    ns = run_example(
        """
        from qiskit import QuantumCircuit, transpile
        from iqm.qiskit_iqm import IQMProvider, IQMJob

        backend = IQMProvider(iqm_server_url, quantum_computer=QC).get_backend()
        qc = QuantumCircuit(1, 1)
        qc.x(0)
        qc.measure(0, 0)
        job = backend.run(transpile(qc, backend), shots=100)
        job_id = job.job_id()
        status = job.status()
        retrieved = backend.retrieve_job(job_id)
        result = retrieved.result()
        counts = result.get_counts()
        timeline = result._metadata['timeline']
        shots = result._metadata['parameters'].shots
        calset = result.results[0].calibration_set_id
        """,
        guide_server,
    )
    assert ns["counts"] == {"1": 100} and ns["shots"] == 100
    assert {e.status for e in ns["timeline"]} >= {"created"}
    assert ns["calset"] == uuid.UUID(chip("garnet").calibration_set_id)


def test_circuit_compilation_options(guide_server: RunningServer) -> None:
    ns = run_example(
        """
        from qiskit import QuantumCircuit, transpile
        from iqm.qiskit_iqm import IQMProvider
        from iqm.iqm_client import CircuitCompilationOptions, HeraldingMode

        backend = IQMProvider(iqm_server_url, quantum_computer=QC).get_backend()
        qc = QuantumCircuit(2)
        qc.h(0)
        qc.cx(0, 1)
        qc.measure_all()
        options = CircuitCompilationOptions(heralding_mode=HeraldingMode.ZEROS)
        job = backend.run(transpile(qc, backend), shots=200, circuit_compilation_options=options)
        result = job.result()
        """,
        guide_server,
    )
    assert ns["result"]._metadata["parameters"].heralding_mode == "zeros"


def test_initial_layout_and_calibration_set(guide_server: RunningServer) -> None:
    ns = run_example(
        """
        from qiskit import QuantumCircuit, transpile
        from iqm.qiskit_iqm import IQMProvider

        provider = IQMProvider(iqm_server_url, quantum_computer=QC)
        default = provider.get_backend()
        backend = provider.get_backend(calibration_set_id=default.architecture.calibration_set_id)
        qc = QuantumCircuit(2)
        qc.h(0)
        qc.cx(0, 1)
        qc.measure_all()
        qc_transpiled = transpile(qc, backend=backend, initial_layout=[7, 2], optimization_level=3)
        job = backend.run(qc_transpiled, shots=100)
        counts = job.result().get_counts()
        """,
        guide_server,
    )
    assert set(ns["counts"]) <= {"00", "11"}
    payload = guide_server.state.store.payload(ns["job"].job_id())
    assert {q for i in payload["circuits"][0]["instructions"] for q in i["locus"]} == {"QB8", "QB3"}


def test_batches_callback_and_max_circuits(guide_server: RunningServer) -> None:
    ns = run_example(
        """
        from qiskit import QuantumCircuit, transpile
        from iqm.qiskit_iqm import IQMProvider

        backend = IQMProvider(iqm_server_url, quantum_computer=QC).get_backend()
        circuits = []
        for n in range(1, 4):
            qc = QuantumCircuit(n, name=f'x{n}')
            qc.x(range(n))
            qc.measure_all()
            circuits.append(qc)
        seen = []
        def callback(transpiled):
            seen.extend(c.name for c in transpiled)
        backend.max_circuits = 10
        job = backend.run(transpile(circuits, backend), shots=50, circuit_callback=callback)
        result = job.result()
        all_counts = [result.get_counts(i) for i in range(len(circuits))]
        """,
        guide_server,
    )
    assert ns["all_counts"] == [{"1": 50}, {"11": 50}, {"111": 50}]
    assert ns["seen"] == ["x1", "x2", "x3"]


def test_classical_control_and_reset(guide_server: RunningServer) -> None:
    ns = run_example(
        """
        from qiskit import QuantumCircuit, transpile
        from iqm.qiskit_iqm import IQMProvider

        backend = IQMProvider(iqm_server_url, quantum_computer=QC).get_backend()
        qc = QuantumCircuit(2, 2)
        qc.x(0)
        qc.measure(0, 0)
        with qc.if_test((qc.clbits[0], 1)):
            qc.x(1)
        qc.measure(1, 1)
        qc.reset(0)
        counts = backend.run(transpile(qc, backend), shots=64).result().get_counts()
        """,
        guide_server,
    )
    assert ns["counts"] == {"11": 64}


def test_star_chip_with_transpile_to_iqm(guide_server: RunningServer) -> None:
    ns = run_example(
        """
        from qiskit import QuantumCircuit
        from iqm.qiskit_iqm import IQMProvider, transpile_to_IQM

        backend = IQMProvider(iqm_server_url, quantum_computer=QC).get_backend()
        circuit = QuantumCircuit(3)
        circuit.h(0)
        circuit.cx(0, 1)
        circuit.cx(0, 2)
        circuit.measure_all()
        transpiled = transpile_to_IQM(circuit, backend)
        counts = backend.run(transpiled, shots=300).result().get_counts()
        """,
        guide_server,
        quantum_computer="deneb",
    )
    assert set(ns["counts"]) <= {"000", "111"} and sum(ns["counts"].values()) == 300
    assert "move" in ns["transpiled"].count_ops()


def test_sampler_primitive(guide_server: RunningServer) -> None:
    ns = run_example(
        """
        from qiskit import QuantumCircuit, transpile
        from qiskit.primitives import BackendSamplerV2
        from iqm.qiskit_iqm import IQMProvider

        backend = IQMProvider(iqm_server_url, quantum_computer=QC).get_backend()
        qc = QuantumCircuit(2)
        qc.h(0)
        qc.cx(0, 1)
        qc.measure_all()
        sampler = BackendSamplerV2(backend=backend)
        job = sampler.run([transpile(qc, backend)], shots=256)
        counts = job.result()[0].data.meas.get_counts()
        """,
        guide_server,
    )
    assert set(ns["counts"]) <= {"00", "11"} and sum(ns["counts"].values()) == 256
