"""Shutdown and interruption: nothing outlives its owner, Ctrl-C stops waiting at once and loses nothing.

Each check runs in a subprocess, so that its thread, file-descriptor and socket counts start from a
clean baseline; the embedded server runs in this process and is not counted.

* ``async with AsyncIQMClient(...)``: after a full session (submit, poll, result, cancel, a failing
  request) on asyncio and on trio, the process has the same threads (Python and OS level), the same
  open fds, no connection to the server and no task left.
* ``with IQMProvider(...)``: the connection pool is closed and no thread or fd is added per provider.
  The facade's one event-loop thread is process-wide by design: it stays until
  interpreter exit (or ``close()`` of the runner), and then the counts return to the baseline.
* The interpreter: exits promptly with status 0 and nothing on stderr under ``-W error -X dev``, even
  with a job left waiting on the server.
* Ctrl-C during a batch: the process stops waiting within half a second, the journal resumes every job
  in a new process, and no job was cancelled or submitted twice.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from iqm_async import AsyncIQMClient, PollPolicy
from iqm_async.server import RunningServer

PYTHON = [sys.executable, "-W", "error", "-X", "dev"]

PRELUDE = textwrap.dedent(
    """
    import gc, json, os, sys, threading, time
    import anyio, psutil
    from qiskit import QuantumCircuit
    from iqm_async import AsyncIQMClient, PollPolicy

    url = sys.argv[1]
    port = int(url.rsplit(":", 1)[1])
    proc = psutil.Process()
    poll = PollPolicy(first_delay=0.02, max_interval=0.2)

    def circuit(index):
        qc = QuantumCircuit(3, 3, name=f"p{index}")
        for bit in range(3):
            if index >> bit & 1:
                qc.x(bit)
        qc.measure(range(3), range(3))
        return qc

    def snapshot():
        gc.collect()
        conns = [c for c in proc.net_connections(kind="inet") if c.raddr and c.raddr.port == port]
        return {"threads": threading.active_count(), "os_threads": proc.num_threads(), "fds": proc.num_fds(),
                "connections": len(conns), "thread_names": sorted(t.name for t in threading.enumerate())}

    QC = [circuit(i) for i in range(8)]
    """
)


def stderr_problems(stderr: str) -> str:
    """stderr without asyncio debug mode's slow-step notes (``-X dev``), which only say the machine was busy."""
    lines = stderr.splitlines()
    return "\n".join(line for line in lines if not (line.startswith("Executing <") and " took " in line))


