"""IQM's official client (its own virtual environment) against the embedded server: use_metrics and a facade backend.

Skipped where IQM's client is not installed (set ``IQM_OFFICIAL_PYTHON`` to its interpreter).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PYTHON = os.environ.get("IQM_OFFICIAL_PYTHON", "/work/iqm-venv/bin/python")


@pytest.mark.skipif(not os.path.exists(PYTHON), reason="IQM's official client is not installed")
def test_iqm_client_use_metrics_and_facade_backend_run_against_the_embedded_server() -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "iqm_official.py"), "--baseline-python", PYTHON],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "IQM client: get_backend(use_metrics=True) works" in proc.stdout
    assert "IQM client: facade_garnet works" in proc.stdout
    assert "jobs run by the embedded server: 2" in proc.stdout
