"""Many threads using the facade at once share one portal loop and one client."""

from __future__ import annotations

import threading

from qiskit import QuantumCircuit
from qiskit.providers import JobStatus

from iqm_async.server import RunningServer
from iqm_sync_shim import IQMBackend, IQMJob

N_THREADS = 32


def test_32_threads_run_status_and_result_at_once(
    backend: IQMBackend, bell: QuantumCircuit, srv: RunningServer
) -> None:
    srv.state.hold()
    all_waiting = threading.Barrier(N_THREADS + 1, timeout=60)
    jobs: list[IQMJob | None] = [None] * N_THREADS
    statuses: list[JobStatus | None] = [None] * N_THREADS
    counts: list[dict[str, int] | None] = [None] * N_THREADS
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            job = backend.run(bell, shots=10 + i)
            jobs[i] = job
            statuses[i] = job.status()
            all_waiting.wait()
            counts[i] = job.result(timeout=60).get_counts()
        except BaseException as exc:
            errors.append(exc)
            all_waiting.abort()

    threads = [threading.Thread(target=worker, args=(i,), name=f"user-{i}") for i in range(N_THREADS)]
    for t in threads:
        t.start()
    all_waiting.wait()  # every thread has submitted and seen its job queued
    assert srv.state.store.queue_length == N_THREADS
    srv.state.release()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert statuses == [JobStatus.QUEUED] * N_THREADS
    assert len({j.job_id() for j in jobs if j is not None}) == N_THREADS
    for i, c in enumerate(counts):
        assert c is not None and set(c) <= {"00", "11"} and sum(c.values()) == 10 + i
    # One loop served them all: one portal thread, one shared client.
    assert len([t for t in threading.enumerate() if t.name == "iqm-sync-shim-portal"]) == 1
    assert len({id(j._core.client) for j in jobs if j is not None and j._core is not None}) == 1