def run_script(body: str, *args: str, timeout: float = 60) -> tuple[dict[str, Any], subprocess.CompletedProcess[str]]:
    """Run PRELUDE + body in a fresh interpreter; the script prints one JSON line as its last output."""
    completed = subprocess.run(
        [*PYTHON, "-c", PRELUDE + textwrap.dedent(body), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    assert lines, completed.stdout + completed.stderr
    return json.loads(lines[-1]), completed


CORE_SESSION = """
async def session(backend_name):
    async with AsyncIQMClient(url, poll=poll) as client:
        job = await client.submit(QC[5], shots=8)
        counts = (await job.result_async(timeout_seconds=30)).get_counts()
        assert counts == {"101": 8}, counts
        job2 = await client.submit(QC[3], shots=8)
        await job2.cancel_async()
        try:
            await client.job("00000000-0000-4000-8000-000000000000").status_async()
        except Exception as exc:
            assert type(exc).__name__ == "NotFoundError", repr(exc)
        during = snapshot()
    tasks = None
    if backend_name == "asyncio":
        import asyncio
        tasks = len([t for t in asyncio.all_tasks() if t is not asyncio.current_task()])
    return during, tasks

before = snapshot()
during, tasks = anyio.run(session, "asyncio")
after_asyncio = snapshot()
during_trio, _ = anyio.run(session, "trio", backend="trio")
after_trio = snapshot()
print(json.dumps({"before": before, "during": during, "tasks": tasks, "after_asyncio": after_asyncio,
                  "during_trio": during_trio, "after_trio": after_trio}))
"""


def test_nothing_outlives_async_with_client(server: RunningServer) -> None:
    report, completed = run_script(CORE_SESSION, server.url)
    before = report["before"]
    assert report["during"]["connections"] >= 1, "the session never held a connection: the test saw nothing"
    assert report["during_trio"]["connections"] >= 1
    for after in (report["after_asyncio"], report["after_trio"]):
        assert after["threads"] == before["threads"], (before["thread_names"], after["thread_names"])
        assert after["os_threads"] == before["os_threads"]
        assert after["fds"] == before["fds"]
        assert after["connections"] == 0
    assert report["tasks"] == 0
    assert stderr_problems(completed.stderr) == ""


PROVIDER_SESSION = """
from iqm_sync_shim import IQMProvider
from iqm_sync_shim import _runner

def session():
    with IQMProvider(url, poll=poll) as provider:
        backend = provider.get_backend()
        job = backend.run(QC[6], shots=8)
        assert job.result().get_counts() == {"110": 8}
        held = backend.run(QC[1], shots=8)
        held.cancel()
        during = snapshot()
    return during

before = snapshot()
during = session()
after_first = snapshot()
session()
after_second = snapshot()
import asyncio
async def count_tasks():
    return len([t for t in asyncio.all_tasks() if t is not asyncio.current_task()])
loop_tasks = _runner.get_runner().run(count_tasks)
_runner.get_runner().close()
after_close = snapshot()
print(json.dumps({"before": before, "during": during, "after_first": after_first, "after_second": after_second,
                  "loop_tasks": loop_tasks, "after_close": after_close}))
"""


def test_provider_context_closes_its_connections_and_adds_nothing_per_provider(server: RunningServer) -> None:
    report, completed = run_script(PROVIDER_SESSION, server.url)
    before, first, second = report["before"], report["after_first"], report["after_second"]
    assert report["during"]["connections"] >= 1
    assert first["connections"] == 0 and second["connections"] == 0
    # The one portal thread (and its loop's fds) is shared by every provider: nothing accumulates.
    assert second["threads"] == first["threads"] == before["threads"] + 1
    assert second["os_threads"] == first["os_threads"]
    assert second["fds"] == first["fds"]
    # Only the portal's own serving task is left on its loop once both providers are closed.
    assert report["loop_tasks"] <= 1
    close = report["after_close"]
    assert close["threads"] == before["threads"], (before["thread_names"], close["thread_names"])
    assert close["os_threads"] == before["os_threads"]
    assert close["fds"] == before["fds"]
    assert stderr_problems(completed.stderr) == ""


EXIT_WITH_WAITING_JOB = """
from iqm_sync_shim import IQMProvider

async def main():
    async with AsyncIQMClient(url, poll=poll) as client:
        job = await client.submit(QC[2], shots=8)
        with anyio.move_on_after(0.3):
            await job.result_async()   # the server holds it: give up waiting, leave it running
        return job.job_id

job_id = anyio.run(main)
provider = IQMProvider(url, poll=poll)  # never closed: the exit hook must close it
backend = provider.get_backend()
held = backend.run(QC[4], shots=8)
print(json.dumps({"core_job": job_id, "facade_job": held.job_id(), "threads": threading.active_count()}))
"""


def test_interpreter_exits_cleanly_with_jobs_left_waiting(server: RunningServer) -> None:
    server.state.hold()
    started = time.monotonic()
    report, completed = run_script(EXIT_WITH_WAITING_JOB, server.url, timeout=60)
    elapsed = time.monotonic() - started
    assert stderr_problems(completed.stderr) == "", completed.stderr
    for job_id in (report["core_job"], report["facade_job"]):
        assert server.state.store.get(job_id).status == "waiting"  # giving up never cancels the job
    assert elapsed < 30


BATCH_THEN_CTRL_C = """
import signal
journal = sys.argv[2]

async def main():
    async with AsyncIQMClient(url, poll=poll) as client:
        batch = client.run_batch(QC, shots=4, circuits_per_job=1, journal=journal, progress=False)
        print("started", flush=True)
        await batch.results()

try:
    anyio.run(main)
except KeyboardInterrupt:
    stopped = time.monotonic()
    print(json.dumps({"interrupted": True, "stopped_at": stopped}), flush=True)
else:
    print(json.dumps({"interrupted": False}), flush=True)
"""


def test_ctrl_c_during_a_batch_stops_at_once_and_the_journal_resumes(server: RunningServer, tmp_path: Path) -> None:
    pytest.importorskip("iqm_async.batch", reason="iqm_async.batch is not there yet")
    journal = tmp_path / "batch.jsonl"
    server.state.hold()  # every job stays waiting: the batch is mid-flight when interrupted
    process = subprocess.Popen(
        [*PYTHON, "-c", PRELUDE + textwrap.dedent(BATCH_THEN_CTRL_C), server.url, str(journal)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    try:
        assert server.state.wait_for(lambda: server.state.store.jobs_created == 8, timeout=60), "batch never submitted"
        sent = time.monotonic()
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:  # pragma: no cover - only when an assertion above failed
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr[-3000:]
    report = json.loads([line for line in stdout.splitlines() if line.startswith("{")][-1])
    assert report["interrupted"] is True
    delay = report["stopped_at"] - sent
    print(f"batch stopped waiting {delay * 1000:.0f} ms after Ctrl-C")
    assert delay < 0.5, f"stopped waiting {delay:.3f} s after Ctrl-C"
    # Nothing was cancelled, and nothing is submitted again on resume.
    ids = server.state.store.job_ids()
    assert len(ids) == 8 and {server.state.store.get(j).status for j in ids} == {"waiting"}
    server.state.release()

    async def resume() -> list[Any]:
        async with AsyncIQMClient(server.url, poll=PollPolicy(first_delay=0.02, max_interval=0.2)) as client:
            batch = client.resume_batch(journal, progress=False)
            results = await batch.results()
            assert sorted(batch.job_ids) == sorted(ids)
            return results

    import anyio

    results = anyio.run(resume)
    assert [r.counts for r in results] == [{format(i, "03b"): 4} for i in range(8)]
    assert server.state.stats()["jobs_created"] == 8


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_client_refuses_work_after_the_context(server: RunningServer, backend: str) -> None:
    """A closed client says so (and opens no new connection) instead of quietly reconnecting."""
    import anyio

    async def main() -> None:
        async with AsyncIQMClient(server.url) as client:
            await client.quantum_computer()
        requests = len(server.state.requests())
        with pytest.raises(RuntimeError, match="closed"):
            await client.job("00000000-0000-4000-8000-000000000000").status_async()
        with pytest.raises(RuntimeError, match="closed"):
            async with client:
                pass
        assert len(server.state.requests()) == requests

    anyio.run(main, backend=backend)
