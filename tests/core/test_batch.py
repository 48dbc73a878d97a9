"""The batch through the real client and transport against a scripted IQM server at the httpx edge.

A small fake server (``FakeIQM``, an ``httpx.MockTransport`` handler) keeps jobs, scripts their
statuses and computes measurements of X/measure circuits, so tests check what the batch *sent* (how
many submits, when the journal had each id) and what it returned. Sleeps are injected and take no
wall-clock time.
"""

from __future__ import annotations

import json
import math
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest
from qiskit import QuantumCircuit

from iqm_async import AsyncIQMClient, BatchError, PollPolicy
from iqm_async import batch as batch_module
from iqm_async.batch import plan as batch_plan
from iqm_async._journal import read_journal
from iqm_async.batch import NotSubmittedError, Outcome
from iqm_async.errors import (
    APIValidationError,
    JobCancelledError,
    JobFailedError,
    JobTimeoutError,
    SubmissionUnknownError,
)
from iqm_async.server.chip import build_dqa
from iqm_async.server.config import ServerConfig
from tests.helpers import pattern, pattern_outcome

ROOT = "http://127.0.0.1:9"
DQA = build_dqa(ServerConfig(qubits=5)).to_json()
QCS = {"quantum_computers": [{"id": str(uuid.UUID(int=1)), "alias": "sim", "display_name": "Sim"}]}
FAST = PollPolicy(first_delay=0.01, max_interval=0.05, per_queue_position=0.01, max_queued_interval=0.05)
SHOTS = 4


def expected(i: int) -> dict[str, int]:
    return {pattern_outcome(i): SHOTS}


class FakeIQM:
    """Just enough of IQM Server for a batch: E1, E2, E4, E5 (scripted), E6, E7, E9; no rate limit headers."""

    def __init__(self, *, polls_to_finish: int = 1, on_submit: Callable[[int], httpx.Response | None] | None = None):
        self.polls_to_finish = polls_to_finish
        self.on_submit = on_submit
        self.jobs: dict[str, dict[str, Any]] = {}
        self.order: list[str] = []
        self.posts = 0
        self.gets: dict[str, int] = {}
        self.fail: set[int] = set()  # submit numbers (0-based) whose job fails
        self.stuck = False  # jobs never finish
        self.first_poll_hook: Callable[[str], None] | None = None

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def job_json(self, job_id: str) -> dict[str, Any]:
        job = self.jobs[job_id]
        out: dict[str, Any] = {"id": job_id, "type": "circuit", "status": job["status"]}
        if job["status"] == "failed":
            out["errors"] = [{"message": "injected", "error_code": "boom", "source": "iqm-server"}]
        if job["status"] == "waiting":
            out["queue_position"] = 0
        return out

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/api/v1")
        parts = path.strip("/").split("/")
        if path == "/quantum-computers":
            return httpx.Response(200, json=QCS)
        if parts[0] == "calibration-sets":
            return httpx.Response(200, json=DQA)
        if request.method == "POST" and parts[-1] == "circuit":
            n = self.posts
            self.posts += 1
            if self.on_submit is not None:
                reply = self.on_submit(n)
                if reply is not None:
                    return reply
            job_id = str(uuid.uuid4())
            self.jobs[job_id] = {"definition": json.loads(request.content), "status": "waiting", "polls": 0, "n": n}
            self.order.append(job_id)
            return httpx.Response(200, json=self.job_json(job_id))
        job_id = parts[1]
        job = self.jobs[job_id]
        if request.method == "POST" and parts[-1] == "cancel":
            if job["status"] in ("waiting", "processing"):
                job["status"] = "cancelled"
            return httpx.Response(204)
        if len(parts) == 2:
            self.gets[job_id] = self.gets.get(job_id, 0) + 1
            if job["polls"] == 0 and self.first_poll_hook is not None:
                self.first_poll_hook(job_id)
            job["polls"] += 1
            if job["status"] in ("waiting", "processing") and not self.stuck:
                if job["polls"] >= self.polls_to_finish:
                    job["status"] = "failed" if job["n"] in self.fail else "completed"
                else:
                    job["status"] = "processing"
            return httpx.Response(200, json=self.job_json(job_id))
        if parts[-1] == "payload":
            return httpx.Response(200, json=job["definition"])
        if parts[-1] == "measurements":
            return httpx.Response(
                200, json=[self.measure(c, job["definition"]["shots"]) for c in job["definition"]["circuits"]]
            )
        return httpx.Response(404, json={"message": "no route"})

    @staticmethod
    def measure(circuit: dict[str, Any], shots: int) -> dict[str, list[list[int]]]:
        flips: dict[str, int] = {}
        out: dict[str, list[list[int]]] = {}
        for inst in circuit["instructions"]:
            q = inst["locus"][0]
            if inst["name"] == "prx" and math.isclose(abs(inst["args"]["angle"]), math.pi):
                flips[q] = flips.get(q, 0) ^ 1
            elif inst["name"] == "measure":
                out[inst["args"]["key"]] = [[flips.get(q, 0)]] * shots
        return out


