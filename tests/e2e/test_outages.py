"""Outages in front of the server, through a fault proxy: waits, downloads and batches outlast them.

The proxy (:mod:`tests.faultproxy`) sits between client and embedded server and makes the failures a
server cannot make of itself: refused connections for longer than the HTTP retry budget, a gateway
answering 502 with an HTML page, a black hole, a server restarted with fresh state.

The clients run on virtual time (:class:`VirtualTime`): their ``sleep`` advances a clock instead of
waiting, so a 120-second outage costs a fraction of a second of real time, and the test ends an outage
when the client has waited the virtual time the scenario needs (an event, not a wall-clock guess).
Every test checks the result, the error type and message, and the server's counters (no job twice).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import anyio
import anyio.to_thread
import pytest
from qiskit import QuantumCircuit, transpile

from iqm_async import (
    AsyncIQMClient,
    JobTimeoutError,
    NotFoundError,
    OperationTimeoutError,
    PollPolicy,
    RetryPolicy,
    SubmissionUnknownError,
)
from iqm_async.batch.workers import SUBMIT_CONCURRENCY
from iqm_async.server import RunningServer, ServerConfig, serve_in_thread
from iqm_sync_shim import IQMProvider
from tests.faultproxy import FaultProxy
from tests.helpers import pattern, pattern_outcome

SHOTS = 16
POLL = PollPolicy(first_delay=0.05, max_interval=1.0)


class VirtualTime:
    """A clock and sleep for the client: a sleep moves the clock instead of waiting (thread-safe).

    The clock jumps to the earliest wake-up any sleeper asked for, so concurrent sleepers sleep side by
    side (eight tasks sleeping 1 s take 1 virtual second, not 8). Real time passes too: each turn of a
    sleeper gives the loop and the server a millisecond.
    """

    def __init__(self) -> None:
        self.offset = 0.0
        self._lock = threading.Lock()
        self._moved = threading.Condition(self._lock)  # notified whenever the clock is moved on
        self._pending: list[float] = []

    def clock(self) -> float:
        """Real monotonic time plus every second the clock was moved on."""
        return time.monotonic() + self.offset

    async def sleep(self, seconds: float) -> None:
        """Return once the clock has reached now + ``seconds``, moving it there if no sleeper wakes earlier."""
        with self._lock:
            target = self.clock() + max(0.0, seconds)
            self._pending.append(target)
        try:
            while True:
                with self._lock:
                    now = self.clock()
                    if now >= target:
                        return
                    if target <= min(self._pending):
                        self.offset += target - now
                        self._moved.notify_all()
                await anyio.sleep(0.001)  # the injected sleep's own turn: the loop and the server run meanwhile
        finally:
            with self._lock:
                self._pending.remove(target)

    async def until(self, seconds: float) -> None:
        """Return once the client has slept ``seconds`` of virtual time in all (the loop runs on meanwhile)."""
        await anyio.to_thread.run_sync(self.wait, seconds)

    def wait(self, seconds: float) -> None:
        """:meth:`until`, for a thread without an event loop: waits on the clock's moves, not on a timer."""
        with self._moved:
            moved = self._moved.wait_for(lambda: self.offset >= seconds, timeout=60)
        assert moved, f"the client slept only {self.offset:.1f} virtual s"


@pytest.fixture
def proxy(server: RunningServer) -> Iterator[FaultProxy]:
    """A fault proxy in front of the session's (reset) server."""
    p = FaultProxy(("127.0.0.1", server.port))
    yield p
    p.close()


@pytest.fixture
def vt() -> VirtualTime:
    return VirtualTime()


def client_for(proxy: FaultProxy, vt: VirtualTime, **kwargs: Any) -> AsyncIQMClient:
    kwargs.setdefault("poll", POLL)
    return AsyncIQMClient(proxy.url, sleep=vt.sleep, clock=vt.clock, **kwargs)


