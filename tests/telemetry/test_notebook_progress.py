"""In a real Jupyter kernel without ipywidgets, a job's progress line is tqdm's plain bar, with no warning."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
KERNEL_NAME = "iqm-async-progress-test"

CELL = """
import sys
sys.modules["ipywidgets"] = None  # as if ipywidgets were not installed, whatever this environment has
from math import pi
from qiskit import QuantumCircuit
from iqm_async.server import serve_in_thread
from iqm_sync_shim import IQMProvider

qc = QuantumCircuit(1, 1)
qc.r(pi, 0.0, 0)
qc.measure(0, 0)
with serve_in_thread(seed=9) as server, IQMProvider(server.url) as provider:
    job = provider.get_backend().run(qc, shots=10)
    print("job:", job.job_id())
    print("counts:", job.result(progress=True).get_counts())
"""


@pytest.fixture
def kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A kernelspec that starts this interpreter, in a private Jupyter path."""
    spec_dir = tmp_path / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "iqm-async progress", "language": "python"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    return KERNEL_NAME


def test_plain_bar_without_ipywidgets_and_no_warning(kernel: str) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(CELL)])
    NotebookClient(nb, kernel_name=kernel, timeout=120, resources={"metadata": {"path": str(ROOT)}}).execute()
    outputs = nb.cells[0].outputs
    assert not [o for o in outputs if o.output_type == "error"]
    assert not [o for o in outputs if o.output_type in ("display_data", "update_display_data")]  # no widget
    stdout = "".join(o.text for o in outputs if o.get("name") == "stdout")
    stderr = "".join(o.text for o in outputs if o.get("name") == "stderr")
    job_id = re.search(r"job: (\S+)", stdout).group(1)
    assert "counts: {'1': 10}" in stdout
    assert re.search(rf"job {job_id[:8]}:\s+100%\|.*\| 1/1 circuits", stderr), stderr
    assert "Warning" not in stderr and "IProgress" not in stderr and "ipywidgets" not in stderr, stderr
