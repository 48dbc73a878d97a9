"""Progress: one tqdm line per job wait (queue position, then circuits done), the batch bar's queue, tqdm's choice.

The end-to-end tests drive the embedded server with ``hold()``/``release()`` from the client's injected
sleep, so each phase (waiting, processing, completed) is seen by a poll without any wall-clock wait in
the test itself.
"""

from __future__ import annotations

import io
import math
import re
import sys
from collections.abc import Iterator

import anyio
import anyio.to_thread
import pytest
from qiskit import QuantumCircuit

from iqm_async import AsyncIQMClient, PollPolicy, RateLimitPolicy
from iqm_async import progress as progress_mod
from iqm_async.batch.outcomes import BatchCounts
from iqm_async.batch.progress import ProgressBar
from iqm_async.models import JobData
from iqm_async.progress import JobProgress, bar_class, job_progress, want_progress
from iqm_async.server import RunningServer, ServerConfig, serve_in_thread

FAST = PollPolicy(first_delay=0.01, max_interval=0.05, per_queue_position=0.0, max_queued_interval=0.05)
ID = "5c0e1b52-9a4f-4f51-8d3e-0b8f4a1f0a77"


def flip(name: str) -> QuantumCircuit:
    qc = QuantumCircuit(1, 1, name=name)
    qc.r(math.pi, 0.0, 0)
    qc.measure(0, 0)
    return qc


def data(status: str, *, queue_position: int | None = None, progress: tuple[int, int] | None = None) -> JobData:
    doc = {"id": ID, "type": "circuit", "status": status}
    if queue_position is not None:
        doc["queue_position"] = queue_position
    if progress is not None:
        doc["execution"] = {"progress": {"circuits": {"value": progress[0], "max_value": progress[1]}}}
    return JobData.from_json(doc)


def lines(text: str) -> list[str]:
    """Every state tqdm drew (it separates redraws with carriage returns), stripped."""
    return [part.strip() for part in re.split(r"[\r\n]", text) if part.strip()]


# ------------------------------------------------------------------ the single-job line, unit level


def test_job_line_shows_queue_position_then_circuits_then_completion() -> None:
    out = io.StringIO()
    bar = JobProgress(ID, file=out)
    bar.update(data("waiting", queue_position=3))
    bar.update(data("waiting", queue_position=1))
    bar.update(data("processing", progress=(0, 4)))
    bar.update(data("processing", progress=(3, 4)))
    bar.update(data("completed", progress=(4, 4)))
    bar.close()
    drawn = lines(out.getvalue())
    assert "job 5c0e1b52: queued, position 3 [00:00]" in drawn
    assert "job 5c0e1b52: queued, position 1 [00:00]" in drawn
    assert any(re.match(r"job 5c0e1b52:\s+75%\|.*\| 3/4 circuits", line) for line in drawn), drawn
    assert re.match(r"job 5c0e1b52:\s+100%\|.*\| 4/4 circuits", drawn[-1]), drawn
    assert out.getvalue().endswith("\n")  # the finished line stays


def test_job_line_of_a_failed_job_says_so() -> None:
    out = io.StringIO()
    bar = JobProgress(ID, file=out)
    bar.update(data("processing", progress=(1, 2)))
    bar.update(data("failed"))
    bar.close()
    assert lines(out.getvalue())[-1].startswith("job 5c0e1b52: failed")


def test_a_delayed_line_prints_nothing_for_a_quick_wait() -> None:
    now = [0.0]
    out = io.StringIO()
    bar = JobProgress(ID, delay=1.0, file=out, clock=lambda: now[0])
    bar.update(data("waiting", queue_position=0))
    now[0] = 0.5
    bar.update(data("completed"))
    bar.close()
    assert out.getvalue() == "" and bar.bar is None
    late = JobProgress(ID, delay=1.0, file=out, clock=lambda: now[0])
    now[0] = 1.6
    late.update(data("waiting", queue_position=2))
    late.close()
    assert "queued, position 2" in out.getvalue()


def test_progress_is_off_by_default_outside_a_terminal_or_notebook(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # not a terminal
    assert want_progress(None) is False
    assert want_progress(True) is True and want_progress(False) is False
    with job_progress(ID, None) as bar:
        assert not isinstance(bar, JobProgress)

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stderr", Tty())
    assert want_progress(None) is True


def test_notebook_without_ipywidgets_uses_the_plain_bar_without_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    from tqdm.std import tqdm as plain

    monkeypatch.setitem(sys.modules, "ipykernel", sys.modules.get("ipykernel") or type(sys)("ipykernel"))
    monkeypatch.setattr(progress_mod.importlib.util, "find_spec", lambda name: None)  # no ipywidgets
    assert progress_mod.in_notebook() and want_progress(None)
    cls = bar_class()  # pytest turns any warning into an error
    assert issubclass(cls, plain) and cls.monitor_interval == 0
    assert "notebook" not in cls.__mro__[1].__module__


def test_a_missing_tqdm_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress_mod, "_classes", {})
    monkeypatch.setitem(sys.modules, "tqdm.std", None)  # import fails as if tqdm were not installed
    with pytest.raises(ImportError, match=r'pip install "tqdm>=4.66"'):
        JobProgress(ID)
    with pytest.raises(ImportError, match="progress=False"), job_progress(ID, True):
        pass
    with job_progress(ID, None) as quiet:  # a bar shown by default only: the wait goes on without it
        quiet.update(data("waiting"))


