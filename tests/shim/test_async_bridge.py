"""``*_async`` methods awaited from foreign event loops, and blocking calls made inside a running loop."""

from __future__ import annotations

import asyncio
import threading

import anyio
import pytest
from qiskit import QuantumCircuit
from qiskit.providers import JobStatus

from iqm_async.server import RunningServer
from iqm_sync_shim import IQMBackend, IQMJob, JobFailedError, JobTimeoutError, PortalThreadError, _runner


def portal_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "iqm-sync-shim-portal"]


def test_result_async_from_an_asyncio_loop(backend: IQMBackend, bell: QuantumCircuit, srv: RunningServer) -> None:
    srv.state.hold()
    job = backend.run(bell, shots=20)

    async def main() -> tuple[JobStatus, JobStatus, dict[str, int], int]:
        queued = await job.status_async()
        srv.state.release()
        result = await job.result_async(timeout=30)
        return queued, await job.status_async(), result.get_counts(), threading.get_ident()

    queued, done, counts, loop_thread = asyncio.run(main())
    assert (queued, done) == (JobStatus.QUEUED, JobStatus.DONE)
    assert set(counts) <= {"00", "11"} and sum(counts.values()) == 20
    assert loop_thread == threading.get_ident()  # the caller's loop only awaited; the portal did the work
    assert len(portal_threads()) == 1


def test_async_errors_are_the_facades(backend: IQMBackend, bell: QuantumCircuit, srv: RunningServer) -> None:
    srv.state.hold()
    held = backend.run(bell, shots=4)
    srv.state.faults.add({"action": "fail_job", "message": "boom"})

    async def main() -> None:
        with pytest.raises(JobTimeoutError, match=held.job_id()):
            await held.result_async(timeout=0.1)
        assert await held.cancel_async() is True
        assert await held.status_async() is JobStatus.CANCELLED
        srv.state.release()
        failing = backend.run(bell, shots=4)  # a plain def call inside a running loop works too
        with pytest.raises(JobFailedError, match="boom"):
            await failing.result_async()

    asyncio.run(main())


def test_cancelling_the_await_cancels_only_the_local_wait(
    backend: IQMBackend, bell: QuantumCircuit, srv: RunningServer
) -> None:
    srv.state.hold()
    job = backend.run(bell, shots=4)

    async def main() -> None:
        task = asyncio.ensure_future(job.result_async())
        await asyncio.sleep(0)  # let the task start waiting on the portal
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert srv.state.store.status(job.job_id()) == "waiting"
    srv.state.release()
    assert job.result().success


def test_result_async_from_trio(backend: IQMBackend, bell: QuantumCircuit, srv: RunningServer) -> None:
    job = backend.run(bell, shots=8)

    async def main() -> dict[str, int]:
        return (await job.result_async()).get_counts()

    counts = anyio.run(main, backend="trio")
    assert sum(counts.values()) == 8


def test_blocking_calls_inside_a_running_loop(
    backend: IQMBackend, bell: QuantumCircuit, srv: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """They work (the portal runs them), and the first one with an async twin warns that it stalls the loop."""
    monkeypatch.setattr(_runner, "_warned_blocking", False)

    def sync_code() -> dict[str, int]:  # e.g. a library function called from a handler
        job = backend.run(bell, shots=8)
        job.status()
        return job.result().get_counts()

    async def main() -> dict[str, int]:
        asyncio.get_running_loop()  # a loop is running in this thread
        return sync_code()

    with pytest.warns(RuntimeWarning, match=r"IQMJob.status\(\) blocks this thread.*await job.status_async"):
        assert sum(asyncio.run(main()).values()) == 8


def test_on_the_portal_loop_async_methods_call_the_core_directly_and_blocking_ones_refuse(
    backend: IQMBackend, bell: QuantumCircuit, srv: RunningServer
) -> None:
    job = backend.run(bell, shots=8)

    async def on_portal(client: object, the_job: IQMJob) -> tuple[dict[str, int], str]:
        counts = (await the_job.result_async()).get_counts()
        try:
            the_job.error_message()
        except PortalThreadError as exc:
            return counts, str(exc)
        return counts, ""

    counts, refusal = backend.call_core(on_portal, job)
    assert sum(counts.values()) == 8
    assert "would wait for itself" in refusal
