"""Batches against the real embedded server over loopback: order, failures, cancel, deadlines, 429s, resume.

Jobs are kept waiting with the server's ``hold()`` and released; tests wait for server-side state
with ``wait_for`` (in a worker thread, so the client's loop keeps running), never by sleeping.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import anyio.to_thread
import pytest
from qiskit import QuantumCircuit

from iqm_async import (
    AsyncIQMClient,
    BatchError,
    JobCancelledError,
    JobFailedError,
    JobTimeoutError,
    PollPolicy,
    RateLimitPolicy,
)
from iqm_async.batch import NotSubmittedError, scheduler_for
from iqm_async.server import RateLimitConfig, RunningServer, ServerConfig, serve_in_thread
from tests.helpers import pattern, pattern_outcome

ROOT = Path(__file__).resolve().parents[2]
FAST = PollPolicy(first_delay=0.02, max_interval=0.1, per_queue_position=0.01, max_queued_interval=0.2)
SHOTS = 8


def expected(i: int) -> dict[str, int]:
    return {pattern_outcome(i): SHOTS}


async def wait_for(server: RunningServer, predicate: Any, timeout: float = 20) -> None:
    """Block (in a thread, so this loop keeps running) until the server state satisfies ``predicate``."""
    assert await anyio.to_thread.run_sync(server.state.wait_for, predicate, timeout), "server state not reached"


async def submitted(server: RunningServer, batch: Any, n: int) -> None:
    """Wait until the server created at least ``n`` jobs and the batch has read (and journaled) ``n`` ids."""
    await wait_for(server, lambda: server.state.store.jobs_created >= n)
    with anyio.fail_after(10):
        while len(batch.job_ids) < n:  # the replies are already on their way: a few loop turns
            await anyio.lowlevel.checkpoint()


def run_batch(client: AsyncIQMClient, circuits: list[QuantumCircuit], **kwargs: Any):
    kwargs.setdefault("shots", SHOTS)
    kwargs.setdefault("progress", False)
    return client.run_batch(circuits, **kwargs)


@pytest.fixture
async def client(server: RunningServer):
    async with AsyncIQMClient(server.url, poll=FAST) as c:
        yield c


async def test_results_in_input_order_outcomes_as_each_job_is_collected(
    server: RunningServer, client, tmp_path: Path
) -> None:
    circuits = [pattern(i) for i in range(6)]
    journal = tmp_path / "j.jsonl"
    server.state.hold()
    async with run_batch(client, circuits, circuits_per_job=2, journal=journal) as batch:
        await submitted(server, batch, 3)
        first = next(r["job_id"] for r in map(json.loads, journal.read_text().splitlines()) if r.get("group") == 0)
        # The job of circuits 0-1 is collected last: its download is slow.
        path = f"/api/v1/jobs/{first}/artifacts/measurements"
        server.state.faults.add({"match": {"method": "GET", "path": path}, "action": "delay", "delay_s": 0.5})
        server.state.release()
        streamed = [o.index async for o in batch.as_completed()]
        results = await batch.results()
    assert sorted(streamed[:4]) == [2, 3, 4, 5] and streamed[4:] == [0, 1]
    assert [r.counts for r in results] == [expected(i) for i in range(6)]


async def test_a_failed_job_fails_only_its_circuits(server: RunningServer, client) -> None:
    server.state.faults.add({"action": "fail_job", "after_circuits": 1, "message": "qubit fell off"})
    batch = run_batch(client, [pattern(i) for i in range(6)], circuits_per_job=2, max_in_flight=1)
    with pytest.raises(BatchError) as caught:
        await batch.results()
    failures = caught.value.failures
    assert [f.index for f in failures] == [0, 1]
    assert all(isinstance(f.error, JobFailedError) and f.error.job_id == f.job_id == batch.job_ids[0] for f in failures)
    assert "qubit fell off" in str(failures[0].error)
    assert [r.counts for r in caught.value.results[2:]] == [expected(i) for i in range(2, 6)]
    assert server.state.stats()["jobs_created"] == 3  # never resubmitted


async def test_cancel_mid_batch(server: RunningServer, client) -> None:
    server.state.hold()
    async with run_batch(client, [pattern(i) for i in range(6)], circuits_per_job=1, max_in_flight=4) as batch:
        await submitted(server, batch, 4)
        assert await batch.cancel() == 4
    outcomes = await batch.outcomes()
    assert server.state.stats()["jobs_by_status"]["cancelled"] == 4
    assert [type(o.error) for o in outcomes[:4]] == [JobCancelledError] * 4
    assert all(isinstance(o.error, NotSubmittedError) and o.error.reason == "cancelled" for o in outcomes[4:])
    assert server.state.stats()["jobs_created"] == 4


async def test_the_deadline_leaves_the_jobs_waiting(server: RunningServer, client) -> None:
    server.state.hold()
    outcomes = await run_batch(
        client, [pattern(i) for i in range(2)], circuits_per_job=1, timeout_seconds=0.5
    ).outcomes()
    assert all(isinstance(o.error, JobTimeoutError) and o.error.job_id == o.job_id for o in outcomes)
    assert {server.state.store.status(o.job_id) for o in outcomes if o.job_id} == {"waiting"}


async def test_batches_on_one_client_share_one_scheduler(server: RunningServer, client) -> None:
    server.state.hold()
    async with run_batch(client, [pattern(i) for i in range(3)], circuits_per_job=1) as a:
        async with run_batch(client, [pattern(i) for i in range(3, 5)], circuits_per_job=1) as b:
            await submitted(server, a, 3)
            await submitted(server, b, 5 - 3)  # jobs_created is 5 by then: both batches' ids are known
            sched = scheduler_for(client)
            assert sched.stats.tracked == 5
            server.state.release()
            assert [r.counts for r in await b.results()] == [expected(i) for i in range(3, 5)]
        assert [r.counts for r in await a.results()] == [expected(i) for i in range(3)]
    assert sched.stats.peak_tracked == 5 and sched.stats.tracked == 0


async def test_injected_429s_hold_every_request_for_retry_after(server: RunningServer, client) -> None:
    server.state.faults.add(
        {"match": {"method": "GET", "path": "/api/v1/jobs/*"}, "action": "rate_limit", "retry_after": 1, "times": 2}
    )
    results = await run_batch(client, [pattern(5)]).results()
    assert results[0].counts == expected(5)
    assert client.transport.rate_limited == 2
    log = server.state.requests()
    for n, entry in enumerate(log):
        if entry.status == 429:
            assert entry.answered_at is not None
            later = [e.received_at for e in log[n + 1 :]]
            # nothing at all reached the server until Retry-After had passed: no storm
            assert later and min(later) >= entry.answered_at + 0.95
    assert server.state.stats()["rate_limited"] == 0  # the server's own limiter never refused


def test_the_real_limiter_a_429_blocks_the_client_once_then_pacing_keeps_it_under(tmp_path: Path) -> None:
    """A tiny quota and another client that used it all: one 429, one block, then no 429 while pacing."""
    import httpx

    limits = RateLimitConfig(quota=600, window_s=1.0, block_s=1.0)
    budget = RateLimitPolicy(window_seconds=1.0)  # IQM does not send its window; tell the client this one
    with serve_in_thread(ServerConfig(seed=3, rate_limit=limits)) as srv:
        with httpx.Client(base_url=srv.url + "/api/v1") as other:
            while other.get("/about").status_code != 429:  # someone else on the account spends it all
                pass

        async def main() -> tuple[list[Any], int]:
            async with AsyncIQMClient(srv.url, poll=FAST, rate_limit=budget) as client:
                results = await run_batch(client, [pattern(i) for i in range(12)], circuits_per_job=1).results()
                return results, client.transport.rate_limited

        results, ours = anyio.run(main)
        assert [r.counts for r in results] == [expected(i) for i in range(12)]
        assert ours == 1  # the first request met the block; every other one waited for Retry-After
        assert srv.state.stats()["rate_limited"] == 2  # the other client's 429, and ours


RESUME_SCRIPT = """
import json, sys, anyio, httpx
from qiskit import QuantumCircuit
from iqm_async import AsyncIQMClient, PollPolicy

