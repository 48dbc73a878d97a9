"""The blocking batch of the Qiskit facade (``iqm_sync_shim.batch``) against the embedded server.

Plain ``def`` tests: the provider's client lives on the shim's portal loop, never on a test loop.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from qiskit import QuantumCircuit
from qiskit.providers import JobError as QiskitJobError

from iqm_async import BatchError, PollPolicy
from iqm_async.server import RunningServer
from iqm_sync_shim import IQMBackend, IQMProvider
from iqm_sync_shim.batch import SyncBatch, run_batch

FAST = PollPolicy(first_delay=0.02, max_interval=0.1, per_queue_position=0.01, max_queued_interval=0.2)
SHOTS = 8


def pattern(i: int) -> QuantumCircuit:
    qc = QuantumCircuit(3, 3, name=f"p{i}")
    for q in range(3):
        if (i >> q) & 1:
            qc.x(q)
    qc.measure(range(3), range(3))
    return qc


def expected(i: int) -> dict[str, int]:
    return {format(i % 8, "03b"): SHOTS}


@pytest.fixture
def backend(server: RunningServer) -> Iterator[IQMBackend]:
    with IQMProvider(server.url, poll=FAST) as provider:
        yield provider.get_backend()


def test_blocking_iteration_results_and_callbacks_on_the_callers_thread(server: RunningServer, backend) -> None:
    callers: set[int] = set()
    seen: list[int] = []

    def on_complete(outcome: Any) -> None:
        callers.add(threading.get_ident())
        seen.append(outcome.index)

    sweep = run_batch(
        backend,
        [pattern(i) for i in range(7)],
        shots=SHOTS,
        circuits_per_job=3,
        progress=False,
        on_complete=on_complete,
    )
    assert isinstance(sweep, SyncBatch)
    streamed = [o.index for o in sweep]
    assert sorted(streamed) == list(range(7))
    assert [r.counts for r in sweep.results()] == [expected(i) for i in range(7)]
    assert [r.get_counts() for r in sweep.qiskit_results()] == [expected(i) for i in range(7)]
    assert sorted(seen) == list(range(7)) and callers == {threading.get_ident()}
    assert len(sweep.job_ids) == 3 and sweep.counts.done == 7 and sweep.done()
    assert [o.index for o in sweep] == streamed  # iterating again replays


def test_failures_are_qiskit_job_errors_and_cancel_reaches_the_server(server: RunningServer, backend) -> None:
    server.state.faults.add({"action": "fail_job", "message": "boom"})
    sweep = run_batch(
        backend, [pattern(i) for i in range(4)], shots=SHOTS, circuits_per_job=2, max_in_flight=1, progress=False
    )
    with pytest.raises(BatchError) as caught:
        sweep.results()
    assert [f.index for f in caught.value.failures] == [0, 1]
    assert all(isinstance(f.error, QiskitJobError) for f in caught.value.failures)

    server.state.reset()
    server.state.hold()
    with run_batch(backend, [pattern(i) for i in range(3)], shots=SHOTS, circuits_per_job=1, progress=False) as held:
        assert server.state.wait_for(lambda: server.state.store.jobs_created == 3, timeout=20)
        # Jobs whose submit reply is still on its way when cancel() runs are cancelled as it arrives.
        assert held.cancel() <= 3
    assert server.state.stats()["jobs_by_status"]["cancelled"] == 3
    assert [type(o.error).__name__ for o in held.outcomes()] == ["JobCancelledError"] * 3


def test_an_untranspiled_circuit_raises_from_run_batch_before_anything_is_sent(server: RunningServer, backend) -> None:
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.measure([0, 1], [0, 1])
    with pytest.raises(ValueError, match="not natively supported"):
        run_batch(backend, [qc], progress=False)
    assert server.state.stats()["jobs_created"] == 0
