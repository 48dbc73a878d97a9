"""``python -m iqm_async.server``: flags, the one announcement line, loopback-only binding, Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from iqm_async.server.__main__ import build_parser, main

REPO = Path(__file__).resolve().parents[2]


def test_help_documents_every_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in (
        "--host",
        "--port",
        "--allow-remote",
        "--qubits",
        "--layout",
        "--seed",
        "--exec-time-per-shot",
        "--exec-time-per-circuit",
        "--token",
        "--no-rate-limit",
        "--quota",
        "--control-token",
        "--keep-finished-seconds",
        "--keep-finished-jobs",
        "--keep-finished-mib",
        "--noise",
    ):
        assert flag in text
    for action in build_parser()._actions:
        assert action.help, action.option_strings


def test_non_loopback_host_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--host", "0.0.0.0"])
    assert exit_info.value.code == 2
    assert "--allow-remote" in capsys.readouterr().err


def test_bad_values_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--qubits", "0"])
    assert "qubits" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--token", "same", "--control-token", "same"])
    assert "control_token must differ" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--keep-finished-jobs", "0"])
    assert "keep_finished_jobs" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--noise", "loud"])
    assert "noise must be one of" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--chip", "garnet", "--noise", "garnet=calibrated", "--noise", "ideal"])
    assert "ALIAS=MODE" in capsys.readouterr().err


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery differs on Windows")
def test_serves_until_interrupted() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "iqm_async.server",
            "--qubits",
            "3",
            "--layout",
            "line",
            "--seed",
            "1",
            "--token",
            "t1",
            "--token",
            "t2",
            "--no-rate-limit",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("IQM server listening on http://127.0.0.1:"), line
        url = line.strip().rsplit(" ", 1)[1]
        r = httpx.get(
            f"{url}/api/v1/calibration-sets/sim/default/dynamic-quantum-architecture",
            headers={"Authorization": "Bearer t2"},
        )
        assert r.status_code == 200 and r.json()["qubits"] == ["QB1", "QB2", "QB3"]
        assert httpx.get(f"{url}/api/v1/quantum-computers").status_code == 401
        # Tokens and no --control-token: the control API is refused to everyone, with the reason.
        refused = httpx.post(f"{url}/_control/reset", headers={"Authorization": "Bearer t2"})
        assert refused.status_code == 403 and refused.json()["error_code"] == "control_disabled"
        assert "--control-token" in refused.json()["message"]
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert out == ""  # exactly one line was printed, and it was read above