url, journal = sys.argv[1], sys.argv[2]

def pattern(i):
    qc = QuantumCircuit(3, 3, name=f"p{i}")
    for q in range(3):
        if (i >> q) & 1:
            qc.x(q)
    qc.measure(range(3), range(3))
    return qc

def created():
    return httpx.get(url + "/_control/stats").json()["jobs_created"]

async def main():
    out = {}
    poll = PollPolicy(first_delay=0.02, max_interval=0.1, max_queued_interval=0.2)
    async with AsyncIQMClient(url, poll=poll) as client:
        batch = client.resume_batch(journal, progress=False)
        outcomes = await batch.outcomes()
        out["without"] = [o.result().counts if o.ok else type(o.error).__name__ for o in outcomes]
        out["without_ids"] = batch.job_ids
        out["created_after_without"] = created()
        batch = client.resume_batch(journal, circuits=[pattern(i) for i in range(6)], progress=False)
        out["with"] = [r.counts for r in await batch.results()]
        out["with_ids"] = batch.job_ids
    print(json.dumps(out))

anyio.run(main)
"""


async def test_resume_in_a_fresh_process_reattaches_and_submits_only_what_was_never_sent(
    server: RunningServer, client, tmp_path: Path
) -> None:
    journal = tmp_path / "sweep.jsonl"
    server.state.hold()
    with pytest.raises(KeyboardInterrupt):  # the first process gives up with 2 of 3 jobs submitted
        async with run_batch(
            client, [pattern(i) for i in range(6)], circuits_per_job=2, max_in_flight=2, journal=journal
        ) as batch:
            await submitted(server, batch, 2)
            first_ids = list(batch.job_ids)
            raise KeyboardInterrupt
    server.state.release()
    proc = await anyio.run_process(
        [sys.executable, "-c", textwrap.dedent(RESUME_SCRIPT), server.url, str(journal)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    out = json.loads(proc.stdout.decode().splitlines()[-1])
    # Without the circuits: the two journaled jobs are collected, nothing is created.
    assert out["created_after_without"] == 2 and sorted(out["without_ids"]) == sorted(first_ids)
    assert out["without"][:4] == [expected(i) for i in range(4)]
    assert out["without"][4:] == ["NotSubmittedError"] * 2
    # With the circuits: only the group that was never sent is submitted.
    assert out["with"] == [expected(i) for i in range(6)]
    assert server.state.stats()["jobs_created"] == 3 and set(first_ids) < set(out["with_ids"])
    posts = [e for e in server.state.requests() if e.method == "POST" and e.path.endswith("/circuit")]
    assert len(posts) == 3


def test_the_sweep_example_runs_as_users_run_it() -> None:
    """examples/batch_sweep.py in a subprocess, on its own embedded server (60 circuits to stay quick)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IQM_")}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "batch_sweep.py"), "60", "100"],
        capture_output=True,
        text=True,
        env={**env, "PYTHONPATH": str(ROOT)},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "60 circuits × 100 shots in 1 jobs" in proc.stdout and "0 answered 429" in proc.stdout
    table = [line.split() for line in proc.stdout.splitlines() if line[:7].strip().replace(".", "").isdigit()]
    assert len(table) == 11 and table[0][1:] == ["0.000"] * 6  # θ = 0: nothing excited