async def instant_sleep(seconds: float) -> None:
    await anyio.lowlevel.checkpoint()


def make_client(fake: FakeIQM, **kwargs: Any) -> AsyncIQMClient:
    return AsyncIQMClient(ROOT, http_transport=fake.transport(), sleep=instant_sleep, poll=FAST, **kwargs)


def run_batch(client: AsyncIQMClient, circuits: list[QuantumCircuit], **kwargs: Any):
    kwargs.setdefault("shots", SHOTS)
    kwargs.setdefault("progress", False)
    return client.run_batch(circuits, **kwargs)


# ------------------------------------------------------------------------------------------- tests


async def test_results_come_in_input_order_and_the_batch_starts_no_thread() -> None:
    fake = FakeIQM(polls_to_finish=2)
    threads_before = threading.active_count()
    seen_threads: list[int] = []
    async with make_client(fake) as client:
        batch = run_batch(
            client,
            [pattern(i) for i in range(7)],
            circuits_per_job=3,
            progress=True,  # tqdm's monitor thread must stay off
            on_complete=lambda o: seen_threads.append(threading.active_count()),
        )
        results = await batch.results()
    assert [r.counts for r in results] == [expected(i) for i in range(7)]
    assert fake.posts == 3 and len(batch.job_ids) == 3
    assert threading.active_count() == threads_before and set(seen_threads) == {threads_before}
    assert batch.counts.done == 7 and batch.counts.failed == 0 and batch.counts.running == 0


async def test_as_completed_streams_each_jobs_circuits_in_order_and_needs_a_running_batch() -> None:
    fake = FakeIQM()
    async with make_client(fake) as client:
        batch = run_batch(client, [pattern(i) for i in range(6)], circuits_per_job=2)
        with pytest.raises(RuntimeError, match="async with"):
            async for _ in batch.as_completed():
                pass
        streamed: list[Outcome] = []
        async with batch:
            async for outcome in batch.as_completed():
                streamed.append(outcome)
        with pytest.raises(RuntimeError, match="runs once"):
            await batch.__aenter__()
        # after the end, as_completed replays everything
        replay = [o async for o in batch.as_completed()]
    assert sorted(o.index for o in streamed) == list(range(6)) and replay == streamed
    by_job: dict[str, list[int]] = {}
    for o in streamed:
        by_job.setdefault(o.job_id or "", []).append(o.index)
    assert sorted(by_job.values()) == [[0, 1], [2, 3], [4, 5]]  # a job's circuits together and in order
    assert [o.position for o in streamed if o.index in (4, 5)] == [0, 1]


async def test_the_journal_has_the_spec_and_every_id_before_the_job_is_polled(tmp_path: Path) -> None:
    journal = tmp_path / "sweep.jsonl"
    fake = FakeIQM()
    late: list[str] = []
    fake.first_poll_hook = lambda job_id: None if job_id in journal.read_text() else late.append(job_id)
    async with make_client(fake) as client:
        batch = run_batch(client, [pattern(i) for i in range(5)], circuits_per_job=2, journal=journal)
        await batch.results()
    assert late == []
    lines = [json.loads(line) for line in journal.read_text().splitlines()]
    spec = lines[0]
    assert spec["type"] == "spec" and spec["circuits"] == 5 and spec["groups"] == [[2, 2], [1, 1]]
    assert spec["shots"] == SHOTS and spec["options"]["calibration_set_id"] == DQA["calibration_set_id"]
    assert len(spec["circuits_sha256"]) == 64
    jobs = [r for r in lines if r["type"] == "job"]
    assert sorted((r["start"], r["stop"]) for r in jobs) == [(0, 2), (2, 4), (4, 5)]
    assert sorted(r["job_id"] for r in jobs) == sorted(batch.job_ids) == sorted(fake.order)
    with pytest.raises(batch_module.JournalError, match="already exists"):
        async with make_client(FakeIQM()) as client:
            await run_batch(client, [pattern(0)], journal=journal).results()


