"""IQMJob against the loopback server: status mapping, queue position, failures, timeouts, cancel, waiting.

Jobs are kept waiting with the server's ``hold()`` and let go with ``release()``; nothing sleeps.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from qiskit import QuantumCircuit
from qiskit.providers import JobError as QiskitJobError
from qiskit.providers import JobStatus
from qiskit.providers import JobTimeoutError as QiskitJobTimeoutError
from qiskit.result import Result

import iqm_async
from iqm_async.server import RateLimitConfig, RunningServer, ServerConfig, serve_in_thread
from iqm_sync_shim import IQMBackend, IQMJob, IQMProvider, JobFailedError, JobTimeoutError

from .conftest import CLIENT_OPTIONS


def requests(srv: RunningServer) -> int:
    return int(srv.state.stats()["requests"])


def test_status_queued_then_done_and_final_status_is_cached(
    backend: IQMBackend, bell: QuantumCircuit, srv: RunningServer
) -> None:
    srv.state.hold()
    job = backend.run(bell, shots=10)
    assert job.status() is JobStatus.QUEUED
    assert not job.done() and not job.in_final_state()
    srv.state.release()
    assert srv.state.wait_for_status(job.job_id(), timeout=30) == "completed"
    assert job.status() is JobStatus.DONE
    before = requests(srv)
    assert job.status() is JobStatus.DONE and job.done() and job.in_final_state() and not job.cancelled()
    assert job.queue_position() is None and job.queue_position(refresh=True) is None
    assert requests(srv) == before  # a final status is never asked for again


def test_result_is_fetched_once_then_cached(backend: IQMBackend, bell: QuantumCircuit, srv: RunningServer) -> None:
    job = backend.run(bell, shots=10)
    result = job.result()
    assert isinstance(result, Result) and result.success
    before = requests(srv)
    assert job.result() is result
    assert requests(srv) == before
    # Raw storage is Aer's hex memory; get_memory() shows IQM's bitstrings.
    assert all(m in ("0x0", "0x3") for m in result.results[0].data.memory)
    assert set(result.get_memory()) <= {"00", "11"}
    assert result.backend_name == "sim" and result.job_id == job.job_id()
    assert [t.status for t in result.timeline] == ["created", "received", "completed", "ready"]


def test_queue_position_is_the_servers(backend: IQMBackend, bell: QuantumCircuit, srv: RunningServer) -> None:
    srv.state.hold()
    jobs = [backend.run(bell, shots=4) for _ in range(3)]
    assert [j.queue_position(refresh=True) for j in jobs] == [0, 1, 2]
    assert jobs[0].cancel() is True
    # Without refresh the cached position is returned, without a request.
    before = requests(srv)
    assert jobs[2].queue_position() == 2
    assert requests(srv) == before
    assert jobs[2].queue_position(refresh=True) == 1
    assert jobs[0].queue_position(refresh=True) is None
    srv.state.release()
    assert jobs[2].result().success
    assert jobs[2].queue_position() is None


def test_retrieved_job_queue_position_asks_when_nothing_is_known(
    backend: IQMBackend, bell: QuantumCircuit, srv: RunningServer
) -> None:
    srv.state.hold()
    first = backend.run(bell, shots=4)
    second = backend.run(bell, shots=4)
    assert IQMJob(backend, second.job_id()).queue_position() == 1
    assert first.cancel() and second.cancel()


def test_failed_job_raises_the_typed_error_with_the_servers_message(
    backend: IQMBackend, bell: QuantumCircuit, srv: RunningServer
) -> None:
    srv.state.faults.add(
        {"action": "fail_job", "message": "Circuit duration exceeds T2 limit", "error_code": "too_long"}
    )
    job = backend.run(bell, shots=10)
    with pytest.raises(JobFailedError, match="Circuit duration exceeds T2 limit") as info:
        job.result()
    err = info.value
    assert isinstance(err, iqm_async.JobFailedError) and isinstance(err, QiskitJobError)
    assert err.job_id == job.job_id()
    assert err.errors[0]["message"] == "Circuit duration exceeds T2 limit"
    assert job.status() is JobStatus.ERROR
    assert job.error_message() == "  iqm-server: too_long: Circuit duration exceeds T2 limit"


def test_error_message_is_none_for_a_good_job(backend: IQMBackend, bell: QuantumCircuit, srv: RunningServer) -> None:
    job = backend.run(bell, shots=2)
    job.result()
    assert job.error_message() is None


def test_timeout_raises_qiskits_job_timeout_and_leaves_the_job_running(
    backend: IQMBackend, bell: QuantumCircuit, srv: RunningServer
) -> None:
    srv.state.hold()
    job = backend.run(bell, shots=10)
    with pytest.raises(JobTimeoutError) as info:
        job.result(timeout=0.2)
    err = info.value
    assert isinstance(err, QiskitJobTimeoutError) and isinstance(err, iqm_async.JobTimeoutError)
    assert isinstance(err, iqm_async.OperationTimeoutError)
    assert job.job_id() in str(err) and err.job_id == job.job_id() and err.timeout_seconds == 0.2
    assert srv.state.store.status(job.job_id()) == "waiting"
    srv.state.release()
    assert job.result().success


def test_run_timeout_seconds_is_honoured(backend: IQMBackend, bell: QuantumCircuit, srv: RunningServer) -> None:
    srv.state.hold()
    job = backend.run(bell, shots=10, timeout_seconds=0.2)
    with pytest.raises(JobTimeoutError, match=job.job_id()):
        job.result()
    assert srv.state.store.status(job.job_id()) == "waiting"


def test_cancel_after_timeout(backend: IQMBackend, bell: QuantumCircuit, srv: RunningServer) -> None:
    srv.state.hold()
    job = backend.run(bell, shots=10)
    with pytest.raises(JobTimeoutError, match="Cancelled"):
        job.result(timeout=0.1, cancel_after_timeout=True)
    assert srv.state.store.status(job.job_id()) == "cancelled"


def test_cancel_and_cancelled_result(backend: IQMBackend, bell: QuantumCircuit, srv: RunningServer) -> None:
    srv.state.hold()
    job = backend.run(bell, shots=10)
    assert job.cancel() is True
    assert job.status() is JobStatus.CANCELLED and job.cancelled()
    assert job.cancel() is False  # already final: nothing to cancel
    with pytest.warns(UserWarning, match="cancelled"):
        result = job.result()
    assert not result.success and result.results == []


def test_cancel_failure_warns_and_returns_false(backend: IQMBackend, bell: QuantumCircuit, srv: RunningServer) -> None:
    srv.state.hold()
    job = backend.run(bell, shots=10)
    srv.state.faults.add(
        {"match": {"method": "POST", "path": "/api/v1/jobs/*/cancel"}, "action": "status", "status": 404}
    )
    with pytest.warns(UserWarning, match="Failed to cancel job"):
        assert job.cancel() is False
    assert srv.state.store.status(job.job_id()) == "waiting"


def test_submit_is_refused_with_a_clear_error(backend: IQMBackend, bell: QuantumCircuit, srv: RunningServer) -> None:
    job = backend.run(bell, shots=2)
    with pytest.raises(NotImplementedError, match=r"IQMBackend\.run"):
        job.submit()


def test_wait_for_final_state_calls_back_on_the_callers_thread(
    backend: IQMBackend, bell: QuantumCircuit, srv: RunningServer
) -> None:
    srv.state.hold()
    job = backend.run(bell, shots=10)
    calls: list[tuple[str, JobStatus, IQMJob, int]] = []

    def callback(job_id: str, status: JobStatus, the_job: IQMJob) -> None:
        calls.append((job_id, status, the_job, threading.get_ident()))
        srv.state.release()  # the first report lets the job go

    job.wait_for_final_state(timeout=30, wait=1, callback=callback)
    assert job.status() is JobStatus.DONE
    assert calls and all(c[0] == job.job_id() and c[2] is job for c in calls)
    assert calls[0][1] is JobStatus.QUEUED
    assert {c[3] for c in calls} == {threading.get_ident()}
    job.wait_for_final_state()  # already final: returns at once


def test_wait_for_final_state_timeout(backend: IQMBackend, bell: QuantumCircuit, srv: RunningServer) -> None:
    srv.state.hold()
    job = backend.run(bell, shots=10)
    with pytest.raises(QiskitJobTimeoutError, match=job.job_id()):
        job.wait_for_final_state(timeout=0.2)
    with pytest.raises(JobTimeoutError):
        job.wait_for_final_state(timeout=0.1, callback=lambda *a: None)
    assert srv.state.store.status(job.job_id()) == "waiting"


@pytest.fixture(scope="module")
def slow_server() -> Iterator[RunningServer]:
    """A server whose circuits each take a minute, so a job can be seen processing (it is cancelled, never waited for)."""
    config = ServerConfig(exec_time_per_circuit=60.0, rate_limit=RateLimitConfig(enabled=False))
    with serve_in_thread(config) as running:
        yield running


def test_status_running_while_processing(slow_server: RunningServer, bell: QuantumCircuit) -> None:
    with IQMProvider(slow_server.url, **CLIENT_OPTIONS) as provider:
        job = provider.get_backend().run(bell, shots=2)
        assert slow_server.state.wait_for_status(job.job_id(), "processing", timeout=30) == "processing"
        assert job.status() is JobStatus.RUNNING and job.running()
        assert job.queue_position(refresh=True) is None
        assert job.cancel() is True
        assert slow_server.state.wait_for_status(job.job_id(), timeout=30) == "cancelled"
        assert job.status() is JobStatus.CANCELLED
