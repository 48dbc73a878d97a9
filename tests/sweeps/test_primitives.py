"""Native SamplerV2 / EstimatorV2: shapes as Qiskit's, statistics against the statevector primitives, the sync handle."""

from __future__ import annotations

import math

import numpy as np
import pytest
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
from qiskit.circuit import Parameter
from qiskit.primitives import StatevectorEstimator, StatevectorSampler
from qiskit.providers import JobStatus
from qiskit.quantum_info import SparsePauliOp, Statevector
from scipy.stats import chisquare

from iqm_async import AsyncIQMClient, EstimatorV2, PollPolicy, RateLimitPolicy, SamplerV2
from iqm_sync_shim import IQMProvider
from iqm_sync_shim import SamplerV2 as SyncSamplerV2

FAST = {
    "poll": PollPolicy(first_delay=0.02, max_interval=0.1, per_queue_position=0.0, max_queued_interval=0.1),
    "rate_limit": RateLimitPolicy(enabled=False),
}
P_MIN = 1e-6  # a correct sampler fails this once in a million runs; the server is seeded besides


def swept() -> QuantumCircuit:
    a, b = Parameter("a"), Parameter("b")
    q = QuantumRegister(3)
    first, second = ClassicalRegister(1, "first"), ClassicalRegister(2, "second")
    qc = QuantumCircuit(q, first, second)
    qc.ry(a, 0)
    qc.cx(0, 1)
    qc.rx(b, 2)
    qc.cz(1, 2)
    qc.h(2)
    qc.measure(0, first[0])
    qc.measure([1, 2], second)
    return qc


def exact_probabilities(circuit: QuantumCircuit) -> dict[str, float]:
    """Probabilities of the joint bitstring (clbits in order, big-endian) of a circuit that measures each qubit once."""
    body = circuit.remove_final_measurements(inplace=False)
    probs = Statevector(body).probabilities_dict()
    order = [circuit.find_bit(ci.qubits[0]).index for ci in circuit.data if ci.operation.name == "measure"]
    clbits = [circuit.find_bit(ci.clbits[0]).index for ci in circuit.data if ci.operation.name == "measure"]
    out: dict[str, float] = {}
    for key, p in probs.items():
        bits = ["0"] * circuit.num_clbits
        for q, c in zip(order, clbits):
            bits[c] = key[::-1][q]
        joint = "".join(reversed(bits))
        out[joint] = out.get(joint, 0.0) + p
    return out


def assert_agrees(counts: dict[str, int], probs: dict[str, float], shots: int) -> None:
    keys = sorted(set(counts) | {k for k, p in probs.items() if p > 1e-12})
    assert all(probs.get(k, 0.0) > 1e-12 for k in counts), f"impossible outcomes {counts} vs {probs}"
    observed = [counts.get(k, 0) for k in keys]
    expected = [probs.get(k, 0.0) * shots for k in keys]
    if len(keys) > 1:
        assert chisquare(observed, expected).pvalue > P_MIN, (counts, probs)


async def test_sampler_matches_the_statevector_sampler(server) -> None:
    circuit = swept()
    values = np.array([[0.3, 1.1], [math.pi / 2, 0.0], [2.0, 2.5], [math.pi, math.pi / 3]]).reshape(2, 2, 2)
    shots = 4000
    async with AsyncIQMClient(server.url, **FAST) as client:
        sampler = SamplerV2(client, transpile=True, seed_transpiler=7)
        result = await sampler.run_async([(circuit, values), circuit.assign_parameters([0.4, 0.9])], shots=shots)
    reference = StatevectorSampler(seed=3).run([(circuit, values)], shots=shots).result()[0]
    ours = result[0]
    assert ours.data.first.shape == reference.data.first.shape == (2, 2)
    assert ours.data.second.num_shots == shots and ours.data.second.num_bits == 2
    assert set(ours.data.keys()) == set(reference.data.keys()) == {"first", "second"}
    joined = ours.join_data()
    for idx in np.ndindex(2, 2):
        bound = circuit.assign_parameters(values[idx])
        assert_agrees(joined.get_counts(idx), exact_probabilities(bound), shots)
    assert_agrees(result[1].join_data().get_counts(), exact_probabilities(circuit.assign_parameters([0.4, 0.9])), shots)
    assert result[0].metadata["shots"] == shots and result[0].metadata["calibration_set_id"]
    assert set(result.metadata["job_ids"]) == set(result[0].metadata["job_ids"]) | set(result[1].metadata["job_ids"])
    assert server.state.store.jobs_created == len(result.metadata["job_ids"])


