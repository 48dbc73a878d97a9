"""The facade's examples run as users run them: the script in a subprocess, the notebook in a real Jupyter kernel."""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from .conftest import ROOT, run_script

KERNEL_NAME = "iqm-async-test-python"


def parse_counts(text: str, label: str) -> dict[str, int]:
    line = next(line for line in text.splitlines() if line.startswith(label))
    counts = ast.literal_eval(line[len(label) :].strip())
    assert isinstance(counts, dict)
    return counts


def test_qiskit_sync_example_on_the_embedded_server() -> None:
    script = (ROOT / "examples" / "qiskit_sync.py").read_text()
    proc = run_script(script, "3", "400", python_flags=("-W", "error"))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, (out, err)
    assert err == ""
    counts = parse_counts(out, "counts:")
    assert set(counts) == {"000", "111"} and sum(counts.values()) == 400
    assert "status: DONE, queue position: None" in out
    assert "iqm-server           ready" in out  # the timeline's last step


@pytest.fixture
def kernel_for_this_interpreter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Install a kernelspec that starts *this* interpreter, in a private Jupyter path."""
    spec_dir = tmp_path / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "iqm-async tests",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")  # jupyter_core's path-migration warning otherwise
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    # A job's progress line is on by default in a notebook (after a second): a slow CI run must not fail the
    # "nothing on stderr" check below, which is about warnings. tests/telemetry checks the line itself.
    monkeypatch.setenv("TQDM_DISABLE", "1")
    return KERNEL_NAME


def test_quickstart_notebook_in_a_jupyter_kernel(kernel_for_this_interpreter: str) -> None:
    nb = nbformat.read(ROOT / "examples" / "quickstart.ipynb", as_version=4)
    client = NotebookClient(
        nb, kernel_name=kernel_for_this_interpreter, timeout=120, resources={"metadata": {"path": str(ROOT)}}
    )
    client.execute()
    text = "".join(
        output.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "stream"
    )
    sync_counts = parse_counts(text, "sync counts:")
    async_counts = parse_counts(text, "async counts:")
    assert set(sync_counts) == set(async_counts) == {"000", "111"}
    assert sum(sync_counts.values()) == 500 and sum(async_counts.values()) == 300
    assert "status: DONE" in text
    errors = [o for cell in nb.cells for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    stderr = [o for cell in nb.cells for o in cell.get("outputs", []) if o.get("name") == "stderr"]
    assert not stderr, stderr