# ------------------------------------------------------------------ the batch bar, unit level


def test_batch_bar_shows_queued_jobs_and_the_head_of_the_queue() -> None:
    out = io.StringIO()
    bar = ProgressBar(6, "batch", file=out)
    counts = BatchCounts(6)
    counts.jobs, counts.submitted = 3, 6
    bar.update(counts, 0)
    for i, pos in enumerate((4, 5, 6)):
        bar.seen(JobData.from_json({"id": f"{i}" * 8, "type": "circuit", "status": "waiting", "queue_position": pos}))
    assert (bar.queued, bar.head) == (3, 4)
    assert "queued=3 (head at 4)" in out.getvalue()  # redrawn at once when the queue summary changes
    bar.seen(JobData.from_json({"id": "0" * 8, "type": "circuit", "status": "processing"}))
    assert (bar.queued, bar.head) == (2, 5)
    assert "queued=2 (head at 5)" in out.getvalue()
    bar.close()


# ------------------------------------------------------------------ end to end


@pytest.fixture(scope="module")
def slow_server() -> Iterator[RunningServer]:
    """A server whose circuits take 0.3 s each, so a poll can see a job part-way through."""
    with serve_in_thread(ServerConfig(seed=5, exec_time_per_circuit=0.3)) as running:
        yield running


async def test_result_async_progress_shows_queue_position_then_circuits(
    slow_server: RunningServer, capsys: pytest.CaptureFixture[str]
) -> None:
    state = slow_server.state
    state.reset()
    state.hold()
    phase = []

    def one_circuit_done() -> bool:
        seen = state.store.get(second)
        return seen.status == "processing" and (seen.progress or (0, 0))[0] >= 1

    async def sleep(delay: float) -> None:
        # Each poll's follow-up: release the queue once the job was seen waiting, then let the next poll
        # come once the server has done one of its three circuits, then once it has completed it.
        phase.append(delay)
        if len(phase) == 1:
            state.release()
            await anyio.to_thread.run_sync(lambda: state.wait_for(one_circuit_done, 30))
        else:
            await anyio.to_thread.run_sync(lambda: state.wait_for_status(second, timeout=30))

    async with AsyncIQMClient(slow_server.url, rate_limit=RateLimitPolicy(enabled=False)) as client:
        await client.submit(flip("first"), shots=10)
        submitted = await client.submit([flip("a"), flip("b"), flip("c")], shots=10)
        second = submitted.job_id
    async with AsyncIQMClient(slow_server.url, sleep=sleep, poll=FAST, rate_limit=RateLimitPolicy(enabled=False)) as client:
        capsys.readouterr()
        job = client.job(second)  # re-attached: polled at once
        result = await job.result_async(progress=True)
    assert result.get_counts(2) == {"1": 10}
    drawn = lines(capsys.readouterr().err)
    name = f"job {second[:8]}"
    assert f"{name}: queued, position 1 [00:00]" in drawn
    assert any(re.match(rf"{name}:\s+\d+%\|.*\| [123]/3 circuits", line) for line in drawn), drawn
    assert re.match(rf"{name}:\s+100%\|.*\| 3/3 circuits", drawn[-1]), drawn


async def test_result_async_shows_nothing_by_default_outside_a_terminal(
    server: RunningServer, capsys: pytest.CaptureFixture[str]
) -> None:
    async with AsyncIQMClient(server.url, poll=FAST) as client:
        job = await client.submit(flip("quiet"), shots=5)
        await job.result_async()
        again = client.job(job.job_id)
        await again.result_async(progress=False)
    assert capsys.readouterr().err == ""


async def test_batch_bar_shows_the_queue_against_the_server(
    server: RunningServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.state.hold()
    batch_ref = []

    async def sleep(delay: float) -> None:
        # The poll scheduler's sleep: once all three jobs are on the server (and the bar knows them), let them run.
        if batch_ref and len(batch_ref[0].job_ids) == 3:
            server.state.release()
        await anyio.sleep(min(delay, 0.02))

    async with AsyncIQMClient(server.url, sleep=sleep, poll=FAST, rate_limit=RateLimitPolicy(enabled=False)) as client:
        circuits = [flip(f"f{i}") for i in range(3)]
        async with client.run_batch(circuits, shots=5, circuits_per_job=1, progress=True) as batch:
            batch_ref.append(batch)
            results = await batch.results()
    assert [r.counts for r in results] == [{"1": 5}] * 3
    err = capsys.readouterr().err
    assert "queued=3 (head at 0)" in err, err
    assert re.search(r"3/3 .*queued=0 running=0 done=3 failed=0", err), err