async def test_failures_are_listed_and_successes_kept() -> None:
    fake = FakeIQM()
    fake.fail = {1}
    refuse = httpx.Response(422, json={"message": "bad circuit", "error_code": "validation_error"})
    fake.on_submit = lambda n: refuse if n == 3 else None
    async with make_client(fake) as client:
        batch = run_batch(client, [pattern(i) for i in range(8)], circuits_per_job=2, max_in_flight=1)
        with pytest.raises(BatchError) as caught:
            await batch.results()
        mixed = await batch.results(return_exceptions=True)
    err = caught.value
    failed_job = fake.order[1]
    assert sorted(f.index for f in err.failures) == [2, 3, 6, 7]
    by_index = {f.index: f for f in err.failures}
    assert isinstance(by_index[2].error, JobFailedError) and by_index[2].job_id == failed_job
    assert isinstance(by_index[6].error, APIValidationError) and by_index[6].job_id is None
    assert f"indices 2-3, job {failed_job}: JobFailedError" in str(err)
    assert "indices 6-7, job (none): APIValidationError" in str(err)
    for i, value in enumerate(err.results):
        if i in (2, 3, 6, 7):
            assert isinstance(value, Exception)
        else:
            assert value.counts == expected(i)
    assert [type(v).__name__ for v in mixed] == [type(v).__name__ for v in err.results]
    assert fake.posts == 4  # nothing resubmitted


async def test_a_submit_of_unknown_outcome_is_journaled_and_never_sent_again(tmp_path: Path) -> None:
    journal = tmp_path / "j.jsonl"
    circuits = [pattern(i) for i in range(6)]

    def drop_second(n: int) -> httpx.Response | None:
        if n == 1:
            raise httpx.ReadError("connection dropped after the body was sent")
        return None

    fake = FakeIQM(on_submit=drop_second)
    async with make_client(fake) as client:
        outcomes = await run_batch(client, circuits, circuits_per_job=2, journal=journal, max_in_flight=1).outcomes()
    assert fake.posts == 3
    unknown = [o for o in outcomes if not o.ok]
    assert [o.index for o in unknown] == [2, 3] and all(isinstance(o.error, SubmissionUnknownError) for o in unknown)
    assert [g.unknown_message is not None for g in read_journal(journal).groups] == [False, True, False]
    # A resume, even with the circuits, re-attaches to the two jobs and leaves the unknown group alone.
    fake.on_submit = None
    async with make_client(fake) as client:
        resumed = await client.resume_batch(journal, circuits=circuits, progress=False).outcomes()
    assert fake.posts == 3
    assert [o.ok for o in resumed] == [True, True, False, False, True, True]
    assert isinstance(resumed[2].error, SubmissionUnknownError)


async def test_resume_with_the_circuits_submits_only_the_groups_never_recorded(tmp_path: Path) -> None:
    journal = tmp_path / "j.jsonl"
    circuits = [pattern(i) for i in range(7)]
    fake = FakeIQM()
    async with make_client(fake) as client:
        first = run_batch(client, circuits, circuits_per_job=3, journal=journal)
        await first.results()
    # A crash after the first submit: keep the spec and the first job record, and a torn last line.
    lines = journal.read_text().splitlines()
    job0 = next(line for line in lines if json.loads(line).get("group") == 0)
    journal.write_text(lines[0] + "\n" + job0 + "\n" + '{"type": "job", "gro')
    posts = fake.posts
    async with make_client(fake) as client:
        without = await client.resume_batch(journal, progress=False).outcomes()
    assert fake.posts == posts  # nothing submitted without the circuits
    assert [o.ok for o in without] == [True] * 3 + [False] * 4
    assert all(isinstance(o.error, NotSubmittedError) and o.error.reason == "not_in_journal" for o in without[3:])
    async with make_client(fake) as client:
        resumed = client.resume_batch(journal, circuits=circuits, progress=False)
        results = await resumed.results()
    assert fake.posts == posts + 2
    assert [r.counts for r in results] == [expected(i) for i in range(7)]
    assert resumed.job_ids[0] == json.loads(job0)["job_id"]
    contents = read_journal(journal)
    assert all(g.job_id for g in contents.groups) and contents.resumes == 2


async def test_resume_refuses_other_circuits(tmp_path: Path) -> None:
    journal = tmp_path / "j.jsonl"
    fake = FakeIQM()
    async with make_client(fake) as client:
        await run_batch(client, [pattern(i) for i in range(3)], journal=journal).results()
        with pytest.raises(batch_module.JournalError, match="differ"):
            await client.resume_batch(journal, circuits=[pattern(i + 1) for i in range(3)]).results()
        with pytest.raises(batch_module.JournalError, match="3 circuits"):
            await client.resume_batch(journal, circuits=[pattern(0)]).results()
        with pytest.raises(batch_module.JournalError, match="No batch journal"):
            await client.resume_batch(tmp_path / "missing.jsonl").results()


