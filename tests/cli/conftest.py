"""Run ``iqm-async`` as a subprocess (``python -m iqm_async.cli``) against the session's embedded server."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

BELL_QASM2 = """OPENQASM 2.0;
include "qelib1.inc";
qreg q[2];
creg c[2];
h q[0];
cx q[0], q[1];
measure q -> c;
"""

GHZ_QASM3 = """OPENQASM 3.0;
include "stdgates.inc";
qubit[3] q;
bit[3] c;
h q[0];
cx q[0], q[1];
cx q[1], q[2];
c = measure q;
"""

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cli_env(server, tmp_path: Path) -> dict[str, str]:
    """Environment of a CLI run: the embedded server's URL and a ledger in this test's directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IQM_")}
    env.update(
        IQM_SERVER_URL=server.url,
        IQM_ASYNC_LEDGER=str(tmp_path / "ledger.sqlite3"),
        XDG_DATA_HOME=str(tmp_path / "data"),  # a default ledger, if one were used, stays in tmp
        PYTHONPATH=str(ROOT),
    )
    return env


@pytest.fixture
def iqm(cli_env: dict[str, str], tmp_path: Path) -> Run:
    """Run ``iqm-async ARGS…`` in a fresh interpreter; returns the completed process (never raises on exit codes)."""

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "iqm_async.cli", *args],
            capture_output=True,
            text=True,
            env=env or cli_env,
            cwd=tmp_path,
            timeout=timeout,
        )

    return run


@pytest.fixture
def qasm_files(tmp_path: Path) -> tuple[Path, Path]:
    """A Bell pair in OpenQASM 2 and a 3-qubit GHZ state in OpenQASM 3."""
    bell = tmp_path / "bell.qasm"
    bell.write_text(BELL_QASM2)
    ghz = tmp_path / "ghz.qasm"
    ghz.write_text(GHZ_QASM3)
    return bell, ghz
