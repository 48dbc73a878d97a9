"""The facade's ``IQMJob.result(progress=...)``: one tqdm line on request, nothing by default outside a terminal."""

from __future__ import annotations

import re

import pytest
from qiskit import QuantumCircuit

from iqm_async.server import RunningServer
from iqm_sync_shim import IQMBackend


def test_result_with_progress_draws_the_jobs_line(
    backend: IQMBackend, bell: QuantumCircuit, srv: RunningServer, capsys: pytest.CaptureFixture[str]
) -> None:
    job = backend.run([bell, bell.copy("bell2")], shots=20)
    capsys.readouterr()
    counts = job.result(progress=True).get_counts(1)
    assert sum(counts.values()) == 20
    err = capsys.readouterr().err
    assert re.search(rf"job {job.job_id()[:8]}:\s+100%\|.*\| 2/2 circuits", err), err


def test_result_shows_nothing_by_default_outside_a_terminal(
    backend: IQMBackend, bell: QuantumCircuit, srv: RunningServer, capsys: pytest.CaptureFixture[str]
) -> None:
    job = backend.run(bell, shots=5)
    capsys.readouterr()
    job.result()
    assert capsys.readouterr().err == ""