async def test_timeout_gives_every_unfinished_item_a_typed_error_and_leaves_the_jobs() -> None:
    fake = FakeIQM()
    fake.stuck = True
    async with make_client(fake) as client:
        batch = run_batch(
            client, [pattern(i) for i in range(4)], max_in_flight=2, circuits_per_job=1, timeout_seconds=0.2
        )
        outcomes = await batch.outcomes()
    submitted = [o for o in outcomes if o.job_id is not None]
    assert len(submitted) == 2 and all(
        isinstance(o.error, JobTimeoutError) and o.error.job_id == o.job_id for o in submitted
    )
    rest = [o for o in outcomes if o.job_id is None]
    assert len(rest) == 2 and all(isinstance(o.error, NotSubmittedError) and o.error.reason == "timeout" for o in rest)
    assert {j["status"] for j in fake.jobs.values()} == {"waiting"}  # giving up never cancels


async def test_cancel_stops_submitting_and_cancels_the_jobs_under_way() -> None:
    fake = FakeIQM()
    fake.stuck = True
    async with make_client(fake) as client:
        async with run_batch(client, [pattern(i) for i in range(5)], circuits_per_job=1, max_in_flight=3) as batch:
            while len(batch.job_ids) < 3:
                await anyio.lowlevel.checkpoint()
            assert await batch.cancel() == 3
        outcomes = await batch.outcomes()
    assert fake.posts == 3 and {j["status"] for j in fake.jobs.values()} == {"cancelled"}
    assert sum(isinstance(o.error, JobCancelledError) for o in outcomes) == 3
    assert sum(isinstance(o.error, NotSubmittedError) and o.error.reason == "cancelled" for o in outcomes) == 2


async def test_on_complete_sees_every_circuit_and_its_errors_propagate_unwrapped() -> None:
    fake = FakeIQM()
    seen: list[int] = []
    async with make_client(fake) as client:
        await run_batch(
            client, [pattern(i) for i in range(5)], circuits_per_job=2, on_complete=lambda o: seen.append(o.index)
        ).results()
        assert sorted(seen) == list(range(5))

        def broken(outcome: Outcome) -> None:
            raise ValueError("bug in the callback")

        with pytest.raises(ValueError, match="bug in the callback"):
            await run_batch(client, [pattern(i) for i in range(5)], on_complete=broken).results()


async def test_a_body_error_propagates_as_itself_and_abandons_only_the_local_work() -> None:
    fake = FakeIQM()
    fake.stuck = True
    async with make_client(fake) as client:
        with pytest.raises(KeyError):
            async with run_batch(client, [pattern(i) for i in range(3)], circuits_per_job=1) as batch:
                while len(batch.job_ids) < 3:
                    await anyio.lowlevel.checkpoint()
                raise KeyError("caller's bug")
        with pytest.raises(RuntimeError, match="stopped before every item"):
            await batch.results()
    assert {j["status"] for j in fake.jobs.values()} == {"waiting"}


async def test_large_bodies_are_cut_into_more_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch_plan, "MAX_JOB_BODY_BYTES", 1500)  # about three of these circuits
    fake = FakeIQM()
    async with make_client(fake) as client:
        batch = run_batch(client, [pattern(i) for i in range(10)])
        results = await batch.results()
    assert [r.counts for r in results] == [expected(i) for i in range(10)]
    sizes = [len(j["definition"]["circuits"]) for j in fake.jobs.values()]
    assert sum(sizes) == 10 and len(sizes) > 1 and max(sizes) < 10
    assert sum(size * count for size, count in batch.spec["groups"]) == 10


async def test_one_outcome_gives_a_qiskit_result_of_its_circuit_alone() -> None:
    fake = FakeIQM()
    async with make_client(fake) as client:
        batch = run_batch(client, [pattern(i) for i in range(4)], circuits_per_job=4)
        outcomes = await batch.outcomes()
        result = await outcomes[2].qiskit_result()
        every = await batch.qiskit_results()
    assert len(result.results) == 1 and result.get_counts() == expected(2) and result.results[0].header["name"] == "p2"
    assert [r.get_counts() for r in every] == [expected(i) for i in range(4)]


async def test_an_empty_batch_is_done_at_once() -> None:
    fake = FakeIQM()
    async with make_client(fake) as client:
        assert await run_batch(client, []).results() == []
    assert fake.posts == 0


def test_the_batch_runs_on_trio() -> None:
    async def main() -> list[Any]:
        fake = FakeIQM(polls_to_finish=2)
        async with make_client(fake) as client:
            return await run_batch(client, [pattern(i) for i in range(5)], circuits_per_job=2).results()

    results = anyio.run(main, backend="trio")
    assert [r.counts for r in results] == [expected(i) for i in range(5)]
