"""run_batch / resume_batch / IQMBackend.run_batch take explicit typed arguments; tags and the batch id reach the ledger."""

from __future__ import annotations

import inspect
import json
import math
from pathlib import Path

import pytest
from qiskit import QuantumCircuit

from iqm_async import AsyncIQMClient, PollPolicy, RateLimitPolicy
from iqm_async.batch import api
from iqm_sync_shim import IQMProvider
from iqm_sync_shim.backend import IQMBackend

FAST = {
    "poll": PollPolicy(first_delay=0.02, max_interval=0.1, per_queue_position=0.0, max_queued_interval=0.1),
    "rate_limit": RateLimitPolicy(enabled=False),
}


def rx(k: int) -> QuantumCircuit:
    qc = QuantumCircuit(1, 1, name=f"rx{k}")
    qc.r(k * math.pi / 4, 0.0, 0)
    qc.measure(0, 0)
    return qc


def params(fn: object, skip: int) -> list[inspect.Parameter]:
    return list(inspect.signature(fn).parameters.values())[skip:]  # type: ignore[arg-type]


def test_no_catch_all_keywords_and_one_signature_everywhere() -> None:
    core = params(api.run_batch, 1)  # skip the client
    facade = params(IQMBackend.run_batch, 1)  # skip the backend
    for group in (core, facade, params(api.resume_batch, 1)):
        assert all(p.kind not in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL) for p in group)
    assert AsyncIQMClient.run_batch is api.run_batch and AsyncIQMClient.resume_batch is api.resume_batch
    # The facade defaults shots (and the calibration set, qubit names) from the backend; names and kinds match.
    assert [(p.name, p.kind) for p in facade] == [(p.name, p.kind) for p in core]
    doc = inspect.getdoc(AsyncIQMClient.run_batch) or ""
    assert all(f"{p.name}:" in doc for p in core)  # help() explains every argument


async def test_a_misspelt_argument_is_refused_before_anything_runs(server) -> None:
    async with AsyncIQMClient(server.url, **FAST) as client:
        with pytest.raises(TypeError, match="shot"):
            client.run_batch([rx(1)], shot=10)  # type: ignore[call-arg]
        with pytest.raises(TypeError, match="circuit"):
            client.resume_batch("x.jsonl", circuit=[rx(1)])  # type: ignore[call-arg]
    assert server.state.store.jobs_created == 0


async def test_batch_jobs_reach_the_ledger_with_tags_and_the_batch_id(server, tmp_path: Path) -> None:
    ledger = tmp_path / "jobs.sqlite3"
    circuits = [rx(k) for k in range(5)]
    async with AsyncIQMClient(server.url, ledger=ledger, **FAST) as client:
        batch = client.run_batch(
            circuits, shots=16, circuits_per_job=2, tags=["sweep", "night"], journal=tmp_path / "b.jsonl",
            progress=False, heralding_mode="none",
        )
        results = await batch.results()
        assert [r.shots for r in results] == [16] * 5
        batch_id = batch.spec["batch_id"]
        entries = await client.jobs(tags="sweep")
        assert sorted(e.job_id for e in entries) == sorted(batch.job_ids)
        assert len(entries) == 3
        assert {e.batch_id for e in entries} == {batch_id}
        assert {e.tags for e in entries} == {("sweep", "night")}
        assert {e.circuits for e in entries} == {1, 2}
        # a single job is not part of a batch
        await (await client.submit(rx(1), shots=4, tags="sweep")).result_async()
        lone = [e for e in await client.jobs(tags="sweep") if e.job_id not in batch.job_ids]
        assert len(lone) == 1 and lone[0].batch_id is None
    spec = json.loads((tmp_path / "b.jsonl").read_text().splitlines()[0])
    assert spec["type"] == "spec" and spec["tags"] == ["sweep", "night"]


async def test_a_resumed_batch_records_its_new_jobs_with_the_original_tags(server, tmp_path: Path) -> None:
    journal = tmp_path / "b.jsonl"
    circuits = [rx(k) for k in range(4)]
    async with AsyncIQMClient(server.url, ledger=tmp_path / "jobs.sqlite3", **FAST) as client:
        batch = client.run_batch(circuits, shots=8, circuits_per_job=2, tags="t1", journal=journal, progress=False)
        await batch.results()
    # Drop the record of the second job, as if the process died before submitting it.
    lines = journal.read_text().splitlines()
    kept = [ln for ln in lines if not (json.loads(ln).get("group") == 1 and "job_id" in json.loads(ln))]
    assert len(kept) == len(lines) - 1
    journal.write_text("\n".join(kept) + "\n")
    async with AsyncIQMClient(server.url, ledger=tmp_path / "jobs.sqlite3", **FAST) as client:
        resumed = client.resume_batch(journal, circuits=circuits, progress=False)
        assert [r.shots for r in await resumed.results()] == [8] * 4
        new = [j for j in resumed.job_ids if j not in batch.job_ids]
        assert len(new) == 1
        (entry,) = [e for e in await client.jobs() if e.job_id == new[0]]
        assert entry.tags == ("t1",) and entry.batch_id == batch.spec["batch_id"]


def test_facade_run_batch_tags_reach_the_ledger(server, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("IQM_ASYNC_LEDGER", raising=False)
    with IQMProvider(server.url, ledger=tmp_path / "jobs.sqlite3", **FAST) as provider:
        backend = provider.get_backend()
        sweep = backend.run_batch([rx(k) for k in range(3)], shots=8, circuits_per_job=2, tags="fac", progress=False)
        assert len(sweep.results()) == 3
        entries = provider.jobs(tags="fac")
        assert sorted(e.job_id for e in entries) == sorted(sweep.job_ids)
        assert len({e.batch_id for e in entries}) == 1 and entries[0].batch_id is not None


def test_facade_run_batch_sweeps_with_the_backend_as_transpile_target(server) -> None:
    from qiskit.circuit import Parameter

    theta = Parameter("theta")
    qc = QuantumCircuit(1, name="sweep")
    qc.rx(theta, 0)  # not native: transpile=True transpiles for the backend
    qc.measure_all()
    with IQMProvider(server.url, **FAST) as provider:
        backend = provider.get_backend()
        sweep = backend.run_batch(qc, parameter_values=[[0.0], [math.pi]], transpile=True, shots=20, progress=False)
        results = sweep.results()
        assert [r.counts for r in results] == [{"0": 20}, {"1": 20}]
        assert sweep.locate(1) == (0, (1,)) and sweep.preparation_error is None
