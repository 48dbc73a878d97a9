"""A user's script without ``if __name__ == "__main__":`` is never run again by the default process pool.

Workers started with ``forkserver``/``spawn`` re-import the parent's ``__main__`` script: code at its
top level would run once more in every worker, requests and submits included. These tests run real
scripts in subprocesses against the embedded server and count both the script's runs and the jobs
the server created.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from iqm_async.sweeps._mainguard import _guarded_lines

ROOT = Path(__file__).resolve().parents[2]

BODY = """
import os
import anyio
from qiskit import QuantumCircuit
import iqm_async.sweeps.pipeline as pipeline
from iqm_async import AsyncIQMClient

pipeline.POOL_MIN_TRANSPILES = 10  # "large": the real threshold is 1,000 circuits
with open(os.environ["MARK"], "a") as mark:
    mark.write(f"{os.getpid()}\\n")


def circuit(k):
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    qc.rz(k / 10, 1)
    qc.measure_all()
    return qc


async def main():
    async with AsyncIQMClient(os.environ["URL"]) as client:
        batch = client.run_batch([circuit(k) for k in range(12)], shots=20, transpile=True, circuits_per_job=6,
                                 progress=False)
        results = await batch.results()
        print("results", len(results), sum(sum(r.counts.values()) for r in results))
"""


def run_script(tmp_path: Path, url: str, tail: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    script = tmp_path / "user_script.py"
    script.write_text(BODY + tail)
    mark = tmp_path / "mark"
    env = {"URL": url, "MARK": str(mark), "PATH": "", "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300
    )
    return out, mark.read_text().split()


def test_an_unguarded_script_runs_once_and_submits_each_job_once(server, tmp_path: Path) -> None:
    out, runs = run_script(tmp_path, server.url, "\nanyio.run(main)\n")
    assert out.returncode == 0, out.stderr
    assert "results 12 240" in out.stdout
    assert len(runs) == 1, f"the script ran {len(runs)} times: {out.stderr[-2000:]}"
    assert server.state.store.jobs_created == 2
    assert 'outside `if __name__ == "__main__":`' in out.stderr  # says why it did not use a pool, and what to do
    assert "user_script.py" in out.stderr


def test_a_guarded_script_gets_the_pool_and_its_guarded_code_runs_once(server, tmp_path: Path) -> None:
    out, runs = run_script(tmp_path, server.url, '\nif __name__ == "__main__":\n    anyio.run(main)\n')
    assert out.returncode == 0, out.stderr
    assert "results 12 240" in out.stdout
    assert len(runs) > 1, "workers import the script again (its top level runs there), so a pool was used"
    assert server.state.store.jobs_created == 2  # but the guarded code, and its submits, ran once
    assert "__main__" not in out.stderr


@pytest.mark.parametrize(
    "guard",
    [
        'if __name__ == "__main__":',
        "if '__main__' == __name__:",
        'if __name__ == "__main__" and True:',
    ],
)
def test_guards_are_recognised_in_their_usual_spellings(tmp_path: Path, guard: str) -> None:
    script = tmp_path / "s.py"
    script.write_text(
        textwrap.dedent(
            f"""\
            import sys
            x = 1
            {guard}
                main(
                    x,
                )
            else:
                other()
            """
        )
    )
    lines = _guarded_lines(str(script), script.stat().st_mtime_ns)
    assert lines == frozenset({4, 5, 6})  # the body, not the test's line, the top level or the else branch


def test_a_script_that_cannot_be_parsed_counts_as_unguarded(tmp_path: Path) -> None:
    script = tmp_path / "broken.py"
    script.write_text("if __name__ == '__main__':\n    run(\n")
    assert _guarded_lines(str(script), 1) == frozenset()
