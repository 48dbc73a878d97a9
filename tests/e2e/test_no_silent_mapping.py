"""Inputs that could map qubits or circuits silently to something else are refused before anything is sent.

Before the fix, ``submit(circuit, qubit_names=["QB1", "QB1"])`` sent both Qiskit qubits to QB1 and returned
counts that looked fine; every test here checks the error and that the server saw no submit.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from qiskit import QuantumCircuit

from iqm_async import AsyncIQMClient, PollPolicy, RetryPolicy
from iqm_async.errors import CircuitValidationError
from iqm_async.server import RunningServer


def posts(server: RunningServer) -> list[Any]:
    return [r for r in server.state.requests() if r.method == "POST"]


def two_qubit() -> QuantumCircuit:
    qc = QuantumCircuit(2, 2, name="x0")
    qc.x(0)
    qc.measure([0, 1], [0, 1])
    return qc


@pytest.fixture
async def client(server: RunningServer):
    fast = RetryPolicy(base_delay=0.01, max_delay=0.05)
    async with AsyncIQMClient(server.url, poll=PollPolicy(first_delay=0.02, max_interval=0.2), retry=fast) as c:
        yield c


@pytest.mark.parametrize(
    ("names", "fragment"),
    [
        (["QB1", "QB1"], "more than once"),
        (["QB1", "QB2", "QB1"], "more than once"),
        ("QB1QB2", "list of physical qubit names"),
        (["QB1", 2], "non-empty strings"),
        (["QB1", ""], "non-empty strings"),
        (None.__class__, "list of physical qubit names"),
    ],
)
async def test_core_qubit_names_that_would_map_silently_are_refused(
    client: AsyncIQMClient, server: RunningServer, names: Any, fragment: str
) -> None:
    with pytest.raises(CircuitValidationError, match=fragment):
        await client.submit(two_qubit(), shots=10, qubit_names=names)
    assert posts(server) == []


async def test_batch_refuses_duplicate_qubit_names_before_any_submit(
    client: AsyncIQMClient, server: RunningServer
) -> None:
    with pytest.raises(CircuitValidationError, match="more than once"):
        await client.run_batch([two_qubit()] * 3, shots=10, qubit_names=["QB2", "QB2"], progress=False).results()
    assert posts(server) == []


async def test_distinct_qubit_names_are_used_as_given(client: AsyncIQMClient, server: RunningServer) -> None:
    # X on Qiskit qubit 0, which is sent to QB3: the wire circuit must name QB3 and the counts show bit 0 set.
    job = await client.submit(two_qubit(), shots=20, qubit_names=["QB3", "QB1"])
    definition = await job.definition_async()
    assert {i.locus for i in definition.circuits[0].instructions if i.name == "prx"} == {("QB3",)}
    counts = (await job.result_async(timeout_seconds=60)).get_counts()
    assert counts == {"01": 20}


def test_facade_index_override_that_doubles_a_qubit_is_refused(server: RunningServer) -> None:
    from iqm_sync_shim import IQMProvider

    with IQMProvider(server.url) as provider:
        backend = provider.get_backend()
        second = backend.index_to_qubit_name(1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(CircuitValidationError, match="more than once"):
                backend.run(two_qubit(), shots=10, qubit_index_to_name={0: second})
    assert posts(server) == []


async def test_numpy_shots_and_circuit_containers_are_accepted(client: AsyncIQMClient) -> None:
    qc = two_qubit()
    array = np.empty(2, dtype=object)  # np.array([qc, qc]) would unpack the circuits' instructions
    array[:] = [qc, qc]
    for circuits in ((qc, qc), array, (c for c in [qc, qc])):
        job = await client.submit(circuits, shots=np.int64(16))
        result = await job.result_async(timeout_seconds=60)
        assert [result.get_counts(i) for i in range(2)] == [{"01": 16}, {"01": 16}]


@pytest.mark.parametrize("shots", [True, 10.0, np.float64(10), -1, 0])
async def test_shots_that_are_not_positive_integers_are_refused(
    client: AsyncIQMClient, server: RunningServer, shots: Any
) -> None:
    with pytest.raises(CircuitValidationError, match="shots"):
        await client.submit(two_qubit(), shots=shots)
    assert posts(server) == []