async def test_estimator_matches_the_statevector_estimator(server) -> None:
    theta = Parameter("theta")
    circuit = QuantumCircuit(3)
    circuit.h(0)
    circuit.ry(theta, 1)
    circuit.cx(0, 1)
    circuit.cx(1, 2)
    observables = [
        [SparsePauliOp.from_list([("ZZI", 1.0), ("IXI", 0.5)])],
        [SparsePauliOp.from_list([("XXX", 1.0), ("YYI", -0.7), ("III", 0.25)])],
        [SparsePauliOp("ZIZ")],
    ]
    values = np.linspace(0, math.pi, 4).reshape(4, 1)
    async with AsyncIQMClient(server.url, **FAST) as client:
        estimator = EstimatorV2(client, transpile=True, seed_transpiler=5)
        ours = (await estimator.run_async([(circuit, observables, values)], precision=0.02))[0]
    exact = StatevectorEstimator().run([(circuit, observables, values)]).result()[0]
    assert ours.data.evs.shape == exact.data.evs.shape == (3, 4)
    assert ours.metadata["shots"] == math.ceil(1 / 0.02**2)
    # Each expectation is a sum of independent parity means: 6 standard errors is a one-in-a-billion miss.
    assert np.all(np.abs(ours.data.evs - exact.data.evs) <= 6 * ours.data.stds + 1e-9), (ours.data.evs, exact.data.evs)
    assert np.all(ours.data.stds <= 1.5 / math.sqrt(ours.metadata["shots"]))


async def test_the_core_primitives_refuse_to_block(server) -> None:
    async with AsyncIQMClient(server.url, **FAST) as client:
        with pytest.raises(RuntimeError, match="run_async"):
            SamplerV2(client).run([swept()])
        with pytest.raises(RuntimeError, match="run_async"):
            EstimatorV2(client).run([(swept(), "ZZZ")])


def test_the_sync_sampler_runs_on_the_portal_and_its_handle_lists_and_cancels_the_jobs(server) -> None:
    circuit = swept()
    with IQMProvider(server.url, **FAST) as provider:
        backend = provider.get_backend()
        sampler = SyncSamplerV2(backend, transpile=True, seed_transpiler=1)
        job = sampler.run([(circuit, np.zeros((3, 2)))], shots=50)
        result = job.result()
        assert job.status() is JobStatus.DONE and job.done() and not job.cancelled()
        assert result[0].data.first.shape == (3,)
        counts = result[0].join_data().get_counts()  # a = b = 0: only the Hadamard on qubit 2 is random
        assert set(counts) <= {"000", "100"} and sum(counts.values()) == 150
        assert job.job_id() == ",".join(job.job_ids()) and len(job.job_ids()) == 1

        server.state.hold()
        try:
            held = sampler.run([(circuit, np.zeros((4, 2)))], shots=10)
            assert server.state.wait_for(lambda: server.state.store.jobs_created >= 2, 20)
            assert held.status() in (JobStatus.RUNNING, JobStatus.QUEUED) and not held.done()
            held.cancel()  # cancels the server job even if its id is still on its way back
            assert held.status() is JobStatus.CANCELLED and held.cancelled()
            assert server.state.wait_for(lambda: server.state.stats()["jobs_by_status"].get("cancelled") == 1, 20)
        finally:
            server.state.release()


def test_the_sync_sampler_agrees_with_qiskits_backend_sampler_over_our_backend(server) -> None:
    from qiskit import transpile
    from qiskit.primitives import BackendSamplerV2
    from scipy.stats import chi2_contingency

    circuit = swept()
    values = np.array([[0.7, 1.9], [2.2, 0.4]])
    shots = 3000
    with IQMProvider(server.url, **FAST) as provider:
        backend = provider.get_backend()
        isa = transpile(circuit, backend, seed_transpiler=4)
        ours = SyncSamplerV2(backend).run([(isa, values)], shots=shots).result()[0]
        theirs = BackendSamplerV2(backend=backend).run([(isa, values)], shots=shots).result()[0]
    assert ours.data.first.shape == theirs.data.first.shape == (2,)
    for i in range(2):
        a, b = ours.join_data().get_counts(i), theirs.join_data().get_counts(i)
        keys = sorted(set(a) | set(b))
        table = [[a.get(k, 0) for k in keys], [b.get(k, 0) for k in keys]]
        assert chi2_contingency(table).pvalue > P_MIN, (a, b)  # two samples of one distribution