async def completed(server: RunningServer, job_id: str) -> None:
    """Wait (in a thread, so the client's loop runs on) until the server has completed the job."""
    status = await anyio.to_thread.run_sync(lambda: server.state.wait_for_status(job_id, timeout=30))
    assert status == "completed"


def warnings_about(caplog: pytest.LogCaptureFixture, words: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and words in r.getMessage()]


# ------------------------------------------------------------------------------------------ single jobs


@pytest.mark.parametrize("mode", ["refuse", "html502", "reset"])
async def test_result_outlasts_an_outage_longer_than_the_retry_budget(
    server: RunningServer, proxy: FaultProxy, vt: VirtualTime, mode: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A 120 s outage (the HTTP retry budget of one request is ~16 s) ends in the right result, one job."""
    server.state.hold()
    async with client_for(proxy, vt) as client:
        job = await client.submit(pattern(3), shots=SHOTS)
        got: list[Any] = []

        async def wait() -> None:
            got.append(await job.result_async(timeout_seconds=3600))

        async with anyio.create_task_group() as tg:
            with proxy.outage(mode):
                tg.start_soon(wait)
                start = vt.offset
                await vt.until(start + 120)
                server.state.release()  # the job finishes during the outage
                await completed(server, job.job_id)
        assert got[0].get_counts() == {pattern_outcome(3): SHOTS}
    assert server.state.stats()["jobs_created"] == 1
    assert len(warnings_about(caplog, "cannot be reached")) == 1
    ended = warnings_about(caplog, "answers again")
    assert len(ended) == 1 and job.job_id[:8] in ended[0]


async def test_download_outlasts_an_outage(
    server: RunningServer, proxy: FaultProxy, vt: VirtualTime, caplog: pytest.LogCaptureFixture
) -> None:
    """The job is done before the wait starts; the outage hits the status read and the download."""
    async with client_for(proxy, vt) as client:
        job = await client.submit(pattern(5), shots=SHOTS)
        await completed(server, job.job_id)
        got: list[Any] = []

        async def wait() -> None:
            got.append(await job.result_async(timeout_seconds=600))

        async with anyio.create_task_group() as tg:
            with proxy.outage("html502"):
                tg.start_soon(wait)
                await vt.until(45)
        assert got[0].get_counts() == {pattern_outcome(5): SHOTS}
    assert server.state.stats()["jobs_created"] == 1


async def test_black_hole_is_an_outage(server: RunningServer, proxy: FaultProxy, vt: VirtualTime) -> None:
    """Requests that are swallowed time out (real time, kept short) and count as an outage, not a failure."""
    server.state.hold()
    retry = RetryPolicy(max_attempts=2, base_delay=0.5)
    async with client_for(proxy, vt, timeout=0.3, retry=retry) as client:
        job = await client.submit(pattern(1), shots=SHOTS)
        got: list[Any] = []

        async def wait() -> None:
            got.append(await job.result_async(timeout_seconds=600))

        async with anyio.create_task_group() as tg:
            with proxy.outage("blackhole"):
                tg.start_soon(wait)
                await anyio.to_thread.run_sync(proxy.wait_seen, "blackhole", 4)
                server.state.release()
        assert got[0].get_counts() == {pattern_outcome(1): SHOTS}
    assert server.state.stats()["jobs_created"] == 1


async def test_deadline_during_an_outage_names_it(server: RunningServer, proxy: FaultProxy, vt: VirtualTime) -> None:
    """An outage that outlasts the wait's deadline: a JobTimeoutError with the outage, the page title, the id."""
    server.state.hold()
    async with client_for(proxy, vt) as client:
        job = await client.submit(pattern(2), shots=SHOTS)
        proxy.set_mode("html502")
        with pytest.raises(JobTimeoutError) as info:
            await job.result_async(timeout_seconds=3)  # a real-time deadline; the outage lasts minutes of its clock
        message = str(info.value)
        assert info.value.job_id == job.job_id and job.job_id in message
        assert "could not be reached for the last" in message
        assert "502 Bad Gateway" in message and "<html" not in message.lower()
        assert f"client.job({job.job_id!r})" in message
        # The job was healthy all along: once the path is back it is still there and finishes.
        proxy.set_mode("forward")
        server.state.release()
        result = await job.result_async(timeout_seconds=600)
        assert result.get_counts() == {pattern_outcome(2): SHOTS}
    assert server.state.stats()["jobs_created"] == 1


async def test_a_restarted_server_that_forgot_the_job_says_so(
    server: RunningServer, proxy: FaultProxy, vt: VirtualTime
) -> None:
    """The server comes back with fresh state: the wait ends at once with 'no longer knows', not at the deadline."""
    server.state.hold()
    with serve_in_thread(ServerConfig(seed=99)) as fresh:
        async with client_for(proxy, vt) as client:
            job = await client.submit(pattern(4), shots=SHOTS)
            with proxy.outage("refuse"):
                proxy.set_upstream(("127.0.0.1", fresh.port))
            with pytest.raises(NotFoundError) as info:
                await job.result_async(timeout_seconds=3600)
            assert "no longer knows job" in str(info.value) and job.job_id in str(info.value)
            assert info.value.job_id == job.job_id
            assert vt.offset < 60, "a definitive 404 must not wait for the deadline"
        assert fresh.state.stats()["jobs_created"] == 0
    assert server.state.stats()["jobs_created"] == 1


def test_facade_result_outlasts_an_outage(server: RunningServer, proxy: FaultProxy, vt: VirtualTime) -> None:
    """The blocking facade: ``job.result(timeout=...)`` across a 90 s refusal gives the right counts."""
    server.state.hold()
    provider = IQMProvider(proxy.url, sleep=vt.sleep, clock=vt.clock, poll=POLL)
    try:
        backend = provider.get_backend()
        qc = QuantumCircuit(2, 2)
        qc.x(0)
        qc.measure([0, 1], [0, 1])
        job = backend.run(transpile(qc, backend, seed_transpiler=1), shots=SHOTS)
        with proxy.outage("refuse"):
            done: list[Any] = []
            thread = threading.Thread(target=lambda: done.append(job.result(timeout=3600)))
            thread.start()
            vt.wait(90)
            server.state.release()
            assert server.state.wait_for_status(job.job_id(), timeout=30) == "completed"
        thread.join(60)
        assert not thread.is_alive()
        assert done[0].get_counts() == {"01": SHOTS}
    finally:
        provider.close()
    assert server.state.stats()["jobs_created"] == 1


# ------------------------------------------------------------------------------------------ batches


async def test_batch_submits_wait_out_refused_connections(
    server: RunningServer, proxy: FaultProxy, vt: VirtualTime, caplog: pytest.LogCaptureFixture
) -> None:
    """Every submit of a batch meets refused connections for longer than the retry budget: the batch pauses,
    then submits every circuit exactly once (a refused connection provably sent nothing)."""
    circuits = [pattern(i) for i in range(12)]
    async with client_for(proxy, vt) as client:
        # The architecture is in hand (the batch's plan sends nothing), so the outage meets the submits.
        calset = (await client.dynamic_architecture()).calibration_set_id
        with proxy.outage("refuse"):
            batch = client.run_batch(
                circuits,
                shots=SHOTS,
                circuits_per_job=1,
                progress=False,
                timeout_seconds=3600,
                calibration_set_id=calset,
            )
            async with batch:
                await vt.until(vt.offset + 60)
                assert server.state.stats()["jobs_created"] == 0
                proxy.set_mode("forward")
                results = await batch.results(return_exceptions=True)
    assert [r if isinstance(r, Exception) else r.counts for r in results] == [
        {pattern_outcome(i): SHOTS} for i in range(12)
    ]
    assert server.state.stats()["jobs_created"] == 12
    assert len(warnings_about(caplog, "cannot be reached")) == 1


async def test_batch_started_during_an_outage_waits_for_the_server(
    server: RunningServer, proxy: FaultProxy, vt: VirtualTime
) -> None:
    """The batch's first read (the architecture) meets a 502 gateway: the batch starts once it recovers."""
    circuits = [pattern(i) for i in range(4)]

    async def recover_after(seconds: float) -> None:
        await vt.until(seconds)
        proxy.set_mode("forward")

    async with client_for(proxy, vt) as client:
        await client.quantum_computer()
        proxy.set_mode("html502")
        async with anyio.create_task_group() as tg:
            tg.start_soon(recover_after, 45.0)
            batch = client.run_batch(circuits, shots=SHOTS, circuits_per_job=1, progress=False)
            async with batch:
                results = await batch.results()
        assert vt.offset >= 45
    assert [r.counts for r in results] == [{pattern_outcome(i): SHOTS} for i in range(4)]
    assert server.state.stats()["jobs_created"] == 4


async def test_batch_start_gives_up_at_its_deadline(server: RunningServer, proxy: FaultProxy, vt: VirtualTime) -> None:
    """A gateway that never recovers: the batch's start ends at its deadline with the outage named."""
    async with client_for(proxy, vt) as client:
        await client.quantum_computer()
        proxy.set_mode("html502")
        batch = client.run_batch([pattern(0)], shots=SHOTS, progress=False, timeout_seconds=5)
        with pytest.raises(OperationTimeoutError, match="could not be reached.*502 Bad Gateway.*Nothing was submitted"):
            async with batch:
                pass
    assert server.state.stats()["jobs_created"] == 0


async def test_batch_reads_outlast_an_html_502_outage(
    server: RunningServer, proxy: FaultProxy, vt: VirtualTime, caplog: pytest.LogCaptureFixture
) -> None:
    """Every job submitted, then the polls and downloads meet 90 s of 502 pages: no outcome is lost."""
    circuits = [pattern(i) for i in range(12)]
    server.state.hold()
    async with client_for(proxy, vt) as client:
        batch = client.run_batch(circuits, shots=SHOTS, circuits_per_job=1, progress=False, timeout_seconds=3600)
        async with batch:
            await anyio.to_thread.run_sync(lambda: server.state.wait_for(lambda: server.state.store.jobs_created >= 12))
            with proxy.outage("html502"):
                await vt.until(vt.offset + 90)
                requests_during = proxy.seen["html502"]
                server.state.release()
                await anyio.to_thread.run_sync(
                    lambda: server.state.wait_for(
                        lambda: server.state.store.status_counts().get("completed", 0) >= 12, 30
                    )
                )
            results = await batch.results()
    assert [r.counts for r in results] == [{pattern_outcome(i): SHOTS} for i in range(12)]
    assert server.state.stats()["jobs_created"] == 12
    assert len(warnings_about(caplog, "cannot be reached")) == 1
    # One probe asks for the whole batch while the polls wait for its all-clear (each poll used to retry on
    # its own: about 13 requests a minute per job, 230 in 90 s for 12 jobs). Twelve jobs keep the whole test inside
    # the server's real-time quota, which the client's virtual clock cannot see.
    assert requests_during <= 120


async def test_batch_stops_submitting_into_a_failing_gateway(
    server: RunningServer, proxy: FaultProxy, vt: VirtualTime
) -> None:
    """One ambiguous submit (a 502 after the body was sent) pauses all submits until a probe gets through.

    Only the submits in flight when the gateway failed may end unknown; they are never re-sent, and every
    other circuit is submitted once after the gateway recovers.
    """
    circuits = [pattern(i) for i in range(16)]
    async with client_for(proxy, vt) as client:
        batch = client.run_batch(circuits, shots=SHOTS, circuits_per_job=1, progress=False, timeout_seconds=3600)
        async with batch:
            await anyio.to_thread.run_sync(lambda: server.state.wait_for(lambda: server.state.store.jobs_created >= 2))
            with proxy.outage("html502"):
                await anyio.to_thread.run_sync(proxy.wait_seen, "html502", 1)
                await vt.until(vt.offset + 30)
                submits_during = [r for mode, r in proxy.requests if r.startswith("POST")]
            results = await batch.results(return_exceptions=True)
    unknown = [r for r in results if isinstance(r, SubmissionUnknownError)]
    ok = [i for i, r in enumerate(results) if not isinstance(r, Exception)]
    assert all(results[i].counts == {pattern_outcome(i): SHOTS} for i in ok)  # type: ignore[union-attr]
    assert len(ok) + len(unknown) == 16, [r for r in results if isinstance(r, Exception)]
    # Only the submits on their way when the gateway failed may be unknown, and once one submit came back
    # ambiguous the batch sent no new submit into the failing gateway (it probed with reads instead).
    assert len(unknown) <= SUBMIT_CONCURRENCY
    assert len(submits_during) <= SUBMIT_CONCURRENCY
    # An unknown submit may have created its job (the gateway failed after the server acted), but no
    # circuit reached the server twice: unknown ones were never re-sent.
    names = [c["name"] for j in server.state.store.job_ids() for c in server.state.store.payload(j)["circuits"]]
    assert len(names) == len(set(names))
    assert len(ok) <= server.state.stats()["jobs_created"] <= len(ok) + len(unknown)


async def test_refused_submits_do_not_use_up_the_request_budget(
    server: RunningServer, proxy: FaultProxy, vt: VirtualTime
) -> None:
    """Refused connections never reached the server, so its quota never counted them: after a short outage
    the batch submits at once instead of waiting out a rate-limit window it filled with refusals."""
    circuits = [pattern(i) for i in range(12)]  # 12 submits fit in one window of the default quota
    async with client_for(proxy, vt) as client:
        calset = (await client.dynamic_architecture()).calibration_set_id
        budget = client.transport.budget
        with proxy.outage("refuse"):
            batch = client.run_batch(
                circuits, shots=SHOTS, circuits_per_job=1, progress=False, calibration_set_id=calset
            )
            async with batch:
                await vt.until(vt.offset + 5)
                proxy.set_mode("forward")
                results = await batch.results()
    assert [r.counts for r in results] == [{pattern_outcome(i): SHOTS} for i in range(12)]
    assert server.state.stats()["jobs_created"] == 12
    assert budget.stats.waited_seconds == 0, "refused submits were charged to the budget"


async def test_a_batch_started_into_a_failing_gateway_risks_one_submit(
    server: RunningServer, proxy: FaultProxy, vt: VirtualTime
) -> None:
    """Slow start: the first submit goes alone; when the gateway fails it, the others wait for the probe's
    all-clear instead of each becoming an ambiguous submit (it was 8 of 20 before)."""
    circuits = [pattern(i) for i in range(10)]
    async with client_for(proxy, vt) as client:
        calset = (await client.dynamic_architecture()).calibration_set_id
        with proxy.outage("html502"):
            batch = client.run_batch(
                circuits, shots=SHOTS, circuits_per_job=1, progress=False, calibration_set_id=calset
            )
            async with batch:
                await anyio.to_thread.run_sync(proxy.wait_seen, "html502", 1)
                await vt.until(vt.offset + 20)
                submits_during = [r for mode, r in proxy.requests if r.startswith("POST")]
                proxy.set_mode("forward")
                results = await batch.results(return_exceptions=True)
    unknown = [i for i, r in enumerate(results) if isinstance(r, SubmissionUnknownError)]
    assert len(submits_during) == 1 and len(unknown) == 1
    assert [r.counts for i, r in enumerate(results) if i not in unknown] == [  # type: ignore[union-attr]
        {pattern_outcome(i): SHOTS} for i in range(10) if i not in unknown
    ]
    assert server.state.stats()["jobs_created"] == 9
