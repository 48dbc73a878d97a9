"""The job ledger through the Qiskit facade: ``backend.run(..., tags=...)``, ``provider.jobs()`` and ``usage()``."""

from __future__ import annotations

import math
from pathlib import Path

from qiskit import QuantumCircuit

from iqm_async import PollPolicy, RateLimitPolicy
from iqm_sync_shim import IQMProvider

PI2 = math.pi / 2
OPTIONS = {
    "poll": PollPolicy(first_delay=0.02, max_interval=0.1, per_queue_position=0.0, max_queued_interval=0.1),
    "rate_limit": RateLimitPolicy(enabled=False),
}


def bell() -> QuantumCircuit:
    qc = QuantumCircuit(2, 2, name="bell")
    qc.r(PI2, PI2, 0)
    qc.r(PI2, PI2, 1)
    qc.cz(0, 1)
    qc.r(-PI2, PI2, 1)
    qc.measure([0, 1], [0, 1])
    return qc


def test_backend_run_tags_reach_the_ledger_and_the_job_metadata(server, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("IQM_ASYNC_LEDGER", raising=False)
    with IQMProvider(server.url, ledger=tmp_path / "jobs.sqlite3", **OPTIONS) as provider:
        backend = provider.get_backend()
        job = backend.run(bell(), shots=20, tags=["calib", "night"])
        assert job.metadata["tags"] == ["calib", "night"]
        assert sum(job.result(timeout=60).get_counts().values()) == 20
        untagged = backend.run(bell(), shots=20)
        untagged.result(timeout=60)
        entries = provider.jobs(tags="calib")
        assert [e.job_id for e in entries] == [job.job_id()]
        assert entries[0].status == "completed" and entries[0].tags == ("calib", "night")
        assert [e.job_id for e in provider.jobs()] == [untagged.job_id(), job.job_id()]
        usage = provider.usage()
        assert usage.totals["sim"].jobs == 2
        assert {r.tag for r in usage.rows} == {"calib", "night", None}
